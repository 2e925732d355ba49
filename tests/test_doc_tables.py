"""docs/agent-channels.md's tables are what ``launcher.doctables`` computes
from the gate and the data (``python -m launcher.doctables`` prints them):
the decision table, the credential catalogue, the agents' file channels and
the cloud backends. A change to the data that the page does not follow
fails here."""

from __future__ import annotations

from support import REPO


def page() -> str:
    return (REPO / "docs" / "agent-channels.md").read_text(encoding="utf-8")


def test_the_documented_decision_table_is_the_gate_s_own():
    from launcher.doctables import markdown

    assert markdown() in page(), (
        "docs/agent-channels.md's decision table is stale: paste `python -m launcher.doctables` into it"
    )


def test_docs_catalogue_and_file_channels_are_the_data_s_own():
    from launcher.doctables import catalogue_markdown, file_channels_markdown

    doc = page()
    assert catalogue_markdown() in doc, "paste `python -m launcher.doctables` into docs/agent-channels.md"
    assert file_channels_markdown() in doc, "paste `python -m launcher.doctables` into docs/agent-channels.md"


def test_documented_backends_table_is_the_data_s_own():
    from launcher.doctables import backends_markdown

    doc = page()
    assert backends_markdown() in doc, "paste `python -m launcher.doctables` into docs/agent-channels.md"
