"""The local gate: decide, key by key, what the child may see.

This re-applies workspace-server's provenance-aware strip on the launcher's
side of the wire, and extends it to what the container inherited: an LLM
key reaches a non-platform agent only when it is provably the workspace's
own. One function, ``plan``, makes every decision; everything else renders
or executes its result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

from .bundle import Scope, fingerprint
from .config import LAUNCHER_OWN_VARS, BillingMode, Config
from .errors import LauncherError, MissingCredentialError
from .registry import KeyCatalog, is_routing

KEEP = "keep"
STRIP = "strip"
NEEDS_CREDENTIAL = frozenset({BillingMode.BYOK, BillingMode.SUBSCRIPTION})

__all__ = ["KEEP", "STRIP", "GatePlan", "KeyDecision", "Source", "decide", "fingerprint", "plan", "winner"]


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


def winner(layers: list[Source], key: str) -> Source:
    """The last layer that sets ``key``: the one whose value the child gets."""
    return next(source for source in reversed(layers) if key in source.values)


class GatePlan:
    """The gate's verdict: the child's environment, and why.

    ``env`` and ``refusal`` are all that exec needs, and they cost one pass
    over the key names. ``decisions`` (every key with its scope, reason
    and fingerprint) is what ``check``, ``-v`` and ``audit`` show; it is
    built, and values hashed, only when asked for.
    """

    def __init__(
        self,
        config: Config,
        provider: str,
        env: dict[str, str],
        stripped: dict[str, str],
        layers: list[Source],
        special: list[str],
        catalog: KeyCatalog,
        usable: tuple[str, ...],
        refusal: LauncherError | None,
    ) -> None:
        self.workspace_id = config.workspace_id
        self.billing_mode = config.billing_mode
        self.billing_mode_source = config.billing_mode_source
        self.provider = provider
        self.env = env
        self.usable_credentials = usable
        self.refusal = refusal
        self._stripped = stripped
        self._layers = layers
        self._special = special
        self._catalog = catalog

    def __repr__(self) -> str:
        return (
            f"GatePlan(billing_mode={self.billing_mode.value!r}, provider={self.provider!r}, "
            f"keys={len(self.env)} kept/{len(self._stripped)} stripped, refusal={self.code!r})"
        )

    @property
    def launches(self) -> bool:
        return self.refusal is None

    @property
    def exit_code(self) -> int:
        return 0 if self.refusal is None else self.refusal.exit_code

    @property
    def code(self) -> str | None:
        return None if self.refusal is None else self.refusal.code

    def _decision(self, key: str) -> KeyDecision:
        source = winner(self._layers, key)
        scope = source.scope_of(key)
        llm, action, reason = decide(key, scope, self.billing_mode, self._catalog)
        value = self.env[key] if action == KEEP else self._stripped[key]
        return KeyDecision(key, scope, source.name, llm, action, reason, fingerprint(value))

    @cached_property
    def decisions(self) -> tuple[KeyDecision, ...]:
        """Every key but inherited non-LLM ones (PATH, HOME, ...), which are
        only counted."""
        shown = (self.env.keys() | self._stripped.keys()) - self._passthrough
        return tuple(self._decision(k) for k in sorted(shown))

    @cached_property
    def _passthrough(self) -> frozenset[str]:
        """Inherited non-LLM keys that no source overrides."""
        inherited = [src for src in self._layers if src.scope is Scope.INHERITED]
        if not inherited:
            return frozenset()
        overridden = {k for src in self._layers if src.scope is not Scope.INHERITED for k in src.values}
        return frozenset(inherited[0].values.keys() - overridden - set(self._special))

    @property
    def passthrough_inherited(self) -> int:
        return len(self._passthrough)

    def special_decisions(self) -> list[KeyDecision]:
        """Only the LLM keys and the launcher's own variables: cheap."""
        return [self._decision(k) for k in sorted(self._special)]

    def kept_fingerprints(self) -> dict[str, str]:
        return {d.key: d.fingerprint for d in self.special_decisions() if d.action == KEEP and d.llm_bypass}


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
    """Layer the sources (later wins), strip, and check what is left."""
    provider = catalog.provider(config.provider)
    layers = list(sources)
    if not config.pristine:
        layers.insert(0, Source("environment", inherited, Scope.INHERITED))

    env: dict[str, str] = {}
    for source in layers:
        env.update(source.values)

    # The one pass over every key name: only these keys can be stripped.
    bypass = catalog.bypass_keys
    special = [k for k in env if k in LAUNCHER_OWN_VARS or k.strip().upper() in bypass]
    stripped: dict[str, str] = {}
    for key in special:
        if decide(key, winner(layers, key).scope_of(key), config.billing_mode, catalog)[1] == STRIP:
            stripped[key] = env.pop(key)

    usable = tuple(provider.satisfied_by(env))
    result = GatePlan(config, provider.name, env, stripped, layers, special, catalog, usable, None)
    if config.billing_mode in NEEDS_CREDENTIAL and not usable:
        result.refusal = MissingCredentialError(_missing_message(config, result.special_decisions(), provider.name))
    return result


def _missing_message(config: Config, decisions: Iterable[KeyDecision], provider: str) -> str:
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
