"""What the gate keeps of a platform bundle, by where each key came from:
byok strips a global key and keeps the workspace's own, disabled strips
and still launches, platform_managed passes everything on, a byok workspace
with nothing of its own fails closed, and key names match in any case.
These are the six regression cases of workspace-server's fix (PR #1963),
replayed over real HTTP against a server that does *not* gate: the
launcher alone must produce the fixed behaviour."""

from __future__ import annotations

from support import (
    GITHUB_TOKEN,
    OWN_API_KEY,
    OWN_OAUTH,
    PLATFORM_OAUTH,
    by_key,
    check_json,
    exec_dump,
    expect_absent,
    expect_secret,
    platform_args,
    run_launcher,
    token_env,
)


def _exec_env(platform, mode: str) -> tuple[int, dict[str, str]]:
    """exec in ``mode`` against ``platform``: its status and the child's environment."""
    result, env = exec_dump(*platform_args(platform, mode), env=token_env())
    return result.returncode, env


def _check(platform, mode: str) -> dict:
    return check_json(*platform_args(platform, mode), env=token_env())[1]


def test_byok_strips_global_origin_oauth_token(platform):
    report = _check(platform, "byok")
    decision = by_key(report)["CLAUDE_CODE_OAUTH_TOKEN"]
    assert (decision["scope"], decision["action"], decision["llm_bypass"]) == ("global", "strip", True)
    assert report["usable_credentials"] == []


def test_byok_keeps_workspace_own_oauth_even_with_global(platform):
    platform.state.workspace_secrets["CLAUDE_CODE_OAUTH_TOKEN"] = OWN_OAUTH
    code, env = _exec_env(platform, "byok")
    assert code == 0
    expect_secret(env, "CLAUDE_CODE_OAUTH_TOKEN", OWN_OAUTH)


def test_disabled_strips_global_but_still_launches(platform):
    code, env = _exec_env(platform, "disabled")
    assert code == 0
    assert "CLAUDE_CODE_OAUTH_TOKEN" not in env
    report = _check(platform, "disabled")
    assert (report["decision"], report["exit_code"], report["usable_credentials"]) == ("launch", 0, [])


def test_platform_managed_still_receives_global_creds(platform):
    code, env = _exec_env(platform, "platform_managed")
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
    code, env = _exec_env(platform, "byok")
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
    code, env = _exec_env(platform, "byok")
    assert code == 0
    expect_absent("\n".join(env.values()), PLATFORM_OAUTH, "the child environment")
    assert {"claude_code_oauth_token", "Anthropic_Api_Key"}.isdisjoint(env)


def test_lowercase_own_key_is_kept_but_not_usable(platform):
    """A process reads ANTHROPIC_API_KEY, not anthropic_api_key: the own
    lower-case key survives the strip but does not count as usable."""
    platform.state.workspace_secrets["anthropic_api_key"] = OWN_API_KEY
    report = _check(platform, "byok")
    decision = by_key(report)["anthropic_api_key"]
    assert decision["action"] == "keep"
    assert (report["decision"], report["exit_code"], report["code"]) == ("refuse", 78, "MISSING_BYOK_CREDENTIAL")
    assert "kept but not usable" in report["message"]
