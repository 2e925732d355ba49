"""codex's agent files (its profile, ``data/agents/codex.json``): auth.json in
both its forms, ``CODEX_HOME`` relocating auth.json, .env and config.toml,
the credentials a config.toml provider holds (a bearer token, headers, a
variable it names, a helper command), the system and managed config under
/etc/codex, and the same fields as ``-c``/``--config`` overrides on its
command line. (Issues 9 and 18; CODEX_AUTH_JSON: test_codex_auth_json.py.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import (
    FILE_KEY,
    FILE_TOKEN,
    MARKER,
    OWN_API_KEY,
    PLATFORM_KEY,
    agent_files,
    in_private_overlay,
    scan_files,
    scanned_fields,
    write_file,
)

from launcher.agents.profiles import profile
from launcher.values import fingerprint

BYOK = ("--billing-mode", "byok")


def test_codex_auth_json_both_forms(tmp_path):
    home = tmp_path / "home"
    auth = write_file(home / ".codex/auth.json", json.dumps({"auth_mode": "apikey", "OPENAI_API_KEY": FILE_KEY}))
    found = scan_files("codex", {"HOME": str(home)}, tmp_path)
    assert scanned_fields(found, tmp_path) == [("home/.codex/auth.json", "OPENAI_API_KEY")]
    assert found[0].fingerprint == fingerprint(FILE_KEY) and found[0].verdict == "foreign"
    assert MARKER not in repr(found)

    tokens = {"id_token": "i", "access_token": FILE_TOKEN, "refresh_token": "r", "account_id": "acct"}
    auth.write_text(json.dumps({"OPENAI_API_KEY": None, "tokens": tokens}))
    assert [f.field for f in scan_files("codex", {"HOME": str(home)}, tmp_path)] == [
        "tokens.access_token",
        "tokens.refresh_token",
        "tokens.id_token",
    ]
    # Declared the workspace's own, it stands for CODEX_AUTH_JSON.
    own = scan_files("codex", {"HOME": str(home)}, tmp_path, own=(auth,))
    assert {(f.verdict, f.counts_as) for f in own} == {("own", "CODEX_AUTH_JSON")}


def test_codex_home_relocates_auth_env_and_config(tmp_path):
    home, moved = tmp_path / "home", tmp_path / "moved"
    write_file(home / ".codex/auth.json", json.dumps({"OPENAI_API_KEY": FILE_KEY}))
    write_file(moved / ".env", f"OPENAI_API_KEY={FILE_KEY}\nRUST_LOG=debug\nCODEX_API_KEY={FILE_TOKEN}\n")
    found = scan_files("codex", {"HOME": str(home), "CODEX_HOME": str(moved)}, tmp_path)
    assert scanned_fields(found, tmp_path) == [("moved/.env", "OPENAI_API_KEY"), ("moved/.env", "CODEX_API_KEY")]


def test_codex_config_toml_provider_credentials(tmp_path):
    home = tmp_path / "home"
    write_file(
        home / ".codex/config.toml",
        f"""
