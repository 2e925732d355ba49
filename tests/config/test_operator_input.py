"""What the operator names is checked before anything is read or sent: files
(``--env-file``, ``--global-env-file``, ``--token-file``, ``--ca-file``,
``--bypass-keys-file``) must be bounded regular files the launcher may read
(``files.py``), dotenv files are read literally (``envfiles.py``), a token
or URL with control characters is refused before any request, and no error
echoes a file's text; a path with escapes is shown escaped. (Issues 11 and
19.6.)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from faultserver import FaultServer, answer_ok
from support import (
    ESCAPE,
    MARKER,
    NOBODY_UID,
    OWN_API_KEY,
    PLANTED,
    PLATFORM_OAUTH,
    WORKSPACE_TOKEN,
    as_uid,
    assert_refused,
    base_env,
    exec_dump,
    expect_absent,
    require_root_and_setpriv,
    run_launcher,
    timed_platform_run,
)

# -- dotenv files, read literally ---------------------------------------------------------------


def test_dotenv_is_not_interpolated(tmp_path):
    """An .env cannot launder an inherited platform token into a
    workspace-scope key with ${VAR}."""
    own = tmp_path / "own.env"
    own.write_text("ANTHROPIC_API_KEY=${CLAUDE_CODE_OAUTH_TOKEN}\n")
    result, child = exec_dump(
        "--billing-mode", "byok", "--env-file", str(own), env=base_env(CLAUDE_CODE_OAUTH_TOKEN=PLATFORM_OAUTH)
    )
    expect_absent(result.stdout, PLATFORM_OAUTH, "the child environment")
    assert child["ANTHROPIC_API_KEY"] == "${CLAUDE_CODE_OAUTH_TOKEN}"


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


# -- named files: bounded, regular, readable; never echoed ---------------------------------------


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize(
    ("flag", "target"),
    [
        ("--token-file", "fifo"),
        ("--token-file", "/dev/zero"),
        ("--token-file", "directory"),
        ("--token-file", "oversized"),
        ("--ca-file", "fifo"),
        ("--ca-file", "/dev/zero"),
        ("--bypass-keys-file", "fifo"),
        ("--env-file", "fifo"),
        ("--env-file", "/dev/zero"),
        ("--global-env-file", "fifo"),
        ("--global-env-file", "oversized"),
    ],
)
def test_a_named_file_that_is_not_a_bounded_regular_file_is_config_invalid(tmp_path, marker, flag, target):
    if target == "fifo":
        path = str(_fifo(tmp_path))
    elif target == "directory":
        path = str(tmp_path)
    elif target == "oversized":
        big = tmp_path / "big"
        big.write_bytes(b"A=1\n" * (1024 * 1024))  # 4 MiB: over every cap but the CA file's
        path = str(big)
    else:
        path = target
    with FaultServer(default=answer_ok) as server:
        url = server.url.replace("http://", "https://") if flag == "--ca-file" else server.url
        result, elapsed = timed_platform_run("exec", url, marker, flag, path)
    assert_refused(result, elapsed, marker, "CONFIG_INVALID", 64)
    assert elapsed < 2.0, "refused at once, not after waiting on the file"
    assert server.connections == 0


def test_an_unreadable_env_file_is_config_invalid_like_a_missing_one(tmp_path, marker):
    """Root reads anything: the launcher runs as nobody, the file sits in a
    directory nobody cannot enter."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    (private / "ws.env").write_text(f"ANTHROPIC_API_KEY={OWN_API_KEY}\n")
    require_root_and_setpriv()
    unreadable = run_launcher(
        "check", "--billing-mode", "byok", "--env-file", str(private / "ws.env"), prefix=as_uid(NOBODY_UID)
    )
    missing = run_launcher("check", "--billing-mode", "byok", "--env-file", str(tmp_path / "absent.env"))
    for result in (unreadable, missing):
        assert result.returncode == 64 and "CONFIG_INVALID" in result.stderr, result.stderr[-500:]
    assert "permission denied" in unreadable.stderr and "no such file" in missing.stderr


def test_a_bad_bypass_keys_line_names_file_and_line_not_its_text(tmp_path: Path) -> None:
    """Issue 19.6: an operator who pasted KEY=value into the key list gets
    the file and line number, never the line (the value) echoed."""
    keys = tmp_path / "keys.txt"
    keys.write_text(f"# extra LLM keys\nMY_PROXY_KEY\nMY_OTHER_KEY={PLANTED}\n")
    for command in ("check", "exec"):
        result = run_launcher(command, "--bypass-keys-file", str(keys), "--", "true")
        assert result.returncode == 64 and "CONFIG_INVALID" in result.stderr, result.stderr
        assert f"{keys}:3: not a variable name" in result.stderr
        assert "MY_OTHER_KEY" not in result.stderr


# -- the token and the URL; paths shown escaped --------------------------------------------------


@pytest.mark.parametrize(
    ("token", "url"),
    [
        (f"wstok-{MARKER}-caf\u00e9", None),
        (WORKSPACE_TOKEN, "http://[::1"),
        (WORKSPACE_TOKEN, "http://127.0.0.1:9/\x01x"),
        (WORKSPACE_TOKEN, "http://127.0.0.1\x1b[2J:9"),
    ],
    ids=["non-ascii-token", "unclosed-ipv6", "control-in-path", "escape-in-host"],
)
def test_bad_operator_input_is_config_invalid_before_any_request(marker, token, url):
    with FaultServer(default=answer_ok) as server:
        env = base_env(MOLECULE_WORKSPACE_TOKEN=token)
        result, elapsed = timed_platform_run("exec", url or server.url, marker, env=env)
    assert_refused(result, elapsed, marker, "CONFIG_INVALID", 64)
    assert server.connections == 0


def test_an_operator_path_with_escapes_is_escaped_in_text_and_json(tmp_path, marker):
    path = tmp_path / f"no{ESCAPE}such.env"
    for extra in ((), ("--log-format", "json")):
        result = run_launcher("exec", "--env-file", str(path), *extra, "--", "true")
        assert result.returncode == 64 and ESCAPE not in result.stderr
        shown = json.loads(result.stderr)["message"] if extra else result.stderr
        assert "no\\x1b[2Jsuch.env" in shown, result.stderr
