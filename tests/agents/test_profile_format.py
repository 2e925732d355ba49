"""The profile format, in-process (``agents/profiles.py``, ``paths.py``,
``scan.py``): the profiles are valid data; the picks (first existing, all,
first set) and the upward search find the files an agent would read; TOML,
dotenv and selector fields are read; a HOME with glob characters or
padding still finds its files. For profiles to come as much as for those
there are.
"""

from __future__ import annotations

import json
from pathlib import Path

from support import MARKER, PLATFORM_KEY

from launcher.agents.paths import candidates
from launcher.agents.profiles import FileEntry, Format, Pick, agent_for_executable, profile
from launcher.agents.scan import OwnFiles, scan
from launcher.catalogue import load_catalogue


def test_profiles_are_valid_data():
    from launcher.agents.profiles import known

    assert {"all", "claude-code", "codex", "gemini-cli", "generic"} <= set(known())
    assert agent_for_executable("/usr/local/bin/claude") == "claude-code"
    assert profile("claude-code").files
    catalogue = load_catalogue()
    for name in ("GOOGLE_API_KEY", "ANTHROPIC_CUSTOM_HEADERS", "CLAUDE_SECURESTORAGE_CONFIG_DIR"):
        assert catalogue.kind_of(name) is not None and catalogue.is_llm_key(name)
    assert not catalogue.is_server_key("GOOGLE_API_KEY")


def test_pick_modes_and_upward_search(tmp_path):
    (tmp_path / "a" / "b" / "c").mkdir(parents=True)
    (tmp_path / "a" / ".env").write_text(f"GEMINI_API_KEY={PLATFORM_KEY}\nFOO=1\n")
    (tmp_path / "a" / "b" / ".gemini").mkdir()
    (tmp_path / "a" / "b" / ".gemini" / ".env").write_text("GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:9\n")
    cwd = tmp_path / "a" / "b" / "c"
    first = FileEntry("dotenv", ("{HOME}/.env",), Pick.FIRST_EXISTING, Format.DOTENV, (), (".gemini/.env", ".env"))
    env = {"HOME": str(tmp_path / "nohome")}
    assert candidates(first, env, cwd) == [str(tmp_path / "a" / "b" / ".gemini" / ".env")]
    every = FileEntry("dotenv", ("{HOME}/.env",), Pick.ALL, Format.DOTENV, (), (".gemini/.env", ".env"))
    assert str(tmp_path / "a" / ".env") in candidates(every, env, cwd)
    relocated = FileEntry("x", ("{X_HOME}/f", "{HOME}/f"), Pick.FIRST_SET, Format.JSON, ())
    assert candidates(relocated, {"HOME": "/h", "X_HOME": " "}, cwd) == ["/h/f"]
    assert candidates(relocated, {"HOME": "/h", "X_HOME": "rel"}, cwd) == [str(cwd / "rel" / "f")]


def test_toml_and_dotenv_selectors(tmp_path):
    from launcher.agents.profiles import AgentProfile, FieldSpec

    (tmp_path / "config.toml").write_text(
        '[model_providers.acme]\nexperimental_bearer_token = "t"\nbase_url = "u"\n[model_providers.b]\nname = "b"\n'
    )
    (tmp_path / ".env").write_text(f"OPENAI_API_KEY={PLATFORM_KEY}\nPATH_EXTRA=1\n")
    (tmp_path / "settings.json").write_text('{"security": {"auth": {"selectedType": "vertex-ai"}}}')
    agent = AgentProfile(
        "test",
        (),
        (
            FileEntry(
                "toml",
                ("{cwd}/config.toml",),
                Pick.ALL,
                Format.TOML,
                (FieldSpec(("model_providers", "*", "experimental_bearer_token"), counts_as="CODEX_API_KEY"),),
            ),
            FileEntry("env", ("{cwd}/.env",), Pick.ALL, Format.DOTENV, (FieldSpec(("*",), True, "{name}"),)),
            FileEntry(
                "sel",
                ("{cwd}/settings.json",),
                Pick.ALL,
                Format.JSON,
                (FieldSpec(("security", "auth", "selectedType"), values=("vertex-ai",)),),
            ),
        ),
        "",
    )
    found = scan(agent, {"HOME": str(tmp_path)}, tmp_path, OwnFiles(frozenset()), load_catalogue().is_llm_key)
    assert [(Path(f.path).name, f.field, f.counts_as) for f in found] == [
        ("config.toml", "model_providers.acme.experimental_bearer_token", "CODEX_API_KEY"),
        (".env", "OPENAI_API_KEY", "OPENAI_API_KEY"),
        ("settings.json", "security.auth.selectedType", None),
    ]
    assert MARKER not in repr(found)


def test_pattern_characters_in_a_variable_cannot_hide_a_file(tmp_path):
    """HOME=/x/[a]b is a literal directory: the glob of the profile
    directory must not turn it into a pattern that misses it."""
    home = tmp_path / "[a]b*"
    creds = home / ".config" / "anthropic" / "credentials" / "p.json"
    creds.parent.mkdir(parents=True)
    creds.write_text("{}x")
    (tmp_path / "ab").mkdir()  # what the unescaped pattern would match instead
    settings = home / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(json.dumps({"apiKeyHelper": "x"}))
    found = scan(
        profile("claude-code"), {"HOME": str(home)}, tmp_path, OwnFiles(frozenset()), load_catalogue().is_llm_key
    )
    assert [(f.path, f.field) for f in found] == [(str(settings), "apiKeyHelper"), (str(creds), "content")]


def test_a_padded_home_is_read_both_ways(tmp_path):
    """node takes HOME verbatim (a relative ' x' under the working
    directory); other code trims it: both files are looked at."""
    (tmp_path / "x" / ".claude").mkdir(parents=True)
    (tmp_path / " x" / ".claude").mkdir(parents=True)
    for base in ("x", " x"):
        (tmp_path / base / ".claude" / "settings.json").write_text(json.dumps({"apiKeyHelper": base}))
    entry = profile("claude-code").files[0]  # user settings
    assert candidates(entry, {"HOME": " x"}, tmp_path) == [
        str(tmp_path / "x" / ".claude" / "settings.json"),
        str(tmp_path / " x" / ".claude" / "settings.json"),
    ]
