"""Issue 8: the files an agent reads credentials from, the credential
catalogue, and (issue 10) the launcher's token under any name.

Every case runs the installed launcher as a subprocess, with a fresh HOME
and working directory under ``tmp_path``, and greps all of its output for
the fake secrets. The agent files hold values that carry the marker too.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from support import (
    MARKER,
    OWN_API_KEY,
    OWN_OAUTH,
    PLATFORM_OAUTH,
    REPO,
    WORKSPACE_TOKEN,
    Box,
    Result,
    assert_no_secret,
    child_env_dump,
    launcher_path,
    parse_env_dump,
    platform_args,
    require_unshare,
    unavailable,
)

from launcher.agents.paths import candidates
from launcher.agents.profiles import FileEntry, Format, Pick, agent_for_executable, profile
from launcher.agents.scan import OwnFiles, scan
from launcher.catalogue import load_catalogue

PLATFORM_KEY = f"sk-ant-api03-platform-{MARKER}-9e1f00"
FILE_SECRETS = (PLATFORM_KEY, PLATFORM_OAUTH, OWN_API_KEY, OWN_OAUTH, WORKSPACE_TOKEN)


@pytest.fixture
def box(tmp_path: Path) -> Box:
    return Box(tmp_path, FILE_SECRETS)


def _marker_command(path: Path) -> list[str]:
    """A child that proves it ran by creating ``path``."""
    return [sys.executable, "-c", f"open({str(path)!r}, 'w').close()"]


def _files(report: dict) -> list[tuple[str, str | None, str]]:
    return [(f["path"], f["field"], f["verdict"]) for f in report["agent_files"]]


# -- the refusal --------------------------------------------------------------


@pytest.mark.parametrize("mode", ["byok", "subscription", "disabled"])
def test_a_platform_key_in_user_settings_refuses_every_non_platform_mode(box, mode):
    settings = box.write(".claude/settings.json", {"env": {"ANTHROPIC_API_KEY": PLATFORM_KEY, "EDITOR": "vi"}})
    own = box.own_env_file(ANTHROPIC_API_KEY=OWN_API_KEY)
    ran = box.root / "ran"
    result = box.run(
        "exec", "--billing-mode", mode, "--env-file", own, "--agent", "claude-code", "--", *_marker_command(ran)
    )
    assert result.returncode == 78, result
    assert "FOREIGN_AGENT_CREDENTIAL" in result.stderr
    assert f"{settings}: env.ANTHROPIC_API_KEY" in result.stderr
    assert "--own-agent-file" in result.stderr and "EDITOR" not in result.stderr
    assert not ran.exists(), "the child ran"


def test_platform_managed_reports_but_launches(box):
    settings = box.write(".claude/settings.json", {"env": {"ANTHROPIC_API_KEY": PLATFORM_KEY}})
    result, report = box.check("--billing-mode", "platform_managed")
    assert (result.returncode, report["decision"], report["agent"]) == (0, "launch", "claude-code")
    assert _files(report) == [(str(settings), "env.ANTHROPIC_API_KEY", "foreign")]
    assert report["agent_files"][0]["fingerprint"] == _fp(PLATFORM_KEY)
    ran = box.root / "ran"
    verbose = box.run("exec", "-vv", "--agent", "claude-code", "--", *_marker_command(ran))
    assert verbose.returncode == 0 and ran.exists()
    assert f"foreign agent file {settings}: env.ANTHROPIC_API_KEY [{_fp(PLATFORM_KEY)}]" in verbose.stderr


def _fp(value: str) -> str:
    from launcher.values import fingerprint

    return fingerprint(value)


def test_check_exits_as_exec_and_the_table_lists_the_file(box):
    box.write(".claude.json", {"primaryApiKey": PLATFORM_KEY, "numStartups": 3})
    table = box.run("check", "--billing-mode", "byok")
    assert table.returncode == 78
    assert "AGENT FILE" in table.stdout and "primaryApiKey" in table.stdout and "foreign" in table.stdout
    assert box.run("exec", "--billing-mode", "byok", "--", "claude").returncode == 78


# -- every channel of the claude-code profile ---------------------------------

CHANNELS = [
    pytest.param(".claude/settings.json", {"apiKeyHelper": "/bin/false"}, "apiKeyHelper", id="apiKeyHelper"),
    pytest.param(".claude/settings.json", {"awsCredentialExport": "x"}, "awsCredentialExport", id="aws-export"),
    pytest.param(
        ".claude/settings.json",
        {"env": {"ANTHROPIC_CUSTOM_HEADERS": f"x-api-key: {PLATFORM_KEY}"}},
        "env.ANTHROPIC_CUSTOM_HEADERS",
        id="custom-headers",
    ),
    pytest.param(
        ".claude/settings.json",
        {"env": {"anthropic_base_url": "http://127.0.0.1:9"}},
        "env.anthropic_base_url",
        id="base-url-any-case",
    ),
    pytest.param(
        ".claude/.credentials.json",
        {"claudeAiOauth": {"accessToken": PLATFORM_OAUTH, "expiresAt": 1}},
        "claudeAiOauth.accessToken",
        id="oauth-login",
    ),
    pytest.param(".claude.json", {"primaryApiKey": PLATFORM_KEY}, "primaryApiKey", id="primaryApiKey"),
    pytest.param(
        ".config/anthropic/credentials/default.json",
        {"access_token": PLATFORM_OAUTH},
        "content",
        id="anthropic-profile",
    ),
]


@pytest.mark.parametrize(("relative", "content", "field"), CHANNELS)
def test_each_home_channel_is_found(box, relative, content, field):
    path = box.write(relative, content)
    result, report = box.check("--billing-mode", "byok", "--env-file", box.own_env_file(ANTHROPIC_API_KEY=OWN_API_KEY))
    assert (result.returncode, report["code"]) == (78, "FOREIGN_AGENT_CREDENTIAL")
    assert _files(report) == [(str(path), field, "foreign")]


@pytest.mark.parametrize("name", ["settings.json", "settings.local.json"])
def test_project_settings_in_the_working_directory(box, name):
    path = box.write(f".claude/{name}", {"env": {"CLAUDE_CODE_OAUTH_TOKEN": PLATFORM_OAUTH}}, base=box.work)
    _result, report = box.check("--billing-mode", "subscription")
    assert report["code"] == "FOREIGN_AGENT_CREDENTIAL"
    assert _files(report) == [(str(path), "env.CLAUDE_CODE_OAUTH_TOKEN", "foreign")]


def test_a_helper_is_never_run(box):
    marker = box.root / "helper-ran"
    helper = box.root / "helper.sh"
    helper.write_text(f"#!/bin/sh\ntouch {marker}\necho {PLATFORM_KEY}\n")
    helper.chmod(0o755)
    box.write(".claude/settings.json", {"apiKeyHelper": str(helper)}, base=box.work)
    for mode in ("byok", "platform_managed"):
        box.check("--billing-mode", mode)
    assert not marker.exists()


def test_managed_settings_and_remote_keys_in_a_private_mount_namespace(box):
    """/etc/claude-code and /home/claude are absolute: written in an overlay
    that only this namespace sees."""
    require_unshare("-m")
    script = box.root / "ns.sh"
    script.write_text(
        "set -e\n"
        f"mount -t tmpfs t {box.root}/ov\n"
        "for d in etc home; do mkdir -p " + f"{box.root}/ov/$d/u {box.root}/ov/$d/w; "
        f"mount -t overlay o -o lowerdir=/$d,upperdir={box.root}/ov/$d/u,workdir={box.root}/ov/$d/w /$d; done\n"
        "mkdir -p /etc/claude-code/managed-settings.d /home/claude/.claude/remote\n"
        f'printf \'{{"env": {{"CLAUDE_CODE_USE_BEDROCK": "1"}}}}\' > /etc/claude-code/managed-settings.json\n'
        f'printf \'{{"apiKeyHelper": "x"}}\' > /etc/claude-code/managed-settings.d/10-helper.json\n'
        f"printf '{PLATFORM_KEY}\\n' > /home/claude/.claude/remote/.api_key\n"
        ": > /home/claude/.claude/remote/.oauth_token\n"  # empty: holds nothing
        'exec "$@"\n'
    )
    (box.root / "ov").mkdir()
    result, report = box.check(
        "--billing-mode", "byok", prefix=("unshare", "-m", "--propagation", "private", "sh", str(script))
    )
    assert report["code"] == "FOREIGN_AGENT_CREDENTIAL", result
    assert _files(report) == [
        ("/etc/claude-code/managed-settings.json", "env.CLAUDE_CODE_USE_BEDROCK", "foreign"),
        ("/etc/claude-code/managed-settings.d/10-helper.json", "apiKeyHelper", "foreign"),
        ("/home/claude/.claude/remote/.api_key", "content", "foreign"),
    ]
    assert not Path("/etc/claude-code/managed-settings.json").exists(), "the overlay leaked out of its namespace"


def test_with_user_the_files_under_the_agent_s_own_home_are_read(box):
    """--user gives the agent the user's HOME: its files are the ones that
    count, not those under the root launcher's HOME. The user comes from an
    /etc/passwd entry written in an overlay only this namespace sees."""
    require_unshare("-m")
    agent_home = box.root / "agenthome"
    box.write(".claude/settings.json", {"env": {"ANTHROPIC_API_KEY": PLATFORM_KEY}}, base=agent_home)
    script = box.root / "ns.sh"
    script.write_text(
        "set -e\n"
        f"mount -t tmpfs t {box.root}/ov\n"
        f"mkdir -p {box.root}/ov/u {box.root}/ov/w\n"
        f"mount -t overlay o -o lowerdir=/etc,upperdir={box.root}/ov/u,workdir={box.root}/ov/w /etc\n"
        f"echo 'agentu:x:10001:10001::{agent_home}:/bin/sh' >> /etc/passwd\n"
        "echo 'agentu:x:10001:' >> /etc/group\n"
        'exec "$@"\n'
    )
    (box.root / "ov").mkdir()
    own = box.own_env_file(ANTHROPIC_API_KEY=OWN_API_KEY)
    result, report = box.check(
        "--billing-mode", "byok", "--env-file", own, "--user", "agentu", "--agent", "claude-code",
        prefix=("unshare", "-m", "--propagation", "private", "sh", str(script)),
    )  # fmt: skip
    assert result.returncode == 78, result
    assert report["code"] == "FOREIGN_AGENT_CREDENTIAL"
    assert _files(report) == [(f"{agent_home}/.claude/settings.json", "env.ANTHROPIC_API_KEY", "foreign")]


# -- relocation happens in the child's final environment ----------------------


def test_a_stripped_claude_config_dir_relocates_nothing(box):
    elsewhere = box.root / "platform-config"
    box.write("settings.json", {"env": {"ANTHROPIC_API_KEY": PLATFORM_KEY}}, base=elsewhere)
    home_settings = box.write(".claude/settings.json", {"apiKeyHelper": "x"})
    env = box.env(CLAUDE_CONFIG_DIR=str(elsewhere))  # inherited: stripped in byok
    _, report = box.check("--billing-mode", "byok", env=env)
    assert _files(report) == [(str(home_settings), "apiKeyHelper", "foreign")]
    keys = {k["key"]: k for k in report["keys"]}
    assert (keys["CLAUDE_CONFIG_DIR"]["action"], keys["CLAUDE_CONFIG_DIR"]["kind"]) == ("strip", "relocation")
    # platform_managed keeps it, and then it does relocate.
    _, managed = box.check("--billing-mode", "platform_managed", env=env)
    assert _files(managed) == [(str(elsewhere / "settings.json"), "env.ANTHROPIC_API_KEY", "foreign")]


def test_the_workspace_s_own_config_dir_relocates(box):
    own_dir = box.root / "own-config"
    creds = box.write(".credentials.json", {"claudeAiOauth": {"accessToken": OWN_OAUTH}}, base=own_dir)
    box.write(".claude/.credentials.json", {"claudeAiOauth": {"accessToken": PLATFORM_OAUTH}})  # now hidden
    env_file = box.own_env_file(CLAUDE_CONFIG_DIR=str(own_dir))
    result, report = box.check("--billing-mode", "subscription", "--env-file", env_file, "--own-agent-file", str(creds))
    assert (result.returncode, report["decision"]) == (0, "launch"), result
    assert _files(report) == [(str(creds), "claudeAiOauth.accessToken", "own")]
    assert report["usable_credentials"] == ["CLAUDE_CODE_OAUTH_TOKEN"]


def test_securestorage_dir_moves_only_the_credentials(box):
    secure = box.root / "secure"
    creds = box.write(".credentials.json", {"claudeAiOauth": {"refreshToken": PLATFORM_OAUTH}}, base=secure)
    settings = box.write(".claude/settings.json", {"apiKeyHelper": "x"})
    env_file = box.own_env_file(CLAUDE_SECURESTORAGE_CONFIG_DIR=str(secure), ANTHROPIC_API_KEY=OWN_API_KEY)
    _, report = box.check("--billing-mode", "byok", "--env-file", env_file)
    assert sorted(_files(report)) == sorted(
        [
            (str(settings), "apiKeyHelper", "foreign"),
            (str(creds), "claudeAiOauth.refreshToken", "foreign"),
        ]
    )


# -- --own-agent-file ---------------------------------------------------------


def test_own_agent_file_is_a_usable_credential_in_subscription(box):
    creds = box.write(".claude/.credentials.json", {"claudeAiOauth": {"accessToken": OWN_OAUTH}})
    _refused, report = box.check("--billing-mode", "subscription")
    assert report["code"] == "FOREIGN_AGENT_CREDENTIAL"
    # Declared by another spelling of the path (a symlink): same file.
    link = box.root / "link.json"
    link.symlink_to(creds)
    ran = box.root / "ran"
    result = box.run(
        "exec",
        "--billing-mode",
        "subscription",
        "--agent",
        "claude-code",
        "--own-agent-file",
        str(link),
        "--",
        *_marker_command(ran),
    )
    assert result.returncode == 0 and ran.exists(), result
    assert "--own-agent-file" not in result.stderr  # no warning: the file is read and vouched for
    _, report = box.check("--billing-mode", "subscription", "--own-agent-file", str(link))
    assert report["usable_credentials"] == ["CLAUDE_CODE_OAUTH_TOKEN"]
    assert report["agent_files"][0]["counts_as"] == "CLAUDE_CODE_OAUTH_TOKEN"


def test_an_own_agent_file_the_agent_does_not_read_draws_a_warning(box):
    stray = box.write("elsewhere/credentials.json", {"claudeAiOauth": {"accessToken": OWN_OAUTH}})
    result, report = box.check("--billing-mode", "subscription", "--own-agent-file", str(stray))
    assert (result.returncode, report["agent_files"]) == (78, [])
    assert f"--own-agent-file {stray}: no credential of it is among the files claude-code reads" in result.stderr


def test_own_agent_file_settings_env_completes_anthropic_compatible(box):
    settings = box.write(
        ".claude/settings.json",
        {"env": {"ANTHROPIC_BASE_URL": "http://127.0.0.1:9", "ANTHROPIC_AUTH_TOKEN": OWN_API_KEY}},
    )
    _, report = box.check(
        "--billing-mode", "byok", "--provider", "anthropic-compatible", "--own-agent-file", str(settings)
    )
    assert (report["decision"], report["usable_credentials"]) == ("launch", ["ANTHROPIC_AUTH_TOKEN"])


@pytest.mark.parametrize("bad", ["missing", "fifo", "directory"])
def test_own_agent_file_must_be_a_regular_file(box, bad):
    path = box.root / "own.json"
    if bad == "fifo":
        os.mkfifo(path)
    elif bad == "directory":
        path.mkdir()
    result = box.run("check", "--own-agent-file", str(path), timeout=10)
    assert (result.returncode, "CONFIG_INVALID" in result.stderr) == (64, True), result


# -- files that cannot be read ------------------------------------------------


def _make(path: Path, kind: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
        return "not a regular file"
    if kind == "directory":
        path.mkdir()
        return "not a regular file (a directory)"
    if kind == "bad-json":
        path.write_text('{"env": {"ANTHROPIC_API_KEY": "' + PLATFORM_KEY)
        return "not valid JSON"
    if kind == "huge":
        path.write_text('{"x": "' + "a" * (1024 * 1024) + '"}')
        return "over the 1048576-byte limit"
    if kind == "binary":
        path.write_bytes(b'{"x": "\xff"}')
        return "not UTF-8"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["fifo", "directory", "bad-json", "huge", "binary"])
def test_an_unreadable_profile_file_refuses_and_never_hangs(box, kind):
    path = box.home / ".claude" / "settings.json"
    problem = _make(path, kind)
    result, report = box.check(
        "--billing-mode", "byok", "--env-file", box.own_env_file(ANTHROPIC_API_KEY=OWN_API_KEY), timeout=15
    )
    assert (result.returncode, report["code"]) == (78, "FOREIGN_AGENT_CREDENTIAL")
    [finding] = report["agent_files"]
    assert (finding["path"], finding["field"], finding["fingerprint"]) == (str(path), None, None)
    assert problem in finding["problem"] and problem in report["message"]
    # platform_managed reads it the same way and launches.
    _, managed = box.check("--billing-mode", "platform_managed", timeout=15)
    assert managed["decision"] == "launch"


def test_a_file_the_launcher_may_not_read_refuses(tmp_path):
    """Permissions only bind a non-root uid: the launcher runs as nobody."""
    if shutil.which("setpriv") is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv")
    root = Path(tempfile.mkdtemp(prefix="agentfiles-", dir="/tmp"))
    try:
        os.chmod(root, 0o755)
        b = Box(root, FILE_SECRETS)
        (b.home / ".claude").mkdir(parents=True)
        for d in (b.home, b.home / ".claude", b.work):
            os.chmod(d, 0o755)
        secret = b.write(".claude/settings.json", {"env": {"ANTHROPIC_API_KEY": PLATFORM_KEY}})
        os.chmod(secret, 0o600)
        env_file = b.own_env_file(ANTHROPIC_API_KEY=OWN_API_KEY)
        os.chmod(env_file, 0o644)
        drop = ("setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups")
        result = b.run("check", "--billing-mode", "byok", "--env-file", env_file, prefix=drop)
        assert result.returncode == 78, result
        assert f"{secret}: permission denied" in result.stderr
    finally:
        shutil.rmtree(root)


def test_missing_and_empty_files_hold_nothing(box):
    box.write(".claude/settings.json", "")
    box.write(".claude/.credentials.json", "  \n")
    box.write(".claude.json", {"numStartups": 1, "env": {"ANTHROPIC_API_KEY": PLATFORM_KEY}})  # not a settings file
    box.write(".claude/settings.local.json", {"env": {"ANTHROPIC_API_KEY": "  ", "GITHUB_TOKEN": "x"}}, base=box.work)
    result, report = box.check("--billing-mode", "byok", "--env-file", box.own_env_file(ANTHROPIC_API_KEY=OWN_API_KEY))
    assert (result.returncode, report["agent_files"]) == (0, [])


# -- agents -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "agent"),
    [
        ((), {}, "claude-code"),  # exec's default command is claude
        (("--", "/opt/bin/claude", "-p", "hi"), {}, "claude-code"),
        (("--", "codex"), {}, "codex"),
        (("--", "gemini"), {}, "gemini-cli"),
        (("--", "sh", "-c", "claude"), {}, "all"),  # a wrapper: every profile's files
        (("--agent", "CODEX", "--", "claude"), {}, "codex"),
        (("--", "claude"), {"LAUNCHER_AGENT": "generic"}, "generic"),
        (("--agent", "gemini-cli"), {"LAUNCHER_AGENT": "generic"}, "gemini-cli"),
    ],
)
def test_the_agent_comes_from_the_flag_the_environment_or_the_command(box, args, env, agent):
    result = box.run("check", "--json", *args, env=box.env(**env))
    assert json.loads(result.stdout)["agent"] == agent


@pytest.mark.parametrize("spec", [("--agent", "cursor"), ("--agent", ""), ("--agent", "claude")])
def test_an_unknown_agent_is_a_config_error(box, spec):
    result = box.run("exec", *spec, "--", "true")
    assert (result.returncode, "CONFIG_INVALID" in result.stderr, "unknown agent" in result.stderr) == (64, True, True)
    assert box.run("check", env=box.env(LAUNCHER_AGENT="nope")).returncode == 64


def test_a_generic_agent_reads_no_files(box):
    box.write(".claude/settings.json", {"env": {"ANTHROPIC_API_KEY": PLATFORM_KEY}})
    result, report = box.check(
        "--billing-mode", "byok", "--agent", "generic", "--env-file", box.own_env_file(ANTHROPIC_API_KEY=OWN_API_KEY)
    )
    assert (result.returncode, report["agent_files"]) == (0, [])


# -- the catalogue in the environment -----------------------------------------


def _dump(box: Box, *args: str, env: dict[str, str]) -> tuple[Result, dict[str, str]]:
    proc = subprocess.run(
        [launcher_path(), "exec", *args, "--", *child_env_dump()],
        env=env,
        cwd=box.work,
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    result = Result(proc.returncode, proc.stdout, proc.stderr)
    assert_no_secret(result.stderr, FILE_SECRETS)
    return result, parse_env_dump(proc.stdout)


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
    _, child = _dump(box, *args, env=box.env(**{name: value}))
    assert name not in child and PLATFORM_KEY not in "".join(child.values())
    _, managed = _dump(box, "--billing-mode", "platform_managed", env=box.env(**{name: value}))
    assert managed.get(name) == value
    # The workspace's own copy survives (a cloud switch with the workspace's
    # own credential for its backend, issue 18).
    backend_own = {
        "CLAUDE_CODE_USE_BEDROCK": {"AWS_BEARER_TOKEN_BEDROCK": OWN_API_KEY},
        "GOOGLE_GENAI_USE_VERTEXAI": {"GOOGLE_API_KEY": OWN_API_KEY},
        "GOOGLE_GENAI_USE_GCA": {"GOOGLE_CLOUD_ACCESS_TOKEN": OWN_API_KEY},
    }.get(name.strip(), {})
    ws = box.own_env_file(ANTHROPIC_API_KEY=OWN_API_KEY, **{name.strip(): "1"}, **backend_own)
    _, own_child = _dump(box, "--billing-mode", "byok", "--env-file", ws, "--agent", "generic", env=box.env())
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


# -- issue 10: the launcher's token under any name -----------------------------


def test_launcher_variables_in_any_spelling_never_reach_the_child(box):
    env = box.env(
        **{
            "molecule_workspace_token": WORKSPACE_TOKEN,
            "MOLECULE_WORKSPACE_TOKEN ": WORKSPACE_TOKEN,
            "Molecule_Workspace_Token_File": "/configs/.auth_token",
        }
    )
    for mode in ("platform_managed", "byok"):
        result, child = _dump(
            box, "--billing-mode", mode, "--env-file", box.own_env_file(ANTHROPIC_API_KEY="k"), env=env
        )
        assert result.returncode == 0, result
        assert not [k for k in child if k.strip().upper().startswith("MOLECULE_WORKSPACE_TOKEN")]


def test_any_variable_holding_the_token_is_stripped_by_name(box, platform):
    platform.state.workspace_secrets.update({"WORKSPACE_AUTH_TOKEN": WORKSPACE_TOKEN, "ANTHROPIC_API_KEY": OWN_API_KEY})
    env = box.env(
        MOLECULE_WORKSPACE_TOKEN=WORKSPACE_TOKEN,
        COPY_OF_TOKEN=f" {WORKSPACE_TOKEN}\n",
        AUTH=f"Bearer {WORKSPACE_TOKEN}",
    )
    args = (*platform_args(platform, "byok"), "--agent", "generic")
    result, child = _dump(box, *args, env=env)
    assert result.returncode == 0, result
    assert not {"WORKSPACE_AUTH_TOKEN", "COPY_OF_TOKEN", "AUTH"} & child.keys()
    assert WORKSPACE_TOKEN not in "".join(child.values())
    _checked, report = box.check(*args, env=env)
    keys = {k["key"]: k for k in report["keys"]}
    for name in ("WORKSPACE_AUTH_TOKEN", "COPY_OF_TOKEN", "AUTH"):
        assert keys[name]["action"] == "strip" and "token" in keys[name]["reason"]


def test_in_local_mode_an_inherited_token_s_copies_go_too(box):
    env = box.env(MOLECULE_WORKSPACE_TOKEN=WORKSPACE_TOKEN, ALIAS=WORKSPACE_TOKEN, OTHER="kept")
    result, child = _dump(box, "--agent", "generic", env=env)
    assert result.returncode == 0 and "ALIAS" not in child and child["OTHER"] == "kept"


# -- the profile format, in-process (for profiles to come) --------------------


def test_pick_modes_and_upward_search(tmp_path):
    (tmp_path / "a" / "b" / "c").mkdir(parents=True)
    (tmp_path / "a" / ".env").write_text(f"GEMINI_API_KEY={PLATFORM_KEY}\nFOO=1\n")
    (tmp_path / "a" / "b" / ".gemini").mkdir()
    (tmp_path / "a" / "b" / ".gemini" / ".env").write_text("GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:9\n")
    cwd = tmp_path / "a" / "b" / "c"
    first = FileEntry("dotenv", ("{HOME}/.env",), Pick.FIRST_EXISTING, Format.DOTENV, (), (".gemini/.env", ".env"))
    env = {"HOME": str(tmp_path / "nohome")}
    assert candidates(first, env, cwd) == [str(tmp_path / "a" / "b" / ".gemini" / ".env")]
    every = FileEntry("dotenv", ("{HOME}/.env",), Pick.ALL, Format.DOTENV, (), (".gemini/.env", ".env"))
    assert str(tmp_path / "a" / ".env") in candidates(every, env, cwd)
    relocated = FileEntry("x", ("{X_HOME}/f", "{HOME}/f"), Pick.FIRST_SET, Format.JSON, ())
    assert candidates(relocated, {"HOME": "/h", "X_HOME": " "}, cwd) == ["/h/f"]
    assert candidates(relocated, {"HOME": "/h", "X_HOME": "rel"}, cwd) == [str(cwd / "rel" / "f")]


def test_toml_and_dotenv_selectors(tmp_path):
    from launcher.agents.profiles import AgentProfile, FieldSpec

    (tmp_path / "config.toml").write_text(
        '[model_providers.acme]\nexperimental_bearer_token = "t"\nbase_url = "u"\n[model_providers.b]\nname = "b"\n'
    )
    (tmp_path / ".env").write_text(f"OPENAI_API_KEY={PLATFORM_KEY}\nPATH_EXTRA=1\n")
    (tmp_path / "settings.json").write_text('{"security": {"auth": {"selectedType": "vertex-ai"}}}')
    agent = AgentProfile(
        "test",
        (),
        (
            FileEntry(
                "toml",
                ("{cwd}/config.toml",),
                Pick.ALL,
                Format.TOML,
                (FieldSpec(("model_providers", "*", "experimental_bearer_token"), counts_as="CODEX_API_KEY"),),
            ),
            FileEntry("env", ("{cwd}/.env",), Pick.ALL, Format.DOTENV, (FieldSpec(("*",), True, "{name}"),)),
            FileEntry(
                "sel",
                ("{cwd}/settings.json",),
                Pick.ALL,
                Format.JSON,
                (FieldSpec(("security", "auth", "selectedType"), values=("vertex-ai",)),),
            ),
        ),
        "",
    )
    found = scan(agent, {"HOME": str(tmp_path)}, tmp_path, OwnFiles(frozenset()), load_catalogue().is_llm_key)
    assert [(Path(f.path).name, f.field, f.counts_as) for f in found] == [
        ("config.toml", "model_providers.acme.experimental_bearer_token", "CODEX_API_KEY"),
        (".env", "OPENAI_API_KEY", "OPENAI_API_KEY"),
        ("settings.json", "security.auth.selectedType", None),
    ]
    assert MARKER not in repr(found)


def test_profiles_are_valid_data():
    from launcher.agents.profiles import known

    assert {"all", "claude-code", "codex", "gemini-cli", "generic"} <= set(known())
    assert agent_for_executable("/usr/local/bin/claude") == "claude-code"
    assert profile("claude-code").files
    catalogue = load_catalogue()
    for name in ("GOOGLE_API_KEY", "ANTHROPIC_CUSTOM_HEADERS", "CLAUDE_SECURESTORAGE_CONFIG_DIR"):
        assert catalogue.kind_of(name) is not None and catalogue.is_llm_key(name)
    assert not catalogue.is_server_key("GOOGLE_API_KEY")


def test_docs_catalogue_and_file_channels_are_the_data_s_own():
    from launcher.doctables import catalogue_markdown, file_channels_markdown

    doc = (REPO / "docs" / "agent-channels.md").read_text(encoding="utf-8")
    assert catalogue_markdown() in doc, "paste `python -m launcher.doctables` into docs/agent-channels.md"
    assert file_channels_markdown() in doc, "paste `python -m launcher.doctables` into docs/agent-channels.md"


def test_pattern_characters_in_a_variable_cannot_hide_a_file(tmp_path):
    """HOME=/x/[a]b is a literal directory: the glob of the profile
    directory must not turn it into a pattern that misses it."""
    home = tmp_path / "[a]b*"
    creds = home / ".config" / "anthropic" / "credentials" / "p.json"
    creds.parent.mkdir(parents=True)
    creds.write_text("{}x")
    (tmp_path / "ab").mkdir()  # what the unescaped pattern would match instead
    settings = home / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(json.dumps({"apiKeyHelper": "x"}))
    found = scan(
        profile("claude-code"), {"HOME": str(home)}, tmp_path, OwnFiles(frozenset()), load_catalogue().is_llm_key
    )
    assert [(f.path, f.field) for f in found] == [(str(settings), "apiKeyHelper"), (str(creds), "content")]


def test_a_padded_home_is_read_both_ways(tmp_path):
    """node takes HOME verbatim (a relative ' x' under the working
    directory); other code trims it: both files are looked at."""
    (tmp_path / "x" / ".claude").mkdir(parents=True)
    (tmp_path / " x" / ".claude").mkdir(parents=True)
    for base in ("x", " x"):
        (tmp_path / base / ".claude" / "settings.json").write_text(json.dumps({"apiKeyHelper": base}))
    entry = profile("claude-code").files[0]  # user settings
    assert candidates(entry, {"HOME": " x"}, tmp_path) == [
        str(tmp_path / "x" / ".claude" / "settings.json"),
        str(tmp_path / " x" / ".claude" / "settings.json"),
    ]


def test_settings_named_on_the_command_line(box):
    """``claude --settings FILE|JSON``: the image's CMD is one more place for a key."""
    own = box.own_env_file(ANTHROPIC_API_KEY=OWN_API_KEY)
    file = box.write("platform.json", {"env": {"ANTHROPIC_AUTH_TOKEN": PLATFORM_KEY}}, base=box.work)
    inline = json.dumps({"apiKeyHelper": "/opt/key.sh"})
    for args, path, field in [
        (("--settings", "platform.json"), str(file), "env.ANTHROPIC_AUTH_TOKEN"),
        ((f"--settings={file}",), str(file), "env.ANTHROPIC_AUTH_TOKEN"),
        (("--settings", inline), "(command line --settings)", "apiKeyHelper"),
    ]:
        result, report = box.check("--billing-mode", "byok", "--env-file", own, "--", "claude", *args, "-p", "hi")
        assert (report["code"], _files(report)) == ("FOREIGN_AGENT_CREDENTIAL", [(path, field, "foreign")]), args
    ran = box.root / "ran"
    exec_args = ("exec", "--billing-mode", "byok", "--env-file", own, "--agent", "claude-code")
    result = box.run(*exec_args, "--", *_marker_command(ran), "--settings", inline)
    assert result.returncode == 78 and not ran.exists()
    no_key = ("--billing-mode", "byok", "--env-file", own, "--agent", "claude-code", "--", "true")
    _, clean = box.check(*no_key, "--settings", '{"model": "x"}')
    assert (clean["decision"], clean["agent_files"]) == ("launch", [])


