"""The gate's decision table, computed by asking the gate itself.

README's "How it decides" table is this module's output (a test keeps the
two equal), so the documentation cannot drift from the code.

    python -m launcher.decisions
"""

from __future__ import annotations

from .bundle import Scope
from .config import TOKEN_VAR, BillingMode
from .gate import NEEDS_CREDENTIAL, decide
from .registry import load_catalog

KINDS = (
    ("non-LLM key", "GITHUB_TOKEN"),
    ("LLM credential", "ANTHROPIC_API_KEY"),
    ("LLM routing", "OPENAI_BASE_URL"),
    ("launcher token", TOKEN_VAR),
)


def markdown() -> str:
    catalog = load_catalog()
    modes = list(BillingMode)
    lines = [
        "| scope | key kind (example) | " + " | ".join(f"`{m.value}`" for m in modes) + " |",
        "|---|---|" + "---|" * len(modes),
    ]
    for scope in Scope:
        for kind, example in KINDS:
            cells = [decide(example, scope, mode, catalog).action.value for mode in modes]
            lines.append(f"| {scope.value} | {kind} (`{example}`) | " + " | ".join(cells) + " |")
    outcome = ["**refuse (78)**" if m in NEEDS_CREDENTIAL else "launch" for m in modes]
    lines.append("| — | no usable credential left | " + " | ".join(outcome) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown())
