"""The issue's proof for ``supervise --platform-proxy``, end to end: the
child is a small runtime shaped like the platform's own (it registers,
heartbeats, pulls ``/secrets/values`` itself, puts what it pulled in its
environment, and starts claude through the real ``claude-agent-sdk`` from
PyPI, whose wheel bundles claude 2.1.332), against the unfixed dev
platform (the platform's OAuth token merged into every bundle) and the
loopback Anthropic stand-in. claude must send the workspace's own key,
never the platform's; the runtime must never hold the workspace token; the
token register issues is the launcher's."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from support import (
    MARKER,
    OWN_API_KEY,
    PLATFORM_OAUTH,
    WORKSPACE_TOKEN,
    assert_no_secret,
    launcher_path,
    platform_args,
    run_or_fail,
    unavailable,
)

from launcher.values import fingerprint

pytestmark = pytest.mark.e2e

ISSUED_TOKEN = f"issued-wstok-{MARKER}-e2e5"

RUNTIME = r"""
import asyncio, hashlib, http.client, json, os, sys, urllib.parse
out = sys.argv[1]
url = urllib.parse.urlsplit(os.environ["PLATFORM_URL"])
wid = os.environ["WORKSPACE_ID"]
token = os.environ.get("MOLECULE_WORKSPACE_TOKEN")
path = os.path.join(os.environ.get("CONFIGS_DIR", "/configs"), ".auth_token")
if os.path.exists(path):
    token = open(path).read().strip()  # the platform runtime's own place for it
fp = lambda v: hashlib.sha256(v.encode()).hexdigest()[:8]
records = {"token_is_proxy_credential": token.startswith("lpx-"), "platform_is_loopback": url.hostname == "127.0.0.1"}

