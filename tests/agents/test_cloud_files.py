"""The cloud SDKs' credential files that both claude-code's and codex's or
gemini-cli's profiles read: Google application default credentials (the
file ``GOOGLE_APPLICATION_CREDENTIALS`` names, else gcloud's well-known
file) and the AWS shared credentials and config files. An image's file
refuses byok until declared ``--own-agent-file``; an inherited variable
naming the platform's file is stripped, and the file with it. (Issue 18.)
"""

from __future__ import annotations

import json

import pytest
from support import (
    FILE_KEY,
    FILE_TOKEN,
    OWN_API_KEY,
    PLATFORM_AWS_ID,
    PLATFORM_AWS_SECRET,
    expect_secret,
    scan_files,
    scanned_fields,
    write_file,
)

BYOK = ("--billing-mode", "byok")
SERVICE_ACCOUNT = json.dumps({"type": "service_account", "client_email": "sa@p.iam", "private_key": FILE_TOKEN})
ADC = ".config/gcloud/application_default_credentials.json"


# -- Google application default credentials -------------------------------------------------------


@pytest.mark.parametrize("agent", ["gemini-cli", "claude-code"])
def test_google_application_default_credentials_are_an_agent_file(tmp_path, agent):
    """google-auth's order in both bundles: the file GOOGLE_APPLICATION_CREDENTIALS
    names, else the gcloud well-known file under $HOME (Vertex AI modes)."""
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    write_file(home / ADC, json.dumps({"type": "authorized_user", "client_id": "c", "refresh_token": FILE_TOKEN}))
    named = write_file(tmp_path / "sa.json", SERVICE_ACCOUNT)
    quiet = {"HOME": str(home), "GEMINI_CLI_SYSTEM_SETTINGS_PATH": "/nonexistent", "CLAUDE_CONFIG_DIR": str(work)}
    assert scanned_fields(scan_files(agent, quiet, work), tmp_path) == [(f"home/{ADC}", "refresh_token")]
    env = {**quiet, "GOOGLE_APPLICATION_CREDENTIALS": str(named)}
    assert scanned_fields(scan_files(agent, env, work), tmp_path) == [("sa.json", "private_key")]
    assert scan_files(agent, env, work, own=(named,))[0].verdict == "own"


def test_an_image_s_google_adc_file_refuses_byok_until_declared_own(box):
    box.write(ADC, SERVICE_ACCOUNT)
    own = box.own_env_file(GEMINI_API_KEY=FILE_KEY)
    args = ("--billing-mode", "byok", "--provider", "gemini", "--agent", "gemini-cli", "--env-file", own)
    result, _ = box.child(*args)
    assert result.returncode == 78, result
    assert "FOREIGN_AGENT_CREDENTIAL" in result.stderr and f"{ADC}: private_key" in result.stderr
    declared, _ = box.child(*args, "--own-agent-file", str(box.home / ADC))
    assert declared.returncode == 0, declared


def test_an_inherited_google_application_credentials_is_stripped_in_byok(box):
    """The platform's service account, named by a variable the image set, is
    no credential of the workspace's: the variable goes, and with it the file
    the agent would have read."""
    platform_sa = write_file(box.root / "platform-sa.json", SERVICE_ACCOUNT)
    own = box.own_env_file(GEMINI_API_KEY=FILE_KEY)
    args = ("--billing-mode", "byok", "--provider", "gemini", "--agent", "gemini-cli", "--env-file", own)
    result, child = box.child(*args, env=box.env(GOOGLE_APPLICATION_CREDENTIALS=str(platform_sa)))
    assert result.returncode == 0, result
    assert "GOOGLE_APPLICATION_CREDENTIALS" not in child
    expect_secret(child, "GEMINI_API_KEY", FILE_KEY)


# -- the AWS shared files ----------------------------------------------------------------------


def test_the_image_s_aws_credentials_file_refuses_unless_declared_own(box):
    creds = box.write(
        ".aws/credentials",
        f"[default]\naws_access_key_id = {PLATFORM_AWS_ID}\naws_secret_access_key = {PLATFORM_AWS_SECRET}\n",
    )
    own = box.own_env_file(ANTHROPIC_API_KEY=OWN_API_KEY, CLAUDE_CODE_USE_BEDROCK="1")
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
    own = box.own_env_file(ANTHROPIC_API_KEY=OWN_API_KEY)
    result, report = box.check(*BYOK, "--env-file", own, "--agent", "claude-code")
    assert [(f["field"], f["helper"]) for f in report["agent_files"]] == [("profile platform.credential_process", True)]
    box.write(".aws/config", "[default]\nregion = us-east-1\n")  # settings only: nothing to refuse
    assert box.check(*BYOK, "--env-file", own, "--agent", "claude-code")[0].returncode == 0
    box.write(".aws/credentials", "aws_access_key_id = no section\n")
    result, report = box.check(*BYOK, "--env-file", own, "--agent", "claude-code")
    assert (result.returncode, report["agent_files"][0]["problem"]) == (78, "not valid INI")
