"""``check``: gate and explain, and exit exactly as ``exec`` would have
before its ``execve`` (0: it would launch)."""

from __future__ import annotations

from collections.abc import Mapping

from ..config import Config
from ..launch import check_drop, check_startable
from ..log import Log
from ..pipeline import agent_note, build_plan, refuse_platform_proxy, startable
from ..render import dumps, plan_json, plan_table


def run(config: Config, environ: Mapping[str, str], log: Log) -> int:
    refuse_platform_proxy(config, "check")  # exactly as exec refuses it
    plan = build_plan(config, environ, log, explain=True)
    if plan.launches:  # what exec does next, in exec's order
        if config.argv_given:
            startable(plan, config, environ)  # the executable after -- must be found, as the agent's user
        else:
            check_startable(config.argv, plan.env)
            if config.user is not None:
                check_drop(config.user)
    note = agent_note(config)
    if note is not None:
        log.warning(note)
    warnings = config.warnings if note is None else (*config.warnings, note)
    print(dumps(plan_json(plan, warnings)) if config.json else plan_table(plan))
    if plan.refusal is not None:
        log.error(plan.refusal.code, plan.refusal.message)
    return plan.exit_code
