"""supervise's children (``supervise/children.py``, driven by the loop):
each started in a session of its own (as ``--user`` too, with a clean signal
mask), every forwarded signal reaching its whole process group, its exit
status passed on (128+N for a signal), its tree stopped for good at
``--stop-timeout``, and orphans reaped (``--subreaper``, or as PID 1).

Long-running launchers run in the background (``supervise`` fixture) and
are watched through files their children write (pids, received signals,
never a value). Every wait polls for a condition with a generous timeout,
so a loaded machine makes a test slower, not flaky.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from support import (
    AGENT_UID,
    AS_AGENT,
    TIMEOUT,
    agent_python,
    base_env,
    gone,
    json_lines,
    launcher_path,
    lines,
    python_script,
    require_unshare,
    run_launcher,
    unavailable,
    wait_until,
    write_file,
)

from launcher.supervise.children import exit_code

# Records every forwarded signal it receives, in itself and in a grandchild
# that stays in its process group; exits 3 on SIGTERM.
RECORDER = """
import os, signal, sys, time
log, role = sys.argv[1], "child"
def record(signum, frame):
    with open(log, "a") as f:
        f.write(f"{role} {signal.Signals(signum).name}\\n")
    if signum == signal.SIGTERM:
        os._exit(3)
for name in ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH"):
    signal.signal(getattr(signal, name), record)
if os.fork() == 0:
    role = "grandchild"
with open(log, "a") as f:
    f.write(f"{role} ready\\n")
while True:
    time.sleep(1)
"""

# Ignores SIGTERM, and so does an orphaned grandchild (its parent exits at
# once, so only the session or the subreaper still ties it to the child).
STUBBORN = """
import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
pids = sys.argv[1]
if os.fork() == 0:
    if os.fork() == 0:
        with open(pids, "a") as f:
            f.write(f"grandchild {os.getpid()}\\n")
        while True:
            time.sleep(1)
    os._exit(0)
with open(pids, "a") as f:
    f.write(f"child {os.getpid()}\\n")
while True:
    time.sleep(1)
