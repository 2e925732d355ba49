"""docs/agent-channels.md's "How it decides" tables, computed from the gate and the data.

docs/agent-channels.md's decision table, LLM-key catalogue and agent-file channels are this
module's output (tests keep them equal), so the documentation cannot drift
from the code.

    python -m launcher.doctables
"""

from __future__ import annotations

from .agents.profiles import Format, profiles
from .catalogue import KeyKind, load_catalogue
from .config import TOKEN_VAR, BillingMode
from .gate import decide
from .refusal import NEEDS_CREDENTIAL
from .values import Scope

KINDS = (
    ("non-LLM key", "GITHUB_TOKEN"),
    ("LLM credential", "ANTHROPIC_API_KEY"),
    ("LLM routing", "OPENAI_BASE_URL"),
    ("LLM switch", "CLAUDE_CODE_USE_BEDROCK"),
    ("LLM relocation", "CLAUDE_CONFIG_DIR"),
    ("cloud identity", "AWS_ACCESS_KEY_ID"),
    ("transport", "HTTPS_PROXY"),
    ("command", "GEMINI_SANDBOX_PROXY_COMMAND"),
    ("launcher token", TOKEN_VAR),
)

KIND_MEANINGS = {
    KeyKind.CREDENTIAL: "authenticates; counts as usable where the provider accepts it",
    KeyKind.ROUTING: "where requests and credentials go, extra headers; never a credential",
    KeyKind.SWITCH: "turns on a backend that uses ambient cloud credentials",
    KeyKind.RELOCATION: "moves or names the files and descriptors a credential is read from",
    KeyKind.CLOUD_IDENTITY: "a cloud SDK's credential, profile, credential file, container, web or managed identity, "
    "or metadata-service setting: what a cloud backend authenticates with",
    KeyKind.TRANSPORT: "proxies, CA trust, TLS and sockets: through what the agent's traffic (its own key too) goes",
    KeyKind.COMMAND: "a command line the agent runs",
}


def markdown() -> str:
    catalogue = load_catalogue()
    modes = list(BillingMode)
    lines = [
        "| scope | key kind (example) | " + " | ".join(f"`{m.value}`" for m in modes) + " |",
        "|---|---|" + "---|" * len(modes),
    ]
    for scope in Scope:
        if scope is Scope.LAUNCHER:
            continue  # only the launcher's own settings (backends_markdown)
        for kind, example in KINDS:
            cells = [decide(example, scope, mode, catalogue).action.value for mode in modes]
            lines.append(f"| {scope.value} | {kind} (`{example}`) | " + " | ".join(cells) + " |")
    outcome = ["**refuse (78)**" if m in NEEDS_CREDENTIAL else "launch" for m in modes]
    lines.append("| — | no usable credential left | " + " | ".join(outcome) + " |")
    foreign = ["launch" if m is BillingMode.PLATFORM_MANAGED else "**refuse (78)**" for m in modes]
    lines.append("| — | foreign credential in an agent file | " + " | ".join(foreign) + " |")
    return "\n".join(lines)


def catalogue_markdown() -> str:
    """The LLM keys by kind: the server's list and the catalogue together."""
    catalogue = load_catalogue()
    lines = ["| kind | meaning | LLM keys |", "|---|---|---|"]
    for kind in KeyKind:
        names = sorted(k for k in catalogue.llm_keys if catalogue.kind_of(k) is kind)
        lines.append(f"| `{kind.value}` | {KIND_MEANINGS[kind]} | " + ", ".join(f"`{n}`" for n in names) + " |")
    return "\n".join(lines)


def backends_markdown() -> str:
    """Cloud backends: the switches, what counts as the workspace's own
    credential for each, and the metadata fallbacks the launcher closes."""
    catalogue = load_catalogue()
    lines = ["| backend | switches | a workspace-own credential (any one group) |", "|---|---|---|"]
    for backend in catalogue.backends.values():
        switches = ", ".join(f"`{s}`" for s in backend.switches)
        groups = " or ".join(" + ".join(f"`{n}`" for n in group) for group in backend.credentials) or "none possible"
        lines.append(f"| {backend.name} | {switches} | {groups} |")
    lines += ["", "| set in the child (all modes but `platform_managed`) | unless one of these survives |", "|---|---|"]
    for closer in catalogue.closers:
        unless = ", ".join(f"`{n}`" for n in closer.unless) or "—"
        lines.append(f"| `{closer.name}={closer.value}` | {unless} |")
    return "\n".join(lines)


def file_channels_markdown() -> str:
    """Every agent profile's files and the fields that hold a credential."""
    lines = ["| agent | files (`a` or `b`: the first that applies) | credential fields (→ counts as, when own) |"]
    lines.append("|---|---|---|")
    for agent in sorted(profiles().values(), key=lambda p: p.name):
        for entry in agent.files:
            where = [f"`{u}` upward from the working directory" for u in entry.upward]
            where += [f"`{p}`" for p in entry.paths]
            where += [f"`{flag} FILE` or `{flag} '{{…}}'` in the command" for flag in entry.argv]
            where += [f"`{flag} dotted.key=value` in the command" for flag in entry.overrides]
            joiner = " or " if entry.pick.value != "all" else ", "
            fields = []
            for spec in entry.fields:
                name = "content" if entry.format is Format.RAW else ".".join(spec.select)
                extra = " (helper)" if spec.helper else ""
                extra += " (LLM keys)" if spec.llm_keys_only else ""
                extra += f" = {' or '.join(f'`{v}`' for v in spec.values)}" if spec.values else ""
                extra += " (names a variable outside the catalogue that is set)" if spec.variable else ""
                fields.append(f"`{name}`{extra}" + (f" → `{spec.counts_as}`" if spec.counts_as else ""))
            shown = ", ".join(fields) or "`content` (any content)"
            lines.append(f"| {agent.name} | {entry.label}: {joiner.join(where)} ({entry.format.value}) | {shown} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(), catalogue_markdown(), backends_markdown(), file_channels_markdown(), sep="\n\n")
