"""The REAL claude-code CLI, started THROUGH the launcher (issue 3, item 1).

Two loopback servers per test: the platform stand-in (``launcher.devserver``,
pre-fix behaviour unless a case says otherwise: every global secret merged
into the workspace) and the Anthropic stub. The launcher runs as a subprocess
in the hermetic sandbox environment from ``claude_env`` plus the workspace
token, fetches the bundle, gates it and execs claude, which then talks to the
stub. The assertions are on what the stub recorded, i.e. what would have left
the container towards the LLM provider.

Each row of ``CASES`` is one such run: what the workspace and the container
hold, the billing mode, and the one credential the upstream must see (or a
refusal before claude starts); one test body runs them all. Two runs of
another kind follow: a child that prints its environment, and ``check
--json`` beside a real run.

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
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import pytest
from agent_clis import (
    append_evidence,
    assert_claude_answered,
    assert_launch_hygiene,
    assert_refused_before_agent,
    claude_command,
    label,
    launch,
    other_secrets_seen,
)
from anthropic_stub import AnthropicStub
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
    parse_env_dump,
)

from launcher.catalogue import load_catalogue
from launcher.devserver import DevPlatform
from launcher.values import fingerprint

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
PROMPT = "say hi"


class Sent(NamedTuple):
    """The one credential header every upstream request must carry."""

    header: str  # "x-api-key" or "authorization" (then the value goes as Bearer)
    value: str

    def __repr__(self) -> str:  # the value is a (fake) secret
        return f"Sent({self.header}: {label(self.value, LABELS)})"


class Case(NamedTuple):
    """One run of the real claude through the launcher: inputs, and what must
    reach the upstream (or that claude never starts)."""

    name: str  # the test id
    evidence: str  # the evidence record's "case"
    mode: str
    sent: Sent | None  # None: refused with MISSING_BYOK_CREDENTIAL before claude starts
    own: Mapping[str, str] = {}  # workspace secrets, beside the platform's global OAuth token
    inherited: Mapping[str, str] = {}  # the container's environment for the launcher
    args: tuple[str, ...] = ()  # launcher flags
    server_gate: bool = False  # a fixed platform: the globals are no longer merged into the workspace
    decoy: bool = False  # the launcher inherits an ANTHROPIC_BASE_URL that points at a decoy stand-in

    def __repr__(self) -> str:  # own and inherited hold (fake) secrets
        return f"Case({self.name})"


CASES = [
    # -- the launcher lets the workspace's own credential through --------------
    Case(
        "byok-own-api-key",
        "byok: global platform OAuth + own ANTHROPIC_API_KEY",
        "byok",
        Sent("x-api-key", OWN_API_KEY),
        own={"ANTHROPIC_API_KEY": OWN_API_KEY},
    ),
    Case(
        # Same key name at both scopes: the workspace's value must win.
        "byok-own-oauth-over-global",
        "byok: own CLAUDE_CODE_OAUTH_TOKEN over the global one",
        "byok",
        Sent("authorization", OWN_OAUTH),
        own={"CLAUDE_CODE_OAUTH_TOKEN": OWN_OAUTH},
    ),
    Case(
        "subscription-own-oauth",
        "subscription: own CLAUDE_CODE_OAUTH_TOKEN",
        "subscription",
        Sent("authorization", OWN_OAUTH),
        own={"CLAUDE_CODE_OAUTH_TOKEN": OWN_OAUTH},
    ),
    Case(
        "platform-managed-no-regression",
        "platform_managed: platform OAuth only",
        "platform_managed",
        Sent("authorization", PLATFORM_OAUTH),
    ),
    Case(
        # The launcher's inherited ANTHROPIC_BASE_URL points at a decoy; the
        # workspace's own ANTHROPIC_BASE_URL (the stand-in, as in every case)
        # must win, so claude talks to the real stand-in only.
        "byok-anthropic-compatible-auth-token-and-base-url",
        "byok anthropic-compatible: own ANTHROPIC_AUTH_TOKEN + BASE_URL",
        "byok",
        Sent("authorization", OWN_AUTH_TOKEN),
        own={"ANTHROPIC_AUTH_TOKEN": OWN_AUTH_TOKEN},
        args=("--provider", "anthropic-compatible"),
        decoy=True,
    ),
    Case(
        # A fixed server that no longer merges the global: the only copy of the
        # platform token is the one the container leaked into the launcher's env.
        "byok-inherited-platform-token-stripped",
        "byok: inherited platform OAuth + own ANTHROPIC_API_KEY",
        "byok",
        Sent("x-api-key", OWN_API_KEY),
        own={"ANTHROPIC_API_KEY": OWN_API_KEY},
        inherited={"CLAUDE_CODE_OAUTH_TOKEN": PLATFORM_OAUTH},
        server_gate=True,
    ),
    # -- the platform's token never reaches the upstream in byok ----------------
    Case(
        "byok-platform-token-only-refused",
        "byok: global platform OAuth only",
        "byok",
        None,
    ),
    Case(
        # Without the launcher this is exactly the control test's leak: claude
        # would send the inherited token upstream as Bearer.
        "byok-inherited-platform-token-only-refused",
        "byok: inherited platform OAuth only",
        "byok",
        None,
        inherited={"CLAUDE_CODE_OAUTH_TOKEN": PLATFORM_OAUTH},
        server_gate=True,
    ),
]


# -- helpers ------------------------------------------------------------------


def _launch(
    tmp_path: Path,
    claude_env,
    stub: AnthropicStub,
    platform: DevPlatform,
    mode: str,
    command: list[str],
    *,
    args: Sequence[str] = (),
    subcommand: str = "exec",
    inherited: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``agent-launcher SUBCOMMAND`` against the platform stand-in in the
    sandbox, then ``-- COMMAND``; ``inherited`` adds variables to the
    launcher's own environment (as a container would have them)."""
    # The stand-in's base URL is the workspace's own setting: an inherited
    # ANTHROPIC_BASE_URL is an LLM key (routing) and is stripped in byok and
    # subscription, like any other that is not provably the workspace's (issue 8).
    platform.state.workspace_secrets.setdefault("ANTHROPIC_BASE_URL", stub.url)
    env = claude_env(tmp_path, stub.url, **(inherited or {}))
    return launch(platform, mode, command, env=env, cwd=tmp_path / "work", args=args, subcommand=subcommand)


