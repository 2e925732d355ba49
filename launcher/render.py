"""Show a plan to a person (a table) or a program (JSON). Values never
appear: each key is shown by name and fingerprint."""

from __future__ import annotations

import json
from collections.abc import Sequence

from .agents.profiles import members
from .agents.scan import AgentFinding
from .config import Config
from .errors import LauncherError
from .gate import GatePlan
from .log import escape, escape_tree


def plan_json(plan: GatePlan, warnings: tuple[str, ...] = ()) -> dict[str, object]:
    return {
        "workspace_id": plan.workspace_id,
        "billing_mode": plan.billing_mode.value,
        "billing_mode_source": plan.billing_mode_source,
        "provider": plan.provider,
        "agent": plan.agent,
        "agent_profiles": list(members(plan.agent)),  # whose files were checked ("all": every profile's)
        "decision": "launch" if plan.launches else "refuse",
        "exit_code": plan.exit_code,
        "code": plan.code,
        "message": plan.refusal.message if plan.refusal else None,
        "keys": [
            {
                "key": d.key,
                "scope": d.scope.value,
                "source": d.source,
                "llm_bypass": d.llm_key,  # the older name of llm_key, kept in the JSON
                "llm_key": d.llm_key,
                "kind": d.kind.value if d.kind else None,
                "action": d.action,
                "reason": d.reason,
                "fingerprint": d.fingerprint,
            }
            for d in plan.decisions()
        ],
        "agent_files": [agent_file_json(f) for f in plan.files.findings],
        "usable_credentials": list(plan.usable_credentials),
        "inherited_passthrough": plan.passthrough_inherited,
        "warnings": list(warnings),
    }


def agent_file_json(finding: AgentFinding) -> dict[str, object]:
    return {
        "path": finding.path,
        "field": finding.field,
        "verdict": finding.verdict.value,
        "fingerprint": finding.fingerprint,
        "counts_as": finding.counts_as,
        "helper": finding.helper,
        "problem": finding.problem,
    }


def error_json(error: LauncherError, config: Config | None) -> dict[str, object]:
    """What `check --json` says when no plan could be made."""
    return {
        "workspace_id": config.workspace_id if config else None,
        "billing_mode": config.billing_mode.value if config else None,
        "billing_mode_source": config.billing_mode_source if config else None,
        "provider": config.provider if config else None,
        "agent": config.agent if config else None,
        "agent_profiles": [],
        "decision": "refuse",
        "exit_code": error.exit_code,
        "code": error.code,
        "message": error.message,
        "keys": [],
        "agent_files": [],
        "usable_credentials": [],
        "inherited_passthrough": 0,
        "warnings": list(config.warnings) if config else [],
    }


def dumps(document: dict[str, object]) -> str:
    # Key names can come from the inherited environment and names of
    # processes from anywhere: escaped, the document is valid UTF-8 that
    # any JSON reader accepts and no terminal interprets.
    return json.dumps(escape_tree(document), indent=2, ensure_ascii=False)


def plan_table(plan: GatePlan) -> str:
    header = ("KEY", "SCOPE", "LLM", "ACTION", "FINGERPRINT", "REASON")
    rows = [
        (escape(d.key), d.scope.value, "yes" if d.llm_key else "no", d.action, d.fingerprint, escape(d.reason))
        for d in plan.decisions()
    ]
    lines = [
        f"workspace: {plan.workspace_id or '(local)'}   billing mode: {plan.billing_mode.value} "
        f"({plan.billing_mode_source})   provider: {plan.provider}   agent: {plan.agent}"
        + (f" ({', '.join(members(plan.agent))})" if plan.agent != members(plan.agent)[0] else ""),
        "",
        *columns(header, rows),
    ]
    passthrough = plan.passthrough_inherited  # worked out on each read: read once
    if passthrough:
        lines.append(f"(+ {passthrough} inherited non-LLM variables pass through unchanged)")
    lines.extend(_agent_files_table(plan))
    lines.append("")
    usable = ", ".join(plan.usable_credentials) or "none"
    lines.append(f"usable credentials: {usable}")
    if plan.refusal is None:
        lines.append("decision: launch (exit 0)")
    else:
        lines.append(f"decision: refuse (exit {plan.exit_code}, {plan.code})")
        lines.append(f"  {plan.refusal.message}")
    return "\n".join(lines)


def _agent_files_table(plan: GatePlan) -> list[str]:
    if not plan.files.findings:
        return []
    header = ("AGENT FILE", "FIELD", "VERDICT", "FINGERPRINT")
    rows = [(f.path, f.field or f"({f.problem})", f.verdict.value, f.fingerprint or "-") for f in plan.files.findings]
    return ["", *columns(header, rows)]


def columns(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A plain-text table: each column as wide as its widest cell, two
    spaces between columns, no trailing space (check's tables, audit's)."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]