"""


@pytest.mark.parametrize(("command", "expected"), [("exit 7", 7), ("exit 0", 0), ("kill -USR1 $$", 138)])
def test_exit_status_and_128_plus_signal(command: str, expected: int) -> None:
    result = run_launcher("supervise", "--", "sh", "-c", command, env=base_env())
    assert result.returncode == expected, result.stderr


def test_forwards_each_signal_to_the_child_process_group(tmp_path: Path, supervise) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "signals.log"
    # SIGINT starts the stop: the grace must outlast the rest of the test on a slow machine.
    run = supervise("--stop-timeout", "60", "--", *python_script(tmp_path / "recorder.py", RECORDER), str(log))
    wait_until(lambda: {"child ready", "grandchild ready"} <= set(lines(log)), "child and grandchild to be ready")
    for name in ("SIGHUP", "SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGQUIT", "SIGINT"):
        run.proc.send_signal(getattr(signal, name))
        expected = {f"child {name}", f"grandchild {name}"}
        wait_until(lambda e=expected: e <= set(lines(log)), f"{name} to reach both processes")  # type: ignore[misc]
    assert run.proc.poll() is None, (
        "SIGINT is a shutdown signal: forwarded, then the supervisor waits up to --stop-timeout for the "
        "child, which ignores it; the supervisor must not have exited yet"
    )
    assert run.stop() == 3  # the child's own status on SIGTERM
    assert {"child SIGTERM", "grandchild SIGTERM"} <= set(lines(log))


def test_sigint_is_a_shutdown_signal_and_the_stop_timeout_ends_it(tmp_path: Path, supervise) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "signals.log"
    run = supervise("--stop-timeout", "1", "--", *python_script(tmp_path / "recorder.py", RECORDER), str(log))
    wait_until(lambda: {"child ready", "grandchild ready"} <= set(lines(log)), "child and grandchild to be ready")
    started = time.monotonic()
    run.proc.send_signal(signal.SIGINT)  # both record it and carry on
    assert run.finish() == 128 + signal.SIGKILL
    assert time.monotonic() - started >= 0.9, "killed before the stop timeout"
    assert {"child SIGINT", "grandchild SIGINT"} <= set(lines(log))
    assert "SIGTERM" not in " ".join(lines(log)), "SIGINT itself was the stop request: nothing else is sent"
    assert "STOP_TIMEOUT" in run.stderr


def test_stop_timeout_kills_a_child_that_ignores_sigterm_and_its_orphan(tmp_path: Path, supervise) -> None:  # type: ignore[no-untyped-def]
    pids_file = tmp_path / "pids"
    run = supervise("--stop-timeout", "1", "--", *python_script(tmp_path / "stubborn.py", STUBBORN), str(pids_file))
    wait_until(lambda: len(lines(pids_file)) == 2, "child and grandchild pids")
    pids = {role: int(pid) for role, pid in (line.split() for line in lines(pids_file))}
    grandchild = psutil.Process(pids["grandchild"])
    wait_until(lambda: grandchild.ppid() != pids["child"], "the grandchild to be orphaned")
    assert grandchild.ppid() != run.proc.pid  # only its session still ties it to the child
    started = time.monotonic()
    assert run.stop() == 128 + signal.SIGKILL
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 10, elapsed
    for pid in pids.values():
        wait_until(lambda p=pid: gone(p), f"pid {pid} to be gone")  # type: ignore[misc]
    assert "STOP_TIMEOUT" in run.stderr


def test_child_exiting_on_its_own_takes_its_leftovers_with_it(tmp_path: Path) -> None:
    pid_file = tmp_path / "sleeper"
    result = run_launcher(
        "supervise", "--stop-timeout", "5", "--", "sh", "-c", f"sleep 60 & echo $! > {pid_file}; exit 4", env=base_env()
    )
    assert result.returncode == 4, result.stderr
    sleeper = int(pid_file.read_text())
    wait_until(lambda: gone(sleeper), "the background sleep to be gone")


# Leaves five orphans that exit at once; an unreaped one stays a zombie forever.
ORPHANS = "for i in 1 2 3 4 5; do (sleep 0.1 &); done; exec sleep 60"


def zombies_under(pid: int) -> list[int]:
    try:
        children = psutil.Process(pid).children()
    except psutil.NoSuchProcess:
        return []
    out = []
    for child in children:
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                out.append(child.pid)
        except psutil.NoSuchProcess:
            continue
    return out


def test_subreaper_reaps_adopted_orphans(supervise) -> None:  # type: ignore[no-untyped-def]
    run = supervise("--subreaper", "--stop-timeout", "1", "-vv", "--", "sh", "-c", ORPHANS)
    wait_until(lambda: run.stderr.count("reaped orphan") >= 5, "five orphans reaped")
    assert zombies_under(run.proc.pid) == []
    assert run.stop() == 128 + signal.SIGTERM  # `sleep` dies of the forwarded SIGTERM


@pytest.fixture
def pid_namespace() -> None:
    require_unshare("--pid", "--fork", "--mount-proc")


def test_as_pid_1_reaps_every_orphan(pid_namespace, supervise) -> None:  # type: ignore[no-untyped-def]
    # No --subreaper: being PID 1 of the namespace is what brings the orphans home.
    run = supervise(
        "--stop-timeout", "1", "-vv", "--", "sh", "-c", ORPHANS, prefix=["unshare", "--pid", "--fork", "--mount-proc"]
    )

    def pid_1() -> int | None:
        try:
            kids = psutil.Process(run.proc.pid).children()
        except psutil.NoSuchProcess:
            return None
        return kids[0].pid if kids else None

    wait_until(lambda: pid_1() is not None and "reaped orphan" in run.stderr, "the launcher as PID 1")
    wait_until(lambda: run.stderr.count("reaped orphan") >= 5, "five orphans reaped by PID 1")
    launcher = pid_1()
    assert launcher is not None
    assert zombies_under(launcher) == []
    os.kill(launcher, signal.SIGTERM)  # PID 1 only gets signals it waits for: ours does
    assert run.finish() == 128 + signal.SIGTERM


def test_exit_code_maps_signals_to_128_plus_n() -> None:
    assert exit_code(7 << 8) == 7
    assert exit_code(signal.SIGTERM) == 143


# -- a session of its own, as --user too --------------------------------------------------------


def _status(pid: int) -> dict[str, str]:
    entries = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: v.strip() for k, _, v in (entry.partition(":") for entry in entries)}


def test_spawn_as_user_starts_a_clean_child_even_with_signals_blocked(as_root: None, shared: Path) -> None:
    from launcher.errors import CommandNotExecutableError
    from launcher.privileges import parse_user
    from launcher.supervise.children import spawn

    user = parse_user(f"{AGENT_UID}:{AGENT_UID}")
    waited = {signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, waited)  # as supervise's loop does
    try:
        pid = spawn("/bin/sleep", ["sleep", "30"], {"PATH": "/usr/bin:/bin"}, user=user)
        try:
            wait_until(lambda: _status(pid).get("Name") == "sleep", "the child to exec")
            status = _status(pid)
            assert status["Uid"].split() == [str(AGENT_UID)] * 4 and status["Gid"].split() == [str(AGENT_UID)] * 4
            assert status["Groups"].split() == [str(AGENT_UID)]
            assert int(status["SigBlk"], 16) == 0, "the blocked mask must not survive into the agent"
            assert int(status["SigIgn"], 16) == 0, "no ignored disposition either"
            assert status["NoNewPrivs"] == "1" and int(status["CapEff"], 16) == 0
            assert os.getsid(pid) == pid, "the child leads a session of its own"
        finally:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        root_only = write_file(shared / "root-only.sh", "#!/bin/sh\nexit 0\n", mode=0o700)
        with pytest.raises(CommandNotExecutableError):
            spawn(str(root_only), ["root-only.sh"], {}, user=user)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


# Pushes one byte into the input queue of the terminal on fd 0 (TIOCSTI) and
# records whether the kernel let it: what an agent would use to type
# commands into the shell that started the launcher.
TIOCSTI = r"""
import errno, fcntl, json, os, sys, termios
try:
    fcntl.ioctl(0, termios.TIOCSTI, b"#")
    result = "injected"