model_provider = "corp"
[model_providers.corp]
base_url = "http://127.0.0.1:1/v1"
experimental_bearer_token = "{FILE_KEY}"
http_headers = {{ "Authorization" = "Bearer {FILE_TOKEN}" }}
env_http_headers = {{ "X-Api-Key" = "CORP_KEY", "X-Trace" = "UNSET_VAR" }}
[model_providers.gated]
env_key = "OPENAI_API_KEY"
[model_providers.helper]
auth = {{ command = "/usr/local/bin/print-key", args = ["--raw"] }}
[model_providers.ungated]
env_key = "OTHER_LLM_KEY"
""",
    )
    env = {"HOME": str(home), "CORP_KEY": FILE_TOKEN, "OTHER_LLM_KEY": FILE_KEY, "OPENAI_API_KEY": FILE_KEY}
    found = scan_files("codex", env, tmp_path)
    assert [(f.field, f.helper) for f in found] == [
        ("model_providers.corp.experimental_bearer_token", False),
        ("model_providers.corp.http_headers.Authorization", False),
        ("model_providers.corp.env_http_headers.X-Api-Key (CORP_KEY)", False),
        ("model_providers.ungated.env_key (OTHER_LLM_KEY)", False),
        ("model_providers.helper.auth.command", True),
    ]
    # The variable's value is what is fingerprinted; a catalogued variable
    # (OPENAI_API_KEY) is the gate's, and an unset one is nothing.
    assert found[2].fingerprint == fingerprint(FILE_TOKEN)
    del env["OTHER_LLM_KEY"]
    assert "model_providers.ungated.env_key (OTHER_LLM_KEY)" not in [
        f.field for f in scan_files("codex", env, tmp_path)
    ]


def test_codex_config_toml_invalid_is_unreadable(tmp_path):
    write_file(tmp_path / "home/.codex/config.toml", "[model_providers.x\n")
    (found,) = scan_files("codex", {"HOME": str(tmp_path / "home")}, tmp_path)
    assert (found.field, found.problem) == (None, "not valid TOML")


def test_codex_system_config_files_are_in_the_profile():
    paths = [p for entry in profile("codex").files for p in entry.paths]
    assert "/etc/codex/config.toml" in paths and "/etc/codex/managed_config.toml" in paths


def test_codex_system_and_managed_config_in_a_private_mount_namespace(box):
    """/etc/codex is absolute: written in an overlay only this namespace sees,
    and read by the launcher as codex would read it."""
    overlay = in_private_overlay(
        box.root,
        ["/etc"],
        "mkdir -p /etc/codex",
        f"printf '[model_providers.p]\\nexperimental_bearer_token = \"{FILE_TOKEN}\"\\n' > /etc/codex/config.toml",
        "printf '[model_providers.q]\\nauth.command = \"fetch-key\"\\n' > /etc/codex/managed_config.toml",
    )
    own = box.own_env_file(CODEX_API_KEY=FILE_KEY)
    args = ("--billing-mode", "byok", "--provider", "codex", "--agent", "codex", "--env-file", own)
    result, report = box.check(*args, prefix=overlay)
    assert result.returncode == 78, result
    assert agent_files(report) == [
        ("/etc/codex/config.toml", "model_providers.p.experimental_bearer_token", "foreign"),
        ("/etc/codex/managed_config.toml", "model_providers.q.auth.command", "foreign"),
    ]
    assert not Path("/etc/codex/config.toml").exists(), "the overlay leaked out of its namespace"


# -- provider fields, in config.toml and on the command line (issue 18) -------------------------


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
    own = box.own_env_file(CODEX_API_KEY=OWN_API_KEY)
    result, report = box.check(*BYOK, "--provider", "codex", "--env-file", own, "--agent", "codex")
    assert (result.returncode, [f["field"] for f in report["agent_files"]]) == (78, [field])


def test_codex_amazon_bedrock_provider_in_the_image_s_config_is_checked(box):
    box.write(".codex/config.toml", 'model_provider = "amazon-bedrock"\n')
    own = box.own_env_file(CODEX_API_KEY=OWN_API_KEY)
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
    own = box.own_env_file(CODEX_API_KEY=OWN_API_KEY)
    args = (*BYOK, "--provider", "codex", "--env-file", own, "--", "codex", "exec", *override, "hi")
    result, report = box.check(*args)
    assert (result.returncode, report["code"]) == (78, "FOREIGN_AGENT_CREDENTIAL")
    assert {f["path"] for f in report["agent_files"]} <= {"(command line -c)", "(command line --config)"}
    # an override that holds nothing of the kind passes
    harmless = (*BYOK, "--provider", "codex", "--env-file", own, "--agent", "codex", "--", "sh", "-c", 'model="gpt-5"')
    assert box.check(*harmless)[1]["agent_files"] == []
