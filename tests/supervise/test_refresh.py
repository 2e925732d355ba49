"""supervise's refreshes (``supervise/refresh.py``, each pulled in a fork of
the resident, ``supervise/pull.py``): a rotation restarts the child exactly
once with the new environment; a refresh that fails (the platform down or
trickling, a bad bundle, a refusing plan, an environment the kernel would
not start) keeps the running child; agent files changed while the old child
stopped are judged again before the restart; when to pull again (jittered,
backing off) and what changed (names only).
"""

from __future__ import annotations

import json
import shutil
import signal
import time
from pathlib import Path

import pytest
from faultserver import FaultServer, answer_ok, header_trickle
from support import (
    MARKER,
    OVERSIZED,
    OWN_API_KEY,
    ROTATED_API_KEY,
    WORKSPACE_ID,
    gone,
    lines,
    platform_args,
    python_script,
    token_env,
    values_reads,
    wait_until,
)

from launcher.supervise.refresh import MAX_BACKOFF_FACTOR, Schedule, compare
from launcher.values import fingerprint


def first_start(starts: Path) -> int:
    """The pid of the first child, once it has written its line to ``starts``."""
    wait_until(lambda: len(lines(starts)) == 1, "the first start")
    return int(lines(starts)[0].split()[0])


def test_rotation_restarts_the_child_exactly_once_with_the_new_key(platform, supervise_reporter) -> None:  # type: ignore[no-untyped-def]
    run, starts = supervise_reporter("--refresh", "0.3", "--stop-timeout", "2")
    wait_until(lambda: len(lines(starts)) == 1, "the first start")
    assert lines(starts)[0].split()[1] == fingerprint(OWN_API_KEY)
    wait_until(lambda: values_reads(platform) >= 3, "a couple of unchanged refreshes")
    assert len(lines(starts)) == 1, "an unchanged bundle must not restart the child"

    with platform.state.lock:
        platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = ROTATED_API_KEY
    wait_until(lambda: len(lines(starts)) == 2, "the restart after rotation")
    first_pid, second = lines(starts)[0].split()[0], lines(starts)[1].split()
    assert second[1] == fingerprint(ROTATED_API_KEY)
    wait_until(lambda: gone(int(first_pid)), "the old child to be gone")

    settled = values_reads(platform)
    wait_until(lambda: values_reads(platform) >= settled + 3, "more refreshes after the restart")
    assert len(lines(starts)) == 2, "exactly one restart per rotation"
    assert run.stop() == 0
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
    reporter = python_script(tmp_path / "codex_home.py", CODEX_HOME_REPORTER)
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
    assert run.stop() == 0
    assert list(runtime.iterdir()) == [], "the private CODEX_HOMEs outlived the resident that kept them"


def test_shutdown_during_a_restart_is_the_last_stop(platform, supervise_reporter) -> None:  # type: ignore[no-untyped-def]
    run, starts = supervise_reporter("--refresh", "0.2", "--stop-timeout", "2", child_args=("ignore-sigterm",))
    child = first_start(starts)
    with platform.state.lock:
        platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = ROTATED_API_KEY
    wait_until(lambda: "ENVIRONMENT_CHANGED" in run.stderr, "the restart to begin")
    run.proc.send_signal(signal.SIGTERM)  # the child ignores the stop signal, so the restart is still waiting
    assert run.finish() == 128 + signal.SIGKILL
    assert len(lines(starts)) == 1, "no new child once shutting down"
    assert gone(child)


def test_platform_down_keeps_the_child(platform, supervise_reporter) -> None:  # type: ignore[no-untyped-def]
    run, starts = supervise_reporter("--refresh", "0.2", "--deadline", "1", "--stop-timeout", "2")
    child = first_start(starts)
    platform.server.shutdown()
    platform.server.server_close()  # connection refused from now on
    wait_until(lambda: run.stderr.count("refresh failed") >= 2, "two failed refreshes")
    assert "PLATFORM_UNAVAILABLE" in run.stderr
    assert not gone(child) and len(lines(starts)) == 1, "the running child must be kept"
    assert run.stop() == 0