except OSError as exc:
    result = errno.errorcode.get(exc.errno, str(exc.errno))
with open(sys.argv[1], "a") as f:
    f.write(json.dumps({"uid": os.getuid(), "tty": os.isatty(0), "result": result}) + "\n")
"""


@pytest.mark.parametrize("how", ["control-same-session", "supervise-same-uid", "supervise-user"])
def test_a_supervised_agent_cannot_type_into_the_launchers_terminal(as_root: None, shared: Path, how: str) -> None:
    """The launcher runs with a pty as its controlling terminal, and the
    agent inherits that terminal as fd 0. supervise starts the agent in a
    session of its own, so TIOCSTI (which needs the terminal to be the
    caller's controlling one, or CAP_SYS_ADMIN) is refused. The control, the
    same program in the launcher's own session, shows the kernel here still
    allows the injection. (exec keeps the launcher's session on purpose: an
    interactive agent owns its terminal; docs/security.md.)"""
    if shutil.which("setsid") is None:
        unavailable("needs setsid (util-linux)")
    script = write_file(shared / "tiocsti.py", TIOCSTI)
    out = shared / "tiocsti.jsonl"
    agent = [agent_python(), str(script), str(out)]
    command = {
        "control-same-session": [*AS_AGENT, *agent],
        "supervise-same-uid": [*AS_AGENT, launcher_path(), "supervise", "--", *agent],
        "supervise-user": [launcher_path(), "supervise", "--user", f"{AGENT_UID}:{AGENT_UID}", "--", *agent],
    }[how]
    master, slave = os.openpty()
    try:
        proc = subprocess.run(
            ["setsid", "--ctty", *command], stdin=slave, stdout=slave, stderr=subprocess.PIPE,
            env=base_env(), timeout=TIMEOUT, check=False,
        )  # fmt: skip
    finally:
        os.close(slave)
        os.close(master)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (record,) = json_lines(out)
    assert record["uid"] == AGENT_UID and record["tty"] is True
    expected = "injected" if how.startswith("control") else "EPERM"
    assert record["result"] == expected, record
