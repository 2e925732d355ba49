"""The local gate: decide, key by key, what the child may see.

This re-applies workspace-server's provenance-aware strip on the launcher's
side of the wire, and extends it to what the container inherited: an LLM
key (the server's list and the credential catalogue, see ``catalogue``)
reaches a non-platform agent only when it is provably the workspace's own.
Pure: inputs in, decisions out. ``strip`` layers the sources and decides
key by key; what the agent's files hold is read by ``pipeline`` (the one
step with I/O, in the child's final environment) and handed back to
``judge``, which decides whether what is left is usable or refuses: in a
non-platform mode a file that is not declared the workspace's own refuses
the launch. Everything else renders or executes the plan.
"""

import enum
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, NamedTuple

from .agents import codex
from .agents.codex import PendingAuth
from .agents.scan import AgentFinding
from .catalogue import SECRET_KINDS, Backend, KeyCatalogue, KeyKind, normalise, switch_on
from .config import ENV_VARS, TOKEN_VAR, BillingMode, Config
from .errors import LauncherError
from .files import Stamp
from .refusal import NEEDS_CREDENTIAL, Outcome, refusal_for
from .values import COPY_EQUAL, Scope, StrippedValues, Verdict, fingerprint

if TYPE_CHECKING:
    from .privileges import Identity

_CODEX_SOURCE = f"launcher: {codex.AUTH_JSON_VAR} -> auth.json"
_CLOSER_SOURCE = "launcher: closes the metadata fallback"
_USER_SOURCE = "launcher: --user"

# The variables that carry the launcher's own platform credential. They are
# removed from every child environment: the agent has no business holding
# the token that reads the workspace's secrets.
LAUNCHER_OWN_VARS = frozenset({TOKEN_VAR, ENV_VARS["token_file"]})
_LAUNCHER_VARS = frozenset(normalise(k) for k in LAUNCHER_OWN_VARS)


class Action(enum.StrEnum):
    KEEP = "keep"
    STRIP = "strip"


KEEP = Action.KEEP
STRIP = Action.STRIP

__all__ = [
    "KEEP",
    "LAUNCHER_OWN_VARS",
    "NEEDS_CREDENTIAL",
    "STRIP",
    "Action",
    "Decision",
    "GatePlan",
    "KeyDecision",
    "Source",
    "Strip",
    "Verdict",
    "decide",
    "is_launcher_var",
    "judge",
    "strip",
    "winner",
]


def is_launcher_var(name: str) -> bool:
    """The launcher's own variables, in any case and with stray whitespace."""
    return normalise(name) in _LAUNCHER_VARS


class Source(NamedTuple):
    """One layer of values with the scope each key carries."""

    name: str
    values: Mapping[str, str]
    scope: Scope | Mapping[str, Scope]

    def __repr__(self) -> str:  # values: names only
        return f"Source({self.name!r}, {len(self.values)} keys)"

    def scope_of(self, key: str) -> Scope:
        if isinstance(self.scope, Scope):
            return self.scope
        return self.scope.get(key, Scope.UNKNOWN)


class Decision(NamedTuple):
    """What the gate does with one key, and why."""

    kind: KeyKind | None  # None: not an LLM key
    action: Action
    reason: str

    @property
    def llm_key(self) -> bool:
        return self.kind is not None


class KeyDecision(NamedTuple):
    key: str
    scope: Scope
    source: str
    llm_key: bool
    action: Action
    reason: str
    fingerprint: str
    kind: KeyKind | None = None


def winner(layers: list[Source], key: str) -> Source:
    """The last layer that sets ``key``: the one whose value the child gets."""
    return next(source for source in reversed(layers) if key in source.values)


class Strip(NamedTuple):
    """The strip's result (``strip``): the child's environment so far, and
    what was taken out of it and why, before any agent file is read. What
    ``check``, ``-v`` and ``audit`` explain a plan with."""

    layers: list[Source]  # the sources, lowest first (``winner``)
    env: dict[str, str]
    removed: dict[str, str]  # what was stripped: key -> value
    gated: list[str]  # the keys decided one by one: LLM keys, the launcher's own, copies of stripped values
    copies: dict[str, str]  # key -> the stripped key (or the token variable) whose value it holds
    values: StrippedValues  # the stripped values long enough to recognise a copy of
    # The one decision made for each gated key, the one that stripped or kept
    # it (explaining reads it back; it is never worked out a second time).
    decided: dict[str, Decision]

    def __repr__(self) -> str:  # values: counts only
        return f"Strip({len(self.env)} kept, {len(self.removed)} stripped)"


