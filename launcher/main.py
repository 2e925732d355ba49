"""The pipeline: configuration → sources → gate. Shared by every command.

Layering, lowest first (a later layer wins for the same key):
inherited environment → ``--global-env-file`` → platform bundle →
``--env-file``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .agentfiles import OwnFiles
from .agents import profile
from .bundle import Scope, read_dotenv
from .config import BillingMode, Config
from .gate import STRIP, AgentContext, GatePlan, Source, plan
from .log import LEVELS, Log
from .registry import KeyCatalog, load_catalog


def gather_sources(
    config: Config, environ: Mapping[str, str], catalog: KeyCatalog, log: Log, *, explain: bool
) -> list[Source]:
    sources = [Source(f"file:{p}", read_dotenv(p), Scope.GLOBAL) for p in config.global_env_files]
    if config.platform_url:
        from .fetch import PlatformClient  # local mode never imports httpx

        # Provenance matters only where something may be stripped; `check`
        # fetches it anyway so that its table can say where each key came from.
        need_provenance = explain or config.billing_mode is not BillingMode.PLATFORM_MANAGED
        with PlatformClient(config, dict(environ)) as client:
            fetched = client.fetch(need_provenance, catalog.is_llm_key)
        log.info(f"fetched {len(fetched.values)} keys from the platform in {fetched.requests} requests")
        sources.append(
            Source("platform", fetched.values, fetched.scopes if fetched.scopes is not None else Scope.UNKNOWN)
        )
    sources.extend(Source(f"file:{p}", read_dotenv(p), Scope.WORKSPACE) for p in config.env_files)
    return sources


def agent_context(config: Config) -> AgentContext:
    """The agent's profile and the child's working directory (exec keeps ours)."""
    try:
        cwd: Path | None = Path.cwd()
    except OSError:  # removed under us: no project files to find there
        cwd = None
    return AgentContext(profile(config.agent), cwd, OwnFiles.of(config.own_agent_files), config.command)


def build_plan(config: Config, environ: Mapping[str, str], log: Log, *, explain: bool = False) -> GatePlan:
    catalog = load_catalog(config.bypass_keys_files)
    catalog.provider(config.provider)  # an unknown provider fails before any I/O
    sources = gather_sources(config, environ, catalog, log, explain=explain)
    result = plan(config, sources, environ, catalog, agent_context(config))
    _warn_unused_own_files(config, result, log)
    return result


def _warn_unused_own_files(config: Config, result: GatePlan, log: Log) -> None:
    """A declared file the agent will not read (or that holds nothing) is
    most likely a typo: say so, since it then vouches for nothing."""
    found = {f.identity for f in result.agent_files}
    for path in config.own_agent_files:
        if OwnFiles.of((path,)).ids.isdisjoint(found):
            log.warning(f"--own-agent-file {path}: no credential of it is among the files {result.agent} reads")


def write_agent_files(plan: GatePlan) -> None:
    """What the plan says the launcher writes for the agent, just before it
    starts (never for ``check``): codex's auth.json from CODEX_AUTH_JSON."""
    if plan.codex_auth is not None:
        plan.codex_auth.write()


def log_plan(plan: GatePlan, log: Log) -> None:
    """Strips at -v, keeps at -vv; by name and fingerprint only."""
    if log.verbosity < LEVELS["info"]:
        return  # the default exec path hashes nothing
    decisions = plan.decisions if log.verbosity >= LEVELS["debug"] else plan.llm_key_decisions()
    for d in decisions:
        level = "info" if d.action is STRIP else "debug"
        log.emit(
            level, f"{d.action} {d.key} [{d.scope.value}, {d.fingerprint}]: {d.reason}", key=d.key, action=d.action
        )
    for f in plan.agent_files:
        log.emit("info", f"{f.verdict} agent file {f.describe()} [{f.fingerprint or 'unreadable'}]", path=f.path)
