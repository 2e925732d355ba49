"""``supervise --platform-proxy`` (``platform/proxy.py``, ``endpoint.py``)
keeps the workspace token out of a runtime that calls the platform itself:
the runtime gets a per-launch credential for a loopback proxy that holds the
token, its re-pull of ``/secrets/values`` is gated like the launch, the
token ``register`` issues stays with the launcher, only the workspace's own
paths pass, events stream through as they come, bodies are capped both
ways, and the proxy lives and dies with the launch; exec and check refuse it.

Black-box: the installed command against the loopback dev platform (the
unfixed server: the platform's OAuth token merged into every bundle), its
child a runtime shaped like the platform's own (``RUNTIME``): it reads its
token where the real one does (``$CONFIGS_DIR/.auth_token``, else
``MOLECULE_WORKSPACE_TOKEN``), registers, heartbeats, polls its state, pulls
``/secrets/values`` itself, and tries what an agent should not manage. It
records verdicts and fingerprints, never values; what it could read of
other processes goes to a file the test greps for the marker."""

from __future__ import annotations

import itertools
import os
import signal
import stat
import sys
import time
from pathlib import Path

import psutil
import pytest
from support import (
    AGENT_UID,
    MARKER,
    OWN_API_KEY,
    PLATFORM_OAUTH,
    ROTATED_API_KEY,
    WORKSPACE_TOKEN,
    Result,
    agent_python,
    base_env,
    expect_absent,
    json_lines,
    launcher_path,
    platform_args,
    run_launcher,
    token_env,
    wait_until,
    write_file,
)

from launcher.values import fingerprint

ISSUED_TOKEN = f"issued-wstok-{MARKER}-5eed"
OTHER_WORKSPACE = "00000000-1111-4222-8333-444444444444"
TIMEOUT = 30.0  # the runtime registers, heartbeats and pulls before it reports: longer than support's