def test_the_plan_is_immutable_and_decisions_are_records():
    from launcher.catalogue import KeyKind
    from launcher.config import BillingMode, load_config
    from launcher.gate import STRIP, Action, Decision, Source, decide
    from launcher.pipeline import run_gate
    from launcher.values import Scope

    catalogue = load_catalogue()
    d = decide("GOOGLE_API_KEY", Scope.GLOBAL, BillingMode.BYOK, catalogue)
    assert d == Decision(KeyKind.CREDENTIAL, Action.STRIP, d.reason) and d.action is STRIP and d.llm_key
    config = load_config({"billing_mode": "byok"}, {"CONFIGS_DIR": "/nonexistent"})
    result = run_gate(config, [Source("g", {"ANTHROPIC_API_KEY": PLATFORM_KEY}, Scope.GLOBAL)], {}, catalogue)
    assert result.code == "MISSING_BYOK_CREDENTIAL"
    with pytest.raises(AttributeError):
        result.refusal = None  # type: ignore[misc]
    assert MARKER not in repr(result) and MARKER not in repr(result.llm_key_decisions())


def test_no_record_that_can_hold_a_value_shows_it_in_its_repr(tmp_path):
    """Every record with a field that can hold a value (environments, the
    agent's arguments, the token) prints names and counts only."""
    from launcher.agents.profiles import profile
    from launcher.agents.scan import OwnFiles
    from launcher.config import load_config
    from launcher.gate import Source
    from launcher.launch import Startable
    from launcher.pipeline import AgentContext, run_gate
    from launcher.refusal import Outcome
    from launcher.supervise.handover import (
        Endpoint,
        Handover,
        LogSettings,
        Options,
        ProxyRequest,
        PullInputs,
        RefreshRequest,
    )
    from launcher.values import Scope

    env = {"ANTHROPIC_API_KEY": PLATFORM_KEY}
    argv = ("claude", "--settings", f'{{"apiKeyHelper": "echo {PLATFORM_KEY}"}}')
    config = load_config({"billing_mode": "byok", "argv": argv}, {"CONFIGS_DIR": "/nonexistent"})
    context = AgentContext(profile("claude-code"), tmp_path, OwnFiles(frozenset()), argv)
    source = Source("global", env, Scope.GLOBAL)
    result = run_gate(config, [source], {}, load_catalogue(), context)
    inputs = PullInputs({"argv": argv}, env, LogSettings("text", 1), ())
    endpoint = Endpoint("http://127.0.0.1:1", PLATFORM_KEY)
    refresh = RefreshRequest(inputs, 35, endpoint)
    proxy = ProxyRequest(inputs, 3, endpoint, "/configs/.auth_token")
    records = [
        source,
        context,
        result,
        Outcome(env, env, lambda key: Scope.GLOBAL, load_catalogue()),
        Startable(argv, env, "/usr/bin/claude"),
        inputs,
        endpoint,
        refresh,
        proxy,
        Handover(
            Options(None, signal.SIGTERM, 10.0, False),
            LogSettings("text", 1),
            Startable(argv, env, "/c"),
            None,
            refresh,
            proxy,
        ),
    ]
    leaked = [type(record).__name__ for record in records if MARKER in repr(record)]  # names only, never the repr
    assert not leaked, f"repr shows a value: {leaked}"


