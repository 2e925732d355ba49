"""The installed command in local mode: dotenv sources, the inherited
environment, exec semantics, bad input, diagnostics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support import (
    OWN_API_KEY,
    PLATFORM_OAUTH,
    WORKSPACE_TOKEN,
    base_env,
    child_env_dump,
    expect_absent,
    expect_secret,
    launcher_path,
    parse_env_dump,
    run_launcher,
)

import launcher


@pytest.fixture
def env_files(tmp_path: Path) -> tuple[str, str]:
    own = tmp_path / "workspace.env"
    own.write_text(f"# the workspace's own\nANTHROPIC_API_KEY={OWN_API_KEY}\nexport REGION='eu west'\n")
    platform = tmp_path / "global.env"
    platform.write_text(f"CLAUDE_CODE_OAUTH_TOKEN={PLATFORM_OAUTH}\nSHARED=1\n")
    return str(own), str(platform)


def files_args(env_files: tuple[str, str], mode: str = "byok") -> list[str]:
    """The billing mode and both env files, as flags."""
    own, glob = env_files
    return ["--billing-mode", mode, "--env-file", own, "--global-env-file", glob]


def _dump(*args: str, env=None):
    return run_launcher("exec", *args, "--", *child_env_dump(), env=env or base_env(), check_secrets=False)


def test_version():
    result = run_launcher("--version")
    assert (result.returncode, result.stdout.strip()) == (0, f"agent-launcher {launcher.__version__}")


def test_python_dash_m_works_the_same(env_files):
    proc = subprocess.run(
        [sys.executable, "-m", "launcher", "check", *files_args(env_files)],
        capture_output=True,
        text=True,
        env=base_env(),
        check=False,
    )
    assert proc.returncode == 0 and "decision: launch" in proc.stdout


def test_local_byok_keeps_own_strips_global(env_files):
    result = _dump(*files_args(env_files))
    env = parse_env_dump(result.stdout)
    assert result.returncode == 0
    expect_secret(env, "ANTHROPIC_API_KEY", OWN_API_KEY)
    assert env["REGION"] == "eu west" and env["SHARED"] == "1"
    assert "CLAUDE_CODE_OAUTH_TOKEN" not in env


def test_inherited_llm_key_is_stripped(env_files):
    """The leak the server cannot see: a key already in the container's env."""
    own, _ = env_files
    inherited = base_env(CLAUDE_CODE_OAUTH_TOKEN=PLATFORM_OAUTH, openai_api_key=PLATFORM_OAUTH, TERM="xterm")
    result = _dump("--billing-mode", "byok", "--env-file", own, env=inherited)
    env = parse_env_dump(result.stdout)
    assert result.returncode == 0
    expect_absent(result.stdout, PLATFORM_OAUTH, "the child environment")
    assert env["TERM"] == "xterm", "non-LLM inherited variables pass through"


def test_inherited_llm_key_alone_is_refused():
    result = run_launcher(
        "exec", "--billing-mode", "byok", "--", "true", env=base_env(ANTHROPIC_API_KEY=PLATFORM_OAUTH)
    )
    assert result.returncode == 78
    assert "ANTHROPIC_API_KEY (inherited)" in result.stderr


def test_platform_managed_passes_inherited_key(env_files):
    result = _dump(env=base_env(CLAUDE_CODE_OAUTH_TOKEN=PLATFORM_OAUTH))
    expect_secret(parse_env_dump(result.stdout), "CLAUDE_CODE_OAUTH_TOKEN", PLATFORM_OAUTH)


def test_pristine_child_gets_only_the_bundle(env_files):
    own, _ = env_files
    result = _dump("--pristine", "--billing-mode", "byok", "--env-file", own, env=base_env(TERM="xterm"))
    assert result.returncode == 0, result.stderr
    # and what the launcher sets itself: the metadata fallbacks it closes (issue 18)
    from launcher.catalogue import load_catalogue

    closed = {c.name for c in load_catalogue().closers}
    assert set(parse_env_dump(result.stdout)) - {"LC_CTYPE"} == {"ANTHROPIC_API_KEY", "REGION", *closed}


def test_dotenv_is_not_interpolated(tmp_path):
    """An .env cannot launder an inherited platform token into a
    workspace-scope key with ${VAR}."""
    own = tmp_path / "own.env"
    own.write_text("ANTHROPIC_API_KEY=${CLAUDE_CODE_OAUTH_TOKEN}\n")
    result = _dump(
        "--billing-mode", "byok", "--env-file", str(own), env=base_env(CLAUDE_CODE_OAUTH_TOKEN=PLATFORM_OAUTH)
    )
    expect_absent(result.stdout, PLATFORM_OAUTH, "the child environment")
    assert parse_env_dump(result.stdout)["ANTHROPIC_API_KEY"] == "${CLAUDE_CODE_OAUTH_TOKEN}"


