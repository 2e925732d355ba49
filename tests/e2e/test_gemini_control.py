"""CONTROL tests: the real gemini-cli (0.61.0, node), WITHOUT the launcher.

Each case plants a distinctive fake key in one channel and records which one
reached the loopback Gemini stand-in. They reproduce the leak the launcher must
close (gemini loads ``.env`` files by itself: a platform ``GEMINI_API_KEY`` in
one fills in the key the workspace does not have) and pin down what is sent
when a global ``GOOGLE_API_KEY`` sits next to the workspace's own
``GEMINI_API_KEY``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from agent_clis import (
    ADC_FILE,
    AGENT_SECRETS,
    OTHER_SERVICE_ACCOUNT,
    OWN_GEMINI_KEY,
    PLATFORM_GEMINI_KEY,
    PLATFORM_GOOGLE_KEY,
    PLATFORM_SERVICE_ACCOUNT,
    assert_no_leak,
    credential_labels,
    run_gemini,
    sandbox_env,
    service_account_json,
    signed_by,
    write_gemini_home,
)
from gemini_stub import DEFAULT_REPLY, GeminiStub
from support import assert_no_secret

pytestmark = pytest.mark.e2e


def _run(gemini_bin: str, tmp_path: Path, stub: GeminiStub, cwd: Path | None = None, **env: str):
    full = sandbox_env(tmp_path, stub.url, GOOGLE_GEMINI_BASE_URL=stub.url, **env)
    proc = run_gemini(gemini_bin, full, cwd or tmp_path / "work")
    assert_no_leak(proc, stub)
    return proc


def _upstream(stub: GeminiStub) -> list[list[str]]:
    """Per generate request, the credential headers it carried, by label."""
    reqs = stub.generate_requests()
    assert reqs, stub.paths()
    return credential_labels(reqs)


def _answered(proc) -> None:
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert json.loads(proc.stdout)["response"] == DEFAULT_REPLY


# Where gemini 0.61.0 finds a .env, relative to tmp_path; the working
# directory is tmp_path/work/sub and HOME is tmp_path/home.
DOTENV_PLACES = [
    pytest.param("work/sub/.env", id="cwd-.env"),
    pytest.param("work/.gemini/.env", id="parent-.gemini-.env"),
    pytest.param("home/.env", id="home-.env"),
]


@pytest.mark.parametrize("place", DOTENV_PLACES)
def test_platform_key_in_a_dotenv_fills_the_missing_workspace_key(gemini_bin, gemini_stub, tmp_path, place):
    """The leak: the workspace brought no key; a .env the image or the
    repository holds supplies the platform's."""
    write_gemini_home(tmp_path / "home" / ".gemini")
    dotenv = tmp_path / place
    dotenv.parent.mkdir(parents=True, exist_ok=True)
    dotenv.write_text(f"GEMINI_API_KEY={PLATFORM_GEMINI_KEY}\n", encoding="utf-8")
    proc = _run(gemini_bin, tmp_path, gemini_stub, cwd=tmp_path / "work" / "sub")
    _answered(proc)
    assert _upstream(gemini_stub) == [["x-goog-api-key: platform GEMINI_API_KEY"]]
    assert gemini_stub.generate_requests()[0].route == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert gemini_stub.generate_requests()[0].query == "alt=sse"


def test_dotenv_never_overrides_a_set_variable(gemini_bin, gemini_stub, tmp_path):
    write_gemini_home(tmp_path / "home" / ".gemini")
    work = tmp_path / "work"
    work.mkdir()
    (work / ".env").write_text(f"GEMINI_API_KEY={PLATFORM_GEMINI_KEY}\n", encoding="utf-8")
    proc = _run(gemini_bin, tmp_path, gemini_stub, GEMINI_API_KEY=OWN_GEMINI_KEY)
    _answered(proc)
    assert _upstream(gemini_stub) == [["x-goog-api-key: own GEMINI_API_KEY"]]
    assert not gemini_stub.saw_secret(PLATFORM_GEMINI_KEY)


def test_global_google_api_key_beside_the_workspace_gemini_key_gemini_api_key_auth(gemini_bin, gemini_stub, tmp_path):
    """selectedType gemini-api-key: 0.61.0 sends GEMINI_API_KEY and ignores
    GOOGLE_API_KEY (the platform key stays in the agent's environment, readable
    by anything it runs, so the launcher strips it all the same)."""
    write_gemini_home(tmp_path / "home" / ".gemini")
    proc = _run(gemini_bin, tmp_path, gemini_stub, GEMINI_API_KEY=OWN_GEMINI_KEY, GOOGLE_API_KEY=PLATFORM_GOOGLE_KEY)
    _answered(proc)
    assert _upstream(gemini_stub) == [["x-goog-api-key: own GEMINI_API_KEY"]]
    assert not gemini_stub.saw_secret(PLATFORM_GOOGLE_KEY)


