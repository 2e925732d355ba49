"""The package type-checks: ``mypy --strict`` on ``launcher/``, zero errors.

Everything is annotated; this keeps it true. The settings (``strict``,
``files``) live in pyproject's ``[tool.mypy]``, so a developer's plain
``mypy`` run and this test agree. Every ``type: ignore`` must name its
code (and, by house rule, say why in a comment beside it).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_mypy_strict_is_clean() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "launcher"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]


def test_every_type_ignore_names_its_code() -> None:
    bare = [
        f"{path.relative_to(REPO)}:{number}"
        for path in sorted((REPO / "launcher").rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"type:\s*ignore(?!\[[a-z-]+(, *[a-z-]+)*\])", line)
    ]
    assert not bare, f"type: ignore without an error code: {bare}"
