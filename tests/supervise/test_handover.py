"""supervise's command half (``commands/supervise.py``) and its handover to
the resident (``supervise/handover.py``, ``supervise/resident.py``): the
first pull is gated as exec's is (a refusal 78, an unknown command 127, a
bad flag 64, the gated environment reaching the child); the handover's
typed records survive their JSON form; a handover the resident cannot read
is reported by type and place; and once re-executed the resident holds no
value in its environment or argv, nor do its refresh helpers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from support import (
    MARKER,
    OWN_API_KEY,
    WORKSPACE_TOKEN,
    base_env,
    lines,
    parse_env_dump,
    run_launcher,
    token_env,
    values_reads,
    wait_until,
)

from launcher.supervise.handover import (
    Endpoint,
    Handover,
    LogSettings,
    Options,
    ProxyRequest,
    PullInputs,
    RefreshRequest,
)
from launcher.values import fingerprint


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


def test_the_handover_crosses_json_as_the_records_it_was() -> None:
    """The typed handover: what the command builds is what the resident
    gets back, tuples and nested records included (JSON alone would hand
    it lists and arrays)."""
    from launcher.launch import Startable
    from launcher.privileges import Identity

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


def test_the_resident_parent_holds_no_value_in_its_environment_or_argv(platform, supervise_reporter) -> None:  # type: ignore[no-untyped-def]
    """After the gate the parent re-executes itself with an empty environment:
    what the container handed it (the token, an inherited platform key) is
    no longer in its /proc/PID/environ, and nothing secret is in its argv or
    in the refresh helper's. Refreshes still reach the platform."""
    run, starts = supervise_reporter("--refresh", "0.3", env=token_env(CLAUDE_CODE_OAUTH_TOKEN=f"inherited-{MARKER}"))
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
    wait_until(lambda: values_reads(platform) >= 3, "refreshes by the helper")
    assert run.stop() == 0
