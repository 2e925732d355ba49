"""What the benchmark scripts share. They run as scripts (``python
benchmarks/run.py``), so this directory is on ``sys.path`` and they import
it as ``_common``; the benchmarks never import the tests."""

from __future__ import annotations

import os
import sys
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path

WORKSPACE_ID = "6b66de8d-9337-4fb4-be8d-6d49dca0d809"


def launcher() -> str:
    """The console script pip installed beside this interpreter."""
    path = Path(sysconfig.get_path("scripts")) / "agent-launcher"
    if not path.exists():
        sys.exit(f"agent-launcher is not installed at {path}: pip install -e .")
    return str(path)


def clean_env(**extra: str) -> dict[str, str]:
    """A small, predictable environment: no stray LLM keys from the host."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    env.update(extra)
    return env


def wait_for(condition: Callable[[], object], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise SystemExit(f"timed out after {timeout:g}s waiting for {what}")