def call(method, target, body=None):
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    conn.request(method, target, body=json.dumps(body).encode() if body is not None else None,
                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    response = conn.getresponse()
    document = json.loads(response.read() or b"null")
    conn.close()
    return response.status, document

status, answer = call("POST", "/registry/register", {"id": wid, "url": "http://127.0.0.1:8000"})
records["register"] = [status, sorted(answer or {})]
records["heartbeat"] = call("POST", "/registry/heartbeat", {"workspace_id": wid, "active_tasks": 0})[0]
status, values = call("GET", f"/workspaces/{wid}/secrets/values")
records["values"] = [status, {k: fp(v) for k, v in (values or {}).items()}]
os.environ.update(values)  # what the runtime gives the agent it starts

from claude_agent_sdk import ClaudeAgentOptions, ResultMessage, query

async def main():
    options = ClaudeAgentOptions(max_turns=1, cwd=os.environ["HOME"])
    if len(sys.argv) > 2:
        options.cli_path = sys.argv[2]
    results = []
    async for message in query(prompt="hi", options=options):
        if isinstance(message, ResultMessage):
            results.append({"is_error": message.is_error, "result": message.result})
    return results

records["claude"] = asyncio.run(main())
held = [v for v in os.environ.values() if v.startswith(("wstok-", "issued-"))]
records["env_holds_workspace_token"] = bool(held)
with open(out, "w") as f:
    json.dump(records, f)
"""


def _sdk_available() -> None:
    try:
        import claude_agent_sdk  # noqa: F401
    except ImportError:
        unavailable("claude-agent-sdk is not installed (pip install -e '.[test]')")


def test_a_runtime_starting_claude_through_the_sdk_behind_the_proxy(
    claude_env,
    anthropic_stub,
    platform,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    _sdk_available()
    configs = tmp_path / "configs"
    configs.mkdir()
    private = tmp_path / "launcher"
    private.mkdir(mode=0o700)
    token_file = private / "auth_token"
    token_file.write_text(WORKSPACE_TOKEN)
    token_file.chmod(0o600)
    with platform.state.lock:
        platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
        # In byok an inherited base URL is stripped like a key: the workspace's own routes claude to the stub.
        platform.state.workspace_secrets["ANTHROPIC_BASE_URL"] = anthropic_stub.url
        platform.state.issue_token = ISSUED_TOKEN
    script = tmp_path / "runtime.py"
    script.write_text(RUNTIME)
    out = tmp_path / "runtime.json"
    # The launcher inherits the sandbox (HOME, the egress trap, the stub as
    # ANTHROPIC_BASE_URL) and, as a container would, the platform's key.
    env = claude_env(tmp_path, anthropic_stub.url, CONFIGS_DIR=str(configs), CLAUDE_CODE_OAUTH_TOKEN=PLATFORM_OAUTH)
    proc = run_or_fail(
        [launcher_path(), "supervise", "--platform-proxy", *platform_args(platform), "--token-file", str(token_file),
         "-v", "--", sys.executable, str(script), str(out)],
        env=env,
        cwd=tmp_path,
        timeout=120,
    )  # fmt: skip
    assert_no_secret(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = json.loads(out.read_text())
    assert records["token_is_proxy_credential"] and records["platform_is_loopback"]
    assert records["register"] == [200, ["status"]], "register's auth_token reached the runtime"
    assert records["heartbeat"] == 200
    status, values = records["values"]
    assert status == 200 and values.get("ANTHROPIC_API_KEY") == fingerprint(OWN_API_KEY)
    assert "CLAUDE_CODE_OAUTH_TOKEN" not in values, "the runtime's re-pull held the platform's key"
    assert records["env_holds_workspace_token"] is False
    (result,) = records["claude"]
    assert result["is_error"] is False
    # What claude sent upstream: the workspace's own key, never the platform's.
    seen = anthropic_stub.credentials()
    assert seen and all(v == OWN_API_KEY for h, v in seen if h == "x-api-key"), [h for h, _ in seen]
    assert not anthropic_stub.saw_secret(PLATFORM_OAUTH)
    assert not anthropic_stub.saw_secret(WORKSPACE_TOKEN) and not anthropic_stub.saw_secret(ISSUED_TOKEN)
    assert anthropic_stub.egress() == []
    # register's token is the launcher's now.
    assert token_file.read_text() == ISSUED_TOKEN
    with platform.state.lock:
        seen_by_platform = [r.authorization for r in platform.state.requests]
    assert seen_by_platform[-1] == f"Bearer {ISSUED_TOKEN}"
    assert not any(a and a.startswith("Bearer lpx-") for a in seen_by_platform)


# Issue 18's row: a runtime that starts claude through the SDK, as agent
# runtimes do, under plain `agent-launcher exec` (no proxy). The command
# names no agent (it is python), so every profile's files are checked.
SDK_ONLY = r"""
import asyncio, json, os, sys
from claude_agent_sdk import ClaudeAgentOptions, ResultMessage, query

async def main():
    results = []
    async for message in query(prompt="hi", options=ClaudeAgentOptions(max_turns=1, cwd=os.environ["HOME"])):
        if isinstance(message, ResultMessage):
            results.append({"is_error": message.is_error})
    return results

with open(sys.argv[1], "w") as f:
    json.dump(asyncio.run(main()), f)
"""


@pytest.mark.parametrize("through_the_launcher", [False, True], ids=["control-runtime-alone", "launcher-exec"])
def test_a_runtime_starting_claude_through_the_sdk_under_exec(
    claude_env,
    anthropic_stub,
    platform,
    tmp_path: Path,
    through_the_launcher: bool,  # type: ignore[no-untyped-def]
) -> None:
    """Control: the runtime alone, with the platform's OAuth token in its
    environment (as the unfixed server merged it), makes claude send that
    token upstream. Through `agent-launcher exec --billing-mode byok` the
    same runtime's claude sends the workspace's own key, and the platform's
    token never reaches the stand-in."""
    _sdk_available()
    with platform.state.lock:
        platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
        platform.state.workspace_secrets["ANTHROPIC_BASE_URL"] = anthropic_stub.url
    script = tmp_path / "runtime.py"
    script.write_text(SDK_ONLY)
    out = tmp_path / "runtime.json"
    runtime = [sys.executable, str(script), str(out)]
    if through_the_launcher:
        env = claude_env(tmp_path, anthropic_stub.url, MOLECULE_WORKSPACE_TOKEN=WORKSPACE_TOKEN)
        command = [launcher_path(), "exec", *platform_args(platform), "--", *runtime]
    else:
        env = claude_env(tmp_path, anthropic_stub.url, CLAUDE_CODE_OAUTH_TOKEN=PLATFORM_OAUTH)
        command = runtime
    proc = run_or_fail(command, env=env, cwd=tmp_path, timeout=120)
    assert_no_secret(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (result,) = json.loads(out.read_text())
    assert result["is_error"] is False
    leaked = anthropic_stub.saw_secret(PLATFORM_OAUTH)  # a bool: never the value as an operand
    assert anthropic_stub.egress() == []
    if through_the_launcher:
        assert not leaked, "the platform's OAuth token reached the upstream through the launcher"
        seen = anthropic_stub.credentials()
        assert seen and all(v == OWN_API_KEY for h, v in seen if h == "x-api-key"), [h for h, _ in seen]
    else:
        assert leaked, "control: the runtime alone should send the platform's token (the leak)"
