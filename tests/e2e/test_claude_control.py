"""CONTROL tests: the real claude-code CLI, WITHOUT the launcher.

They pin down what reaches the LLM upstream for each credential kind, so the
launcher tests can rely on it; in particular (a) shows that a platform OAuth
token left in the environment IS forwarded upstream, i.e. the suite would
catch the leak the launcher exists to prevent.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import pytest
from agent_clis import (
    ADC_FILE,
    PLATFORM_SERVICE_ACCOUNT,
    assert_claude_answered,
    assert_no_leak,
    claude_result,
    service_account_json,
)
from support import ALL_SECRETS, OWN_API_KEY, OWN_AUTH_TOKEN, PLATFORM_OAUTH, assert_no_secret

pytestmark = pytest.mark.e2e

# What claude-code 2.1.332 prints (JSON "result") with no credential at all.
NOT_LOGGED_IN = "Not logged in · Please run /login"


def _run(claude_bin, claude_env, run_claude, tmp_path, stub, **cred):
    env = claude_env(tmp_path, stub.url, **cred)
    proc = run_claude(claude_bin, env, tmp_path / "work")
    # No test may let claude try to reach a non-loopback host.
    assert_no_leak(proc, stub, ALL_SECRETS)
    return proc


class Row(NamedTuple):
    """One control run: the environment claude gets, and the one credential
    header every message request must carry."""

    name: str  # the test id
    creds: Mapping[str, str]
    header: tuple[str, str]  # (name, value as sent)

    def __repr__(self) -> str:  # creds and header hold (fake) secrets
        return f"Row({self.name})"


# What reaches the upstream for each credential kind, one row a run (the
# first row is the leak the launcher prevents).
CREDENTIAL_ROWS = [
    Row(
        "platform-oauth-token-as-bearer",
        {"CLAUDE_CODE_OAUTH_TOKEN": PLATFORM_OAUTH},
        ("authorization", f"Bearer {PLATFORM_OAUTH}"),
    ),
    Row("api-key-as-x-api-key", {"ANTHROPIC_API_KEY": OWN_API_KEY}, ("x-api-key", OWN_API_KEY)),
    Row(
        "auth-token-as-bearer", {"ANTHROPIC_AUTH_TOKEN": OWN_AUTH_TOKEN}, ("authorization", f"Bearer {OWN_AUTH_TOKEN}")
    ),
    # With both set, 2.1.332 in -p mode sends only the API key. The OAuth
    # token is still in the agent's environment (readable by anything it
    # spawns), so the launcher must strip it regardless.
    Row(
        "api-key-over-oauth-token",
        {"ANTHROPIC_API_KEY": OWN_API_KEY, "CLAUDE_CODE_OAUTH_TOKEN": PLATFORM_OAUTH},
        ("x-api-key", OWN_API_KEY),
    ),
]


@pytest.mark.parametrize("row", CREDENTIAL_ROWS, ids=[r.name for r in CREDENTIAL_ROWS])
def test_what_reaches_upstream_for_each_credential(claude_bin, claude_env, run_claude, anthropic_stub, tmp_path, row):
    creds, header = row.creds, row.header
    proc = _run(claude_bin, claude_env, run_claude, tmp_path, anthropic_stub, **creds)
    assert_claude_answered(proc)
    msgs = anthropic_stub.message_requests()
    assert msgs, anthropic_stub.paths()
    assert all(r.method == "POST" and r.path == "/v1/messages?beta=true" for r in msgs)
    # all(): a failure shows no credential value
    assert all(c == header for c in anthropic_stub.credentials())
    assert len(anthropic_stub.credentials()) == len(msgs)
    sent = header[1].removeprefix("Bearer ")
    unsent = [v for v in creds.values() if v != sent]
    assert not any(anthropic_stub.saw_secret(v) for v in unsent), "a credential other than the expected one was sent"
    if sent == PLATFORM_OAUTH:  # the OAuth path announces itself
        assert all("oauth-2025-04-20" in r.headers.get("anthropic-beta", "") for r in msgs)


def test_no_credential_fails_not_logged_in_without_upstream_request(
    claude_bin, claude_env, run_claude, anthropic_stub, tmp_path
):
    proc = _run(claude_bin, claude_env, run_claude, tmp_path, anthropic_stub)
    out = claude_result(proc)
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert out["is_error"] is True
    assert out["result"] == NOT_LOGGED_IN
    assert anthropic_stub.requests == []


@pytest.mark.parametrize("adc", [True, False], ids=["image-gcloud-adc-file", "no-adc-file"])
def test_vertex_mode_goes_for_a_token_with_the_image_s_application_default_credentials(
    claude_bin, claude_env, run_claude, anthropic_stub, tmp_path, adc
):
    """The ADC file channel on claude-code: in Vertex AI mode the image's
    gcloud application default credentials file is all it takes for claude
    to go to oauth2.googleapis.com for a token (through the egress trap, so
    TLS hides which account signed; the file is the only difference). Without
    the file it stops at once: no credential, no request."""
    env = claude_env(
        tmp_path,
        anthropic_stub.url,
        CLAUDE_CODE_USE_VERTEX="1",
        ANTHROPIC_VERTEX_PROJECT_ID="platform-project",
        CLOUD_ML_REGION="us-east5",
        ANTHROPIC_VERTEX_BASE_URL=f"{anthropic_stub.url}/v1",
        METADATA_SERVER_DETECTION="none",  # google-auth never probes a GCE metadata server
    )
    if adc:
        path = Path(env["HOME"]) / ADC_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(service_account_json(PLATFORM_SERVICE_ACCOUNT), encoding="utf-8")
    proc = run_claude(claude_bin, env, tmp_path / "work")
    assert_no_secret(proc.stdout + proc.stderr, ALL_SECRETS)
    out = claude_result(proc)
    assert proc.returncode == 1 and out["is_error"] is True, (proc.returncode, out.get("result"))
    targets = {(r.method, r.path) for r in anthropic_stub.requests}
    if adc:
        assert targets == {("CONNECT", "oauth2.googleapis.com:443")}, targets
    else:
        assert targets == set(), targets
        assert "Could not load the default credentials" in str(out["result"])
