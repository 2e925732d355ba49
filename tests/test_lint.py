"""The code base stays ruff-clean; CI runs this with everything else."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _ruff() -> str:
    found = Path(sys.executable).with_name("ruff")
    if found.exists():
        return str(found)
    path = shutil.which("ruff")
    if path is None:
        pytest.fail("ruff is not installed: pip install -e '.[test]'")
    return path


def test_ruff_check_is_clean():
    targets = [p for p in ("launcher", "tests", "benchmarks") if (REPO / p).exists()]
    proc = subprocess.run([_ruff(), "check", *targets], cwd=REPO, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:]


def test_readme_decision_table_is_the_gate_s_own():
    from launcher.decisions import markdown

    assert markdown() in (REPO / "README.md").read_text(encoding="utf-8"), (
        "README's decision table is stale: paste `python -m launcher.decisions` into it"
    )
