"""Every kind of key the gate judges (``catalogue.py``: credential, routing,
switch, relocation, cloud identity, transport, command), through the
installed command in local mode: each one stripped outside platform_managed
unless it is the workspace's own, and shown with its kind; none but a
credential counts as one; a cloud switch that survives needs a credential
of the workspace's own for its backend, and each SDK's metadata fallback is
closed (issue 18). Every variable the issue names is gated like an LLM key
(issue 8).

Every case runs the installed launcher as a subprocess, with a fresh HOME
and working directory (``box``), and greps all of its output for the fake
secrets (all carry the marker).
"""

from __future__ import annotations

import pytest
from support import (
    MARKER,
    OWN_API_KEY,
    PLATFORM_AWS_ID,
    PLATFORM_AWS_SECRET,
    PLATFORM_KEY,
    PLATFORM_OAUTH,
    by_key,
)

OWN_AWS_ID = f"AKIA{MARKER}OWNKEY01"
OWN_AWS_SECRET = f"own-aws-secret-{MARKER}-18cc03"
PLATFORM_GCP_TOKEN = f"ya29.platform-{MARKER}-18dd04"
PLATFORM_CONTAINER_TOKEN = f"container-token-{MARKER}-18ee05"
PLATFORM_REFRESH_URL = "http://platform-refresh.invalid/oauth/token"
BYOK = ("--billing-mode", "byok")
CLOSED = {"AWS_EC2_METADATA_DISABLED": "true", "METADATA_SERVER_DETECTION": "none", "AZURE_TOKEN_CREDENTIALS": "dev"}


# -- LLM keys of every kind, in the environment ----------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "GOOGLE_API_KEY",
        "AWS_BEARER_TOKEN_BEDROCK",
        "CLAUDE_CODE_USE_BEDROCK",
        "ANTHROPIC_CUSTOM_HEADERS",
        "CODEX_API_KEY",
        "CODEX_ACCESS_TOKEN",
        "AZURE_OPENAI_API_KEY",
        "MISTRAL_API_KEY",
        "GROQ_API_KEY",
        "ANTHROPIC_FOUNDRY_API_KEY",
        "CLAUDE_CODE_OAUTH_REFRESH_TOKEN",
        "ANTHROPIC_BASE_URL",
        "GOOGLE_GEMINI_BASE_URL",
        "ANTHROPIC_BEDROCK_BASE_URL",
        "ANTHROPIC_VERTEX_BASE_URL",
        "GEMINI_CLI_CUSTOM_HEADERS",
        "GOOGLE_GENAI_USE_VERTEXAI",
        "GOOGLE_GENAI_USE_GCA",
        "CLAUDE_CONFIG_DIR",
        "CLAUDE_SECURESTORAGE_CONFIG_DIR",
        "ANTHROPIC_CONFIG_DIR",
        "CODEX_HOME",
        "GEMINI_CLI_HOME",
        "GEMINI_CLI_SYSTEM_SETTINGS_PATH",
        "CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR",
        "anthropic_custom_headers",
    ],
)
def test_every_variable_the_issue_names_is_gated_like_a_bypass_key(box, name):
    value = f"x-api-key: {PLATFORM_KEY}"
    own = box.own_env_file(ANTHROPIC_API_KEY=OWN_API_KEY)
    args = ("--billing-mode", "byok", "--env-file", own, "--agent", "generic")
    _, child = box.child(*args, env=box.env(**{name: value}))
    assert name not in child and PLATFORM_KEY not in "".join(child.values())
    _, managed = box.child("--billing-mode", "platform_managed", env=box.env(**{name: value}))
    assert managed.get(name) == value
    # The workspace's own copy survives (a cloud switch with the workspace's
    # own credential for its backend, issue 18).
    backend_own = {
        "CLAUDE_CODE_USE_BEDROCK": {"AWS_BEARER_TOKEN_BEDROCK": OWN_API_KEY},
        "GOOGLE_GENAI_USE_VERTEXAI": {"GOOGLE_API_KEY": OWN_API_KEY},
        "GOOGLE_GENAI_USE_GCA": {"GOOGLE_CLOUD_ACCESS_TOKEN": OWN_API_KEY},
    }.get(name.strip(), {})
    ws = box.own_env_file(ANTHROPIC_API_KEY=OWN_API_KEY, **{name.strip(): "1"}, **backend_own)
    _, own_child = box.child("--billing-mode", "byok", "--env-file", ws, "--agent", "generic", env=box.env())
    assert own_child.get(name.strip()) == "1"


