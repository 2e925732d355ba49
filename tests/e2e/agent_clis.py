"""Running the real agent CLIs offline: hermetic environments, the
configuration files that point them at a loopback stand-in, fake secrets, and
the steps every run through the launcher shares (start it against the
platform stand-in, check what any outcome must satisfy, record the evidence).

Every run gets a fresh HOME under the test's tmp_path, an environment built
from nothing (``env -i`` style: no variable of the test process reaches the
CLI), an egress trap (HTTP(S)_PROXY -> the stand-in, which records and refuses
any attempt to reach a non-loopback host) and a loopback base URL. Without a
base URL either CLI goes to its vendor's host: never leave one out.
"""

from __future__ import annotations

import base64
import enum
import functools
import json
import os
import shutil
import subprocess
import urllib.parse
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path

import pytest
from anthropic_stub import DEFAULT_REPLY as CLAUDE_REPLY
from stub_server import LoopbackStub, RecordedRequest
from support import (
    GITHUB_TOKEN,
    MARKER,
    WORKSPACE_TOKEN,
    assert_no_secret,
    launcher_path,
    platform_args,
    run_or_fail,
)

from launcher.devserver import DevPlatform

# Distinctive fake secrets, one per channel; each carries the marker that
# ``support.assert_no_secret`` greps every output for.
PLATFORM_OPENAI_KEY = f"sk-proj-platform-{MARKER}-0a1b2c"  # the image's / platform's OpenAI key
OWN_OPENAI_KEY = f"sk-proj-own-{MARKER}-3d4e5f"  # the workspace's own OpenAI key
PLATFORM_CODEX_KEY = f"sk-codex-platform-{MARKER}-6a7b8c"  # a global CODEX_API_KEY
OWN_CODEX_AUTH_KEY = f"sk-proj-authjson-own-{MARKER}-9d0e1f"  # inside the workspace's CODEX_AUTH_JSON
PLATFORM_CODEX_ACCESS_TOKEN = f"at-platform-{MARKER}-7e8f9a"  # a global CODEX_ACCESS_TOKEN
PLATFORM_GEMINI_KEY = f"AIza-platform-gemini-{MARKER}-2a3b"
OWN_GEMINI_KEY = f"AIza-own-gemini-{MARKER}-4c5d"
PLATFORM_GOOGLE_KEY = f"AIza-platform-google-{MARKER}-6e7f"
OWN_GOOGLE_KEY = f"AIza-own-google-{MARKER}-8a9b"
# Service accounts in Google application default credentials files: the
# email is what a signed token request names (its private key is generated
# per run, see ``service_account_json``).
PLATFORM_SERVICE_ACCOUNT = "platform-agents@platform-project.iam.gserviceaccount.com"
OTHER_SERVICE_ACCOUNT = "named-by-variable@platform-project.iam.gserviceaccount.com"
# Where gcloud (and google-auth, when no variable names a file) keeps them, under HOME.
ADC_FILE = ".config/gcloud/application_default_credentials.json"
AGENT_SECRETS = (
    PLATFORM_OPENAI_KEY,
    OWN_OPENAI_KEY,
    PLATFORM_CODEX_KEY,
    OWN_CODEX_AUTH_KEY,
    PLATFORM_CODEX_ACCESS_TOKEN,
    PLATFORM_GEMINI_KEY,
    OWN_GEMINI_KEY,
    PLATFORM_GOOGLE_KEY,
    OWN_GOOGLE_KEY,
)
LABELS = {
    PLATFORM_OPENAI_KEY: "platform OpenAI key",
    OWN_OPENAI_KEY: "own OPENAI_API_KEY",
    PLATFORM_CODEX_KEY: "platform CODEX_API_KEY",
    OWN_CODEX_AUTH_KEY: "own CODEX_AUTH_JSON key",
    PLATFORM_CODEX_ACCESS_TOKEN: "platform CODEX_ACCESS_TOKEN",
    PLATFORM_GEMINI_KEY: "platform GEMINI_API_KEY",
    OWN_GEMINI_KEY: "own GEMINI_API_KEY",
    PLATFORM_GOOGLE_KEY: "platform GOOGLE_API_KEY",
    OWN_GOOGLE_KEY: "own GOOGLE_API_KEY",
}