class AgentFiles(NamedTuple):
    """What the agent's files said (read by ``pipeline``, in the child's
    final environment): the findings; each judged file's stamp (or None:
    absent), when the mode refuses on what they hold, for the last check
    before a start (``files.changed``); and CODEX_AUTH_JSON, when the
    launcher writes it to auth.json instead of passing it on (``codex``):
    what to write, and the variable it moved."""

    findings: tuple[AgentFinding, ...] = ()
    watched: tuple[tuple[str, Stamp | None], ...] = ()
    codex_auth: PendingAuth | None = None
    moved: dict[str, str] = {}  # noqa: RUF012 - a NamedTuple default, never mutated

    def __repr__(self) -> str:  # moved holds a credential
        return f"AgentFiles({len(self.findings)} findings, {len(self.watched)} watched)"


class GatePlan(NamedTuple):
    """The gate's verdict: the child's environment, and why. Immutable.

    ``env`` and ``refusal`` are all that exec needs, and they cost one pass
    over the key names. ``strip`` and ``files`` are why: every source and
    every decision made, and what the agent's files said (with what the
    launcher writes for the agent before it starts). ``decisions`` (every
    key with its scope, reason and fingerprint) is what ``check``, ``-v``
    and ``audit`` show; it is built, and values hashed, only when asked for.
    """

    workspace_id: str | None
    billing_mode: BillingMode
    billing_mode_source: str
    provider: str
    agent: str
    env: dict[str, str]
    refusal: LauncherError | None
    usable_credentials: tuple[str, ...]
    # Switches that survived with no workspace-own credential for their
    # backend: (switch, backend); byok and subscription refuse on them.
    gaps: tuple[tuple[str, Backend], ...]
    catalogue: KeyCatalogue  # the LLM keys this plan was gated with (audit judges by them too)
    strip: Strip
    files: AgentFiles

    def __repr__(self) -> str:  # values: names and counts only
        return (
            f"GatePlan(billing_mode={self.billing_mode.value!r}, provider={self.provider!r}, agent={self.agent!r}, "
            f"keys={len(self.env)} kept/{len(self.strip.removed)} stripped, "
            f"agent_files={len(self.files.findings)}, refusal={self.code!r})"
        )

    @property
    def launches(self) -> bool:
        return self.refusal is None

    @property
    def exit_code(self) -> int:
        """The one status both exec and check exit with before the command runs."""
        return 0 if self.refusal is None else self.refusal.exit_code

    @property
    def code(self) -> str | None:
        return None if self.refusal is None else self.refusal.code

    def _decision(self, key: str) -> KeyDecision:
        source = winner(self.strip.layers, key)
        scope = source.scope_of(key)
        # What strip decided; a key it did not gate is decided here, the one way it could be.
        d = self.strip.decided.get(key) or decide(key, scope, self.billing_mode, self.catalogue)
        if source.name == _CODEX_SOURCE:
            d = Decision(d.kind, d.action, f"the launcher's private CODEX_HOME: auth.json from {codex.AUTH_JSON_VAR}")
        moved = self.files.moved
        if key in moved:
            d = Decision(d.kind, d.action, f"{d.reason}; written to auth.json in the private CODEX_HOME instead")
        kept = moved if key in moved else self.env
        value = kept[key] if d.action is KEEP else self.strip.removed[key]
        return KeyDecision(key, scope, source.name, d.llm_key, d.action, d.reason, fingerprint(value), d.kind)

    def decisions(self) -> tuple[KeyDecision, ...]:
        """Every key but inherited non-LLM ones (PATH, HOME, ...), which are
        only counted."""
        shown = (self.env.keys() | self.strip.removed.keys() | self.files.moved.keys()) - self._passthrough()
        return tuple(self._decision(k) for k in sorted(shown))

    def _passthrough(self) -> frozenset[str]:
        """Inherited non-LLM keys that no source overrides."""
        layers = self.strip.layers
        inherited = [src for src in layers if src.scope is Scope.INHERITED]
        if not inherited:
            return frozenset()
        overridden = {k for src in layers if src.scope is not Scope.INHERITED for k in src.values}
        # Only what the child gets: a spelling the launcher replaced, a USER
        # that --user dropped, is not passed through.
        return frozenset((inherited[0].values.keys() & self.env.keys()) - overridden - set(self.strip.gated))

    @property
    def passthrough_inherited(self) -> int:
        return len(self._passthrough())

    def llm_key_decisions(self) -> list[KeyDecision]:
        """Only the LLM keys, the launcher's own variables and copies of its
        token: cheap."""
        return [self._decision(k) for k in sorted(self.strip.gated)]

    def kept_fingerprints(self) -> dict[str, str]:
        return {d.key: d.fingerprint for d in self.llm_key_decisions() if d.action is KEEP and d.llm_key}