RUNTIME = r"""
import errno, hashlib, http.client, json, os, signal, sys, time, urllib.parse
out, mode = sys.argv[1], sys.argv[2]
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
url = urllib.parse.urlsplit(os.environ["PLATFORM_URL"])
wid = os.environ["WORKSPACE_ID"]

def fp(value):
    return hashlib.sha256(value.encode()).hexdigest()[:8]

def record(step, **fields):
    with open(out, "a") as f:
        f.write(json.dumps(dict(fields, step=step, t=time.monotonic())) + "\n")

# The token, where the platform's runtime looks for it (platform_auth.py).
token, source = None, None
path = os.path.join(os.environ.get("CONFIGS_DIR", "/configs"), ".auth_token")
try:
    token, source = open(path).read().strip(), "file"
except OSError:
    token, source = os.environ.get("MOLECULE_WORKSPACE_TOKEN"), "env"
record("token", source=source, proxy_credential=bool(token) and token.startswith("lpx-"),
       url_is_loopback=url.hostname == "127.0.0.1", token_file_var="MOLECULE_WORKSPACE_TOKEN_FILE" in os.environ)

def call(method, target, body=None, bearer=None, raw=None):
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    headers = {"Content-Type": "application/json"}
    if bearer is not False:
        headers["Authorization"] = f"Bearer {bearer or token}"
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    conn.request(method, target, body=data, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    try:
        document = json.loads(payload)
    except ValueError:
        document = None
    return response.status, document, payload

def values():
    status, document, _ = call("GET", f"/workspaces/{wid}/secrets/values")
    if status == 200:
        return status, {k: fp(v) for k, v in document.items()}, None
    return status, None, (document or {}).get("code")

if mode in ("flow", "stay"):
    card = {"id": wid, "url": "http://127.0.0.1:8000", "agent_card": {"name": "probe"}}
    status, document, _ = call("POST", "/registry/register", card)
    record("register", status=status, keys=sorted(document or {}))
    status, _, _ = call("POST", "/registry/heartbeat", {"workspace_id": wid, "active_tasks": 0})
    record("heartbeat", status=status)
    status, document, _ = call("GET", f"/workspaces/{wid}/state")
    record("state", status=status, online=(document or {}).get("status"))
    status, fps, code = values()
    record("values", status=status, fps=fps, code=code)
    status, document, _ = call("GET", f"/workspaces/{wid}/secrets")
    record("list", status=status, keys=sorted(row["key"] for row in document or []))
    refused = {}
    for label, method, target, body, bearer in [
        ("other_workspace", "GET", "/workspaces/%s/secrets/values" % sys.argv[3], None, None),
        ("admin", "GET", "/admin/liveness", None, None),
        ("outside", "GET", "/health", None, None),
        ("dotdot", "GET", f"/workspaces/{wid}/../%s/secrets" % sys.argv[3], None, None),
        ("encoded", "GET", f"/workspaces/{wid}%2f..%2fx", None, None),
        ("mint_token", "POST", f"/workspaces/{wid}/tokens", {}, None),
        ("register_other", "POST", "/registry/register", {"id": sys.argv[3]}, None),
        ("heartbeat_other", "POST", "/registry/heartbeat", {"workspace_id": sys.argv[3]}, None),
        ("wrong_credential", "GET", f"/workspaces/{wid}/state", None, "lpx-not-the-one"),
        ("no_credential", "GET", f"/workspaces/{wid}/state", None, False),
        ("absolute_form", "GET", f"http://example.invalid/workspaces/{wid}/state", None, None),
    ]:
        status, document, _ = call(method, target, body, bearer)
        refused[label] = [status, (document or {}).get("code")]
    record("refused", **refused)
    # What an attacker inside the agent would read: the launcher's processes.
    ppid, stolen, found = os.getppid(), b"", {}
    launcher = [ppid]
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != os.getpid():
            try:
                fields = open(f"/proc/{name}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == ppid:
                launcher.append(int(name))
    for pid in launcher:
        verdicts = {}
        for what in ("environ", "maps", "mem", "cmdline"):
            try:
                with open(f"/proc/{pid}/{what}", "rb") as f:
                    data = f.read(65536) if what != "mem" else b""
                verdicts[what] = "read"
                stolen += data
            except OSError as exc:
                verdicts[what] = errno.errorcode.get(exc.errno, str(exc.errno))
        try:
            verdicts["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
        except OSError as exc:
            verdicts["fds"] = errno.errorcode.get(exc.errno, str(exc.errno))
        found[str(pid)] = verdicts
    with open(out + ".stolen", "ab") as f:
        f.write(stolen)
        f.write(json.dumps(dict(os.environ)).encode())
    record("proc", processes=found, uid=os.getuid())

if mode == "stay":
    while True:
        status, fps, code = values()
        record("pull", status=status, fps=fps, code=code)
        time.sleep(0.2)

if mode == "stream":
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    conn.request("GET", f"/workspaces/{wid}/events", headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    arrivals = []
    while line := response.readline():
        if line.startswith(b"data:"):
            arrivals.append(time.monotonic())
    record("stream", status=response.status, type=response.getheader("Content-Type"), arrivals=arrivals)
    started = time.monotonic()
    status, document, _ = call("GET", f"/workspaces/{wid}/poll")
    record("poll", status=status, code=(document or {}).get("code"), took=time.monotonic() - started)

if mode == "caps":
    size = int(sys.argv[3])
    for label, n in (("small_body", size // 2), ("big_body", size * 2)):
        status, document, _ = call("POST", f"/workspaces/{wid}/echo", raw=b"y" * n)
        record(label, status=status, code=(document or {}).get("code"), bytes=(document or {}).get("bytes"))
    for label, n in (("small_answer", size // 2), ("big_answer", size * 2)):
        status, document, payload = call("GET", f"/workspaces/{wid}/blob/{n}")
        record(label, status=status, code=(document or {}).get("code"), bytes=len(payload))
"""


# -- helpers ------------------------------------------------------------------------------------


def records(out: Path) -> dict[str, list[dict[str, object]]]:
    """The runtime's records, by step."""
    by_step: dict[str, list[dict[str, object]]] = {}
    for record in json_lines(out):
        by_step.setdefault(str(record["step"]), []).append(record)
    return by_step


