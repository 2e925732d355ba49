"""The gate over local sources, through the installed command: env files
and the inherited environment. In byok the workspace's own key is kept and
a global or inherited LLM key stripped (an inherited one alone refuses),
platform_managed passes everything on, ``--pristine`` starts from nothing
but the sources, ``--bypass-keys-file`` extends the keys judged, and each
provider needs its own credential to launch.
"""

from __future__ import annotations

import pytest
from support import (
    OWN_API_KEY,
    PLATFORM_OAUTH,
    base_env,
    exec_dump,
    expect_absent,
    expect_secret,
    files_args,
    run_launcher,
)


def test_local_byok_keeps_own_strips_global(env_files):
    result, env = exec_dump(*files_args(env_files))
    assert result.returncode == 0
    expect_secret(env, "ANTHROPIC_API_KEY", OWN_API_KEY)
    assert env["REGION"] == "eu west" and env["SHARED"] == "1"
    assert "CLAUDE_CODE_OAUTH_TOKEN" not in env


def test_inherited_llm_key_is_stripped(env_files):
    """The leak the server cannot see: a key already in the container's env."""
    own, _ = env_files
    inherited = base_env(CLAUDE_CODE_OAUTH_TOKEN=PLATFORM_OAUTH, openai_api_key=PLATFORM_OAUTH, TERM="xterm")
    result, env = exec_dump("--billing-mode", "byok", "--env-file", own, env=inherited)
    assert result.returncode == 0
    expect_absent(result.stdout, PLATFORM_OAUTH, "the child environment")
    assert env["TERM"] == "xterm", "non-LLM inherited variables pass through"


def test_inherited_llm_key_alone_is_refused():
    result = run_launcher(
        "exec", "--billing-mode", "byok", "--", "true", env=base_env(ANTHROPIC_API_KEY=PLATFORM_OAUTH)
    )
    assert result.returncode == 78
    assert "ANTHROPIC_API_KEY (inherited)" in result.stderr


def test_platform_managed_passes_inherited_key():
    _, env = exec_dump(env=base_env(CLAUDE_CODE_OAUTH_TOKEN=PLATFORM_OAUTH))
    expect_secret(env, "CLAUDE_CODE_OAUTH_TOKEN", PLATFORM_OAUTH)


def test_pristine_child_gets_only_the_bundle(env_files):
    own, _ = env_files
    result, child = exec_dump("--pristine", "--billing-mode", "byok", "--env-file", own, env=base_env(TERM="xterm"))
    assert result.returncode == 0, result.stderr
    # and what the launcher sets itself: the metadata fallbacks it closes (issue 18)
    from launcher.catalogue import load_catalogue

    closed = {c.name for c in load_catalogue().closers}
    assert set(child) - {"LC_CTYPE"} == {"ANTHROPIC_API_KEY", "REGION", *closed}


def test_bypass_keys_file_extends_the_list(tmp_path):
    extra = tmp_path / "keys.txt"
    extra.write_text("# our in-house gateway\n  acme_llm_key  \n")
    glob = tmp_path / "global.env"
    glob.write_text(f"ACME_LLM_KEY={PLATFORM_OAUTH}\n")
    _, child = exec_dump("--billing-mode", "disabled", "--global-env-file", str(glob), "--bypass-keys-file", str(extra))
    assert "ACME_LLM_KEY" not in child


@pytest.mark.parametrize(
    ("provider", "keys", "expected"),
    [
        ("anthropic-api", {"ANTHROPIC_API_KEY": OWN_API_KEY}, 0),
        ("anthropic-api", {"CLAUDE_CODE_OAUTH_TOKEN": OWN_API_KEY}, 78),
        ("anthropic-oauth", {"CLAUDE_CODE_OAUTH_TOKEN": OWN_API_KEY}, 0),
        ("anthropic-compatible", {"ANTHROPIC_AUTH_TOKEN": OWN_API_KEY}, 78),
        (
            "anthropic-compatible",
            {"ANTHROPIC_AUTH_TOKEN": OWN_API_KEY, "ANTHROPIC_BASE_URL": "https://api.minimax.io/anthropic"},
            0,
        ),
        ("openai", {"OPENAI_BASE_URL": "https://x"}, 78),
        ("openai", {"OPENAI_API_KEY": OWN_API_KEY}, 0),
        ("gemini", {"GEMINI_API_KEY": OWN_API_KEY}, 0),
        ("openrouter", {"OPENROUTER_API_KEY": "   "}, 78),
        ("any", {"HF_TOKEN": OWN_API_KEY}, 0),
        ("any", {"OPENAI_BASE_URL": "https://x"}, 78),
    ],
)
def test_provider_registry(tmp_path, provider, keys, expected):
    own = tmp_path / "own.env"
    own.write_text("".join(f"{k}={v}\n" for k, v in keys.items()))
    assert (
        run_launcher("check", "--billing-mode", "byok", "--provider", provider, "--env-file", str(own)).returncode
        == expected
    )
