"""The pull every start of ``supervise`` makes: the first in the command's
process, each refresh in a helper that is a fork of the resident
(``resident.HelperPull``). The whole pipeline, up to a child that can be
started; the answer is a ``launch.Startable``, or an error by code."""

import os
import signal
from collections.abc import Mapping

from ..agents.codex import CODEX_HOME_VAR
from ..config import Config, load_config
from ..errors import LauncherError, unexpected
from ..launch import Startable
from ..log import Log
from ..pipeline import build_plan, log_plan, startable, write_agent_files
from ..privileges import make_undumpable
from .handover import Endpoint, RefreshRequest


def pull_startable(
    config: Config,
    environ: Mapping[str, str],
    log: Log,
    *,
    first: bool,
    current: Mapping[str, str] | None = None,
    proxy: Endpoint | None = None,
) -> Startable:
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

        plan = plan._replace(env=proxied_env(plan.env, proxy.url, proxy.credential, config.workspace_id))
    child = startable(plan, config, environ)  # refusals raise: no child is started or stopped
    # e.g. codex's auth.json. A refresh helper writes on behalf of its
    # parent, the resident, and keeps the running child's directory when
    # nothing in it would change.
    reuse = (current or {}).get(CODEX_HOME_VAR)
    write_agent_files(plan, child.env, keeper=None if first else os.getppid(), reuse=reuse)
    return child


def pull_helper(request: RefreshRequest, current: Mapping[str, str]) -> dict[str, object]:
    """One pull, in the refresh helper: the request it inherited and the
    running child's environment in, the answer out (the next child, or an
    error by code)."""
    make_undumpable()  # inherited from the resident over fork; checked, as in every launcher process
    signal.alarm(request.alarm)  # SIGALRM's default action ends a pull that hangs
    inputs = request.inputs
    log = Log(*inputs.log)
    try:
        config = load_config(inputs.flags, inputs.environ)
        if request.token_cell is not None:
            from ..platform.endpoint import read_cell

            kept = read_cell(request.token_cell)  # a register's token, kept by the platform proxy
            if kept is not None:
                source = "the platform proxy (issued by register)"
                config = config._replace(token=kept, token_source=source)
        child = pull_startable(config, inputs.environ, log, first=False, current=current, proxy=request.proxy)
        return {"startable": child}
    except LauncherError as exc:
        return {"error": {"code": exc.code, "message": exc.message}}
    except Exception as exc:  # reported by the resident, by type and place only
        return {"error": {"code": "INTERNAL_ERROR", "message": unexpected(exc)}}
