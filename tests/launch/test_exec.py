"""``exec`` becomes the agent (``launch.py``, ``commands/exec.py``): the same
PID, its exit status and signals passed through, SIGPIPE back to its
default; the command found on PATH (``claude`` when none is given), or
refused with exec's own statuses (127 not found, 126 not executable), and
only after the gate: a refusal comes first. ``check`` resolves a command the
same way.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from support import base_env, launcher_path, run_launcher


def test_exec_keeps_the_pid(tmp_path):
    script = "import os, sys; print(os.getpid()); sys.stdout.flush()"
    proc = subprocess.Popen(
        [launcher_path(), "exec", "--", sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        env=base_env(),
    )
    out, _ = proc.communicate(timeout=30)
    assert int(out.strip()) == proc.pid


def test_exec_passes_the_exit_status_and_signals():
    assert run_launcher("exec", "--", "sh", "-c", "exit 42").returncode == 42
    assert run_launcher("exec", "--", "sh", "-c", "kill -TERM $$").returncode == -signal.SIGTERM


def test_child_gets_default_sigpipe():
    """CPython ignores SIGPIPE; an exec'd agent must not inherit that."""
    result = run_launcher("exec", "--", "sh", "-c", "grep SigIgn /proc/self/status")
    ignored = int(result.stdout.split()[1], 16)
    assert not ignored & (1 << (signal.SIGPIPE - 1))


def test_default_command_is_claude(tmp_path):
    fake = tmp_path / "claude"
    fake.write_text('#!/bin/sh\necho fake-claude "$@"\n')
    fake.chmod(0o755)
    result = run_launcher("exec", env=base_env(PATH=f"{tmp_path}:{os.environ['PATH']}"))
    assert (result.returncode, result.stdout.strip()) == (0, "fake-claude")


def test_command_not_found_and_not_executable(tmp_path):
    missing = run_launcher("exec", "--", "no-such-agent-xyz")
    assert (missing.returncode, missing.stderr.split(":")[2].strip()) == (127, "COMMAND_NOT_FOUND")
    plain = tmp_path / "agent"
    plain.write_text("#!/bin/sh\n")
    plain.chmod(0o644)
    assert run_launcher("exec", "--", str(plain)).returncode == 126
    assert run_launcher("exec", "--", str(tmp_path)).returncode == 126
    on_path = run_launcher("exec", "--", "agent", env=base_env(PATH=str(tmp_path)))
    assert (on_path.returncode, "COMMAND_NOT_EXECUTABLE" in on_path.stderr) == (126, True)


def test_refusal_comes_before_command_resolution():
    assert run_launcher("exec", "--billing-mode", "byok", "--", "no-such-agent-xyz").returncode == 78


def test_check_resolves_a_given_command():
    assert run_launcher("check", "--", "sh").returncode == 0
    missing = run_launcher("check", "--", "no-such-agent-xyz")
    assert missing.returncode == 127 and "COMMAND_NOT_FOUND" in missing.stderr


def test_a_blank_home_is_not_passed_to_the_agent():
    """In a mode that refuses on the agent's files, the agent gets no blank
    HOME (node would take it for the working directory, where the launcher
    never looked for its files): it finds its home in its passwd entry, as
    the launcher's file scan did."""
    for blank in ("", "  "):
        command = ("exec", "--billing-mode", "disabled", "--", "sh", "-c", 'echo "${HOME-unset}"')
        result = run_launcher(*command, env=base_env(HOME=blank))
        assert (result.returncode, result.stdout.strip()) == (0, "unset"), result.stderr


def test_a_path_entry_is_named_by_position_never_echoed(tmp_path):
    """PATH can come from the bundle or an env file, and an entry could hold
    a value: the error names the entry by position (attack pass, issue 21)."""
    from support import MARKER

    entry = tmp_path / f"d-{MARKER}-path"
    entry.mkdir()
    (entry / "agent-x").write_text("#!/bin/sh\n")  # not executable
    result = run_launcher("exec", "--", "agent-x", env=base_env(PATH=f"/nonexistent:{entry}"), check_secrets=False)
    assert result.returncode == 126 and "PATH entry 2" in result.stderr, result.stderr
    assert MARKER not in result.stdout + result.stderr
