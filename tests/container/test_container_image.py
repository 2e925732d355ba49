"""The agent image, built from this repository's Dockerfile and run by a real
Docker engine, against the platform stand-in (``launcher.devserver``) and the
loopback Anthropic stand-in (``tests/e2e/anthropic_stub.py``), both on
127.0.0.1 of this machine: the containers use ``--network host``.

The real ``claude`` in the image runs where what it sends upstream is the
point; elsewhere a small stand-in agent (the image's python3, or ``env``)
reports what it was given. Everything the claude sandbox needs (base URL,
the egress trap, the switch that stops non-essential traffic) comes as the
workspace's own secrets, which every billing mode keeps.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from anthropic_stub import DEFAULT_REPLY, AnthropicStub
from doc_commands import claimed, fill
from engine import Engine
from harness import (
    AGENT_UID,
    REPO,
    TOKEN_PATH,
    Image,
    assert_token_used,
    docker_run,
    parse_json_line,
    run_container,
    wait_for,
)
from support import (
    GITHUB_TOKEN,
    OWN_API_KEY,
    PLATFORM_OAUTH,
    WORKSPACE_ID,
    WORKSPACE_TOKEN,
    assert_no_secret,
    expect_absent,
)

from launcher.catalogue import load_catalogue
from launcher.devserver import DevPlatform
from launcher.values import fingerprint

pytestmark = pytest.mark.container

# The stand-in agent: who it runs as and its environment exactly as exec'd
# (/proc/self/environ, before the interpreter could add anything).
REPORT = (
    "import json, os\n"
    "raw = open('/proc/self/environ', 'rb').read().split(b'\\0')\n"
    "env = dict(e.decode().split('=', 1) for e in raw if e)\n"
    "print(json.dumps({'uid': os.getuid(), 'gid': os.getgid(), 'groups': os.getgroups(), 'env': env}))\n"
)


def launcher_args(platform: DevPlatform, token_file: Path, mode: str = "byok") -> list[str]:
    return [
        "-v",
        f"{token_file}:{TOKEN_PATH}:ro",
        "-e",
        f"PLATFORM_URL={platform.url}",
        "-e",
        f"WORKSPACE_ID={WORKSPACE_ID}",
        "-e",
        f"MOLECULE_LLM_BILLING_MODE={mode}",
        "-e",
        "TERM=dumb",
    ]


def claude_cmd() -> list[str]:
    return ["claude", "-p", "say hi", "--output-format", "json"]


def env_of(report: dict[str, Any]) -> dict[str, str]:
    return dict(report["env"])


# -- the image ----------------------------------------------------------------


def test_image_is_lean_and_reports_its_base(engine: Engine, image: Image) -> None:
    """No build tooling or build caches in the final image; the dev server is
    not on PATH there (the demo target has it); LANG is set."""
    probe = (
        "set -u; "
        "for p in /opt/launcher/bin/pip /opt/launcher/bin/pip3 /tmp/node-compile-cache /root/.npm/_logs /root/.npm; do "
        '  [ -e "$p" ] && echo "present: $p"; done; '
        "ls /opt/launcher/lib/python3.11/site-packages | grep -iE '^(pip|setuptools|_distutils_hack|wheel)' "
        "  | sed 's/^/present: /'; "
        "dpkg-query -W -f '${Package}\\n' | grep -E '^python3(\\.11)?-venv$|-whl$' | sed 's/^/package: /'; "
        "python3 -c 'import ensurepip' 2>/dev/null && echo 'present: ensurepip'; "
        "command -v agent-launcher-devserver && echo 'on PATH: agent-launcher-devserver'; "
        "echo LANG=$LANG; echo done"
    )
    result = docker_run(engine, ["--user", "0", "--entrypoint", "sh", image.tag, "-c", probe])
    assert result.returncode == 0, result
    lines = result.stdout.splitlines()
    assert lines[-2:] == ["LANG=C.UTF-8", "done"], lines
    assert lines[:-2] == [], lines

    demo = docker_run(engine, ["--entrypoint", "sh", image.demo_tag, "-c", "command -v agent-launcher-devserver"])
    assert demo.returncode == 0 and demo.stdout.strip() == "/usr/local/bin/agent-launcher-devserver", demo

    if image.base.standin:
        labels = engine.run("image", "inspect", "--format", "{{json .Config.Labels}}", image.tag)
        assert "STAND-IN" in json.loads(labels.stdout)["org.agent-launcher.standin"]


def pins(path: Path) -> dict[str, str]:
    """name -> version of each ``name==version`` line of a pip-compile output."""
    found = re.finditer(r"^([A-Za-z0-9_.-]+)==(\S+)", path.read_text(), re.MULTILINE)
    return {m.group(1).lower().replace("_", "-"): m.group(2) for m in found}


def test_image_has_the_locked_python_dependencies(engine: Engine, image: Image) -> None:
    """What is installed in /opt/launcher is exactly docker/requirements.lock
    plus the launcher, whose wheel was built by the pinned build backend."""
    probe = (
        "import glob, json, importlib.metadata as md\n"
        "dists = {d.metadata['Name'].lower().replace('_', '-'): d.version for d in md.distributions()}\n"
        "pattern = '/opt/launcher/lib/python3*/site-packages/agent_launcher-*.dist-info/WHEEL'\n"
        "wheel = open(glob.glob(pattern)[0]).read()\n"
        "print(json.dumps({'dists': dists, 'wheel': wheel}))\n"
    )
    result = docker_run(engine, ["--entrypoint", "/opt/launcher/bin/python", image.tag, "-c", probe])
    assert result.returncode == 0, result
    report = parse_json_line(result.stdout)
    installed = dict(report["dists"])
    assert installed.pop("agent-launcher")
    assert installed == pins(REPO / "docker" / "requirements.lock")
    backend = pins(REPO / "docker" / "build-constraints.txt")["setuptools"]
    assert f"Generator: setuptools ({backend})" in report["wheel"]


def test_launcher_commands_by_entrypoint(engine: Engine, image: Image) -> None:
    """The documented way to the launcher's own commands; the image's
    entrypoint itself takes its arguments as the agent command."""
    version = docker_run(engine, ["--entrypoint", "agent-launcher", image.tag, "--version"])
    assert version.returncode == 0 and version.stdout.startswith("agent-launcher "), version

    check = docker_run(
        engine, ["--entrypoint", "agent-launcher", image.tag, "check", "--json", "--billing-mode", "byok"]
    )
    assert check.returncode == 78, check
    assert json.loads(check.stdout)["code"] == "MISSING_BYOK_CREDENTIAL"

    as_agent = docker_run(engine, [image.tag, "--version"])
    assert as_agent.returncode == 127 and "COMMAND_NOT_FOUND" in as_agent.stderr, as_agent


# -- byok through the image ---------------------------------------------------


def test_byok_platform_token_only_is_refused_before_claude(
    engine: Engine, image: Image, platform: DevPlatform, stub: AnthropicStub, token_file: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, AGENT_UID, AGENT_UID)
    result = docker_run(
        engine, [*launcher_args(platform, token_file), "-v", f"{home}:/home/agent", image.tag, *claude_cmd()]
    )
    assert result.returncode == 78, result
    assert "MISSING_BYOK_CREDENTIAL" in result.stderr
    assert result.stdout == ""
    assert stub.requests == [], "something went upstream"
    assert list(home.iterdir()) == [], "claude started (it writes its state to HOME)"
    assert_token_used(platform)


@pytest.mark.parametrize("hardened", [False, True], ids=["default", "read-only-cap-drop-no-new-privileges"])
def test_byok_own_key_real_claude_sends_only_that_key(
    engine: Engine,
    image: Image,
    platform: DevPlatform,
    stub: AnthropicStub,
    token_file: Path,
    hardened: bool,
) -> None:
    """docs/containers.md's run line for these tests, its optional group
    (the hardening) left out and kept."""
    ((_page, line),) = claimed("container/test_container_image.py::test_byok_own_key_real_claude_sends_only_that_key")
    platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    port = platform.url.rsplit(":", 1)[1]
    words = fill(line, {"$TOKEN_FILE": str(token_file), "<port>": port, "<uuid>": WORKSPACE_ID}, optional=hardened)
    assert words[:2] == ["docker", "run"] and image.tag in words, "the docs name another image than the suite's"
    result = run_container(engine, words[2:])
    assert result.returncode == 0, result
    out = parse_json_line(result.stdout)
    assert (out["type"], out["is_error"], out["result"]) == ("result", False, DEFAULT_REPLY)

    assert stub.egress() == [], [f"{r.method} {r.path}" for r in stub.egress()]
    messages = stub.message_requests()
    assert messages, stub.paths()
    assert [[h for h, _ in r.credentials()] for r in stub.requests] == [["x-api-key"]] * len(stub.requests)
    assert all(r.credentials() == [("x-api-key", OWN_API_KEY)] for r in stub.requests), "not the own key"
    for secret in (PLATFORM_OAUTH, WORKSPACE_TOKEN, GITHUB_TOKEN):
        assert not stub.saw_secret(secret), f"upstream saw the secret with fingerprint {fingerprint(secret)}"
    assert_token_used(platform)


# -- what the agent is given ----------------------------------------------------


def test_agent_uid_token_file_and_environment_equal_the_decision(
    engine: Engine, image: Image, platform: DevPlatform, token_file: Path
) -> None:
    """The agent runs as uid 10001; the token came from the mounted file and is
    in no variable of the agent; its environment is exactly the container's
    minus what the launcher stripped plus what it kept from the bundle, as
    ``check --json`` reports it (no LC_CTYPE or anything else added)."""
    platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    common = [
        *launcher_args(platform, token_file),
        "--hostname",
        "agent-launcher-test",
        # Inherited by the container: a platform credential (stripped) and a plain setting (kept).
        "-e",
        f"CLAUDE_CODE_OAUTH_TOKEN={PLATFORM_OAUTH}",
        "-e",
        "EXAMPLE_INHERITED=kept",
    ]
    container = docker_run(engine, [*common, "--entrypoint", "/usr/bin/env", image.tag, "-0"], check_secrets=False)
    assert container.returncode == 0, container
    container_env = dict(e.split("=", 1) for e in container.stdout.split("\0") if e)

    check = docker_run(engine, [*common, "--entrypoint", "agent-launcher", image.tag, "check", "--json"])
    assert check.returncode == 0, check
    decision = json.loads(check.stdout)
    stripped = {k["key"] for k in decision["keys"] if k["action"] == "strip"}
    kept = {k["key"]: k["fingerprint"] for k in decision["keys"] if k["action"] == "keep"}
    assert stripped == {"CLAUDE_CODE_OAUTH_TOKEN"}

    result = docker_run(engine, [*common, image.tag, "python3", "-c", REPORT], check_secrets=False)
    assert result.returncode == 0, result
    assert_no_secret(result.stderr)
    report = parse_json_line(result.stdout)
    assert (report["uid"], report["gid"], report["groups"]) == (AGENT_UID, AGENT_UID, [AGENT_UID])

    agent_env = env_of(report)
    bundle = platform.state.values()
    expected = {k: v for k, v in container_env.items() if k not in stripped}
    expected.update({k: bundle[k] for k in kept if k in bundle})
    # and what the launcher sets itself (scope "launcher": the metadata fallbacks it closes)
    expected.update({c.name: c.value for c in load_catalogue().closers if c.name in kept})
    assert "LC_CTYPE" not in agent_env and "LC_ALL" not in agent_env
    # Names first (a failure shows names only), then values by fingerprint.
    assert sorted(agent_env) == sorted(expected)
    differ = [k for k in expected if agent_env[k] != expected[k]]
    assert differ == [], f"values differ for {differ}"
    assert {k: fingerprint(agent_env[k]) for k in kept} == kept
    assert decision["inherited_passthrough"] == len([k for k in container_env if k not in stripped and k not in bundle])

    # The token: used (read from the file), and under no name in the agent's environment.
    assert_token_used(platform)
    for name in ("MOLECULE_WORKSPACE_TOKEN", "MOLECULE_WORKSPACE_TOKEN_FILE"):
        assert name not in agent_env
    expect_absent("\n".join(agent_env.values()), WORKSPACE_TOKEN, "the agent's environment")
    expect_absent("\n".join(agent_env.values()), PLATFORM_OAUTH, "the agent's environment")


# -- privilege drop: started as root, the agent as --user ------------------------------------

# What an agent of uid 10001 can reach of what the launcher held: the token
# file, and (under supervise) its parent's environment and memory.
PROBE = (
    "import json, os\n"
    "def reads(path):\n"
    "    try:\n"
    "        open(path, 'rb').read(1)\n"
    "        return 'read'\n"
    "    except OSError as exc:\n"
    "        return type(exc).__name__\n"
    "print(json.dumps({'uid': os.getuid(), 'gid': os.getgid(), 'groups': os.getgroups(),\n"
    "    'token': reads('/configs/.auth_token'), 'parent_environ': reads(f'/proc/{os.getppid()}/environ'),\n"
    "    'parent_mem': reads(f'/proc/{os.getppid()}/mem'), 'ppid': os.getppid()}))\n"
)


@pytest.mark.parametrize("command", ["exec", "supervise"])
def test_root_launcher_with_user_keeps_the_token_out_of_the_agent_s_reach(
    engine: Engine, image: Image, platform: DevPlatform, tmp_path: Path, command: str
) -> None:
    """The documented root way to run: the launcher starts as root and reads a
    root-owned 0600 token file; the agent runs as --user 10001:10001 and can
    read neither that file nor (supervise) its parent's environment or memory."""
    platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    token = tmp_path / "auth_token"
    token.write_text(WORKSPACE_TOKEN + "\n")
    token.chmod(0o600)  # owned by root, who runs the tests
    args = [
        *launcher_args(platform, token),
        "-e",
        f"CLAUDE_CODE_OAUTH_TOKEN={PLATFORM_OAUTH}",
        "--user",
        "0",
        "--entrypoint",
        "agent-launcher",
        image.tag,
        command,
        "--user",
        f"{AGENT_UID}:{AGENT_UID}",
        "--",
        "python3",
        "-c",
        PROBE,
    ]
    result = docker_run(engine, args)
    assert result.returncode == 0, result
    report = parse_json_line(result.stdout)
    assert (report["uid"], report["gid"], report["groups"]) == (AGENT_UID, AGENT_UID, [AGENT_UID])
    assert report["token"] == "PermissionError", "the agent could read the root-only token file"
    assert_token_used(platform)
    if command == "supervise":
        assert report["ppid"] == 1, "supervise is the container's PID 1"
        assert (report["parent_environ"], report["parent_mem"]) == ("PermissionError", "PermissionError")


