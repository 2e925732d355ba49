"""``supervise``: real processes, real signals, a real loopback platform.

Long-running launchers are started with Popen and watched through files
their children write (pids, received signals, key fingerprints — never a
value). Every wait polls for a condition with a generous timeout, so a
loaded machine makes a test slower, not flaky.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from support import (
    MARKER,
    OWN_API_KEY,
    WORKSPACE_TOKEN,
    assert_no_secret,
    base_env,
    launcher_path,
    parse_env_dump,
    platform_args,
    require_unshare,
    run_launcher,
    stop_for_good,
    token_env,
    wait_until,
)

from launcher.config import parse_signal
from launcher.errors import ConfigError
from launcher.supervise.children import exit_code
from launcher.supervise.refresh import MAX_BACKOFF_FACTOR, Schedule, compare
from launcher.values import fingerprint

ROTATED_API_KEY = f"sk-ant-api03-rotated-{MARKER}-9e11a5"
TIMEOUT = 20.0  # generous: a loaded 2-core runner is slow, not broken


def gone(pid: int) -> bool:
    """Exited; a zombie whose parent has not reaped it yet counts as gone."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def first_start(starts: Path) -> int:
    """The pid of the first child, once it has written its line to ``starts``."""
    wait_until(lambda: len(lines(starts)) == 1, "the first start")
    return int(lines(starts)[0].split()[0])


class Supervised:
    """One ``agent-launcher supervise`` running in the background."""

    def __init__(self, tmp_path: Path, args: list[str], env: dict[str, str], prefix: list[str] | None = None) -> None:
        self.out = tmp_path / "launcher.out"
        self.err = tmp_path / "launcher.err"
        with self.out.open("w") as out, self.err.open("w") as err:
            self.proc = subprocess.Popen(
                [*(prefix or []), launcher_path(), *args], env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL
            )

    @property
    def stderr(self) -> str:
        return self.err.read_text()

    def finish(self, timeout: float = TIMEOUT) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"supervise did not exit within {timeout:g}s")
        assert_no_secret(self.out.read_text() + self.stderr)
        return code

    def close(self) -> None:
        stop_for_good(self.proc)


@pytest.fixture
def supervise(tmp_path: Path):  # type: ignore[no-untyped-def]
    started: list[Supervised] = []

    def start(*args: str, env: dict[str, str] | None = None, prefix: list[str] | None = None) -> Supervised:
        run = Supervised(tmp_path, ["supervise", *args], base_env() if env is None else env, prefix)
        started.append(run)
        return run

    yield start
    for run in started:
        run.close()


def script(tmp_path: Path, name: str, body: str) -> list[str]:
    path = tmp_path / name
    path.write_text(body)
    return [sys.executable, str(path)]


# -- children -------------------------------------------------------------------

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

# Appends "pid fingerprint-of-ANTHROPIC_API_KEY" at each start; exits 0 on
# SIGTERM, or ignores it when given a second argument.
KEY_REPORTER = """
import hashlib, os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN if len(sys.argv) > 2 else lambda *_: sys.exit(0))
value = os.environ.get("ANTHROPIC_API_KEY", "")
with open(sys.argv[1], "a") as f:
    f.write(f"{os.getpid()} {hashlib.sha256(value.encode()).hexdigest()[:8]}\\n")
while True:
    time.sleep(1)
"""


# -- refusal and exit status ----------------------------------------------------


