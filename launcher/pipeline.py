"""The pipeline every command runs: configuration → sources → gate →
an agent that can be started.

``build_plan`` gathers the sources and gates them (``run_gate``);
``startable`` takes a launching plan to what exec and supervise start
(``launch.Startable``: the environment proven startable, the executable
found as the agent's user will see it). Commands
(``launcher/commands/``) add only what is theirs: exec replaces itself,
check explains, supervise stays a parent, audit judges other processes.

Layering, lowest first (a later layer wins for the same key):
inherited environment → ``--global-env-file`` → platform bundle →
``--env-file``.
"""

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from .agents.codex import CODEX_HOME_VAR, take_auth_json
from .agents.profiles import ALL, AgentProfile, members, profile
from .agents.scan import OwnFiles, scan
from .catalogue import KeyCatalogue, load_catalogue
from .config import BillingMode, Config
from .envfiles import read_dotenv
from .errors import ConfigError, ForeignAgentCredentialError
from .files import Stamp, changed
from .gate import STRIP, AgentFiles, GatePlan, Source, Strip, judge, strip
from .launch import Startable, check_startable, find_executable, search_path_for
from .log import LEVELS, Log
from .values import Scope


def refuse_platform_proxy(config: Config, command: str) -> None:
    """exec replaces itself with the agent, so nothing would be left to
    serve the platform API or hold the token; check exits as exec would."""
    if config.platform_proxy:
        raise ConfigError(
            f"{command}: --platform-proxy (or LAUNCHER_PLATFORM_PROXY) needs a launcher that stays running to "
            "serve the platform API, and exec replaces itself with the agent; use "
            "`agent-launcher supervise --platform-proxy` instead"
        )


def gather_sources(
    config: Config, environ: Mapping[str, str], catalogue: KeyCatalogue, log: Log, *, explain: bool
) -> list[Source]:
    sources = [Source(f"file:{p}", read_dotenv(p), Scope.GLOBAL) for p in config.global_env_files]
    if config.platform_url:
        from .platform.client import PlatformClient  # local mode never imports httpx

        # Provenance matters only where something may be stripped. `check`
        # reads it in platform_managed too, to say where each key came from,
        # but after and apart from the read exec makes: so that check exits
        # exactly as exec would, a failed explanation is only a warning.
        need_provenance = config.billing_mode is not BillingMode.PLATFORM_MANAGED
        with PlatformClient(config) as client:
            fetched = client.fetch(need_provenance, catalogue.is_llm_key)
            scopes = fetched.scopes
            if explain and scopes is None:
                scopes, warning = client.explain_provenance()
                if warning:
                    log.warning(warning)
        log.info(f"fetched {len(fetched.values)} keys from the platform in {fetched.requests} requests")
        sources.append(Source("platform", fetched.values, scopes if scopes is not None else Scope.UNKNOWN))
    sources.extend(Source(f"file:{p}", read_dotenv(p), Scope.WORKSPACE) for p in config.env_files)
    return sources


class AgentContext(NamedTuple):
    """What the file scan needs beside the final environment."""

    profile: AgentProfile
    cwd: Path | None
    own: OwnFiles
    argv: tuple[str, ...] = ()  # the agent's: flags such as --settings name files too

    def __repr__(self) -> str:  # the agent's arguments can hold a credential (--settings '{...}')
        return f"AgentContext({self.profile.name!r}, cwd={str(self.cwd)!r}, {len(self.argv)} arguments)"


def agent_context(config: Config) -> AgentContext:
    """The agent's profile and the child's working directory (exec keeps ours)."""
    try:
        cwd: Path | None = Path.cwd()
    except OSError:  # removed under us: no project files to find there
        cwd = None
    return AgentContext(profile(config.agent), cwd, OwnFiles.of(config.own_agent_files), config.argv)


def agent_note(config: Config) -> str | None:
    """What check says when the command named no agent: every profile's
    files are checked, and how to narrow that."""
    if config.agent != ALL or config.agent_source != "executable":
        return None
    name = os.path.basename(config.argv[0]) if config.argv else ""
    return (
        f"the command ({name[:64]!r}) names no known agent: checking the files of every profile "
        f"({', '.join(members(ALL))}); --agent NAME (or LAUNCHER_AGENT) narrows it, --agent generic checks none"
    )


def build_plan(config: Config, environ: Mapping[str, str], log: Log, *, explain: bool = False) -> GatePlan:
    catalogue = load_catalogue(config.bypass_keys_files)  # the provider was checked by config.load_config
    sources = gather_sources(config, environ, catalogue, log, explain=explain)
    result = run_gate(config, sources, environ, catalogue, agent_context(config))
    _warn_unused_own_files(config, result, log)
    return result


