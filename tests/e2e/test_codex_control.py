"""CONTROL tests: the real codex CLI (0.171.0, native binary), WITHOUT the launcher.

Each case plants a distinctive fake key in one channel and records which one
reached the loopback OpenAI stand-in. They reproduce the leaks the launcher
must close (a platform key in the image's ``~/.codex/auth.json`` or in
``$CODEX_HOME/.env`` wins over the workspace's own ``OPENAI_API_KEY``; a
global ``CODEX_API_KEY`` wins over everything) and pin down the facts the
``codex`` agent profile relies on (codex's own login does not read
``OPENAI_API_KEY`` nor ``CODEX_AUTH_JSON``; ``.env`` cannot set ``CODEX_*``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from agent_clis import (
    AGENT_SECRETS,
    OWN_CODEX_AUTH_KEY,
    OWN_OPENAI_KEY,
    PLATFORM_CODEX_ACCESS_TOKEN,
    PLATFORM_CODEX_KEY,
    PLATFORM_OPENAI_KEY,
    CodexAuth,
    assert_no_leak,
    codex_auth_json,
    credential_labels,
    run_codex,
    sandbox_env,
    write_codex_home,
)
from openai_stub import DEFAULT_REPLY, OpenAIStub
from support import assert_no_secret

pytestmark = pytest.mark.e2e


def _run(codex_bin: str, tmp_path: Path, stub: OpenAIStub, **env: str):
    proc = run_codex(codex_bin, sandbox_env(tmp_path, stub.url, **env), tmp_path / "work")
    assert_no_leak(proc, stub)
    return proc


def _upstream(stub: OpenAIStub) -> list[list[str]]:
    """Per Responses request, the credential headers it carried, by label."""
    reqs = stub.response_requests()
    assert reqs, stub.paths()
    return credential_labels(reqs)


def _answered(proc) -> None:
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert DEFAULT_REPLY in proc.stdout


def test_image_auth_json_is_billed_when_the_workspace_brings_openai_api_key(codex_bin, openai_stub, tmp_path):
    """The leak: the workspace's own OPENAI_API_KEY is not what codex's own
    login reads; the platform key the image left in ~/.codex/auth.json is."""
    codex_home = write_codex_home(tmp_path / "home" / ".codex", openai_stub.url, CodexAuth.OPENAI_LOGIN)
    (codex_home / "auth.json").write_text(codex_auth_json(PLATFORM_OPENAI_KEY), encoding="utf-8")
    proc = _run(codex_bin, tmp_path, openai_stub, OPENAI_API_KEY=OWN_OPENAI_KEY)
    _answered(proc)
    assert _upstream(openai_stub) == [["authorization: platform OpenAI key"]]
    assert not openai_stub.saw_secret(OWN_OPENAI_KEY)


def test_openai_api_key_alone_is_not_read_by_codex_login(codex_bin, openai_stub, tmp_path):
    write_codex_home(tmp_path / "home" / ".codex", openai_stub.url, CodexAuth.OPENAI_LOGIN)
    proc = _run(codex_bin, tmp_path, openai_stub, OPENAI_API_KEY=OWN_OPENAI_KEY)
    # codex 0.171.0 sends the request with no credential at all.
    assert _upstream(openai_stub) == [[]]
    assert not openai_stub.saw_secret(OWN_OPENAI_KEY)
    assert proc.returncode == 0


def test_codex_auth_json_variable_is_not_read_by_codex(codex_bin, openai_stub, tmp_path):
    """CODEX_AUTH_JSON is a platform convention: something must write it to auth.json."""
    write_codex_home(tmp_path / "home" / ".codex", openai_stub.url, CodexAuth.OPENAI_LOGIN)
    _run(codex_bin, tmp_path, openai_stub, CODEX_AUTH_JSON=codex_auth_json(OWN_CODEX_AUTH_KEY))
    assert _upstream(openai_stub) == [[]]


def test_global_codex_api_key_beats_auth_json(codex_bin, openai_stub, tmp_path):
    codex_home = write_codex_home(tmp_path / "home" / ".codex", openai_stub.url, CodexAuth.OPENAI_LOGIN)
    (codex_home / "auth.json").write_text(codex_auth_json(OWN_CODEX_AUTH_KEY), encoding="utf-8")
    proc = _run(codex_bin, tmp_path, openai_stub, CODEX_API_KEY=PLATFORM_CODEX_KEY)
    _answered(proc)
    assert _upstream(openai_stub) == [["authorization: platform CODEX_API_KEY"]]
    assert not openai_stub.saw_secret(OWN_CODEX_AUTH_KEY)


@pytest.mark.parametrize("relocated", [False, True], ids=["default-codex-home", "CODEX_HOME"])
def test_codex_home_dotenv_overrides_the_workspace_openai_api_key(codex_bin, openai_stub, tmp_path, relocated):
    """The leak: codex loads $CODEX_HOME/.env itself and its values override the
    process environment, for a provider with env_key = OPENAI_API_KEY."""
    codex_home = tmp_path / ("codex-home" if relocated else "home/.codex")
    write_codex_home(codex_home, openai_stub.url, CodexAuth.ENV_KEY)
    (codex_home / ".env").write_text(f"OPENAI_API_KEY={PLATFORM_OPENAI_KEY}\n", encoding="utf-8")
    env = {"OPENAI_API_KEY": OWN_OPENAI_KEY}
    if relocated:
        env["CODEX_HOME"] = str(codex_home)
    proc = _run(codex_bin, tmp_path, openai_stub, **env)
    _answered(proc)
    assert _upstream(openai_stub) == [["authorization: platform OpenAI key"]]
    assert not openai_stub.saw_secret(OWN_OPENAI_KEY)


def test_codex_home_dotenv_cannot_set_codex_names(codex_bin, openai_stub, tmp_path):
    codex_home = write_codex_home(tmp_path / "home" / ".codex", openai_stub.url, CodexAuth.OPENAI_LOGIN)
    (codex_home / ".env").write_text(f"CODEX_API_KEY={PLATFORM_CODEX_KEY}\n", encoding="utf-8")
    _run(codex_bin, tmp_path, openai_stub)
    assert _upstream(openai_stub) == [[]]
    assert not openai_stub.saw_secret(PLATFORM_CODEX_KEY)


def test_provider_env_key_reads_the_workspace_key_when_nothing_overrides(codex_bin, openai_stub, tmp_path):
    write_codex_home(tmp_path / "home" / ".codex", openai_stub.url, CodexAuth.ENV_KEY)
    proc = _run(codex_bin, tmp_path, openai_stub, OPENAI_API_KEY=OWN_OPENAI_KEY)
    _answered(proc)
    assert _upstream(openai_stub) == [["authorization: own OPENAI_API_KEY"]]


def test_codex_access_token_is_taken_to_auth_openai_com_first(codex_bin, openai_stub, tmp_path):
    """CODEX_ACCESS_TOKEN is read: codex 0.171.0 first goes to auth.openai.com
    with it (here refused by the egress trap), then sends its request with no
    credential. A credential channel, so the catalogue gates it. (A value
    shaped like an API key, ``sk-...``, is ignored without that call.)"""
    write_codex_home(tmp_path / "home" / ".codex", openai_stub.url, CodexAuth.OPENAI_LOGIN)
    env = sandbox_env(tmp_path, openai_stub.url, CODEX_ACCESS_TOKEN=PLATFORM_CODEX_ACCESS_TOKEN)
    proc = run_codex(codex_bin, env, tmp_path / "work")
    assert_no_secret(proc.stdout + proc.stderr, AGENT_SECRETS)
    assert {(r.method, r.path) for r in openai_stub.egress()} == {("CONNECT", "auth.openai.com:443")}
    assert _upstream(openai_stub) == [[]]
