"""The REAL claude-code CLI, started THROUGH the launcher (issue 3, item 1).

Two loopback servers per test: the platform stand-in (``launcher.devserver``,
pre-fix behaviour unless a test says otherwise: every global secret merged
into the workspace) and the Anthropic stub. The launcher runs as a subprocess
in the hermetic sandbox environment from ``claude_env`` plus the workspace
token, fetches the bundle, gates it and execs claude, which then talks to the
stub. The assertions are on what the stub recorded, i.e. what would have left
the container towards the LLM provider.

What claude-code 2.1.332 does with several credentials at once (pinned by
``test_claude_control.py`` and checked again here): ANTHROPIC_AUTH_TOKEN and
ANTHROPIC_API_KEY both win over CLAUDE_CODE_OAUTH_TOKEN. So when the workspace
has a key of its own, the upstream would not have seen the platform token even
without the launcher; the cases that *discriminate* upstream are the own OAuth
token overriding the global one, the refusals and platform_managed. That the
platform token is gone from the agent's environment in the other cases is
shown by ``test_sandbox_environment_passes_through_and_platform_token_does_not``
and by the ``check --json`` agreement test.

Set ``AGENT_LAUNCHER_E2E_EVIDENCE=/path/file.jsonl`` to have every case append
what the upstream recorded (header names and credential labels, never values).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from anthropic_stub import DEFAULT_REPLY, AnthropicStub
from support import (
    ALL_SECRETS,
    GITHUB_TOKEN,
    OWN_API_KEY,
    OWN_AUTH_TOKEN,
    OWN_OAUTH,
    PLATFORM_OAUTH,
    WORKSPACE_TOKEN,
    assert_no_secret,
    child_env_dump,
    launcher_path,
    parse_env_dump,
    platform_args,
    run_or_fail,
)

from launcher.gate import fingerprint

pytestmark = pytest.mark.e2e

SECRETS = ALL_SECRETS
LABELS = {
    PLATFORM_OAUTH: "platform CLAUDE_CODE_OAUTH_TOKEN",
    OWN_API_KEY: "own ANTHROPIC_API_KEY",
    OWN_OAUTH: "own CLAUDE_CODE_OAUTH_TOKEN",
    OWN_AUTH_TOKEN: "own ANTHROPIC_AUTH_TOKEN",
    WORKSPACE_TOKEN: "workspace token",
    GITHUB_TOKEN: "GITHUB_TOKEN",
}
LAUNCH_TIMEOUT_S = 90
PROMPT = "say hi"


# -- helpers ------------------------------------------------------------------


def _launch(
    tmp_path: Path,
    claude_env,
    stub: AnthropicStub,
    platform,
    mode: str,
    *launcher_args: str,
    command: list[str],
    subcommand: str = "exec",
    **inherited: str,
) -> subprocess.CompletedProcess[str]:
    """Run ``agent-launcher SUBCOMMAND --platform-url ... -- COMMAND`` in the sandbox.

    ``inherited`` adds variables to the launcher's own environment (as a
    container would have them); the workspace token always goes in by
    ``MOLECULE_WORKSPACE_TOKEN``.
    """
    env = claude_env(tmp_path, stub.url, MOLECULE_WORKSPACE_TOKEN=WORKSPACE_TOKEN, **inherited)
    # The stand-in's base URL is the workspace's own setting: an inherited
    # ANTHROPIC_BASE_URL is an LLM key (routing) and is stripped in byok and
    # subscription, like any other that is not provably the workspace's (issue 8).
    platform.state.workspace_secrets.setdefault("ANTHROPIC_BASE_URL", stub.url)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    cmd = [launcher_path(), subcommand, *platform_args(platform, mode), *launcher_args, "--", *command]
    return run_or_fail(cmd, env=env, cwd=work, timeout=LAUNCH_TIMEOUT_S)


def _claude(claude_bin: str) -> list[str]:
    return [claude_bin, "-p", PROMPT, "--output-format", "json"]


def _common_checks(proc: subprocess.CompletedProcess[str], stub: AnthropicStub, platform) -> None:
    """What every case must satisfy, whatever the outcome."""
    # Launcher diagnostics AND claude's own JSON on stdout.
    assert_no_secret(proc.stdout + proc.stderr, SECRETS)
    assert stub.egress() == [], [f"{r.method} {r.path}" for r in stub.egress()]
    # The workspace token goes to the platform, and only there.
    assert platform.state.requests, "the launcher never asked the platform"
    assert all(r.authorization == f"Bearer {WORKSPACE_TOKEN}" for r in platform.state.requests)
    assert not stub.saw_secret(WORKSPACE_TOKEN)
    assert not stub.saw_secret(GITHUB_TOKEN)


def _answered(proc: subprocess.CompletedProcess[str]) -> dict:
    """claude ran (the launcher exec'd it) and printed the stub's answer."""
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    try:
        out = json.loads(proc.stdout)
    except ValueError:
        pytest.fail(f"stdout is not claude's JSON (rc={proc.returncode})", pytrace=False)
    assert (out["type"], out["is_error"], out["result"]) == ("result", False, DEFAULT_REPLY)
    return out


def _assert_upstream_saw_only(stub: AnthropicStub, header: str, value: str) -> None:
    """Every upstream request carries exactly this one credential header; no
    other fake secret appears in any header or body of any request."""
    msgs = stub.message_requests()
    assert msgs, stub.paths()
    assert all(r.method == "POST" and r.route == "/v1/messages" for r in msgs)
    expected = value if header == "x-api-key" else f"Bearer {value}"
    # Compared by label, so that a failure names the credential, not its value.
    got = [
        [(h, LABELS.get(v.removeprefix("Bearer "), "unknown value")) for h, v in r.credentials()] for r in stub.requests
    ]
    assert got == [[(header, LABELS[value])]] * len(stub.requests)
    assert all(r.credentials() == [(header, expected)] for r in stub.requests)
    others = [LABELS.get(s, "?") for s in SECRETS if s != value and stub.saw_secret(s)]
    assert others == [], f"upstream saw: {others}"
    # The credential travels in its header, never in a request body.
    assert not any(value.encode() in r.body for r in stub.requests)


def _assert_refused_before_claude(proc: subprocess.CompletedProcess[str], stub: AnthropicStub, tmp_path: Path) -> None:
    """Exit 78, and claude never started: no upstream request, no state in its HOME."""
    assert proc.returncode == 78, (proc.returncode, proc.stderr[-2000:])
    assert "MISSING_BYOK_CREDENTIAL" in proc.stderr
    assert proc.stdout == ""
    assert stub.requests == []
    home = tmp_path / "home"
    assert not (home / ".claude.json").exists(), "claude ran"
    assert not (home / ".claude").exists(), "claude ran"


def _evidence(case: str, mode: str, proc: subprocess.CompletedProcess[str], stub: AnthropicStub) -> None:
    path = os.environ.get("AGENT_LAUNCHER_E2E_EVIDENCE")
    if not path:
        return
    seen = sorted({(h, LABELS.get(v.removeprefix("Bearer "), "unknown value")) for h, v in stub.credentials()})
    code = "MISSING_BYOK_CREDENTIAL" if "MISSING_BYOK_CREDENTIAL" in proc.stderr else None
    row = {
        "case": case,
        "mode": mode,
        "exit": proc.returncode,
        "code": code,
        "upstream_requests": len(stub.requests),
        "upstream_credentials": [f"{h}: {label}" for h, label in seen],
    }
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


# -- the launcher lets the workspace's own credential through -----------------


@pytest.mark.parametrize(
    ("mode", "own", "header", "expected", "case"),
    [
        pytest.param(
            "byok",
            {"ANTHROPIC_API_KEY": OWN_API_KEY},
            "x-api-key",
            OWN_API_KEY,
            "byok: global platform OAuth + own ANTHROPIC_API_KEY",
            id="byok-own-api-key",
        ),
        pytest.param(
            # Same key name at both scopes: the workspace's value must win.
            "byok",
            {"CLAUDE_CODE_OAUTH_TOKEN": OWN_OAUTH},
            "authorization",
            OWN_OAUTH,
            "byok: own CLAUDE_CODE_OAUTH_TOKEN over the global one",
            id="byok-own-oauth-over-global",
        ),
        pytest.param(
            "subscription",
            {"CLAUDE_CODE_OAUTH_TOKEN": OWN_OAUTH},
            "authorization",
            OWN_OAUTH,
            "subscription: own CLAUDE_CODE_OAUTH_TOKEN",
            id="subscription-own-oauth",
        ),
        pytest.param(
            "platform_managed",
            {},
            "authorization",
            PLATFORM_OAUTH,
            "platform_managed: platform OAuth only",
            id="platform-managed-no-regression",
        ),
    ],
)
def test_upstream_sees_exactly_the_expected_credential(
    claude_bin, claude_env, anthropic_stub, platform, tmp_path, mode, own, header, expected, case
):
    platform.state.workspace_secrets.update(own)
    proc = _launch(tmp_path, claude_env, anthropic_stub, platform, mode, command=_claude(claude_bin))
    _evidence(case, mode, proc, anthropic_stub)
    _common_checks(proc, anthropic_stub, platform)
    _answered(proc)
    _assert_upstream_saw_only(anthropic_stub, header, expected)
    if expected != PLATFORM_OAUTH:
        assert not anthropic_stub.saw_secret(PLATFORM_OAUTH)


def test_byok_anthropic_compatible_auth_token_and_base_url(claude_bin, claude_env, anthropic_stub, platform, tmp_path):
    # The launcher's inherited ANTHROPIC_BASE_URL points at a decoy; the
    # workspace's own ANTHROPIC_BASE_URL (from the bundle) must win, so claude
    # talks to the real stub only.
    with AnthropicStub() as decoy:
        platform.state.workspace_secrets.update(
            {"ANTHROPIC_AUTH_TOKEN": OWN_AUTH_TOKEN, "ANTHROPIC_BASE_URL": anthropic_stub.url}
        )
        proc = _launch(
            tmp_path,
            claude_env,
            anthropic_stub,
            platform,
            "byok",
            "--provider",
            "anthropic-compatible",
            command=_claude(claude_bin),
            ANTHROPIC_BASE_URL=decoy.url,
        )
        assert decoy.requests == []
    _evidence("byok anthropic-compatible: own ANTHROPIC_AUTH_TOKEN + BASE_URL", "byok", proc, anthropic_stub)
    _common_checks(proc, anthropic_stub, platform)
    _answered(proc)
    _assert_upstream_saw_only(anthropic_stub, "authorization", OWN_AUTH_TOKEN)
    assert not anthropic_stub.saw_secret(PLATFORM_OAUTH)


# -- the platform's token never reaches the upstream in byok ------------------


def test_byok_platform_token_only_is_refused_before_claude(claude_bin, claude_env, anthropic_stub, platform, tmp_path):
    proc = _launch(tmp_path, claude_env, anthropic_stub, platform, "byok", command=_claude(claude_bin))
    _evidence("byok: global platform OAuth only", "byok", proc, anthropic_stub)
    _common_checks(proc, anthropic_stub, platform)
    _assert_refused_before_claude(proc, anthropic_stub, tmp_path)


def test_byok_inherited_platform_token_stripped(claude_bin, claude_env, anthropic_stub, platform, tmp_path):
    # A fixed server that no longer merges the global: the only copy of the
    # platform token is the one the container leaked into the launcher's env.
    platform.state.server_gate = True
    platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    proc = _launch(
        tmp_path,
        claude_env,
        anthropic_stub,
        platform,
        "byok",
        command=_claude(claude_bin),
        CLAUDE_CODE_OAUTH_TOKEN=PLATFORM_OAUTH,
    )
    _evidence("byok: inherited platform OAuth + own ANTHROPIC_API_KEY", "byok", proc, anthropic_stub)
    _common_checks(proc, anthropic_stub, platform)
    _answered(proc)
    _assert_upstream_saw_only(anthropic_stub, "x-api-key", OWN_API_KEY)
    assert not anthropic_stub.saw_secret(PLATFORM_OAUTH)


def test_byok_inherited_platform_token_only_is_refused(claude_bin, claude_env, anthropic_stub, platform, tmp_path):
    # Without the launcher this is exactly the control test's leak: claude
    # would send the inherited token upstream as Bearer.
    platform.state.server_gate = True
    proc = _launch(
        tmp_path,
        claude_env,
        anthropic_stub,
        platform,
        "byok",
        command=_claude(claude_bin),
        CLAUDE_CODE_OAUTH_TOKEN=PLATFORM_OAUTH,
    )
    _evidence("byok: inherited platform OAuth only", "byok", proc, anthropic_stub)
    _common_checks(proc, anthropic_stub, platform)
    _assert_refused_before_claude(proc, anthropic_stub, tmp_path)


# -- what the agent holds, and what `check` says ------------------------------


def test_sandbox_environment_passes_through_and_platform_token_does_not(claude_env, anthropic_stub, platform, tmp_path):
    """Same inputs as the first case plus the inherited leak, but the child
    prints its environment instead of calling the API."""
    platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    proc = _launch(
        tmp_path,
        claude_env,
        anthropic_stub,
        platform,
        "byok",
        command=child_env_dump(),
        CLAUDE_CODE_OAUTH_TOKEN=PLATFORM_OAUTH,
    )
    assert_no_secret(proc.stderr, SECRETS)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    child = parse_env_dump(proc.stdout)
    sandbox = claude_env(tmp_path, anthropic_stub.url)
    assert anthropic_stub.requests == []

    # Every sandbox variable (HOME, ANTHROPIC_BASE_URL, the egress-trap
    # proxies, the DISABLE_* switches, ...) reaches the agent unchanged.
    changed = [k for k, v in sandbox.items() if child.get(k) != v]
    assert changed == []
    # Compared by name only: the values are (fake) secrets.
    assert set(child) - set(sandbox) == {"ANTHROPIC_API_KEY", "GITHUB_TOKEN"}
    own_key_kept = child["ANTHROPIC_API_KEY"] == OWN_API_KEY
    github_kept = child["GITHUB_TOKEN"] == GITHUB_TOKEN  # not an LLM key: not the gate's business
    assert own_key_kept and github_kept
    assert "CLAUDE_CODE_OAUTH_TOKEN" not in child
    assert "MOLECULE_WORKSPACE_TOKEN" not in child
    leaked = [k for k, v in child.items() if PLATFORM_OAUTH in v or WORKSPACE_TOKEN in v]
    assert leaked == []


def test_check_json_agrees_with_upstream(claude_bin, claude_env, anthropic_stub, platform, tmp_path):
    platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    ran = _launch(tmp_path, claude_env, anthropic_stub, platform, "byok", command=_claude(claude_bin))
    _common_checks(ran, anthropic_stub, platform)
    _answered(ran)
    # Fingerprints only from here on: a failing assert must not print a value.
    upstream = {h: fingerprint(v) for r in anthropic_stub.message_requests() for h, v in r.credentials()}
    platform_fp = fingerprint(PLATFORM_OAUTH)

    checked = _launch(
        tmp_path,
        claude_env,
        anthropic_stub,
        platform,
        "byok",
        "--json",
        command=[claude_bin],
        subcommand="check",
    )
    assert_no_secret(checked.stdout + checked.stderr, SECRETS)
    assert checked.returncode == 0, (checked.returncode, checked.stderr[-2000:])
    report = json.loads(checked.stdout)
    keys = {k["key"]: k for k in report["keys"]}

    assert (report["decision"], report["exit_code"], report["code"]) == ("launch", 0, None)
    assert report["usable_credentials"] == ["ANTHROPIC_API_KEY"]
    oauth = keys["CLAUDE_CODE_OAUTH_TOKEN"]
    assert (oauth["scope"], oauth["action"], oauth["llm_bypass"]) == ("global", "strip", True)
    api = keys["ANTHROPIC_API_KEY"]
    assert (api["scope"], api["action"], api["llm_bypass"]) == ("workspace", "keep", True)
    assert keys["MOLECULE_WORKSPACE_TOKEN"]["action"] == "strip"
    # What check promised is what the upstream got: one credential header,
    # whose value has the fingerprint of the key check kept; nothing it stripped.
    assert set(upstream) == {"x-api-key"}
    assert upstream["x-api-key"] == api["fingerprint"]
    assert oauth["fingerprint"] == platform_fp
    assert not anthropic_stub.saw_secret(PLATFORM_OAUTH)
    assert anthropic_stub.egress() == []