def test_refusal_exits_78_and_starts_no_child(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    result = run_launcher("supervise", "--billing-mode", "byok", "--", "sh", "-c", f"touch {marker}", env=base_env())
    assert result.returncode == 78, result.stderr
    assert "MISSING_BYOK_CREDENTIAL" in result.stderr
    assert not marker.exists()


def test_unknown_command_exits_127(tmp_path: Path) -> None:
    result = run_launcher("supervise", "--", "no-such-command-here", env=base_env())
    assert result.returncode == 127, result.stderr


def test_bad_stop_signal_is_a_config_error() -> None:
    result = run_launcher("supervise", "--stop-signal", "SIGBOGUS", "--", "true", env=base_env())
    assert result.returncode == 64, result.stderr


@pytest.mark.parametrize(("command", "expected"), [("exit 7", 7), ("exit 0", 0), ("kill -USR1 $$", 138)])
def test_exit_status_and_128_plus_signal(command: str, expected: int) -> None:
    result = run_launcher("supervise", "--", "sh", "-c", command, env=base_env())
    assert result.returncode == expected, result.stderr


def test_gated_environment_reaches_the_child(tmp_path: Path) -> None:
    env_file = tmp_path / "ws.env"
    env_file.write_text(f"ANTHROPIC_API_KEY={OWN_API_KEY}\n")
    dump = tmp_path / "env.txt"
    env = base_env(MOLECULE_WORKSPACE_TOKEN=WORKSPACE_TOKEN, CLAUDE_CODE_OAUTH_TOKEN="inherited-" + MARKER)
    result = run_launcher(
        "supervise", "--billing-mode", "byok", "--env-file", str(env_file), "--", "sh", "-c", f"env > {dump}", env=env
    )
    assert result.returncode == 0, result.stderr
    seen = parse_env_dump(dump.read_text())
    assert fingerprint(seen["ANTHROPIC_API_KEY"]) == fingerprint(OWN_API_KEY)
    assert "CLAUDE_CODE_OAUTH_TOKEN" not in seen  # inherited LLM key stripped in byok
    assert "MOLECULE_WORKSPACE_TOKEN" not in seen


# -- signals ------------------------------------------------------------------------


def test_forwards_each_signal_to_the_child_process_group(tmp_path: Path, supervise) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "signals.log"
    # SIGINT starts the stop: the grace must outlast the rest of the test on a slow machine.
    run = supervise("--stop-timeout", "60", "--", *script(tmp_path, "recorder.py", RECORDER), str(log))
    wait_until(lambda: {"child ready", "grandchild ready"} <= set(lines(log)), "child and grandchild to be ready")
    for name in ("SIGHUP", "SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGQUIT", "SIGINT"):
        run.proc.send_signal(getattr(signal, name))
        expected = {f"child {name}", f"grandchild {name}"}
        wait_until(lambda e=expected: e <= set(lines(log)), f"{name} to reach both processes")  # type: ignore[misc]
    assert run.proc.poll() is None, (
        "SIGINT is a shutdown signal: forwarded, then the supervisor waits up to --stop-timeout for the "
        "child, which ignores it; the supervisor must not have exited yet"
    )
    run.proc.send_signal(signal.SIGTERM)
    assert run.finish() == 3  # the child's own status on SIGTERM
    assert {"child SIGTERM", "grandchild SIGTERM"} <= set(lines(log))


def test_sigint_is_a_shutdown_signal_and_the_stop_timeout_ends_it(tmp_path: Path, supervise) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "signals.log"
    run = supervise("--stop-timeout", "1", "--", *script(tmp_path, "recorder.py", RECORDER), str(log))
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
    run = supervise("--stop-timeout", "1", "--", *script(tmp_path, "stubborn.py", STUBBORN), str(pids_file))
    wait_until(lambda: len(lines(pids_file)) == 2, "child and grandchild pids")
    pids = {role: int(pid) for role, pid in (line.split() for line in lines(pids_file))}
    grandchild = psutil.Process(pids["grandchild"])
    wait_until(lambda: grandchild.ppid() != pids["child"], "the grandchild to be orphaned")
    assert grandchild.ppid() != run.proc.pid  # only its session still ties it to the child
    started = time.monotonic()
    run.proc.send_signal(signal.SIGTERM)
    assert run.finish() == 128 + signal.SIGKILL
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


# -- reaping ----------------------------------------------------------------------------

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
    run.proc.send_signal(signal.SIGTERM)
    assert run.finish() == 128 + signal.SIGTERM  # `sleep` dies of the forwarded SIGTERM


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


# -- refresh and rotation -----------------------------------------------------------------


def _with_own_key(platform) -> None:  # type: ignore[no-untyped-def]
    with platform.state.lock:
        platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY


def supervise_reporter(  # type: ignore[no-untyped-def]
    supervise, platform, tmp_path: Path, *flags: str, child_args: tuple[str, ...] = (), env=None
):
    """``supervise`` with ``flags`` against ``platform``, which holds the
    workspace's own key; the child a reporter that appends "pid fingerprint"
    to the returned file at each start."""
    _with_own_key(platform)
    starts = tmp_path / "starts"
    reporter = script(tmp_path, "reporter.py", KEY_REPORTER)
    run = supervise(*platform_args(platform), *flags, "--", *reporter, str(starts), *child_args, env=env or token_env())
    return run, starts


def _value_requests(platform) -> int:  # type: ignore[no-untyped-def]
    with platform.state.lock:
        return sum(1 for r in platform.state.requests if r.path.endswith("/secrets/values"))


def test_rotation_restarts_the_child_exactly_once_with_the_new_key(tmp_path: Path, platform, supervise) -> None:  # type: ignore[no-untyped-def]
    run, starts = supervise_reporter(supervise, platform, tmp_path, "--refresh", "0.3", "--stop-timeout", "2")
    wait_until(lambda: len(lines(starts)) == 1, "the first start")
    assert lines(starts)[0].split()[1] == fingerprint(OWN_API_KEY)
    wait_until(lambda: _value_requests(platform) >= 3, "a couple of unchanged refreshes")
    assert len(lines(starts)) == 1, "an unchanged bundle must not restart the child"

    with platform.state.lock:
        platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = ROTATED_API_KEY
    wait_until(lambda: len(lines(starts)) == 2, "the restart after rotation")
    first_pid, second = lines(starts)[0].split()[0], lines(starts)[1].split()
    assert second[1] == fingerprint(ROTATED_API_KEY)
    wait_until(lambda: gone(int(first_pid)), "the old child to be gone")

    settled = _value_requests(platform)
    wait_until(lambda: _value_requests(platform) >= settled + 3, "more refreshes after the restart")
    assert len(lines(starts)) == 2, "exactly one restart per rotation"
    run.proc.send_signal(signal.SIGTERM)
    assert run.finish() == 0
    assert "rotated ANTHROPIC_API_KEY" in run.stderr
    assert run.stderr.count("ENVIRONMENT_CHANGED") == 1


CODEX_HOME_REPORTER = """
import os, signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
with open(sys.argv[1], "a") as f:
    f.write(os.environ["CODEX_HOME"] + "\\n")
while True:
    time.sleep(1)
"""


def _codex_auth(key: str) -> str:
    import json

    return json.dumps({"auth_mode": "apikey", "OPENAI_API_KEY": key})


def test_a_refreshed_codex_home_is_kept_by_the_resident_not_the_helper(tmp_path: Path, platform, supervise) -> None:  # type: ignore[no-untyped-def]
    """A rotated CODEX_AUTH_JSON is written by the refresh helper, which exits
    at once: the new private CODEX_HOME records the resident's PID, so no
    other launcher takes it for stale and removes it under the running agent.
    The old child's goes once the new child runs; the new one when the
    resident exits, the agent gone."""
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    with platform.state.lock:
        platform.state.workspace_secrets["CODEX_AUTH_JSON"] = _codex_auth(OWN_API_KEY)
    homes = tmp_path / "homes"
    reporter = script(tmp_path, "codex_home.py", CODEX_HOME_REPORTER)
    flags = ("--billing-mode", "byok", "--provider", "codex", "--agent", "codex", "--refresh", "0.3")
    run = supervise(
        *platform_args(platform), *flags, "--", *reporter, str(homes), env=token_env(XDG_RUNTIME_DIR=str(runtime))
    )
    wait_until(lambda: len(lines(homes)) == 1, "the first start")
    with platform.state.lock:
        platform.state.workspace_secrets["CODEX_AUTH_JSON"] = _codex_auth(ROTATED_API_KEY)
    wait_until(lambda: len(lines(homes)) == 2, "the restart after rotation")
    first, second = (Path(h) for h in lines(homes))
    assert first != second and first.parent == second.parent == runtime
    marks = sorted(p.name for p in second.iterdir() if p.name.startswith(".pid-"))
    assert marks == [f".pid-{run.proc.pid}"], f"{second.name}: {marks}"
    wait_until(lambda: not first.exists(), "the old child's CODEX_HOME to go once the new child runs")
    assert (second / "auth.json").exists(), "the running child's CODEX_HOME went too"
    run.proc.send_signal(signal.SIGTERM)
    assert run.finish() == 0
    assert list(runtime.iterdir()) == [], "the private CODEX_HOMEs outlived the resident that kept them"


def test_the_resident_parent_holds_no_value_in_its_environment_or_argv(tmp_path: Path, platform, supervise) -> None:  # type: ignore[no-untyped-def]
    """After the gate the parent re-executes itself with an empty environment:
    what the container handed it (the token, an inherited platform key) is
    no longer in its /proc/PID/environ, and nothing secret is in its argv or
    in the refresh helper's. Refreshes still reach the platform."""
    run, starts = supervise_reporter(
        supervise, platform, tmp_path, "--refresh", "0.3", env=token_env(CLAUDE_CODE_OAUTH_TOKEN=f"inherited-{MARKER}")
    )
    wait_until(lambda: len(lines(starts)) == 1, "the first start")
    pid = run.proc.pid
    launcher_processes = {pid}
    for _ in range(40):  # catch refresh helpers in flight, too (the agent itself holds its own key by design)
        helpers = []
        for child in psutil.Process(pid).children():
            try:
                if "launcher.supervise.resident" in " ".join(child.cmdline()):  # a fork of the resident
                    helpers.append(child.pid)
            except psutil.Error:
                continue  # a helper that has just finished
        launcher_processes.update(helpers)
        for each in [pid, *helpers]:
            try:
                environ = Path(f"/proc/{each}/environ").read_bytes()
                cmdline = Path(f"/proc/{each}/cmdline").read_bytes()
            except OSError:
                continue  # a helper that finished in between
            leaked = MARKER.encode() in environ or MARKER.encode() in cmdline
            assert not leaked, f"launcher process {each} holds a value in its environment or argv"
        time.sleep(0.05)
    assert Path(f"/proc/{pid}/environ").read_bytes() == b"", "the resident parent kept an environment"
    assert len(launcher_processes) > 1, "no refresh helper was seen in 2 s of --refresh 0.3"
    wait_until(lambda: _value_requests(platform) >= 3, "refreshes by the helper")
    run.proc.send_signal(signal.SIGTERM)
    assert run.finish() == 0


def test_shutdown_during_a_restart_is_the_last_stop(tmp_path: Path, platform, supervise) -> None:  # type: ignore[no-untyped-def]
    run, starts = supervise_reporter(
        supervise, platform, tmp_path, "--refresh", "0.2", "--stop-timeout", "2", child_args=("ignore-sigterm",)
    )
    child = first_start(starts)
    with platform.state.lock:
        platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = ROTATED_API_KEY
    wait_until(lambda: "ENVIRONMENT_CHANGED" in run.stderr, "the restart to begin")
    run.proc.send_signal(signal.SIGTERM)  # the child ignores the stop signal, so the restart is still waiting
    assert run.finish() == 128 + signal.SIGKILL
    assert len(lines(starts)) == 1, "no new child once shutting down"
    assert gone(child)


def test_platform_down_keeps_the_child(tmp_path: Path, platform, supervise) -> None:  # type: ignore[no-untyped-def]
    run, starts = supervise_reporter(
        supervise, platform, tmp_path, "--refresh", "0.2", "--deadline", "1", "--stop-timeout", "2"
    )
    child = first_start(starts)
    platform.server.shutdown()
    platform.server.server_close()  # connection refused from now on
    wait_until(lambda: run.stderr.count("refresh failed") >= 2, "two failed refreshes")
    assert "PLATFORM_UNAVAILABLE" in run.stderr
    assert not gone(child) and len(lines(starts)) == 1, "the running child must be kept"
    run.proc.send_signal(signal.SIGTERM)
    assert run.finish() == 0


def test_bad_bundle_or_refusing_plan_keeps_the_child(tmp_path: Path, platform, supervise) -> None:  # type: ignore[no-untyped-def]
    from launcher.devserver import Canned

    run, starts = supervise_reporter(
        supervise, platform, tmp_path, "--refresh", "0.2", "--deadline", "2", "--stop-timeout", "2"
    )
    child = first_start(starts)
    platform.state.push(*[Canned(200, b"not json", {"Content-Type": "application/json"})] * 3)
    wait_until(lambda: "BUNDLE_INVALID" in run.stderr, "a bad bundle to be refused")
    with platform.state.lock:
        del platform.state.workspace_secrets["ANTHROPIC_API_KEY"]  # byok with no key of its own
    wait_until(lambda: "MISSING_BYOK_CREDENTIAL" in run.stderr, "the refusing plan to be logged")
    assert not gone(child) and len(lines(starts)) == 1, "the running child must be kept"
    run.proc.send_signal(signal.SIGTERM)
    assert run.finish() == 0


# -- pure pieces ----------------------------------------------------------------------------


def test_parse_signal_accepts_names_and_numbers() -> None:
    assert parse_signal("SIGTERM") is signal.SIGTERM
    assert parse_signal("hup") is signal.SIGHUP
    assert parse_signal("9") is signal.SIGKILL
    with pytest.raises(ConfigError):
        parse_signal("NOPE")


def test_exit_code_maps_signals_to_128_plus_n() -> None:
    assert exit_code(7 << 8) == 7
    assert exit_code(signal.SIGTERM) == 143


def test_schedule_jitters_and_backs_off_up_to_the_cap() -> None:
    high = Schedule(10.0, _random=lambda: 1.0)
    low = Schedule(10.0, _random=lambda: 0.0)
    assert low.after_success() == pytest.approx(9.0) and high.after_success() == pytest.approx(11.0)
    delays = [high.after_failure() for _ in range(6)]
    assert delays == sorted(delays) and delays[-1] == pytest.approx(10.0 * MAX_BACKOFF_FACTOR)
    assert low.after_failure() == pytest.approx(10.0)  # half of 2x the interval, never less
    high.after_success()
    assert high.failures == 0


def test_compare_names_changed_keys_only() -> None:
    old = {"A": OWN_API_KEY, "B": "same", "C": "gone"}
    new = {"A": ROTATED_API_KEY, "B": "same", "D": "new"}
    change = compare(old, new)
    assert change.describe() == "rotated A; removed C; added D"
    assert not compare(old, old)
    assert MARKER not in repr(change)


# -- the loop, in-process, with every seam faked ---------------------------------------------


class FakeTree:
    """A tree whose members are whatever the world says is still alive."""

    def __init__(self, world: World, leader: int) -> None:
        self.world, self.leader = world, leader

    def collect(self) -> None:
        pass

    def alive(self) -> list[int]:
        return sorted(self.world.alive)

    def kill(self) -> int:
        killed = sorted(self.world.alive)
        self.world.killed += killed
        for pid in killed:
            self.world.exit(pid, signal.SIGKILL)
        return len(killed)


class World:
    """Pretend children that obey some signals, a clock that jumps to each
    timeout, and scripted signals for the supervisor itself."""

    def __init__(self, obeys: dict[int, int] | None = None) -> None:
        self.obeys = obeys or {}  # signal -> the wait status a child exits with on it
        self.now = 0.0
        self.next_pid = 100
        self.spawned: list[dict[str, str]] = []
        self.sent: list[tuple[int, int]] = []
        self.alive: set[int] = set()
        self.killed: list[int] = []
        self.exits: list[tuple[int, int]] = []  # waiting to be reaped
        self.script: list[tuple[Callable[[], bool], int]] = []  # (when, signal to the supervisor)

    def spawn(self, path: str, argv: object, env: dict[str, str]) -> int:
        self.next_pid += 1
        self.spawned.append(dict(env))
        self.alive.add(self.next_pid)
        return self.next_pid

    def signal_group(self, pgid: int, signum: int) -> bool:
        self.sent.append((pgid, signum))
        if signum in self.obeys and pgid in self.alive:
            self.exit(pgid, self.obeys[signum])
        return True

    def exit(self, pid: int, status: int) -> None:
        self.alive.discard(pid)
        self.exits.append((pid, status))

    def reap(self) -> list[tuple[int, int]]:
        exits, self.exits = self.exits, []
        return exits

    def wait(self, timeout: float | None) -> int | None:
        if self.exits:
            return signal.SIGCHLD
        if self.script and self.script[0][0]():
            return self.script.pop(0)[1]
        assert timeout is not None, "the loop would block forever here"
        time.sleep(0.002)  # let a refresh thread finish
        self.now += timeout
        return None

    def supervisor(
        self, pull: Callable[[], object] | None = None, refresh: float | None = None, stop_timeout: float = 5
    ):  # type: ignore[no-untyped-def]
        """``pull``: what each refresh helper answers (or raises)."""
        from launcher.launch import Startable
        from launcher.log import Log
        from launcher.supervise.handover import Options
        from launcher.supervise.loop import Supervisor

        return Supervisor(
            Startable(("agent",), {"ANTHROPIC_API_KEY": OWN_API_KEY}, "/bin/agent"),
            Options(refresh=refresh, stop_signal=signal.SIGTERM, stop_timeout=stop_timeout, subreaper=False),
            Log("text", 0),
            pull=None if pull is None else FakePull(self, pull),  # type: ignore[arg-type]
            _spawn=self.spawn,  # type: ignore[arg-type]
            _wait=self.wait,
            _reap=self.reap,
            _signal_group=self.signal_group,
            _tree=lambda leader: FakeTree(self, leader),  # type: ignore[arg-type,return-value]
            _clock=lambda: self.now,
            _random=lambda: 0.5,
        )


class FakePull:
    """Refresh helpers that exit as soon as they start (pids from 900, apart
    from the children's), answering what ``answer`` returns or raises."""

    def __init__(self, world: World, answer: Callable[[], object]) -> None:
        self.world, self.answer, self.started = world, answer, 0

    def start(self, current: object) -> int:
        self.started += 1
        pid = 900 + self.started
        self.world.exits.append((pid, 0))
        return pid

    def finish(self) -> object:
        return self.answer()

    def cancel(self) -> None:
        pass


def always() -> bool:
    return True


def test_loop_sigterm_forwards_and_exits_with_the_childs_status() -> None:
    world = World(obeys={signal.SIGTERM: signal.SIGTERM})
    world.script = [(always, signal.SIGHUP), (always, signal.SIGTERM)]
    assert world.supervisor().run() == 128 + signal.SIGTERM
    assert world.sent == [(101, signal.SIGHUP), (101, signal.SIGTERM)]
    assert world.killed == []


def test_loop_rotation_stops_then_restarts_with_the_new_environment() -> None:
    from launcher.launch import Startable

    world = World(obeys={signal.SIGTERM: 3 << 8})
    rotated = Startable(("agent",), {"ANTHROPIC_API_KEY": ROTATED_API_KEY}, "/bin/agent")
    sup = world.supervisor(pull=lambda: rotated, refresh=30.0)
    world.script = [(lambda: len(world.spawned) == 2, signal.SIGTERM)]
    assert sup.run() == 3
    assert [fingerprint(env["ANTHROPIC_API_KEY"]) for env in world.spawned] == [
        fingerprint(OWN_API_KEY),
        fingerprint(ROTATED_API_KEY),
    ]
    assert world.sent == [(101, signal.SIGTERM), (102, signal.SIGTERM)]  # the stop signal, then our shutdown
    assert world.killed == []
    assert world.now >= 30.0 * 0.9  # the first pull waited for its (jittered) interval


def test_loop_failed_refreshes_keep_the_child_and_back_off() -> None:
    from launcher.errors import PlatformUnavailableError

    world = World(obeys={signal.SIGTERM: signal.SIGTERM})
    pulls: list[float] = []

    def failing() -> object:
        pulls.append(world.now)
        raise PlatformUnavailableError("down")

    sup = world.supervisor(pull=failing, refresh=10.0)
    world.script = [(lambda: len(pulls) >= 5 and sup.helper is None, signal.SIGTERM)]
    assert sup.run() == 128 + signal.SIGTERM
    assert len(world.spawned) == 1 and world.sent == [(101, signal.SIGTERM)]
    # _random = 0.5: the interval, then 3/4 of 2x, 4x, 8x (the cap), 8x the interval.
    assert [round(b - a) for a, b in itertools.pairwise([0.0, *pulls])] == [10, 15, 30, 60, 60]


def test_loop_stop_timeout_kills_the_tree() -> None:
    world = World()  # the child ignores everything
    world.script = [(always, signal.SIGTERM)]
    assert world.supervisor(stop_timeout=2.0).run() == 128 + signal.SIGKILL
    assert world.killed == [101] and world.now >= 2.0


def test_loop_child_exit_is_not_restarted() -> None:
    world = World()
    world.script = [(always, -1)]
    sup = world.supervisor(pull=lambda: None, refresh=1.0)
    original = world.wait

    def wait(timeout: float | None) -> int | None:
        signum = original(timeout)
        if signum == -1:
            world.exit(101, 9 << 8)
            return None
        return signum

    sup._wait = wait
    assert sup.run() == 9
    assert len(world.spawned) == 1


@pytest.mark.parametrize("handover", [None, b"", b"{not json", b'{"log": {"fmt": "text", "verbosity": 1}}'])
def test_the_resident_reports_a_bad_handover_by_type_and_place(handover: bytes | None) -> None:
    """Issue 19.6: every launcher program reports errors by type and place,
    the resident too (a handover it cannot read, or no handover at all)."""
    from launcher.supervise.resident import interpreter, this_interpreter

    fd = os.memfd_create("test-handover", 0) if handover is not None else 999
    try:
        if handover is not None:
            os.write(fd, handover)
            os.lseek(fd, 0, os.SEEK_SET)
        proc = subprocess.run(
            interpreter("launcher.supervise.resident", "resident", str(fd), site=False),
            executable=this_interpreter(), pass_fds=() if handover is None else (fd,),
            env={}, capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    finally:
        if handover is not None:
            os.close(fd)
    assert proc.returncode == 70, proc.stderr
    assert "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("agent-launcher: error: INTERNAL_ERROR: ")


# -- issue 19.7: agent files that change between the check and the start ---------------------------

# A claude stand-in (--agent claude-code) that reports each start, and on
# SIGTERM writes argv[2] to argv[3] under its HOME (default its user
# settings), as claude rewrites its own files while it runs, then exits.
SETTINGS_WRITER = """
import hashlib, json, os, signal, sys, time
starts, payload = sys.argv[1], sys.argv[2]
settings = os.path.join(os.environ["HOME"], sys.argv[3] if len(sys.argv) > 3 else ".claude/settings.json")
def stop(*_):
    os.makedirs(os.path.dirname(settings), exist_ok=True)
    with open(settings + ".tmp", "w") as f:
        f.write(payload)
    os.replace(settings + ".tmp", settings)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
value = os.environ.get("ANTHROPIC_API_KEY", "")
with open(starts, "a") as f:
    f.write(f"{os.getpid()} {hashlib.sha256(value.encode()).hexdigest()[:8]}\\n")
while True:
    time.sleep(1)
"""


@pytest.mark.parametrize(
    ("payload", "where", "restarts"),
    [
        pytest.param({"theme": "dark"}, ".claude/settings.json", True, id="harmless-change-restarts-after-a-check"),
        pytest.param(
            {"env": {"ANTHROPIC_API_KEY": "sk-ant-api03-planted-FAKESECRET-0"}},
            ".claude/settings.json",
            False,
            id="foreign-refuses",
        ),
        # Attack pass: a new file in a directory a glob listed (no stamp of its own yet).
        pytest.param(
            "sk-ant-oat01-planted-FAKESECRET-1",
            ".config/anthropic/credentials/new.json",
            False,
            id="new-file-in-a-glob",
        ),
    ],
)
def test_agent_files_changed_while_the_old_child_stopped_are_judged_again(
    tmp_path: Path,
    platform,  # type: ignore[no-untyped-def]
    supervise,  # type: ignore[no-untyped-def]
    payload: object,
    where: str,
    restarts: bool,
) -> None:
    """The refresh judged ~/.claude/settings.json while the old child ran;
    the old child rewrites it as it stops. The restart does not start on
    that stale verdict: it pulls and judges again. A harmless change
    restarts with the rotated key; a planted foreign key refuses (78), and
    nothing is started."""
    home = tmp_path / "home"
    home.mkdir()
    _with_own_key(platform)
    starts = tmp_path / "starts"
    child = script(tmp_path, "writer.py", SETTINGS_WRITER)
    run = supervise(
        *platform_args(platform), "--agent", "claude-code", "--refresh", "0.3", "--stop-timeout", "3",
        "--", *child, str(starts), payload if isinstance(payload, str) else json.dumps(payload), where,
        env=token_env(HOME=str(home)),
    )  # fmt: skip
    wait_until(lambda: len(lines(starts)) == 1, "the first start")
    with platform.state.lock:
        platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = ROTATED_API_KEY
    if restarts:
        wait_until(lambda: len(lines(starts)) == 2, "the restart after the second check")
        assert lines(starts)[1].split()[1] == fingerprint(ROTATED_API_KEY)
        assert "checking again before the restart" in run.stderr
        run.proc.send_signal(signal.SIGTERM)
        assert run.finish() == 0
    else:
        assert run.finish() == 78
        assert len(lines(starts)) == 1, "a child started on a file that now holds a foreign key"
        assert "FOREIGN_AGENT_CREDENTIAL" in run.stderr and "the restart was refused" in run.stderr


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


def test_the_handover_crosses_json_as_the_records_it_was() -> None:
    """The typed handover: what the command builds is what the resident
    gets back, tuples and nested records included (JSON alone would hand
    it lists and arrays)."""
    from launcher.launch import Startable
    from launcher.privileges import Identity
    from launcher.supervise.handover import (
        Endpoint,
        Handover,
        LogSettings,
        Options,
        ProxyRequest,
        PullInputs,
        RefreshRequest,
    )

    first = Startable(
        ("agent", "--flag"),
        {"ANTHROPIC_API_KEY": OWN_API_KEY},
        "/bin/agent",
        (("/h/.claude.json", (1, 2, 3, 4, 5, "ab")), ("/x", None)),
    )
    # flags: JSON-shaped (a list for a tuple), as load_config reads them on either side
    inputs = PullInputs({"billing_mode": "byok", "argv": ["agent", "--flag"]}, {}, LogSettings("json", 2), ("/p",))
    endpoint = Endpoint("http://127.0.0.1:5", "lpx-credential")
    sent = Handover(
        Options(30.0, signal.SIGTERM, 10.0, True),
        LogSettings("json", 2),
        first,
        Identity("10001:10001", 10001, 10001, (10001, 20), None, None),
        RefreshRequest(inputs, 35, endpoint, None),
        ProxyRequest(inputs, 7, endpoint, "/configs/.auth_token"),
    )
    received = Handover.loads(sent.dumps())
    assert received == sent
    assert isinstance(received.options.stop_signal, signal.Signals) and isinstance(received.user, Identity)
    assert isinstance(received.first.watched[0][1], tuple) and isinstance(received.first.argv, tuple)
    assert received.refresh is not None and isinstance(received.refresh.proxy, Endpoint)
    assert received.proxy is not None and isinstance(received.proxy.inputs.log, LogSettings)
