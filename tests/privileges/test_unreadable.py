"""Nothing the launcher holds can be read back by the agent: every launcher
process (``exec``, ``check``, ``supervise``'s resident and its refresh
helpers) is non-dumpable from its first moment (``privileges.make_undumpable``),
so a process of the same uid reads neither its ``/proc/PID/environ`` nor its
memory nor its fds, and a resident under ptrace stops before it reads its
handover. (Issues 10 and 19.)

The agent runs as uid 10001 under ``setpriv``, since CI runs as root; the
files it must reach live in ``shared`` (pytest's tmp_path is root-only).
"""

from __future__ import annotations

import json
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
    DENIED,
    MARKER,
    OWN_API_KEY,
    ROTATED_API_KEY,
    TIMEOUT,
    WORKSPACE_ID,
    agent_python,
    assert_nothing_stolen,
    assert_parent_unreadable,
    json_lines,
    launcher_path,
    planted_env,
    platform_args,
    probe,
    rotate_and_wait_for_the_restart,
    run_launcher,
    stop_for_good,
    unavailable,
    wait_until,
    write_file,
)

from launcher.values import fingerprint

# Every test here runs the agent (or the launcher) as another uid.
pytestmark = pytest.mark.usefixtures("as_root")


def test_control_a_same_uid_parent_is_readable_without_the_launcher(shared: Path) -> None:
    """The probe can fail: under a plain same-uid parent it reads the planted token."""
    argv, out = probe(shared)
    result = subprocess.run(
        [*AS_AGENT, "sh", "-c", '"$@"; exit $?', "sh", *argv],
        env=planted_env(),
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (record,) = json_lines(out)
    assert record["uid"] == AGENT_UID and record["parent_environ"] == "read"
    assert MARKER.encode() in Path(str(out) + ".stolen").read_bytes()


def test_supervise_parent_environ_and_memory_are_unreadable_by_a_same_uid_child(shared: Path) -> None:
    env_file = write_file(shared / "own.env", f"ANTHROPIC_API_KEY={OWN_API_KEY}\n")
    argv, out = probe(shared)
    result = run_launcher(
        "supervise", "--billing-mode", "byok", "--env-file", str(env_file), "--", *argv,
        env=planted_env(), timeout=TIMEOUT, prefix=AS_AGENT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    (record,) = json_lines(out)
    assert record["uid"] == AGENT_UID, "the launcher and its child share the non-root uid"
    assert_parent_unreadable(record)
    assert_nothing_stolen(out)
    assert record["key"] == fingerprint(OWN_API_KEY)


def test_refresh_still_works_in_a_hardened_parent(shared: Path, platform, background) -> None:  # type: ignore[no-untyped-def]
    with platform.state.lock:
        platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    argv, out = probe(shared, stay=True)
    run = background(
        [*AS_AGENT, launcher_path(), "supervise", *platform_args(platform),
         "--refresh", "0.3", "--stop-timeout", "3", "--", *argv],
        planted_env(),
    )  # fmt: skip
    rotate_and_wait_for_the_restart(platform, out, "the child restarted after the rotation")
    first, second = json_lines(out)
    assert first["key"] == fingerprint(OWN_API_KEY) and second["key"] == fingerprint(ROTATED_API_KEY)
    for record in (first, second):
        assert record["uid"] == AGENT_UID
        assert_parent_unreadable(record)
    assert_nothing_stolen(out)
    assert run.stop() == 0
    assert "rotated ANTHROPIC_API_KEY" in run.stderr


# The agent stand-in as a fast attacker on the refresh helpers: for argv[2]
# seconds it scans /proc as quickly as it can for its parent (the resident)
# and every other child of it (a refresh helper in flight) and tries
# /proc/PID/{environ,cmdline,mem,fd/*} on each. Anything it reads goes to
# argv[1].stolen; argv[1] gets one JSON line of counts.
POLLER = r"""
import json, os, sys, time
out, seconds = sys.argv[1], float(sys.argv[2])
me, resident = os.getpid(), os.getppid()
stolen = open(out + ".stolen", "ab")
helpers, opened, reads, looks = set(), {}, 0, 0
def grab(label, path):
    global reads
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return
    opened[label] = opened.get(label, 0) + 1
    try:
        stolen.write(os.read(fd, 1 << 20)); reads += 1
    except OSError:
        pass
    finally:
        os.close(fd)
end = time.monotonic() + seconds
while time.monotonic() < end:
    pids = [resident]
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) not in (me, resident):
            try:
                stat = open(f"/proc/{name}/stat", "rb").read()
            except OSError:
                continue
            if int(stat[stat.rfind(b")") + 2 :].split()[1]) == resident:
                pids.append(int(name)); helpers.add(int(name))
    for pid in pids:
        looks += 1
        grab("environ", f"/proc/{pid}/environ")
        grab("cmdline", f"/proc/{pid}/cmdline")
        grab("mem", f"/proc/{pid}/mem")
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        opened["fd_list"] = opened.get("fd_list", 0) + 1
        for fd in fds:
            grab("fd", f"/proc/{pid}/fd/{fd}")
stolen.close()
with open(out, "a") as f:
    f.write(json.dumps(dict(helpers=len(helpers), opened=opened, reads=reads, looks=looks)) + "\n")
"""


def test_no_refresh_helper_is_readable_by_a_same_uid_child_at_any_moment(shared: Path, platform, background) -> None:  # type: ignore[no-untyped-def]
    """Issue 19.1: the agent polls every launcher process's environ, cmdline,
    mem and fds as fast as it can through dozens of refreshes. A helper
    started as a fresh interpreter was dumpable until its first line ran,
    and its stdin pipe (the request: the original environment, the token)
    could be opened through /proc/PID/fd/0. Only cmdline may be read, and
    nothing secret in it."""
    with platform.state.lock:
        platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    script = write_file(shared / "poller.py", POLLER)
    out = shared / "poller.jsonl"
    run = background(
        [*AS_AGENT, launcher_path(), "supervise", *platform_args(platform),
         "--refresh", "0.05", "--", agent_python(), str(script), str(out), "8"],
        planted_env(),
    )  # fmt: skip
    wait_until(lambda: json_lines(out), "the poller's report", timeout=40)
    (record,) = json_lines(out)
    assert record["helpers"] >= 20, f"too few refresh helpers watched to prove anything: {record}"
    assert set(record["opened"]) <= {"cmdline"}, f"a launcher process was readable: {record['opened']}"
    assert_nothing_stolen(out)
    assert run.stop() in (0, 128 + signal.SIGTERM)


@pytest.mark.parametrize("command", ["exec", "check", "supervise"])
def test_every_launcher_command_is_unreadable_by_its_uid_while_it_reads_the_platform(
    shared: Path,
    background,
    command: str,  # type: ignore[no-untyped-def]
) -> None:
    """Issue 19: not only supervise's resident. A launcher that waits for a
    slow platform holds the token (in its environ, as started, and in
    memory): another process of its uid reads neither."""
    import socket

    with socket.socket() as silent:  # accepts into its backlog, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        run = background(
            [*AS_AGENT, launcher_path(), command, "--platform-url", url, "--workspace-id", WORKSPACE_ID,
             "--billing-mode", "byok", "--deadline", "20", "--", "true"],
            planted_env(LAUNCHER_ALLOW_HTTP="1"),
        )  # fmt: skip
        wait_until(lambda: _connected(run.proc.pid), "the launcher to wait on the platform")
        found = subprocess.run(
            [*AS_AGENT, agent_python(), "-c", READ_PROC, str(run.proc.pid)],
            capture_output=True, text=True, timeout=TIMEOUT, check=False,
        )  # fmt: skip
        assert found.returncode == 0, found.stderr[-2000:]
        assert MARKER not in found.stdout, "a planted secret was read back"
        verdicts = json.loads(found.stdout)
        assert verdicts["uid"] == AGENT_UID
        for what in ("environ", "mem", "fd"):
            assert verdicts[what] in DENIED, f"{command}: /proc/PID/{what}: {verdicts[what]}"
        run.proc.kill()


def _connected(pid: int) -> bool:
    try:
        return any(c.status == psutil.CONN_ESTABLISHED for c in psutil.Process(pid).net_connections("tcp"))
    except psutil.Error:
        return False


# Another process of the launcher's uid: what it can open of /proc/argv[1].
READ_PROC = r"""
import errno, json, os, sys
pid = sys.argv[1]
out = {"uid": os.getuid()}
for what in ("environ", "mem", "fd"):
    path = f"/proc/{pid}/{what}"
    try:
        if what == "fd":
            out[what] = "listed " + str(len(os.listdir(path)))
        else:
            with open(path, "rb") as f:
                out[what] = "read" if f.read(1 << 16) else "empty"
    except OSError as exc:
        out[what] = errno.errorcode.get(exc.errno, str(exc.errno))
print(json.dumps(out))
"""

# Another process of the launcher's uid, started before it: for argv[2]
# seconds it opens every fd of every process whose command line names the
# resident, as fast as it can, and keeps what it reads in argv[1].stolen.
RESIDENT_WATCHER = r"""
import json, os, sys, time
out, seconds = sys.argv[1], float(sys.argv[2])
stolen, opened, seen = open(out + ".stolen", "ab"), 0, set()
end = time.monotonic() + seconds
while time.monotonic() < end:
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            if b"launcher.supervise.resident" not in open(f"/proc/{name}/cmdline", "rb").read():
                continue
            seen.add(name)
            fds = os.listdir(f"/proc/{name}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                handle = os.open(f"/proc/{name}/fd/{fd}", os.O_RDONLY | os.O_NONBLOCK)
            except OSError:
                continue
            opened += 1
            try:
                stolen.write(os.read(handle, 1 << 20))
            except OSError:
                pass
            os.close(handle)
stolen.close()
with open(out, "a") as f:
    f.write(json.dumps({"residents": len(seen), "opened": opened}) + "\n")
"""


def test_the_resident_is_unreadable_from_its_first_moment(shared: Path, background) -> None:  # type: ignore[no-untyped-def]
    """Attack pass on issue 19: right after its execve the resident is
    dumpable until its first line; the handover then waited in a memfd any
    process of its uid could open through /proc/PID/fd. It now waits in a
    socket, which no path opens. A watcher of the launcher's uid, started
    first, polls through several supervise starts."""
    env_file = write_file(shared / "own.env", f"ANTHROPIC_API_KEY={OWN_API_KEY}\n")
    script = write_file(shared / "watcher.py", RESIDENT_WATCHER)
    out = shared / "watcher.jsonl"
    watcher = subprocess.Popen([*AS_AGENT, agent_python(), str(script), str(out), "6"], stdin=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        for _ in range(6):
            result = run_launcher(
                "supervise", "--billing-mode", "byok", "--env-file", str(env_file), "--", "true",
                env=planted_env(), timeout=TIMEOUT, prefix=AS_AGENT,
            )  # fmt: skip
            assert result.returncode == 0, result.stderr[-2000:]
        assert watcher.wait(TIMEOUT) == 0
    finally:
        stop_for_good(watcher)
    (record,) = json_lines(out)
    assert record["residents"] >= 1, f"the watcher never saw a resident: {record}"
    assert_nothing_stolen(out)


def test_a_traced_resident_stops_before_it_reads_the_handover(tmp_path: Path) -> None:
    """A tracer attached in that first moment would stay attached: the
    resident refuses to go on under ptrace (strace here), nothing started."""
    if shutil.which("strace") is None:
        unavailable("needs strace")
    marker = tmp_path / "started"
    result = run_launcher(
        "supervise", "--", "touch", str(marker),
        env=planted_env(), timeout=TIMEOUT, prefix=("strace", "-f", "-qq", "-o", "/dev/null"),
    )  # fmt: skip
    assert result.returncode == 70, result.stderr[-2000:]
    assert "the resident is being traced" in result.stderr
    assert not marker.exists()