def test_exec_refuses_an_agent_file_changed_between_its_check_and_execve(box):
    """Issue 19.7: the last thing exec does before execve is to compare every
    agent file it judged with what it read. strace holds the launcher in the
    one system call it makes on the command's path after the scan (the
    command's lookup), while the test plants a platform key in the settings
    file the gate judged harmless a moment before: exec refuses (78), nothing
    starts. Without the hold the same run launches (control)."""
    strace = shutil.which("strace")
    if strace is None:
        unavailable("needs strace (Debian: apt-get install strace)")
    settings = box.write(".claude/settings.json", {"env": {"EDITOR": "vi"}})
    own = box.own_env_file(ANTHROPIC_API_KEY=OWN_API_KEY)
    agent = box.root / "agent-true"
    shutil.copy("/bin/true", agent)
    ran = box.root / "ran"
    args = ["exec", "--billing-mode", "byok", "--env-file", own, "--agent", "claude-code", "--", str(agent)]
    assert box.run(*args).returncode == 0, "control: the unchanged file launches"
    log = box.root / "strace.log"
    hold = [
        strace,
        "-qq",
        "-P",
        str(agent),
        "-e",
        "trace=access",
        "-e",
        "inject=access:delay_enter=3000000",
        "-o",
        str(log),
    ]
    proc = subprocess.Popen(
        [*hold, launcher_path(), *args], env=box.env(), cwd=box.work,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(200):
            if log.exists() and f'access("{agent}"' in log.read_text():
                break
            time.sleep(0.02)
        else:
            pytest.fail("the launcher never looked up its command")
        settings.write_text(json.dumps({"env": {"ANTHROPIC_API_KEY": PLATFORM_KEY}}))
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert_no_secret(out + err, FILE_SECRETS)
    assert proc.returncode == 78, err
    assert f"FOREIGN_AGENT_CREDENTIAL: {settings} changed after the launcher checked it" in err
    assert not ran.exists()
