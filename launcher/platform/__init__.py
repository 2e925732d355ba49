"""Everything that speaks to the platform: the client (``client``), what
its answers hold (``wire``), the transport under it (``transport``), and
``supervise --platform-proxy`` (docs/platform-proxy.md), the platform API
served to the agent by the launcher, which keeps the workspace token:

- ``endpoint``: what the launch sets up before the resident starts (the
  loopback endpoint, the per-launch credential, the child's variables and
  token file) and the token cell a refresh helper reads. Small: the
  supervise command and the refresh helper import it.
- ``proxy``: the server, run in a long-lived fork of the resident
  (``supervise.resident.ProxyProcess``).

Nothing of the proxy is imported by ``exec``, ``check``, ``audit`` or a
supervise without the flag.
"""