def decide(key: str, scope: Scope, mode: BillingMode, catalogue: KeyCatalogue) -> Decision:
    kind = catalogue.kind_of(key)
    if is_launcher_var(key):
        return Decision(kind, STRIP, "the launcher's own platform token never reaches the agent")
    if scope is Scope.LAUNCHER:
        return Decision(kind, KEEP, "set by the launcher: closes a cloud SDK's fallback to the machine's identity")
    if kind is None:
        return Decision(kind, KEEP, "not an LLM key")  # (nor any other kind the gate judges)
    if mode is BillingMode.PLATFORM_MANAGED:
        return Decision(kind, KEEP, "platform_managed: the platform routes LLM traffic")
    if scope is Scope.WORKSPACE:
        return Decision(kind, KEEP, "the workspace's own secret")
    return Decision(kind, STRIP, f"{scope.value}-origin LLM key ({kind.value}) in {mode.value} mode")


def stripped_values(config: Config, stripped: Mapping[str, str], catalogue: KeyCatalogue) -> StrippedValues:
    """The launcher's token (as configured and as any launcher variable held
    it) and every stripped credential long enough to recognise."""
    values: dict[str, str] = {}
    for key, value in stripped.items():
        text = value.strip()
        if catalogue.kind_of(key) in SECRET_KINDS and len(text) >= COPY_EQUAL:
            values.setdefault(text, key)
    tokens = {value.strip(): key for key, value in stripped.items() if normalise(key) == TOKEN_VAR and value.strip()}
    if config.token:
        tokens[config.token] = TOKEN_VAR
    values.update(tokens)
    return StrippedValues.of(values, frozenset(tokens))


def strip(config: Config, sources: Iterable[Source], inherited: Mapping[str, str], catalogue: KeyCatalogue) -> Strip:
    """Layer the sources (later wins) and strip, key by key; copies of
    what was stripped go too, and the metadata fallbacks are closed."""
    layers = list(sources)
    if not config.pristine:
        layers.insert(0, Source("environment", inherited, Scope.INHERITED))

    env: dict[str, str] = {}
    for source in layers:
        env.update(source.values)

    # The one pass over every key name: only these keys can be stripped.
    llm_keys = catalogue.llm_keys
    gated = [k for k in env if k.strip().upper() in llm_keys or is_launcher_var(k)]
    stripped: dict[str, str] = {}
    decided: dict[str, Decision] = {}
    for key in gated:
        decided[key] = decide(key, winner(layers, key).scope_of(key), config.billing_mode, catalogue)
        if decided[key].action is STRIP:
            stripped[key] = env.pop(key)
    # Whatever it is called, a copy of a stripped credential (or of the
    # token) is that credential: CLAUDE_TOKEN_BACKUP=<the platform's token>.
    values = stripped_values(config, stripped, catalogue)
    copies: dict[str, str] = {}
    if values:
        for key in list(env):
            original = values.copy_of(env[key])
            # A kept LLM key is the workspace's own by scope; the token is never anyone's.
            if original is not None and (key not in gated or is_launcher_var(original)):
                copies[key] = original
                stripped[key] = env.pop(key)
                why = (
                    "holds the launcher's own platform token"
                    if is_launcher_var(original)
                    else f"holds the value of the stripped {original}"
                )
                decided[key] = Decision(catalogue.kind_of(key) or catalogue.kind_of(original), STRIP, why)
    gated.extend(copies)
    # Whatever the platform's machine identity is (instance metadata, a
    # managed identity), the agent's cloud SDKs must not fall back to it.
    if config.billing_mode is not BillingMode.PLATFORM_MANAGED:
        closed = close_metadata(env, catalogue)
        if closed:
            layers.append(Source(_CLOSER_SOURCE, closed, Scope.LAUNCHER))
            gated.extend(k for k in closed if k not in gated)
            decided.update({k: decide(k, Scope.LAUNCHER, config.billing_mode, catalogue) for k in closed})
    # A blank HOME is read three ways (node: the working directory; codex:
    # the passwd entry; the launcher's scan: its own uid's entry): never
    # passed on, so that the agent's home is its passwd entry's, as the
    # scan's is (with --user, the user's, set below). platform_managed
    # refuses on no file, and strips nothing.
    if config.billing_mode is not BillingMode.PLATFORM_MANAGED and not env.get("HOME", "x").strip():
        stripped["HOME"] = env.pop("HOME")
        why = "blank: the agent's home is its passwd entry's, where its files are read"
        decided["HOME"] = Decision(None, STRIP, why)
    if config.user is not None:
        as_user = user_environment(env, layers, config.user)
        if as_user:
            layers.append(Source(_USER_SOURCE, as_user, Scope.LAUNCHER))
            own = "the --user's own, from its passwd entry" if config.user.name else "the --user's: no passwd entry"
            for key in as_user:
                prior = decided.get(key)  # a copy of a stripped value stays reported as one
                decided[key] = (
                    Decision(prior.kind, STRIP, f"{prior.reason}; the --user's own is set instead")
                    if prior is not None and prior.action is STRIP
                    else Decision(None, KEEP, own)
                )
    return Strip(layers, env, stripped, gated, copies, values, decided)


