"""``exec``: gate, then become the agent.

``execve`` keeps the PID, so whatever supervises the container (Docker, the
kubelet, an init) sees the agent's own exit status and signals, and nothing
of the launcher stays resident.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..config import Config
from ..launch import exec_command
from ..log import Log
from ..pipeline import (
    agent_note,
    build_plan,
    log_plan,
    refuse_platform_proxy,
    startable,
    still_as_checked,
    write_agent_files,
)


def run(config: Config, environ: Mapping[str, str], log: Log) -> int:
    refuse_platform_proxy(config, "exec")  # before anything is read
    plan = build_plan(config, environ, log)
    note = agent_note(config)
    if note is not None:
        log.info(note)
    log_plan(plan, log)
    argv, env, path, watched = startable(plan, config, environ)
    write_agent_files(plan, env)  # e.g. codex's auth.json, as the --user's own; never for check
    still_as_checked(watched)  # last: the agent files are the ones judged
    if config.user is not None:
        from ..privileges import drop

        drop(config.user)  # every secret is read: from here on, the agent's user
        log.info(f"running as uid {config.user.uid} gid {config.user.gid}")
    log.info(f"exec {path} with {len(env)} variables")
    exec_command(argv, env, path)
    return 0  # not reached
