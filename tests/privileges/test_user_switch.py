"""``--user`` (and ``LAUNCHER_USER``): the launcher starts as root, reads the
token and the platform, and only the agent runs as the user, for good:
with its groups, no way back to root, ``no_new_privs``, a root-only token
file out of its reach, its passwd HOME unless a source sets one. Anything
that would leave the switch undone (a bad spec, a non-root launcher, a
kernel that refuses it, a command only root may run) is refused in
``check`` as in ``exec`` and ``supervise``, before anything starts.
(``privileges.py``; issue 10.)
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from support import (
    AGENT_UID,
    AS_AGENT,
    DENIED,
    OWN_API_KEY,
    ROTATED_API_KEY,
    TIMEOUT,
    WORKSPACE_TOKEN,
    assert_nothing_stolen,
    assert_parent_unreadable,
    base_env,
    json_lines,
    launcher_path,
    planted_env,
    platform_args,
    probe,
    require_unshare,
    rotate_and_wait_for_the_restart,
    run_launcher,
    unavailable,
    write_file,
)

from launcher.values import fingerprint


@pytest.fixture
def root_token_file(shared: Path) -> Path:
    """The token in a root-owned 0600 file, as a Docker secret mount would be."""
    path = write_file(shared / "auth_token", WORKSPACE_TOKEN + "\n", mode=0o600)
    assert path.stat().st_uid == 0 and stat.S_IMODE(path.stat().st_mode) == 0o600
    return path


def test_exec_user_numeric_drops_for_good(as_root: None, shared: Path, platform, root_token_file: Path) -> None:  # type: ignore[no-untyped-def]
    with platform.state.lock:
        platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    argv, out = probe(shared, token_file=root_token_file)
    result = run_launcher(
        "exec", *platform_args(platform), "--token-file", str(root_token_file), "--user", f"{AGENT_UID}:{AGENT_UID}",
        "--", *argv,
        env=base_env(HOME="/root", USER="root"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (record,) = json_lines(out)
    assert (record["uid"], record["gid"], record["groups"]) == (AGENT_UID, AGENT_UID, [AGENT_UID])
    assert record["regained_root"] is False and record["no_new_privs"] == "1"
    assert record["token_file"] in DENIED, "a root-only token file must be out of the agent's reach"
    assert record["key"] == fingerprint(OWN_API_KEY), "the platform was read before the drop"
    # No passwd entry for 10001: HOME is "/" (su-exec's choice), root's USER is not passed on.
    assert record["home"] == "/" and record["user"] is None
    assert_nothing_stolen(out)


def test_exec_user_by_name_gets_its_home_unless_a_source_sets_one(as_root: None, shared: Path) -> None:
    nobody = _nobody()
    argv, out = probe(shared)
    result = run_launcher("exec", "--user", "nobody", "--", *argv, env=base_env(HOME="/root", USER="root"))
    assert result.returncode == 0, result.stderr
    chosen = write_file(shared / "home.env", "HOME=/srv/agent-home\n")
    result = run_launcher(
        "exec", "--user", "nobody", "--env-file", str(chosen), "--", *argv, env=base_env(HOME="/root")
    )
    assert result.returncode == 0, result.stderr
    by_passwd, by_file = json_lines(out)
    assert (by_passwd["uid"], by_passwd["home"], by_passwd["user"], by_passwd["logname"]) == (
        nobody.pw_uid, nobody.pw_dir, "nobody", "nobody"
    )  # fmt: skip
    assert by_passwd["groups"] == sorted(set(os.getgrouplist("nobody", nobody.pw_gid)))
    assert by_file["home"] == "/srv/agent-home", "a HOME the operator chose wins over the passwd entry"


def test_launcher_user_variable_is_the_same_as_the_flag(as_root: None, shared: Path) -> None:
    argv, out = probe(shared)
    result = run_launcher("exec", "--", *argv, env=base_env(LAUNCHER_USER=f"{AGENT_UID}:{AGENT_UID}"))
    assert result.returncode == 0, result.stderr
    assert json_lines(out)[0]["uid"] == AGENT_UID


def test_supervise_user_children_cannot_read_the_parent_or_the_token(
    as_root: None,
    shared: Path,
    platform,  # type: ignore[no-untyped-def]
    root_token_file: Path,
    background,  # type: ignore[no-untyped-def]
) -> None:
    with platform.state.lock:
        platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    argv, out = probe(shared, stay=True, token_file=root_token_file)
    run = background(
        [launcher_path(), "supervise", *platform_args(platform), "--token-file", str(root_token_file),
         "--user", f"{AGENT_UID}:{AGENT_UID}", "--refresh", "0.3", "--stop-timeout", "3", "--", *argv],
        planted_env(),
    )  # fmt: skip
    rotate_and_wait_for_the_restart(platform, out, "the child restarted after the rotation (the parent kept root)")
    for record in json_lines(out):
        assert (record["uid"], record["gid"], record["groups"]) == (AGENT_UID, AGENT_UID, [AGENT_UID])
        assert record["regained_root"] is False and record["no_new_privs"] == "1"
        assert record["token_file"] in DENIED
        assert_parent_unreadable(record)
    assert json_lines(out)[1]["key"] == fingerprint(ROTATED_API_KEY)
    assert_nothing_stolen(out)
    assert run.stop() == 0


@pytest.mark.parametrize(
    "spec",
    ["root", "0", "0:0", f"{AGENT_UID}:0", "nobody:root", str(AGENT_UID), "no-such-user-here", "nobody:no-such-group",
     "", " ", ":", f"{AGENT_UID}:", "4294967295:1", "nobody:nogroup:x"],
)  # fmt: skip
def test_bad_user_is_config_invalid_in_exec_and_check(as_root: None, tmp_path: Path, spec: str) -> None:
    marker = tmp_path / "started"
    for command in ("exec", "check", "supervise"):
        result = run_launcher(command, "--user", spec, "--", "touch", str(marker), env=base_env())
        assert result.returncode == 64, (command, result.stderr)
        assert "CONFIG_INVALID" in result.stderr
    assert not marker.exists()


def test_user_needs_a_root_launcher(as_root: None, shared: Path) -> None:
    marker = shared / "started"
    for command in ("exec", "check", "supervise"):
        for how in (["--user", "nobody"], []):
            env = base_env() if how else base_env(LAUNCHER_USER="nobody")
            result = run_launcher(command, *how, "--", "touch", str(marker), env=env, timeout=TIMEOUT, prefix=AS_AGENT)
            assert result.returncode == 64, (command, how, result.stderr[-2000:])
            assert "needs the launcher to start as root" in result.stderr
    assert not marker.exists()
    # audit starts nothing: LAUNCHER_USER in the image's environment does not stop it.
    audit = run_launcher(
        "audit", "--pid", str(os.getpid()), env=base_env(LAUNCHER_USER="nobody"), timeout=TIMEOUT, prefix=AS_AGENT
    )
    assert audit.returncode == 0, audit.stderr[-2000:]


def test_a_drop_the_kernel_refuses_is_config_invalid_in_check_exec_and_supervise(tmp_path: Path) -> None:
    """Root of a user namespace that maps no other uid passes the root check,
    but the switch itself fails: check says so as exec and supervise do."""
    user_ns = ("unshare", "--user", "--map-root-user")
    require_unshare(*user_ns[1:])
    marker = tmp_path / "started"
    for command in ("check", "exec", "supervise"):
        result = run_launcher(
            command, "--user", f"{AGENT_UID}:{AGENT_UID}", "--", "touch", str(marker), timeout=TIMEOUT, prefix=user_ns
        )
        assert result.returncode == 64, (command, result.stderr[-2000:])
        assert "cannot switch to --user" in result.stderr
    result = run_launcher("check", "--user", f"{AGENT_UID}:{AGENT_UID}", timeout=TIMEOUT, prefix=user_ns)
    assert result.returncode == 64, "check without a command still proves the drop works"
    assert not marker.exists()


def test_check_resolves_the_command_as_the_user_would(as_root: None, shared: Path) -> None:
    root_only = write_file(shared / "root-only.sh", "#!/bin/sh\nexit 0\n", mode=0o700)
    for command in ("check", "exec"):
        result = run_launcher(command, "--user", f"{AGENT_UID}:{AGENT_UID}", "--", str(root_only), env=base_env())
        assert result.returncode == 126, (command, result.stderr)
        assert "COMMAND_NOT_EXECUTABLE" in result.stderr
    result = run_launcher("supervise", "--user", f"{AGENT_UID}:{AGENT_UID}", "--", str(root_only), env=base_env())
    assert result.returncode == 126, result.stderr
    assert run_launcher("check", "--", str(root_only), env=base_env()).returncode == 0  # root may run it


def test_a_command_behind_a_directory_the_user_cannot_search_is_126(as_root: None, shared: Path) -> None:
    """As execvp and execve report it (EACCES, 126), on PATH and as a path:
    the file is there, the user cannot reach it (a name behind such a
    directory may be there: execvp says EACCES too). A name found nowhere,
    every directory searchable, is still 127."""
    locked = shared / "locked"
    locked.mkdir(mode=0o700)
    write_file(locked / "agent-x", "#!/bin/sh\nexit 0\n", mode=0o755)
    env = base_env(PATH=f"{locked}:/usr/bin:/bin")
    for command in ("check", "exec"):
        for target in ("agent-x", str(locked / "agent-x")):
            result = run_launcher(command, "--user", f"{AGENT_UID}:{AGENT_UID}", "--", target, env=env)
            assert (result.returncode, "COMMAND_NOT_EXECUTABLE" in result.stderr) == (126, True), (
                target,
                result.stderr,
            )
            assert str(locked) not in result.stderr or target != "agent-x", "a PATH entry is not echoed"
    result = run_launcher("check", "--user", f"{AGENT_UID}:{AGENT_UID}", "--", "no-such-agent", env=env)
    assert result.returncode == 126, result.stderr
    searchable = base_env(PATH="/usr/bin:/bin")
    result = run_launcher("check", "--user", f"{AGENT_UID}:{AGENT_UID}", "--", "no-such-agent", env=searchable)
    assert result.returncode == 127, result.stderr
    assert run_launcher("check", "--", "agent-x", env=env).returncode == 0  # root may search it


def _nobody():  # type: ignore[no-untyped-def]
    import pwd

    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        unavailable("needs a 'nobody' user in /etc/passwd")
