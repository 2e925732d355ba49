"""The docker commands README.md and docs/containers.md show, run as shown
(doc_commands.py says which test runs which line) against the image under
test, the platform stand-in and the loopback Anthropic stand-in.

What a line leaves to the reader is filled in: the platform's URL (the
stand-in on 127.0.0.1, reached with ``--network host``), ``$PWD/auth_token``
(a token file of the test's), ``-e …`` (the three variables the lines
above set), and the image's name (the tag under test). ``-it`` is
dropped: a test has no terminal to attach."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from anthropic_stub import DEFAULT_REPLY, AnthropicStub
from doc_commands import claimed, each_line, fill
from engine import Engine
from harness import (
    AGENT_UID,
    IMAGE_TAG,
    REPO,
    Image,
    NodeBase,
    assert_token_used,
    build_command,
    docker_build,
    run_container,
)
from support import OWN_API_KEY, PLATFORM_OAUTH, WORKSPACE_ID, WORKSPACE_TOKEN, Result

import launcher
from launcher.devserver import DevPlatform
from launcher.values import fingerprint

pytestmark = pytest.mark.container

SHOWN_IMAGE = "agent-launcher"  # the image's name in the docs' docker lines
# docker run's options that take a value, in the lines the docs show
VALUED = {"-e", "-v", "--user", "--entrypoint", "--network", "--tmpfs", "--security-opt", "--cap-drop"}


def as_tested(words: list[str], image: Image) -> list[str]:
    """A shown ``docker run``'s arguments, the image's name replaced by the tag under test."""
    assert words[:2] == ["docker", "run"], words
    args = [w for w in words[2:] if w != "-it"]
    i = 0
    while args[i].startswith("-"):
        i += 2 if args[i] in VALUED else 1
    assert args[i] == SHOWN_IMAGE, f"the image is `{args[i]}`, not {SHOWN_IMAGE}"
    return ["--network", "host", *args[:i], image.tag, *args[i + 1 :]]


def env_flags(platform: DevPlatform) -> str:
    return f"-e PLATFORM_URL={platform.url} -e WORKSPACE_ID={WORKSPACE_ID} -e MOLECULE_LLM_BILLING_MODE=byok"


def root_token(tmp_path: Path) -> Path:
    """The token as the root-start lines want it: root's, 0600."""
    path = tmp_path / "root_token"
    path.write_text(WORKSPACE_TOKEN + "\n")
    path.chmod(0o600)
    return path


def assert_claude_answered_with_the_own_key(result: Result, stub: AnthropicStub, platform: DevPlatform) -> None:
    """claude printed the reply and sent only the workspace's own key upstream;
    the launcher read the token file and gave it to the platform only."""
    assert result.returncode == 0, result
    assert result.stdout.strip() == DEFAULT_REPLY, result
    assert stub.message_requests(), stub.paths()
    assert stub.egress() == [], [f"{r.method} {r.path}" for r in stub.egress()]
    assert all(r.credentials() == [("x-api-key", OWN_API_KEY)] for r in stub.requests), "not only the own key"
    for secret in (PLATFORM_OAUTH, WORKSPACE_TOKEN):
        assert not stub.saw_secret(secret), f"upstream saw the secret with fingerprint {fingerprint(secret)}"
    assert_token_used(platform)


# -- docker build ----------------------------------------------------------------------


@each_line("container/test_container_docs.py::test_build_lines_build_the_image_under_test")
def test_build_lines_build_the_image_under_test(
    engine: Engine, image: Image, tmp_path: Path, page: str, line: str
) -> None:
    """Each shown build, with the tag under test and the build arguments this
    machine needs (the base, its CAs), is the image the suite tests: every
    step comes from the cache and the image is the same."""
    words = line.split()
    tag = image.demo_tag if "--target" in words else image.tag
    before = engine.run("image", "inspect", "--format", "{{.Id}}", tag).stdout
    assert words[:2] == ["docker", "build"] and words[-1] == "." and words[-3] == "-t", words
    docker_build(engine, image.base, tag, *words[2:-3], log=tmp_path / "build.log")
    assert engine.run("image", "inspect", "--format", "{{.Id}}", tag).stdout == before, "another image"


def as_typed(builder_env: dict[str, str], cmd: list[str]) -> list[str]:
    """The harness's build as the docs show it: the environment first, the
    short flag, the current directory; the proxies and mirrors this machine
    sets (passed by name, the prose after the line says so) left out."""
    words = [*(f"{k}={v}" for k, v in builder_env.items()), "docker", *cmd[1:]]
    out: list[str] = []
    for word in words:
        if out and out[-1] == "--build-arg" and "=" not in word:
            out.pop()
            continue
        out.append({"--tag": "-t", str(REPO): "."}.get(word, word))
    return out


