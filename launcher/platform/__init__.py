"""``supervise --platform-proxy``: the platform API served to the agent by
the launcher, which keeps the workspace token (docs/platform-proxy.md).

- ``endpoint``: what the launch sets up before the resident starts (the
  loopback endpoint, the per-launch credential, the child's variables and
  token file) and the token cell a refresh helper reads. Small: the
  supervise command and the refresh helper import it.
- ``proxy``: the server, run in a long-lived fork of the resident
  (``resident.ProxyProcess``).

Nothing here is imported by ``exec``, ``check``, ``audit`` or a supervise
without the flag.
"""
