"""Which agent's files are read (``agents/profiles.py``): the profile comes
from ``--agent``, ``LAUNCHER_AGENT`` or the command's executable; a command
that names no known agent (a wrapper: ``sh -c``, a Python SDK, node) reads
every profile's files, and says so; an unknown agent is a configuration
error; the generic agent reads none. (Issues 8 and 18.)
"""

from __future__ import annotations

import json
import sys

import pytest
from support import OWN_API_KEY, PLATFORM_KEY


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
    own = box.own_env_file(ANTHROPIC_API_KEY=OWN_API_KEY)
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
    own = box.own_env_file(ANTHROPIC_API_KEY=OWN_API_KEY)
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
    own = box.own_env_file(ANTHROPIC_API_KEY=OWN_API_KEY)
    result, child = box.child("--billing-mode", "byok", "--env-file", own)
    assert result.returncode == 0, result
    assert "ANTHROPIC_API_KEY" in child
    assert "names no known agent" not in result.stderr  # exec says it at -v only
