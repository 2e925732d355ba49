"""Fixtures for the container tests: a real Docker engine, the agent image
built from this repository's Dockerfile, and the stand-ins it runs against.

- ``engine``      session: the reachable engine, or a private dockerd started
                  for the session and stopped at its end (engine.py)
- ``node_base``   session: node:22-bookworm-slim when it is present or can be
                  pulled, else the stand-in from scripts/standin-base.sh
- ``image``       session: the production image and the ``demo`` target,
                  built with the classic builder (harness.py)
- ``stub``        the loopback Anthropic stand-in (tests/e2e/anthropic_stub.py)
- ``platform``    the platform stand-in, the pre-fix server, set up for ``stub``
- ``token_file``  the workspace token as the image's agent user owns it

Without an engine the tests are skipped with the reason, except under
``CI=true`` where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
for extra in (HERE, HERE.parent / "e2e"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from anthropic_stub import AnthropicStub  # noqa: E402
from engine import Engine, EngineUnavailableError, get_engine  # noqa: E402
from harness import AGENT_UID, Image, NodeBase, build_image, find_node_base  # noqa: E402
from support import GITHUB_TOKEN, PLATFORM_OAUTH, WORKSPACE_ID, WORKSPACE_TOKEN, unavailable  # noqa: E402

from launcher.devserver import DevPlatform, PlatformState  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "container: builds and runs the agent image on a real Docker engine")


def forward_policy() -> str | None:
    """The host's iptables FORWARD policy (None without iptables): the suite
    must leave it as it found it (test_container_compose.py says why)."""
    iptables = shutil.which("iptables") or shutil.which("iptables", path="/usr/sbin:/sbin")
    if iptables is None:
        return None
    listed = subprocess.run([iptables, "-S", "FORWARD"], capture_output=True, text=True, timeout=30, check=False)
    return next((line.split()[2] for line in listed.stdout.splitlines() if line.startswith("-P ")), None)


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    policy = forward_policy()
    try:
        eng = get_engine()
    except EngineUnavailableError as exc:
        unavailable(f"container tests need a Docker engine: {exc}")
    try:
        yield eng
    finally:
        # Images stay (the next run reuses them); dangling layers of older builds go.
        if eng.started is not None:
            eng.run("image", "prune", "--force", timeout=120)
        eng.stop()
    after = forward_policy()
    assert after == policy, f"the container tests changed the host's iptables FORWARD policy ({policy} -> {after})"


@pytest.fixture(scope="session")
def node_base(engine: Engine) -> NodeBase:
    return find_node_base(engine)


@pytest.fixture(scope="session")
def image(engine: Engine, node_base: NodeBase, tmp_path_factory: pytest.TempPathFactory) -> Image:
    built = build_image(engine, node_base, tmp_path_factory.mktemp("build") / "docker-build.log")
    BUILT.append(built)
    return built


BUILT: list[Image] = []


@pytest.fixture
def stub() -> Iterator[AnthropicStub]:
    with AnthropicStub() as s:
        yield s


@pytest.fixture
def platform(stub: AnthropicStub) -> Iterator[DevPlatform]:
    """The pre-fix platform: its global OAuth token merged into a byok
    workspace; the workspace's own secrets carry the claude sandbox."""
    no_proxy = "127.0.0.1,localhost,::1"
    sandbox = {
        "ANTHROPIC_BASE_URL": stub.url,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        # The egress trap: anything aimed beyond loopback lands on the stub, refused.
        "HTTPS_PROXY": stub.url,
        "HTTP_PROXY": stub.url,
        "https_proxy": stub.url,
        "http_proxy": stub.url,
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
    }
    state = PlatformState(
        WORKSPACE_ID,
        token=WORKSPACE_TOKEN,
        workspace_secrets=sandbox,
        global_secrets={"CLAUDE_CODE_OAUTH_TOKEN": PLATFORM_OAUTH, "GITHUB_TOKEN": GITHUB_TOKEN},
    )
    with DevPlatform(state) as server:
        yield server


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    """The workspace token as the agent's uid would own it (0600)."""
    path = tmp_path / "auth_token"
    path.write_text(WORKSPACE_TOKEN + "\n")
    path.chmod(0o600)
    try:
        os.chown(path, AGENT_UID, AGENT_UID)
    except PermissionError:
        path.chmod(0o644)  # not root: readable by uid 10001 the only other way
    return path


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say which base the image was built on: a stand-in must never pass for the real one."""
    for built in BUILT:
        kind = "STAND-IN for node:22-bookworm-slim (scripts/standin-base.sh)" if built.base.standin else "pulled"
        terminalreporter.write_line(
            f"container tests: {built.tag} ({built.size_bytes / 1e6:.0f} MB) on {built.base.tag}, {kind}"
        )
