"""Why a plan refuses: the two 78s, and messages that say what to fix.

Messages name keys, files and fields, never a value.
"""

from collections.abc import Callable, Mapping
from typing import NamedTuple

from .agents.scan import AgentFinding
from .catalogue import Backend, KeyCatalogue, KeyKind
from .config import BillingMode, Config
from .errors import ForeignAgentCredentialError, LauncherError, MissingCredentialError
from .values import Scope, Verdict

NEEDS_CREDENTIAL = frozenset({BillingMode.BYOK, BillingMode.SUBSCRIPTION})


class Outcome(NamedTuple):
    """What the strip left, for a refusal message."""

    env: Mapping[str, str]
    stripped: Mapping[str, str]
    scope_of: Callable[[str], Scope]  # the scope of the value a key ended with
    catalogue: KeyCatalogue

    def __repr__(self) -> str:  # values: names and counts only
        return f"Outcome(kept={len(self.env)}, stripped={len(self.stripped)})"


def refusal_for(
    config: Config,
    provider: str,
    findings: tuple[AgentFinding, ...],
    usable: tuple[str, ...],
    outcome: Outcome,
    gaps: tuple[tuple[str, Backend], ...] = (),
) -> LauncherError | None:
    if config.billing_mode is BillingMode.PLATFORM_MANAGED:
        return None
    foreign = [f for f in findings if f.verdict is Verdict.FOREIGN]
    if foreign:
        return ForeignAgentCredentialError(_foreign_message(config, foreign))
    if config.billing_mode in NEEDS_CREDENTIAL and gaps:
        return MissingCredentialError(_backend_message(config, outcome, gaps))
    if config.billing_mode in NEEDS_CREDENTIAL and not usable:
        return MissingCredentialError(_missing_message(config, outcome, provider))
    return None


def _foreign_message(config: Config, foreign: list[AgentFinding]) -> str:
    shown = "; ".join(f.describe() for f in foreign[:8]) + ("; ..." if len(foreign) > 8 else "")
    return (
        f"{config.billing_mode.value}: the agent would read a credential that is not the workspace's own from "
        f"{shown}; fix: remove it from the image or the mounted file, or, if it really is the workspace's, "
        "declare the file with --own-agent-file PATH"
    )


def _backend_message(config: Config, outcome: Outcome, gaps: tuple[tuple[str, Backend], ...]) -> str:
    """A cloud switch with no workspace-own credential for its backend: the
    agent would take the machine's (the platform's) identity instead."""
    parts = []
    for switch, backend in gaps:
        names = {n for group in backend.credentials for n in group}
        gone = [
            f"{k} ({outcome.scope_of(k).value})"
            for k in sorted(outcome.stripped)
            if k.strip().upper() in names or outcome.catalogue.kind_of(k) is KeyKind.CLOUD_IDENTITY
        ]
        parts.append(
            f"{switch} turns on the {backend.name} backend, but the workspace has no credential of its own for it "
            f"(needs {backend.needs()}" + (f"; stripped: {', '.join(gone)}" if gone else "") + ")"
        )
    return (
        f"{config.billing_mode.value}: "
        + "; ".join(parts)
        + "; the agent would fall back to the image's or the machine's cloud identity, which is the platform's; "
        "fix: add the workspace's own cloud credential as workspace secrets, or declare its own credentials file "
        "with --own-agent-file PATH, or remove the switch"
    )


def _missing_message(config: Config, outcome: Outcome, provider: str) -> str:
    catalogue = outcome.catalogue
    gone = [f"{k} ({outcome.scope_of(k).value})" for k in sorted(outcome.stripped) if catalogue.is_llm_key(k)]
    kept = sorted(k for k in outcome.env if catalogue.kind_of(k) is KeyKind.CREDENTIAL)
    who = f"workspace {config.workspace_id}" if config.workspace_id else "workspace"
    parts = [f"{config.billing_mode.value} {who} has no usable LLM credential of its own for provider {provider}"]
    if gone:
        parts.append(f"stripped: {', '.join(gone)}")
    if kept:
        parts.append(f"kept but not usable by {provider}: {', '.join(kept)}")
    where = (
        "add a workspace-scoped secret (e.g. ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN) under Config → Secrets"
        if config.platform_url
        else "add your own key (e.g. ANTHROPIC_API_KEY) to an --env-file"
    )
    parts.append(f"fix: {where}, or switch the workspace to platform-managed billing")
    return "; ".join(parts)
