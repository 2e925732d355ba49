"""examples/compose.yaml comes up with Debian's docker-compose on a real
engine: the platform stand-in becomes healthy on the private network, and the
agent service (read-only, no capabilities, token as a compose secret) gets
the workspace's own key and not the platform's. An override file only points
the services at the images under test and replaces `claude` (which would go
to its default host) by a stand-in agent that prints what it was given."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from engine import Engine
from harness import REPO, Image
from support import unavailable

pytestmark = pytest.mark.container

COMPOSE_FILE = REPO / "examples" / "compose.yaml"
COMPOSE_TIMEOUT_S = 180
# Names only: the example's values are fake, but an agent should not print values.
AGENT = "id -u; env | cut -d= -f1 | sort"


def example_values() -> list[str]:
    """The (fake) values in the example's dev-platform files and token."""
    values = [(COMPOSE_FILE.parent / "dev-platform" / "auth_token").read_text().strip()]
    for name in ("workspace.env", "global.env"):
        for line in (COMPOSE_FILE.parent / "dev-platform" / name).read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#") and "=" in line:
                values.append(line.split("=", 1)[1].strip())
    return values


def compose_cli(engine: Engine) -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    plugin = subprocess.run(
        engine.cmd("compose", "version"), env=engine.env, capture_output=True, timeout=30, check=False
    )
    if plugin.returncode == 0:
        return engine.cmd("compose")
    unavailable("no docker-compose (Debian: apt-get install docker-compose) and no compose plugin")


def test_compose_example_comes_up_and_the_agent_runs(engine: Engine, image: Image, tmp_path: Path) -> None:
    override = tmp_path / "compose.override.yaml"
    override.write_text(
        "services:\n"
        "  platform:\n"
        f"    image: {image.demo_tag}\n"
        "  agent:\n"
        f"    image: {image.tag}\n"
        "    tty: false\n"
        "    stdin_open: false\n"
        f"    command: [sh, -c, {AGENT!r}]\n"
    )
    project = f"agentlaunchertest{uuid.uuid4().hex[:8]}"
    compose = [
        *compose_cli(engine),
        "--project-name",
        project,
        "--project-directory",
        str(COMPOSE_FILE.parent),
        "-f",
        str(COMPOSE_FILE),
        "-f",
        str(override),
    ]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*compose, *args],
            env=engine.env,
            capture_output=True,
            text=True,
            timeout=COMPOSE_TIMEOUT_S,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    try:
        # `run` starts the platform first and waits for its health check.
        result = run("run", "--rm", "-T", "agent")
        assert result.returncode == 0, (result.returncode, result.stdout[-2000:], result.stderr[-3000:])
        lines = result.stdout.split()
        assert lines[0] == "10001"
        names = set(lines[1:])
        # The workspace's own key and settings, the platform's plain global.
        assert {"ANTHROPIC_API_KEY", "GITHUB_TOKEN", "EXAMPLE_SETTING", "EXAMPLE_GLOBAL_SETTING"} <= names
        # Not the platform's OAuth token (global, byok), nor the launcher's token.
        assert "CLAUDE_CODE_OAUTH_TOKEN" not in names
        assert not {"MOLECULE_WORKSPACE_TOKEN", "MOLECULE_WORKSPACE_TOKEN_FILE"} & names
        output = result.stdout + result.stderr
        leaked = sum(1 for v in example_values() if v in output)  # a count: the values must not be printed
        assert leaked == 0, f"{leaked} example secret value(s) reached the output"
    finally:
        down = run("down", "--volumes", "--remove-orphans", "--timeout", "5")
        assert down.returncode == 0, down.stderr[-2000:]