CLI_TIMEOUT_S = 60
LAUNCH_TIMEOUT_S = 90
GEMINI_MODEL = "gemini-2.5-flash"
# Where a run appends its evidence (labels, never values) when set: README's
# real-client tables are made from it.
EVIDENCE_VAR = "AGENT_LAUNCHER_E2E_EVIDENCE"
# The refusals a credential case can end in (README's exit codes: both 78).
REFUSAL_CODES = ("FOREIGN_AGENT_CREDENTIAL", "MISSING_BYOK_CREDENTIAL")


def label(value: str, labels: Mapping[str, str] = LABELS) -> str:
    """What a credential header value is, by name: never the value itself."""
    return labels.get(value.removeprefix("Bearer "), "unknown value")


def credential_labels(requests: Iterable[RecordedRequest], labels: Mapping[str, str] = LABELS) -> list[list[str]]:
    """Per request, the credential headers it carried, as ``header: label``."""
    return [[f"{h}: {label(v, labels)}" for h, v in r.credentials()] for r in requests]


def assert_no_leak(
    proc: subprocess.CompletedProcess[str], stub: LoopbackStub, secrets: Collection[str] = AGENT_SECRETS
) -> None:
    """No fake secret in the output (stdout and stderr alike) and no attempt
    to leave loopback. Checked first: the asserts after it may show the output."""
    assert_no_secret(proc.stdout + proc.stderr, tuple(secrets))
    assert stub.egress() == [], [f"{r.method} {r.path}" for r in stub.egress()]


def sandbox_env(tmp_path: Path, trap_url: str, **extra: str) -> dict[str, str]:
    """A complete, hermetic environment: nothing inherited from the test process.

    HOME, TMPDIR and the XDG directories live under ``tmp_path``; the proxies
    send any non-loopback request to ``trap_url`` (the stand-in refuses it and
    records it as egress). ``extra`` adds or overrides variables.
    """
    home = tmp_path / "home"
    tmp = tmp_path / "tmp"
    for d in (home, tmp):
        d.mkdir(parents=True, exist_ok=True)
    path = ["/usr/local/bin", "/usr/bin", "/bin"]
    node = shutil.which("node")
    if node and os.path.dirname(node) not in path:
        path.insert(0, os.path.dirname(node))  # gemini-cli is a node script
    no_proxy = "127.0.0.1,localhost,::1"
    env = {
        "PATH": ":".join(path),
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "HTTPS_PROXY": trap_url,
        "HTTP_PROXY": trap_url,
        "https_proxy": trap_url,
        "http_proxy": trap_url,
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
    }
    env.update(extra)
    return env


# -- through the launcher -------------------------------------------------------

TRAP_PROXIES = ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy")


def launch(
    platform: DevPlatform,
    mode: str,
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    args: Sequence[str] = (),
    subcommand: str = "exec",
    timeout: float = LAUNCH_TIMEOUT_S,
) -> subprocess.CompletedProcess[str]:
    """``agent-launcher SUBCOMMAND`` against the platform stand-in in billing
    ``mode``, then ``-- COMMAND``, in ``env`` plus the workspace token (as a
    container hands it over); a hang fails the test."""
    cwd.mkdir(parents=True, exist_ok=True)
    # The sandbox's egress trap is the workspace's own proxy: an inherited
    # proxy is transport, stripped in byok and subscription (issue 18).
    for name in TRAP_PROXIES:
        if name in env:
            platform.state.workspace_secrets.setdefault(name, env[name])
    cmd = [launcher_path(), subcommand, *platform_args(platform, mode), *args, "--", *command]
    return run_or_fail(cmd, env={**env, "MOLECULE_WORKSPACE_TOKEN": WORKSPACE_TOKEN}, cwd=cwd, timeout=timeout)


def assert_launch_hygiene(
    proc: subprocess.CompletedProcess[str], stub: LoopbackStub, platform: DevPlatform, secrets: Collection[str]
) -> None:
    """What every run through the launcher must satisfy, whatever its outcome."""
    assert_no_leak(proc, stub, secrets)  # launcher diagnostics AND the agent's own output
    # The workspace token goes to the platform, and only there.
    assert platform.state.requests, "the launcher never asked the platform"
    assert all(r.authorization == f"Bearer {WORKSPACE_TOKEN}" for r in platform.state.requests)
    assert not stub.saw_secret(WORKSPACE_TOKEN)
    assert not stub.saw_secret(GITHUB_TOKEN)


