"""The codex and gemini-cli file scanners and the CODEX_AUTH_JSON writer, on
real files in tmp_path (narrow unit tests; the real CLIs are in tests/e2e)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from support import MARKER, assert_no_secret

from launcher import codex, gemini
from launcher.bundle import fingerprint
from launcher.errors import BundleInvalidError, ConfigError

KEY = f"sk-proj-{MARKER}-unit"
TOKEN = f"tok-{MARKER}-unit"


def catalogued(name: str) -> bool:
    return name.strip().upper() in {"OPENAI_API_KEY", "CODEX_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"}


def fields(found: list[codex.Found]) -> list[tuple[str, str]]:
    return [(Path(f.path).name, f.field) for f in found]


# -- codex ------------------------------------------------------------------


def test_codex_home_is_relocated_by_codex_home_else_under_home(tmp_path):
    assert codex.codex_home({"HOME": str(tmp_path)}) == tmp_path / ".codex"
    assert codex.codex_home({"HOME": str(tmp_path), "CODEX_HOME": "/x/y"}) == Path("/x/y")
    assert codex.codex_home({"HOME": str(tmp_path), "CODEX_HOME": ""}) == tmp_path / ".codex"


def test_codex_auth_json_both_forms(tmp_path):
    home = tmp_path / ".codex"
    home.mkdir()
    (home / "auth.json").write_text(json.dumps({"auth_mode": "apikey", "OPENAI_API_KEY": KEY}))
    found = codex.scan({"HOME": str(tmp_path)}, catalogued)
    assert fields(found) == [("auth.json", "OPENAI_API_KEY")]
    assert found[0].value == KEY
    assert MARKER not in repr(found)

    chatgpt = {"OPENAI_API_KEY": None, "tokens": {"id_token": "a", "access_token": TOKEN, "refresh_token": "r"}}
    (home / "auth.json").write_text(json.dumps(chatgpt))
    assert fields(codex.scan({"HOME": str(tmp_path)}, catalogued)) == [
        ("auth.json", "tokens.access_token"),
        ("auth.json", "tokens.refresh_token"),
        ("auth.json", "tokens.id_token"),
    ]


@pytest.mark.parametrize("content", ["{not json", "[1, 2]"])
def test_codex_unreadable_auth_json_is_a_finding_without_value(tmp_path, content):
    (tmp_path / "auth.json").write_text(content)
    (found,) = codex.scan({"CODEX_HOME": str(tmp_path)}, catalogued)
    assert found.field.startswith("unreadable") and found.value is None


def test_codex_auth_json_that_is_a_directory_is_unreadable(tmp_path):
    (tmp_path / "auth.json").mkdir()
    (found,) = codex.scan({"CODEX_HOME": str(tmp_path)}, catalogued)
    assert found.field == "unreadable (IsADirectoryError)"


def test_codex_dotenv_catalogued_keys_only(tmp_path):
    (tmp_path / ".env").write_text(f"OPENAI_API_KEY={KEY}\nRUST_LOG=debug\nCODEX_API_KEY={TOKEN}\n")
    found = codex.scan({"CODEX_HOME": str(tmp_path)}, catalogued)
    assert fields(found) == [(".env", "CODEX_API_KEY"), (".env", "OPENAI_API_KEY")]


def test_codex_config_toml_provider_credentials(tmp_path):
    (tmp_path / "config.toml").write_text(
        f"""
