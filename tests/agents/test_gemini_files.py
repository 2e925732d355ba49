"""gemini-cli's agent files (its profile, ``data/agents/gemini-cli.json``):
every channel (the .env files it searches for upwards and at home, its
OAuth and credential files, the auth type its settings select), with
``GEMINI_CLI_HOME`` replacing HOME, and settings written with comments
(``agents/jsonc.py``). (Issue 9; the real CLI: tests/e2e/test_gemini_control.py.)
"""

from __future__ import annotations

import json

from support import FILE_KEY, FILE_TOKEN, scan_files, scanned_fields, write_file


def test_gemini_every_channel(tmp_path):
    cwd = tmp_path / "repo" / "src"
    cwd.mkdir(parents=True)
    home = tmp_path / "home"
    write_file(tmp_path / "repo/.env", f"GEMINI_API_KEY={FILE_KEY}\nDEBUG=1\n")
    write_file(tmp_path / "repo/src/.gemini/.env", f"GOOGLE_GEMINI_BASE_URL=http://{FILE_TOKEN}\n")
    write_file(home / ".env", f"GOOGLE_API_KEY={FILE_KEY}\n")
    write_file(home / ".gemini/oauth_creds.json", json.dumps({"access_token": FILE_TOKEN, "expiry_date": 1}))
    write_file(home / ".gemini/gemini-credentials.json", '{"data": "c2VjcmV0"}')
    write_file(home / ".gemini/settings.json", json.dumps({"security": {"auth": {"selectedType": "cloud-shell"}}}))
    write_file(cwd / ".gemini/settings.json", json.dumps({"security": {"auth": {"selectedType": "gemini-api-key"}}}))
    env = {"HOME": str(home), "GEMINI_CLI_SYSTEM_SETTINGS_PATH": str(tmp_path / "none.json")}
    assert scanned_fields(scan_files("gemini-cli", env, cwd), tmp_path) == [
        ("repo/src/.gemini/.env", "GOOGLE_GEMINI_BASE_URL"),
        ("repo/.env", "GEMINI_API_KEY"),
        ("home/.env", "GOOGLE_API_KEY"),
        ("home/.gemini/gemini-credentials.json", "content"),
        ("home/.gemini/oauth_creds.json", "access_token"),
        ("home/.gemini/settings.json", "security.auth.selectedType"),
    ]


def test_gemini_cli_home_replaces_home(tmp_path):
    home, moved = tmp_path / "home", tmp_path / "moved"
    write_file(home / ".env", f"GEMINI_API_KEY={FILE_KEY}\n")
    write_file(moved / ".env", f"GEMINI_API_KEY={FILE_KEY}\n")
    write_file(moved / ".gemini/.env", f"GOOGLE_API_KEY={FILE_KEY}\n")
    work = tmp_path / "work"
    work.mkdir()
    env = {"HOME": str(home), "GEMINI_CLI_HOME": str(moved), "GEMINI_CLI_SYSTEM_SETTINGS_PATH": "/nonexistent"}
    assert scanned_fields(scan_files("gemini-cli", env, work), tmp_path) == [
        ("moved/.gemini/.env", "GOOGLE_API_KEY"),
        ("moved/.env", "GEMINI_API_KEY"),
    ]


def test_gemini_settings_with_comments_are_read(tmp_path):
    home = tmp_path / "home"
    write_file(
        home / ".gemini/settings.json",
        '// written by hand\n{"u": "http://x/*y*/", /* auth */\n'
        ' "security": {"auth": {"selectedType": "cloud-shell"}}}\n',
    )
    work = tmp_path / "work"
    work.mkdir()
    env = {"HOME": str(home), "GEMINI_CLI_SYSTEM_SETTINGS_PATH": "/nonexistent"}
    assert [f.field for f in scan_files("gemini-cli", env, work)] == ["security.auth.selectedType"]
    (home / ".gemini/settings.json").write_text('{"a": 1} /* never closed')
    (found,) = scan_files("gemini-cli", env, work)
    assert (found.field, found.problem) == (None, "not valid JSON")
