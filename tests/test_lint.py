"""The code base stays ruff-clean, and the suite's own guard holds: a failed
assert prints no fake secret. CI runs this with everything else."""

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


def test_a_failed_assert_prints_no_fake_secret(tmp_path: Path) -> None:
    """pytest prints the operands of a failed comparison; the suite's hook
    (``support.pytest_assertrepr_compare``, registered by conftest.py)
    withholds any that holds the marker. Control: without it, the value shows."""
    (tmp_path / "test_leak.py").write_text(
        "VALUE = 'sk-ant-' + 'FAKE' + 'SECRET' + '-in-a-failure'  # never whole in this source\n"
        "def test_equal():\n    assert {'key': VALUE}['key'] == 'expected'\n"
        "def test_not_in():\n    assert 'FAKE' + 'SECRET' not in repr([VALUE])\n"
    )

    def run(*plugin: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plugin, "test_leak.py"]
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO / "tests")}
        return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False)

    guarded, bare = run("-p", "support"), run()
    assert (guarded.returncode, bare.returncode) == (1, 1), guarded.stdout[-2000:]
    assert guarded.stdout.count("withheld") >= 2 and guarded.stdout.count("-in-a-failure") == 0
    assert bare.stdout.count("-in-a-failure") > 0, "control: pytest no longer prints operands; the hook proves nothing"