def assert_refused_before_agent(proc: subprocess.CompletedProcess[str], stub: LoopbackStub, code: str) -> None:
    """Exit 78 with ``code``, and the agent never reached its upstream."""
    assert proc.returncode == 78, (proc.returncode, proc.stderr[-2000:])
    assert code in proc.stderr, proc.stderr[-2000:]
    assert stub.requests == [], "the agent started"


def other_secrets_seen(
    stub: LoopbackStub, secrets: Iterable[str], expected: Collection[str], labels: Mapping[str, str] = LABELS
) -> list[str]:
    """The labels of the fake secrets, other than ``expected``, that appear
    in any header or body the upstream received (labels: a failing assert
    must not print a value)."""
    return [label(s, labels) for s in secrets if s not in expected and stub.saw_secret(s)]


def refusal_code(proc: subprocess.CompletedProcess[str]) -> str | None:
    """The refusal code the launcher's diagnostic names, if any."""
    return next((c for c in REFUSAL_CODES if c in proc.stderr), None)


def append_evidence(
    case: str,
    mode: str | None,
    proc: subprocess.CompletedProcess[str],
    *,
    upstream_requests: int,
    upstream_credentials: Iterable[str],
    **more: object,
) -> None:
    """Append one run's record to the file ``AGENT_LAUNCHER_E2E_EVIDENCE``
    names, if it names one: header names and labels, never values."""
    path = os.environ.get(EVIDENCE_VAR)
    if not path:
        return
    record = {
        "case": case,
        "mode": mode,
        "exit": proc.returncode,
        "code": refusal_code(proc),
        "upstream_requests": upstream_requests,
        "upstream_credentials": list(upstream_credentials),
        **more,
    }
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


# -- claude ---------------------------------------------------------------------


def claude_command(claude_bin: str, prompt: str = "hi", *extra_args: str) -> list[str]:
    return [claude_bin, "-p", prompt, "--output-format", "json", *extra_args]


def claude_result(proc: subprocess.CompletedProcess[str]) -> dict[str, object]:
    """claude's JSON result on stdout (``--output-format json``)."""
    try:
        out: dict[str, object] = json.loads(proc.stdout)
    except ValueError:
        shown = proc.stderr[-2000:]
        pytest.fail(f"stdout is not claude's JSON (rc={proc.returncode}); stderr: {shown!r}", pytrace=False)
    return out


def assert_claude_answered(proc: subprocess.CompletedProcess[str]) -> dict[str, object]:
    """claude ran to the end and printed the Anthropic stand-in's answer."""
    assert proc.returncode == 0, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    out = claude_result(proc)
    assert (out["type"], out["result"]) == ("result", CLAUDE_REPLY)
    assert out["is_error"] is False
    return out


# -- codex --------------------------------------------------------------------


class CodexAuth(enum.Enum):
    """Which credential the test provider in config.toml uses."""

    # ``requires_openai_auth = true``: codex's own OpenAI login, i.e. what the
    # built-in ``openai`` provider uses: CODEX_API_KEY, else $CODEX_HOME/auth.json.
    # (The built-in provider itself would also work, with ``openai_base_url``,
    # but it first retries a websocket for ~6 s.)
    OPENAI_LOGIN = "openai-login"
    # ``env_key = "OPENAI_API_KEY"``: a provider that reads that variable.
    ENV_KEY = "env-key"


def codex_config(base_url: str, auth: CodexAuth) -> str:
    """config.toml text: a provider pointed at the stand-in, and every switch
    that stops codex 0.171.0 from reaching other hosts at start-up (plugin sync
    via git / api.github.com / chatgpt.com, analytics to ab.chatgpt.com)."""
    auth_line = "requires_openai_auth = true" if auth is CodexAuth.OPENAI_LOGIN else 'env_key = "OPENAI_API_KEY"'
    return f"""\
model = "gpt-5"
model_provider = "stub"
chatgpt_base_url = "{base_url}/backend-api/"
check_for_update_on_startup = false

[features]
plugins = false

[analytics]
enabled = false

[model_providers.stub]
name = "loopback stand-in"
base_url = "{base_url}/v1"
wire_api = "responses"
supports_websockets = false
{auth_line}
"""


