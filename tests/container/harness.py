"""Helpers for the container tests: the base image, the build, running
containers. The fixtures that use them are in conftest.py."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from engine import Engine
from support import MARKER, WORKSPACE_TOKEN, Result, assert_no_secret, unavailable

from launcher.devserver import DevPlatform

REPO = Path(__file__).resolve().parents[2]
OFFICIAL_BASE = "node:22-bookworm-slim"
STANDIN_SCRIPT = REPO / "scripts" / "standin-base.sh"
IMAGE_TAG = "agent-launcher:test"
DEMO_TAG = "agent-launcher:test-demo"
BUILD_STAGE_TAG = "agent-launcher:test-launcher-build"
AGENT_UID = 10001  # the image's agent user
TOKEN_PATH = "/configs/.auth_token"
BUILD_TIMEOUT_S = 1200
PULL_TIMEOUT_S = 120
# Registry mirrors the Dockerfile accepts, when this machine's environment names them.
MIRROR_VARS = ("NPM_CONFIG_REGISTRY", "PIP_INDEX_URL")
PROXY_VARS = tuple(
    name
    for base in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "FTP_PROXY", "ALL_PROXY")
    for name in (base, base.lower())
)


@dataclass(frozen=True)
class NodeBase:
    tag: str
    standin: bool
    extra_ca_file: str  # inside the image; "" when none


@dataclass(frozen=True)
class Image:
    tag: str
    demo_tag: str
    base: NodeBase
    size_bytes: int


def _label(engine: Engine, tag: str, label: str) -> str:
    proc = engine.run("image", "inspect", "--format", f'{{{{ index .Config.Labels "{label}" }}}}', tag)
    value = proc.stdout.decode().strip()
    return "" if proc.returncode != 0 or value == "<no value>" else value


def find_node_base(engine: Engine) -> NodeBase:
    override = os.environ.get("AGENT_LAUNCHER_NODE_IMAGE")
    candidates = [override] if override else [OFFICIAL_BASE]
    for tag in candidates:
        if engine.run("image", "inspect", tag).returncode == 0:
            return NodeBase(tag, False, "")
        try:
            if engine.run("pull", tag, timeout=PULL_TIMEOUT_S).returncode == 0:
                return NodeBase(tag, False, "")
        except subprocess.TimeoutExpired:
            pass
    if override:
        pytest.fail(f"AGENT_LAUNCHER_NODE_IMAGE={override} is neither present nor pullable", pytrace=False)
    # No registry: the stand-in (built once, then cached; see the script).
    env = {**engine.env, "DOCKER": engine.docker}
    try:
        proc = subprocess.run(
            ["bash", str(STANDIN_SCRIPT)],
            env=env,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{STANDIN_SCRIPT.name} did not finish within {BUILD_TIMEOUT_S}s", pytrace=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        if os.geteuid() != 0:
            unavailable(f"{OFFICIAL_BASE} cannot be pulled and the stand-in base needs root")
        pytest.fail(f"{STANDIN_SCRIPT.name} exited {proc.returncode}:\n{proc.stderr[-3000:]}", pytrace=False)
    tag = lines[-1]
    return NodeBase(tag, True, _label(engine, tag, "org.agent-launcher.standin.extra-ca-file"))


def build_args(base: NodeBase) -> list[str]:
    """NODE_IMAGE, the CA bundle paths inside the base, the proxies and registry mirrors."""
    args = ["--build-arg", f"NODE_IMAGE={base.tag}"]
    if base.extra_ca_file:
        args += ["--build-arg", f"NODE_EXTRA_CA_CERTS={base.extra_ca_file}"]
        args += ["--build-arg", "PIP_CERT=/etc/ssl/certs/ca-certificates.crt"]
    for name in (*PROXY_VARS, *MIRROR_VARS):
        if os.environ.get(name):
            args += ["--build-arg", name]  # the value comes from the environment
    return args


def build_command(docker: str, base: NodeBase, tag: str, *extra: str) -> tuple[dict[str, str], list[str]]:
    """The build's environment and command line (docs/containers.md shows them)."""
    # The classic builder: it needs no BuildKit frontend image, and
    # --network host reaches the registries the way this machine does.
    cmd = [docker, "build", "--network", "host", *build_args(base), *extra, "--tag", tag, str(REPO)]
    return {"DOCKER_BUILDKIT": "0"}, cmd


def docker_build(engine: Engine, base: NodeBase, tag: str, *extra: str, log: Path) -> None:
    builder_env, cmd = build_command(engine.docker, base, tag, *extra)
    env = {**engine.env, **builder_env}
    with open(log, "ab") as out:
        try:
            proc = subprocess.run(
                cmd, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"docker build did not finish within {BUILD_TIMEOUT_S}s; log: {log}", pytrace=False)
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-4000:]
        pytest.fail(f"docker build {' '.join(extra)} failed ({proc.returncode}):\n{tail}", pytrace=False)


def build_image(engine: Engine, node_base: NodeBase, log: Path) -> Image:
    docker_build(engine, node_base, IMAGE_TAG, log=log)
    # Tagged so that the classic builder's cache of this stage is not a
    # dangling image (the session prunes those).
    docker_build(engine, node_base, BUILD_STAGE_TAG, "--target", "launcher-build", log=log)
    docker_build(engine, node_base, DEMO_TAG, "--target", "demo", log=log)
    size = int(engine.run("image", "inspect", "--format", "{{.Size}}", IMAGE_TAG).stdout.decode().strip())
    return Image(IMAGE_TAG, DEMO_TAG, node_base, size)


# -- running containers -------------------------------------------------------


def container_name() -> str:
    return f"agent-launcher-test-{uuid.uuid4().hex[:12]}"


def docker_run(
    engine: Engine,
    args: Sequence[str],
    *,
    timeout: float = 120,
    check_secrets: bool = True,
    network: str = "host",
) -> Result:
    """``docker run --rm --network NETWORK ARGS``; the container is removed even on a hang."""
    return run_container(engine, ["--rm", "--network", network, *args], timeout=timeout, check_secrets=check_secrets)


def run_container(engine: Engine, args: Sequence[str], *, timeout: float = 120, check_secrets: bool = True) -> Result:
    """``docker run ARGS`` under a name of this suite's (ARGS say ``--rm``), removed on a hang."""
    name = container_name()
    cmd = engine.cmd("run", "--name", name, *args)
    try:
        proc = subprocess.run(
            cmd, env=engine.env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False
        )
    except subprocess.TimeoutExpired:
        engine.run("rm", "--force", name)
        pytest.fail(f"docker run hung for more than {timeout:g}s", pytrace=False)
    result = Result(proc.returncode, proc.stdout, proc.stderr)
    if check_secrets:
        assert_no_secret(result.output)
    return result


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:g}s waiting for {what}", pytrace=False)


def parse_json_line(text: str) -> dict[str, Any]:
    """The last line of ``text`` as a JSON object, failing without quoting it when it holds a fake secret."""
    line = text.strip().splitlines()[-1] if text.strip() else ""
    try:
        document = json.loads(line)
        if isinstance(document, dict):
            return document
    except ValueError:
        pass
    shown = f"<{len(line)} chars holding {MARKER}>" if MARKER in line else repr(line[-500:])
    pytest.fail(f"not a JSON object line: {shown}", pytrace=False)


def assert_token_used(platform: DevPlatform) -> None:
    """The launcher read the mounted token file and sent it, to the platform only."""
    requests = platform.state.requests
    assert requests, "the launcher never asked the platform"
    assert all(r.authorization == f"Bearer {WORKSPACE_TOKEN}" for r in requests)
