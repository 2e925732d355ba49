"""Test support, the one place for what more than one test module uses: the
installed command, distinctive fake secrets that every test greps output
for, helpers to run the launcher as a subprocess (in the foreground, in the
background, as another uid), and the files and reports they write.
conftest.py turns the ones that need a cleanup into fixtures."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import pytest

from launcher.devserver import DevPlatform

# The repository (tests/ is one level down); test modules live deeper, so they
# take the root from here rather than counting their own parents.
REPO = Path(__file__).resolve().parents[1]

WORKSPACE_ID = "6b66de8d-9337-4fb4-be8d-6d49dca0d809"

# Every fake secret carries the marker, so one grep finds any leak.
MARKER = "FAKESECRET"
PLATFORM_OAUTH = f"sk-ant-oat01-platform-{MARKER}-7f3a9c"
OWN_API_KEY = f"sk-ant-api03-own-{MARKER}-52be10"
OWN_OAUTH = f"sk-ant-oat01-own-{MARKER}-c0ffee"
WORKSPACE_TOKEN = f"wstok-{MARKER}-0d15ea5e"
GITHUB_TOKEN = f"ghp_{MARKER}_1234abcd"
OWN_AUTH_TOKEN = f"own-authtok-{MARKER}-a11ce5"  # ANTHROPIC_AUTH_TOKEN (anthropic-compatible)
ALL_SECRETS = (PLATFORM_OAUTH, OWN_API_KEY, OWN_OAUTH, WORKSPACE_TOKEN, GITHUB_TOKEN, OWN_AUTH_TOKEN)
# Not in ALL_SECRETS (e2e tests pass that tuple on): every one carries the
# marker, which assert_no_secret greps for whatever tuple it is given.
PLATFORM_KEY = f"sk-ant-api03-platform-{MARKER}-9e1f00"  # the platform's API key, planted in an agent file
ROTATED_API_KEY = f"sk-ant-api03-rotated-{MARKER}-4a7e11"  # the workspace's own key after a rotation
FILE_KEY = f"sk-proj-{MARKER}-unit"  # an API key in an agent's own file (codex, gemini-cli)
FILE_TOKEN = f"tok-{MARKER}-unit"  # an access token in an agent's own file
PLATFORM_AWS_ID = f"AKIA{MARKER}PLATFORM1"
PLATFORM_AWS_SECRET = f"platform-aws-secret-{MARKER}-18bb02"
# Text a hostile server or a careless operator puts where only a name or a
# code belongs (an error body, a header, a key list): never to be echoed.
PLANTED = f"planted-{MARKER}-5ec7e7"
ESCAPE = "\x1b[2J"  # a terminal escape (clear the screen), where text is shown to a person
# A value under the bundle cap but over the kernel's 128 KiB per string:
# the environment cannot be started with it (BUNDLE_INVALID, 65).
OVERSIZED = f"{MARKER}-" + "x" * 200_000

# How long a test waits for a process: long enough for a loaded 2-core
# runner, so that a slow machine makes a test slower, not flaky.
TIMEOUT = 20.0


# -- what a test needs of the machine ----------------------------------------------------------


def unavailable(reason: str) -> NoReturn:
    """A prerequisite (a tool, a package) is missing: skip locally, fail when CI=true."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (required when CI=true)", pytrace=False)
    pytest.skip(reason)


@functools.cache
def _unshare_works(flags: tuple[str, ...]) -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", *flags, "true"], capture_output=True, timeout=30, check=False)
    return probe.returncode == 0


def require_unshare(*flags: str) -> None:
    """Skip unless ``unshare FLAGS true`` works here (probed once per flag set,
    when a test asks, never at collection)."""
    if not _unshare_works(flags):
        pytest.skip(f"needs unshare {' '.join(flags)}")


def in_private_overlay(root: Path, dirs: Sequence[str], *commands: str) -> tuple[str, ...]:
    """The prefix that runs a command in a mount namespace of its own, where
    each of ``dirs`` (absolute: /etc, /home) is an overlay that only this
    namespace sees, written to by the shell ``commands`` first. For files an
    agent reads at absolute paths, which a test must not write on the host."""
    require_unshare("-m")
    layers = root / "overlay"
    layers.mkdir()
    script = [f"set -e\nmount -t tmpfs t {layers}"]
    for directory in dirs:
        upper, work = layers / directory.strip("/") / "u", layers / directory.strip("/") / "w"
        script.append(f"mkdir -p {upper} {work}")
        script.append(f"mount -t overlay o -o lowerdir={directory},upperdir={upper},workdir={work} {directory}")
    script += [*commands, 'exec "$@"']
    path = write_file(root / "overlay.sh", "\n".join(script) + "\n")
    return ("unshare", "-m", "--propagation", "private", "sh", str(path))