model_provider = "corp"
[model_providers.corp]
base_url = "http://127.0.0.1:1/v1"
experimental_bearer_token = "{KEY}"
http_headers = {{ "Authorization" = "Bearer {TOKEN}", "OpenAI-Organization" = "org-1" }}
env_http_headers = {{ "X-Api-Key" = "CORP_KEY", "X-Trace" = "UNSET_VAR" }}
[model_providers.gated]
env_key = "OPENAI_API_KEY"
[model_providers.helper]
auth = {{ command = "/usr/local/bin/print-key", args = ["--raw"] }}
[model_providers.ungated]
env_key = "OTHER_LLM_KEY"
"""
    )
    env = {"CODEX_HOME": str(tmp_path), "CORP_KEY": TOKEN, "OTHER_LLM_KEY": KEY, "OPENAI_API_KEY": KEY}
    found = codex.scan(env, catalogued)
    assert fields(found) == [
        ("config.toml", "model_providers.corp.experimental_bearer_token"),
        ("config.toml", "model_providers.corp.http_headers.Authorization"),
        ("config.toml", "model_providers.corp.env_http_headers.X-Api-Key (CORP_KEY)"),
        ("config.toml", "model_providers.helper.auth.command"),
        ("config.toml", "model_providers.ungated.env_key (OTHER_LLM_KEY)"),
    ]
    # A variable the gate judges (OPENAI_API_KEY) is not a file credential;
    # an unset one is nothing.
    del env["OTHER_LLM_KEY"]
    assert "model_providers.ungated.env_key (OTHER_LLM_KEY)" not in [f.field for f in codex.scan(env, catalogued)]


def test_codex_config_toml_invalid_is_unreadable(tmp_path):
    (tmp_path / "config.toml").write_text("[model_providers.x\n")
    (found,) = codex.scan({"CODEX_HOME": str(tmp_path)}, catalogued)
    assert found.field == "unreadable (TOMLDecodeError)"


def test_codex_system_config_files_are_scanned():
    assert codex.SYSTEM_CONFIG_FILES == (Path("/etc/codex/config.toml"), Path("/etc/codex/managed_config.toml"))


# -- CODEX_AUTH_JSON -----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("x" * (codex.MAX_AUTH_JSON_BYTES + 1), "bytes, more than"),
        (f"{{{KEY}", "not JSON"),
        (json.dumps([KEY]), "expected a JSON object"),
        (json.dumps({"auth_mode": "apikey", "OPENAI_API_KEY": ""}), "neither an API key"),
        (json.dumps({"tokens": {"account_id": KEY}}), "neither an API key"),
    ],
)
def test_codex_auth_json_variable_is_validated(value, why):
    with pytest.raises(BundleInvalidError) as err:
        codex.validate_auth_json(value)
    assert why in err.value.message
    assert err.value.message.startswith("CODEX_AUTH_JSON: ")
    assert_no_secret(str(err.value))


def test_materialise_writes_a_private_codex_home(tmp_path):
    value = codex.validate_auth_json(json.dumps({"auth_mode": "apikey", "OPENAI_API_KEY": KEY}))
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    image = tmp_path / "image-codex"
    image.mkdir()
    (image / "config.toml").write_text('model = "gpt-5"\n')
    (image / ".env").write_text("RUST_LOG=info\n")
    written = codex.materialise(value, {"XDG_RUNTIME_DIR": str(runtime)}, image)
    assert written.codex_home.parent == runtime
    assert written.auth_json == written.codex_home / "auth.json"
    assert stat.S_IMODE(written.codex_home.stat().st_mode) == 0o700
    assert stat.S_IMODE(written.auth_json.stat().st_mode) == 0o600
    assert written.auth_json.read_text() == value
    assert written.codex_home.name == f"agent-launcher-codex-{os.getpid()}-{fingerprint(value)}"
    # The agent keeps its configuration, never the image's .env.
    assert sorted(p.name for p in written.codex_home.iterdir()) == ["auth.json", "config.toml"]
    assert stat.S_IMODE((written.codex_home / "config.toml").stat().st_mode) == 0o600
    # The same bundle gives the same CODEX_HOME (supervise compares environments).
    assert codex.materialise(value, {"XDG_RUNTIME_DIR": str(runtime)}) == written


def test_materialise_refuses_a_home_it_does_not_own(tmp_path):
    value = json.dumps({"OPENAI_API_KEY": KEY})
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    target = codex.private_home(value, {"XDG_RUNTIME_DIR": str(runtime)})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    target.symlink_to(elsewhere)
    with pytest.raises(ConfigError) as err:
        codex.materialise(value, {"XDG_RUNTIME_DIR": str(runtime)})
    assert "not a private directory" in err.value.message
    assert list(elsewhere.iterdir()) == []
    target.unlink()
    target.mkdir(mode=0o755)
    target.chmod(0o755)
    with pytest.raises(ConfigError):
        codex.materialise(value, {"XDG_RUNTIME_DIR": str(runtime)})
    assert list(target.iterdir()) == []


def test_materialise_avoids_a_runtime_dir_others_can_enter(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    assert codex.private_home_parent({"XDG_RUNTIME_DIR": str(shared)}) != shared
    assert codex.private_home_parent({}) == Path(codex.tempfile.gettempdir())


def test_stale_private_homes_of_dead_processes_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f"agent-launcher-codex-{int(dead.stdout)}-abc"
    live = tmp_path / f"agent-launcher-codex-{os.getppid()}-def"
    other = tmp_path / "agent-launcher-codex-notapid"
    for d in (stale, live, other):
        d.mkdir()
        (d / "auth.json").write_text("{}")
    codex.remove_stale(tmp_path)
    assert not stale.exists()
    assert live.exists() and other.exists()


# -- gemini --------------------------------------------------------------------


def test_gemini_dotenv_candidates_in_search_order(tmp_path):
    cwd = tmp_path / "a" / "b"
    home = tmp_path / "home"
    got = gemini.dotenv_candidates(cwd, {"HOME": str(home)})
    assert got[:4] == [cwd / ".gemini/.env", cwd / ".env", cwd.parent / ".gemini/.env", cwd.parent / ".env"]
    assert got[-4:] == [Path("/.gemini/.env"), Path("/.env"), home / ".gemini/.env", home / ".env"]
    relocated = gemini.dotenv_candidates(cwd, {"HOME": str(home), "GEMINI_CLI_HOME": str(tmp_path / "g")})
    assert relocated[-2:] == [tmp_path / "g/.gemini/.env", tmp_path / "g/.env"]


def test_gemini_scan_finds_every_channel(tmp_path):
    cwd = tmp_path / "repo" / "src"
    cwd.mkdir(parents=True)
    home = tmp_path / "home"
    (home / ".gemini").mkdir(parents=True)
    (tmp_path / "repo" / ".env").write_text(f"GEMINI_API_KEY={KEY}\nDEBUG=1\n")
    (home / ".env").write_text(f"GOOGLE_API_KEY={KEY}\n")
    (home / ".gemini" / "oauth_creds.json").write_text(json.dumps({"access_token": TOKEN, "expiry_date": 1}))
    (home / ".gemini" / "gemini-credentials.json").write_text('{"data": "c2VjcmV0"}')
    (home / ".gemini" / "settings.json").write_text(
        '// user settings\n{"security": {"auth": {"selectedType": "compute-default-credentials"}}, /* x */ "a": "//"}'
    )
    (cwd / ".gemini").mkdir()
    (cwd / ".gemini" / "settings.json").write_text('{"security": {"auth": {"selectedType": "gemini-api-key"}}}')
    found = gemini.scan(
        {"HOME": str(home), "GEMINI_CLI_SYSTEM_SETTINGS_PATH": str(tmp_path / "none.json")}, cwd, catalogued
    )
    assert [(str(Path(f.path).relative_to(tmp_path)), f.field) for f in found] == [
        ("repo/.env", "GEMINI_API_KEY"),
        ("home/.env", "GOOGLE_API_KEY"),
        ("home/.gemini/gemini-credentials.json", "(stored API key)"),
        ("home/.gemini/oauth_creds.json", "access_token"),
        ("home/.gemini/settings.json", "security.auth.selectedType"),
    ]
    assert MARKER not in repr(found)


def test_gemini_invalid_settings_are_unreadable(tmp_path):
    (tmp_path / ".gemini").mkdir()
    (tmp_path / ".gemini" / "settings.json").write_text("{nope")
    found = gemini.scan(
        {"HOME": str(tmp_path), "GEMINI_CLI_SYSTEM_SETTINGS_PATH": "/nonexistent"}, tmp_path, catalogued
    )
    assert [f.field for f in found] == ["unreadable (JSONDecodeError)"]


def test_strip_json_comments_keeps_strings():
    text = '{"u": "http://x/*y*/", // c\n "k": 1 /* d */}'
    assert json.loads(gemini.strip_json_comments(text)) == {"u": "http://x/*y*/", "k": 1}
