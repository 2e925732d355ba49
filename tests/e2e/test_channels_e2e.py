"""Issue 18: the channels that still carried a platform credential (or sent
the workspace's own to a platform-chosen place) past the gate, each as a
CONTROL row (the real CLI alone, showing the leak) and a LAUNCHER row (the
same inputs through ``agent-launcher exec`` in local mode: ``--env-file`` is
the workspace, ``--global-env-file`` and the inherited environment the
platform), against loopback stand-ins only.

1. Bedrock under the workspace's own switch, signed with the platform's AWS
   identity: global keys, the image's ``~/.aws/credentials``, container
   credentials, instance metadata (a stand-in, via the SDK's own
   ``AWS_EC2_METADATA_SERVICE_ENDPOINT``).
2. ``CLAUDE_CODE_USE_COWORK_PLUGINS`` and ``~/.claude/cowork_settings.json``.
3. A global ``ANTHROPIC_UNIX_SOCKET``.
4. gemini: a global ``GOOGLE_CLOUD_ACCESS_TOKEN`` under ``GOOGLE_GENAI_USE_GCA``.
5. codex: a global ``CODEX_REFRESH_TOKEN_URL_OVERRIDE``.
6. codex: ``query_params`` in config.toml, ``-c …experimental_bearer_token``.
7. claude: ``mcpServers.*.env`` in ``~/.claude.json`` and ``.mcp.json``.
8. A global ``HTTP(S)_PROXY``.

Set ``AGENT_LAUNCHER_E2E_EVIDENCE`` to record each run (labels, never values).
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from agent_clis import (
    CLI_TIMEOUT_S,
    CodexAuth,
    append_evidence,
    claude_command,
    codex_command,
    gemini_command,
    sandbox_env,
    write_codex_home,
    write_gemini_home,
)
from anthropic_stub import AnthropicStub
from conftest import claude_env
from gemini_stub import GeminiStub
from metadata_stub import MetadataStub
from support import MARKER, assert_no_secret, launcher_path, run_or_fail
from unix_stub import UnixAnthropicStub

pytestmark = pytest.mark.e2e

OWN_KEY = f"sk-ant-api03-own-{MARKER}-18e2e1"
PLATFORM_KEY = f"sk-ant-api03-platform-{MARKER}-18e2e2"
PLATFORM_AKID = f"AKIA{MARKER}PLAT18"  # an access key id is sent in clear in SigV4's Credential=
PLATFORM_AWS_SECRET = f"platform-aws-secret-{MARKER}-18e2e3"
PLATFORM_CONTAINER_TOKEN = f"container-token-{MARKER}-18e2e4"
PLATFORM_GCP_TOKEN = f"ya29.platform-{MARKER}-18e2e5"
OWN_GEMINI_KEY = f"AIza-own-gemini-{MARKER}-18e2e6"
OWN_CODEX_KEY = f"sk-proj-own-{MARKER}-18e2e7"
PLATFORM_OPENAI_KEY = f"sk-proj-platform-{MARKER}-18e2e8"
OWN_REFRESH_TOKEN = f"rt-own-{MARKER}-18e2e9"
SECRETS = (
    OWN_KEY,
    PLATFORM_KEY,
    PLATFORM_AKID,
    PLATFORM_AWS_SECRET,
    PLATFORM_CONTAINER_TOKEN,
    PLATFORM_GCP_TOKEN,
    OWN_GEMINI_KEY,
    OWN_CODEX_KEY,
    PLATFORM_OPENAI_KEY,
    OWN_REFRESH_TOKEN,
)
LABELS = {
    OWN_KEY: "own ANTHROPIC_API_KEY",
    PLATFORM_KEY: "platform key",
    PLATFORM_GCP_TOKEN: "platform GOOGLE_CLOUD_ACCESS_TOKEN",
    OWN_GEMINI_KEY: "own GEMINI_API_KEY",
    OWN_CODEX_KEY: "own CODEX_API_KEY",
    PLATFORM_OPENAI_KEY: "platform key",
}
PROXIES = ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy")


def _label(value: str) -> str:
    value = value.removeprefix("Bearer ")
    if value.startswith("AWS4-HMAC-SHA256"):
        return "SigV4 by the platform's AWS key" if PLATFORM_AKID in value else "SigV4 by another key"
    return LABELS.get(value, "unknown value")


def _upstream(stub) -> list[str]:
    """Every credential header the stand-in received, as ``header: label``."""
    return sorted({f"{h}: {_label(v)}" for r in stub.requests for h, v in r.credentials()})


def _dotenv(path: Path, values: Mapping[str, str]) -> str:
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
    return str(path)


def _local(
    tmp_path: Path,
    mode: str,
    command: Sequence[str],
    env: Mapping[str, str],
    *,
    own: Mapping[str, str],
    platform: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    trap: bool = True,
) -> subprocess.CompletedProcess[str]:
    """``agent-launcher exec`` in local mode, in ``env`` (the container's,
    inherited): ``own`` is the workspace's env file, ``platform`` a global
    one. The sandbox's egress trap is the workspace's own proxy (an
    inherited proxy is transport and is stripped), unless ``trap`` is off."""
    workspace = dict(own)
    if trap:
        workspace.update({k: env[k] for k in PROXIES if k in env})
    cmd = [launcher_path(), "exec", "--billing-mode", mode, "--env-file", _dotenv(tmp_path / "own.env", workspace)]
    if platform:
        cmd += ["--global-env-file", _dotenv(tmp_path / "global.env", platform)]
    cmd += [*args, "--", *command]
    (tmp_path / "work").mkdir(exist_ok=True)
    proc = run_or_fail(cmd, env=env, cwd=tmp_path / "work", timeout=CLI_TIMEOUT_S + 30)
    assert_no_secret(proc.stdout + proc.stderr, SECRETS)
    return proc


def _run(command: Sequence[str], env: Mapping[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    (tmp_path / "work").mkdir(exist_ok=True)
    proc = run_or_fail(command, env=env, cwd=tmp_path / "work", timeout=CLI_TIMEOUT_S + 30)
    assert_no_secret(proc.stdout + proc.stderr, SECRETS)
    return proc


def _refused(proc: subprocess.CompletedProcess[str], code: str, *quiet) -> None:
    assert proc.returncode == 78, (proc.returncode, proc.stderr[-2000:])
    assert code in proc.stderr, proc.stderr[-2000:]
    for stub in quiet:
        assert stub.requests == [], f"{type(stub).__name__} was reached"


def _evidence(case: str, mode: str | None, proc, stub, **more: object) -> None:
    append_evidence(
        case, mode, proc, upstream_requests=len(stub.requests), upstream_credentials=_upstream(stub), **more
    )


# -- 1. Bedrock: the workspace's switch, the platform's AWS identity --------------

BEDROCK = {"CLAUDE_CODE_USE_BEDROCK": "1", "AWS_REGION": "us-east-1"}
AWS_SOURCES = ["global-keys", "image-credentials-file", "container-credentials", "instance-metadata"]


def _aws_source(source: str, env: dict[str, str], metadata: MetadataStub) -> dict[str, str]:
    """Plant the platform's AWS identity in one place; returns the variables
    that carry it (the platform's, for the launcher rows)."""
    if source == "global-keys":
        return {"AWS_ACCESS_KEY_ID": PLATFORM_AKID, "AWS_SECRET_ACCESS_KEY": PLATFORM_AWS_SECRET}
    if source == "image-credentials-file":
        creds = Path(env["HOME"]) / ".aws" / "credentials"
        creds.parent.mkdir(parents=True, exist_ok=True)
        creds.write_text(
            f"[default]\naws_access_key_id = {PLATFORM_AKID}\naws_secret_access_key = {PLATFORM_AWS_SECRET}\n"
        )
        return {}
    if source == "container-credentials":
        return {
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{metadata.url}/creds",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": PLATFORM_CONTAINER_TOKEN,
        }
    return {"AWS_EC2_METADATA_SERVICE_ENDPOINT": f"{metadata.url}/"}  # the SDK's way to name the instance's


@pytest.mark.parametrize("source", AWS_SOURCES)
def test_control_bedrock_signs_with_the_platform_s_aws_identity(claude_bin, anthropic_stub, tmp_path, source):
    with MetadataStub((PLATFORM_AKID, PLATFORM_AWS_SECRET)) as metadata:
        env = claude_env(tmp_path, anthropic_stub.url, ANTHROPIC_BEDROCK_BASE_URL=anthropic_stub.url, **BEDROCK)
        env.update(_aws_source(source, env, metadata))
        proc = _run(claude_command(claude_bin), env, tmp_path)
        assert anthropic_stub.egress() == []
        assert anthropic_stub.requests, proc.stdout[-1000:]
        assert _upstream(anthropic_stub) == ["authorization: SigV4 by the platform's AWS key"]
        assert metadata.served() == (source in ("container-credentials", "instance-metadata"))
        _evidence(f"control: Bedrock, platform AWS identity from {source}", None, proc, anthropic_stub)


@pytest.mark.parametrize("source", AWS_SOURCES)
def test_launcher_refuses_the_own_bedrock_switch_without_an_own_aws_credential(
    claude_bin, anthropic_stub, tmp_path, source
):
    with MetadataStub((PLATFORM_AKID, PLATFORM_AWS_SECRET)) as metadata:
        env = claude_env(tmp_path, anthropic_stub.url)
        platform = _aws_source(source, env, metadata)
        own = {"ANTHROPIC_API_KEY": OWN_KEY, "ANTHROPIC_BEDROCK_BASE_URL": anthropic_stub.url, **BEDROCK}
        # the platform's identity: global for keys, inherited for the container's and the instance's
        inherited = platform if source != "global-keys" else {}
        proc = _local(
            tmp_path,
            "byok",
            claude_command(claude_bin),
            {**env, **inherited},
            own=own,
            platform=platform if source == "global-keys" else None,
        )
        code = "FOREIGN_AGENT_CREDENTIAL" if source == "image-credentials-file" else "MISSING_BYOK_CREDENTIAL"
        _refused(proc, code, anthropic_stub, metadata)
        if code == "MISSING_BYOK_CREDENTIAL":
            assert "CLAUDE_CODE_USE_BEDROCK turns on the aws backend" in proc.stderr
        _evidence(f"byok: own Bedrock switch, platform AWS identity from {source}", "byok", proc, anthropic_stub)


def test_launcher_closes_the_metadata_fallback_for_the_real_cli(claude_bin, anthropic_stub, tmp_path):
    """``disabled`` launches whatever credential is left: with the
    workspace's own switch and a metadata service that would hand out the
    platform's role, claude asks it nothing (the launcher set the SDK's
    AWS_EC2_METADATA_DISABLED=true) and has no credential to sign with."""
    with MetadataStub((PLATFORM_AKID, PLATFORM_AWS_SECRET)) as metadata:
        env = claude_env(tmp_path, anthropic_stub.url)
        own = {
            "ANTHROPIC_BEDROCK_BASE_URL": anthropic_stub.url,
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": f"{metadata.url}/",  # even the workspace's own setting
            **BEDROCK,
        }
        proc = _local(tmp_path, "disabled", claude_command(claude_bin), env, own=own)
        assert metadata.requests == [], "the metadata stand-in was asked"
        assert not any(PLATFORM_AKID in r.headers.get("authorization", "") for r in anthropic_stub.requests)
        assert "Could not load AWS credentials" in proc.stdout, proc.stdout[-1000:]
        _evidence("disabled: own Bedrock switch, instance metadata stand-in", "disabled", proc, anthropic_stub)


# -- 2. cowork settings ------------------------------------------------------------------


def _cowork_file(env: Mapping[str, str]) -> None:
    path = Path(env["HOME"]) / ".claude" / "cowork_settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"env": {"ANTHROPIC_API_KEY": PLATFORM_KEY}}), encoding="utf-8")


def test_control_cowork_switch_reads_cowork_settings(claude_bin, anthropic_stub, tmp_path):
    env = claude_env(tmp_path, anthropic_stub.url, ANTHROPIC_API_KEY=OWN_KEY, CLAUDE_CODE_USE_COWORK_PLUGINS="1")
    _cowork_file(env)
    proc = _run(claude_command(claude_bin), env, tmp_path)
    assert _upstream(anthropic_stub) == ["x-api-key: platform key"]
    _evidence("control: CLAUDE_CODE_USE_COWORK_PLUGINS + cowork_settings.json env", None, proc, anthropic_stub)


def test_launcher_strips_the_cowork_switch_and_refuses_the_cowork_file(claude_bin, anthropic_stub, tmp_path):
    env = claude_env(tmp_path, anthropic_stub.url)
    _cowork_file(env)
    own = {"ANTHROPIC_API_KEY": OWN_KEY, "ANTHROPIC_BASE_URL": anthropic_stub.url}
    platform = {"CLAUDE_CODE_USE_COWORK_PLUGINS": "1"}
    proc = _local(tmp_path, "byok", claude_command(claude_bin), env, own=own, platform=platform)
    _refused(proc, "FOREIGN_AGENT_CREDENTIAL", anthropic_stub)
    assert "cowork_settings.json: env.ANTHROPIC_API_KEY" in proc.stderr
    _evidence("byok: global cowork switch + cowork_settings.json env", "byok", proc, anthropic_stub)


# -- 3. ANTHROPIC_UNIX_SOCKET -------------------------------------------------------------


def test_control_a_unix_socket_receives_the_own_key(claude_bin, anthropic_stub, tmp_path):
    with UnixAnthropicStub(tmp_path / "platform.sock") as sock:
        env = claude_env(tmp_path, anthropic_stub.url, ANTHROPIC_API_KEY=OWN_KEY, ANTHROPIC_UNIX_SOCKET=str(sock.path))
        proc = _run(claude_command(claude_bin), env, tmp_path)
        assert (anthropic_stub.requests, _upstream(sock)) == ([], ["x-api-key: own ANTHROPIC_API_KEY"])
        _evidence("control: ANTHROPIC_UNIX_SOCKET (the platform's socket)", None, proc, sock)


def test_launcher_strips_a_global_unix_socket(claude_bin, anthropic_stub, tmp_path):
    with UnixAnthropicStub(tmp_path / "platform.sock") as sock:
        env = claude_env(tmp_path, anthropic_stub.url)
        own = {"ANTHROPIC_API_KEY": OWN_KEY, "ANTHROPIC_BASE_URL": anthropic_stub.url}
        platform = {"ANTHROPIC_UNIX_SOCKET": str(sock.path)}
        proc = _local(tmp_path, "byok", claude_command(claude_bin), env, own=own, platform=platform)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert sock.requests == []
        assert _upstream(anthropic_stub) == ["x-api-key: own ANTHROPIC_API_KEY"]
        _evidence(
            "byok: global ANTHROPIC_UNIX_SOCKET + own key", "byok", proc, anthropic_stub, socket=len(sock.requests)
        )


# -- 4. gemini Code Assist with the platform's access token ---------------------------


def _gca_env(tmp_path: Path, stub: GeminiStub, **extra: str) -> dict[str, str]:
    write_gemini_home(tmp_path / "home" / ".gemini", "oauth-personal")
    return sandbox_env(tmp_path, stub.url, CODE_ASSIST_ENDPOINT=stub.url, **extra)


def test_control_gca_sends_a_global_access_token(gemini_bin, gemini_stub, tmp_path):
    env = _gca_env(tmp_path, gemini_stub, GOOGLE_GENAI_USE_GCA="true", GOOGLE_CLOUD_ACCESS_TOKEN=PLATFORM_GCP_TOKEN)
    proc = _run(gemini_command(gemini_bin), env, tmp_path)
    calls = [r for r in gemini_stub.requests if not r.is_egress]
    assert calls and all(r.route == "/v1internal:loadCodeAssist" for r in calls)
    assert _upstream(gemini_stub) == ["authorization: platform GOOGLE_CLOUD_ACCESS_TOKEN"]
    _evidence("control: GOOGLE_GENAI_USE_GCA + global GOOGLE_CLOUD_ACCESS_TOKEN", None, proc, gemini_stub)


def test_launcher_refuses_own_gca_without_an_own_token(gemini_bin, gemini_stub, tmp_path):
    env = _gca_env(tmp_path, gemini_stub)
    own = {"GOOGLE_GENAI_USE_GCA": "true", "GEMINI_API_KEY": OWN_GEMINI_KEY}
    platform = {"GOOGLE_CLOUD_ACCESS_TOKEN": PLATFORM_GCP_TOKEN}
    proc = _local(tmp_path, "byok", gemini_command(gemini_bin), env, own=own, platform=platform)
    _refused(proc, "MISSING_BYOK_CREDENTIAL", gemini_stub)
    assert "GOOGLE_GENAI_USE_GCA turns on the gemini-code-assist backend" in proc.stderr
    assert "GOOGLE_CLOUD_ACCESS_TOKEN (global)" in proc.stderr
    _evidence("byok: own GOOGLE_GENAI_USE_GCA + global GOOGLE_CLOUD_ACCESS_TOKEN", "byok", proc, gemini_stub)


# -- 5. codex's refresh token sent to a platform-chosen URL ----------------------------


def _jwt(claims: dict[str, object]) -> str:
    def part(doc: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.sig"


def _own_chatgpt_login(codex_home: Path) -> Path:
    """The workspace's own ChatGPT login, its access token expired: codex
    refreshes it before the first request."""
    expired = int(time.time()) - 3600
    auth_claims = {"chatgpt_account_id": "acct", "chatgpt_plan_type": "plus"}
    tokens = {
        "id_token": _jwt(
            {"email": "own@example.invalid", "exp": expired + 7200, "https://api.openai.com/auth": auth_claims}
        ),
        "access_token": _jwt({"exp": expired}),
        "refresh_token": OWN_REFRESH_TOKEN,
        "account_id": "acct",
    }
    path = codex_home / "auth.json"
    path.write_text(json.dumps({"auth_mode": "chatgpt", "tokens": tokens, "last_refresh": "2020-01-01T00:00:00Z"}))
    return path


def test_control_codex_sends_the_own_refresh_token_to_the_override(codex_bin, openai_stub, tmp_path):
    with AnthropicStub() as recorder:  # any recording stand-in: the platform's "token endpoint"
        home = write_codex_home(tmp_path / "home" / ".codex", openai_stub.url, CodexAuth.OPENAI_LOGIN)
        _own_chatgpt_login(home)
        env = sandbox_env(tmp_path, openai_stub.url, CODEX_REFRESH_TOKEN_URL_OVERRIDE=f"{recorder.url}/oauth/token")
        proc = _run(codex_command(codex_bin), env, tmp_path)
        assert recorder.requests and all(OWN_REFRESH_TOKEN.encode() in r.body for r in recorder.requests)
        append_evidence(
            "control: codex, global CODEX_REFRESH_TOKEN_URL_OVERRIDE, own auth.json",
            None,
            proc,
            upstream_requests=len(recorder.requests),
            upstream_credentials=["own refresh token in the body"],
        )


def test_launcher_strips_a_global_refresh_url_override(codex_bin, openai_stub, tmp_path):
    with AnthropicStub() as recorder:
        home = write_codex_home(tmp_path / "home" / ".codex", openai_stub.url, CodexAuth.OPENAI_LOGIN)
        auth = _own_chatgpt_login(home)
        env = sandbox_env(tmp_path, openai_stub.url)
        platform = {"CODEX_REFRESH_TOKEN_URL_OVERRIDE": f"{recorder.url}/oauth/token"}
        args = ("--provider", "codex", "--own-agent-file", str(auth))
        proc = _local(tmp_path, "subscription", codex_command(codex_bin), env, own={}, platform=platform, args=args)
        assert recorder.requests == [], "the platform's URL received the refresh"
        # codex refreshed at its own issuer instead (refused by the sandbox's egress trap)
        assert {r.path for r in openai_stub.egress()} <= {"auth.openai.com:443"}
        append_evidence(
            "subscription: global CODEX_REFRESH_TOKEN_URL_OVERRIDE, own auth.json declared",
            "subscription",
            proc,
            upstream_requests=len(recorder.requests),
            upstream_credentials=[],
            egress=sorted({r.path for r in openai_stub.egress()}),
        )


# -- 6. codex provider fields and -c overrides ------------------------------------------


def _query_params(codex_home: Path) -> None:
    config = codex_home / "config.toml"
    config.write_text(config.read_text() + f'query_params = {{ key = "{PLATFORM_OPENAI_KEY}" }}\n')


BEARER_OVERRIDE = ("-c", f'model_providers.stub.experimental_bearer_token="{PLATFORM_OPENAI_KEY}"')


def _codex_with_platform_field(codex_bin, openai_stub, tmp_path: Path, channel: str) -> list[str]:
    """codex's command, its home holding the platform key in a provider
    field (``query-params``) or its command line overriding one
    (``bearer-override``)."""
    home = write_codex_home(tmp_path / "home" / ".codex", openai_stub.url, CodexAuth.OPENAI_LOGIN)
    command = codex_command(codex_bin)
    if channel == "query-params":
        _query_params(home)
        return command
    return [command[0], command[1], *BEARER_OVERRIDE, *command[2:]]


@pytest.mark.parametrize("channel", ["query-params", "bearer-override"])
def test_control_codex_sends_the_platform_s_provider_fields(codex_bin, openai_stub, tmp_path, channel):
    command = _codex_with_platform_field(codex_bin, openai_stub, tmp_path, channel)
    proc = _run(command, sandbox_env(tmp_path, openai_stub.url, CODEX_API_KEY=OWN_CODEX_KEY), tmp_path)
    reqs = openai_stub.response_requests()
    assert reqs
    if channel == "query-params":
        assert all(PLATFORM_OPENAI_KEY in r.query for r in reqs)
    else:
        assert _upstream(openai_stub) == ["authorization: platform key"]
    _evidence(
        f"control: codex {channel}",
        None,
        proc,
        openai_stub,
        query_has_platform_key=PLATFORM_OPENAI_KEY in reqs[0].query,
    )


@pytest.mark.parametrize("channel", ["query-params", "bearer-override"])
def test_launcher_refuses_the_platform_s_provider_fields(codex_bin, openai_stub, tmp_path, channel):
    command = _codex_with_platform_field(codex_bin, openai_stub, tmp_path, channel)
    env = sandbox_env(tmp_path, openai_stub.url)
    proc = _local(tmp_path, "byok", command, env, own={"CODEX_API_KEY": OWN_CODEX_KEY}, args=("--provider", "codex"))
    _refused(proc, "FOREIGN_AGENT_CREDENTIAL", openai_stub)
    where = "model_providers.stub.query_params.key" if channel == "query-params" else "(command line -c)"
    assert where in proc.stderr, proc.stderr[-2000:]
    _evidence(f"byok: codex {channel} holding the platform key", "byok", proc, openai_stub)


# -- 7. MCP server env blocks -------------------------------------------------------------


def _mcp(tmp_path: Path, env: Mapping[str, str], where: str) -> Path:
    marker = tmp_path / "mcp-env"
    server = {
        "command": "/bin/sh",
        "args": ["-c", f"env > {marker}; sleep 5"],
        "env": {"ANTHROPIC_API_KEY": PLATFORM_KEY},
    }
    path = Path(env["HOME"]) / ".claude.json" if where == "claude-json" else tmp_path / "work" / ".mcp.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"mcpServers": {"probe": server}}), encoding="utf-8")
    return marker


@pytest.mark.parametrize("where", ["claude-json", "project-mcp-json"])
def test_control_mcp_servers_start_with_the_platform_s_key(claude_bin, anthropic_stub, tmp_path, where):
    env = claude_env(tmp_path, anthropic_stub.url, ANTHROPIC_API_KEY=OWN_KEY)
    marker = _mcp(tmp_path, env, where)
    proc = _run(claude_command(claude_bin), env, tmp_path)
    assert marker.exists() and PLATFORM_KEY in marker.read_text(), "the MCP server did not get the platform key"
    _evidence(f"control: mcpServers.*.env in {where}", None, proc, anthropic_stub, mcp_server_had_platform_key=True)


@pytest.mark.parametrize("where", ["claude-json", "project-mcp-json"])
def test_launcher_refuses_mcp_env_blocks(claude_bin, anthropic_stub, tmp_path, where):
    env = claude_env(tmp_path, anthropic_stub.url)
    marker = _mcp(tmp_path, env, where)
    own = {"ANTHROPIC_API_KEY": OWN_KEY, "ANTHROPIC_BASE_URL": anthropic_stub.url}
    proc = _local(tmp_path, "byok", claude_command(claude_bin), env, own=own)
    _refused(proc, "FOREIGN_AGENT_CREDENTIAL", anthropic_stub)
    assert "mcpServers.probe.env.ANTHROPIC_API_KEY" in proc.stderr
    assert not marker.exists(), "an MCP server started"
    _evidence(f"byok: mcpServers.*.env in {where}", "byok", proc, anthropic_stub)


# -- 8. a platform-chosen proxy -----------------------------------------------------------


def test_control_a_proxy_receives_the_own_key(claude_bin, anthropic_stub, tmp_path):
    with AnthropicStub() as proxy:  # records absolute-URI requests: what a proxy sees
        env = claude_env(tmp_path, anthropic_stub.url, ANTHROPIC_API_KEY=OWN_KEY, NO_PROXY="", no_proxy="")
        env.update({k: proxy.url for k in PROXIES})
        proc = _run(claude_command(claude_bin), env, tmp_path)
        assert anthropic_stub.requests == []
        assert _upstream(proxy) == ["x-api-key: own ANTHROPIC_API_KEY"]
        assert all(r.path.startswith(anthropic_stub.url) for r in proxy.requests)
        _evidence("control: HTTP(S)_PROXY (the platform's), own key", None, proc, proxy)


def test_launcher_strips_a_global_proxy(claude_bin, anthropic_stub, tmp_path):
    with AnthropicStub() as proxy:
        env = claude_env(tmp_path, anthropic_stub.url, NO_PROXY="", no_proxy="")
        own = {"ANTHROPIC_API_KEY": OWN_KEY, "ANTHROPIC_BASE_URL": anthropic_stub.url}
        platform = {k: proxy.url for k in PROXIES}
        env.update(platform)  # inherited too
        proc = _local(tmp_path, "byok", claude_command(claude_bin), env, own=own, platform=platform, trap=False)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proxy.requests == []
        assert _upstream(anthropic_stub) == ["x-api-key: own ANTHROPIC_API_KEY"]
        _evidence("byok: global and inherited HTTP(S)_PROXY, own key", "byok", proc, anthropic_stub, proxy=0)