# -- the installed launcher, and what it must never print --------------------------------------


def launcher_path() -> str:
    """The console script pip installed beside this interpreter."""
    path = Path(sysconfig.get_path("scripts")) / "agent-launcher"
    if not path.exists():
        pytest.fail(f"agent-launcher is not installed at {path}: run pip install -e '.[test]'")
    return str(path)


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __repr__(self) -> str:
        # pytest prints this when an assertion on a field fails; a child's
        # environment dump on stdout holds fake secrets by design.
        def shown(text: str) -> str:
            return f"<{len(text)} chars holding {MARKER}>" if MARKER in text else repr(text[-1500:])

        return f"Result(returncode={self.returncode}, stdout={shown(self.stdout)}, stderr={shown(self.stderr)})"


def assert_no_secret(text: str, secrets: tuple[str, ...] = ALL_SECRETS) -> None:
    # Counted, not listed, and the text never an operand: pytest prints the
    # operands of a failed assert, and printing the leak would leak it again.
    leaked = sum(1 for s in secrets if s in text)
    marked = MARKER in text
    assert leaked == 0, f"{leaked} secret value(s) appear in output (marker {MARKER})"
    assert not marked, f"the marker {MARKER} appears in output"


def _holds_marker(value: object) -> bool:
    try:
        return MARKER in str(value) or MARKER in repr(value)
    except Exception:  # a broken __repr__ cannot tell; withhold rather than print
        return True


def pytest_assertrepr_compare(config: pytest.Config, op: str, left: object, right: object) -> list[str] | None:
    """Every failed comparison in the suite (``assert a == b``, ``x not in
    text``...): when an operand holds the fake-secret marker, say so instead
    of printing it. A test's failure message is output too. (Registered by
    ``conftest.py``; a plugin for any run: ``pytest -p support``.)"""
    if _holds_marker(left) or _holds_marker(right):
        return [f"{type(left).__name__} {op} {type(right).__name__}: withheld, an operand holds the marker {MARKER}"]
    return None


EMPTY_HOME = "/nonexistent/agent-launcher-test-home"


def base_env(**extra: str) -> dict[str, str]:
    """A small, predictable environment: no stray LLM keys from the host."""
    # A HOME with nothing in it: the agent files of the machine's own HOME
    # (root's, unreadable to the test's other uids) are no test's input.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": EMPTY_HOME}
    env.update(extra)
    return env


def token_env(**extra: str) -> dict[str, str]:
    return base_env(MOLECULE_WORKSPACE_TOKEN=WORKSPACE_TOKEN, **extra)


def platform_args(server: DevPlatform, mode: str = "byok") -> list[str]:
    return ["--platform-url", server.url, "--workspace-id", WORKSPACE_ID, "--billing-mode", mode]


def files_args(env_files: tuple[str, str], mode: str = "byok") -> list[str]:
    """The billing mode and both of conftest's ``env_files``, as flags."""
    own, glob = env_files
    return ["--billing-mode", mode, "--env-file", own, "--global-env-file", glob]