def _assert_upstream_saw_only(stub: AnthropicStub, sent: Sent) -> None:
    """Every upstream request carries exactly this one credential header; no
    other fake secret appears in any header or body of any request."""
    msgs = stub.message_requests()
    assert msgs, stub.paths()
    assert all(r.method == "POST" and r.route == "/v1/messages" for r in msgs)
    expected = sent.value if sent.header == "x-api-key" else f"Bearer {sent.value}"
    # Compared by label, so that a failure names the credential, not its value.
    got = [[(h, label(v, LABELS)) for h, v in r.credentials()] for r in stub.requests]
    assert got == [[(sent.header, LABELS[sent.value])]] * len(stub.requests)
    assert all(r.credentials() == [(sent.header, expected)] for r in stub.requests)
    others = other_secrets_seen(stub, SECRETS, {sent.value}, LABELS)
    assert others == [], f"upstream saw: {others}"
    # The credential travels in its header, never in a request body.
    assert not any(sent.value.encode() in r.body for r in stub.requests)


def _assert_refused_before_claude(proc: subprocess.CompletedProcess[str], stub: AnthropicStub, tmp_path: Path) -> None:
    """Exit 78, and claude never started: no upstream request, no state in its HOME."""
    assert_refused_before_agent(proc, stub, "MISSING_BYOK_CREDENTIAL")
    assert proc.stdout == ""
    home = tmp_path / "home"
    assert not (home / ".claude.json").exists(), "claude ran"
    assert not (home / ".claude").exists(), "claude ran"


