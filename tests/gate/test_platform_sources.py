"""The six regression cases of workspace-server's fix (PR #1963), replayed
against the launcher over real HTTP, with the server *not* gating: the
launcher alone must produce the fixed behaviour."""

from __future__ import annotations

import json

from support import (
    GITHUB_TOKEN,
    OWN_API_KEY,
    OWN_OAUTH,
    PLATFORM_OAUTH,
    child_env_dump,
    expect_absent,
    expect_secret,
    parse_env_dump,
    platform_args,
    run_launcher,
    token_env,
)


def _exec_env(platform, mode: str) -> tuple[int, dict[str, str], str]:
    result = run_launcher(
        "exec", *platform_args(platform, mode), "--", *child_env_dump(), env=token_env(), check_secrets=False
    )
    return result.returncode, parse_env_dump(result.stdout), result.stderr


def _check(platform, mode: str) -> dict:
    result = run_launcher("check", "--json", *platform_args(platform, mode), env=token_env())
    return json.loads(result.stdout)


def test_byok_strips_global_origin_oauth_token(platform):
    report = _check(platform, "byok")
    decision = {k["key"]: k for k in report["keys"]}["CLAUDE_CODE_OAUTH_TOKEN"]
    assert (decision["scope"], decision["action"], decision["llm_bypass"]) == ("global", "strip", True)
    assert report["usable_credentials"] == []


def test_byok_keeps_workspace_own_oauth_even_with_global(platform):
    platform.state.workspace_secrets["CLAUDE_CODE_OAUTH_TOKEN"] = OWN_OAUTH
    code, env, _ = _exec_env(platform, "byok")
    assert code == 0
    expect_secret(env, "CLAUDE_CODE_OAUTH_TOKEN", OWN_OAUTH)


def test_disabled_strips_global_but_still_launches(platform):
    code, env, _ = _exec_env(platform, "disabled")
    assert code == 0
    assert "CLAUDE_CODE_OAUTH_TOKEN" not in env
    report = _check(platform, "disabled")
    assert (report["decision"], report["exit_code"], report["usable_credentials"]) == ("launch", 0, [])


def test_platform_managed_still_receives_global_creds(platform):
    code, env, _ = _exec_env(platform, "platform_managed")
    assert code == 0
    expect_secret(env, "CLAUDE_CODE_OAUTH_TOKEN", PLATFORM_OAUTH)


def test_byok_with_only_global_oauth_fails_closed(platform, tmp_path):
    marker = tmp_path / "launched"
    result = run_launcher("exec", *platform_args(platform, "byok"), "--", "touch", str(marker), env=token_env())
    assert result.returncode == 78
    assert "agent-launcher: error: MISSING_BYOK_CREDENTIAL:" in result.stderr
    assert "Config → Secrets" in result.stderr and "platform-managed" in result.stderr
    assert "CLAUDE_CODE_OAUTH_TOKEN (global)" in result.stderr
    assert not marker.exists(), "nothing may start when the gate refuses"


def test_values_path_strips_global_llm_cred_keeps_own_and_non_llm(platform):
    platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    platform.state.global_secrets["SENTRY_DSN"] = "https://example.invalid/1"
    code, env, _ = _exec_env(platform, "byok")
    assert code == 0
    expect_secret(env, "ANTHROPIC_API_KEY", OWN_API_KEY)
    expect_secret(env, "GITHUB_TOKEN", GITHUB_TOKEN)
    assert env["SENTRY_DSN"] == "https://example.invalid/1"
    assert "CLAUDE_CODE_OAUTH_TOKEN" not in env


def test_lowercase_global_llm_key_is_stripped(platform):
    """The review's note: the server's provision path matches case-exact.
    The launcher matches on trimmed, case-folded names, so a global key
    spelt in lower case is stripped too."""
    platform.state.global_secrets["claude_code_oauth_token"] = PLATFORM_OAUTH
    platform.state.global_secrets["Anthropic_Api_Key"] = PLATFORM_OAUTH
    platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    code, env, _ = _exec_env(platform, "byok")
    assert code == 0
    expect_absent("\n".join(env.values()), PLATFORM_OAUTH, "the child environment")
    assert {"claude_code_oauth_token", "Anthropic_Api_Key"}.isdisjoint(env)


def test_lowercase_own_key_is_kept_but_not_usable(platform):
    """A process reads ANTHROPIC_API_KEY, not anthropic_api_key: the own
    lower-case key survives the strip but does not count as usable."""
    platform.state.workspace_secrets["anthropic_api_key"] = OWN_API_KEY
    report = _check(platform, "byok")
    decision = {k["key"]: k for k in report["keys"]}["anthropic_api_key"]
    assert decision["action"] == "keep"
    assert (report["decision"], report["exit_code"], report["code"]) == ("refuse", 78, "MISSING_BYOK_CREDENTIAL")
    assert "kept but not usable" in report["message"]
