"""Issue 18: channels that carried a platform credential, or sent the
workspace's own to a platform-chosen place, past the gate: a wrapper that
hides the agent, ambient cloud identities, transport (proxies, CA trust,
sockets), commands, and the settings, MCP and config blocks that hold them.

Every case runs the installed launcher as a subprocess in local mode, with
a fresh HOME and working directory, and greps all of its output for the
fake secrets (all carry the marker).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from support import (
    MARKER,
    OWN_API_KEY,
    PLATFORM_OAUTH,
    REPO,
    Box,
)

PLATFORM_KEY = f"sk-ant-api03-platform-{MARKER}-18aa01"
PLATFORM_AWS_ID = f"AKIA{MARKER}PLATFORM1"
PLATFORM_AWS_SECRET = f"platform-aws-secret-{MARKER}-18bb02"
OWN_AWS_ID = f"AKIA{MARKER}OWNKEY01"
OWN_AWS_SECRET = f"own-aws-secret-{MARKER}-18cc03"
PLATFORM_GCP_TOKEN = f"ya29.platform-{MARKER}-18dd04"
PLATFORM_CONTAINER_TOKEN = f"container-token-{MARKER}-18ee05"
PLATFORM_REFRESH_URL = "http://platform-refresh.invalid/oauth/token"
SECRETS = (
    PLATFORM_KEY,
    PLATFORM_OAUTH,
    OWN_API_KEY,
    PLATFORM_AWS_ID,
    PLATFORM_AWS_SECRET,
    OWN_AWS_ID,
    OWN_AWS_SECRET,
    PLATFORM_GCP_TOKEN,
    PLATFORM_CONTAINER_TOKEN,
)


@pytest.fixture
def box(tmp_path: Path) -> Box:
    return Box(tmp_path, SECRETS)


def keys(report: dict) -> dict[str, dict]:
    return {k["key"]: k for k in report["keys"]}


# -- a wrapper hides the agent -------------------------------------------------


WRAPPERS = [("sh", "-c", "claude -p hi"), (sys.executable, "-c", "import claude_agent_sdk"), ("node", "agent.js")]


@pytest.mark.parametrize("command", WRAPPERS, ids=["sh-c", "python-sdk", "node"])
@pytest.mark.parametrize(
    "planted",
    [".claude/settings.json", ".codex/auth.json", ".gemini/.env"],
    ids=["claude-settings", "codex-auth", "gemini-env"],
)
def test_a_wrapper_command_checks_every_profile_s_files(box, command, planted):
    content = {
        ".claude/settings.json": {"env": {"ANTHROPIC_API_KEY": PLATFORM_KEY}},
        ".codex/auth.json": {"OPENAI_API_KEY": PLATFORM_KEY},
        ".gemini/.env": f"GEMINI_API_KEY={PLATFORM_KEY}\n",
    }[planted]
    box.write(planted, content)
    own = box.dotenv("own.env", ANTHROPIC_API_KEY=OWN_API_KEY)
    result, report = box.check("--billing-mode", "byok", "--env-file", own, "--", *command)
    assert (result.returncode, report["code"]) == (78, "FOREIGN_AGENT_CREDENTIAL")
    assert report["agent"] == "all"
    assert report["agent_profiles"] == ["claude-code", "codex", "gemini-cli"]
    assert any("names no known agent" in w and "--agent" in w for w in report["warnings"])
    assert [f["path"] for f in report["agent_files"]] == [str(box.home / planted)]
    # exec refuses alike, before the wrapper runs
    assert box.run("exec", "--billing-mode", "byok", "--env-file", own, "--", *command).returncode == 78


def test_agent_narrows_a_wrapper_to_one_profile(box):
    box.write(".codex/auth.json", {"OPENAI_API_KEY": PLATFORM_KEY})
    own = box.dotenv("own.env", ANTHROPIC_API_KEY=OWN_API_KEY)
    args = ("--billing-mode", "byok", "--env-file", own)
    result, report = box.check(*args, "--agent", "claude-code", "--", "sh", "-c", "claude")
    assert (result.returncode, report["agent"], report["agent_profiles"]) == (0, "claude-code", ["claude-code"])
    assert not any("names no known agent" in w for w in report["warnings"])
    result, report = box.check(*args, "--agent", "generic", "--", "sh", "-c", "claude")
    assert (result.returncode, report["agent_files"]) == (0, [])
    # the text form says so too
    text = box.run("check", *args, "--", "sh", "-c", "claude")
    assert text.returncode == 78
    assert "agent: all (claude-code, codex, gemini-cli)" in text.stdout
    assert "names no known agent" in text.stderr


def test_a_wrapper_launches_when_every_profile_s_files_are_clean(box):
    own = box.dotenv("own.env", ANTHROPIC_API_KEY=OWN_API_KEY)
    result, child = box.child("--billing-mode", "byok", "--env-file", own)
    assert result.returncode == 0, result
    assert "ANTHROPIC_API_KEY" in child
    assert "names no known agent" not in result.stderr  # exec says it at -v only


# -- ambient cloud identities ---------------------------------------------------

BYOK = ("--billing-mode", "byok")
CLOSED = {"AWS_EC2_METADATA_DISABLED": "true", "METADATA_SERVER_DETECTION": "none", "AZURE_TOKEN_CREDENTIALS": "dev"}


def test_documented_backends_table_is_the_data_s_own():
    from launcher.doctables import backends_markdown

    doc = (REPO / "docs" / "agent-channels.md").read_text(encoding="utf-8")
    assert backends_markdown() in doc, "paste `python -m launcher.doctables` into docs/agent-channels.md"


@pytest.mark.parametrize(
    "platform",
    [
        {"AWS_ACCESS_KEY_ID": PLATFORM_AWS_ID, "AWS_SECRET_ACCESS_KEY": PLATFORM_AWS_SECRET},
        {
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:9/creds",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": PLATFORM_CONTAINER_TOKEN,
        },
        {"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:9/", "AWS_PROFILE": "platform"},
    ],
    ids=["keys", "container-credentials", "metadata-endpoint"],
)
@pytest.mark.parametrize("where", ["global", "inherited"])
def test_own_bedrock_switch_with_only_a_platform_aws_identity_refuses(box, platform, where):
    own = box.dotenv("own.env", ANTHROPIC_API_KEY=OWN_API_KEY, CLAUDE_CODE_USE_BEDROCK="1")
    args = [*BYOK, "--env-file", own]
    env = box.env()
    if where == "global":
        args += ["--global-env-file", box.dotenv("global.env", **platform)]
    else:
        env.update(platform)
    result, report = box.check(*args, "--agent", "claude-code", env=env)
    assert (result.returncode, report["code"]) == (78, "MISSING_BYOK_CREDENTIAL")
    assert "CLAUDE_CODE_USE_BEDROCK turns on the aws backend" in report["message"]
    assert f"{next(iter(platform))} ({where})" in report["message"]
    shown = keys(report)
    for name in platform:
        assert (shown[name]["action"], shown[name]["kind"], shown[name]["scope"]) == ("strip", "cloud_identity", where)
    assert shown["AWS_EC2_METADATA_DISABLED"]["scope"] == "launcher"
    assert box.run("exec", *args, "--", "true", env=env).returncode == 78


def test_without_the_switch_a_platform_aws_identity_is_only_stripped(box):
    own = box.dotenv("own.env", ANTHROPIC_API_KEY=OWN_API_KEY)
    env = box.env(AWS_ACCESS_KEY_ID=PLATFORM_AWS_ID, AWS_SECRET_ACCESS_KEY=PLATFORM_AWS_SECRET)
    result, child = box.child(*BYOK, "--env-file", own, "--agent", "claude-code", env=env)
    assert result.returncode == 0, result
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(child)
    assert {k: child.get(k) for k in CLOSED} == CLOSED


def test_own_bedrock_switch_with_own_aws_keys_launches_and_metadata_is_closed(box):
    own = box.dotenv(
        "own.env",
        CLAUDE_CODE_USE_BEDROCK="1",
        AWS_ACCESS_KEY_ID=OWN_AWS_ID,
        AWS_SECRET_ACCESS_KEY=OWN_AWS_SECRET,
        AWS_EC2_METADATA_DISABLED="false",  # the machine's identity is never the workspace's: overridden
    )
    env = box.env(AWS_ACCESS_KEY_ID=PLATFORM_AWS_ID)
    result, report = box.check(*BYOK, "--provider", "claude-code", "--env-file", own, "--agent", "claude-code", env=env)
    assert result.returncode == 0, report["message"]
    assert report["usable_credentials"] == ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
    closed = keys(report)["AWS_EC2_METADATA_DISABLED"]
    assert (closed["scope"], closed["source"], closed["kind"]) == (
        "launcher",
        "launcher: closes the metadata fallback",
        "cloud_identity",
    )
    result, child = box.child(*BYOK, "--provider", "claude-code", "--env-file", own, env=env)
    assert result.returncode == 0
    assert child["AWS_ACCESS_KEY_ID"] == OWN_AWS_ID  # the workspace's, not the inherited one
    assert {k: child.get(k) for k in CLOSED} == CLOSED


def test_the_image_s_aws_credentials_file_refuses_unless_declared_own(box):
    creds = box.write(
        ".aws/credentials",
        f"[default]\naws_access_key_id = {PLATFORM_AWS_ID}\naws_secret_access_key = {PLATFORM_AWS_SECRET}\n",
    )
    own = box.dotenv("own.env", ANTHROPIC_API_KEY=OWN_API_KEY, CLAUDE_CODE_USE_BEDROCK="1")
    result, report = box.check(*BYOK, "--env-file", own, "--agent", "claude-code")
    assert (result.returncode, report["code"]) == (78, "FOREIGN_AGENT_CREDENTIAL")
    fields = {f["field"] for f in report["agent_files"] if f["path"] == str(creds)}
    assert fields == {"default.aws_access_key_id", "default.aws_secret_access_key"}
    # the workspace's own file: its keys are the backend's credential
    result, report = box.check(*BYOK, "--env-file", own, "--own-agent-file", str(creds), "--agent", "claude-code")
    assert result.returncode == 0, report["message"]
    # codex reads it too (its amazon-bedrock provider)
    result, report = box.check(*BYOK, "--env-file", own, "--agent", "codex")
    assert report["code"] == "FOREIGN_AGENT_CREDENTIAL"


def test_aws_config_helpers_and_broken_files(box):
    box.write(".aws/config", "[profile platform]\ncredential_process = /opt/platform/creds\nregion = us-east-1\n")
    own = box.dotenv("own.env", ANTHROPIC_API_KEY=OWN_API_KEY)
    result, report = box.check(*BYOK, "--env-file", own, "--agent", "claude-code")
    assert [(f["field"], f["helper"]) for f in report["agent_files"]] == [("profile platform.credential_process", True)]
    box.write(".aws/config", "[default]\nregion = us-east-1\n")  # settings only: nothing to refuse
    assert box.check(*BYOK, "--env-file", own, "--agent", "claude-code")[0].returncode == 0
    box.write(".aws/credentials", "aws_access_key_id = no section\n")
    result, report = box.check(*BYOK, "--env-file", own, "--agent", "claude-code")
    assert (result.returncode, report["agent_files"][0]["problem"]) == (78, "not valid INI")


@pytest.mark.parametrize(
    ("switch", "gap"),
    [
        ("GOOGLE_GENAI_USE_GCA", "gemini-code-assist"),
        ("CLAUDE_CODE_USE_VERTEX", "gcp"),
        ("CLAUDE_CODE_USE_FOUNDRY", "foundry"),
        ("CLAUDE_CODE_USE_MANTLE", "aws"),
        ("CLAUDE_CODE_USE_ANTHROPIC_AWS", "aws"),
        ("CLAUDE_CODE_USE_ANTHROPIC_GOOGLE_CLOUD", "gcp"),
        ("CLAUDE_CODE_USE_GATEWAY", "gateway"),
        ("GEMINI_CLI_USE_COMPUTE_ADC", "gce-compute"),
    ],
)
def test_every_backend_switch_needs_a_credential_of_the_workspace_s_own(box, switch, gap):
    own = box.dotenv("own.env", ANTHROPIC_API_KEY=OWN_API_KEY, GEMINI_API_KEY=OWN_API_KEY, **{switch: "true"})
    platform = box.dotenv(
        "global.env",
        GOOGLE_CLOUD_ACCESS_TOKEN=PLATFORM_GCP_TOKEN,
        CLOUDSDK_AUTH_ACCESS_TOKEN=PLATFORM_GCP_TOKEN,
        AZURE_CLIENT_SECRET=PLATFORM_AWS_SECRET,
        AWS_ACCESS_KEY_ID=PLATFORM_AWS_ID,
    )
    result, report = box.check(*BYOK, "--env-file", own, "--global-env-file", platform, "--agent", "generic")
    assert (result.returncode, report["code"]) == (78, "MISSING_BYOK_CREDENTIAL")
    assert f"{switch} turns on the {gap} backend" in report["message"]
    # switched off: no backend, the own API key is enough
    off = box.dotenv("off.env", ANTHROPIC_API_KEY=OWN_API_KEY, **{switch: "0"})
    assert box.check(*BYOK, "--env-file", off, "--global-env-file", platform, "--agent", "generic")[0].returncode == 0


def test_gca_with_a_global_access_token_is_stripped_and_refused(box):
    own = box.dotenv("own.env", GEMINI_API_KEY=OWN_API_KEY, GOOGLE_GENAI_USE_GCA="true")
    platform = box.dotenv("global.env", GOOGLE_CLOUD_ACCESS_TOKEN=PLATFORM_GCP_TOKEN)
    result, report = box.check(*BYOK, "--env-file", own, "--global-env-file", platform, "--agent", "gemini-cli")
    assert (result.returncode, report["code"]) == (78, "MISSING_BYOK_CREDENTIAL")
    assert "GOOGLE_CLOUD_ACCESS_TOKEN (global)" in report["message"]
    assert keys(report)["GOOGLE_CLOUD_ACCESS_TOKEN"]["kind"] == "cloud_identity"
    # the workspace's own token: launches
    mine = box.dotenv("mine.env", GOOGLE_GENAI_USE_GCA="true", GOOGLE_CLOUD_ACCESS_TOKEN=OWN_AWS_SECRET)
    result, report = box.check(*BYOK, "--provider", "gemini", "--env-file", mine, "--agent", "gemini-cli")
    assert (result.returncode, report["usable_credentials"]) == (0, ["GOOGLE_CLOUD_ACCESS_TOKEN"])


def test_metadata_closers_only_outside_platform_managed_and_azure_only_without_own_azure_credentials(box):
    own = box.dotenv("own.env", ANTHROPIC_API_KEY=OWN_API_KEY)
    _, managed = box.child(
        "--billing-mode", "platform_managed", "--env-file", own, env=box.env(AWS_EC2_METADATA_DISABLED="false")
    )
    assert managed["AWS_EC2_METADATA_DISABLED"] == "false"
    assert "METADATA_SERVER_DETECTION" not in managed
    for mode in ("byok", "subscription", "disabled"):
        _, child = box.child("--billing-mode", mode, "--env-file", own)
        assert {k: child.get(k) for k in CLOSED} == CLOSED, mode
    azure = box.dotenv("azure.env", ANTHROPIC_API_KEY=OWN_API_KEY, AZURE_CLIENT_SECRET=OWN_AWS_SECRET)
    _, child = box.child(*BYOK, "--env-file", azure)
    assert "AZURE_TOKEN_CREDENTIALS" not in child  # EnvironmentCredential answers before managed identity
    assert child["AWS_EC2_METADATA_DISABLED"] == "true"


# -- transport, commands, and the blocks that hold them ------------------------------------

TRANSPORT = {
    "HTTPS_PROXY": "http://platform-proxy.invalid:3128",
    "http_proxy": "http://platform-proxy.invalid:3128",
    "ALL_PROXY": "socks5://platform-proxy.invalid:1080",
    "NODE_EXTRA_CA_CERTS": "/etc/platform/mitm-ca.pem",
    "SSL_CERT_FILE": "/etc/platform/mitm-ca.pem",
    "REQUESTS_CA_BUNDLE": "/etc/platform/mitm-ca.pem",
    "CODEX_CA_CERTIFICATE": "/etc/platform/mitm-ca.pem",
    "NODE_TLS_REJECT_UNAUTHORIZED": "0",
    "ANTHROPIC_UNIX_SOCKET": "/run/platform/anthropic.sock",
}


@pytest.mark.parametrize("where", ["global", "inherited"])
def test_transport_not_from_the_workspace_is_stripped_and_shown_with_its_kind(box, where):
    own = box.dotenv("own.env", ANTHROPIC_API_KEY=OWN_API_KEY)
    args = [*BYOK, "--env-file", own]
    env = box.env(NO_PROXY="localhost")
    if where == "global":
        args += ["--global-env-file", box.dotenv("global.env", **TRANSPORT)]
    else:
        env.update(TRANSPORT)
    result, report = box.check(*args, env=env)
    assert result.returncode == 0, report["message"]
    shown = keys(report)
    assert {k: (shown[k]["action"], shown[k]["kind"]) for k in TRANSPORT} == dict.fromkeys(
        TRANSPORT, ("strip", "transport")
    )
    _, child = box.child(*args, env=env)
    assert not set(TRANSPORT) & set(child)
    assert child["NO_PROXY"] == "localhost"  # not gated: it can only send traffic direct


def test_the_workspace_s_own_transport_is_kept(box):
    own = box.dotenv("own.env", ANTHROPIC_API_KEY=OWN_API_KEY, **TRANSPORT)
    result, child = box.child(*BYOK, "--env-file", own, env=box.env(HTTPS_PROXY="http://other.invalid"))
    assert result.returncode == 0
    assert {k: child.get(k) for k in TRANSPORT} == TRANSPORT


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("CLAUDE_CODE_USE_COWORK_PLUGINS", "relocation"),
        ("CODEX_REFRESH_TOKEN_URL_OVERRIDE", "routing"),
        ("CODEX_REVOKE_TOKEN_URL_OVERRIDE", "routing"),
        ("GEMINI_SANDBOX_PROXY_COMMAND", "command"),
        ("GEMINI_CLI_IDE_SERVER_STDIO_COMMAND", "command"),
        ("GEMINI_DEFAULT_AUTH_TYPE", "switch"),
        ("CLAUDE_CODE_USE_GATEWAY", "switch"),
        ("OPENAI_IDENTITY_TOKEN_FILE", "cloud_identity"),
        ("AZURE_CLIENT_SECRET", "cloud_identity"),
        ("IDENTITY_ENDPOINT", "cloud_identity"),
        ("GCE_METADATA_HOST", "cloud_identity"),
        ("CLOUDSDK_AUTH_ACCESS_TOKEN", "cloud_identity"),
        ("GOOGLE_OAUTH_ACCESS_TOKEN", "cloud_identity"),
    ],
)
def test_each_classified_name_is_stripped_when_global_with_its_kind(box, name, kind):
    own = box.dotenv("own.env", ANTHROPIC_API_KEY=OWN_API_KEY)
    platform = box.dotenv("global.env", **{name: PLATFORM_REFRESH_URL})
    result, report = box.check(*BYOK, "--env-file", own, "--global-env-file", platform, "--agent", "generic")
    assert result.returncode == 0, report["message"]
    assert (keys(report)[name]["action"], keys(report)[name]["kind"]) == ("strip", kind)


def test_every_stripped_name_shows_a_kind(box):
    values = {**TRANSPORT, "AWS_ACCESS_KEY_ID": PLATFORM_AWS_ID, "CLAUDE_CODE_OAUTH_TOKEN": PLATFORM_OAUTH}
    own = box.dotenv("own.env", ANTHROPIC_API_KEY=OWN_API_KEY)
    env = box.env(**values, TOKEN_BACKUP=PLATFORM_OAUTH)  # a copy of a stripped value, under another name
    _, report = box.check(*BYOK, "--env-file", own, env=env)
    stripped = [k for k in report["keys"] if k["action"] == "strip"]
    assert {k["key"] for k in stripped} >= {*values, "TOKEN_BACKUP"}
    assert [k["key"] for k in stripped if k["kind"] is None] == []
    assert keys(report)["TOKEN_BACKUP"]["kind"] == "credential"


@pytest.mark.parametrize(
    "env_block",
    [
        {"NODE_EXTRA_CA_CERTS": "/etc/platform/mitm-ca.pem"},
        {"HTTPS_PROXY": "http://platform-proxy.invalid:3128"},
        {"AWS_ACCESS_KEY_ID": PLATFORM_AWS_ID},
        {"ANTHROPIC_UNIX_SOCKET": "/run/platform.sock"},
    ],
    ids=["ca", "proxy", "aws", "socket"],
)
@pytest.mark.parametrize(
    "place",
    [".claude/settings.json", ".claude/cowork_settings.json", "--settings"],
    ids=["user-settings", "cowork-settings", "settings-flag"],
)
def test_settings_env_blocks_are_checked_for_every_kind(box, env_block, place):
    own = box.dotenv("own.env", ANTHROPIC_API_KEY=OWN_API_KEY)
    extra: tuple[str, ...] = ("--agent", "claude-code")
    if place == "--settings":
        extra = ("--", "claude", "--settings", json.dumps({"env": env_block}))
    else:
        box.write(place, {"env": env_block})
    result, report = box.check(*BYOK, "--env-file", own, *extra)
    assert (result.returncode, report["code"]) == (78, "FOREIGN_AGENT_CREDENTIAL")
    assert [f["field"] for f in report["agent_files"]] == [f"env.{next(iter(env_block))}"]


@pytest.mark.parametrize(
    ("relative", "doc", "field"),
    [
        (
            ".claude.json",
            {"mcpServers": {"x": {"env": {"ANTHROPIC_API_KEY": PLATFORM_KEY}}}},
            "mcpServers.x.env.ANTHROPIC_API_KEY",
        ),
        (
            ".claude.json",
            {"projects": {"/w": {"mcpServers": {"x": {"env": {"HTTPS_PROXY": "http://p.invalid"}}}}}},
            "projects./w.mcpServers.x.env.HTTPS_PROXY",
        ),
        (
            "work/.mcp.json",
            {"mcpServers": {"x": {"env": {"OPENAI_API_KEY": PLATFORM_KEY}}}},
            "mcpServers.x.env.OPENAI_API_KEY",
        ),
    ],
    ids=["claude-json", "claude-json-project", "project-mcp-json"],
)
def test_mcp_server_env_blocks_are_checked(box, relative, doc, field):
    base = box.root if relative.startswith("work/") else box.home
    box.write(relative, doc, base=base)
    own = box.dotenv("own.env", ANTHROPIC_API_KEY=OWN_API_KEY)
    result, report = box.check(*BYOK, "--env-file", own, "--agent", "claude-code")
    assert (result.returncode, [f["field"] for f in report["agent_files"]]) == (78, [field])
    # an MCP server's own, non-LLM variables are its business
    box.write(relative, {"mcpServers": {"x": {"env": {"GITHUB_TOKEN": "x", "LOG_LEVEL": "debug"}}}}, base=base)
    assert box.check(*BYOK, "--env-file", own, "--agent", "claude-code")[0].returncode == 0


CODEX_CONFIG = """model_provider = "stub"
[model_providers.stub]
base_url = "http://127.0.0.1:9/v1"
"""


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        (f'query_params = {{ key = "{PLATFORM_KEY}" }}\n', "model_providers.stub.query_params.key"),
        ('gateway_oauth = { device_authorization_url = "http://p.invalid" }\n', "model_providers.stub.gateway_oauth"),
        ('aws = { profile = "platform" }\n', "model_providers.stub.aws"),
    ],
    ids=["query-params", "gateway-oauth", "aws"],
)
def test_codex_provider_fields_are_checked(box, extra, field):
    box.write(".codex/config.toml", CODEX_CONFIG + extra)
    own = box.dotenv("own.env", CODEX_API_KEY=OWN_API_KEY)
    result, report = box.check(*BYOK, "--provider", "codex", "--env-file", own, "--agent", "codex")
    assert (result.returncode, [f["field"] for f in report["agent_files"]]) == (78, [field])


def test_codex_amazon_bedrock_provider_in_the_image_s_config_is_checked(box):
    box.write(".codex/config.toml", 'model_provider = "amazon-bedrock"\n')
    own = box.dotenv("own.env", CODEX_API_KEY=OWN_API_KEY)
    result, report = box.check(*BYOK, "--provider", "codex", "--env-file", own, "--agent", "codex")
    assert (result.returncode, [f["field"] for f in report["agent_files"]]) == (78, ["model_provider"])


@pytest.mark.parametrize(
    "override",
    [
        ["-c", f'model_providers.stub.experimental_bearer_token="{PLATFORM_KEY}"'],
        [f"--config=model_providers.stub.query_params.key={PLATFORM_KEY}"],
        [f'-cmodel_providers.x.http_headers.authorization="Bearer {PLATFORM_KEY}"'],
        ["--config", "model_providers.x.auth.command=/opt/platform/token"],
    ],
    ids=["bearer", "query-params", "attached-header", "auth-command"],
)
def test_codex_config_overrides_on_its_command_line_refuse(box, override):
    own = box.dotenv("own.env", CODEX_API_KEY=OWN_API_KEY)
    args = (*BYOK, "--provider", "codex", "--env-file", own, "--", "codex", "exec", *override, "hi")
    result, report = box.check(*args)
    assert (result.returncode, report["code"]) == (78, "FOREIGN_AGENT_CREDENTIAL")
    assert {f["path"] for f in report["agent_files"]} <= {"(command line -c)", "(command line --config)"}
    # an override that holds nothing of the kind passes
    harmless = (*BYOK, "--provider", "codex", "--env-file", own, "--agent", "codex", "--", "sh", "-c", 'model="gpt-5"')
    assert box.check(*harmless)[1]["agent_files"] == []