def _evidence(case: Case, proc: subprocess.CompletedProcess[str], stub: AnthropicStub) -> None:
    seen = sorted({(h, label(v, LABELS)) for h, v in stub.credentials()})
    append_evidence(
        case.evidence,
        case.mode,
        proc,
        upstream_requests=len(stub.requests),
        upstream_credentials=[f"{h}: {lab}" for h, lab in seen],
    )


# -- each case: launched with exactly the expected credential, or refused -----


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_claude_through_the_launcher(claude_bin, claude_env, anthropic_stub, platform, tmp_path, case: Case):
    platform.state.server_gate = case.server_gate
    platform.state.workspace_secrets.update(case.own)
    with AnthropicStub() as decoy:
        inherited = {**case.inherited, "ANTHROPIC_BASE_URL": decoy.url} if case.decoy else case.inherited
        command = claude_command(claude_bin, PROMPT)
        proc = _launch(
            tmp_path, claude_env, anthropic_stub, platform, case.mode, command, args=case.args, inherited=inherited
        )
        if case.decoy:
            assert decoy.requests == []
    _evidence(case, proc, anthropic_stub)
    assert_launch_hygiene(proc, anthropic_stub, platform, SECRETS)
    if case.sent is None:
        _assert_refused_before_claude(proc, anthropic_stub, tmp_path)
        return
    assert_claude_answered(proc)
    _assert_upstream_saw_only(anthropic_stub, case.sent)
    if case.sent.value != PLATFORM_OAUTH:
        assert not anthropic_stub.saw_secret(PLATFORM_OAUTH)


# -- what the agent holds, and what `check` says ------------------------------


def test_sandbox_environment_passes_through_and_platform_token_does_not(claude_env, anthropic_stub, platform, tmp_path):
    """Same inputs as the first case plus the inherited leak, but the child
    prints its environment instead of calling the API."""
    platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    inherited = {"CLAUDE_CODE_OAUTH_TOKEN": PLATFORM_OAUTH}
    proc = _launch(tmp_path, claude_env, anthropic_stub, platform, "byok", child_env_dump(), inherited=inherited)
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
    # (and the metadata fallbacks the launcher closes for the agent, issue 18)
    closed = {c.name for c in load_catalogue().closers}
    assert set(child) - set(sandbox) == {"ANTHROPIC_API_KEY", "GITHUB_TOKEN", *closed}
    own_key_kept = child["ANTHROPIC_API_KEY"] == OWN_API_KEY
    github_kept = child["GITHUB_TOKEN"] == GITHUB_TOKEN  # not an LLM key: not the gate's business
    assert own_key_kept and github_kept
    assert "CLAUDE_CODE_OAUTH_TOKEN" not in child
    assert "MOLECULE_WORKSPACE_TOKEN" not in child
    leaked = [k for k, v in child.items() if PLATFORM_OAUTH in v or WORKSPACE_TOKEN in v]
    assert leaked == []


def test_check_json_agrees_with_upstream(claude_bin, claude_env, anthropic_stub, platform, tmp_path):
    platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    ran = _launch(tmp_path, claude_env, anthropic_stub, platform, "byok", claude_command(claude_bin, PROMPT))
    assert_launch_hygiene(ran, anthropic_stub, platform, SECRETS)
    assert_claude_answered(ran)
    # Fingerprints only from here on: a failing assert must not print a value.
    upstream = {h: fingerprint(v) for r in anthropic_stub.message_requests() for h, v in r.credentials()}
    platform_fp = fingerprint(PLATFORM_OAUTH)

    checked = _launch(
        tmp_path, claude_env, anthropic_stub, platform, "byok", [claude_bin], args=["--json"], subcommand="check"
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
