"""The REAL claude-code CLI and the channels beyond the environment (issue 8).

Each row of ``ROWS`` is one run: a control without the launcher (what
claude-code does with the channel), or ``agent-launcher exec`` in a billing
mode against the platform stand-in (pre-fix: every global merged into the
workspace) and the loopback Anthropic stand-in. One helper runs every row
and checks what every row must satisfy; the row says what reached the
upstream, with which exit status, and whether a helper script ran.

Set ``AGENT_LAUNCHER_E2E_EVIDENCE=/path/file.jsonl`` to append each row's
evidence (labels, never values): README's real-client table is made from it.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import pytest
from agent_clis import ADC_FILE, append_evidence, claude_command, label, launch, other_secrets_seen
from anthropic_stub import AnthropicStub
from support import (
    GITHUB_TOKEN,
    MARKER,
    OWN_API_KEY,
    OWN_OAUTH,
    PLATFORM_OAUTH,
    WORKSPACE_TOKEN,
    assert_no_secret,
    run_or_fail,
)

from launcher.devserver import DevPlatform

pytestmark = pytest.mark.e2e

PLATFORM_KEY = f"sk-ant-api03-platform-{MARKER}-9e1f00"
SECRETS = (PLATFORM_KEY, PLATFORM_OAUTH, OWN_API_KEY, OWN_OAUTH, WORKSPACE_TOKEN, GITHUB_TOKEN, f"platform-sa-{MARKER}")
LABELS = {
    PLATFORM_KEY: "platform API key",
    PLATFORM_OAUTH: "platform OAuth token",
    OWN_API_KEY: "own ANTHROPIC_API_KEY",
    OWN_OAUTH: "own OAuth token",
}
TIMEOUT_S = 120
DEFAULT_HOST = "api.anthropic.com:443"  # reached only as a CONNECT to the egress trap, refused there


def _oauth_login(token: str) -> dict:
    """What ``/login`` leaves in ``~/.claude/.credentials.json``."""
    expires = int(time.time() * 1000) + 3_600_000
    return {
        "claudeAiOauth": {
            "accessToken": token,
            "refreshToken": f"{token}-refresh",
            "expiresAt": expires,
            "scopes": ["user:inference", "user:profile"],
            "subscriptionType": "max",
        }
    }


HELPER = "{root}/helper.sh"  # writes {root}/helper-ran, prints the platform key


class Row(NamedTuple):
    case: str  # README's label
    mode: str | None  # None: control run, claude without the launcher
    upstream: tuple[tuple[str, str], ...]  # (header, label) of every credential the stand-in saw, in order, deduped
    exit: int = 0
    code: str | None = None
    own: Mapping[str, str] = {}  # workspace secrets (control: claude's environment)
    globals_: Mapping[str, str] = {}  # more platform globals (the OAuth token is always one)
    home: Mapping[str, object] = {}  # files under HOME (JSON)
    root: Mapping[str, object] = {}  # files under tmp_path, i.e. {root} (JSON)
    project: Mapping[str, object] = {}  # files under the working directory (JSON)
    args: tuple[str, ...] = ()  # launcher flags; {home} is HOME
    base_url: bool = True  # the workspace's own ANTHROPIC_BASE_URL is the stand-in
    decoy: bool = False  # a platform global ANTHROPIC_BASE_URL points at a decoy stand-in
    helper_ran: bool | None = None
    egress: tuple[str, ...] = ()  # CONNECTs to the trap that this claude makes by itself
    inherited: Mapping[str, str] = {}  # more of the container's environment; {root}
    says: str | None = None  # the refusal names this file (under tmp_path) and field

    def __repr__(self) -> str:  # own, globals_ and the files hold (fake) secrets
        return f"Row({self.case})"


# Never used to sign: the launcher refuses before claude starts.
PLATFORM_SA_KEY = f"-----BEGIN PRIVATE KEY-----\nplatform-sa-{MARKER}\n-----END PRIVATE KEY-----\n"
SETTINGS_KEY = {".claude/settings.json": {"env": {"ANTHROPIC_API_KEY": PLATFORM_KEY}}}

ROWS = [
    Row(
        "control: platform key in `~/.claude/settings.json` `env`, own `ANTHROPIC_API_KEY` in the environment",
        None,
        (("x-api-key", "platform API key"),),
        own={"ANTHROPIC_API_KEY": OWN_API_KEY},
        home=SETTINGS_KEY,
    ),
    Row(
        "`byok`: platform key in `~/.claude/settings.json` `env` + own `ANTHROPIC_API_KEY`",
        "byok",
        (),
        exit=78,
        code="FOREIGN_AGENT_CREDENTIAL",
        own={"ANTHROPIC_API_KEY": OWN_API_KEY},
        home=SETTINGS_KEY,
        says="home/.claude/settings.json: env.ANTHROPIC_API_KEY",
    ),
    Row(
        "control: `ANTHROPIC_CUSTOM_HEADERS` `x-api-key: <platform key>` + own `ANTHROPIC_API_KEY`",
        None,
        (("x-api-key", "platform API key"),),
        own={"ANTHROPIC_API_KEY": OWN_API_KEY, "ANTHROPIC_CUSTOM_HEADERS": f"x-api-key: {PLATFORM_KEY}"},
    ),
    Row(
        "`byok`: global `ANTHROPIC_CUSTOM_HEADERS` carrying the platform key + own `ANTHROPIC_API_KEY`",
        "byok",
        (("x-api-key", "own ANTHROPIC_API_KEY"),),
        own={"ANTHROPIC_API_KEY": OWN_API_KEY},
        globals_={"ANTHROPIC_CUSTOM_HEADERS": f"x-api-key: {PLATFORM_KEY}"},
    ),
    Row(
        "`byok`: global `ANTHROPIC_BASE_URL` (a decoy stand-in), own `ANTHROPIC_API_KEY`, no base URL of its own",
        "byok",
        (),
        exit=1,  # claude's own: Anthropic's default host is unreachable from the sandbox
        own={"ANTHROPIC_API_KEY": OWN_API_KEY},
        base_url=False,
        decoy=True,
        egress=(DEFAULT_HOST,),
        inherited={"CLAUDE_CODE_MAX_RETRIES": "0"},  # it would retry the unreachable host for minutes
    ),
    Row(
        "`byok`: global `ANTHROPIC_BASE_URL` (a decoy stand-in) + the workspace's own base URL and `ANTHROPIC_API_KEY`",
        "byok",
        (("x-api-key", "own ANTHROPIC_API_KEY"),),
        own={"ANTHROPIC_API_KEY": OWN_API_KEY},
        decoy=True,
    ),
    Row(
        "control: container's `CLAUDE_CONFIG_DIR` whose `settings.json` `env` holds the platform key, "
        "own `ANTHROPIC_API_KEY`",
        None,
        (("x-api-key", "platform API key"),),
        own={"ANTHROPIC_API_KEY": OWN_API_KEY},
        root={"platform-config/settings.json": {"env": {"ANTHROPIC_API_KEY": PLATFORM_KEY}}},
        inherited={"CLAUDE_CONFIG_DIR": "{root}/platform-config"},
    ),
    Row(
        "`byok`: the same container `CLAUDE_CONFIG_DIR` + own `ANTHROPIC_API_KEY`",
        "byok",
        (("x-api-key", "own ANTHROPIC_API_KEY"),),  # stripped, so it relocates nothing: ~/.claude holds no key
        own={"ANTHROPIC_API_KEY": OWN_API_KEY},
        root={"platform-config/settings.json": {"env": {"ANTHROPIC_API_KEY": PLATFORM_KEY}}},
        inherited={"CLAUDE_CONFIG_DIR": "{root}/platform-config"},
    ),
    Row(
        "control: `apiKeyHelper` in the project's `.claude/settings.json` + own `ANTHROPIC_API_KEY`",
        None,
        # The helper's output goes as Bearer beside the environment's key.
        (("authorization", "platform API key"), ("x-api-key", "own ANTHROPIC_API_KEY")),
        own={"ANTHROPIC_API_KEY": OWN_API_KEY},
        project={".claude/settings.json": {"apiKeyHelper": HELPER}},
        helper_ran=True,
    ),
    Row(
        "`byok`: `apiKeyHelper` in the project's `.claude/settings.json` + own `ANTHROPIC_API_KEY`",
        "byok",
        (),
        exit=78,
        code="FOREIGN_AGENT_CREDENTIAL",
        own={"ANTHROPIC_API_KEY": OWN_API_KEY},
        project={".claude/settings.json": {"apiKeyHelper": HELPER}},
        helper_ran=False,
        says="work/.claude/settings.json: apiKeyHelper",
    ),
    Row(
        "`subscription`: own `~/.claude/.credentials.json` declared with `--own-agent-file`, platform global OAuth",
        "subscription",
        (("authorization", "own OAuth token"),),
        home={".claude/.credentials.json": _oauth_login(OWN_OAUTH)},
        args=("--own-agent-file", "{home}/.claude/.credentials.json"),
        egress=(DEFAULT_HOST,),
    ),
    Row(
        "`subscription`: the same `~/.claude/.credentials.json`, not declared",
        "subscription",
        (),
        exit=78,
        code="FOREIGN_AGENT_CREDENTIAL",
        home={".claude/.credentials.json": _oauth_login(OWN_OAUTH)},
        says="home/.claude/.credentials.json: claudeAiOauth.accessToken",
    ),
    Row(
        "`byok`: a platform service account in the image's gcloud application default credentials file"
        " (read in Vertex AI mode) + own `ANTHROPIC_API_KEY`",
        "byok",
        (),
        exit=78,
        code="FOREIGN_AGENT_CREDENTIAL",
        own={"ANTHROPIC_API_KEY": OWN_API_KEY},
        home={ADC_FILE: {"type": "service_account", "client_email": "platform@p.iam", "private_key": PLATFORM_SA_KEY}},
        says=f"home/{ADC_FILE}: private_key",
    ),
]


def _write(base: Path, files: Mapping[str, object], root: Path) -> None:
    for relative, content in files.items():
        path = base / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content).replace("{root}", str(root)))


def _helper(root: Path) -> Path:
    marker = root / "helper-ran"
    helper = root / "helper.sh"
    helper.write_text(f"#!/bin/sh\n: > '{marker}'\necho '{PLATFORM_KEY}'\n")
    helper.chmod(0o755)
    return marker


def _run(
    row: Row,
    tmp_path: Path,
    claude_bin: str,
    claude_env,
    stub: AnthropicStub,
    platform: DevPlatform,
    decoy_url: str | None,
) -> subprocess.CompletedProcess[str]:
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    env = claude_env(tmp_path, stub.url, **{k: v.replace("{root}", str(tmp_path)) for k, v in row.inherited.items()})
    _write(tmp_path, row.root, tmp_path)
    _write(home, row.home, tmp_path)
    _write(work, row.project, tmp_path)
    claude = claude_command(claude_bin, "say hi")
    if row.mode is None:
        return run_or_fail(claude, env={**env, **row.own}, cwd=work, timeout=TIMEOUT_S)
    platform.state.workspace_secrets.update(row.own)
    if row.base_url:
        platform.state.workspace_secrets["ANTHROPIC_BASE_URL"] = stub.url
    platform.state.global_secrets.update(row.globals_)
    if decoy_url:
        platform.state.global_secrets["ANTHROPIC_BASE_URL"] = decoy_url
    args = [a.replace("{home}", str(home)) for a in row.args]
    return launch(platform, row.mode, claude, env=env, cwd=work, args=args, timeout=TIMEOUT_S)


def _seen(stub: AnthropicStub) -> tuple[tuple[str, str], ...]:
    pairs = [(h, label(v, LABELS)) for h, v in stub.credentials()]
    return tuple(dict.fromkeys(pairs))


def _evidence(row: Row, proc: subprocess.CompletedProcess[str], stub: AnthropicStub) -> None:
    append_evidence(
        row.case,
        row.mode,
        proc,
        upstream_requests=len(stub.message_requests()),
        upstream_credentials=[f"{h}: {lab}" for h, lab in _seen(stub)],
        egress_refused=sorted({r.path for r in stub.egress()}),
    )


@pytest.mark.parametrize("row", ROWS, ids=[f"{r.mode or 'control'}-{i}" for i, r in enumerate(ROWS)])
def test_row(row: Row, claude_bin, claude_env, anthropic_stub, platform, tmp_path):
    marker = _helper(tmp_path)
    with AnthropicStub() as decoy:
        proc = _run(row, tmp_path, claude_bin, claude_env, anthropic_stub, platform, decoy.url if row.decoy else None)
        assert decoy.requests == [], "the platform's base URL received a request"
    _evidence(row, proc, anthropic_stub)
    # What every row must satisfy, whatever its outcome.
    assert_no_secret(proc.stdout + proc.stderr, SECRETS)
    assert sorted({r.path for r in anthropic_stub.egress()}) == sorted(set(row.egress))
    assert not anthropic_stub.saw_secret(WORKSPACE_TOKEN) and not anthropic_stub.saw_secret(GITHUB_TOKEN)
    assert proc.returncode == row.exit, (proc.returncode, proc.stderr[-2000:])
    if row.code:
        assert row.code in proc.stderr and proc.stdout == ""
        assert "--own-agent-file" in proc.stderr
    if row.says:
        assert f"{tmp_path}/{row.says}" in proc.stderr
    # Upstream saw exactly these credentials (by label), and no other secret.
    assert _seen(anthropic_stub) == row.upstream
    expected = {next(s for s, label in LABELS.items() if label == lab) for _, lab in row.upstream}
    assert other_secrets_seen(anthropic_stub, SECRETS, expected, LABELS) == []
    if not row.upstream:
        assert anthropic_stub.message_requests() == []
    if row.helper_ran is not None:
        assert marker.exists() == row.helper_ran
    if row.mode is not None and row.exit == 78:
        assert not (tmp_path / "home" / ".claude.json").exists(), "claude ran"
