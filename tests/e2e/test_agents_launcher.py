"""The REAL codex and gemini-cli, started THROUGH the launcher (issue 9).

Two loopback servers per case: the platform stand-in (``launcher.devserver``,
pre-fix: every global merged into the workspace) and the agent's API
stand-in. Each case is one row of a table: what the platform and the image
hold, the billing mode, and what must happen: a refusal before the agent
starts (nothing upstream), or a launch where the upstream sees exactly the
workspace's own credential. The control runs in ``test_codex_control.py`` and
``test_gemini_control.py`` show that, without the launcher, each of these
inputs bills the platform.

Set ``AGENT_LAUNCHER_E2E_EVIDENCE=/path/file.jsonl`` to have every case append
what the upstream recorded (header names and labels, never values).
"""

from __future__ import annotations

import json
import stat
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NamedTuple

import pytest
from agent_clis import (
    ADC_FILE,
    AGENT_SECRETS,
    OWN_CODEX_AUTH_KEY,
    OWN_GEMINI_KEY,
    OWN_GOOGLE_KEY,
    OWN_OPENAI_KEY,
    PLATFORM_CODEX_KEY,
    PLATFORM_GEMINI_KEY,
    PLATFORM_GOOGLE_KEY,
    PLATFORM_OPENAI_KEY,
    PLATFORM_SERVICE_ACCOUNT,
    CodexAuth,
    append_evidence,
    assert_launch_hygiene,
    assert_refused_before_agent,
    codex_auth_json,
    codex_command,
    credential_labels,
    gemini_command,
    label,
    launch,
    other_secrets_seen,
    sandbox_env,
    service_account_json,
    write_codex_home,
    write_gemini_home,
)
from gemini_stub import DEFAULT_REPLY as GEMINI_REPLY
from gemini_stub import GeminiStub
from openai_stub import DEFAULT_REPLY as OPENAI_REPLY
from openai_stub import OpenAIStub
from stub_server import LoopbackStub
from support import (
    ALL_SECRETS,
    assert_no_secret,
    child_env_dump,
    expect_secret,
    parse_env_dump,
)

from launcher.devserver import DevPlatform

pytestmark = pytest.mark.e2e

SECRETS = ALL_SECRETS + AGENT_SECRETS


class Row(NamedTuple):
    """One case: inputs, and the expected outcome."""

    case: str
    mode: str
    # The workspace's own secrets (workspace scope) and the platform's globals.
    own: Mapping[str, str] = {}
    globals_: Mapping[str, str] = {}
    # Variables the container hands the launcher (inherited scope).
    inherited: Mapping[str, str] = {}
    # Lays out the image's files: (tmp_path, stub) -> None.
    image: Callable[[Path, LoopbackStub], None] | None = None
    args: tuple[str, ...] = ()
    # None: refused with this code before the agent starts.
    upstream: list[str] | None = None
    refused: str | None = None
    names: tuple[str, ...] = ()  # what the refusal must name (file: field)

    def __repr__(self) -> str:  # own, globals_ and inherited hold (fake) secrets
        return f"Row({self.case})"


# -- the image's files ------------------------------------------------------------


def codex_image(auth: CodexAuth, auth_json: str | None = None, dotenv: str | None = None):
    def lay(tmp_path: Path, stub: LoopbackStub) -> None:
        home = write_codex_home(tmp_path / "home" / ".codex", stub.url, auth)
        if auth_json is not None:
            (home / "auth.json").write_text(auth_json, encoding="utf-8")
        if dotenv is not None:
            (home / ".env").write_text(dotenv, encoding="utf-8")

    return lay


def gemini_image(dotenv: str | None = None, vertex_adc: bool = False):
    """With ``vertex_adc``: settings that select Vertex AI, and the platform's
    service account in gcloud's application default credentials file."""

    def lay(tmp_path: Path, stub: LoopbackStub) -> None:
        write_gemini_home(tmp_path / "home" / ".gemini", "vertex-ai" if vertex_adc else "gemini-api-key")
        if vertex_adc:
            adc = tmp_path / "home" / ADC_FILE
            adc.parent.mkdir(parents=True, exist_ok=True)
            adc.write_text(service_account_json(PLATFORM_SERVICE_ACCOUNT), encoding="utf-8")
        if dotenv is not None:
            work = tmp_path / "work"
            work.mkdir(exist_ok=True)
            (work / ".env").write_text(dotenv, encoding="utf-8")

    return lay


# The workspace's own Vertex AI mode, with its own key (which gemini then
# sends: it signs in with application default credentials only without one).
OWN_VERTEX = {
    "GOOGLE_API_KEY": OWN_GOOGLE_KEY,
    "GOOGLE_GENAI_USE_VERTEXAI": "true",
    "GOOGLE_CLOUD_PROJECT": "workspace-project",
    "GOOGLE_CLOUD_LOCATION": "us-central1",
}


