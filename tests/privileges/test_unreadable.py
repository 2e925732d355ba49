"""Nothing the launcher strips can be read back by the agent (issue 10).

- ``supervise``'s parent is non-dumpable: a child of the same uid cannot
  read its /proc/PID/environ or memory (the child runs as uid 10001 under
  ``setpriv``, since CI runs as root), and refreshes still work.
- ``--user``: the agent runs as that user, with its groups, no way back to
  root, ``no_new_privs``; it cannot read a root-only token file nor its
  supervising parent.
- The environment is proven startable before any start and before a
  refresh stops a working child: ``BUNDLE_INVALID`` (65) naming the key, the
  same in ``exec`` and ``check``.
- An empty ``--billing-mode`` is refused; zero-width characters and case
  do not change what a mode means.

Files a uid-10001 process must read live in a world-readable directory of
their own (pytest's tmp_path is root-only).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from support import (
    MARKER,
    OWN_API_KEY,
    PLATFORM_OAUTH,
    WORKSPACE_ID,
    WORKSPACE_TOKEN,
    assert_no_secret,
    base_env,
    launcher_path,
    platform_args,
    require_unshare,
    run_launcher,
    stop_for_good,
    token_env,
    unavailable,
    wait_until,
)

from launcher.config import BillingMode, load_config
from launcher.devserver import DevPlatform
from launcher.errors import BundleInvalidError, ConfigError
from launcher.launch import ExecLimits, check_startable
from launcher.values import fingerprint

AGENT_UID = 10001
AS_AGENT = ["setpriv", "--reuid", str(AGENT_UID), "--regid", str(AGENT_UID), "--clear-groups"]
ROTATED_API_KEY = f"sk-ant-api03-rotated-{MARKER}-4a7e11"
TIMEOUT = 20.0


# -- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture
def as_root() -> None:
    """Switching uids needs root and setpriv; CI has both, so there a missing
    one fails the test instead of skipping it."""
    if os.geteuid() != 0:
        unavailable("needs root to switch uids")
    if shutil.which("setpriv") is None:
        unavailable("needs setpriv (util-linux)")


@pytest.fixture
def shared(as_root: None) -> Iterator[Path]:
    """A directory uid 10001 can read and write (tmp_path is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="launcher-hardening-"))
    path.chmod(0o777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@functools.cache
def _agent_python() -> str | None:
    """An interpreter uid 10001 can execute (this venv's may live under a
    root-only home), tried through a shell exec as the launcher would."""
    for candidate in (sys.executable, shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")):
        if candidate is None:
            continue
        probe = subprocess.run(
            [*AS_AGENT, "sh", "-c", 'exec "$0" -c pass', candidate], capture_output=True, timeout=TIMEOUT, check=False
        )
        if probe.returncode == 0:
            return candidate
    return None


def agent_python() -> str:
    found = _agent_python()
    if found is None:
        unavailable(f"no python3 that uid {AGENT_UID} may execute")
    return found


def world_file(directory: Path, name: str, text: str, mode: int = 0o644) -> Path:
    path = directory / name
    path.write_text(text)
    path.chmod(mode)
    return path


def records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def rotate_and_wait_for_the_restart(platform: DevPlatform, out: Path, what: str) -> None:
    """The first child is up: rotate the workspace's key, wait for the second."""
    wait_until(lambda: len(records(out)) == 1, "the first child")
    with platform.state.lock:
        platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = ROTATED_API_KEY
    wait_until(lambda: len(records(out)) == 2, what)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# The agent stand-in, playing the attacker: it tries to read back what the
# launcher stripped (its parent's environ, memory and maps, the token file
# given as argv[2]) and appends one JSON line to argv[1] with what it found,
# then waits to be stopped. Whatever it managed to read goes to a file of
# its own, which the test greps for the marker: the record holds verdicts,
# never data.
PROBE = r"""
import errno, hashlib, json, os, signal, sys, time
out, token_file = sys.argv[1], sys.argv[2]
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
ppid = os.getppid()
found, stolen = {}, b""
def attempt(label, path, keep=True):
    global stolen
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        found[label] = errno.errorcode.get(exc.errno, str(exc.errno))
        return
    found[label] = "read"
    if keep:
        stolen += data
attempt("parent_environ", f"/proc/{ppid}/environ")
attempt("parent_maps", f"/proc/{ppid}/maps")
try:
    fd = os.open(f"/proc/{ppid}/mem", os.O_RDONLY)
    os.close(fd)
    found["parent_mem"] = "opened"
except OSError as exc:
    found["parent_mem"] = errno.errorcode.get(exc.errno, str(exc.errno))
attempt("self_environ", "/proc/self/environ", keep=False)  # control: the probe can read what it may
if token_file != "-":
    attempt("token_file", token_file)
with open(out + ".stolen", "ab") as f:
    f.write(stolen)
try:
    os.setuid(0)
    regained = True
except PermissionError:
    regained = False
status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines() if ":" in l)
key = os.environ.get("ANTHROPIC_API_KEY", "")
record = dict(
    found,
    pid=os.getpid(),
    uid=os.getuid(),
    gid=os.getgid(),
    groups=sorted(os.getgroups()),
    regained_root=regained,
    no_new_privs=status["NoNewPrivs"].strip(),
    home=os.environ.get("HOME"),
    user=os.environ.get("USER"),
    logname=os.environ.get("LOGNAME"),
    key=hashlib.sha256(key.encode()).hexdigest()[:8],
)
with open(out, "a") as f:
    f.write(json.dumps(record) + "\n")
if len(sys.argv) > 3:
    while True:
        time.sleep(1)
"""

DENIED = {"EACCES", "EPERM"}


def probe(shared: Path, *, stay: bool = False, token_file: Path | None = None) -> tuple[list[str], Path]:
    script = world_file(shared, "probe.py", PROBE)
    out = shared / "probe.jsonl"
    argv = [agent_python(), str(script), str(out), str(token_file) if token_file else "-"]
    return ([*argv, "stay"] if stay else argv), out


def assert_nothing_stolen(out: Path) -> None:
    stolen = Path(str(out) + ".stolen")
    data = stolen.read_bytes() if stolen.exists() else b""
    assert MARKER.encode() not in data, "the probe read a planted secret back"


def assert_parent_unreadable(record: dict[str, object]) -> None:
    for what in ("parent_environ", "parent_maps", "parent_mem"):
        assert record[what] in DENIED, f"{what}: {record[what]}"
    assert record["self_environ"] == "read", "control: the probe must be able to read its own environ"


class Background:
    """A launcher running under an optional prefix (setpriv), output to files."""

    def __init__(self, directory: Path, argv: list[str], env: dict[str, str]) -> None:
        self.out, self.err = directory / "launcher.out", directory / "launcher.err"
        with self.out.open("w") as out, self.err.open("w") as err:
            self.proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)

    @property
    def stderr(self) -> str:
        return self.err.read_text()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail("the launcher did not stop")
        assert_no_secret(self.out.read_text() + self.stderr)
        return code


@pytest.fixture
def background(shared: Path) -> Iterator[Callable[..., Background]]:
    started: list[Background] = []

    def start(argv: list[str], env: dict[str, str]) -> Background:
        run = Background(shared, argv, env)
        started.append(run)
        return run

    yield start
    for run in started:
        stop_for_good(run.proc)


# -- 1. the supervising parent cannot be read by its child ------------------------------------


def planted_env(**extra: str) -> dict[str, str]:
    """What an attacker inside the agent wants: the launcher's token and the
    platform's OAuth token, both in the environment the launcher started with."""
    return base_env(MOLECULE_WORKSPACE_TOKEN=WORKSPACE_TOKEN, CLAUDE_CODE_OAUTH_TOKEN=PLATFORM_OAUTH, **extra)


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
    (record,) = records(out)
    assert record["uid"] == AGENT_UID and record["parent_environ"] == "read"
    assert MARKER.encode() in Path(str(out) + ".stolen").read_bytes()


def test_supervise_parent_environ_and_memory_are_unreadable_by_a_same_uid_child(shared: Path) -> None:
    env_file = world_file(shared, "own.env", f"ANTHROPIC_API_KEY={OWN_API_KEY}\n")
    argv, out = probe(shared)
    result = subprocess.run(
        [*AS_AGENT, launcher_path(), "supervise", "--billing-mode", "byok", "--env-file", str(env_file), "--", *argv],
        env=planted_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert_no_secret(result.stdout + result.stderr)
    assert result.returncode == 0, result.stderr[-2000:]
    (record,) = records(out)
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
    first, second = records(out)
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
    script = world_file(shared, "poller.py", POLLER)
    out = shared / "poller.jsonl"
    run = background(
        [*AS_AGENT, launcher_path(), "supervise", *platform_args(platform),
         "--refresh", "0.05", "--", agent_python(), str(script), str(out), "8"],
        planted_env(),
    )  # fmt: skip
    wait_until(lambda: records(out), "the poller's report", timeout=40)
    (record,) = records(out)
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


# -- 2. --user: the agent runs as another user ------------------------------------------------


@pytest.fixture
def root_token_file(shared: Path) -> Path:
    """The token in a root-owned 0600 file, as a Docker secret mount would be."""
    path = world_file(shared, "auth_token", WORKSPACE_TOKEN + "\n", mode=0o600)
    assert path.stat().st_uid == 0 and stat.S_IMODE(path.stat().st_mode) == 0o600
    return path


def test_exec_user_numeric_drops_for_good(shared: Path, platform, root_token_file: Path) -> None:  # type: ignore[no-untyped-def]
    with platform.state.lock:
        platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    argv, out = probe(shared, token_file=root_token_file)
    result = run_launcher(
        "exec", *platform_args(platform), "--token-file", str(root_token_file), "--user", f"{AGENT_UID}:{AGENT_UID}",
        "--", *argv,
        env=base_env(HOME="/root", USER="root"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (record,) = records(out)
    assert (record["uid"], record["gid"], record["groups"]) == (AGENT_UID, AGENT_UID, [AGENT_UID])
    assert record["regained_root"] is False and record["no_new_privs"] == "1"
    assert record["token_file"] in DENIED, "a root-only token file must be out of the agent's reach"
    assert record["key"] == fingerprint(OWN_API_KEY), "the platform was read before the drop"
    # No passwd entry for 10001: HOME is "/" (su-exec's choice), root's USER is not passed on.
    assert record["home"] == "/" and record["user"] is None
    assert_nothing_stolen(out)


def test_exec_user_by_name_gets_its_home_unless_a_source_sets_one(shared: Path) -> None:
    nobody = _nobody()
    argv, out = probe(shared)
    result = run_launcher("exec", "--user", "nobody", "--", *argv, env=base_env(HOME="/root", USER="root"))
    assert result.returncode == 0, result.stderr
    chosen = world_file(shared, "home.env", "HOME=/srv/agent-home\n")
    result = run_launcher(
        "exec", "--user", "nobody", "--env-file", str(chosen), "--", *argv, env=base_env(HOME="/root")
    )
    assert result.returncode == 0, result.stderr
    by_passwd, by_file = records(out)
    assert (by_passwd["uid"], by_passwd["home"], by_passwd["user"], by_passwd["logname"]) == (
        nobody.pw_uid, nobody.pw_dir, "nobody", "nobody"
    )  # fmt: skip
    assert by_passwd["groups"] == sorted(set(os.getgrouplist("nobody", nobody.pw_gid)))
    assert by_file["home"] == "/srv/agent-home", "a HOME the operator chose wins over the passwd entry"


def test_launcher_user_variable_is_the_same_as_the_flag(shared: Path) -> None:
    argv, out = probe(shared)
    result = run_launcher("exec", "--", *argv, env=base_env(LAUNCHER_USER=f"{AGENT_UID}:{AGENT_UID}"))
    assert result.returncode == 0, result.stderr
    assert records(out)[0]["uid"] == AGENT_UID


def test_supervise_user_children_cannot_read_the_parent_or_the_token(
    shared: Path,
    platform,  # type: ignore[no-untyped-def]
    root_token_file: Path,
    background,  # type: ignore[no-untyped-def]
) -> None:
    with platform.state.lock:
        platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    argv, out = probe(shared, stay=True, token_file=root_token_file)
    run = background(
        [launcher_path(), "supervise", *platform_args(platform), "--token-file", str(root_token_file),
         "--user", f"{AGENT_UID}:{AGENT_UID}", "--refresh", "0.3", "--stop-timeout", "3", "--", *argv],
        planted_env(),
    )  # fmt: skip
    rotate_and_wait_for_the_restart(platform, out, "the child restarted after the rotation (the parent kept root)")
    for record in records(out):
        assert (record["uid"], record["gid"], record["groups"]) == (AGENT_UID, AGENT_UID, [AGENT_UID])
        assert record["regained_root"] is False and record["no_new_privs"] == "1"
        assert record["token_file"] in DENIED
        assert_parent_unreadable(record)
    assert records(out)[1]["key"] == fingerprint(ROTATED_API_KEY)
    assert_nothing_stolen(out)
    assert run.stop() == 0


@pytest.mark.parametrize(
    "spec",
    ["root", "0", "0:0", f"{AGENT_UID}:0", "nobody:root", str(AGENT_UID), "no-such-user-here", "nobody:no-such-group",
     "", " ", ":", f"{AGENT_UID}:", "4294967295:1", "nobody:nogroup:x"],
)  # fmt: skip
def test_bad_user_is_config_invalid_in_exec_and_check(as_root: None, tmp_path: Path, spec: str) -> None:
    marker = tmp_path / "started"
    for command in ("exec", "check", "supervise"):
        result = run_launcher(command, "--user", spec, "--", "touch", str(marker), env=base_env())
        assert result.returncode == 64, (command, result.stderr)
        assert "CONFIG_INVALID" in result.stderr
    assert not marker.exists()


def test_user_needs_a_root_launcher(as_root: None, shared: Path) -> None:
    marker = shared / "started"
    for command in ("exec", "check", "supervise"):
        for how in (["--user", "nobody"], []):
            env = base_env() if how else base_env(LAUNCHER_USER="nobody")
            result = subprocess.run(
                [*AS_AGENT, launcher_path(), command, *how, "--", "touch", str(marker)],
                env=env,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
                check=False,
            )
            assert result.returncode == 64, (command, how, result.stderr[-2000:])
            assert "needs the launcher to start as root" in result.stderr
    assert not marker.exists()
    # audit starts nothing: LAUNCHER_USER in the image's environment does not stop it.
    audit = subprocess.run(
        [*AS_AGENT, launcher_path(), "audit", "--pid", str(os.getpid())],
        env=base_env(LAUNCHER_USER="nobody"),
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert audit.returncode == 0, audit.stderr[-2000:]


def test_a_drop_the_kernel_refuses_is_config_invalid_in_check_exec_and_supervise(tmp_path: Path) -> None:
    """Root of a user namespace that maps no other uid passes the root check,
    but the switch itself fails: check says so as exec and supervise do."""
    require_unshare("--user", "--map-root-user")
    marker = tmp_path / "started"
    for command in ("check", "exec", "supervise"):
        result = subprocess.run(
            ["unshare", "--user", "--map-root-user", launcher_path(), command, "--user", f"{AGENT_UID}:{AGENT_UID}",
             "--", "touch", str(marker)],
            env=base_env(), capture_output=True, text=True, timeout=TIMEOUT, check=False,
        )  # fmt: skip
        assert result.returncode == 64, (command, result.stderr[-2000:])
        assert "cannot switch to --user" in result.stderr
    result = subprocess.run(
        ["unshare", "--user", "--map-root-user", launcher_path(), "check", "--user", f"{AGENT_UID}:{AGENT_UID}"],
        env=base_env(), capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert result.returncode == 64, "check without a command still proves the drop works"
    assert not marker.exists()


def test_check_resolves_the_command_as_the_user_would(as_root: None, shared: Path) -> None:
    root_only = world_file(shared, "root-only.sh", "#!/bin/sh\nexit 0\n", mode=0o700)
    for command in ("check", "exec"):
        result = run_launcher(command, "--user", f"{AGENT_UID}:{AGENT_UID}", "--", str(root_only), env=base_env())
        assert result.returncode == 126, (command, result.stderr)
        assert "COMMAND_NOT_EXECUTABLE" in result.stderr
    result = run_launcher("supervise", "--user", f"{AGENT_UID}:{AGENT_UID}", "--", str(root_only), env=base_env())
    assert result.returncode == 126, result.stderr
    assert run_launcher("check", "--", str(root_only), env=base_env()).returncode == 0  # root may run it


def _nobody():  # type: ignore[no-untyped-def]
    import pwd

    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        unavailable("needs a 'nobody' user in /etc/passwd")


# -- 3. startable or BUNDLE_INVALID, before anything is stopped ---------------------------------

BIG = f"{MARKER}-" + "x" * 200_000  # under the bundle cap, over the kernel's 128 KiB per string


@pytest.mark.parametrize("command", ["exec", "check", "supervise"])
def test_a_value_over_the_per_string_limit_is_bundle_invalid(tmp_path: Path, command: str) -> None:
    env_file = tmp_path / "big.env"
    env_file.write_text(f"HUGE_SETTING={BIG}\n")
    marker = tmp_path / "started"
    result = run_launcher(command, "--env-file", str(env_file), "--", "touch", str(marker), env=base_env())
    assert result.returncode == 65, result.stderr
    assert "BUNDLE_INVALID" in result.stderr and "HUGE_SETTING" in result.stderr
    assert not marker.exists()


@pytest.mark.parametrize("command", ["exec", "check", "supervise"])
def test_environment_over_the_total_limit_is_bundle_invalid(platform, command: str) -> None:  # type: ignore[no-untyped-def]
    count = ExecLimits.current().total // 100_000 + 2  # each value fits one string, all of them do not
    with platform.state.lock:
        platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
        platform.state.workspace_secrets.update({f"PART_{i}": f"{MARKER}{'y' * 100_000}" for i in range(count)})
    result = run_launcher(
        command, *platform_args(platform), "--max-bundle-bytes", str(10**8), "--", "true", env=token_env()
    )
    assert result.returncode == 65, result.stderr
    assert "BUNDLE_INVALID" in result.stderr and "PART_" in result.stderr


@pytest.mark.parametrize("command", ["exec", "check", "supervise"])
def test_an_inherited_variable_with_an_empty_name_is_bundle_invalid(command: str) -> None:
    # `env` passes "=x" through as an entry whose name is empty; Python would refuse to build one.
    result = subprocess.run(
        ["env", "-i", f"={MARKER}", f"PATH={os.environ.get('PATH', '/usr/bin:/bin')}", launcher_path(), command,
         "--", "true"],
        capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert_no_secret(result.stdout + result.stderr)
    assert result.returncode == 65, result.stderr
    assert "BUNDLE_INVALID" in result.stderr and "empty name" in result.stderr


def test_a_lone_surrogate_from_the_platform_is_bundle_invalid_in_exec_and_check(platform) -> None:  # type: ignore[no-untyped-def]
    with platform.state.lock:
        platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
        platform.state.workspace_secrets["ODD_SETTING"] = "\ud800"
    for command in ("exec", "check"):
        result = run_launcher(command, *platform_args(platform), "--", "true", env=token_env())
        assert result.returncode == 65, (command, result.stderr)
        assert "BUNDLE_INVALID" in result.stderr


def test_check_startable_names_the_key_never_the_value() -> None:
    small = ExecLimits(per_string=64, total=400)
    check_startable(["agent"], {"A": "x" * 50}, small)
    cases = {
        "name": {"": "v"},
        "equals": {"A=B": "v"},
        "nul": {"A\0B": "v"},
        "value_nul": {"NUL_VALUE": "a\0" + MARKER},
        "surrogate_value": {"ODD": MARKER + "\ud800"},
        "surrogate_name": {"ODD\udfff": "v"},
        "long": {"LONG": MARKER + "x" * 60},
        "total": {f"K{i}": MARKER + "x" * 30 for i in range(10)},
    }
    for label, env in cases.items():
        with pytest.raises(BundleInvalidError) as caught:
            check_startable(["agent"], env, small)
        assert MARKER not in caught.value.message, label
    with pytest.raises(BundleInvalidError, match="LONG"):
        check_startable(["agent"], {"LONG": "x" * 60}, small)
    with pytest.raises(ConfigError, match="argument 1"):
        check_startable(["agent", "z" * 70], {}, small)
    # surrogateescape'd bytes (an inherited non-UTF-8 value) are startable: they came from exec.
    check_startable(["agent"], {"RAW": os.fsdecode(b"\xff\xfe")}, small)


def test_exec_limits_follow_the_kernel() -> None:
    limits = ExecLimits.current()
    assert limits.per_string == 32 * os.sysconf("SC_PAGESIZE")
    assert 0 < limits.total < min(os.sysconf("SC_ARG_MAX"), 6 * 1024 * 1024)


def _starts(out: Path) -> list[str]:
    return out.read_text().split() if out.exists() else []


def test_a_refresh_that_cannot_start_keeps_the_running_child(tmp_path: Path, platform) -> None:  # type: ignore[no-untyped-def]
    with platform.state.lock:
        platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    starts = tmp_path / "starts"
    child = [sys.executable, "-c", "import os, sys, time\nopen(sys.argv[1], 'a').write(f'{os.getpid()}\\n')\n"
             "while True: time.sleep(1)", str(starts)]  # fmt: skip
    run = Background(
        tmp_path,
        [launcher_path(), "supervise", *platform_args(platform), "--refresh", "0.2", "--stop-timeout", "3", "--",
         *child],
        token_env(),
    )  # fmt: skip
    try:
        wait_until(lambda: len(_starts(starts)) == 1, "the first start")
        pid = int(_starts(starts)[0])
        with platform.state.lock:
            platform.state.workspace_secrets["HUGE_SETTING"] = BIG
        wait_until(lambda: "HUGE_SETTING" in run.stderr, "the oversized refresh to be refused")
        with platform.state.lock:
            del platform.state.workspace_secrets["HUGE_SETTING"]
            platform.state.workspace_secrets["ODD_SETTING"] = "\ud800"

        def surrogate_refused() -> bool:
            failed = [line for line in run.stderr.splitlines() if "refresh failed" in line]
            return bool(failed) and "HUGE_SETTING" not in failed[-1]

        wait_until(surrogate_refused, "the refresh holding a lone surrogate to be refused")
        assert run.proc.poll() is None, "supervise must not exit on a bad refresh"
        assert alive(pid) and len(_starts(starts)) == 1, "the working child must be kept"
        assert "BUNDLE_INVALID" in run.stderr
        assert "ENVIRONMENT_CHANGED" not in run.stderr
        assert "COMMAND_NOT_EXECUTABLE" not in run.stderr and "INTERNAL_ERROR" not in run.stderr
        assert run.stop() == 128 + signal.SIGTERM  # the kept child, stopped at last
    finally:
        stop_for_good(run.proc)


# -- 4. billing mode cannot fail open --------------------------------------------------------


@pytest.mark.parametrize("flag", ["", " ", "\t\n", "\u200b", " \ufeff\u2060 "])
def test_an_empty_billing_mode_flag_is_config_invalid(flag: str) -> None:
    with pytest.raises(ConfigError, match="empty"):
        load_config({"billing_mode": flag}, {"MOLECULE_LLM_BILLING_MODE": "byok"})


def test_an_empty_billing_mode_flag_starts_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    env = base_env(MOLECULE_LLM_BILLING_MODE="byok", CLAUDE_CODE_OAUTH_TOKEN=PLATFORM_OAUTH)
    for command in ("exec", "check"):
        result = run_launcher(command, "--billing-mode", "", "--", "touch", str(marker), env=env)
        assert result.returncode == 64, result.stderr
        assert "CONFIG_INVALID" in result.stderr
    assert not marker.exists()


@pytest.mark.parametrize(
    ("raw", "mode"),
    [
        ("byok\u200b", BillingMode.BYOK),
        ("\ufeffBYOK ", BillingMode.BYOK),
        ("\u200c Subscription\u2060\n", BillingMode.SUBSCRIPTION),
        ("Disabled\u200d", BillingMode.DISABLED),
        ("PLATFORM_MANAGED", BillingMode.PLATFORM_MANAGED),
    ],
)
def test_billing_mode_ignores_case_and_invisible_ends(raw: str, mode: BillingMode) -> None:
    for config in (load_config({"billing_mode": raw}, {}), load_config({}, {"MOLECULE_LLM_BILLING_MODE": raw})):
        assert config.billing_mode is mode and not config.warnings


def test_an_empty_billing_mode_variable_is_still_unset() -> None:
    config = load_config({}, {"MOLECULE_LLM_BILLING_MODE": ""})
    assert config.billing_mode is BillingMode.PLATFORM_MANAGED and config.billing_mode_source == "default"


def test_an_unrecognised_mode_keeps_the_documented_fallback() -> None:
    config = load_config({"billing_mode": "by\u200bok"}, {})
    assert config.billing_mode is BillingMode.PLATFORM_MANAGED and config.billing_mode_source == "fallback"
    assert any("unrecognised billing mode" in w for w in config.warnings)


def test_byok_with_a_zero_width_space_strips_the_platform_token(tmp_path: Path) -> None:
    dump = tmp_path / "env"
    env_file = tmp_path / "own.env"
    env_file.write_text(f"ANTHROPIC_API_KEY={OWN_API_KEY}\n")
    result = run_launcher(
        "exec", "--billing-mode", "byok\u200b", "--env-file", str(env_file), "--", "sh", "-c", f"env > {dump}",
        env=base_env(CLAUDE_CODE_OAUTH_TOKEN=PLATFORM_OAUTH),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "CLAUDE_CODE_OAUTH_TOKEN" not in dump.read_text()


# -- the spawn path for --user, in-process ------------------------------------------------------


def _status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: v.strip() for k, _, v in (line.partition(":") for line in lines)}


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
        root_only = world_file(shared, "root-only.sh", "#!/bin/sh\nexit 0\n", mode=0o700)
        with pytest.raises(CommandNotExecutableError):
            spawn(str(root_only), ["root-only.sh"], {}, user=user)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


# -- issue 19.7: TIOCSTI into the launcher's terminal ---------------------------------------------

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
def test_a_supervised_agent_cannot_type_into_the_launchers_terminal(shared: Path, how: str) -> None:
    """The launcher runs with a pty as its controlling terminal, and the
    agent inherits that terminal as fd 0. supervise starts the agent in a
    session of its own, so TIOCSTI (which needs the terminal to be the
    caller's controlling one, or CAP_SYS_ADMIN) is refused. The control, the
    same program in the launcher's own session, shows the kernel here still
    allows the injection. (exec keeps the launcher's session on purpose: an
    interactive agent owns its terminal; docs/security.md.)"""
    if shutil.which("setsid") is None:
        unavailable("needs setsid (util-linux)")
    script = world_file(shared, "tiocsti.py", TIOCSTI)
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
    (record,) = records(out)
    assert record["uid"] == AGENT_UID and record["tty"] is True
    expected = "injected" if how.startswith("control") else "EPERM"
    assert record["result"] == expected, record


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
    env_file = world_file(shared, "own.env", f"ANTHROPIC_API_KEY={OWN_API_KEY}\n")
    script = world_file(shared, "watcher.py", RESIDENT_WATCHER)
    out = shared / "watcher.jsonl"
    watcher = subprocess.Popen([*AS_AGENT, agent_python(), str(script), str(out), "6"], stdin=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        for _ in range(6):
            result = subprocess.run(
                [*AS_AGENT, launcher_path(), "supervise", "--billing-mode", "byok", "--env-file", str(env_file),
                 "--", "true"],
                env=planted_env(), capture_output=True, text=True, timeout=TIMEOUT, check=False,
            )  # fmt: skip
            assert result.returncode == 0, result.stderr[-2000:]
            assert_no_secret(result.stdout + result.stderr)
        assert watcher.wait(TIMEOUT) == 0
    finally:
        stop_for_good(watcher)
    (record,) = records(out)
    assert record["residents"] >= 1, f"the watcher never saw a resident: {record}"
    assert_nothing_stolen(out)


def test_a_traced_resident_stops_before_it_reads_the_handover(as_root: None, tmp_path: Path) -> None:
    """A tracer attached in that first moment would stay attached: the
    resident refuses to go on under ptrace (strace here), nothing started."""
    if shutil.which("strace") is None:
        unavailable("needs strace")
    marker = tmp_path / "started"
    result = subprocess.run(
        ["strace", "-f", "-qq", "-o", "/dev/null", launcher_path(), "supervise", "--", "touch", str(marker)],
        env=planted_env(), capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert_no_secret(result.stdout + result.stderr)
    assert result.returncode == 70, result.stderr[-2000:]
    assert "the resident is being traced" in result.stderr
    assert not marker.exists()