def test_global_google_api_key_beside_the_workspace_gemini_key_vertex_auth(gemini_bin, gemini_stub, tmp_path):
    """The leak when the image's settings select vertex-ai: GOOGLE_API_KEY is
    what is sent, over the workspace's own GEMINI_API_KEY."""
    write_gemini_home(tmp_path / "home" / ".gemini", selected_type="vertex-ai")
    proc = _run(
        gemini_bin,
        tmp_path,
        gemini_stub,
        GEMINI_API_KEY=OWN_GEMINI_KEY,
        GOOGLE_API_KEY=PLATFORM_GOOGLE_KEY,
        GOOGLE_GENAI_USE_VERTEXAI="true",
        GOOGLE_VERTEX_BASE_URL=gemini_stub.url,
    )
    _answered(proc)
    assert _upstream(gemini_stub) == [["x-goog-api-key: platform GOOGLE_API_KEY"]]
    assert gemini_stub.generate_requests()[0].route.startswith("/v1beta1/publishers/google/models/")
    assert not gemini_stub.saw_secret(OWN_GEMINI_KEY)


def test_google_api_key_alone_is_not_used_with_gemini_api_key_auth(gemini_bin, gemini_stub, tmp_path):
    write_gemini_home(tmp_path / "home" / ".gemini")
    proc = _run(gemini_bin, tmp_path, gemini_stub, GOOGLE_API_KEY=PLATFORM_GOOGLE_KEY)
    assert proc.returncode == 41, (proc.returncode, proc.stderr[-2000:])
    assert gemini_stub.requests == []


def test_gemini_cli_home_relocates_settings_and_the_home_dotenv(gemini_bin, gemini_stub, tmp_path):
    """GEMINI_CLI_HOME replaces the home directory gemini uses: its .gemini/
    (settings) and its .env are read there, not under HOME."""
    relocated = tmp_path / "gemini-home"
    write_gemini_home(relocated / ".gemini")
    (relocated / ".env").write_text(f"GEMINI_API_KEY={PLATFORM_GEMINI_KEY}\n", encoding="utf-8")
    proc = _run(gemini_bin, tmp_path, gemini_stub, GEMINI_CLI_HOME=str(relocated))
    _answered(proc)
    assert _upstream(gemini_stub) == [["x-goog-api-key: platform GEMINI_API_KEY"]]
    assert not (tmp_path / "home" / ".gemini").exists()


@pytest.mark.parametrize("named", [False, True], ids=["gcloud-well-known-file", "GOOGLE_APPLICATION_CREDENTIALS"])
def test_vertex_mode_without_a_key_signs_in_with_application_default_credentials(
    gemini_bin, gemini_stub, tmp_path, named
):
    """The leak behind the ADC file channel: in Vertex AI mode with no API
    key, gemini's google-auth takes the service account in the image's gcloud
    file (or the file GOOGLE_APPLICATION_CREDENTIALS names, which wins) and
    signs a token request for it. Here the egress trap refuses that request,
    so no model call follows; on a network the platform's account pays."""
    write_gemini_home(tmp_path / "home" / ".gemini", selected_type="vertex-ai")
    adc = tmp_path / "home" / ADC_FILE
    adc.parent.mkdir(parents=True)
    adc.write_text(service_account_json(PLATFORM_SERVICE_ACCOUNT), encoding="utf-8")
    env = {
        "GOOGLE_GENAI_USE_VERTEXAI": "true",
        "GOOGLE_CLOUD_PROJECT": "platform-project",
        "GOOGLE_CLOUD_LOCATION": "us-central1",
        "GOOGLE_VERTEX_BASE_URL": gemini_stub.url,
        "METADATA_SERVER_DETECTION": "none",  # google-auth never probes a GCE metadata server
    }
    if named:
        other = tmp_path / "secrets" / "other-sa.json"
        other.parent.mkdir()
        other.write_text(service_account_json(OTHER_SERVICE_ACCOUNT), encoding="utf-8")
        env["GOOGLE_APPLICATION_CREDENTIALS"] = str(other)
    proc = run_gemini(gemini_bin, sandbox_env(tmp_path, gemini_stub.url, **env), tmp_path / "work")
    assert_no_secret(proc.stdout + proc.stderr, AGENT_SECRETS)
    egress = gemini_stub.egress()
    assert [(r.method, "oauth2.googleapis.com" in r.path and r.route.endswith("/token")) for r in egress] == [
        ("POST", True)
    ], [f"{r.method} {r.path}" for r in egress]
    assert signed_by(egress[0]) == (OTHER_SERVICE_ACCOUNT if named else PLATFORM_SERVICE_ACCOUNT)
    assert gemini_stub.generate_requests() == []
    assert proc.returncode != 0
