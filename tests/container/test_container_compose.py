"""examples/compose.yaml comes up with Debian's docker-compose on a real
engine: the platform stand-in becomes healthy on the private network, and the
agent service (read-only, no capabilities, token as a compose secret) gets
the workspace's own key and not the platform's. The test runs a copy of the
example that differs in three places only: the services use the images under
test, `claude` (which would go to its default host) is replaced by a stand-in
agent that prints what it was given, and the agent joins the platform's
network namespace (``network_mode: service:platform``, the platform at
127.0.0.1) instead of the example's bridge networks.

Why the last: traffic between two containers on a bridge crosses the host's
iptables FORWARD chain (br_netfilter). A default dockerd that ever ran on the
host leaves that chain's policy at DROP, and the private engine here runs with
``--iptables=false`` (it must not touch the host's firewall), so nothing would
let the example's traffic through and the agent would time out reaching its
platform. Loopback inside one namespace never crosses FORWARD: the test passes
whatever the host's firewall says, and changes none of it. ``.ci/run`` runs
the suite with the FORWARD policy at DROP to prove it."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from doc_commands import claimed, fill
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


def example_for_test(image: Image) -> dict[str, Any]:
    """The example with the three changes the module docstring names, and
    nothing else (compose 1.x cannot take a service's ``networks`` away in an
    override file, so the copy is written whole)."""
    doc: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    platform, agent = doc["services"]["platform"], doc["services"]["agent"]
    platform["image"], agent["image"] = image.demo_tag, image.tag
    agent.update(tty=False, stdin_open=False, command=["sh", "-c", AGENT])
    del agent["networks"]
    agent["network_mode"] = "service:platform"
    port = platform["entrypoint"][platform["entrypoint"].index("--port") + 1]
    assert agent["environment"]["PLATFORM_URL"] == f"http://platform:{port}", "the example moved its platform"
    agent["environment"]["PLATFORM_URL"] = f"http://127.0.0.1:{port}"
    return doc


def test_compose_example_comes_up_and_the_agent_runs(engine: Engine, image: Image, tmp_path: Path) -> None:
    """The line docs/containers.md shows, with the copy and a project of its own."""
    ((_page, line),) = claimed("container/test_container_compose.py::test_compose_example_comes_up_and_the_agent_runs")
    # Its relative paths (secrets, volumes) resolve against --project-directory, the example's folder.
    example = tmp_path / "compose.yaml"
    example.write_text(yaml.safe_dump(example_for_test(image), sort_keys=False))
    project = f"agentlaunchertest{uuid.uuid4().hex[:8]}"
    copy = next(p for p in re.findall(r"<[^>]*>", line) if p.startswith("<copy of"))
    directory = f"--project-directory {COMPOSE_FILE.parent}"
    shown = fill(line, {copy: str(example), "<project>": project, "--project-directory examples": directory})
    assert shown[0] == "docker-compose", shown
    cut = shown.index("run")
    compose, command = [*compose_cli(engine), *shown[1:cut]], shown[cut:]

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
        result = run(*command)
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