@pytest.mark.parametrize(
    ("content", "line", "fragment"),
    [
        ("GOOD=1\nthis is not a binding\n", 2, "cannot parse"),
        ("GOOD=1\n\nLONELY\n", 3, "no '='"),
        ("A=1\nBAD-NAME=2\n", 2, "not a valid variable name"),
        ("A='unterminated\n", 1, "cannot parse"),
    ],
)
def test_bad_dotenv_line_names_file_and_line(tmp_path, content, line, fragment):
    path = tmp_path / "bad.env"
    path.write_text(content)
    result = run_launcher("exec", "--env-file", str(path), "--", "true")
    assert result.returncode == 65
    assert f"BUNDLE_INVALID: {path}:{line}: " in result.stderr and fragment in result.stderr


@pytest.mark.parametrize(
    "line",
    [
        f"KEY='{OWN_API_KEY}",  # unterminated quote around a secret
        "ghp_FAKESECRET_pasted_alone",  # a token pasted without a name
        f"{OWN_API_KEY}=x",  # a token where the name should be
    ],
)
def test_dotenv_errors_never_echo_the_file(tmp_path, line):
    path = tmp_path / "bad.env"
    path.write_text(f"A=1\n{line}\n")
    result = run_launcher("exec", "--env-file", str(path), "--", "true")  # greps the output for the marker
    assert result.returncode == 65 and f"{path}:2: " in result.stderr


def test_exec_keeps_the_pid(tmp_path):
    script = "import os, sys; print(os.getpid()); sys.stdout.flush()"
    proc = subprocess.Popen(
        [launcher_path(), "exec", "--", sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        env=base_env(),
    )
    out, _ = proc.communicate(timeout=30)
    assert int(out.strip()) == proc.pid


def test_exec_passes_the_exit_status_and_signals():
    assert run_launcher("exec", "--", "sh", "-c", "exit 42").returncode == 42
    proc = subprocess.run([launcher_path(), "exec", "--", "sh", "-c", "kill -TERM $$"], env=base_env(), check=False)
    assert proc.returncode == -signal.SIGTERM


def test_child_gets_default_sigpipe():
    """CPython ignores SIGPIPE; an exec'd agent must not inherit that."""
    result = run_launcher("exec", "--", "sh", "-c", "grep SigIgn /proc/self/status")
    ignored = int(result.stdout.split()[1], 16)
    assert not ignored & (1 << (signal.SIGPIPE - 1))


def test_default_command_is_claude(tmp_path):
    fake = tmp_path / "claude"
    fake.write_text('#!/bin/sh\necho fake-claude "$@"\n')
    fake.chmod(0o755)
    result = run_launcher("exec", env=base_env(PATH=f"{tmp_path}:{os.environ['PATH']}"))
    assert (result.returncode, result.stdout.strip()) == (0, "fake-claude")


def test_command_not_found_and_not_executable(tmp_path):
    missing = run_launcher("exec", "--", "no-such-agent-xyz")
    assert (missing.returncode, missing.stderr.split(":")[2].strip()) == (127, "COMMAND_NOT_FOUND")
    plain = tmp_path / "agent"
    plain.write_text("#!/bin/sh\n")
    plain.chmod(0o644)
    assert run_launcher("exec", "--", str(plain)).returncode == 126
    assert run_launcher("exec", "--", str(tmp_path)).returncode == 126
    on_path = run_launcher("exec", "--", "agent", env=base_env(PATH=str(tmp_path)))
    assert (on_path.returncode, "COMMAND_NOT_EXECUTABLE" in on_path.stderr) == (126, True)


def test_refusal_comes_before_command_resolution():
    assert run_launcher("exec", "--billing-mode", "byok", "--", "no-such-agent-xyz").returncode == 78


@pytest.mark.parametrize(
    ("args", "code", "name"),
    [
        (["exec", "--bogus-flag"], 64, "CONFIG_INVALID"),
        (["exec", "--platform-url", "http://127.0.0.1:1"], 64, "CONFIG_INVALID"),
        (["exec", "--workspace-id", "NOPE", "--platform-url", "http://127.0.0.1:1"], 64, "CONFIG_INVALID"),
        (
            [
                "exec",
                "--platform-url",
                "http://platform.internal",
                "--workspace-id",
                "6b66de8d-9337-4fb4-be8d-6d49dca0d809",
            ],
            64,
            "INSECURE_URL",
        ),
        (["exec", "--env-file", "/nonexistent/x.env"], 64, "CONFIG_INVALID"),
        (["exec", "--provider", "nope"], 64, "CONFIG_INVALID"),
        (["exec", "--deadline", "-3"], 64, "CONFIG_INVALID"),
        (["frobnicate"], 64, "CONFIG_INVALID"),
        ([], 64, "CONFIG_INVALID"),
    ],
)
def test_bad_input_is_one_line_with_code(args, code, name):
    result = run_launcher(*args, "--", "true") if args and args[0] == "exec" else run_launcher(*args)
    assert result.returncode == code
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"agent-launcher: error: {name}: "), result.stderr


