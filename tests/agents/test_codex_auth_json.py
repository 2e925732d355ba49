"""Issue 9: the codex and gemini-cli profiles (data/agents/*.json) and the
CODEX_AUTH_JSON writer.

Profile cases read real files in tmp_path through ``agentfiles.scan``; the
launcher cases run the installed launcher as a subprocess in local mode with
a fresh HOME and working directory, and grep all of its output for the fake
secrets. The real CLIs are in tests/e2e.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import (
    MARKER,
    assert_no_secret,
    child_env_dump,
    expect_secret,
    launcher_path,
    parse_env_dump,
    require_unshare,
    unavailable,
)

from launcher.agents import codex
from launcher.agents.profiles import profile
from launcher.agents.scan import AgentFinding, OwnFiles, scan
from launcher.catalogue import load_catalogue
from launcher.errors import BundleInvalidError, ConfigError
from launcher.values import fingerprint

KEY = f"sk-proj-{MARKER}-unit"
TOKEN = f"tok-{MARKER}-unit"
SECRETS = (KEY, TOKEN)


def _scan(agent: str, env: dict[str, str], cwd: Path, own: tuple[Path, ...] = ()) -> list[AgentFinding]:
    return list(scan(profile(agent), env, cwd, OwnFiles.of(own), load_catalogue().is_llm_key))


def _fields(found: list[AgentFinding], root: Path) -> list[tuple[str, str | None]]:
    return [(str(Path(f.path).relative_to(root)), f.field) for f in found]


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# -- codex profile ---------------------------------------------------------------


def test_codex_auth_json_both_forms(tmp_path):
    home = tmp_path / "home"
    auth = _write(home / ".codex/auth.json", json.dumps({"auth_mode": "apikey", "OPENAI_API_KEY": KEY}))
    found = _scan("codex", {"HOME": str(home)}, tmp_path)
    assert _fields(found, tmp_path) == [("home/.codex/auth.json", "OPENAI_API_KEY")]
    assert found[0].fingerprint == fingerprint(KEY) and found[0].verdict == "foreign"
    assert MARKER not in repr(found)

    tokens = {"id_token": "i", "access_token": TOKEN, "refresh_token": "r", "account_id": "acct"}
    auth.write_text(json.dumps({"OPENAI_API_KEY": None, "tokens": tokens}))
    assert [f.field for f in _scan("codex", {"HOME": str(home)}, tmp_path)] == [
        "tokens.access_token",
        "tokens.refresh_token",
        "tokens.id_token",
    ]
    # Declared the workspace's own, it stands for CODEX_AUTH_JSON.
    own = _scan("codex", {"HOME": str(home)}, tmp_path, own=(auth,))
    assert {(f.verdict, f.counts_as) for f in own} == {("own", "CODEX_AUTH_JSON")}


def test_codex_home_relocates_auth_env_and_config(tmp_path):
    home, moved = tmp_path / "home", tmp_path / "moved"
    _write(home / ".codex/auth.json", json.dumps({"OPENAI_API_KEY": KEY}))
    _write(moved / ".env", f"OPENAI_API_KEY={KEY}\nRUST_LOG=debug\nCODEX_API_KEY={TOKEN}\n")
    found = _scan("codex", {"HOME": str(home), "CODEX_HOME": str(moved)}, tmp_path)
    assert _fields(found, tmp_path) == [("moved/.env", "OPENAI_API_KEY"), ("moved/.env", "CODEX_API_KEY")]


def test_codex_config_toml_provider_credentials(tmp_path):
    home = tmp_path / "home"
    _write(
        home / ".codex/config.toml",
        f"""