def test_a_global_base_url_never_completes_anthropic_compatible(box):
    own = box.own_env_file(ANTHROPIC_AUTH_TOKEN=OWN_API_KEY)
    env = box.env(ANTHROPIC_BASE_URL="https://platform-proxy.invalid")
    result, report = box.check(
        "--billing-mode", "byok", "--provider", "anthropic-compatible", "--env-file", own, env=env
    )
    assert (result.returncode, report["code"]) == (78, "MISSING_BYOK_CREDENTIAL")
    assert "ANTHROPIC_BASE_URL (inherited)" in report["message"]


def test_routing_switch_and_relocation_never_count_as_a_credential(box):
    own = box.own_env_file(
        ANTHROPIC_BASE_URL="http://127.0.0.1:9", CLAUDE_CODE_USE_BEDROCK="1", CLAUDE_CONFIG_DIR=str(box.root / "none")
    )
    result, report = box.check("--billing-mode", "byok", "--env-file", own)
    assert (result.returncode, report["usable_credentials"]) == (78, [])
    kinds = {k["key"]: (k["kind"], k["llm_key"], k["llm_bypass"]) for k in report["keys"]}
    assert kinds["ANTHROPIC_BASE_URL"] == ("routing", True, True)
    assert kinds["CLAUDE_CODE_USE_BEDROCK"] == ("switch", True, True)
    assert kinds["CLAUDE_CONFIG_DIR"] == ("relocation", True, True)


@pytest.mark.parametrize(
    ("provider", "key"), [("codex", "CODEX_API_KEY"), ("gemini", "GOOGLE_API_KEY"), ("gemini", "GEMINI_API_KEY")]
)
def test_codex_and_gemini_providers(box, provider, key):
    own = box.own_env_file(**{key: OWN_API_KEY})
    _, report = box.check("--billing-mode", "byok", "--provider", provider, "--env-file", own)
    assert report["usable_credentials"] == [key]


# -- ambient cloud identities ---------------------------------------------------


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
    shown = by_key(report)
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
    closed = by_key(report)["AWS_EC2_METADATA_DISABLED"]
    assert (closed["scope"], closed["source"], closed["kind"]) == (
        "launcher",
        "launcher: closes the metadata fallback",
        "cloud_identity",
    )
    result, child = box.child(*BYOK, "--provider", "claude-code", "--env-file", own, env=env)
    assert result.returncode == 0
    assert child["AWS_ACCESS_KEY_ID"] == OWN_AWS_ID  # the workspace's, not the inherited one
    assert {k: child.get(k) for k in CLOSED} == CLOSED


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
    assert by_key(report)["GOOGLE_CLOUD_ACCESS_TOKEN"]["kind"] == "cloud_identity"
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


# -- transport, commands, and the other kinds ------------------------------------------------


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
    shown = by_key(report)
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
    assert (by_key(report)[name]["action"], by_key(report)[name]["kind"]) == ("strip", kind)


def test_every_stripped_name_shows_a_kind(box):
    values = {**TRANSPORT, "AWS_ACCESS_KEY_ID": PLATFORM_AWS_ID, "CLAUDE_CODE_OAUTH_TOKEN": PLATFORM_OAUTH}
    own = box.dotenv("own.env", ANTHROPIC_API_KEY=OWN_API_KEY)
    env = box.env(**values, TOKEN_BACKUP=PLATFORM_OAUTH)  # a copy of a stripped value, under another name
    _, report = box.check(*BYOK, "--env-file", own, env=env)
    stripped = [k for k in report["keys"] if k["action"] == "strip"]
    assert {k["key"] for k in stripped} >= {*values, "TOKEN_BACKUP"}
    assert [k["key"] for k in stripped if k["kind"] is None] == []
    assert by_key(report)["TOKEN_BACKUP"]["kind"] == "credential"
