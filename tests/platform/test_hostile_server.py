"""The launcher against a platform built to break it (issue 11): a trickle
at any depth of the exchange ends at the one deadline; no answer, however
malformed, reaches INTERNAL_ERROR; nothing the server says is echoed (failed
keys by name only, a redirect by its origin, an error body never); check
exits as exec would when the List endpoint is down; and a workspace row
without a value proves no provenance (``platform/wire.py``).

Every case runs the installed command against ``faultserver`` on loopback
(one stand-in: byte-level behaviours are added there) and asserts the exit
code, a wall time inside the deadline plus start-up slack, that nothing
was launched when refused, and -- through ``run_launcher`` -- that no
planted value (each carries the marker) appears in any output. (The
operator's own input, files and names: config/test_operator_input.py.)
"""

from __future__ import annotations

import gzip
import json

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
    ESCAPE,
    FAULT_DEADLINE,
    PLANTED,
    assert_clean,
    assert_refused,
    timed_platform_run,
)

from launcher.platform.wire import parse_provenance
from launcher.values import Scope

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
        result, elapsed = timed_platform_run("exec", server.url, marker)
    assert_refused(result, elapsed, marker, "PLATFORM_UNAVAILABLE", 69)
    assert elapsed >= FAULT_DEADLINE - 0.5, "cut before the deadline: not the deadline that ended it"
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
        result, elapsed = timed_platform_run("exec", server.url, marker)
    assert_clean(result, elapsed)
    assert result.returncode == 0 and marker.exists(), result.stderr[-500:]


@pytest.mark.parametrize(
    "retry_after",
    [b"\xb2", "1\u00b2".encode(), b"Fri, 01 Jan 999999999999999999 00:00:00 GMT", PLANTED.encode()],
    ids=["latin1-superscript", "utf8-superscript", "year-999999999999999999", "planted-text"],
)
def test_an_unparseable_retry_after_means_ordinary_backoff(marker, retry_after):
    with FaultServer(script=[too_many(retry_after)], default=answer_ok) as server:
        result, elapsed = timed_platform_run("exec", server.url, marker)
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
        result, elapsed = timed_platform_run("exec", server.url, marker)
    assert_refused(result, elapsed, marker, "BUNDLE_INVALID", 65)
    assert fragment in result.stderr
    assert "ghp_planted_field" not in result.stderr


def test_an_announced_gzip_body_is_named_as_such(marker):
    body = gzip.compress(json.dumps(LISTING).encode())
    with FaultServer(default=answer(200, body, {"Content-Encoding": "gzip"})) as server:
        result, elapsed = timed_platform_run("exec", server.url, marker)
    assert_refused(result, elapsed, marker, "BUNDLE_INVALID", 65)
    assert "encoded (gzip)" in result.stderr and "UnicodeDecodeError" not in result.stderr


# --- 3. nothing the server says is echoed raw ----------------------------


def test_failed_keys_show_only_key_names(marker):
    body = json.dumps(
        {
            "error": PLANTED,
            "failed_keys": ["global:CLAUDE_CODE_OAUTH_TOKEN", f"ANTHROPIC_API_KEY={PLANTED}", f"X{ESCAPE}", 7],
        }
    ).encode()
    with FaultServer(default=answer(500, body)) as server:
        for command, extra in (("exec", ()), ("check", ("--json",)), ("exec", ("-vv", "--log-format", "json"))):
            result, elapsed = timed_platform_run(command, server.url, marker, *extra)
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
            result, elapsed = timed_platform_run("exec", server.url, marker, *extra)
            assert_refused(result, elapsed, marker, "PLATFORM_UNAVAILABLE", 69)
            message = json.loads(result.stderr)["message"] if extra else result.stderr
            assert f"redirect to {shown};" in message, result.stderr[-500:]
            assert "admin" not in message and "steal" not in message
    assert len(server.requests) == 2, "a redirect is refused at once, never retried"


def test_a_304_is_not_a_redirect_to_nowhere(marker):
    with FaultServer(default=answer(304)) as server:
        result, elapsed = timed_platform_run("exec", server.url, marker)
    assert_refused(result, elapsed, marker, "PLATFORM_UNAVAILABLE", 69)
    assert "304 Not Modified" in result.stderr and "://?" not in result.stderr


def test_an_error_body_is_never_echoed(marker):
    body = json.dumps({"error": f"{PLANTED}{ESCAPE}", "detail": PLANTED}).encode()
    with FaultServer(default=answer(503, body, {"Retry-After": PLANTED, "X-Note": f"{ESCAPE}{PLANTED}"})) as server:
        result, elapsed = timed_platform_run("exec", server.url, marker, "-vv", "--log-format", "json")
    assert_refused(result, elapsed, marker, "PLATFORM_UNAVAILABLE", 69)


# --- 4. check exits as exec would ----------------------------------------


def test_platform_managed_check_launches_when_the_list_endpoint_is_down(marker):
    flaky = by_endpoint(values=answer_ok, listing=answer(503, PLANTED.encode()))
    with FaultServer(default=flaky) as server:
        ran, _ = timed_platform_run("exec", server.url, marker, mode="platform_managed")
        checked, elapsed = timed_platform_run("check", server.url, marker, "--json", mode="platform_managed")
    assert (ran.returncode, checked.returncode) == (0, 0), checked.stderr[-500:]
    assert_clean(checked, elapsed)
    assert "cannot explain where keys came from" in checked.stderr
    keys = {k["key"]: k for k in json.loads(checked.stdout)["keys"]}
    assert keys["ANTHROPIC_API_KEY"]["scope"] == "unknown" and keys["ANTHROPIC_API_KEY"]["action"] == "keep"


# --- 5. a workspace row without a value proves nothing --------------------


def test_a_workspace_row_without_a_value_is_unknown_provenance(marker):
    listing = [
        {"key": "ANTHROPIC_API_KEY", "has_value": False, "scope": "workspace"},
        {"key": "ANTHROPIC_API_KEY", "has_value": True, "scope": "global"},
        {"key": "CLAUDE_CODE_OAUTH_TOKEN", "has_value": True, "scope": "global"},
    ]
    with FaultServer(default=documents(secrets=json.dumps(listing).encode())) as server:
        result, elapsed = timed_platform_run("exec", server.url, marker)
        checked, _ = timed_platform_run("check", server.url, marker, "--json")
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
