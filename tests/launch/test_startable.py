"""Before any start the environment is proven startable (``launch.check_startable``):
a value over the kernel's per-string limit, an environment over the total,
an empty name, a lone surrogate are ``BUNDLE_INVALID`` (65) naming the key,
never the value, the same in ``exec``, ``check`` and ``supervise``, instead
of an ``execve`` error blamed on the command. (Issue 10.)
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import (
    MARKER,
    OVERSIZED,
    OWN_API_KEY,
    TIMEOUT,
    base_env,
    platform_args,
    run_launcher,
    token_env,
)

from launcher.errors import BundleInvalidError, ConfigError
from launcher.launch import ExecLimits, check_startable


@pytest.mark.parametrize("command", ["exec", "check", "supervise"])
def test_a_value_over_the_per_string_limit_is_bundle_invalid(tmp_path: Path, command: str) -> None:
    env_file = tmp_path / "big.env"
    env_file.write_text(f"HUGE_SETTING={OVERSIZED}\n")
    marker = tmp_path / "started"
    result = run_launcher(command, "--env-file", str(env_file), "--", "touch", str(marker), env=base_env())
    assert result.returncode == 65, result.stderr
    assert "BUNDLE_INVALID" in result.stderr and "HUGE_SETTING" in result.stderr
    assert not marker.exists()


@pytest.mark.parametrize("command", ["exec", "check", "supervise"])
def test_environment_over_the_total_limit_is_bundle_invalid(platform, command: str) -> None:  # type: ignore[no-untyped-def]
    count = ExecLimits.current().total // 100_000 + 2  # each value fits one string, all of them do not
    with platform.state.lock:
        platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
        platform.state.workspace_secrets.update({f"PART_{i}": f"{MARKER}{'y' * 100_000}" for i in range(count)})
    result = run_launcher(
        command, *platform_args(platform), "--max-bundle-bytes", str(10**8), "--", "true", env=token_env()
    )
    assert result.returncode == 65, result.stderr
    assert "BUNDLE_INVALID" in result.stderr and "PART_" in result.stderr


@pytest.mark.parametrize("command", ["exec", "check", "supervise"])
def test_an_inherited_variable_with_an_empty_name_is_bundle_invalid(command: str) -> None:
    # `env` passes "=x" through as an entry whose name is empty; Python would refuse to build one.
    bare = ("env", "-i", f"={MARKER}", f"PATH={os.environ.get('PATH', '/usr/bin:/bin')}")
    result = run_launcher(command, "--", "true", timeout=TIMEOUT, prefix=bare)
    assert result.returncode == 65, result.stderr
    assert "BUNDLE_INVALID" in result.stderr and "empty name" in result.stderr


def test_a_lone_surrogate_from_the_platform_is_bundle_invalid_in_exec_and_check(platform) -> None:  # type: ignore[no-untyped-def]
    with platform.state.lock:
        platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
        platform.state.workspace_secrets["ODD_SETTING"] = "\ud800"
    for command in ("exec", "check"):
        result = run_launcher(command, *platform_args(platform), "--", "true", env=token_env())
        assert result.returncode == 65, (command, result.stderr)
        assert "BUNDLE_INVALID" in result.stderr


def test_check_startable_names_the_key_never_the_value() -> None:
    small = ExecLimits(per_string=64, total=400)
    check_startable(["agent"], {"A": "x" * 50}, small)
    cases = {
        "name": {"": "v"},
        "equals": {"A=B": "v"},
        "nul": {"A\0B": "v"},
        "value_nul": {"NUL_VALUE": "a\0" + MARKER},
        "surrogate_value": {"ODD": MARKER + "\ud800"},
        "surrogate_name": {"ODD\udfff": "v"},
        "long": {"LONG": MARKER + "x" * 60},
        "total": {f"K{i}": MARKER + "x" * 30 for i in range(10)},
    }
    for label, env in cases.items():
        with pytest.raises(BundleInvalidError) as caught:
            check_startable(["agent"], env, small)
        assert MARKER not in caught.value.message, label
    with pytest.raises(BundleInvalidError, match="LONG"):
        check_startable(["agent"], {"LONG": "x" * 60}, small)
    with pytest.raises(ConfigError, match="argument 1"):
        check_startable(["agent", "z" * 70], {}, small)
    # surrogateescape'd bytes (an inherited non-UTF-8 value) are startable: they came from exec.
    check_startable(["agent"], {"RAW": os.fsdecode(b"\xff\xfe")}, small)


def test_exec_limits_follow_the_kernel() -> None:
    limits = ExecLimits.current()
    assert limits.per_string == 32 * os.sysconf("SC_PAGESIZE")
    assert 0 < limits.total < min(os.sysconf("SC_ARG_MAX"), 6 * 1024 * 1024)
