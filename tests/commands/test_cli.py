"""The command line (``cli.py``): ``--version`` and ``python -m launcher``,
bad input as one diagnostic line with its code and exit status, diagnostics
as text or JSON at the verbosity asked for (decisions by name, never a
value, a hostile name escaped), ``check``'s report and its exit status,
which is exec's, and a bug as INTERNAL_ERROR without its text.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
from support import (
    OWN_API_KEY,
    PLANTED,
    PLATFORM_OAUTH,
    WORKSPACE_TOKEN,
    base_env,
    expect_absent,
    files_args,
    run_launcher,
)

import launcher


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


def test_an_inherited_key_name_with_controls_is_escaped_in_check(tmp_path):
    """Whitespace around a name still makes it an LLM key (it is stripped):
    the name is shown, escaped, in the table and in --json."""
    env = base_env(**{"\tANTHROPIC_API_KEY\x0b": PLANTED})
    for extra in ((), ("--json",)):
        result = run_launcher("check", "--billing-mode", "byok", *extra, env=env)
        assert result.returncode == 78, result.stderr[-500:]
        assert "\t" not in result.output and "\x0b" not in result.output
        assert "\\x09ANTHROPIC_API_KEY\\x0b" in (
            json.loads(result.stdout)["keys"][0]["key"] if extra else result.stdout
        )
