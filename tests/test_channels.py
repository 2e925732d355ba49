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
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import (
    MARKER,
    OWN_API_KEY,
    PLATFORM_OAUTH,
    Result,
    assert_no_secret,
    child_env_dump,
    launcher_path,
    parse_env_dump,
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


@dataclass
class Box:
    """A fresh HOME and working directory, and the launcher run in them."""

    root: Path

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def work(self) -> Path:
        return self.root / "work"

    def env(self, **extra: str) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home), **extra}

    def write(self, relative: str, content: str | dict, base: Path | None = None) -> Path:
        path = (base or self.home) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        return path

    def dotenv(self, name: str, **values: str) -> str:
        path = self.root / name
        path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        return str(path)

    def run(self, *args: str, env: dict[str, str] | None = None, dump: bool = False) -> Result:
        """``dump``: the agent is ``child_env_dump``, whose stdout is the
        child's environment (values by design); stderr is still checked."""
        proc = subprocess.run(
            [launcher_path(), *args],
            env=env or self.env(),
            cwd=self.work,
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
        result = Result(proc.returncode, proc.stdout, proc.stderr)
        assert_no_secret(result.stderr if dump else result.output, SECRETS)
        return result

    def child(self, *args: str, env: dict[str, str] | None = None) -> tuple[Result, dict[str, str]]:
        """exec with ``args``, the agent a dump of its environment."""
        result = self.run("exec", *args, "--", *child_env_dump(), env=env, dump=True)
        return result, parse_env_dump(result.stdout)

    def check(self, *args: str, env: dict[str, str] | None = None) -> tuple[Result, dict]:
        result = self.run("check", "--json", *args, env=env)
        return result, json.loads(result.stdout)


@pytest.fixture
def box(tmp_path: Path) -> Box:
    b = Box(tmp_path)
    b.home.mkdir()
    b.work.mkdir()
    return b


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
