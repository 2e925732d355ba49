"""Running the extraction on the installed pinned CLIs gives exactly the
checked-in launcher/data/inventory/<agent>.names.json, and every name is
classified: bumping a pin without `scripts/agent_inventory.py --write` and
classifying what it names fails here. Reads the files; runs no CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import agent_inventory

pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "agent_inventory.py"


inv = agent_inventory()


@pytest.fixture(scope="module")
def extracted(claude_bin: str, codex_bin: str, gemini_bin: str) -> dict[str, dict[str, object]]:
    clis = {"claude-code": claude_bin, "codex": codex_bin, "gemini-cli": gemini_bin}
    return {agent: json.loads(inv.render(inv.extract(agent, Path(cli)))) for agent, cli in clis.items()}


@pytest.mark.parametrize("agent", ["claude-code", "codex", "gemini-cli"])
def test_the_pinned_cli_reads_exactly_the_checked_in_names(agent: str, extracted: dict[str, dict[str, object]]):
    checked_in = inv.load_extraction(agent)
    got = extracted[agent]
    added = sorted(set(got["names"]) - set(checked_in["names"]))  # type: ignore[call-overload]
    removed = sorted(set(checked_in["names"]) - set(got["names"]))
    assert (added, removed) == ([], []), (
        f"{agent} {got['version']} reads other names than the checked-in extraction: run "
        f"`scripts/agent_inventory.py {agent} <cli> --write`, then classify the new ones"
    )
    assert got == checked_in, f"{agent}: version, paths or method differ; rerun --write"


def test_every_name_the_pinned_clis_read_is_classified(extracted: dict[str, dict[str, object]]):
    assert inv.problems(extracted) == []


def test_the_check_reports_a_name_nobody_classified(extracted: dict[str, dict[str, object]]):
    """Control: the checker is not vacuous; one unclassified name fails it."""
    fake = {agent: dict(data) for agent, data in extracted.items()}
    fake["gemini-cli"]["names"] = [*fake["gemini-cli"]["names"], "GEMINI_FAKE_UNCLASSIFIED_TOKEN"]  # type: ignore[list-item]
    assert inv.problems(fake) == ["GEMINI_FAKE_UNCLASSIFIED_TOKEN: read by gemini-cli, not classified"]
