"""The launcher against a platform, files and names built to break it
(issue 11): never a hang past the deadline, never INTERNAL_ERROR, never an
echo of what the other side sent.

Every case runs the installed command against ``faultserver`` on loopback
(one stand-in: byte-level behaviours are added there) and asserts the exit
code, a wall time inside the deadline plus start-up slack, that nothing
was launched when refused, and -- through ``run_launcher`` -- that no
planted value (each carries the marker) appears in any output.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import time
from pathlib import Path

import pytest
from faultserver import (
    LISTING,
    VALUES,
    FaultServer,
    answer,
    answer_ok,
    by_endpoint,
    chunk_size_trickle,
    documents,
    endless_continue,
    failed_fetch,
    header_trickle,
    redirect_to,
    status_trickle,
    too_many,
    trickle,
)
from support import (
    FAULT_DEADLINE,
    MARKER,
    OWN_API_KEY,
    WORKSPACE_ID,
    WORKSPACE_TOKEN,
    Result,
    assert_clean,
    assert_refused,
    base_env,
    launcher_path,
    run_launcher,
    timed_platform_run,
)

from launcher.platform.wire import parse_provenance
from launcher.values import Scope

DEADLINE = FAULT_DEADLINE
PLANTED = f"planted-{MARKER}-5ec7e7"  # what a hostile server slips into its text
ESCAPE = "\x1b[2J"


def run(
    command: str, url: str, *extra: str, mode: str = "byok", env: dict[str, str] | None = None, marker: Path
) -> tuple[Result, float]:
    return timed_platform_run(
        command, url, marker, *extra, mode=mode, deadline=DEADLINE, timeout=DEADLINE + 30, env=env
    )


# --- 1. one deadline for the whole exchange ----------------------------


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(status_trickle, id="status-byte-every-0.25s"),
        pytest.param(header_trickle, id="header-byte-every-0.25s"),
        pytest.param(chunk_size_trickle, id="chunk-size-line-never-ends"),
        pytest.param(endless_continue, id="endless-100-continue"),
        pytest.param(trickle(0.25), id="body-trickle"),
    ],
)
def test_a_trickle_at_any_depth_ends_at_the_deadline(marker, fault):
    with FaultServer(default=fault) as server:
        result, elapsed = run("exec", server.url, marker=marker)
    assert_refused(result, elapsed, marker, "PLATFORM_UNAVAILABLE", 69)
    assert elapsed >= DEADLINE - 0.5, "cut before the deadline: not the deadline that ended it"
    assert "deadline" in result.stderr


@pytest.mark.parametrize(
    "fault",
    [status_trickle, header_trickle, chunk_size_trickle, endless_continue],
    ids=["status-trickle", "header-trickle", "chunk-size-trickle", "endless-continue"],
)
def test_a_trickle_is_cut_at_the_deadline_not_after(fault):
    """In process, without start-up noise: the cut lands on the deadline."""
    error, elapsed = failed_fetch(fault, deadline=1.5)
    assert "deadline" in error.message
    assert 1.4 <= elapsed < 2.0, f"cut after {elapsed:.2f}s for a 1.5s deadline"


# --- 2. no input reaches INTERNAL_ERROR ----------------------------------


def test_a_non_ascii_header_byte_is_ignored(marker):
    with FaultServer(default=documents({"X-Odd": b"caf\xe9 \xff" + PLANTED.encode()})) as server:
        result, elapsed = run("exec", server.url, marker=marker)
    assert_clean(result, elapsed)
    assert result.returncode == 0 and marker.exists(), result.stderr[-500:]


@pytest.mark.parametrize(
    "retry_after",
    [b"\xb2", "1\u00b2".encode(), b"Fri, 01 Jan 999999999999999999 00:00:00 GMT", PLANTED.encode()],
    ids=["latin1-superscript", "utf8-superscript", "year-999999999999999999", "planted-text"],
)
def test_an_unparseable_retry_after_means_ordinary_backoff(marker, retry_after):
    with FaultServer(script=[too_many(retry_after)], default=answer_ok) as server:
        result, elapsed = run("exec", server.url, marker=marker)
    assert_clean(result, elapsed)
    assert result.returncode == 0 and marker.exists(), result.stderr[-500:]
    assert len(server.requests) == 4, "one 429, then List, Values, List"


@pytest.mark.parametrize(
    ("endpoint", "body", "fragment"),
    [
        ("values", b'{"ANTHROPIC_API_KEY": "\\ud800x"}', "lone surrogate"),
        ("values", b'{"\\ud800": "x"}', "not a valid variable name"),
        ("values", b'{"EDITOR": "vi", "EDITOR": "vim"}', "key EDITOR appears more than once"),
        ("secrets", b'[{"key": "A", "scope": "workspace", "scope": "global"}]', "key scope appears more than once"),
        # A server's own field given twice is its text, perhaps a value: by length and fingerprint only
        # (found by the fuzzer: the name was echoed).
        (
            "secrets",
            b'[{"key": "A", "ghp_planted_field": "x", "ghp_planted_field": "y"}]',
            "key (17 characters, fingerprint",
        ),
        ("values", gzip.compress(json.dumps(VALUES).encode()), "gzip-compressed"),
    ],
    ids=[
        "surrogate-value",
        "surrogate-key",
        "duplicate-values-key",
        "duplicate-list-field",
        "duplicate-unknown-field",
        "gzip-unannounced",
    ],
)
def test_a_body_that_cannot_be_a_bundle_is_bundle_invalid(marker, endpoint, body, fragment):
    with FaultServer(default=documents(**{endpoint: body})) as server:
        result, elapsed = run("exec", server.url, marker=marker)
    assert_refused(result, elapsed, marker, "BUNDLE_INVALID", 65)
    assert fragment in result.stderr
    assert "ghp_planted_field" not in result.stderr


def test_an_announced_gzip_body_is_named_as_such(marker):
    body = gzip.compress(json.dumps(LISTING).encode())
    with FaultServer(default=answer(200, body, {"Content-Encoding": "gzip"})) as server:
        result, elapsed = run("exec", server.url, marker=marker)
    assert_refused(result, elapsed, marker, "BUNDLE_INVALID", 65)
    assert "encoded (gzip)" in result.stderr and "UnicodeDecodeError" not in result.stderr


@pytest.mark.parametrize(
    ("token", "url"),
    [
        (f"wstok-{MARKER}-caf\u00e9", None),
        (WORKSPACE_TOKEN, "http://[::1"),
        (WORKSPACE_TOKEN, "http://127.0.0.1:9/\x01x"),
        (WORKSPACE_TOKEN, "http://127.0.0.1\x1b[2J:9"),
    ],
    ids=["non-ascii-token", "unclosed-ipv6", "control-in-path", "escape-in-host"],
)
def test_bad_operator_input_is_config_invalid_before_any_request(marker, token, url):
    with FaultServer(default=answer_ok) as server:
        env = base_env(MOLECULE_WORKSPACE_TOKEN=token)
        result, elapsed = run("exec", url or server.url, env=env, marker=marker)
    assert_refused(result, elapsed, marker, "CONFIG_INVALID", 64)
    assert server.connections == 0


# --- 3. files the operator names ------------------------------------------


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize(
    ("flag", "target"),
    [
        ("--token-file", "fifo"),
        ("--token-file", "/dev/zero"),
        ("--token-file", "directory"),
        ("--token-file", "oversized"),
        ("--ca-file", "fifo"),
        ("--ca-file", "/dev/zero"),
        ("--bypass-keys-file", "fifo"),
        ("--env-file", "fifo"),
        ("--env-file", "/dev/zero"),
        ("--global-env-file", "fifo"),
        ("--global-env-file", "oversized"),
    ],
)
def test_a_named_file_that_is_not_a_bounded_regular_file_is_config_invalid(tmp_path, marker, flag, target):
    if target == "fifo":
        path = str(_fifo(tmp_path))
    elif target == "directory":
        path = str(tmp_path)
    elif target == "oversized":
        big = tmp_path / "big"
        big.write_bytes(b"A=1\n" * (1024 * 1024))  # 4 MiB: over every cap but the CA file's
        path = str(big)
    else:
        path = target
    with FaultServer(default=answer_ok) as server:
        url = server.url.replace("http://", "https://") if flag == "--ca-file" else server.url
        result, elapsed = run("exec", url, flag, path, marker=marker)
    assert_refused(result, elapsed, marker, "CONFIG_INVALID", 64)
    assert elapsed < 2.0, "refused at once, not after waiting on the file"
    assert server.connections == 0


def test_an_unreadable_env_file_is_config_invalid_like_a_missing_one(tmp_path, marker):
    """Root reads anything: the launcher runs as nobody, the file sits in a
    directory nobody cannot enter."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    (private / "ws.env").write_text(f"ANTHROPIC_API_KEY={OWN_API_KEY}\n")
    unreadable = _as_nobody("check", "--billing-mode", "byok", "--env-file", str(private / "ws.env"))
    missing = run_launcher("check", "--billing-mode", "byok", "--env-file", str(tmp_path / "absent.env"))
    for result in (unreadable, missing):
        assert result.returncode == 64 and "CONFIG_INVALID" in result.stderr, result.stderr[-500:]
    assert "permission denied" in unreadable.stderr and "no such file" in missing.stderr


