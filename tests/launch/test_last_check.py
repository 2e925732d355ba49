"""The last check before ``execve`` (``pipeline.still_as_checked``, on the
stamps the gate took): an agent file changed between its judgement and the
start refuses the launch (78) and nothing starts. (Issue 19.7; supervise's
restarts judge again: supervise/test_refresh.py.)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from support import OWN_API_KEY, PLATFORM_KEY, assert_no_secret, launcher_path, unavailable


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
    assert_no_secret(out + err)
    assert proc.returncode == 78, err
    assert f"FOREIGN_AGENT_CREDENTIAL: {settings} changed after the launcher checked it" in err
    assert not ran.exists()


def test_the_last_check_refuses_a_file_changed_since_it_was_judged(tmp_path: Path) -> None:
    """exec's last step before execve (pipeline.still_as_checked), on the
    stamps the gate took: a rewrite, a new file where none was, a removal."""
    from launcher.errors import ForeignAgentCredentialError
    from launcher.files import stamp
    from launcher.pipeline import still_as_checked

    there, absent = tmp_path / "settings.json", tmp_path / "none.json"
    there.write_text("{}")
    watched = ((str(there), stamp(str(there))), (str(absent), None))
    still_as_checked(watched)  # unchanged: nothing to say

    def through_a_mapping() -> None:  # a same-size rewrite the file's times may not show
        import mmap

        with open(there, "r+b") as f, mmap.mmap(f.fileno(), 0) as view:
            view[:2] = b"[]"

    changes = (lambda: there.write_text('{"a": 1}'), lambda: absent.write_text("{}"), there.unlink, through_a_mapping)
    for change in changes:
        change()
        with pytest.raises(ForeignAgentCredentialError):
            still_as_checked(watched)
        there.write_text("{}")
        absent.unlink(missing_ok=True)
        watched = ((str(there), stamp(str(there))), (str(absent), None))
