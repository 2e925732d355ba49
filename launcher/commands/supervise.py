"""``supervise``: gate as exec does, then stay the agent's parent.

This is the command's heavy half, run in the launcher's full interpreter:
gate (``candidate_for``), hand the plan over and re-execute this PID as the
lean resident (``become_resident``; the loop is ``launcher.resident``), and
the pull the resident's refresh helper makes (``pull_helper``, run in a
fork of the resident: ``resident.HelperPull``).
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
from collections.abc import Mapping
from typing import Any, NoReturn

from ..codex import CODEX_HOME_VAR
from ..config import Config, resolve
from ..errors import LauncherError, unexpected
from ..log import Log
from ..pipeline import build_plan, log_plan, startable, write_agent_files
from ..privileges import make_undumpable
from ..resident import WAITED, Candidate, Options, interpreter, this_interpreter

# The helper's own alarm, past the platform deadline it is given: a pull
# that hangs anyway is killed, and the refresh counts as failed.
HELPER_GRACE = 5


def candidate_for(
    config: Config,
    environ: Mapping[str, str],
    log: Log,
    *,
    first: bool,
    current: Mapping[str, str] | None = None,
    proxy: Mapping[str, str] | None = None,
) -> Candidate:
    """The pipeline, up to a child that can be started: what every pull runs
    (the first in this process, each refresh in ``pull_helper``, where
    ``current`` is the running child's environment). ``proxy``: the
    platform proxy's url and credential, which replace the platform's in
    the child's environment (``--platform-proxy``)."""
    plan = build_plan(config, environ, log)
    if first:
        log_plan(plan, log)
    if proxy is not None:
        from ..platform.endpoint import proxied_env

        plan = plan._replace(env=proxied_env(plan.env, proxy, config.workspace_id))
    launch = startable(plan, config, environ)  # refusals raise: no child is started or stopped
    # e.g. codex's auth.json. A refresh helper writes on behalf of its
    # parent, the resident, and keeps the running child's directory when
    # nothing in it would change.
    reuse = (current or {}).get(CODEX_HOME_VAR)
    write_agent_files(plan, launch.env, keeper=None if first else os.getppid(), reuse=reuse)
    return Candidate(launch.env, launch.path, launch.watched)


def run(config: Config, environ: Mapping[str, str], log: Log) -> int:
    make_undumpable()  # before the first secret is read into memory that a child could inspect
    log_settings = {"fmt": log.fmt, "verbosity": log.verbosity}
    endpoint: dict[str, str] | None = None
    proxy: dict[str, Any] | None = None
    if config.platform_proxy:
        from ..platform.endpoint import launcher_token_path, new_credential, open_listener

        fd, url = open_listener()
        endpoint = {"url": url, "credential": new_credential()}
        token_path = launcher_token_path(config, environ)
        proxy = {
            "fd": fd,
            "url": url,
            "credential": endpoint["credential"],
            "token_path": str(token_path),
            "flags": config.flags,
            "environ": dict(environ),
            "log": log_settings,
            "path": list(sys.path),
        }
    # Refusals raise here: no child is ever started.
    first = candidate_for(config, environ, log, first=True, proxy=endpoint)
    if endpoint is not None:
        from ..platform.endpoint import hand_token_file

        hand_token_file(first.env, endpoint["credential"], token_path, config.user, log)
        log.info(f"the child's platform is the proxy at {endpoint['url']}; the workspace token stays here")
        if config.user is None:
            log.warning(
                "--platform-proxy without --user: the agent runs as the launcher's uid and can read the token "
                "file (if any) itself; run it as another user to keep the token out of reach",
                code="PROXY_SAME_UID",
            )
    if config.user is not None:
        log.info(f"children run as uid {config.user.uid} gid {config.user.gid}")
    request = None
    if config.refresh:
        request = {
            "flags": config.flags,
            "environ": dict(environ),
            "log": log_settings,
            "alarm": math.ceil(config.deadline) + HELPER_GRACE,
            # The resident runs without site-packages; its helper imports this pipeline.
            "path": list(sys.path),
            "proxy": endpoint,
        }
    options = Options.from_config(config)
    if proxy is not None:
        os.set_inheritable(proxy["fd"], True)  # across the exec into the resident, which takes it back at once
    become_resident(
        {
            "argv": config.command,
            "options": [options.refresh, int(options.stop_signal), options.stop_timeout, options.subreaper],
            "log": log_settings,
            "first": first,
            "user": config.user,
            "request": request,
            "proxy": proxy,
        }
    )


def become_resident(handover: dict[str, Any]) -> NoReturn:
    """Re-execute this PID as the lean resident, the plan in a memfd."""
    make_undumpable()  # the handover is in this process's memory until exec
    data = json.dumps(handover).encode()
    fd = os.memfd_create("agent-launcher-handover")
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.lseek(fd, 0, os.SEEK_SET)
    os.set_inheritable(fd, True)
    # Blocked and pending signals survive exec: a SIGTERM that arrives in
    # between waits for the resident's loop instead of being lost.
    signal.pthread_sigmask(signal.SIG_BLOCK, WAITED)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(this_interpreter(), interpreter("launcher.resident", "resident", str(fd), site=False), {})  # noqa: S606


def pull_helper(request: Mapping[str, Any], current: Mapping[str, str]) -> dict[str, object]:
    """One pull, in the refresh helper: the request it inherited and the
    running child's environment in, the answer out (the next child's
    environment, or an error by code)."""
    make_undumpable()  # inherited from the resident over fork; checked, as in every launcher process
    signal.alarm(request["alarm"])  # SIGALRM's default action ends a pull that hangs
    log = Log(**request["log"])
    try:
        config = resolve(request["flags"], request["environ"])
        if request.get("token_cell") is not None:
            from ..platform.endpoint import read_cell

            kept = read_cell(request["token_cell"])  # a register's token, kept by the platform proxy
            if kept is not None:
                source = "the platform proxy (issued by register)"
                config = config._replace(token=kept, token_source=source)
        env, path, watched = candidate_for(
            config, request["environ"], log, first=False, current=current, proxy=request.get("proxy")
        )
        return {"env": env, "path": path, "watched": watched}
    except LauncherError as exc:
        return {"error": {"code": exc.code, "message": exc.message}}
    except Exception as exc:  # reported by the resident, by type and place only
        return {"error": {"code": "INTERNAL_ERROR", "message": unexpected(exc)}}