def test_json_log_format():
    result = run_launcher("exec", "--log-format", "json", "--billing-mode", "byok", "--", "true")
    records = [json.loads(line) for line in result.stderr.splitlines()]
    assert records[-1]["level"] == "error" and records[-1]["code"] == "MISSING_BYOK_CREDENTIAL"
    assert records[-1]["message"]
    env_json = run_launcher("exec", "--provider", "nope", "--", "true", env=base_env(LAUNCHER_LOG_FORMAT="json"))
    assert json.loads(env_json.stderr)["code"] == "CONFIG_INVALID"


def test_verbose_logs_decisions_without_values(env_files):
    inherited = base_env(MOLECULE_WORKSPACE_TOKEN=WORKSPACE_TOKEN, OPENAI_API_KEY=PLATFORM_OAUTH)
    result = run_launcher("exec", "-vv", *files_args(env_files), "--", "true", env=inherited)
    assert result.returncode == 0
    assert "strip CLAUDE_CODE_OAUTH_TOKEN [global" in result.stderr
    assert "keep ANTHROPIC_API_KEY [workspace" in result.stderr


def test_quiet_silences_warnings():
    noisy = run_launcher("check", env=base_env(MOLECULE_LLM_BILLING_MODE="weird"))
    quiet = run_launcher("check", "-q", env=base_env(MOLECULE_LLM_BILLING_MODE="weird"))
    assert "unrecognised billing mode" in noisy.stderr and quiet.stderr == ""


def test_check_exit_status_matches_exec(env_files):
    own, glob = env_files
    for args in (
        ["--billing-mode", "byok"],
        ["--billing-mode", "byok", "--env-file", own],
        ["--billing-mode", "disabled"],
    ):
        check = run_launcher("check", *args, "--global-env-file", glob)
        run = run_launcher("exec", *args, "--global-env-file", glob, "--", "true")
        assert check.returncode == run.returncode


def test_check_json_shape(env_files):
    result = run_launcher(
        "check",
        "--json",
        *files_args(env_files, "subscription"),
        env=base_env(MOLECULE_WORKSPACE_TOKEN=WORKSPACE_TOKEN),
    )
    report = json.loads(result.stdout)
    for field in (
        "workspace_id",
        "billing_mode",
        "billing_mode_source",
        "provider",
        "decision",
        "exit_code",
        "code",
        "keys",
        "usable_credentials",
    ):
        assert field in report
    assert (report["billing_mode"], report["billing_mode_source"], report["decision"]) == (
        "subscription",
        "flag",
        "launch",
    )
    keys = {k["key"]: k for k in report["keys"]}
    assert keys["MOLECULE_WORKSPACE_TOKEN"]["action"] == "strip"
    assert set(keys["ANTHROPIC_API_KEY"]) >= {"key", "scope", "llm_bypass", "action", "reason", "fingerprint"}
    assert len(keys["ANTHROPIC_API_KEY"]["fingerprint"]) == 8
    assert report["usable_credentials"] == ["ANTHROPIC_API_KEY"]


def test_check_json_on_error_is_still_json():
    result = run_launcher("check", "--json", "--provider", "nope")
    assert json.loads(result.stdout)["code"] == "CONFIG_INVALID" and result.returncode == 64


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


def test_bypass_keys_file_extends_the_list(tmp_path):
    extra = tmp_path / "keys.txt"
    extra.write_text("# our in-house gateway\n  acme_llm_key  \n")
    glob = tmp_path / "global.env"
    glob.write_text(f"ACME_LLM_KEY={PLATFORM_OAUTH}\n")
    result = _dump("--billing-mode", "disabled", "--global-env-file", str(glob), "--bypass-keys-file", str(extra))
    assert "ACME_LLM_KEY" not in parse_env_dump(result.stdout)


def test_check_resolves_a_given_command():
    assert run_launcher("check", "--", "sh").returncode == 0
    missing = run_launcher("check", "--", "no-such-agent-xyz")
    assert missing.returncode == 127 and "COMMAND_NOT_FOUND" in missing.stderr


def test_agent_flags_before_the_separator_get_a_hint():
    result = run_launcher("exec", "claude", "-p", "hi")
    assert result.returncode == 64
    assert "go after --" in result.stderr


def test_a_bug_is_internal_error_without_its_text(monkeypatch, capsys):
    """An unexpected exception may quote anything: only its type and where
    it was raised are shown. ``cli.main`` leaves process-wide state alone."""
    from launcher import cli
    from launcher.commands import check

    def broken(*args, **kwargs):
        raise RuntimeError(f"boom {OWN_API_KEY}")

    monkeypatch.setattr(check, "build_plan", broken)
    previous = signal.getsignal(signal.SIGTERM)
    assert cli.main(["check"], base_env()) == 70
    assert signal.getsignal(signal.SIGTERM) is previous, "cli.main installed a signal handler"
    err = capsys.readouterr().err
    expect_absent(err, OWN_API_KEY)
    assert err.startswith("agent-launcher: error: INTERNAL_ERROR: unexpected RuntimeError at test_cli.py:")
    assert " in broken, from commands/check.py:" in err  # and where the launcher's own code called it
    assert "boom" not in err
