"""The platform client (``platform/client.py``, ``transport.py``) against a
platform that fails in the ways networks fail: stalls, resets, short bodies,
trickles, redirects (never followed), TLS it cannot verify (refused at once,
unless ``--ca-file`` or ``SSL_CERT_FILE`` trusts it), and a token file too
open (a warning) or a token that cannot be a header (never sent).

Every case runs the installed command with a 3 s deadline and a child
that would create a marker file, then asserts the documented exit code,
a wall time inside the deadline (plus start-up slack), no marker (nothing
was launched) and no fake secret anywhere in the output.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from faultserver import (
    FaultServer,
    answer_ok,
    failed_fetch,
    redirect_to,
    reset_mid_body,
    short_body,
    stall,
    too_many,
    trickle,
)
from support import (
    MARKER,
    WORKSPACE_ID,
    WORKSPACE_TOKEN,
    Result,
    base_env,
    timed_platform_run,
)
from support import assert_refused as refused

from launcher.config import load_config
from launcher.platform import client
from launcher.platform.client import PlatformClient


def assert_refused(result: Result, elapsed: float, marker: Path, code: str, exit_code: int) -> None:
    refused(result, elapsed, marker, code, exit_code)
    assert len(result.stderr.strip().splitlines()) == 1, "one line of diagnostics"


def test_the_stand_in_itself_lets_a_launch_through(marker):
    with FaultServer(default=answer_ok) as server:
        result, _ = timed_platform_run("exec", server.url, marker)
    assert result.returncode == 0, result.stderr
    assert marker.exists()
    assert [r.path.rsplit("/", 1)[-1] for r in server.requests] == ["secrets", "values", "secrets"]


@pytest.mark.parametrize(
    ("fault", "stderr_fragment"),
    [
        pytest.param(stall(30), "timed out", id="latency-beyond-timeout"),
        pytest.param(reset_mid_body, "connection failed", id="reset-mid-body"),
        pytest.param(short_body, "connection failed (IncompleteRead)", id="short-body"),
        pytest.param(trickle(0.2), "at the deadline", id="slow-loris"),
    ],
)
def test_network_fault_ends_unavailable_within_deadline(marker, fault, stderr_fragment):
    with FaultServer(default=fault) as server:
        result, elapsed = timed_platform_run("exec", server.url, marker)
    assert_refused(result, elapsed, marker, "PLATFORM_UNAVAILABLE", 69)
    assert stderr_fragment in result.stderr
    assert "gave up after" in result.stderr
    assert server.requests and all(r.has_authorization for r in server.requests)


def test_fault_then_recovery_launches(marker):
    """Each transient fault is worth another attempt inside the deadline."""
    with FaultServer(script=[reset_mid_body, short_body, too_many("1")], default=answer_ok) as server:
        # Two backoffs (up to 0.4 + 0.8 s) and a jittered Retry-After (up to
        # 2 s) can add up past 3 s: give the recovery room (the last flag wins).
        result, elapsed = timed_platform_run("exec", server.url, marker, "--deadline", "8")
    assert result.returncode == 0, result.stderr
    assert marker.exists()
    assert len(server.requests) == 6
    assert elapsed >= 1.0, "Retry-After: 1 was not honoured"


def test_latency_beyond_per_request_timeout_is_retried(monkeypatch):
    """With a per-request timeout shorter than the deadline, a stalled
    request is abandoned and the next one is answered."""
    monkeypatch.setattr(client, "PER_REQUEST_TIMEOUT", 0.5)
    with FaultServer(script=[stall(10)], default=answer_ok) as server:
        config = load_config({"platform_url": server.url, "workspace_id": WORKSPACE_ID, "deadline": "5"}, {})
        started = time.monotonic()
        with PlatformClient(config) as platform_client:
            bundle = platform_client.fetch(False, lambda key: False)
        elapsed = time.monotonic() - started
    assert bundle.values["EDITOR"] == "vi"
    assert bundle.requests == 2
    assert 0.5 <= elapsed < 2.5


def test_slow_loris_is_cut_at_the_deadline_not_after():
    error, elapsed = failed_fetch(trickle(0.05), deadline=1.5)
    assert "at the deadline" in error.message
    assert 1.4 <= elapsed < 2.0, f"cut after {elapsed:.2f}s for a 1.5s deadline"


def test_cross_origin_redirect_is_not_followed(marker):
    """The bearer token must never reach another origin: the second
    server must not see a request at all, with or without the header."""
    with FaultServer() as elsewhere, FaultServer(default=redirect_to(elsewhere.url)) as server:
        result, elapsed = timed_platform_run("exec", server.url, marker)
    assert_refused(result, elapsed, marker, "PLATFORM_UNAVAILABLE", 69)
    assert "redirects are not followed" in result.stderr
    assert elsewhere.connections == 0 and elsewhere.requests == []
    assert len(server.requests) == 1, "a redirect is not retried"


def test_same_origin_redirect_is_not_followed_either(marker):
    with FaultServer() as server:
        server.default = redirect_to(server.url + "/moved")
        result, elapsed = timed_platform_run("exec", server.url, marker)
    assert_refused(result, elapsed, marker, "PLATFORM_UNAVAILABLE", 69)
    assert len(server.requests) == 1


# --- TLS ---------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server(ca: trustme.CA) -> Iterator[FaultServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with FaultServer(default=answer_ok, tls=context) as server:
        yield server


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def test_self_signed_certificate_is_refused_at_once(tls_server, marker):
    result, elapsed = timed_platform_run("exec", tls_server.url, marker)
    assert_refused(result, elapsed, marker, "PLATFORM_UNAVAILABLE", 69)
    assert "does not verify" in result.stderr and "--ca-file" in result.stderr
    assert elapsed < 2.0, "an untrusted certificate is not worth retrying"
    assert tls_server.requests == [], "no request (and no token) over an unverified connection"


def test_self_signed_certificate_accepted_with_ca_file(tls_server, ca_file, marker):
    result, _ = timed_platform_run("exec", tls_server.url, marker, "--ca-file", str(ca_file))
    assert result.returncode == 0, result.stderr
    assert marker.exists()
    assert len(tls_server.requests) == 3 and all(r.has_authorization for r in tls_server.requests)


def test_self_signed_certificate_accepted_with_ssl_cert_file(tls_server, ca_file, marker):
    env = base_env(MOLECULE_WORKSPACE_TOKEN=WORKSPACE_TOKEN, SSL_CERT_FILE=str(ca_file))
    result, _ = timed_platform_run("exec", tls_server.url, marker, env=env)
    assert result.returncode == 0, result.stderr
    assert marker.exists()


def test_certificate_for_another_name_is_refused(ca, ca_file, marker):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("platform.example").configure_cert(context)
    with FaultServer(default=answer_ok, tls=context) as server:
        result, elapsed = timed_platform_run("exec", server.url, marker, "--ca-file", str(ca_file))
    assert_refused(result, elapsed, marker, "PLATFORM_UNAVAILABLE", 69)
    assert server.requests == []


def test_https_to_a_plain_http_port_fails_within_deadline(marker):
    with FaultServer(default=answer_ok) as server:
        result, elapsed = timed_platform_run("exec", server.url.replace("http://", "https://"), marker)
    assert_refused(result, elapsed, marker, "PLATFORM_UNAVAILABLE", 69)


def test_unreadable_ca_file_is_config_invalid(tmp_path, marker):
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    with FaultServer(default=answer_ok) as server:
        url = server.url.replace("http://", "https://")
        result, _ = timed_platform_run("exec", url, marker, "--ca-file", str(bad))
    assert result.returncode == 64 and "CONFIG_INVALID" in result.stderr
    assert not marker.exists() and server.connections == 0


# --- the token file ----------------------------------------------------


def _token_file(tmp_path: Path, text: str, mode: int) -> Path:
    path = tmp_path / "token"
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_token_file_readable_by_others_warns_but_launches(tmp_path, marker, mode):
    path = _token_file(tmp_path, WORKSPACE_TOKEN + "\n", mode)
    with FaultServer(default=answer_ok) as server:
        result, _ = timed_platform_run(
            "exec", server.url, marker, env=base_env(MOLECULE_WORKSPACE_TOKEN_FILE=str(path))
        )
    assert result.returncode == 0, result.stderr
    assert "readable by group or others" in result.stderr and "chmod 600" in result.stderr
    assert marker.exists()


def test_private_token_file_does_not_warn(tmp_path, marker):
    path = _token_file(tmp_path, WORKSPACE_TOKEN + "\n", 0o600)
    with FaultServer(default=answer_ok) as server:
        result, _ = timed_platform_run(
            "exec", server.url, marker, env=base_env(MOLECULE_WORKSPACE_TOKEN_FILE=str(path))
        )
    assert result.returncode == 0 and "readable" not in result.stderr


@pytest.mark.parametrize(
    "token",
    [
        f"wstok-{MARKER} -0d15ea5e",
        f"wstok-{MARKER}\t-0d15ea5e",
        f"wstok-{MARKER}\n-0d15ea5e",
        f"wstok-{MARKER}\x00-0d15ea5e",
        f"wstok-{MARKER}\x1b[2J-0d15ea5e",
        f"wstok-{MARKER}\x7f-0d15ea5e",
        f"wstok-{MARKER}\u00a0-0d15ea5e",
        "   \n",
    ],
    ids=["space", "tab", "newline", "nul", "escape", "del", "nbsp", "blank"],
)
def test_token_with_whitespace_or_control_character_is_refused(tmp_path, marker, token):
    path = _token_file(tmp_path, token, 0o600)
    with FaultServer(default=answer_ok) as server:
        result, _ = timed_platform_run(
            "exec", server.url, marker, env=base_env(MOLECULE_WORKSPACE_TOKEN_FILE=str(path))
        )
    assert result.returncode == 64 and "CONFIG_INVALID" in result.stderr, result.stderr
    assert not marker.exists()
    assert server.connections == 0, "a malformed token is never sent"
    # Each non-blank token carries the marker, which run_launcher greps for.


def test_token_from_environment_with_control_character_is_refused(marker):
    with FaultServer(default=answer_ok) as server:
        env = base_env(MOLECULE_WORKSPACE_TOKEN=f"wstok-{MARKER}\r\nX-Injected: 1")
        result, _ = timed_platform_run("exec", server.url, marker, env=env)
    assert result.returncode == 64 and not marker.exists() and server.connections == 0


def test_nothing_in_verbose_json_output_quotes_the_bundle_on_any_fault(marker):
    """The parametrised cases at -vv with JSON logs: every fake value the
    stand-in served is grepped for by run_launcher in each output."""
    for fault in (reset_mid_body, short_body, too_many("30")):
        with FaultServer(default=fault) as server:
            result, _ = timed_platform_run("exec", server.url, marker, "-vv", "--log-format", "json")
        assert result.returncode == 69, f"exit {result.returncode}"
        assert server.requests and all(r.has_authorization for r in server.requests)
