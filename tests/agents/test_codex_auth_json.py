"""``CODEX_AUTH_JSON`` (``agents/codex.py``): the workspace's own codex login,
carried as a variable, checked, and written to auth.json in a private
``CODEX_HOME`` made fresh for the agent (0700/0600, its uid's with
``--user``, beside the judged image config.toml) that exec, check (which
writes nothing), supervise and audit agree on; never a directory someone
else made or could swap, and removed once its agent is gone. (Issues 9 and
19.2-19.3.)

The launcher cases run the installed launcher as a subprocess in local mode
with a fresh HOME, working directory and private XDG_RUNTIME_DIR, and grep
all of its output for the fake secrets. The real CLI is in tests/e2e.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import (
    AGENT_UID,
    FILE_KEY,
    FILE_TOKEN,
    MARKER,
    as_uid,
    assert_no_secret,
    child_env_dump,
    launcher_path,
    parse_env_dump,
    write_env_file,
    write_file,
)

from launcher.agents import codex
from launcher.errors import BundleInvalidError, ConfigError
from launcher.values import fingerprint

SECRETS = (FILE_KEY, FILE_TOKEN)


# -- validation and the private CODEX_HOME, in-process ---------------------------------------


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("x" * (codex.MAX_AUTH_JSON_BYTES + 1), "bytes, more than"),
        (f"{{{FILE_KEY}", "not JSON"),
        (json.dumps([FILE_KEY]), "expected a JSON object"),
        (json.dumps({"auth_mode": "apikey", "OPENAI_API_KEY": ""}), "neither an API key"),
        (json.dumps({"tokens": {"account_id": FILE_KEY}}), "neither an API key"),
    ],
)
def test_codex_auth_json_variable_is_validated(value, why):
    with pytest.raises(BundleInvalidError) as err:
        codex.validate_auth_json(value)
    assert why in err.value.message
    assert err.value.message.startswith("CODEX_AUTH_JSON: ")
    assert_no_secret(str(err.value))


def test_materialise_writes_a_private_codex_home(tmp_path):
    value = codex.validate_auth_json(json.dumps({"auth_mode": "apikey", "OPENAI_API_KEY": FILE_KEY}))
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    image = tmp_path / "image-codex"
    write_file(image / "config.toml", 'model = "gpt-5"\n')
    write_file(image / ".env", "RUST_LOG=info\n")
    write_file(image / "auth.json", "{}")
    pending = codex.pending_auth(value, {"XDG_RUNTIME_DIR": str(runtime), "CODEX_HOME": str(image)})
    assert pending.image_home == image
    assert MARKER not in repr(pending)
    written = pending.write()
    assert written.codex_home.parent == runtime == pending.codex_home.parent
    assert written.codex_home.name.startswith(f"agent-launcher-codex-{os.getuid()}-")
    assert len(written.codex_home.name) == len(pending.codex_home.name), "check's planned name has the made length"
    assert stat.S_IMODE(written.codex_home.stat().st_mode) == 0o700
    assert stat.S_IMODE(written.auth_json.stat().st_mode) == 0o600
    assert written.auth_json.read_text() == value
    # The agent keeps its configuration; never the image's .env or auth.json.
    # .pid-N: the process that will become the agent (exec keeps the PID).
    assert sorted(p.name for p in written.codex_home.iterdir()) == [f".pid-{os.getpid()}", "auth.json", "config.toml"]
    assert stat.S_IMODE((written.codex_home / "config.toml").stat().st_mode) == 0o600
    # Every write makes a new directory; only a refresh's reuse of the running
    # child's, unchanged, keeps one (supervise compares environments).
    again = pending.write()
    assert again.codex_home != written.codex_home
    assert pending.write(reuse=written.codex_home) == written
    # What codex writes there itself keeps the directory (else every refresh
    # of a real codex would restart it, attack pass on issue 21).
    (written.codex_home / "history.jsonl").write_text("{}\n")
    (written.codex_home / "sessions").mkdir()
    assert pending.write(reuse=written.codex_home) == written
    (written.codex_home / "config.toml").write_text('model_provider = "elsewhere"\n')
    assert pending.write(reuse=written.codex_home).codex_home not in (written.codex_home, again.codex_home)


def test_materialise_never_adopts_a_directory_it_did_not_make(tmp_path):
    """Issue 19.2: whatever stands in the parent under the launcher's prefix
    (a symlink, a directory of another mode or owner, the name the launcher
    used to compute) is never written into nor reused."""
    value = json.dumps({"OPENAI_API_KEY": FILE_KEY})
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    planned = codex.private_home({"XDG_RUNTIME_DIR": str(runtime)})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    squat_link = runtime / f"agent-launcher-codex-{os.getuid()}-{fingerprint(value)}"
    squat_link.symlink_to(elsewhere)
    open_dir = runtime / f"agent-launcher-codex-{os.getuid()}-open"
    open_dir.mkdir()
    open_dir.chmod(0o755)
    (open_dir / "auth.json").write_text(value)
    for reuse in (None, squat_link, open_dir, elsewhere):
        written = codex.materialise(value, planned, reuse=reuse)
        assert written.codex_home not in (squat_link, open_dir, elsewhere)
        assert written.codex_home.parent == runtime and not written.codex_home.is_symlink()
    assert list(elsewhere.iterdir()) == []
    assert sorted(p.name for p in open_dir.iterdir()) == ["auth.json"]


def test_materialise_for_a_user_gives_the_agent_its_own_private_home(as_root, tmp_path):
    """A root launcher with --user writes auth.json for the agent's uid: the
    directory and file are the agent's (0700/0600), named for its uid, and a
    refresh with the same content keeps them."""
    value = json.dumps({"OPENAI_API_KEY": FILE_KEY})
    runtime = tmp_path / "run"  # the agent's own runtime directory, as a login would make it
    runtime.mkdir(mode=0o700)
    os.chown(runtime, AGENT_UID, AGENT_UID)
    pending = codex.pending_auth(value, {"XDG_RUNTIME_DIR": str(runtime)}, (AGENT_UID, AGENT_UID))
    assert pending.codex_home.parent == runtime
    assert pending.codex_home.name.startswith(f"agent-launcher-codex-{AGENT_UID}-")
    written = pending.write()
    for _ in range(2):
        home, auth = os.stat(written.codex_home), os.stat(written.auth_json)
        assert (home.st_uid, home.st_gid, home.st_mode & 0o777) == (AGENT_UID, AGENT_UID, 0o700)
        assert (auth.st_uid, auth.st_gid, auth.st_mode & 0o777) == (AGENT_UID, AGENT_UID, 0o600)
        written = pending.write(reuse=written.codex_home)  # a refresh keeps the agent's unchanged directory


def test_private_home_avoids_a_runtime_dir_others_can_enter(tmp_path):
    import tempfile

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    assert codex.private_home_parent({"XDG_RUNTIME_DIR": str(shared)}) == Path(tempfile.gettempdir())
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    assert codex.private_home_parent({"XDG_RUNTIME_DIR": str(private)}) == private


def test_stale_private_homes_of_dead_processes_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    mine = f"agent-launcher-codex-{os.getuid()}-"
    stale = tmp_path / f"{mine}aaaa"
    live = tmp_path / f"{mine}bbbb"
    unknown = tmp_path / f"{mine}cccc"  # no record: left alone
    other_user = tmp_path / f"agent-launcher-codex-{os.getuid() + 1}-dddd"
    for d in (stale, live, unknown, other_user):
        d.mkdir()
        (d / "auth.json").write_text("{}")
    (stale / f".pid-{int(dead.stdout)}").touch()
    (live / f".pid-{int(dead.stdout)}").touch()
    (live / f".pid-{os.getppid()}").touch()
    (other_user / f".pid-{int(dead.stdout)}").touch()
    codex.remove_stale(tmp_path)
    assert not stale.exists()
    assert live.exists() and unknown.exists() and other_user.exists()


def test_materialise_never_writes_through_a_swapped_name(tmp_path, monkeypatch):
    """Attack pass on issue 19: the parent can be the agent's own
    ($XDG_RUNTIME_DIR), so the agent can swap the new directory's name for a
    link to elsewhere between two calls by path. Everything after mkdtemp
    goes through one descriptor opened without following links: a swapped
    name fails the launch, and nothing is written where the link points."""
    import tempfile

    value = json.dumps({"OPENAI_API_KEY": FILE_KEY})
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.mkdir()
    real_mkdtemp = tempfile.mkdtemp

    def swapped(*args, **kwargs):  # the agent wins the race right after mkdir
        made = real_mkdtemp(*args, **kwargs)
        os.rename(made, made + ".moved")
        os.symlink(victim, made)
        return made

    monkeypatch.setattr(tempfile, "mkdtemp", swapped)
    with pytest.raises(ConfigError):
        codex.materialise(value, codex.private_home({"XDG_RUNTIME_DIR": str(runtime)}))
    assert list(victim.iterdir()) == []


# -- through the launcher (local mode) ----------------------------------------------


def _local_env(tmp_path: Path, **env: str) -> dict[str, str]:
    """A launcher's environment: HOME, a private XDG_RUNTIME_DIR (where the
    private CODEX_HOME goes) and a working directory, all under tmp_path."""
    (tmp_path / "work").mkdir(exist_ok=True)
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path / "home"),
        "XDG_RUNTIME_DIR": str(runtime),
        **env,
    }


def _launcher(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full, work = _local_env(tmp_path, **env), tmp_path / "work"
    proc = subprocess.run(
        [launcher_path(), *args], env=full, cwd=work, capture_output=True, text=True, timeout=30, check=False
    )
    assert_no_secret(proc.stderr, SECRETS)
    return proc


AUTH = json.dumps({"auth_mode": "apikey", "OPENAI_API_KEY": FILE_KEY})


def test_exec_materialises_the_workspace_codex_auth_json(tmp_path):
    own = write_env_file(tmp_path / "own.env", CODEX_AUTH_JSON=AUTH)
    args = ("exec", "--billing-mode", "byok", "--provider", "codex", "--agent", "codex", "--env-file", own)
    proc = _launcher(tmp_path, *args, "--", *child_env_dump(), CODEX_API_KEY=FILE_TOKEN)
    assert proc.returncode == 0, proc.stderr[-2000:]
    child = parse_env_dump(proc.stdout)
    assert "CODEX_AUTH_JSON" not in child and "CODEX_API_KEY" not in child
    home = Path(child["CODEX_HOME"])
    assert home.parent == tmp_path / "run"
    assert (home / "auth.json").read_text() == AUTH
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert not (tmp_path / "home" / ".codex").exists()


def test_check_says_what_exec_would_write_and_writes_nothing(tmp_path):
    own = write_env_file(tmp_path / "own.env", CODEX_AUTH_JSON=AUTH)
    proc = _launcher(
        tmp_path,
        "check",
        "--json",
        "--billing-mode",
        "byok",
        "--provider",
        "codex",
        "--env-file",
        own,
        "--agent",
        "codex",
    )
    assert_no_secret(proc.stdout, SECRETS)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert (report["agent"], report["decision"], report["usable_credentials"]) == (
        "codex",
        "launch",
        ["CODEX_AUTH_JSON"],
    )
    keys = {k["key"]: k for k in report["keys"]}
    assert keys["CODEX_AUTH_JSON"]["action"] == "keep"
    assert "written to auth.json" in keys["CODEX_AUTH_JSON"]["reason"]
    assert keys["CODEX_AUTH_JSON"]["fingerprint"] == fingerprint(AUTH)
    assert keys["CODEX_HOME"]["source"].startswith("launcher")
    assert list((tmp_path / "run").iterdir()) == []


def test_a_pre_existing_auth_json_is_foreign_even_when_the_workspace_brings_its_own(tmp_path):
    write_file(tmp_path / "home/.codex/auth.json", json.dumps({"OPENAI_API_KEY": FILE_TOKEN}))
    own = write_env_file(tmp_path / "own.env", CODEX_AUTH_JSON=AUTH)
    args = ("exec", "--billing-mode", "byok", "--provider", "codex", "--env-file", own)
    proc = _launcher(tmp_path, *args, "--", "codex")
    assert proc.returncode == 78, proc.stderr[-2000:]
    assert "FOREIGN_AGENT_CREDENTIAL" in proc.stderr
    assert "home/.codex/auth.json: OPENAI_API_KEY" in proc.stderr
    assert list((tmp_path / "run").iterdir()) == []


def test_an_invalid_codex_auth_json_is_bundle_invalid_in_check_and_exec(tmp_path):
    own = write_env_file(tmp_path / "own.env", CODEX_AUTH_JSON=f"{{{FILE_KEY}")
    for sub in ("check", "exec"):
        proc = _launcher(tmp_path, sub, "--billing-mode", "byok", "--env-file", own, "--", "codex")
        assert_no_secret(proc.stdout, SECRETS)
        assert proc.returncode == 65, proc.stderr[-2000:]
        assert "BUNDLE_INVALID: CODEX_AUTH_JSON: not JSON" in proc.stderr


def test_a_foreign_codex_auth_json_is_stripped_and_nothing_written(tmp_path):
    glob = tmp_path / "global.env"
    glob.write_text(f"CODEX_AUTH_JSON='{AUTH}'\n")
    args = ("exec", "--billing-mode", "disabled", "--agent", "codex", "--global-env-file", str(glob))
    proc = _launcher(tmp_path, *args, "--", *child_env_dump())
    assert proc.returncode == 0, proc.stderr[-2000:]
    child = parse_env_dump(proc.stdout)
    assert "CODEX_AUTH_JSON" not in child and "CODEX_HOME" not in child
    assert list((tmp_path / "run").iterdir()) == []


def test_another_agent_gets_codex_auth_json_as_a_variable(tmp_path):
    own = write_env_file(tmp_path / "own.env", CODEX_AUTH_JSON=AUTH)
    args = ("exec", "--billing-mode", "byok", "--agent", "generic", "--env-file", own)
    proc = _launcher(tmp_path, *args, "--", *child_env_dump())
    assert proc.returncode == 0, proc.stderr[-2000:]
    child = parse_env_dump(proc.stdout)
    assert child["CODEX_AUTH_JSON"] == AUTH and "CODEX_HOME" not in child


def test_supervise_materialises_too_and_removes_it_when_the_agent_is_gone(tmp_path):
    own = write_env_file(tmp_path / "own.env", CODEX_AUTH_JSON=AUTH)
    args = ("supervise", "--billing-mode", "byok", "--provider", "codex", "--agent", "codex", "--env-file", own)
    # The child reports its environment and a fingerprint of the auth.json it was given.
    report = (
        "import hashlib, os\n"
        "for k, v in sorted(os.environ.items()): print(f'{k}={v}')\n"
        "auth = open(os.path.join(os.environ['CODEX_HOME'], 'auth.json'), 'rb').read()\n"
        "print('AUTH_FINGERPRINT=' + hashlib.sha256(auth).hexdigest()[:8])\n"
    )
    proc = _launcher(tmp_path, *args, "--", sys.executable, "-c", report)
    assert proc.returncode == 0, proc.stderr[-2000:]
    child = parse_env_dump(proc.stdout)
    assert "CODEX_AUTH_JSON" not in child
    assert child["AUTH_FINGERPRINT"] == fingerprint(AUTH)
    assert Path(child["CODEX_HOME"]).parent == tmp_path / "run"
    assert list((tmp_path / "run").iterdir()) == [], "the private CODEX_HOME outlived supervise"


def test_audit_knows_the_agent_s_private_codex_home_as_own(tmp_path):
    """The running agent holds CODEX_HOME (an LLM key: relocation); audit,
    another process, computes the same private CODEX_HOME and calls it own."""
    own = write_env_file(tmp_path / "own.env", CODEX_AUTH_JSON=AUTH)
    common = ("--billing-mode", "byok", "--provider", "codex", "--agent", "codex", "--env-file", own)
    env, work = _local_env(tmp_path), tmp_path / "work"
    ready = tmp_path / "ready"
    sleeper = [sys.executable, "-c", f"import pathlib, time; pathlib.Path({str(ready)!r}).touch(); time.sleep(30)"]
    agent = subprocess.Popen([launcher_path(), "exec", *common, "--", *sleeper], env=env, cwd=work)
    try:
        for _ in range(200):
            if ready.exists() or agent.poll() is not None:
                break
            time.sleep(0.05)
        assert ready.exists(), "the agent did not start"
        audit = subprocess.run(
            [launcher_path(), "audit", "--json", *common, "--pid", str(agent.pid)],
            env=env,
            cwd=work,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        agent.kill()
        agent.wait(timeout=10)
    assert_no_secret(audit.stdout + audit.stderr, SECRETS)
    assert audit.returncode == 0, audit.stdout[-2000:] + audit.stderr[-2000:]
    report = json.loads(audit.stdout)
    verdicts = {f["key"]: f["verdict"] for f in report["findings"]}
    # (and the metadata fallbacks the launcher closed in the agent's environment, issue 18)
    closed = {c.name: "own" for c in __import__("launcher.catalogue").catalogue.load_catalogue().closers}
    assert verdicts == {"CODEX_HOME": "own", **closed}


def test_another_users_premade_codex_home_is_never_adopted(as_root, shared, tmp_path):
    """Issue 19.2 and 19.3: under a shared temp directory, another uid makes
    the directory the launcher used to compute for the agent's user (once
    with its own config.toml pointing codex elsewhere, once with a mode exec
    refused). A root launcher with --user makes a fresh one of its own
    instead, leaves the squatter's alone, and check exits as exec does."""
    shared.chmod(0o1777)  # as /tmp is
    squatted = shared / f"agent-launcher-codex-10002-{fingerprint(AUTH)}"
    hostile = 'model_provider = "squatter"\n[model_providers.squatter]\nbase_url = "http://127.0.0.1:9/v1"\n'
    squat = (
        f"import os, sys; os.mkdir({str(squatted)!r}, int(sys.argv[1], 8));"
        f"open({str(squatted / 'config.toml')!r}, 'w').write({hostile!r})"
    )
    own = write_env_file(tmp_path / "own.env", CODEX_AUTH_JSON=AUTH)
    flags = ("--billing-mode", "byok", "--provider", "codex", "--agent", "codex", "--env-file", own)
    flags += ("--user", "10002:10002")
    child = ["sh", "-c", 'echo "$CODEX_HOME"; ls -A "$CODEX_HOME"']
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path / "home"), "TMPDIR": str(shared)}
    for mode in ("700", "755"):
        shutil.rmtree(squatted, ignore_errors=True)
        made = subprocess.run(
            [*as_uid(AGENT_UID), sys.executable, "-c", squat, mode],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        runs = {}
        for command in ("check", "exec"):
            runs[command] = subprocess.run(
                [launcher_path(), command, *flags, "--", *child],
                env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
            assert_no_secret(runs[command].stdout + runs[command].stderr, SECRETS)
        assert runs["check"].returncode == runs["exec"].returncode == 0, runs["exec"].stderr
        home, *listing = runs["exec"].stdout.split()
        assert Path(home) != squatted and Path(home).parent == shared
        assert sorted(listing) == [".pid-" + listing[0][5:], "auth.json"], "the image had no config.toml"
        st = os.lstat(home)
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (10002, 0o700)
        squat_st = os.lstat(squatted)
        assert squat_st.st_uid == AGENT_UID, "the squatter's directory was taken over"
        assert sorted(p.name for p in squatted.iterdir()) == ["config.toml"]
        assert (squatted / "config.toml").read_text() == hostile
        shutil.rmtree(home)


def test_a_user_never_gets_a_config_it_could_not_read_or_that_was_not_judged(as_root, shared, tmp_path):
    """Attack pass on issue 19: a root launcher with --user copied the image's
    config.toml from root's own HOME (not the user's, whose files were
    judged), and followed a link to a root-only file. Now the copy is the
    judged file, and only one the user could read itself."""
    shared.chmod(0o755)
    root_home = shared / "roothome"
    write_file(
        root_home / ".codex" / "config.toml", f'[model_providers.p]\nexperimental_bearer_token = "{FILE_TOKEN}"\n'
    )
    secret = shared / "token"
    secret.write_text(f"{FILE_TOKEN}\n")
    secret.chmod(0o600)
    agent_codex_home = shared / "agent-codex"
    agent_codex_home.mkdir()
    (agent_codex_home / "config.toml").symlink_to(secret)
    os.chown(agent_codex_home, AGENT_UID, AGENT_UID)
    # Attack pass on issue 21: world-readable, but in a directory the user
    # cannot search (a 0644 token file in a root-only directory).
    locked = shared / "locked"
    locked.mkdir(mode=0o700)
    behind = write_file(locked / "config.toml", f'[model_providers.p]\nexperimental_bearer_token = "{FILE_TOKEN}"\n')
    behind.chmod(0o644)
    behind_home = shared / "agent-codex-behind"
    behind_home.mkdir()
    (behind_home / "config.toml").symlink_to(behind)
    os.chown(behind_home, AGENT_UID, AGENT_UID)
    own = write_env_file(tmp_path / "own.env", CODEX_AUTH_JSON=AUTH)
    flags = ("--provider", "codex", "--agent", "codex", "--env-file", own, "--user", f"{AGENT_UID}:{AGENT_UID}")
    child = ["sh", "-c", 'ls -A "$CODEX_HOME"; cat "$CODEX_HOME/config.toml" 2>/dev/null; true']
    path = os.environ.get("PATH", "/usr/bin:/bin")
    cases = {
        "byok, the launcher's HOME": ("byok", {"PATH": path, "HOME": str(root_home)}),
        "platform_managed, a linked config": (
            "platform_managed",
            {"PATH": path, "CODEX_HOME": str(agent_codex_home)},
        ),
        "platform_managed, a readable file behind a locked directory": (
            "platform_managed",
            {"PATH": path, "CODEX_HOME": str(behind_home)},
        ),
    }
    for label, (mode, env) in cases.items():
        runs = {}
        for command in ("check", "exec"):
            runs[command] = subprocess.run(
                [launcher_path(), command, "--billing-mode", mode, *flags, "--", *child],
                env=env, cwd=shared, capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
            assert_no_secret(runs[command].stdout + runs[command].stderr, SECRETS)
        assert runs["check"].returncode == runs["exec"].returncode == 0, (label, runs["exec"].stderr)
        assert "config.toml" not in runs["exec"].stdout.split(), label
