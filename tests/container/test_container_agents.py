"""The AGENT build argument: the image installs that agent's pinned CLI (and
no other) and runs it by default, through the launcher."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from doc_commands import claimed
from engine import Engine
from harness import IMAGE_TAG, REPO, Image, docker_build, docker_run

pytestmark = pytest.mark.container

# AGENT -> (CLI, the Dockerfile's version ARG)
AGENTS = {"codex": ("codex", "CODEX_VERSION"), "gemini-cli": ("gemini", "GEMINI_CLI_VERSION")}
# docs/containers.md's builds with an AGENT: their flags are what is built here
SHOWN = [
    line for _page, line in claimed("container/test_container_agents.py::test_agent_build_argument_installs_that_cli")
]
OTHER_CLIS = ("claude", "codex", "gemini")


def pinned(var: str) -> str:
    m = re.search(rf"^ARG {var}=(\S+)$", (REPO / "Dockerfile").read_text(), re.MULTILINE)
    assert m, var
    return m.group(1)


@pytest.mark.parametrize("line", SHOWN, ids=[re.sub(r".*AGENT=(\S+).*", r"\1", line) for line in SHOWN])
def test_agent_build_argument_installs_that_cli(engine: Engine, image: Image, line: str, tmp_path: Path) -> None:
    """The shown build, with the tag under test and this machine's build arguments."""
    words = line.split()
    assert words[:2] == ["docker", "build"] and words[-3] == "-t" and words[-1] == ".", words
    agent = re.sub(r"^AGENT=", "", words[words.index("--build-arg") + 1])
    cli, var = AGENTS[agent]
    tag = f"{IMAGE_TAG}-{agent}"
    # `image` first: the shared layers are then cached.
    docker_build(engine, image.base, tag, *words[2:-3], log=tmp_path / "build.log")
    config = json.loads(engine.run("image", "inspect", "--format", "{{json .Config}}", tag).stdout)
    assert config["Cmd"] == [cli]
    assert config["Entrypoint"] == ["agent-launcher", "exec", "--"]
    assert config["Labels"]["org.agent-launcher.agent"] == agent

    # The default command, through the launcher (local mode, no network).
    version = docker_run(
        engine, ["--entrypoint", "sh", tag, "-c", f"agent-launcher exec -- {cli} --version"], network="none"
    )
    assert version.returncode == 0, version
    assert pinned(var) in version.stdout, version

    others = " ".join(c for c in OTHER_CLIS if c != cli)
    found = docker_run(engine, ["--entrypoint", "sh", tag, "-c", f"command -v {others}; true"], network="none")
    assert found.stdout.strip() == "", f"other agent CLIs installed: {found.stdout.split()}"
