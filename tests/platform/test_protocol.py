"""The platform client (``platform/client.py``, ``wire.py``) against the
real workspace-server contract, over HTTP on loopback: which endpoints each
mode reads, with which token (and the token never passed on), retries and
what is never retried, refusals, malformed and oversized bundles, and
provenance that changes during the read."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from support import (
    OWN_API_KEY,
    PLATFORM_OAUTH,
    WORKSPACE_ID,
    WORKSPACE_TOKEN,
    base_env,
    exec_dump,
    expect_absent,
    expect_secret,
    launcher_path,
    parse_env_dump,
    platform_args,
    require_unshare,
    run_launcher,
    token_env,
)

from launcher.devserver import Canned
from launcher.values import Scope


def _exec(platform, *extra: str, mode: str = "byok", env=None):  # type: ignore[no-untyped-def]
    """exec against ``platform``, the child printing its environment (to stdout)."""
    result, _ = exec_dump(*platform_args(platform, mode), *extra, env=token_env() if env is None else env)
    return result


def _paths(platform) -> list[str]:
    prefix = f"/workspaces/{WORKSPACE_ID}"
    return [r.path.removeprefix(prefix) for r in platform.state.requests]


def test_byok_reads_list_values_list_with_bearer_token(platform):
    platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    result = _exec(platform)
    assert result.returncode == 0
    assert _paths(platform) == ["/secrets", "/secrets/values", "/secrets"]
    assert all(r.authorization == f"Bearer {WORKSPACE_TOKEN}" for r in platform.state.requests)
    assert len({r.client_port for r in platform.state.requests}) == 1, "one connection, reused"


def test_platform_managed_reads_values_only(platform):
    assert _exec(platform, mode="platform_managed").returncode == 0
    assert _paths(platform) == ["/secrets/values"]


def test_token_file_is_used_and_never_reaches_child(platform, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(WORKSPACE_TOKEN + "\n")
    token_file.chmod(0o600)
    platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    env = base_env(MOLECULE_WORKSPACE_TOKEN_FILE=str(token_file))
    result = _exec(platform, env=env)
    assert result.returncode == 0, result.stderr
    child = parse_env_dump(result.stdout)
    assert "MOLECULE_WORKSPACE_TOKEN_FILE" not in child and "MOLECULE_WORKSPACE_TOKEN" not in child
    expect_absent(result.stdout, WORKSPACE_TOKEN, "the child environment")
    assert "readable by group" not in result.stderr


def test_default_token_file_under_configs_dir(platform, tmp_path):
    (tmp_path / ".auth_token").write_text(WORKSPACE_TOKEN)
    (tmp_path / ".auth_token").chmod(0o600)
    platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    assert _exec(platform, env=base_env(CONFIGS_DIR=str(tmp_path))).returncode == 0


def test_env_token_never_reaches_child(platform):
    platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    result = _exec(platform)
    assert result.returncode == 0
    assert "MOLECULE_WORKSPACE_TOKEN" not in parse_env_dump(result.stdout)
    expect_absent(result.stdout, WORKSPACE_TOKEN, "the child environment")


def test_no_token_sends_no_authorization_and_401_is_auth_failed(platform):
    result = _exec(platform, env=base_env())
    assert result.returncode == 77
    assert "PLATFORM_AUTH_FAILED" in result.stderr and "missing" in result.stderr
    assert platform.state.requests[0].authorization is None
    assert len(platform.state.requests) == 1, "401 is not retried"


def test_grandfathered_workspace_without_token(platform):
    platform.state.token = None  # legacy workspace: the server accepts no token
    platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    assert _exec(platform, env=base_env()).returncode == 0


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failure_is_not_retried(platform, status):
    platform.state.push(Canned(status, b'{"error": "invalid token"}'))
    result = _exec(platform)
    assert (result.returncode, len(platform.state.requests)) == (77, 1)
    assert result.stderr.startswith("agent-launcher: error: PLATFORM_AUTH_FAILED: ")


def test_refused_partial_bundle_is_not_retried_and_lists_keys(platform):
    body = json.dumps({"error": "decrypt failed", "failed_keys": ["global:CLAUDE_CODE_OAUTH_TOKEN"]}).encode()
    platform.state.push(Canned(500, body))
    result = _exec(platform)
    assert (result.returncode, len(platform.state.requests)) == (65, 1)
    assert "BUNDLE_INCOMPLETE" in result.stderr and "global:CLAUDE_CODE_OAUTH_TOKEN" in result.stderr


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_transient_statuses_are_retried(platform, status):
    platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    platform.state.push(Canned(status, b'{"error": "busy"}'), Canned(status, b""))
    result = _exec(platform)
    assert result.returncode == 0, result.stderr
    assert len(platform.state.requests) == 5


def test_connection_refused_is_retried_until_deadline():
    started = time.monotonic()
    result = run_launcher(
        "exec",
        "--platform-url",
        "http://127.0.0.1:9",
        "--workspace-id",
        WORKSPACE_ID,
        "--billing-mode",
        "byok",
        "--deadline",
        "2",
        "--",
        "true",
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 69
    assert "PLATFORM_UNAVAILABLE" in result.stderr and "gave up after" in result.stderr
    assert 1.0 < elapsed < 6, f"took {elapsed:.1f}s for a 2s deadline"
    attempts = int(result.stderr.split("gave up after ")[1].split()[0])
    assert attempts >= 2, "connection errors are retried"


def test_retry_after_is_honoured(platform):
    platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    platform.state.push(Canned(429, b"", {"Retry-After": "2"}))
    started = time.monotonic()
    result = _exec(platform)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert elapsed >= 2.0, f"retried after {elapsed:.2f}s despite Retry-After: 2"


def test_retry_after_beyond_deadline_gives_up_at_once(platform):
    platform.state.push(Canned(503, b"", {"Retry-After": "30"}))
    started = time.monotonic()
    result = _exec(platform, "--deadline", "5")
    assert result.returncode == 69
    assert time.monotonic() - started < 4, "must not sleep into a wait it cannot finish"
    assert len(platform.state.requests) == 1


def test_5xx_past_deadline_is_platform_unavailable(platform):
    platform.state.push(*[Canned(503, b"")] * 200)
    result = _exec(platform, "--deadline", "2")
    assert result.returncode == 69
    assert "answered 503" in result.stderr


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"<html>oops</html>", "not JSON"),
        (b'["A", "B"]', "expected a JSON object"),
        (b'{"COUNT": 3}', "not a string"),
        (b'{"A": "x\\u0000y"}', "NUL byte"),
        (b'{"BAD-KEY": "x"}', "not a valid variable name"),
        (b'{"1ABC": "x"}', "not a valid variable name"),
        (b'{"": "x"}', "not a valid variable name"),
    ],
)
def test_bad_bundle_is_bundle_invalid(platform, body, fragment):
    platform.state.push(Canned(200, b"[]"), Canned(200, body))
    result = _exec(platform)
    assert result.returncode == 65
    assert "BUNDLE_INVALID" in result.stderr and fragment in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bundle_over_cap_is_refused(platform):
    platform.state.workspace_secrets["BIG"] = "x" * 5000
    result = _exec(platform, "--max-bundle-bytes", "1024")
    assert result.returncode == 65
    assert "exceeds the 1024-byte cap" in result.stderr


def test_bundle_over_cap_is_cut_while_streaming(platform):
    body = b'{"A": "' + b"x" * 50_000 + b'"}'
    platform.state.push(Canned(200, b"[]"), Canned(200, body, declare_length=False))
    result = _exec(platform, "--max-bundle-bytes", "4096")
    assert result.returncode == 65
    assert "body exceeds the 4096-byte cap" in result.stderr


def test_provenance_change_mid_read_is_read_again(platform):
    """A key moving between scopes during the read is never gated on."""
    platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    calls = {"n": 0}

    def flip(path: str) -> None:
        # The first Values read happens while ANTHROPIC_API_KEY is global.
        if path.endswith("/secrets"):
            calls["n"] += 1
            if calls["n"] == 1:
                platform.state.global_secrets["ANTHROPIC_API_KEY"] = PLATFORM_OAUTH
                platform.state.workspace_secrets.pop("ANTHROPIC_API_KEY")
            elif calls["n"] == 2:
                platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY

    platform.state.on_request = flip
    result = _exec(platform)
    assert result.returncode == 0, result.stderr
    expect_secret(parse_env_dump(result.stdout), "ANTHROPIC_API_KEY", OWN_API_KEY)
    assert len(platform.state.requests) == 6, "one round discarded, one round used"


def test_provenance_that_never_settles_fails_closed(platform):
    platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY

    def flap(path: str) -> None:
        if path.endswith("/secrets"):
            own = platform.state.workspace_secrets.pop("ANTHROPIC_API_KEY", None)
            if own is None:
                platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
                platform.state.global_secrets.pop("ANTHROPIC_API_KEY", None)
            else:
                platform.state.global_secrets["ANTHROPIC_API_KEY"] = PLATFORM_OAUTH

    platform.state.on_request = flap
    result = _exec(platform)
    assert result.returncode == 69
    assert "ANTHROPIC_API_KEY" in result.stderr and "changed" in result.stderr


def test_unknown_provenance_llm_key_is_stripped(platform):
    """A key in Values that List does not report is of unknown origin."""
    platform.state.push(
        Canned(200, b"[]"), Canned(200, json.dumps({"OPENAI_API_KEY": OWN_API_KEY}).encode()), Canned(200, b"[]")
    )
    result = run_launcher(
        "check", "--json", *platform_args(platform, "disabled"), env=base_env(MOLECULE_WORKSPACE_TOKEN=WORKSPACE_TOKEN)
    )
    keys = {k["key"]: k for k in json.loads(result.stdout)["keys"]}
    assert (keys["OPENAI_API_KEY"]["scope"], keys["OPENAI_API_KEY"]["action"]) == (Scope.UNKNOWN.value, "strip")


def test_404_names_the_workspace(platform):
    result = run_launcher(
        "exec",
        "--platform-url",
        platform.url,
        "--workspace-id",
        "00000000-0000-4000-8000-000000000000",
        "--billing-mode",
        "byok",
        "--",
        "true",
        env=base_env(MOLECULE_WORKSPACE_TOKEN=WORKSPACE_TOKEN),
    )
    assert result.returncode == 64
    assert "no workspace 00000000-0000-4000-8000-000000000000" in result.stderr


def test_sigterm_during_a_slow_platform_read_ends_promptly_even_as_pid_1(platform, tmp_path):
    """PID 1 ignores SIGTERM without a handler: docker stop would hang for
    its whole grace period while the launcher waits on the platform."""
    require_unshare("--pid", "--fork")
    platform.state.push(Canned(200, b"[]", delay=20))
    marker = tmp_path / "launched"
    proc = subprocess.Popen(
        [
            "unshare",
            "--pid",
            "--fork",
            "--kill-child",
            launcher_path(),
            "exec",
            *platform_args(platform),
            "--",
            "touch",
            str(marker),
        ],
        env=base_env(MOLECULE_WORKSPACE_TOKEN=WORKSPACE_TOKEN),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 10
    while not platform.state.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    pid1 = _child_of(proc.pid)
    os.kill(pid1, signal.SIGTERM)
    started = time.monotonic()
    proc.communicate(timeout=15)
    assert time.monotonic() - started < 5, "SIGTERM to a launcher running as PID 1 was ignored"
    assert not marker.exists()


def _child_of(pid: int) -> int:
    """The launcher unshare forked: PID 1 of the new namespace."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.05)
    raise AssertionError("unshare started no child")