CODEX_ROWS = [
    Row(
        "codex byok: image ~/.codex/auth.json holds a platform key; own OPENAI_API_KEY",
        "byok",
        own={"OPENAI_API_KEY": OWN_OPENAI_KEY},
        image=codex_image(CodexAuth.OPENAI_LOGIN, auth_json=codex_auth_json(PLATFORM_OPENAI_KEY)),
        refused="FOREIGN_AGENT_CREDENTIAL",
        names=("home/.codex/auth.json: OPENAI_API_KEY",),
    ),
    Row(
        "codex byok: platform OPENAI_API_KEY in $CODEX_HOME/.env; own OPENAI_API_KEY",
        "byok",
        own={"OPENAI_API_KEY": OWN_OPENAI_KEY},
        image=codex_image(CodexAuth.ENV_KEY, dotenv=f"OPENAI_API_KEY={PLATFORM_OPENAI_KEY}\n"),
        refused="FOREIGN_AGENT_CREDENTIAL",
        names=("home/.codex/.env: OPENAI_API_KEY",),
    ),
    Row(
        "codex byok: own CODEX_AUTH_JSON (API-key form), materialised",
        "byok",
        own={"CODEX_AUTH_JSON": codex_auth_json(OWN_CODEX_AUTH_KEY)},
        image=codex_image(CodexAuth.OPENAI_LOGIN),
        args=("--provider", "codex"),
        upstream=["authorization: own CODEX_AUTH_JSON key"],
    ),
    Row(
        "codex byok: global CODEX_API_KEY + own CODEX_AUTH_JSON",
        "byok",
        own={"CODEX_AUTH_JSON": codex_auth_json(OWN_CODEX_AUTH_KEY)},
        globals_={"CODEX_API_KEY": PLATFORM_CODEX_KEY},
        image=codex_image(CodexAuth.OPENAI_LOGIN),
        args=("--provider", "codex"),
        upstream=["authorization: own CODEX_AUTH_JSON key"],
    ),
    Row(
        "codex subscription: own ~/.codex/auth.json declared with --own-agent-file, platform global CODEX_API_KEY",
        "subscription",
        globals_={"CODEX_API_KEY": PLATFORM_CODEX_KEY},
        image=codex_image(CodexAuth.OPENAI_LOGIN, auth_json=codex_auth_json(OWN_CODEX_AUTH_KEY)),
        args=("--provider", "codex", "--own-agent-file", "{tmp}/home/.codex/auth.json"),
        upstream=["authorization: own CODEX_AUTH_JSON key"],
    ),
    Row(
        "codex platform_managed: image ~/.codex/auth.json holds a platform key",
        "platform_managed",
        image=codex_image(CodexAuth.OPENAI_LOGIN, auth_json=codex_auth_json(PLATFORM_OPENAI_KEY)),
        upstream=["authorization: platform OpenAI key"],
    ),
    Row(
        "codex byok: inherited CODEX_API_KEY only",
        "byok",
        inherited={"CODEX_API_KEY": PLATFORM_CODEX_KEY},
        image=codex_image(CodexAuth.OPENAI_LOGIN),
        args=("--provider", "codex"),
        refused="MISSING_BYOK_CREDENTIAL",
    ),
]

GEMINI_ROWS = [
    Row(
        "gemini byok: platform GEMINI_API_KEY in the working directory's .env; no own key",
        "byok",
        image=gemini_image(dotenv=f"GEMINI_API_KEY={PLATFORM_GEMINI_KEY}\n"),
        args=("--provider", "gemini"),
        refused="FOREIGN_AGENT_CREDENTIAL",
        names=("work/.env: GEMINI_API_KEY",),
    ),
    Row(
        "gemini byok: platform GEMINI_API_KEY in the working directory's .env; own GEMINI_API_KEY",
        "byok",
        own={"GEMINI_API_KEY": OWN_GEMINI_KEY},
        image=gemini_image(dotenv=f"GEMINI_API_KEY={PLATFORM_GEMINI_KEY}\n"),
        args=("--provider", "gemini"),
        refused="FOREIGN_AGENT_CREDENTIAL",
        names=("work/.env: GEMINI_API_KEY",),
    ),
    Row(
        "gemini byok: the image's gcloud ADC file (a platform service account); own Vertex AI mode and key",
        "byok",
        own=OWN_VERTEX,
        image=gemini_image(vertex_adc=True),
        args=("--provider", "gemini"),
        refused="FOREIGN_AGENT_CREDENTIAL",
        names=(f"home/{ADC_FILE}: private_key",),
    ),
    Row(
        "gemini byok: the same ADC file declared the workspace's own; own Vertex AI mode and key",
        "byok",
        own=OWN_VERTEX,
        image=gemini_image(vertex_adc=True),
        args=("--provider", "gemini", "--own-agent-file", f"{{tmp}}/home/{ADC_FILE}"),
        upstream=["x-goog-api-key: own GOOGLE_API_KEY"],
    ),
    Row(
        "gemini byok: global GOOGLE_API_KEY + own GEMINI_API_KEY",
        "byok",
        own={"GEMINI_API_KEY": OWN_GEMINI_KEY},
        globals_={"GOOGLE_API_KEY": PLATFORM_GOOGLE_KEY},
        image=gemini_image(),
        args=("--provider", "gemini"),
        upstream=["x-goog-api-key: own GEMINI_API_KEY"],
    ),
]