def run_launcher(
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 30,
    check_secrets: bool = True,
    prefix: Sequence[str] = (),
) -> Result:
    """The installed launcher with ``args`` (under ``prefix``, such as
    ``as_uid``'s or ``unshare``'s), its output grepped for secrets unless
    ``check_secrets`` is false."""
    proc = subprocess.run(
        [*prefix, launcher_path(), *args],
        env=dict(base_env() if env is None else env),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    result = Result(proc.returncode, proc.stdout, proc.stderr)
    if check_secrets:
        assert_no_secret(result.output)
    return result


def run_or_fail(
    cmd: Sequence[str], *, env: Mapping[str, str], cwd: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    """``cmd`` with captured text output; a hang fails the test. Its partial
    output is shown only when no fake secret is in it."""
    try:
        return subprocess.run(
            list(cmd),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        parts = [p.decode(errors="replace") if isinstance(p, bytes) else (p or "") for p in (exc.stdout, exc.stderr)]
        output = "\n".join(parts)
        shown = f"{len(output)} characters withheld (a fake secret is in them)" if MARKER in output else output[-4000:]
        pytest.fail(f"{Path(cmd[0]).name} hung for more than {timeout:g}s; its output:\n{shown}", pytrace=False)


def child_env_dump() -> list[str]:
    """A command that prints its environment as KEY=VALUE lines (NUL-safe)."""
    return [sys.executable, "-c", "import os\nfor k, v in sorted(os.environ.items()): print(f'{k}={v}')"]


def parse_env_dump(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def exec_dump(*args: str, env: Mapping[str, str] | None = None) -> tuple[Result, dict[str, str]]:
    """``exec ARGS`` with a child that prints its environment: the result and
    that environment. The child prints values by design, so only stderr,
    the launcher's own, is grepped for secrets."""
    result = run_launcher("exec", *args, "--", *child_env_dump(), env=env, check_secrets=False)
    assert_no_secret(result.stderr)
    return result, parse_env_dump(result.stdout)


def check_json(*args: str, env: Mapping[str, str] | None = None) -> tuple[Result, dict[str, Any]]:
    """``check --json ARGS``: its result and its report."""
    result = run_launcher("check", "--json", *args, env=env)
    return result, json.loads(result.stdout)


def by_key(report: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``check --json``'s decisions, by key name."""
    return {k["key"]: k for k in report["keys"]}


def agent_files(report: Mapping[str, Any]) -> list[tuple[str, str | None, str]]:
    """``check --json``'s agent files: (path, field, verdict) each."""
    return [(f["path"], f["field"], f["verdict"]) for f in report["agent_files"]]


def expect_secret(env: Mapping[str, str], key: str, expected: str) -> None:
    """``env[key] == expected``, failing with fingerprints, never values."""
    from launcher.values import fingerprint

    got = env.get(key)
    if got != expected:
        shown = "absent" if got is None else f"fingerprint {fingerprint(got)}"
        raise AssertionError(f"{key}: expected fingerprint {fingerprint(expected)}, got {shown}")


def expect_absent(text: str, secret: str, where: str = "output") -> None:
    """``secret not in text``, failing without quoting either."""
    if secret in text:
        from launcher.values import fingerprint

        raise AssertionError(f"the secret with fingerprint {fingerprint(secret)} appears in {where}")


def values_reads(platform: DevPlatform) -> int:
    """How many times the dev platform's Values endpoint has been read (each
    pull reads it once)."""
    with platform.state.lock:
        return sum(1 for r in platform.state.requests if r.path.endswith("/secrets/values"))


# -- a platform that misbehaves ----------------------------------------------------------------

# Runs against a misbehaving platform (platform/test_network_faults.py,
# test_hostile_server.py, ...): the deadline they give, and what interpreter
# start-up, imports and teardown may add to it on a loaded CI box.
FAULT_DEADLINE = 3.0

FAULT_SLACK = 2.5


def timed_platform_run(
    command: str,
    url: str,
    marker: Path,
    *extra: str,
    deadline: float = FAULT_DEADLINE,
    timeout: float = FAULT_DEADLINE + 30,
    mode: str = "byok",
    env: Mapping[str, str] | None = None,
) -> tuple[Result, float]:
    """``command`` against the platform at ``url`` within ``deadline``, the
    agent a ``touch marker`` (it exists only if the agent started); the
    result and the seconds it took. ``extra`` comes after ``--deadline``,
    so it can override it."""
    touch = shutil.which("touch") or "/usr/bin/touch"
    started = time.monotonic()
    result = run_launcher(
        *[command, "--platform-url", url, "--workspace-id", WORKSPACE_ID, "--billing-mode", mode],
        *["--deadline", str(deadline), *extra, "--", touch, str(marker)],
        env=env if env is not None else base_env(MOLECULE_WORKSPACE_TOKEN=WORKSPACE_TOKEN),
        timeout=timeout,
    )
    return result, time.monotonic() - started


def assert_clean(result: Result, elapsed: float) -> None:
    """Within the time bound, never a bug, no raw control character anywhere
    (run_launcher has already grepped the output for the fake secrets)."""
    assert elapsed < FAULT_DEADLINE + FAULT_SLACK, f"took {elapsed:.1f}s for a {FAULT_DEADLINE:g}s deadline"
    assert result.returncode != 70, result.stderr[-500:]
    assert not any((ord(ch) < 32 and ch != "\n") or 0x7F <= ord(ch) < 0xA0 for ch in result.output), "raw control"


def assert_refused(result: Result, elapsed: float, marker: Path, code: str, exit_code: int) -> None:
    """A clean refusal: the exit status, the code on the last diagnostic line
    (text or JSON), and the agent never started."""
    assert_clean(result, elapsed)
    assert result.returncode == exit_code, f"exit {result.returncode}: {result.stderr[-500:]}"
    last = result.stderr.strip().splitlines()[-1]
    if last.startswith("{"):  # --log-format json
        assert json.loads(last)["code"] == code, last
    else:
        assert last.startswith(f"agent-launcher: error: {code}: "), last
    assert not marker.exists(), "the command was launched"


# -- files -------------------------------------------------------------------------------------


def write_file(path: Path, text: str, mode: int = 0o644) -> Path:
    """``text`` at ``path`` (parents made) with ``mode``; the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def write_env_file(path: Path, **values: str) -> str:
    """A dotenv file of ``values``, each single-quoted (read literally: a
    space or a ``#`` in a value stays in it); its path."""
    path.write_text("".join(f"{k}='{v}'\n" for k, v in values.items()))
    return str(path)


def python_script(path: Path, body: str) -> list[str]:
    """The argv that runs ``body``, written to ``path``, with this interpreter."""
    return [sys.executable, str(write_file(path, body))]


def touch_command(path: Path) -> list[str]:
    """An agent that proves it ran by creating ``path``."""
    return [sys.executable, "-c", f"open({str(path)!r}, 'w').close()"]


def lines(path: Path) -> list[str]:
    """A file's lines; none while a child has not written it yet."""
    return path.read_text().splitlines() if path.exists() else []


def json_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON records a child appended to ``path``, one a line."""
    return [json.loads(line) for line in lines(path)]


# -- processes in the background ---------------------------------------------------------------


def wait_until(condition: Callable[[], object], what: str, timeout: float = TIMEOUT) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout``
    (generous by default: a loaded 2-core runner is slow, not broken)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout:g}s waiting for {what}")


def gone(pid: int) -> bool:
    """Exited; a zombie whose parent has not reaped it yet counts as gone."""
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def stop_for_good(proc: subprocess.Popen[str] | subprocess.Popen[bytes], timeout: float = TIMEOUT) -> None:
    """A background launcher, also after a failed test: SIGTERM (supervise
    then stops its child's tree itself), SIGKILL if that is not enough, and
    whatever it had started killed too, since its children run in sessions
    of their own and would outlive it."""
    import contextlib

    import psutil

    if proc.poll() is not None:
        return
    try:
        descendants = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for process in descendants:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()


class Background:
    """A command (a launcher, most often) running in the background, its
    stdout and stderr in files under ``directory`` named by ``label``."""

    def __init__(self, directory: Path, argv: Sequence[str], env: Mapping[str, str], label: str = "launcher") -> None:
        self.name = Path(argv[0]).name
        self.out, self.err = directory / f"{label}.out", directory / f"{label}.err"
        with self.out.open("w") as out, self.err.open("w") as err:
            self.proc = subprocess.Popen(list(argv), env=dict(env), stdout=out, stderr=err, stdin=subprocess.DEVNULL)

    @property
    def stderr(self) -> str:
        return self.err.read_text()

    @property
    def output(self) -> str:
        return self.out.read_text() + self.stderr

    def finish(self, timeout: float = TIMEOUT) -> int:
        """Its exit status, once it exits by itself; its output grepped for secrets."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"{self.name} did not exit within {timeout:g}s")
        assert_no_secret(self.output)
        return code

    def stop(self, timeout: float = TIMEOUT) -> int:
        """SIGTERM (unless it has exited), then ``finish``."""
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.finish(timeout)


# -- another uid -------------------------------------------------------------------------------

# The agent's uid where a test needs one apart from root's: a bare uid:gid
# that no passwd entry names (privileges/test_user_switch.py counts on it).
AGENT_UID = 10001
NOBODY_UID = 65534


def as_uid(uid: int) -> list[str]:
    """The setpriv prefix that runs a command as ``uid``, its group ``uid``
    and no supplementary groups."""
    return ["setpriv", "--reuid", str(uid), "--regid", str(uid), "--clear-groups"]


AS_AGENT = as_uid(AGENT_UID)


def require_root_and_setpriv() -> None:
    """Switching uids needs root and setpriv; CI has both, so there a
    missing one fails the test instead of skipping it."""
    if os.geteuid() != 0:
        unavailable("needs root to switch uids")
    if shutil.which("setpriv") is None:
        unavailable("needs setpriv (util-linux)")


@functools.cache
def _python_for(uid: int) -> str | None:
    # This venv's interpreter may live under a root-only home; tried through
    # a shell's exec, as the launcher would start it.
    for candidate in (sys.executable, shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")):
        if candidate is None:
            continue
        probe = subprocess.run(
            [*as_uid(uid), "sh", "-c", 'exec "$0" -c pass', candidate],
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
        if probe.returncode == 0:
            return candidate
    return None


def agent_python() -> str:
    """An interpreter AGENT_UID may execute."""
    found = _python_for(AGENT_UID)
    if found is None:
        unavailable(f"no python3 that uid {AGENT_UID} may execute")
    return found


# -- the agent as an attacker ------------------------------------------------------------------

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
    script = write_file(shared / "probe.py", PROBE)
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


def planted_env(**extra: str) -> dict[str, str]:
    """What an attacker inside the agent wants: the launcher's token and the
    platform's OAuth token, both in the environment the launcher started with."""
    return base_env(MOLECULE_WORKSPACE_TOKEN=WORKSPACE_TOKEN, CLAUDE_CODE_OAUTH_TOKEN=PLATFORM_OAUTH, **extra)


def rotate_and_wait_for_the_restart(platform: DevPlatform, out: Path, what: str) -> None:
    """The first child is up: rotate the workspace's key, wait for the second."""
    wait_until(lambda: len(json_lines(out)) == 1, "the first child")
    with platform.state.lock:
        platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = ROTATED_API_KEY
    wait_until(lambda: len(json_lines(out)) == 2, what)


# -- agent files -------------------------------------------------------------------------------


class Box:
    """A fresh HOME and working directory under ``root``, and the installed
    launcher run in them; every output grepped for ``secrets``."""

    def __init__(self, root: Path, secrets: tuple[str, ...] = ALL_SECRETS) -> None:
        self.root, self.secrets = root, secrets
        self.home.mkdir(exist_ok=True)
        self.work.mkdir(exist_ok=True)

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def work(self) -> Path:
        return self.root / "work"

    def env(self, **extra: str) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home), **extra}

    def write(self, relative: str, content: str | dict[str, object], base: Path | None = None) -> Path:
        path = (base or self.home) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        return path

    def dotenv(self, name: str, **values: str) -> str:
        return write_env_file(self.root / name, **values)

    def own_env_file(self, **values: str) -> str:
        return self.dotenv("own.env", **values)

    def run(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        timeout: float = 30,
        prefix: Sequence[str] = (),
        dump: bool = False,
    ) -> Result:
        """``dump``: the agent prints its environment (values by design), so
        only stderr is checked for secrets."""
        proc = subprocess.run(
            [*prefix, launcher_path(), *args],
            env=env or self.env(),
            cwd=self.work,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        result = Result(proc.returncode, proc.stdout, proc.stderr)
        assert_no_secret(result.stderr if dump else result.output, self.secrets)
        return result

    def check(self, *args: str, **kw: Any) -> tuple[Result, dict[str, Any]]:
        result = self.run("check", "--json", *args, **kw)
        return result, json.loads(result.stdout)

    def child(self, *args: str, env: dict[str, str] | None = None) -> tuple[Result, dict[str, str]]:
        """exec with ``args``, the agent a dump of its environment."""
        result = self.run("exec", *args, "--", *child_env_dump(), env=env, dump=True)
        return result, parse_env_dump(result.stdout)


def scan_files(agent: str, env: Mapping[str, str], cwd: Path, own: Sequence[Path] = ()) -> list[Any]:
    """``agents.scan`` of ``agent``'s profile, in-process: what it finds in
    its files for ``env`` and ``cwd``, ``own`` declared the workspace's."""
    from launcher.agents.profiles import profile
    from launcher.agents.scan import OwnFiles, scan
    from launcher.catalogue import load_catalogue

    return list(scan(profile(agent), env, cwd, OwnFiles.of(tuple(own)), load_catalogue().is_llm_key))


def scanned_fields(found: Sequence[Any], root: Path) -> list[tuple[str, str | None]]:
    """(path relative to ``root``, field) of each finding."""
    return [(str(Path(f.path).relative_to(root)), f.field) for f in found]


def agent_inventory() -> ModuleType:
    """scripts/agent_inventory.py as a module (a script, not a package's)."""
    if "agent_inventory" in sys.modules:
        return sys.modules["agent_inventory"]
    script = REPO / "scripts" / "agent_inventory.py"
    spec = importlib.util.spec_from_file_location("agent_inventory", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["agent_inventory"] = module
    spec.loader.exec_module(module)
    return module
