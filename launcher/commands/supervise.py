"""``supervise``: gate as exec does, then stay the agent's parent.

This is the command's heavy half, run in the launcher's full interpreter:
the first pull (``supervise.pull``, which every refresh repeats in a fork
of the resident), then the handover (``supervise.handover``) and this PID
re-executed as the lean resident (``become_resident``; the program is
``supervise.resident``, its loop ``supervise.loop``).
"""

from __future__ import annotations

import math
import os
import signal
import socket
import sys
from collections.abc import Mapping
from typing import NoReturn

from ..config import Config
from ..log import Log
from ..privileges import make_undumpable
from ..supervise import resident
from ..supervise.handover import Endpoint, Handover, LogSettings, Options, ProxyRequest, PullInputs, RefreshRequest
from ..supervise.loop import WAITED
from ..supervise.pull import pull_startable

# The helper's own alarm, past the platform deadline it is given: a pull
# that hangs anyway is killed, and the refresh counts as failed.
HELPER_GRACE = 5


def run(config: Config, environ: Mapping[str, str], log: Log) -> int:
    make_undumpable()  # before the first secret is read into memory that a child could inspect
    # What a pull after this one (a refresh helper, the proxy's gated
    # re-pull) runs the pipeline with.
    inputs = PullInputs(config.flags, dict(environ), LogSettings(log.fmt, log.verbosity), tuple(sys.path))
    proxy: ProxyRequest | None = None
    if config.platform_proxy:
        from ..platform.endpoint import launcher_token_path, new_credential, open_listener

        fd, url = open_listener()
        token_path = launcher_token_path(config, environ)
        proxy = ProxyRequest(inputs, fd, Endpoint(url, new_credential()), str(token_path))
    endpoint = None if proxy is None else proxy.endpoint
    # Refusals raise here: no child is ever started.
    first = pull_startable(config, environ, log, first=True, proxy=endpoint)
    if proxy is not None:
        from ..platform.endpoint import hand_token_file

        hand_token_file(first.env, proxy.endpoint.credential, token_path, config.user, log)
        log.info(f"the child's platform is the proxy at {proxy.endpoint.url}; the workspace token stays here")
        if config.user is None:
            log.warning(
                "--platform-proxy without --user: the agent runs as the launcher's uid and can read the token "
                "file (if any) itself; run it as another user to keep the token out of reach",
                code="PROXY_SAME_UID",
            )
        os.set_inheritable(proxy.fd, True)  # across the exec into the resident, which takes it back at once
    if config.user is not None:
        log.info(f"children run as uid {config.user.uid} gid {config.user.gid}")
    refresh = None
    if config.refresh:
        refresh = RefreshRequest(inputs, math.ceil(config.deadline) + HELPER_GRACE, endpoint)
    become_resident(Handover(Options.from_config(config), inputs.log, first, config.user, refresh, proxy))


def become_resident(handover: Handover) -> NoReturn:
    """Re-execute this PID as the lean resident; the handover follows on a
    socket. ``execve`` makes the new image dumpable until its first line
    makes it unreadable again: in that moment every fd it holds can be
    opened through ``/proc/PID/fd`` by a process of its uid, which a memfd
    or a pipe allow and a socket does not (the kernel refuses to open a
    socket by path). A fork of this process, as unreadable as it is, writes
    the handover into the socket and exits; the resident reads it only once
    it is unreadable itself and untraced (``resident.resident``)."""
    make_undumpable()  # the handover is in this process's memory until exec
    data = handover.dumps()
    receiving, sending = socket.socketpair()
    sys.stdout.flush()  # or the writer would write what is buffered a second time
    sys.stderr.flush()
    writer = os.fork()
    if writer == 0:  # pragma: no cover - the writer; the resident observes what it reads
        try:
            receiving.close()
            sending.sendall(data)
        finally:
            os._exit(0)
    sending.close()
    fd = receiving.detach()
    os.set_inheritable(fd, True)
    # Blocked and pending signals survive exec: a SIGTERM that arrives in
    # between waits for the resident's loop instead of being lost.
    signal.pthread_sigmask(signal.SIG_BLOCK, WAITED)
    argv = resident.interpreter(resident.__name__, resident.resident.__name__, str(fd), str(writer), site=False)
    os.execve(resident.this_interpreter(), argv, {})  # noqa: S606