# -- running a row ------------------------------------------------------------------


def _launch(
    tmp_path: Path,
    platform: DevPlatform,
    row: Row,
    env: dict[str, str],
    command: list[str],
    *,
    own_routing: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    platform.state.workspace_secrets.update(row.own)
    # A base URL is gated like a key: it reaches the agent only as the
    # workspace's own (an inherited one would be stripped in byok).
    platform.state.workspace_secrets.update(own_routing or {})
    platform.state.global_secrets.update(row.globals_)
    args = [a.replace("{tmp}", str(tmp_path)) for a in row.args]
    return launch(platform, row.mode, command, env={**env, **row.inherited}, cwd=tmp_path / "work", args=args)


def _evidence(row: Row, proc: subprocess.CompletedProcess[str], stub: LoopbackStub) -> None:
    append_evidence(
        row.case,
        row.mode,
        proc,
        upstream_requests=len(stub.requests),
        upstream_credentials=sorted({f"{h}: {label(v)}" for h, v in stub.credentials()}),
    )


def _verify(row: Row, proc, stub: LoopbackStub, platform: DevPlatform, generate: list, reply_seen: bool) -> None:
    assert_launch_hygiene(proc, stub, platform, SECRETS)
    if row.refused is not None:
        assert_refused_before_agent(proc, stub, row.refused)
        for name in row.names:
            assert name in proc.stderr, proc.stderr[-2000:]
        return
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert reply_seen
    assert generate, stub.paths()
    assert credential_labels(generate) == [row.upstream] * len(generate)
    labels = {u.split(": ", 1)[1] for u in row.upstream or []}
    others = other_secrets_seen(stub, SECRETS, {s for s in SECRETS if label(s) in labels})
    assert others == [], f"upstream saw: {others}"


@pytest.mark.parametrize("row", CODEX_ROWS, ids=[r.case for r in CODEX_ROWS])
def test_codex_through_the_launcher(codex_bin, platform, tmp_path, row):
    with OpenAIStub() as stub:
        if row.image:
            row.image(tmp_path, stub)
        proc = _launch(tmp_path, platform, row, sandbox_env(tmp_path, stub.url), codex_command(codex_bin))
    _evidence(row, proc, stub)
    _verify(row, proc, stub, platform, stub.response_requests(), OPENAI_REPLY in proc.stdout)
    if row.upstream is not None and "CODEX_AUTH_JSON" in row.own:
        # codex ran on the launcher's private CODEX_HOME (under the launcher's
        # TMPDIR here: no private XDG_RUNTIME_DIR), not on the image's.
        (private,) = (tmp_path / "tmp").glob("agent-launcher-codex-*")
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
        assert stat.S_IMODE((private / "auth.json").stat().st_mode) == 0o600
        assert (private / "config.toml").read_text() == (tmp_path / "home/.codex/config.toml").read_text()
        assert (private / "installation_id").exists(), "codex did not use the private CODEX_HOME"
        assert not (tmp_path / "home/.codex/installation_id").exists()
        assert not (tmp_path / "home/.codex/auth.json").exists()


@pytest.mark.parametrize("row", GEMINI_ROWS, ids=[r.case for r in GEMINI_ROWS])
def test_gemini_through_the_launcher(gemini_bin, platform, tmp_path, row):
    with GeminiStub() as stub:
        if row.image:
            row.image(tmp_path, stub)
        env = sandbox_env(tmp_path, stub.url)
        routing = {"GOOGLE_GEMINI_BASE_URL": stub.url, "GOOGLE_VERTEX_BASE_URL": stub.url}
        proc = _launch(tmp_path, platform, row, env, gemini_command(gemini_bin), own_routing=routing)
    _evidence(row, proc, stub)
    reply = row.refused is None and json.loads(proc.stdout or "{}").get("response") == GEMINI_REPLY
    _verify(row, proc, stub, platform, stub.generate_requests(), reply)


def test_gemini_agent_environment_loses_the_global_google_api_key(platform, tmp_path):
    """The GOOGLE_API_KEY row's inputs, with a child that prints its
    environment: gemini-api-key auth would not have sent the global key, so
    the strip shows here rather than upstream."""
    row = next(r for r in GEMINI_ROWS if r.case == "gemini byok: global GOOGLE_API_KEY + own GEMINI_API_KEY")
    with GeminiStub() as stub:
        gemini_image()(tmp_path, stub)
        routing = {"GOOGLE_GEMINI_BASE_URL": stub.url}
        proc = _launch(tmp_path, platform, row, sandbox_env(tmp_path, stub.url), child_env_dump(), own_routing=routing)
        assert stub.requests == []
        url = stub.url
    assert_no_secret(proc.stderr, SECRETS)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    child = parse_env_dump(proc.stdout)
    assert "GOOGLE_API_KEY" not in child
    expect_secret(child, "GEMINI_API_KEY", OWN_GEMINI_KEY)
    assert child["GOOGLE_GEMINI_BASE_URL"] == url
    assert "MOLECULE_WORKSPACE_TOKEN" not in child