def one(out: Path, step: str) -> dict[str, object]:
    (record,) = records(out)[step]
    return record


def runtime(shared: Path) -> Path:
    return write_file(shared / "runtime.py", RUNTIME)


def layout(shared: Path) -> tuple[Path, Path]:
    """The runtime's CONFIGS_DIR, and the launcher's token file in a root-only
    directory beside it (outside CONFIGS_DIR, as docs/platform-proxy.md says)."""
    configs = shared / "configs"
    configs.mkdir()
    configs.chmod(0o755)
    private = shared / "launcher"
    private.mkdir()
    private.chmod(0o700)
    token_file = private / "auth_token"
    token_file.write_text(WORKSPACE_TOKEN + "\n")
    token_file.chmod(0o600)
    return configs, token_file


def proxy_env(configs: Path, **extra: str) -> dict[str, str]:
    return base_env(CONFIGS_DIR=str(configs), CLAUDE_CODE_OAUTH_TOKEN=PLATFORM_OAUTH, **extra)


def supervise_runtime(  # type: ignore[no-untyped-def]
    shared: Path, platform, mode: str, *args: str, flags: tuple[str, ...] = ("--platform-proxy",), **env: str
) -> tuple[Result, Path, Path]:
    """``supervise FLAGS`` against ``platform``, which holds the workspace's
    own key, until the runtime (in ``mode``, with ``args``) is done: the
    result, the runtime's records, and the launcher's token file."""
    configs, token_file = layout(shared)
    with platform.state.lock:
        platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    out = shared / "runtime.jsonl"
    result = run_launcher(
        "supervise", *flags, *platform_args(platform), "--token-file", str(token_file), "--",
        sys.executable, str(runtime(shared)), str(out), mode, *args,
        env=proxy_env(configs, **env),
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return result, out, token_file


def authorizations(platform) -> list[str | None]:  # type: ignore[no-untyped-def]
    with platform.state.lock:
        return [r.authorization for r in platform.state.requests]


def assert_runtime_flow(out: Path, platform) -> None:  # type: ignore[no-untyped-def]
    token = one(out, "token")
    assert token["proxy_credential"] is True and token["url_is_loopback"] is True
    assert token["token_file_var"] is False
    register = one(out, "register")
    assert register["status"] == 200 and register["keys"] == ["status"], register  # no auth_token
    assert one(out, "heartbeat")["status"] == 200
    assert one(out, "state")["online"] == "online"
    values = one(out, "values")
    assert values["status"] == 200
    fps = values["fps"]
    assert isinstance(fps, dict)
    assert fps.get("ANTHROPIC_API_KEY") == fingerprint(OWN_API_KEY)
    assert "CLAUDE_CODE_OAUTH_TOKEN" not in fps, "the platform's own key reached the runtime's re-pull"
    assert fingerprint(PLATFORM_OAUTH) not in fps.values()
    listing = one(out, "list")
    assert listing["status"] == 200 and "CLAUDE_CODE_OAUTH_TOKEN" in listing["keys"]  # the List passes unchanged
    refused = one(out, "refused")
    expected = {
        "other_workspace": [403, "PROXY_FORBIDDEN_PATH"],
        "admin": [403, "PROXY_FORBIDDEN_PATH"],
        "outside": [403, "PROXY_FORBIDDEN_PATH"],
        "dotdot": [400, "PROXY_BAD_REQUEST"],
        "encoded": [400, "PROXY_BAD_REQUEST"],
        "mint_token": [403, "PROXY_FORBIDDEN_PATH"],
        "register_other": [403, "PROXY_FOREIGN_WORKSPACE"],
        "heartbeat_other": [403, "PROXY_FOREIGN_WORKSPACE"],
        "wrong_credential": [401, "PROXY_UNAUTHORIZED"],
        "no_credential": [401, "PROXY_UNAUTHORIZED"],
        "absolute_form": [400, "PROXY_BAD_REQUEST"],
    }
    assert {k: refused[k] for k in expected} == expected
    # The platform saw the real token, the issued one once register had
    # answered it, and never the child's credential.
    seen = authorizations(platform)
    assert all(a is not None and not a.startswith("Bearer lpx-") for a in seen)
    assert seen[-1] == f"Bearer {ISSUED_TOKEN}"
    with platform.state.lock:
        paths = [r.path for r in platform.state.requests]
        assert platform.state.registrations and platform.state.heartbeats
    assert not any(OTHER_WORKSPACE in p or p.startswith(("/admin", "/health")) for p in paths)
    assert not any(p.endswith("/tokens") for p in paths)


def assert_nothing_stolen(out: Path) -> None:
    stolen = Path(str(out) + ".stolen").read_bytes().decode("utf-8", "replace")
    expect_absent(stolen, WORKSPACE_TOKEN, "what the runtime could read")
    expect_absent(stolen, ISSUED_TOKEN, "what the runtime could read")
    expect_absent(stolen, PLATFORM_OAUTH, "what the runtime could read")


# -- the runtime's own life behind the proxy ----------------------------------------------------


def test_runtime_as_another_user_never_holds_the_token_and_sees_a_rotation(
    as_root, shared: Path, platform, background
) -> None:  # type: ignore[no-untyped-def]
    """The issue's proof, with --user: register's token is kept by the
    launcher, the re-pull is gated, foreign paths are refused, /proc of the
    launcher and its proxy is unreadable, and a rotation (then a removal)
    on the platform reaches the runtime's next pull."""
    configs, token_file = layout(shared)
    with platform.state.lock:
        platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
        platform.state.issue_token = ISSUED_TOKEN
    out = shared / "runtime.jsonl"
    argv = [agent_python(), str(runtime(shared)), str(out), "stay", OTHER_WORKSPACE]
    run = background(
        [launcher_path(), "supervise", "--platform-proxy", *platform_args(platform), "--token-file", str(token_file),
         "--user", f"{AGENT_UID}:{AGENT_UID}", "--stop-timeout", "3", "-v", "--", *argv],
        proxy_env(configs),
    )  # fmt: skip
    wait_until(lambda: "pull" in records(out), "the runtime's first pull", TIMEOUT)
    assert_runtime_flow(out, platform)
    proc_record = one(out, "proc")
    assert proc_record["uid"] == AGENT_UID
    processes = proc_record["processes"]
    assert isinstance(processes, dict) and len(processes) >= 2, "the resident and its proxy"
    for verdicts in processes.values():
        for what in ("environ", "maps", "mem"):
            assert verdicts[what] in ("EACCES", "EPERM"), verdicts
        assert verdicts["fds"] in ("EACCES", "EPERM"), verdicts
    assert_nothing_stolen(out)
    # register's token: kept by the launcher, 0600, root's, where its token file is.
    assert token_file.read_text() == ISSUED_TOKEN
    info = token_file.stat()
    assert stat.S_IMODE(info.st_mode) == 0o600 and info.st_uid == os.geteuid()
    # The runtime's token file holds the credential, is its own, 0600.
    credential_file = configs / ".auth_token"
    assert credential_file.stat().st_uid == AGENT_UID
    assert stat.S_IMODE(credential_file.stat().st_mode) == 0o600
    assert credential_file.read_text().startswith("lpx-")
    # A rotation on the platform reaches the next pull; a removal is refused as the launch would be.
    with platform.state.lock:
        platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = ROTATED_API_KEY
    rotated = fingerprint(ROTATED_API_KEY)
    wait_until(
        lambda: any((r["fps"] or {}).get("ANTHROPIC_API_KEY") == rotated for r in records(out)["pull"]),
        "the rotated key in the runtime's pull",
        TIMEOUT,
    )
    with platform.state.lock:
        del platform.state.workspace_secrets["ANTHROPIC_API_KEY"]
    wait_until(
        lambda: any(r["code"] == "MISSING_BYOK_CREDENTIAL" for r in records(out)["pull"]),
        "the re-pull refused once nothing usable is left",
        TIMEOUT,
    )
    refused = [r for r in records(out)["pull"] if r["status"] != 200]
    assert all(r["status"] == 403 and r["fps"] is None for r in refused)
    assert run.stop(TIMEOUT) == 0, run.output[-2000:]
    assert "register issued a workspace token" in run.output


def test_runtime_as_the_same_user_gets_the_credential_and_a_gated_pull(shared: Path, platform) -> None:  # type: ignore[no-untyped-def]
    """Without --user (any uid can run this): the same protocol, and the
    launcher warns that a same-uid child is not kept from the token file."""
    with platform.state.lock:
        platform.state.issue_token = ISSUED_TOKEN
    result, out, token_file = supervise_runtime(shared, platform, "flow", OTHER_WORKSPACE)
    assert_runtime_flow(out, platform)
    assert "PROXY_SAME_UID" in result.stderr
    assert token_file.read_text() == ISSUED_TOKEN


def test_the_environment_variable_turns_the_proxy_on(shared: Path, platform) -> None:  # type: ignore[no-untyped-def]
    _, out, _ = supervise_runtime(shared, platform, "flow", OTHER_WORKSPACE, flags=(), LAUNCHER_PLATFORM_PROXY="1")
    assert one(out, "token")["proxy_credential"] is True
    assert one(out, "values")["status"] == 200


def test_a_shared_token_file_is_never_overwritten_with_the_credential(shared: Path, platform) -> None:  # type: ignore[no-untyped-def]
    """When the runtime's $CONFIGS_DIR/.auth_token is the launcher's own token
    file, the credential goes in the variable only, with a warning."""
    configs = shared / "configs"
    configs.mkdir()
    token_file = configs / ".auth_token"
    token_file.write_text(WORKSPACE_TOKEN)
    token_file.chmod(0o600)
    with platform.state.lock:
        platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    result = run_launcher(
        "supervise", "--platform-proxy", *platform_args(platform), "--", "/bin/true",
        env=base_env(CONFIGS_DIR=str(configs)),
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "PROXY_TOKEN_FILE_SHARED" in result.stderr
    assert token_file.read_text() == WORKSPACE_TOKEN


# -- streaming, caps, deadlines -----------------------------------------------------------------


def test_events_stream_through_as_they_come_and_a_long_poll_waits(shared: Path, platform) -> None:  # type: ignore[no-untyped-def]
    with platform.state.lock:
        platform.state.stream_events, platform.state.stream_gap = 4, 0.4
        platform.state.poll_delay = 1.5
    _, out, _ = supervise_runtime(shared, platform, "stream", flags=("--platform-proxy", "--deadline", "5"))
    stream = one(out, "stream")
    assert stream["status"] == 200 and str(stream["type"]).startswith("text/event-stream")
    arrivals = stream["arrivals"]
    assert isinstance(arrivals, list) and len(arrivals) == 4
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert all(gap > 0.25 for gap in gaps), f"events arrived together (buffered): gaps {gaps}"
    poll = one(out, "poll")
    assert poll["status"] == 200 and 1.4 < float(poll["took"]) < 5  # type: ignore[arg-type]


def test_a_stalled_platform_is_cut_at_the_deadline(shared: Path, platform) -> None:  # type: ignore[no-untyped-def]
    with platform.state.lock:
        platform.state.stream_events = 0
        platform.state.poll_delay = 8.0
    _, out, _ = supervise_runtime(shared, platform, "stream", flags=("--platform-proxy", "--deadline", "2"))
    poll = one(out, "poll")
    assert (poll["status"], poll["code"]) == (504, "PROXY_UPSTREAM_TIMEOUT")
    assert 1.5 < float(poll["took"]) < 5  # type: ignore[arg-type]


def test_bodies_are_capped_both_ways(shared: Path, platform) -> None:  # type: ignore[no-untyped-def]
    cap = 8192
    flags = ("--platform-proxy", "--max-bundle-bytes", str(cap))
    _, out, _ = supervise_runtime(shared, platform, "caps", str(cap), flags=flags)
    assert (one(out, "small_body")["status"], one(out, "small_body")["bytes"]) == (200, cap // 2)
    assert (one(out, "big_body")["status"], one(out, "big_body")["code"]) == (413, "PROXY_BODY_TOO_LARGE")
    assert (one(out, "small_answer")["status"], one(out, "small_answer")["bytes"]) == (200, cap // 2)
    assert (one(out, "big_answer")["status"], one(out, "big_answer")["code"]) == (502, "PROXY_RESPONSE_TOO_LARGE")
    with platform.state.lock:
        posted = [r.path for r in platform.state.requests if r.method == "POST"]
    assert len(posted) == 1, "the oversized body was forwarded"


# -- the proxy's life ---------------------------------------------------------------------------


def test_the_proxy_dying_stops_the_agent_and_fails_the_launch(shared: Path, platform, background) -> None:  # type: ignore[no-untyped-def]
    configs, token_file = layout(shared)
    with platform.state.lock:
        platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    run = background(
        [launcher_path(), "supervise", "--platform-proxy", *platform_args(platform), "--token-file", str(token_file),
         "--stop-timeout", "2", "--", *sleeper],
        proxy_env(configs),
    )  # fmt: skip
    wait_until(lambda: len(psutil.Process(run.proc.pid).children()) == 2, "the proxy and the agent", TIMEOUT)
    children = psutil.Process(run.proc.pid).children()
    agent = next(c for c in children if "time.sleep" in " ".join(c.cmdline()))
    (proxy,) = [c for c in children if c.pid != agent.pid]
    proxy.send_signal(signal.SIGKILL)
    code = run.finish(TIMEOUT)
    assert code == 70 and "PLATFORM_PROXY_FAILED" in run.output, run.output[-2000:]
    assert not agent.is_running() or agent.status() == psutil.STATUS_ZOMBIE


def test_the_proxy_ends_with_the_launch(shared: Path, platform, background) -> None:  # type: ignore[no-untyped-def]
    configs, token_file = layout(shared)
    with platform.state.lock:
        platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    run = background(
        [launcher_path(), "supervise", "--platform-proxy", *platform_args(platform), "--token-file", str(token_file),
         "--", sys.executable, "-c", "import time; time.sleep(1)"],
        proxy_env(configs),
    )  # fmt: skip
    wait_until(lambda: len(psutil.Process(run.proc.pid).children()) == 2, "the proxy and the agent", TIMEOUT)
    proxy_pid = next(
        c.pid for c in psutil.Process(run.proc.pid).children() if "time.sleep" not in " ".join(c.cmdline())
    )
    assert run.finish(TIMEOUT) == 0
    time.sleep(0.2)
    assert not psutil.pid_exists(proxy_pid) or psutil.Process(proxy_pid).status() == psutil.STATUS_ZOMBIE


# -- refusals before anything starts ------------------------------------------------------------


@pytest.mark.parametrize("command", ["exec", "check"])
@pytest.mark.parametrize("how", ["flag", "env"])
def test_exec_and_check_refuse_the_proxy(platform, tmp_path: Path, command: str, how: str) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "started"
    flag = ["--platform-proxy"] if how == "flag" else []
    env = token_env(LAUNCHER_PLATFORM_PROXY="true") if how == "env" else token_env()
    result = run_launcher(
        command, *flag, *platform_args(platform), "--", "/usr/bin/touch", str(marker), env=env
    )  # fmt: skip
    assert result.returncode == 64 and "CONFIG_INVALID" in result.stderr and "supervise" in result.stderr
    assert not marker.exists()
    with platform.state.lock:
        assert not platform.state.requests, "nothing is read before the refusal"


def test_the_proxy_needs_a_platform() -> None:
    result = run_launcher("supervise", "--platform-proxy", "--", "/bin/true", env=base_env())
    assert result.returncode == 64 and "needs a platform" in result.stderr


def test_a_garbled_proxy_variable_is_config_invalid(platform) -> None:  # type: ignore[no-untyped-def]
    result = run_launcher(
        "supervise", *platform_args(platform), "--", "/bin/true", env=token_env(LAUNCHER_PLATFORM_PROXY="maybe")
    )
    assert result.returncode == 64 and "LAUNCHER_PLATFORM_PROXY" in result.stderr
