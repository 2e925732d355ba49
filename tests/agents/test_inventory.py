"""The checked-in inventory (launcher/data/inventory) is consistent: every name
an extraction lists is classified (classification.json or credential_catalogue.json),
every entry is well formed, nothing is classified twice with different kinds,
and nothing is classified that no extraction lists. No binaries needed."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

from support import REPO, agent_inventory

SCRIPT = REPO / "scripts" / "agent_inventory.py"


inv = agent_inventory()


def _extractions() -> dict[str, dict[str, object]]:
    return {agent: inv.load_extraction(agent) for agent in inv.AGENTS}


def test_every_agent_has_a_sorted_extraction_with_its_pinned_version():
    pins = json.loads((REPO / "e2e" / "package.json").read_text())["dependencies"]
    packages = {
        "claude-code": "@anthropic-ai/claude-code",
        "codex": "@openai/codex",
        "gemini-cli": "@google/gemini-cli",
    }
    for agent, data in _extractions().items():
        assert data["agent"] == agent
        assert data["version"] == pins[packages[agent]], f"{agent}: extraction is of another version than the pin"
        assert data["names"] == sorted(set(data["names"])), agent
        assert data["paths"] == sorted(set(data["paths"])), agent
        assert data["count"] == len(data["names"])
        assert data["method"], agent


def test_the_classification_and_the_extractions_agree():
    assert inv.problems() == []


def test_every_entry_is_well_formed():
    classification = inv.load_classification()
    assert set(classification["sources"]) and all(str(v).strip() for v in classification["sources"].values())
    for name, entry in classification["names"].items():
        assert entry["kind"] in inv.KINDS, name
        assert entry["reason"].strip() and "\n" not in entry["reason"], name
        assert entry["source"] in classification["sources"], name


def test_the_catalogue_is_not_repeated_in_the_classification():
    """Names in credential_catalogue.json are classified there (its kind counts)."""
    catalogue = inv.catalogue_kinds()
    repeated = {n for n in inv.load_classification()["names"] if n in catalogue}
    assert not repeated, f"classified in both places: {sorted(repeated)}"


def test_an_unclassified_name_is_reported():
    extractions = copy.deepcopy(_extractions())
    extractions["codex"]["names"] = [*extractions["codex"]["names"], "FAKE_UNCLASSIFIED_SECRET"]
    assert inv.problems(extractions) == ["FAKE_UNCLASSIFIED_SECRET: read by codex, not classified"]
    assert inv.unclassified(["HOME", "FAKE_UNCLASSIFIED_SECRET"]) == ["FAKE_UNCLASSIFIED_SECRET"]


def test_a_stale_a_bad_and_a_conflicting_entry_are_reported():
    classification = copy.deepcopy(inv.load_classification())
    names = classification["names"]
    names["NOT_READ_BY_ANY_AGENT"] = {"kind": "harmless", "reason": "r", "source": "name"}
    names["HOME"] = {"kind": "sideways", "reason": "", "source": "nowhere"}
    catalogue = inv.catalogue_kinds()
    catalogue["PATH"] = "credential"  # PATH is classified command here
    found = inv.problems(None, classification, catalogue)
    assert "NOT_READ_BY_ANY_AGENT: classified, but no extraction lists it (stale)" in found
    assert any(p.startswith("HOME: kind 'sideways'") for p in found)
    assert "HOME: the reason must be one non-empty line" in found
    assert "HOME: source 'nowhere' is not in the sources table" in found
    assert "PATH: classified command, but credential_catalogue.json says credential" in found


def test_counts_table_is_stable_and_printed_by_the_script():
    table = inv.counts()
    assert table == inv.counts()
    lines = table.splitlines()
    assert lines[0].startswith("| agent | version | names read | credential |")
    assert [line.split("|")[1].strip() for line in lines[2:]] == [*inv.AGENTS, "all three (distinct names)"]
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        total, per_kind, risky = int(cells[2]), [int(c) for c in cells[3:-1]], int(cells[-1])
        assert sum(per_kind) == total and risky == total - per_kind[-1], line
    printed = subprocess.run(
        [sys.executable, str(SCRIPT), "--counts"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert printed.strip() == table


def test_docs_quote_the_current_counts():
    assert inv.counts() in (REPO / "docs" / "inventory.md").read_text(encoding="utf-8"), (
        "docs/inventory.md's counts table is stale: paste `python scripts/agent_inventory.py --counts` into it"
    )