def user_environment(env: dict[str, str], layers: list[Source], user: "Identity") -> dict[str, str]:
    """HOME, USER and LOGNAME describe the agent's user, not root's: set in
    ``env`` (the one place the ``--user`` environment is made: the agent's
    files are read under it, and the child gets it). Returns what was set.

    As gosu does for HOME: each comes from the user's passwd entry unless a
    source the operator chose (an env file, the platform bundle) sets it;
    an inherited value (``/root`` from Docker) is replaced. Without a passwd
    entry HOME is ``/`` (as su-exec) and inherited USER/LOGNAME are dropped.
    """
    inherited = layers[0] if layers and layers[0].scope is Scope.INHERITED else None
    wanted = {"HOME": user.home or "/", "USER": user.name, "LOGNAME": user.name}
    set_here: dict[str, str] = {}
    for key, value in wanted.items():
        if key in env and (inherited is None or winner(layers, key) is not inherited):
            continue  # chosen by the operator's sources (with --pristine, every source is)
        if value is None:
            env.pop(key, None)
        else:
            env[key] = set_here[key] = value
    return set_here


NO_FILES = AgentFiles()


def judge(
    config: Config, state: Strip, catalogue: KeyCatalogue, files: AgentFiles = NO_FILES, agent: str | None = None
) -> GatePlan:
    """What is left, with what the agent's files said: a usable credential
    of the workspace's own (and one for every cloud backend switched on),
    or the refusal."""
    env = state.env
    if files.codex_auth is not None:  # CODEX_HOME is as scoped as the variable it came from
        scope = winner(state.layers, codex.AUTH_JSON_VAR).scope_of(codex.AUTH_JSON_VAR)
        codex_home = Source(_CODEX_SOURCE, {codex.CODEX_HOME_VAR: env[codex.CODEX_HOME_VAR]}, scope)
        gated = state.gated if codex.CODEX_HOME_VAR in state.gated else [*state.gated, codex.CODEX_HOME_VAR]
        state = state._replace(layers=[*state.layers, codex_home], gated=gated)  # the agent's own now (audit, -v)
    provider = catalogue.provider(config.provider)
    findings = files.findings
    from_files = {f.counts_as: "own agent file" for f in findings if f.verdict is Verdict.OWN and f.counts_as}
    own = {**env, **files.moved, **from_files}
    found = provider.satisfied_by(own)
    gaps: list[tuple[str, Backend]] = []
    for switch, backend in switched(own, catalogue):
        group = backend.satisfied_by(own)
        if not group:
            gaps.append((switch, backend))
        elif backend.name in provider.backends:
            found.extend(group)
    usable = tuple(dict.fromkeys(found))
    layers = state.layers
    outcome = Outcome(env, state.removed, lambda key: winner(layers, key).scope_of(key), catalogue)
    refusal = refusal_for(config, provider.name, findings, usable, outcome, tuple(gaps))
    if config.billing_mode is BillingMode.PLATFORM_MANAGED:
        files = files._replace(watched=())  # nothing refuses on what they hold: nothing to check again
    return GatePlan(
        workspace_id=config.workspace_id,
        billing_mode=config.billing_mode,
        billing_mode_source=config.billing_mode_source,
        provider=provider.name,
        agent=agent or config.agent,
        env=env,
        refusal=refusal,
        usable_credentials=usable,
        gaps=tuple(gaps),
        catalogue=catalogue,
        strip=state,
        files=files,
    )


def switched(env: Mapping[str, str], catalogue: KeyCatalogue) -> list[tuple[str, Backend]]:
    """(switch, backend) for every backend switch that is on in ``env`` (the
    child's, plus what own agent files stand for). Exact names: the agent
    reads ``CLAUDE_CODE_USE_BEDROCK``, not another spelling."""
    return [
        (switch, backend)
        for backend in catalogue.backends.values()
        for switch in backend.switches
        if switch_on(env.get(switch, ""))
    ]


def close_metadata(env: dict[str, str], catalogue: KeyCatalogue) -> dict[str, str]:
    """Set, in ``env``, each SDK's own switch that turns its metadata (or
    managed-identity) fallback off, unless a credential that the SDK uses
    before that fallback survived (then the switch would only break it).
    Returns what was set. Any other spelling of these names is dropped:
    the launcher's value is the one the child gets."""
    closed: dict[str, str] = {}
    for closer in catalogue.closers:
        if any(env.get(name, "").strip() for name in closer.unless):
            continue
        for key in [k for k in env if normalise(k) == closer.name]:
            del env[key]
        env[closer.name] = closer.value
        closed[closer.name] = closer.value
    return closed
