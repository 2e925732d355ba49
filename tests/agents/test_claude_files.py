"""claude-code's agent files (its profile, ``data/agents/claude-code.json``):
every file and field it reads a credential from, at home, in the working
directory, in the managed settings and on its command line (``--settings``),
in settings and MCP ``env`` blocks; where they are in the child's final
environment (relocations the workspace set, not those stripped); a
credential found in one refuses every non-platform mode unless declared
``--own-agent-file``; a file that cannot be read refuses, never hangs, and a
helper is never run. (Issues 8 and 18.)

Every case runs the installed launcher as a subprocess, with a fresh HOME
and working directory (``box``), and greps all of its output for the fake
secrets. The agent files hold values that carry the marker too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from support import (
    NOBODY_UID,
    OWN_API_KEY,
    OWN_OAUTH,
    PLATFORM_AWS_ID,
    PLATFORM_KEY,
    PLATFORM_OAUTH,
    Box,
    agent_files,
    as_uid,
    in_private_overlay,
    touch_command,
)

from launcher.values import fingerprint

BYOK = ("--billing-mode", "byok")


# -- the refusal --------------------------------------------------------------


@pytest.mark.parametrize("mode", ["byok", "subscription", "disabled"])
def test_a_platform_key_in_user_settings_refuses_every_non_platform_mode(box, mode):
    settings = box.write(".claude/settings.json", {"env": {"ANTHROPIC_API_KEY": PLATFORM_KEY, "EDITOR": "vi"}})
    own = box.own_env_file(ANTHROPIC_API_KEY=OWN_API_KEY)
    ran = box.root / "ran"
    result = box.run(
        "exec", "--billing-mode", mode, "--env-file", own, "--agent", "claude-code", "--", *touch_command(ran)
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
    assert agent_files(report) == [(str(settings), "env.ANTHROPIC_API_KEY", "foreign")]
    assert report["agent_files"][0]["fingerprint"] == fingerprint(PLATFORM_KEY)
    ran = box.root / "ran"
    verbose = box.run("exec", "-vv", "--agent", "claude-code", "--", *touch_command(ran))
    assert verbose.returncode == 0 and ran.exists()
    assert f"foreign agent file {settings}: env.ANTHROPIC_API_KEY [{fingerprint(PLATFORM_KEY)}]" in verbose.stderr


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
    assert agent_files(report) == [(str(path), field, "foreign")]


@pytest.mark.parametrize("name", ["settings.json", "settings.local.json"])
def test_project_settings_in_the_working_directory(box, name):
    path = box.write(f".claude/{name}", {"env": {"CLAUDE_CODE_OAUTH_TOKEN": PLATFORM_OAUTH}}, base=box.work)
    _result, report = box.check("--billing-mode", "subscription")
    assert report["code"] == "FOREIGN_AGENT_CREDENTIAL"
    assert agent_files(report) == [(str(path), "env.CLAUDE_CODE_OAUTH_TOKEN", "foreign")]


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
    overlay = in_private_overlay(
        box.root,
        ["/etc", "/home"],
        "mkdir -p /etc/claude-code/managed-settings.d /home/claude/.claude/remote",
        """printf '{"env": {"CLAUDE_CODE_USE_BEDROCK": "1"}}' > /etc/claude-code/managed-settings.json""",
        """printf '{"apiKeyHelper": "x"}' > /etc/claude-code/managed-settings.d/10-helper.json""",
        f"printf '{PLATFORM_KEY}\\n' > /home/claude/.claude/remote/.api_key",
        ": > /home/claude/.claude/remote/.oauth_token",  # empty: holds nothing
    )
    result, report = box.check("--billing-mode", "byok", prefix=overlay)
    assert report["code"] == "FOREIGN_AGENT_CREDENTIAL", result
    assert agent_files(report) == [
        ("/etc/claude-code/managed-settings.json", "env.CLAUDE_CODE_USE_BEDROCK", "foreign"),
        ("/etc/claude-code/managed-settings.d/10-helper.json", "apiKeyHelper", "foreign"),
        ("/home/claude/.claude/remote/.api_key", "content", "foreign"),
    ]
    assert not Path("/etc/claude-code/managed-settings.json").exists(), "the overlay leaked out of its namespace"


def test_with_user_the_files_under_the_agent_s_own_home_are_read(box):
    """--user gives the agent the user's HOME: its files are the ones that
    count, not those under the root launcher's HOME. The user comes from an
    /etc/passwd entry written in an overlay only this namespace sees."""
    agent_home = box.root / "agenthome"
    box.write(".claude/settings.json", {"env": {"ANTHROPIC_API_KEY": PLATFORM_KEY}}, base=agent_home)
    overlay = in_private_overlay(
        box.root,
        ["/etc"],
        f"echo 'agentu:x:10001:10001::{agent_home}:/bin/sh' >> /etc/passwd",
        "echo 'agentu:x:10001:' >> /etc/group",
    )
    own = box.own_env_file(ANTHROPIC_API_KEY=OWN_API_KEY)
    result, report = box.check(
        "--billing-mode", "byok", "--env-file", own, "--user", "agentu", "--agent", "claude-code", prefix=overlay
    )
    assert result.returncode == 78, result
    assert report["code"] == "FOREIGN_AGENT_CREDENTIAL"
    assert agent_files(report) == [(f"{agent_home}/.claude/settings.json", "env.ANTHROPIC_API_KEY", "foreign")]


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
        assert (report["code"], agent_files(report)) == ("FOREIGN_AGENT_CREDENTIAL", [(path, field, "foreign")]), args
    ran = box.root / "ran"
    exec_args = ("exec", "--billing-mode", "byok", "--env-file", own, "--agent", "claude-code")
    result = box.run(*exec_args, "--", *touch_command(ran), "--settings", inline)
    assert result.returncode == 78 and not ran.exists()
    no_key = ("--billing-mode", "byok", "--env-file", own, "--agent", "claude-code", "--", "true")
    _, clean = box.check(*no_key, "--settings", '{"model": "x"}')
    assert (clean["decision"], clean["agent_files"]) == ("launch", [])


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
    own = box.own_env_file(ANTHROPIC_API_KEY=OWN_API_KEY)
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
    own = box.own_env_file(ANTHROPIC_API_KEY=OWN_API_KEY)
    result, report = box.check(*BYOK, "--env-file", own, "--agent", "claude-code")
    assert (result.returncode, [f["field"] for f in report["agent_files"]]) == (78, [field])
    # an MCP server's own, non-LLM variables are its business
    box.write(relative, {"mcpServers": {"x": {"env": {"GITHUB_TOKEN": "x", "LOG_LEVEL": "debug"}}}}, base=base)
    assert box.check(*BYOK, "--env-file", own, "--agent", "claude-code")[0].returncode == 0


# -- relocation happens in the child's final environment ----------------------


def test_a_stripped_claude_config_dir_relocates_nothing(box):
    elsewhere = box.root / "platform-config"
    box.write("settings.json", {"env": {"ANTHROPIC_API_KEY": PLATFORM_KEY}}, base=elsewhere)
    home_settings = box.write(".claude/settings.json", {"apiKeyHelper": "x"})
    env = box.env(CLAUDE_CONFIG_DIR=str(elsewhere))  # inherited: stripped in byok
    _, report = box.check("--billing-mode", "byok", env=env)
    assert agent_files(report) == [(str(home_settings), "apiKeyHelper", "foreign")]
    keys = {k["key"]: k for k in report["keys"]}
    assert (keys["CLAUDE_CONFIG_DIR"]["action"], keys["CLAUDE_CONFIG_DIR"]["kind"]) == ("strip", "relocation")
    # platform_managed keeps it, and then it does relocate.
    _, managed = box.check("--billing-mode", "platform_managed", env=env)
    assert agent_files(managed) == [(str(elsewhere / "settings.json"), "env.ANTHROPIC_API_KEY", "foreign")]


def test_the_workspace_s_own_config_dir_relocates(box):
    own_dir = box.root / "own-config"
    creds = box.write(".credentials.json", {"claudeAiOauth": {"accessToken": OWN_OAUTH}}, base=own_dir)
    box.write(".claude/.credentials.json", {"claudeAiOauth": {"accessToken": PLATFORM_OAUTH}})  # now hidden
    env_file = box.own_env_file(CLAUDE_CONFIG_DIR=str(own_dir))
    result, report = box.check("--billing-mode", "subscription", "--env-file", env_file, "--own-agent-file", str(creds))
    assert (result.returncode, report["decision"]) == (0, "launch"), result
    assert agent_files(report) == [(str(creds), "claudeAiOauth.accessToken", "own")]
    assert report["usable_credentials"] == ["CLAUDE_CODE_OAUTH_TOKEN"]


def test_securestorage_dir_moves_only_the_credentials(box):
    secure = box.root / "secure"
    creds = box.write(".credentials.json", {"claudeAiOauth": {"refreshToken": PLATFORM_OAUTH}}, base=secure)
    settings = box.write(".claude/settings.json", {"apiKeyHelper": "x"})
    env_file = box.own_env_file(CLAUDE_SECURESTORAGE_CONFIG_DIR=str(secure), ANTHROPIC_API_KEY=OWN_API_KEY)
    _, report = box.check("--billing-mode", "byok", "--env-file", env_file)
    assert sorted(agent_files(report)) == sorted(
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
        *touch_command(ran),
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


def test_a_file_the_launcher_may_not_read_refuses(as_root: None, shared: Path) -> None:
    """Permissions only bind a non-root uid: the launcher runs as nobody."""
    b = Box(shared)
    secret = b.write(".claude/settings.json", {"env": {"ANTHROPIC_API_KEY": PLATFORM_KEY}})
    for d in (b.home, secret.parent, b.work):
        d.chmod(0o755)
    secret.chmod(0o600)
    env_file = b.own_env_file(ANTHROPIC_API_KEY=OWN_API_KEY)
    Path(env_file).chmod(0o644)
    result = b.run("check", "--billing-mode", "byok", "--env-file", env_file, prefix=as_uid(NOBODY_UID))
    assert result.returncode == 78, result
    assert f"{secret}: permission denied" in result.stderr


def test_missing_and_empty_files_hold_nothing(box):
    box.write(".claude/settings.json", "")
    box.write(".claude/.credentials.json", "  \n")
    box.write(".claude.json", {"numStartups": 1, "env": {"ANTHROPIC_API_KEY": PLATFORM_KEY}})  # not a settings file
    box.write(".claude/settings.local.json", {"env": {"ANTHROPIC_API_KEY": "  ", "GITHUB_TOKEN": "x"}}, base=box.work)
    result, report = box.check("--billing-mode", "byok", "--env-file", box.own_env_file(ANTHROPIC_API_KEY=OWN_API_KEY))
    assert (result.returncode, report["agent_files"]) == (0, [])