def test_bad_bundle_or_refusing_plan_keeps_the_child(platform, supervise_reporter) -> None:  # type: ignore[no-untyped-def]
    from launcher.devserver import Canned

    run, starts = supervise_reporter("--refresh", "0.2", "--deadline", "2", "--stop-timeout", "2")
    child = first_start(starts)
    platform.state.push(*[Canned(200, b"not json", {"Content-Type": "application/json"})] * 3)
    wait_until(lambda: "BUNDLE_INVALID" in run.stderr, "a bad bundle to be refused")
    with platform.state.lock:
        del platform.state.workspace_secrets["ANTHROPIC_API_KEY"]  # byok with no key of its own
    wait_until(lambda: "MISSING_BYOK_CREDENTIAL" in run.stderr, "the refusing plan to be logged")
    assert not gone(child) and len(lines(starts)) == 1, "the running child must be kept"
    assert run.stop() == 0


def test_a_refresh_that_cannot_start_keeps_the_running_child(platform, supervise_reporter) -> None:  # type: ignore[no-untyped-def]
    """The environment is proven startable before a refresh stops a working
    child (``launch.check_startable``): a value over the kernel's per-string
    limit, then a lone surrogate, are BUNDLE_INVALID and the child is kept."""
    run, starts = supervise_reporter("--refresh", "0.2", "--stop-timeout", "3")
    pid = first_start(starts)
    with platform.state.lock:
        platform.state.workspace_secrets["HUGE_SETTING"] = OVERSIZED
    wait_until(lambda: "HUGE_SETTING" in run.stderr, "the oversized refresh to be refused")
    with platform.state.lock:
        del platform.state.workspace_secrets["HUGE_SETTING"]
        platform.state.workspace_secrets["ODD_SETTING"] = "\ud800"

    def surrogate_refused() -> bool:
        failed = [line for line in run.stderr.splitlines() if "refresh failed" in line]
        return bool(failed) and "HUGE_SETTING" not in failed[-1]

    wait_until(surrogate_refused, "the refresh holding a lone surrogate to be refused")
    assert run.proc.poll() is None, "supervise must not exit on a bad refresh"
    assert not gone(pid) and len(lines(starts)) == 1, "the working child must be kept"
    assert "BUNDLE_INVALID" in run.stderr
    assert "ENVIRONMENT_CHANGED" not in run.stderr
    assert "COMMAND_NOT_EXECUTABLE" not in run.stderr and "INTERNAL_ERROR" not in run.stderr
    assert run.stop() == 0  # the kept child, stopped at last (the reporter exits 0 on SIGTERM)


def test_a_trickling_refresh_fails_at_its_deadline_and_keeps_the_child(supervise) -> None:  # type: ignore[no-untyped-def]
    """Under supervise --refresh a trickle once hung refreshes silently:
    each must now fail by its deadline and leave the running child alone
    (issue 11)."""
    sleeper = shutil.which("sleep") or "/bin/sleep"
    with FaultServer(script=[answer_ok] * 3, default=header_trickle) as server:
        run = supervise(
            "--platform-url", server.url, "--workspace-id", WORKSPACE_ID, "--billing-mode", "byok",
            "--refresh", "0.2", "--deadline", "1", "--", sleeper, "60",
            env=token_env(),
        )  # fmt: skip
        started = time.monotonic()
        wait_until(lambda: run.stderr.count("refresh failed") >= 2, "two failed refreshes", timeout=15)
        elapsed = time.monotonic() - started
        assert run.proc.poll() is None, "supervise exited: the child was not kept"
        code = run.stop(15)
    assert elapsed < 10, f"two 1s-deadline refreshes took {elapsed:.1f}s"
    assert "PLATFORM_UNAVAILABLE" in run.stderr and code in (0, 128 + signal.SIGTERM, -signal.SIGTERM)


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
    with platform.state.lock:
        platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    starts = tmp_path / "starts"
    child = python_script(tmp_path / "writer.py", SETTINGS_WRITER)
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
        assert run.stop() == 0
    else:
        assert run.finish() == 78
        assert len(lines(starts)) == 1, "a child started on a file that now holds a foreign key"
        assert "FOREIGN_AGENT_CREDENTIAL" in run.stderr and "the restart was refused" in run.stderr


# -- pure pieces ----------------------------------------------------------------------------


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
