"""Fixtures for end-to-end tests against the REAL agent CLIs.

- ``claude_bin``      session: path of the pinned claude executable (e2e/install.sh)
- ``codex_bin``       session: path of the pinned codex native binary (e2e/install.sh codex)
- ``gemini_bin``      session: path of the pinned gemini-cli script (e2e/install.sh gemini)
- ``anthropic_stub``  a fresh loopback Anthropic API stand-in per test
- ``openai_stub``     a fresh loopback OpenAI Responses API stand-in per test
- ``gemini_stub``     a fresh loopback Gemini API stand-in per test
- ``claude_env``      the helper ``claude_env(tmp_path, base_url, **extra)``
- ``run_claude``      run claude with a timeout; a hang fails the test

When npm or the binary cannot be had the tests are skipped, except under
``CI=true`` where that is a hard failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
INSTALL_SH = REPO / "e2e" / "install.sh"

# Make the helpers beside this file importable (``from anthropic_stub import ...``)
# whatever pytest's import mode is; tests/ has no __init__.py.
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from agent_clis import claude_command, sandbox_env  # noqa: E402
from anthropic_stub import AnthropicStub  # noqa: E402
from gemini_stub import GeminiStub  # noqa: E402
from openai_stub import OpenAIStub  # noqa: E402
from support import run_or_fail, unavailable  # noqa: E402

INSTALL_TIMEOUT_S = 900
CLAUDE_TIMEOUT_S = 60


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "e2e: end-to-end test running the real claude-code CLI against a loopback API stub",
    )


def _unavailable(reason: str) -> NoReturn:
    unavailable(f"e2e prerequisites missing: {reason}")


def install_cli(cli: str, override_var: str) -> str:
    """Absolute path of the pinned, project-local ``cli`` (``claude``, ``codex``
    or ``gemini``), from ``e2e/install.sh CLI`` unless ``override_var`` names one."""
    override = os.environ.get(override_var)
    if override:
        if not os.access(override, os.X_OK):
            _unavailable(f"{override_var}={override!r} is not executable")
        return override
    if shutil.which("bash") is None:
        _unavailable("bash not found")
    if shutil.which("npm") is None:
        _unavailable("npm not found on PATH; install Node.js/npm, then run e2e/install.sh")
    try:
        proc = subprocess.run(
            ["bash", str(INSTALL_SH), cli],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        _unavailable(f"{INSTALL_SH} did not finish within {INSTALL_TIMEOUT_S}s")
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        _unavailable(f"{INSTALL_SH} {cli} exited {proc.returncode}\n--- stderr ---\n{proc.stderr[-4000:]}")
    path = lines[-1].strip()
    if not os.access(path, os.X_OK):
        _unavailable(f"{INSTALL_SH} printed {path!r}, which is not executable")
    return path


@pytest.fixture(scope="session")
def claude_bin() -> str:
    """Absolute path of the pinned, project-local claude executable."""
    return install_cli("claude", "AGENT_LAUNCHER_CLAUDE_BIN")


@pytest.fixture(scope="session")
def codex_bin() -> str:
    """Absolute path of the pinned codex native binary."""
    return install_cli("codex", "AGENT_LAUNCHER_CODEX_BIN")


@pytest.fixture(scope="session")
def gemini_bin() -> str:
    """Absolute path of the pinned gemini-cli (a node script: needs node >= 20)."""
    path = install_cli("gemini", "AGENT_LAUNCHER_GEMINI_BIN")
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    major = node.lstrip("v").split(".", 1)[0]
    if not major.isdigit() or int(major) < 20:
        _unavailable(f"gemini-cli needs node >= 20, found {node or 'none'}")
    return path


@pytest.fixture
def anthropic_stub():
    with AnthropicStub() as stub:
        yield stub


@pytest.fixture
def openai_stub():
    with OpenAIStub() as stub:
        yield stub


@pytest.fixture
def gemini_stub():
    with GeminiStub() as stub:
        yield stub


def claude_env(tmp_path: Path, base_url: str, **extra: str) -> dict[str, str]:
    """A complete, hermetic environment for running claude offline.

    Built from scratch (nothing inherited from the test process, so no stray
    credentials). ``extra`` adds/overrides variables, e.g. a credential.

    What matters, as observed with claude-code 2.1.332:
    - HOME: claude writes ~/.claude.json and ~/.claude/ (sessions, backups);
      a temp HOME keeps runs isolated and never reads a developer's login.
    - ANTHROPIC_BASE_URL: all API traffic (POST /v1/messages?beta=true) goes here.
    - CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1: the one switch that stops all
      other traffic (without it: a HEAD /api/hello preconnect to the base URL and
      ~6 attempts at api.anthropic.com:443, i.e. event logging; DISABLE_TELEMETRY
      alone still leaves 2).
    - HTTP(S)_PROXY -> the stub, NO_PROXY=loopback: an egress trap. Any attempt
      to reach a non-loopback host becomes a CONNECT to the stub, which records
      it (``stub.egress()``) and refuses it at once: no DNS, no hang.
    The DISABLE_* flags are implied by the switch above; kept as belt and braces.
    """
    env = sandbox_env(  # the stand-in is also the egress trap
        tmp_path,
        base_url,
        ANTHROPIC_BASE_URL=base_url,
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DISABLE_AUTOUPDATER="1",
        DISABLE_TELEMETRY="1",
        DISABLE_ERROR_REPORTING="1",
        DISABLE_BUG_COMMAND="1",
    )
    env.update(extra)
    return env


@pytest.fixture(name="claude_env")
def claude_env_fixture():
    """The ``claude_env(tmp_path, base_url, **extra)`` helper, as a fixture."""
    return claude_env


def run_claude(
    claude_bin: str,
    env: dict[str, str],
    cwd: Path,
    prompt: str = "hi",
    *extra_args: str,
    timeout: float = CLAUDE_TIMEOUT_S,
) -> subprocess.CompletedProcess[str]:
    """Run ``claude -p PROMPT --output-format json``; fail the test if it hangs."""
    cwd.mkdir(parents=True, exist_ok=True)
    return run_or_fail(claude_command(claude_bin, prompt, *extra_args), env=env, cwd=cwd, timeout=timeout)


@pytest.fixture(name="run_claude")
def run_claude_fixture():
    """The ``run_claude(claude_bin, env, cwd, prompt='hi', *args)`` helper."""
    return run_claude
