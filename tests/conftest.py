"""Fixtures: a real platform stand-in on loopback, seeded with the leak."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import GITHUB_TOKEN, PLATFORM_OAUTH, WORKSPACE_ID, WORKSPACE_TOKEN
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