# -- docker stop on supervise ---------------------------------------------------


# An agent that exits 42 on SIGTERM, and one that ignores SIGTERM: supervise
# kills the latter after its own --stop-timeout (2 s), before docker's (10 s).
COOPERATIVE = "signal.signal(signal.SIGTERM, lambda *_: sys.exit(42))\n"
STUBBORN = "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"


@pytest.mark.parametrize(
    ("handler", "status", "within"),
    [(COOPERATIVE, 42, 8.0), (STUBBORN, 128 + 9, 8.0)],
    ids=["exits-on-sigterm", "ignores-sigterm"],
)
def test_docker_stop_ends_a_supervised_agent_with_its_status(
    engine: Engine, image: Image, platform: DevPlatform, token_file: Path, handler: str, status: int, within: float
) -> None:
    """``docker stop`` signals PID 1 (supervise), which forwards SIGTERM to the
    agent; the container ends within docker's stop timeout (10 s, after which
    docker would SIGKILL everything) with the agent's own status: 42, or
    128+9 when supervise itself had to kill an agent that ignored SIGTERM."""
    platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    agent = "import signal, sys, time\n" + handler + "print('agent ready', flush=True)\ntime.sleep(300)\n"
    name = f"agent-launcher-test-stop-{os.getpid()}-{time.monotonic_ns() % 10**9}"
    started = engine.run(
        "run",
        "--detach",
        "--name",
        name,
        "--network",
        "host",
        *launcher_args(platform, token_file),
        "--entrypoint",
        "agent-launcher",
        image.tag,
        "supervise",
        "--stop-timeout",
        "2",
        "--",
        "python3",
        "-c",
        agent,
    )
    try:
        assert started.returncode == 0, started.stderr.decode(errors="replace")[-2000:]

        def ready() -> bool:
            return b"agent ready" in engine.run("logs", name).stdout

        wait_for(ready, 60, "the supervised agent to start")
        stop_timeout = 10
        t0 = time.monotonic()
        stopped = engine.run("stop", "--time", str(stop_timeout), name, timeout=stop_timeout + 30)
        elapsed = time.monotonic() - t0
        assert stopped.returncode == 0, stopped.stderr.decode(errors="replace")
        state = json.loads(engine.run("inspect", "--format", "{{json .State}}", name).stdout)
        assert (state["Running"], state["ExitCode"]) == (False, status), state
        assert elapsed < within, f"docker stop took {elapsed:.1f}s (docker's SIGKILL at {stop_timeout}s)"
        logs = engine.run("logs", name)
        assert_no_secret((logs.stdout + logs.stderr).decode(errors="replace"))
    finally:
        engine.run("rm", "--force", name)