model_provider = "corp"
[model_providers.corp]
base_url = "http://127.0.0.1:1/v1"
experimental_bearer_token = "{KEY}"
http_headers = {{ "Authorization" = "Bearer {TOKEN}" }}
env_http_headers = {{ "X-Api-Key" = "CORP_KEY", "X-Trace" = "UNSET_VAR" }}
[model_providers.gated]
env_key = "OPENAI_API_KEY"
[model_providers.helper]
auth = {{ command = "/usr/local/bin/print-key", args = ["--raw"] }}
[model_providers.ungated]
env_key = "OTHER_LLM_KEY"
""",
    )
    env = {"HOME": str(home), "CORP_KEY": TOKEN, "OTHER_LLM_KEY": KEY, "OPENAI_API_KEY": KEY}
    found = _scan("codex", env, tmp_path)
    assert [(f.field, f.helper) for f in found] == [
        ("model_providers.corp.experimental_bearer_token", False),
        ("model_providers.corp.http_headers.Authorization", False),
        ("model_providers.corp.env_http_headers.X-Api-Key (CORP_KEY)", False),
        ("model_providers.ungated.env_key (OTHER_LLM_KEY)", False),
        ("model_providers.helper.auth.command", True),
    ]
    # The variable's value is what is fingerprinted; a catalogued variable
    # (OPENAI_API_KEY) is the gate's, and an unset one is nothing.
    assert found[2].fingerprint == fingerprint(TOKEN)
    del env["OTHER_LLM_KEY"]
    assert "model_providers.ungated.env_key (OTHER_LLM_KEY)" not in [f.field for f in _scan("codex", env, tmp_path)]


def test_codex_config_toml_invalid_is_unreadable(tmp_path):
    _write(tmp_path / "home/.codex/config.toml", "[model_providers.x\n")
    (found,) = _scan("codex", {"HOME": str(tmp_path / "home")}, tmp_path)
    assert (found.field, found.problem) == (None, "not valid TOML")


def test_codex_system_config_files_are_in_the_profile():
    paths = [p for entry in profile("codex").files for p in entry.paths]
    assert "/etc/codex/config.toml" in paths and "/etc/codex/managed_config.toml" in paths


# -- gemini-cli profile -------------------------------------------------------------


def test_gemini_every_channel(tmp_path):
    cwd = tmp_path / "repo" / "src"
    cwd.mkdir(parents=True)
    home = tmp_path / "home"
    _write(tmp_path / "repo/.env", f"GEMINI_API_KEY={KEY}\nDEBUG=1\n")
    _write(tmp_path / "repo/src/.gemini/.env", f"GOOGLE_GEMINI_BASE_URL=http://{TOKEN}\n")
    _write(home / ".env", f"GOOGLE_API_KEY={KEY}\n")
    _write(home / ".gemini/oauth_creds.json", json.dumps({"access_token": TOKEN, "expiry_date": 1}))
    _write(home / ".gemini/gemini-credentials.json", '{"data": "c2VjcmV0"}')
    _write(home / ".gemini/settings.json", json.dumps({"security": {"auth": {"selectedType": "cloud-shell"}}}))
    _write(cwd / ".gemini/settings.json", json.dumps({"security": {"auth": {"selectedType": "gemini-api-key"}}}))
    env = {"HOME": str(home), "GEMINI_CLI_SYSTEM_SETTINGS_PATH": str(tmp_path / "none.json")}
    assert _fields(_scan("gemini-cli", env, cwd), tmp_path) == [
        ("repo/src/.gemini/.env", "GOOGLE_GEMINI_BASE_URL"),
        ("repo/.env", "GEMINI_API_KEY"),
        ("home/.env", "GOOGLE_API_KEY"),
        ("home/.gemini/gemini-credentials.json", "content"),
        ("home/.gemini/oauth_creds.json", "access_token"),
        ("home/.gemini/settings.json", "security.auth.selectedType"),
    ]


def test_gemini_cli_home_replaces_home(tmp_path):
    home, moved = tmp_path / "home", tmp_path / "moved"
    _write(home / ".env", f"GEMINI_API_KEY={KEY}\n")
    _write(moved / ".env", f"GEMINI_API_KEY={KEY}\n")
    _write(moved / ".gemini/.env", f"GOOGLE_API_KEY={KEY}\n")
    work = tmp_path / "work"
    work.mkdir()
    env = {"HOME": str(home), "GEMINI_CLI_HOME": str(moved), "GEMINI_CLI_SYSTEM_SETTINGS_PATH": "/nonexistent"}
    assert _fields(_scan("gemini-cli", env, work), tmp_path) == [
        ("moved/.gemini/.env", "GOOGLE_API_KEY"),
        ("moved/.env", "GEMINI_API_KEY"),
    ]


SERVICE_ACCOUNT = json.dumps({"type": "service_account", "client_email": "sa@p.iam", "private_key": TOKEN})
ADC = ".config/gcloud/application_default_credentials.json"


@pytest.mark.parametrize("agent", ["gemini-cli", "claude-code"])
def test_google_application_default_credentials_are_an_agent_file(tmp_path, agent):
    """google-auth's order in both bundles: the file GOOGLE_APPLICATION_CREDENTIALS
    names, else the gcloud well-known file under $HOME (Vertex AI modes)."""
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    _write(home / ADC, json.dumps({"type": "authorized_user", "client_id": "c", "refresh_token": TOKEN}))
    named = _write(tmp_path / "sa.json", SERVICE_ACCOUNT)
    quiet = {"HOME": str(home), "GEMINI_CLI_SYSTEM_SETTINGS_PATH": "/nonexistent", "CLAUDE_CONFIG_DIR": str(work)}
    assert _fields(_scan(agent, quiet, work), tmp_path) == [(f"home/{ADC}", "refresh_token")]
    env = {**quiet, "GOOGLE_APPLICATION_CREDENTIALS": str(named)}
    assert _fields(_scan(agent, env, work), tmp_path) == [("sa.json", "private_key")]
    assert _scan(agent, env, work, own=(named,))[0].verdict == "own"


def test_codex_system_and_managed_config_in_a_private_mount_namespace(tmp_path):
    """/etc/codex is absolute: written in an overlay only this namespace sees,
    and read by the launcher as codex would read it."""
    require_unshare("-m")
    overlay = tmp_path / "ov"
    overlay.mkdir()
    script = tmp_path / "ns.sh"
    script.write_text(
        "set -e\n"
        f"mount -t tmpfs t {overlay}\n"
        f"mkdir -p {overlay}/u {overlay}/w\n"
        f"mount -t overlay o -o lowerdir=/etc,upperdir={overlay}/u,workdir={overlay}/w /etc\n"
        "mkdir -p /etc/codex\n"
        f"printf '[model_providers.p]\\nexperimental_bearer_token = \"{TOKEN}\"\\n' > /etc/codex/config.toml\n"
        "printf '[model_providers.q]\\nauth.command = \"fetch-key\"\\n' > /etc/codex/managed_config.toml\n"
        'exec "$@"\n'
    )
    own = _own_env(tmp_path, CODEX_API_KEY=KEY)
    args = ("check", "--json", "--billing-mode", "byok", "--provider", "codex", "--agent", "codex", "--env-file", own)
    env, work = _local_env(tmp_path), tmp_path / "work"
    prefix = ("unshare", "-m", "--propagation", "private", "sh", str(script))
    proc = subprocess.run(
        [*prefix, launcher_path(), *args], env=env, cwd=work, capture_output=True, text=True, timeout=30, check=False
    )
    assert_no_secret(proc.stdout + proc.stderr, SECRETS)
    assert proc.returncode == 78, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    found = [(f["path"], f["field"], f["verdict"]) for f in report["agent_files"]]
    assert found == [
        ("/etc/codex/config.toml", "model_providers.p.experimental_bearer_token", "foreign"),
        ("/etc/codex/managed_config.toml", "model_providers.q.auth.command", "foreign"),
    ]
    assert not Path("/etc/codex/config.toml").exists(), "the overlay leaked out of its namespace"


# -- CODEX_AUTH_JSON: validation and the private CODEX_HOME ------------------------------


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("x" * (codex.MAX_AUTH_JSON_BYTES + 1), "bytes, more than"),
        (f"{{{KEY}", "not JSON"),
        (json.dumps([KEY]), "expected a JSON object"),
        (json.dumps({"auth_mode": "apikey", "OPENAI_API_KEY": ""}), "neither an API key"),
        (json.dumps({"tokens": {"account_id": KEY}}), "neither an API key"),
    ],
)
def test_codex_auth_json_variable_is_validated(value, why):
    with pytest.raises(BundleInvalidError) as err:
        codex.validate_auth_json(value)
    assert why in err.value.message
    assert err.value.message.startswith("CODEX_AUTH_JSON: ")
    assert_no_secret(str(err.value))


def test_materialise_writes_a_private_codex_home(tmp_path):
    value = codex.validate_auth_json(json.dumps({"auth_mode": "apikey", "OPENAI_API_KEY": KEY}))
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    image = tmp_path / "image-codex"
    _write(image / "config.toml", 'model = "gpt-5"\n')
    _write(image / ".env", "RUST_LOG=info\n")
    _write(image / "auth.json", "{}")
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
    (written.codex_home / "config.toml").write_text('model_provider = "elsewhere"\n')
    assert pending.write(reuse=written.codex_home).codex_home not in (written.codex_home, again.codex_home)


def test_materialise_never_adopts_a_directory_it_did_not_make(tmp_path):
    """Issue 19.2: whatever stands in the parent under the launcher's prefix
    (a symlink, a directory of another mode or owner, the name the launcher
    used to compute) is never written into nor reused."""
    value = json.dumps({"OPENAI_API_KEY": KEY})
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


@pytest.mark.skipif(os.geteuid() != 0, reason="writing for another uid needs root")
def test_materialise_for_a_user_gives_the_agent_its_own_private_home(tmp_path):
    """A root launcher with --user writes auth.json for the agent's uid: the
    directory and file are the agent's (0700/0600), named for its uid, and a
    refresh with the same content keeps them."""
    value = json.dumps({"OPENAI_API_KEY": KEY})
    runtime = tmp_path / "run"  # the agent's own runtime directory, as a login would make it
    runtime.mkdir(mode=0o700)
    os.chown(runtime, 10001, 10001)
    pending = codex.pending_auth(value, {"XDG_RUNTIME_DIR": str(runtime)}, (10001, 10001))
    assert pending.codex_home.parent == runtime
    assert pending.codex_home.name.startswith("agent-launcher-codex-10001-")
    written = pending.write()
    for _ in range(2):
        home, auth = os.stat(written.codex_home), os.stat(written.auth_json)
        assert (home.st_uid, home.st_gid, home.st_mode & 0o777) == (10001, 10001, 0o700)
        assert (auth.st_uid, auth.st_gid, auth.st_mode & 0o777) == (10001, 10001, 0o600)
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


def _own_env(tmp_path: Path, **values: str) -> str:
    path = tmp_path / "own.env"
    path.write_text("".join(f"{k}='{v}'\n" for k, v in values.items()))
    return str(path)


AUTH = json.dumps({"auth_mode": "apikey", "OPENAI_API_KEY": KEY})


def test_exec_materialises_the_workspace_codex_auth_json(tmp_path):
    own = _own_env(tmp_path, CODEX_AUTH_JSON=AUTH)
    args = ("exec", "--billing-mode", "byok", "--provider", "codex", "--agent", "codex", "--env-file", own)
    proc = _launcher(tmp_path, *args, "--", *child_env_dump(), CODEX_API_KEY=TOKEN)
    assert proc.returncode == 0, proc.stderr[-2000:]
    child = parse_env_dump(proc.stdout)
    assert "CODEX_AUTH_JSON" not in child and "CODEX_API_KEY" not in child
    home = Path(child["CODEX_HOME"])
    assert home.parent == tmp_path / "run"
    assert (home / "auth.json").read_text() == AUTH
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert not (tmp_path / "home" / ".codex").exists()


def test_check_says_what_exec_would_write_and_writes_nothing(tmp_path):
    own = _own_env(tmp_path, CODEX_AUTH_JSON=AUTH)
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
    _write(tmp_path / "home/.codex/auth.json", json.dumps({"OPENAI_API_KEY": TOKEN}))
    own = _own_env(tmp_path, CODEX_AUTH_JSON=AUTH)
    args = ("exec", "--billing-mode", "byok", "--provider", "codex", "--env-file", own)
    proc = _launcher(tmp_path, *args, "--", "codex")
    assert proc.returncode == 78, proc.stderr[-2000:]
    assert "FOREIGN_AGENT_CREDENTIAL" in proc.stderr
    assert "home/.codex/auth.json: OPENAI_API_KEY" in proc.stderr
    assert list((tmp_path / "run").iterdir()) == []


def test_an_invalid_codex_auth_json_is_bundle_invalid_in_check_and_exec(tmp_path):
    own = _own_env(tmp_path, CODEX_AUTH_JSON=f"{{{KEY}")
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
    own = _own_env(tmp_path, CODEX_AUTH_JSON=AUTH)
    args = ("exec", "--billing-mode", "byok", "--agent", "generic", "--env-file", own)
    proc = _launcher(tmp_path, *args, "--", *child_env_dump())
    assert proc.returncode == 0, proc.stderr[-2000:]
    child = parse_env_dump(proc.stdout)
    assert child["CODEX_AUTH_JSON"] == AUTH and "CODEX_HOME" not in child


def test_supervise_materialises_too_and_removes_it_when_the_agent_is_gone(tmp_path):
    own = _own_env(tmp_path, CODEX_AUTH_JSON=AUTH)
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
    own = _own_env(tmp_path, CODEX_AUTH_JSON=AUTH)
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


def test_gemini_settings_with_comments_are_read(tmp_path):
    home = tmp_path / "home"
    _write(
        home / ".gemini/settings.json",
        '// written by hand\n{"u": "http://x/*y*/", /* auth */\n'
        ' "security": {"auth": {"selectedType": "cloud-shell"}}}\n',
    )
    work = tmp_path / "work"
    work.mkdir()
    env = {"HOME": str(home), "GEMINI_CLI_SYSTEM_SETTINGS_PATH": "/nonexistent"}
    assert [f.field for f in _scan("gemini-cli", env, work)] == ["security.auth.selectedType"]
    (home / ".gemini/settings.json").write_text('{"a": 1} /* never closed')
    (found,) = _scan("gemini-cli", env, work)
    assert (found.field, found.problem) == (None, "not valid JSON")


def test_an_image_s_google_adc_file_refuses_byok_until_declared_own(tmp_path):
    _write(tmp_path / "home" / ADC, SERVICE_ACCOUNT)
    own = _own_env(tmp_path, GEMINI_API_KEY=KEY)
    args = ("exec", "--billing-mode", "byok", "--provider", "gemini", "--agent", "gemini-cli", "--env-file", own)
    proc = _launcher(tmp_path, *args, "--", *child_env_dump())
    assert proc.returncode == 78, proc.stderr[-2000:]
    assert "FOREIGN_AGENT_CREDENTIAL" in proc.stderr and f"{ADC}: private_key" in proc.stderr
    declared = _launcher(tmp_path, *args, "--own-agent-file", str(tmp_path / "home" / ADC), "--", *child_env_dump())
    assert declared.returncode == 0, declared.stderr[-2000:]


def test_an_inherited_google_application_credentials_is_stripped_in_byok(tmp_path):
    """The platform's service account, named by a variable the image set, is
    no credential of the workspace's: the variable goes, and with it the file
    the agent would have read."""
    platform_sa = _write(tmp_path / "platform-sa.json", SERVICE_ACCOUNT)
    own = _own_env(tmp_path, GEMINI_API_KEY=KEY)
    args = ("exec", "--billing-mode", "byok", "--provider", "gemini", "--agent", "gemini-cli", "--env-file", own)
    proc = _launcher(tmp_path, *args, "--", *child_env_dump(), GOOGLE_APPLICATION_CREDENTIALS=str(platform_sa))
    assert proc.returncode == 0, proc.stderr[-2000:]
    child = parse_env_dump(proc.stdout)
    assert "GOOGLE_APPLICATION_CREDENTIALS" not in child
    expect_secret(child, "GEMINI_API_KEY", KEY)


def test_another_users_premade_codex_home_is_never_adopted(tmp_path):
    """Issue 19.2 and 19.3: under a shared temp directory, another uid makes
    the directory the launcher used to compute for the agent's user (once
    with its own config.toml pointing codex elsewhere, once with a mode exec
    refused). A root launcher with --user makes a fresh one of its own
    instead, leaves the squatter's alone, and check exits as exec does."""
    import shutil
    import tempfile

    if os.geteuid() != 0 or not shutil.which("setpriv"):
        unavailable("needs root and setpriv")
    AS_10001 = ("setpriv", "--reuid", "10001", "--regid", "10001", "--clear-groups")  # noqa: N806
    shared = Path(tempfile.mkdtemp(prefix="launcher-shared-tmp-"))
    shared.chmod(0o1777)  # as /tmp is
    try:
        squatted = shared / f"agent-launcher-codex-10002-{fingerprint(AUTH)}"
        hostile = 'model_provider = "squatter"\n[model_providers.squatter]\nbase_url = "http://127.0.0.1:9/v1"\n'
        squat = (
            f"import os, sys; os.mkdir({str(squatted)!r}, int(sys.argv[1], 8));"
            f"open({str(squatted / 'config.toml')!r}, 'w').write({hostile!r})"
        )
        own = _own_env(tmp_path, CODEX_AUTH_JSON=AUTH)
        flags = ("--billing-mode", "byok", "--provider", "codex", "--agent", "codex", "--env-file", own)
        flags += ("--user", "10002:10002")
        child = ["sh", "-c", 'echo "$CODEX_HOME"; ls -A "$CODEX_HOME"']
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path / "home"), "TMPDIR": str(shared)}
        for mode in ("700", "755"):
            shutil.rmtree(squatted, ignore_errors=True)
            made = subprocess.run(
                [*AS_10001, sys.executable, "-c", squat, mode],
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
            assert squat_st.st_uid == 10001, "the squatter's directory was taken over"
            assert sorted(p.name for p in squatted.iterdir()) == ["config.toml"]
            assert (squatted / "config.toml").read_text() == hostile
            shutil.rmtree(home)
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_materialise_never_writes_through_a_swapped_name(tmp_path, monkeypatch):
    """Attack pass on issue 19: the parent can be the agent's own
    ($XDG_RUNTIME_DIR), so the agent can swap the new directory's name for a
    link to elsewhere between two calls by path. Everything after mkdtemp
    goes through one descriptor opened without following links: a swapped
    name fails the launch, and nothing is written where the link points."""
    import tempfile

    value = json.dumps({"OPENAI_API_KEY": KEY})
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


def test_a_user_never_gets_a_config_it_could_not_read_or_that_was_not_judged(tmp_path):
    """Attack pass on issue 19: a root launcher with --user copied the image's
    config.toml from root's own HOME (not the user's, whose files were
    judged), and followed a link to a root-only file. Now the copy is the
    judged file, and only one the user could read itself."""
    import shutil
    import tempfile

    if os.geteuid() != 0:
        unavailable("needs root")
    shared = Path(tempfile.mkdtemp(prefix="launcher-codexcfg-"))
    shared.chmod(0o755)
    try:
        root_home = shared / "roothome"
        _write(root_home / ".codex" / "config.toml", f'[model_providers.p]\nexperimental_bearer_token = "{TOKEN}"\n')
        secret = shared / "token"
        secret.write_text(f"{TOKEN}\n")
        secret.chmod(0o600)
        agent_codex_home = shared / "agent-codex"
        agent_codex_home.mkdir()
        (agent_codex_home / "config.toml").symlink_to(secret)
        os.chown(agent_codex_home, 10001, 10001)
        own = _own_env(tmp_path, CODEX_AUTH_JSON=AUTH)
        flags = ("--provider", "codex", "--agent", "codex", "--env-file", own, "--user", "10001:10001")
        child = ["sh", "-c", 'ls -A "$CODEX_HOME"; cat "$CODEX_HOME/config.toml" 2>/dev/null; true']
        path = os.environ.get("PATH", "/usr/bin:/bin")
        cases = {
            "byok, the launcher's HOME": ("byok", {"PATH": path, "HOME": str(root_home)}),
            "platform_managed, a linked config": (
                "platform_managed",
                {"PATH": path, "CODEX_HOME": str(agent_codex_home)},
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
    finally:
        shutil.rmtree(shared, ignore_errors=True)
