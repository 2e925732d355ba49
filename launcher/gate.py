"""The local gate: decide, key by key, what the child may see.

This re-applies workspace-server's provenance-aware strip on the launcher's
side of the wire, and extends it to what the container inherited: an LLM
key reaches a non-platform agent only when it is provably the workspace's
own. One function, ``plan``, makes every decision; everything else renders
or executes its result.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .bundle import Scope
from .config import LAUNCHER_OWN_VARS, BillingMode, Config
from .errors import LauncherError, MissingCredentialError
from .registry import KeyCatalog, is_routing

KEEP = "keep"
STRIP = "strip"
NEEDS_CREDENTIAL = frozenset({BillingMode.BYOK, BillingMode.SUBSCRIPTION})


def fingerprint(value: str) -> str:
    """8 hex of SHA-256: enough to tell two values apart, useless to replay."""
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()[:8]


@dataclass(frozen=True)
class Source:
    """One layer of values with the scope each key carries."""

    name: str
    values: Mapping[str, str]
    scope: Scope | Mapping[str, Scope]

    def scope_of(self, key: str) -> Scope:
        if isinstance(self.scope, Scope):
            return self.scope
        return self.scope.get(key, Scope.UNKNOWN)


@dataclass(frozen=True)
class KeyDecision:
    key: str
    scope: Scope
    source: str
    llm_bypass: bool
    action: str
    reason: str
    fingerprint: str


@dataclass(frozen=True)
class GatePlan:
    workspace_id: str | None
    billing_mode: BillingMode
    billing_mode_source: str
    provider: str
    decisions: tuple[KeyDecision, ...]
    env: dict[str, str] = field(repr=False)
    usable_credentials: tuple[str, ...]
    passthrough_inherited: int
    refusal: LauncherError | None

    @property
    def launches(self) -> bool:
        return self.refusal is None

    @property
    def exit_code(self) -> int:
        return 0 if self.refusal is None else self.refusal.exit_code

    @property
    def code(self) -> str | None:
        return None if self.refusal is None else self.refusal.code

    def kept_fingerprints(self) -> dict[str, str]:
        return {d.key: d.fingerprint for d in self.decisions if d.action == KEEP and d.llm_bypass}


def decide(key: str, scope: Scope, mode: BillingMode, catalog: KeyCatalog) -> tuple[bool, str, str]:
    llm = catalog.is_bypass(key)
    if key in LAUNCHER_OWN_VARS:
        return llm, STRIP, "the launcher's own platform token never reaches the agent"
    if not llm:
        return llm, KEEP, "not an LLM key"
    if mode is BillingMode.PLATFORM_MANAGED:
        return llm, KEEP, "platform_managed: the platform routes LLM traffic"
    if scope is Scope.WORKSPACE:
        return llm, KEEP, "the workspace's own secret"
    return llm, STRIP, f"{scope.value}-origin LLM key in {mode.value} mode"


def plan(
    config: Config,
    sources: Iterable[Source],
    inherited: Mapping[str, str],
    catalog: KeyCatalog,
) -> GatePlan:
    """Layer the sources (later wins), decide every key, check the result."""
    provider = catalog.provider(config.provider)
    layers = list(sources)
    if not config.pristine:
        layers.insert(0, Source("environment", inherited, Scope.INHERITED))

    winner: dict[str, tuple[str, Scope, str]] = {}
    for source in layers:
        for key, value in source.values.items():
            winner[key] = (value, source.scope_of(key), source.name)

    decisions: list[KeyDecision] = []
    env: dict[str, str] = {}
    passthrough = 0
    for key, (value, scope, origin) in winner.items():
        llm, action, reason = decide(key, scope, config.billing_mode, catalog)
        if action == KEEP:
            env[key] = value
        if scope is Scope.INHERITED and action == KEEP and not llm:
            passthrough += 1  # PATH, HOME, ...: counted, not listed
            continue
        decisions.append(KeyDecision(key, scope, origin, llm, action, reason, fingerprint(value)))
    decisions.sort(key=lambda d: d.key)

    usable = tuple(provider.satisfied_by(env))
    refusal = None
    if config.billing_mode in NEEDS_CREDENTIAL and not usable:
        refusal = MissingCredentialError(_missing_message(config, decisions, provider.name))
    return GatePlan(
        workspace_id=config.workspace_id,
        billing_mode=config.billing_mode,
        billing_mode_source=config.billing_mode_source,
        provider=provider.name,
        decisions=tuple(decisions),
        env=env,
        usable_credentials=usable,
        passthrough_inherited=passthrough,
        refusal=refusal,
    )


def _missing_message(config: Config, decisions: list[KeyDecision], provider: str) -> str:
    stripped = [f"{d.key} ({d.scope.value})" for d in decisions if d.llm_bypass and d.action == STRIP]
    kept_unusable = [d.key for d in decisions if d.llm_bypass and d.action == KEEP and not is_routing(d.key)]
    who = f"workspace {config.workspace_id}" if config.workspace_id else "workspace"
    parts = [f"{config.billing_mode.value} {who} has no usable LLM credential of its own for provider {provider}"]
    if stripped:
        parts.append(f"stripped: {', '.join(stripped)}")
    if kept_unusable:
        parts.append(f"kept but not usable by {provider}: {', '.join(kept_unusable)}")
    where = (
        "add a workspace-scoped secret (e.g. ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN) under Config → Secrets"
        if config.platform_url
        else "add your own key (e.g. ANTHROPIC_API_KEY) to an --env-file"
    )
    parts.append(f"fix: {where}, or switch the workspace to platform-managed billing")
    return "; ".join(parts)