def _as_nobody(*args: str) -> Result:
    import subprocess

    if not shutil.which("setpriv") or os.geteuid() != 0:
        pytest.skip("needs root and setpriv to run the launcher as another user")
    proc = subprocess.run(
        ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", launcher_path(), *args],
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    result = Result(proc.returncode, proc.stdout, proc.stderr)
    assert MARKER not in result.output
    return result


# --- 4. nothing the server says is echoed raw ----------------------------


def test_failed_keys_show_only_key_names(marker):
    body = json.dumps(
        {
            "error": PLANTED,
            "failed_keys": ["global:CLAUDE_CODE_OAUTH_TOKEN", f"ANTHROPIC_API_KEY={PLANTED}", f"X{ESCAPE}", 7],
        }
    ).encode()
    with FaultServer(default=answer(500, body)) as server:
        for command, extra in (("exec", ()), ("check", ("--json",)), ("exec", ("-vv", "--log-format", "json"))):
            result, elapsed = run(command, server.url, *extra, marker=marker)
            assert_refused(result, elapsed, marker, "BUNDLE_INCOMPLETE", 65)
            assert "global:CLAUDE_CODE_OAUTH_TOKEN and 3 entries not shown" in result.output
            if command == "check":
                assert json.loads(result.stdout)["code"] == "BUNDLE_INCOMPLETE"


@pytest.mark.parametrize(
    ("location", "shown"),
    [
        (f"https://admin:{PLANTED}@evil.example:8443/steal?token={PLANTED}#{PLANTED}", "https://evil.example:8443"),
        (f"http://admin:{PLANTED}@evil\x1bX.example/steal", "http://evil\\x1bx.example"),
        (f"https://admin:{PLANTED}@evil{ESCAPE}.example/steal", "an unparseable Location"),
        (f"/steal?token={PLANTED}", "a relative Location"),
    ],
    ids=["userinfo-path-query", "escape-in-host", "unclosed-bracket", "relative"],
)
def test_a_redirect_is_shown_as_its_origin_only(marker, location, shown):
    with FaultServer(default=redirect_to(location)) as server:
        for extra in ((), ("--log-format", "json")):
            result, elapsed = run("exec", server.url, *extra, marker=marker)
            assert_refused(result, elapsed, marker, "PLATFORM_UNAVAILABLE", 69)
            message = json.loads(result.stderr)["message"] if extra else result.stderr
            assert f"redirect to {shown};" in message, result.stderr[-500:]
            assert "admin" not in message and "steal" not in message
    assert len(server.requests) == 2, "a redirect is refused at once, never retried"


def test_a_304_is_not_a_redirect_to_nowhere(marker):
    with FaultServer(default=answer(304)) as server:
        result, elapsed = run("exec", server.url, marker=marker)
    assert_refused(result, elapsed, marker, "PLATFORM_UNAVAILABLE", 69)
    assert "304 Not Modified" in result.stderr and "://?" not in result.stderr


def test_an_error_body_is_never_echoed(marker):
    body = json.dumps({"error": f"{PLANTED}{ESCAPE}", "detail": PLANTED}).encode()
    with FaultServer(default=answer(503, body, {"Retry-After": PLANTED, "X-Note": f"{ESCAPE}{PLANTED}"})) as server:
        result, elapsed = run("exec", server.url, "-vv", "--log-format", "json", marker=marker)
    assert_refused(result, elapsed, marker, "PLATFORM_UNAVAILABLE", 69)


def test_an_operator_path_with_escapes_is_escaped_in_text_and_json(tmp_path, marker):
    path = tmp_path / f"no{ESCAPE}such.env"
    for extra in ((), ("--log-format", "json")):
        result = run_launcher("exec", "--env-file", str(path), *extra, "--", "true")
        assert result.returncode == 64 and ESCAPE not in result.stderr
        shown = json.loads(result.stderr)["message"] if extra else result.stderr
        assert "no\\x1b[2Jsuch.env" in shown, result.stderr


# --- 5. check exits as exec would ----------------------------------------


def test_platform_managed_check_launches_when_the_list_endpoint_is_down(marker):
    flaky = by_endpoint(values=answer_ok, listing=answer(503, PLANTED.encode()))
    with FaultServer(default=flaky) as server:
        ran, _ = run("exec", server.url, mode="platform_managed", marker=marker)
        checked, elapsed = run("check", server.url, "--json", mode="platform_managed", marker=marker)
    assert (ran.returncode, checked.returncode) == (0, 0), checked.stderr[-500:]
    assert_clean(checked, elapsed)
    assert "cannot explain where keys came from" in checked.stderr
    keys = {k["key"]: k for k in json.loads(checked.stdout)["keys"]}
    assert keys["ANTHROPIC_API_KEY"]["scope"] == "unknown" and keys["ANTHROPIC_API_KEY"]["action"] == "keep"


# --- 7. a workspace row without a value proves nothing --------------------


def test_a_workspace_row_without_a_value_is_unknown_provenance(marker):
    listing = [
        {"key": "ANTHROPIC_API_KEY", "has_value": False, "scope": "workspace"},
        {"key": "ANTHROPIC_API_KEY", "has_value": True, "scope": "global"},
        {"key": "CLAUDE_CODE_OAUTH_TOKEN", "has_value": True, "scope": "global"},
    ]
    with FaultServer(default=documents(secrets=json.dumps(listing).encode())) as server:
        result, elapsed = run("exec", server.url, marker=marker)
        checked, _ = run("check", server.url, "--json", marker=marker)
    assert_refused(result, elapsed, marker, "MISSING_BYOK_CREDENTIAL", 78)
    assert checked.returncode == 78
    keys = {k["key"]: k for k in json.loads(checked.stdout)["keys"]}
    assert (keys["ANTHROPIC_API_KEY"]["scope"], keys["ANTHROPIC_API_KEY"]["action"]) == ("unknown", "strip")


def test_has_value_rules() -> None:
    def scope(*rows: tuple[str, bool | None]) -> Scope:
        listing = [{"key": "K", "scope": s, **({} if v is None else {"has_value": v})} for s, v in rows]
        return parse_provenance(json.dumps(listing).encode())["K"]

    assert scope(("workspace", False)) is Scope.UNKNOWN
    assert scope(("workspace", False), ("global", True)) is Scope.UNKNOWN
    assert scope(("workspace", False), ("workspace", True)) is Scope.WORKSPACE
    assert scope(("workspace", None), ("global", True)) is Scope.WORKSPACE  # has_value absent: as before
    assert scope(("global", False)) is Scope.GLOBAL


def test_a_trickling_refresh_fails_at_its_deadline_and_keeps_the_child(tmp_path):
    """Under supervise --refresh a trickle once hung refreshes silently:
    each must now fail by its deadline and leave the running child alone."""
    import signal
    import subprocess

    sleeper = shutil.which("sleep") or "/bin/sleep"
    err = tmp_path / "launcher.err"
    with FaultServer(script=[answer_ok] * 3, default=header_trickle) as server, err.open("w") as stderr:
        args = ["supervise", "--platform-url", server.url, "--workspace-id", WORKSPACE_ID, "--billing-mode", "byok"]
        proc = subprocess.Popen(
            [launcher_path(), *args, "--refresh", "0.2", "--deadline", "1", "--", sleeper, "60"],
            env=base_env(MOLECULE_WORKSPACE_TOKEN=WORKSPACE_TOKEN),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
        )
        try:
            started = time.monotonic()
            while err.read_text().count("refresh failed") < 2 and time.monotonic() - started < 15:
                time.sleep(0.1)
            elapsed = time.monotonic() - started
            assert proc.poll() is None, "supervise exited: the child was not kept"
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = err.read_text()
    assert MARKER not in text
    assert text.count("refresh failed") >= 2, text[-800:]
    assert elapsed < 10, f"two 1s-deadline refreshes took {elapsed:.1f}s"
    assert "PLATFORM_UNAVAILABLE" in text and code in (0, 128 + signal.SIGTERM, -signal.SIGTERM)


def test_an_inherited_key_name_with_controls_is_escaped_in_check(tmp_path):
    """Whitespace around a name still makes it an LLM key (it is stripped):
    the name is shown, escaped, in the table and in --json."""
    env = base_env(**{"\tANTHROPIC_API_KEY\x0b": PLANTED})
    for extra in ((), ("--json",)):
        result = run_launcher("check", "--billing-mode", "byok", *extra, env=env)
        assert result.returncode == 78, result.stderr[-500:]
        assert "\t" not in result.output and "\x0b" not in result.output
        assert "\\x09ANTHROPIC_API_KEY\\x0b" in (
            json.loads(result.stdout)["keys"][0]["key"] if extra else result.stdout
        )


def test_a_bad_bypass_keys_line_names_file_and_line_not_its_text(tmp_path: Path) -> None:
    """Issue 19.6: an operator who pasted KEY=value into the key list gets
    the file and line number, never the line (the value) echoed."""
    keys = tmp_path / "keys.txt"
    keys.write_text(f"# extra LLM keys\nMY_PROXY_KEY\nMY_OTHER_KEY={PLANTED}\n")
    for command in ("check", "exec"):
        result = run_launcher(command, "--bypass-keys-file", str(keys), "--", "true")
        assert result.returncode == 64 and "CONFIG_INVALID" in result.stderr, result.stderr
        assert f"{keys}:3: not a variable name" in result.stderr
        assert "MY_OTHER_KEY" not in result.stderr