def write_codex_home(codex_home: Path, base_url: str, auth: CodexAuth) -> Path:
    codex_home.mkdir(parents=True, exist_ok=True)
    (codex_home / "config.toml").write_text(codex_config(base_url, auth), encoding="utf-8")
    return codex_home


def codex_auth_json(api_key: str) -> str:
    """auth.json in its API-key form, as ``codex login --with-api-key`` writes it."""
    return json.dumps({"auth_mode": "apikey", "OPENAI_API_KEY": api_key})


def codex_command(codex_bin: str, prompt: str = "hi") -> list[str]:
    return [codex_bin, "exec", "--skip-git-repo-check", prompt]


def run_codex(codex_bin: str, env: dict[str, str], cwd: Path, prompt: str = "hi") -> subprocess.CompletedProcess[str]:
    """``codex exec --skip-git-repo-check PROMPT`` (stdin closed); a hang fails the test."""
    cwd.mkdir(parents=True, exist_ok=True)
    return run_or_fail(codex_command(codex_bin, prompt), env=env, cwd=cwd, timeout=CLI_TIMEOUT_S)


# -- gemini-cli ----------------------------------------------------------------


def gemini_settings(selected_type: str = "gemini-api-key") -> str:
    """~/.gemini/settings.json: without ``selectedType`` (and with a base URL)
    gemini 0.61.0 exits 41; telemetry and update checks off."""
    return json.dumps(
        {
            "security": {"auth": {"selectedType": selected_type}},
            "privacy": {"usageStatisticsEnabled": False},
            "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False},
        }
    )


def write_gemini_home(gemini_dir: Path, selected_type: str = "gemini-api-key") -> Path:
    gemini_dir.mkdir(parents=True, exist_ok=True)
    (gemini_dir / "settings.json").write_text(gemini_settings(selected_type), encoding="utf-8")
    return gemini_dir


def gemini_command(gemini_bin: str, prompt: str = "hi") -> list[str]:
    # --skip-trust: otherwise exit 55 (untrusted folder); -m: otherwise a
    # router-model call first, which hangs on a stand-in.
    return [gemini_bin, "-p", prompt, "--output-format", "json", "--skip-trust", "-m", GEMINI_MODEL]


def run_gemini(gemini_bin: str, env: dict[str, str], cwd: Path, prompt: str = "hi") -> subprocess.CompletedProcess[str]:
    cwd.mkdir(parents=True, exist_ok=True)
    return run_or_fail(gemini_command(gemini_bin, prompt), env=env, cwd=cwd, timeout=CLI_TIMEOUT_S)


# -- Google application default credentials ------------------------------------------------


@functools.cache
def _rsa_private_key_pem() -> str:
    """An RSA key for a fake service account, made by node's crypto (node is
    here for the CLIs; no Python package needed). One per test session."""
    script = (
        "const {generateKeyPairSync} = require('crypto');"
        "process.stdout.write(generateKeyPairSync('rsa', {modulusLength: 2048,"
        " privateKeyEncoding: {type: 'pkcs8', format: 'pem'},"
        " publicKeyEncoding: {type: 'spki', format: 'pem'}}).privateKey)"
    )
    node = shutil.which("node")
    assert node, "node is needed for the gemini-cli e2e suite"
    return subprocess.run([node, "-e", script], capture_output=True, text=True, check=True, timeout=60).stdout


def service_account_json(email: str) -> str:
    """A service-account credentials file as gcloud and the console write it."""
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "platform-project",
            "private_key_id": "0" * 40,
            "private_key": _rsa_private_key_pem(),
            "client_email": email,
            "client_id": "100000000000000000000",
            "token_uri": "https://oauth2.googleapis.com/token",
        }
    )


def signed_by(request: RecordedRequest) -> str | None:
    """The service account a JWT-bearer token request was signed for (the
    ``iss`` of its assertion), or None when it is no such request."""
    form = urllib.parse.parse_qs(request.body.decode("ascii", "replace"))
    assertion = form.get("assertion", [""])[0]
    if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"] or assertion.count(".") != 2:
        return None
    payload = assertion.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims.get("iss"))