# -- why README stops recommending --init in front of exec ------------------------


def test_init_in_front_of_exec_keeps_the_container_environment_readable(
    engine: Engine, image: Image, platform: DevPlatform, token_file: Path
) -> None:
    """With ``--init``, PID 1 is the init, which keeps the container's original
    environment: a secret the launcher stripped is still readable by the agent
    (same uid) in /proc/1/environ. Secrets by file (the token) are not there."""
    platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    probe = (
        "import os\n"
        "pid1 = open('/proc/1/environ', 'rb').read().split(b'\\0')\n"
        "names = sorted(e.split(b'=', 1)[0].decode() for e in pid1 if e)\n"
        "print(' '.join(['own:', *sorted(os.environ), '| pid1:', *names]))\n"
    )
    result = docker_run(
        engine,
        [
            *launcher_args(platform, token_file),
            "--init",
            "-e",
            f"CLAUDE_CODE_OAUTH_TOKEN={PLATFORM_OAUTH}",
            image.tag,
            "python3",
            "-c",
            probe,
        ],
    )
    assert result.returncode == 0, result
    own, _, pid1 = result.stdout.strip().partition(" | pid1: ")
    assert "CLAUDE_CODE_OAUTH_TOKEN" not in own.split()
    assert "CLAUDE_CODE_OAUTH_TOKEN" in pid1.split(), "the init no longer exposes the container's environment"
    assert "MOLECULE_WORKSPACE_TOKEN" not in pid1.split()


def test_container_tests_leave_no_container_behind(engine: Engine, image: Image) -> None:
    """Every container these tests started is gone (``--rm`` or removed)."""
    ps = subprocess.run(
        engine.cmd("ps", "--all", "--filter", "name=agent-launcher-test", "--format", "{{.Names}}"),
        env=engine.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ps.returncode == 0 and ps.stdout.strip() == "", ps.stdout