def test_the_suite_builds_as_its_docs_say() -> None:
    """docs/containers.md's line for the suite's own build is what
    harness.docker_build runs (the ``image`` fixture runs it), for a base
    with extra CAs and one without; no engine needed to compare."""
    ((_page, line),) = claimed("container/test_container_docs.py::test_the_suite_builds_as_its_docs_say")
    for base in (NodeBase("node:22-bookworm-slim", False, ""), NodeBase("standin:x", True, "/usr/local/ca.pem")):
        values = {"<base>": base.tag, "<the extra CA file in the base>": base.extra_ca_file or "-"}
        shown = fill(line, values, optional=bool(base.extra_ca_file))
        assert as_typed(*build_command("docker", base, IMAGE_TAG)) == shown


# -- docker run ------------------------------------------------------------------------


@each_line("container/test_container_docs.py::test_run_lines_launch_claude_with_the_own_key_only")
def test_run_lines_launch_claude_with_the_own_key_only(
    engine: Engine,
    image: Image,
    platform: DevPlatform,
    stub: AnthropicStub,
    token_file: Path,
    page: str,
    line: str,
) -> None:
    """The image's own entrypoint (exec), the token a file mount: the real
    claude answers, having sent upstream the workspace's own key only."""
    platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    words = fill(line, {"https://platform.example.com": platform.url, "$PWD/auth_token": str(token_file)})
    result = run_container(engine, as_tested(words, image), timeout=180)
    assert_claude_answered_with_the_own_key(result, stub, platform)


@each_line("container/test_container_docs.py::test_root_lines_run_claude_as_the_agent_user")
def test_root_lines_run_claude_as_the_agent_user(
    engine: Engine,
    image: Image,
    platform: DevPlatform,
    stub: AnthropicStub,
    tmp_path: Path,
    page: str,
    line: str,
) -> None:
    """Started as root with a root-owned 0600 token: claude answers with the
    own key only, and what it writes to its HOME (a mount here, to see) is
    owned by the agent's uid. (test_container_image.py probes what that
    agent can reach of the token and of its parent.)"""
    platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    token = root_token(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, AGENT_UID, AGENT_UID)
    values = {
        "PLATFORM_URL=…": f"PLATFORM_URL={platform.url}",
        "WORKSPACE_ID=…": f"WORKSPACE_ID={WORKSPACE_ID}",
        "$PWD/auth_token": str(token),
    }
    args = as_tested(fill(line, values), image)
    result = run_container(engine, ["-v", f"{home}:/home/agent", *args], timeout=180)
    assert_claude_answered_with_the_own_key(result, stub, platform)
    owners = {path.stat().st_uid for path in home.rglob("*")}
    assert owners == {AGENT_UID}, f"claude's files in HOME are owned by {owners}"


def test_entrypoint_version_line(engine: Engine, image: Image) -> None:
    ((_page, line),) = claimed("container/test_container_docs.py::test_entrypoint_version_line")
    result = run_container(engine, as_tested(fill(line, {}), image))
    assert (result.returncode, result.stdout) == (0, f"agent-launcher {launcher.__version__}\n"), result


def test_entrypoint_check_line_explains_the_decision(
    engine: Engine, image: Image, platform: DevPlatform, token_file: Path
) -> None:
    """check --json through --entrypoint: the decision for the platform's
    bundle, the platform's OAuth token stripped, the own key kept."""
    ((_page, line),) = claimed("container/test_container_docs.py::test_entrypoint_check_line_explains_the_decision")
    platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    words = fill(line, {"-e …": env_flags(platform), "…:/configs": f"{token_file}:/configs"})
    result = run_container(engine, as_tested(words, image))
    assert result.returncode == 0, result
    decision = json.loads(result.stdout)
    assert (decision["decision"], decision["exit_code"], decision["workspace_id"]) == ("launch", 0, WORKSPACE_ID)
    actions = {k["key"]: (k["scope"], k["action"]) for k in decision["keys"]}
    assert actions["CLAUDE_CODE_OAUTH_TOKEN"] == ("global", "strip")
    assert actions["ANTHROPIC_API_KEY"] == ("workspace", "keep")
    assert_token_used(platform)


def test_entrypoint_supervise_line_runs_claude(
    engine: Engine, image: Image, platform: DevPlatform, stub: AnthropicStub, token_file: Path
) -> None:
    """supervise through --entrypoint: the same gate, claude answers with the
    own key only. (That supervise is then PID 1, reaps and forwards signals:
    test_container_image.py.)"""
    ((_page, line),) = claimed("container/test_container_docs.py::test_entrypoint_supervise_line_runs_claude")
    platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    words = fill(line, {"-e …": env_flags(platform), "…:/configs": f"{token_file}:/configs"})
    result = run_container(engine, as_tested(words, image), timeout=180)
    assert_claude_answered_with_the_own_key(result, stub, platform)