def run_gate(
    config: Config,
    sources: Iterable[Source],
    inherited: Mapping[str, str],
    catalogue: KeyCatalogue,
    agent: AgentContext | None = None,
) -> GatePlan:
    """The gate, around the one step with I/O: strip (``gate.strip``), read
    the agent's files where the agent would read them, judge what is left
    (``gate.judge``)."""
    state = strip(config, sources, inherited, catalogue)
    files = read_agent_files(config, state, catalogue, agent)
    return judge(config, state, catalogue, files, agent.profile.name if agent else None)


def read_agent_files(config: Config, state: Strip, catalogue: KeyCatalogue, agent: AgentContext | None) -> AgentFiles:
    """The agent's files, read where the agent would read them: in the
    child's environment (with --user, the user's HOME: ``gate.strip`` set
    it), and for codex with a materialised auth.json, the CODEX_HOME it
    replaces too (the variable moves out of ``state.env``, not out of the
    environment the files are read in)."""
    scan_env = dict(state.env)
    owner = None if config.user is None else (config.user.uid, config.user.gid)
    codex_auth, moved = take_auth_json(agent.profile.name if agent else None, state.env, owner, scan_env)
    if agent is None:
        return AgentFiles((), (), codex_auth, moved)
    watch: dict[str, Stamp | None] = {}
    findings = scan(
        agent.profile, scan_env, agent.cwd, agent.own, catalogue.is_llm_key, agent.argv, state.values, watch
    )
    return AgentFiles(findings, tuple(watch.items()), codex_auth, moved)


def _warn_unused_own_files(config: Config, result: GatePlan, log: Log) -> None:
    """A declared file the agent will not read (or that holds nothing) is
    most likely a typo: say so, since it then vouches for nothing."""
    found = {f.identity for f in result.files.findings}
    for path in config.own_agent_files:
        if OwnFiles.of((path,)).ids.isdisjoint(found):
            log.warning(f"--own-agent-file {path}: no credential of it is among the files {result.agent} reads")


def write_agent_files(plan: GatePlan, env: dict[str, str], keeper: int | None = None, reuse: str | None = None) -> None:
    """What the plan says the launcher writes for the agent, just before it
    starts (never for ``check``): codex's auth.json from CODEX_AUTH_JSON, in
    a directory made now, which ``env`` (the child's) is pointed at.
    ``keeper``: the process the files live as long as (default this one);
    ``reuse``: the CODEX_HOME of the child a refresh would replace (see
    ``codex.materialise``)."""
    if plan.files.codex_auth is not None:
        written = plan.files.codex_auth.write(keeper, Path(reuse) if reuse else None)
        env[CODEX_HOME_VAR] = str(written.codex_home)


def log_plan(plan: GatePlan, log: Log) -> None:
    """Strips at -v, keeps at -vv; by name and fingerprint only."""
    if log.verbosity < LEVELS["info"]:
        return  # the default exec path hashes nothing
    decisions = plan.decisions() if log.verbosity >= LEVELS["debug"] else plan.llm_key_decisions()
    for d in decisions:
        level = "info" if d.action is STRIP else "debug"
        message = f"{d.action} {d.key} [{d.scope.value}, {d.fingerprint}]: {d.reason}"
        log.emit(level, message, None, {"key": d.key, "action": d.action})
    for f in plan.files.findings:
        log.emit(
            "info", f"{f.verdict} agent file {f.describe()} [{f.fingerprint or 'unreadable'}]", None, {"path": f.path}
        )


def startable(plan: GatePlan, config: Config, environ: Mapping[str, str]) -> Startable:
    """A launching plan, taken as far as exec goes before ``execve``: the
    refusal raised, the environment proven startable (execve's limits),
    the executable found as the agent's user sees it."""
    if plan.refusal is not None:
        raise plan.refusal
    env = dict(plan.env)  # the child's own: the agent files' writer adds to it
    check_startable(config.argv, env)
    path = find_executable(config.argv[0], search_path_for(env, environ), as_user=config.user)
    return Startable(config.argv, env, path, plan.files.watched)


def still_as_checked(watched: Sequence[tuple[str, Sequence[int | str] | None]]) -> None:
    """The last check before the agent starts: every agent file the gate
    judged is the file it read (or still absent). A file replaced or
    written since could hold anything: refuse rather than judge it again
    here, half-way through a start. What remains is the moment between
    this check and the agent's own open (docs/security.md)."""
    moved = changed(watched)
    if moved:
        raise ForeignAgentCredentialError(
            f"{moved[0]} changed after the launcher checked it (and {len(moved) - 1} more); nothing was started"
            if len(moved) > 1
            else f"{moved[0]} changed after the launcher checked it; nothing was started"
        )
