"""Fixtures for supervise's tests: the command running in the background
(``support.Background``), and the same against the dev platform with a
child that reports each start."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest
from support import OWN_API_KEY, Background, base_env, launcher_path, platform_args, python_script, token_env

from launcher.devserver import DevPlatform

# Appends "pid fingerprint-of-ANTHROPIC_API_KEY" to argv[1] at each start;
# exits 0 on SIGTERM, or ignores it when given a second argument.
KEY_REPORTER = """
import hashlib, os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN if len(sys.argv) > 2 else lambda *_: sys.exit(0))
value = os.environ.get("ANTHROPIC_API_KEY", "")
with open(sys.argv[1], "a") as f:
    f.write(f"{os.getpid()} {hashlib.sha256(value.encode()).hexdigest()[:8]}\\n")
while True:
    time.sleep(1)
"""


@pytest.fixture
def supervise(background: Callable[[Sequence[str], Mapping[str, str]], Background]) -> Callable[..., Background]:
    """``supervise(*args, env=None, prefix=())``: ``agent-launcher supervise
    ARGS`` in the background (under ``prefix``, such as ``unshare``), in a
    small environment unless ``env`` is given."""

    def start(*args: str, env: Mapping[str, str] | None = None, prefix: Sequence[str] = ()) -> Background:
        return background([*prefix, launcher_path(), "supervise", *args], base_env() if env is None else env)

    return start


@pytest.fixture
def supervise_reporter(
    supervise: Callable[..., Background], platform: DevPlatform, tmp_path: Path
) -> Callable[..., tuple[Background, Path]]:
    """``supervise_reporter(*flags, child_args=(), env=None)``: ``supervise``
    with ``flags`` against ``platform``, which holds the workspace's own
    key; the child a reporter that appends "pid fingerprint" to the returned
    file at each start."""

    def start(
        *flags: str, child_args: tuple[str, ...] = (), env: Mapping[str, str] | None = None
    ) -> tuple[Background, Path]:
        with platform.state.lock:
            platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
        starts = tmp_path / "starts"
        reporter = python_script(tmp_path / "reporter.py", KEY_REPORTER)
        child = [*reporter, str(starts), *child_args]
        run = supervise(*platform_args(platform), *flags, "--", *child, env=token_env() if env is None else env)
        return run, starts

    return start
