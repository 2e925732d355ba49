"""Fixtures every folder of tests/ shares: a real platform stand-in on
loopback seeded with the leak, fresh directories for the launcher's files,
and background launchers stopped for good after each test. (The helpers
themselves are in support.py.)"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from support import (
    GITHUB_TOKEN,
    OWN_API_KEY,
    PLATFORM_OAUTH,
    WORKSPACE_ID,
    WORKSPACE_TOKEN,
    Background,
    Box,
    require_root_and_setpriv,
    stop_for_good,
)
from support import pytest_assertrepr_compare as pytest_assertrepr_compare  # failed asserts print no fake secret

from launcher.devserver import DevPlatform, PlatformState


@pytest.fixture
def platform() -> Iterator[DevPlatform]:
    """The pre-fix server: the platform's global OAuth token merged into a
    byok workspace that has no LLM key of its own. Tests add to
    ``platform.state`` what their case needs."""
    state = PlatformState(
        WORKSPACE_ID,
        token=WORKSPACE_TOKEN,
        workspace_secrets={},
        global_secrets={"CLAUDE_CODE_OAUTH_TOKEN": PLATFORM_OAUTH, "GITHUB_TOKEN": GITHUB_TOKEN},
    )
    with DevPlatform(state) as server:
        yield server


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    """Where the agent stand-in ``touch``es: it exists only if the agent started."""
    return tmp_path / "launched"


@pytest.fixture
def env_files(tmp_path: Path) -> tuple[str, str]:
    """Local mode's two sources as files: the workspace's own (its API key,
    and a value that needs its quotes) and a global one with the platform's
    OAuth token (``support.files_args`` passes both)."""
    own = tmp_path / "workspace.env"
    own.write_text(f"# the workspace's own\nANTHROPIC_API_KEY={OWN_API_KEY}\nexport REGION='eu west'\n")
    platform = tmp_path / "global.env"
    platform.write_text(f"CLAUDE_CODE_OAUTH_TOKEN={PLATFORM_OAUTH}\nSHARED=1\n")
    return str(own), str(platform)


@pytest.fixture
def box(tmp_path: Path) -> Box:
    """A fresh HOME and working directory, and the launcher run in them."""
    return Box(tmp_path)


@pytest.fixture
def as_root() -> None:
    """The test switches uids (setpriv, --user)."""
    require_root_and_setpriv()


@pytest.fixture
def shared() -> Iterator[Path]:
    """A directory every uid can read and write (pytest's tmp_path is
    root-only): for the files a process of another uid must reach."""
    path = Path(tempfile.mkdtemp(prefix="launcher-shared-"))
    path.chmod(0o777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def background(tmp_path: Path) -> Iterator[Callable[[Sequence[str], Mapping[str, str]], Background]]:
    """``background(argv, env)`` starts ``argv`` in the background, its
    output in files under tmp_path; whatever is still running at the end,
    and everything it started, is stopped."""
    started: list[Background] = []

    def start(argv: Sequence[str], env: Mapping[str, str]) -> Background:
        run = Background(tmp_path, argv, env, label=f"background-{len(started)}")
        started.append(run)
        return run

    yield start
    for run in started:
        stop_for_good(run.proc)
