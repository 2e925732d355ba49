"""Test support: the installed command, distinctive fake secrets that every
test greps output for, and helpers to run the launcher as a subprocess."""

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


def run_launcher(
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 30,
    check_secrets: bool = True,
) -> Result:
    proc = subprocess.run(
        [launcher_path(), *args],
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


def timed_platform_run(
    command: str,
    url: str,
    marker: Path,
    *extra: str,
    deadline: float,
    timeout: float,
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


# Fault and hostile-server runs (test_faults.py, test_hostile.py): the
# platform deadline they give, and what interpreter start-up, imports and
# teardown may add on a loaded CI box.
FAULT_DEADLINE = 3.0
FAULT_SLACK = 2.5


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


def stop_for_good(proc: subprocess.Popen[str] | subprocess.Popen[bytes], timeout: float = 20.0) -> None:
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


def wait_until(condition: Callable[[], object], what: str, timeout: float = 20.0) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout``
    (generous by default: a loaded 2-core runner is slow, not broken)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout:g}s waiting for {what}")


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


def platform_args(server: DevPlatform, mode: str = "byok") -> list[str]:
    return ["--platform-url", server.url, "--workspace-id", WORKSPACE_ID, "--billing-mode", mode]


def token_env(**extra: str) -> dict[str, str]:
    return base_env(MOLECULE_WORKSPACE_TOKEN=WORKSPACE_TOKEN, **extra)


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
        path = self.root / name
        path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        return str(path)

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
