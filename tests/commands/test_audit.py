"""``audit`` (``commands/audit.py``): live processes holding LLM keys, judged
against the plan: the workspace's own, foreign (a stripped value under any
name too), the launcher's token whoever holds it (reported, not counted), and
a process whose environment cannot be read, or hides, never proven clean;
every raw entry of an environment judged, every name escaped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import (
    AS_AGENT,
    OWN_API_KEY,
    OWN_OAUTH,
    PLATFORM_OAUTH,
    WORKSPACE_TOKEN,
    assert_no_secret,
    base_env,
    launcher_path,
    platform_args,
    require_unshare,
    run_launcher,
    token_env,
    write_file,
)

from launcher.catalogue import load_catalogue
from launcher.commands.audit import FOREIGN, OWN, TOKEN, Judge, judge
from launcher.values import StrippedValues, fingerprint

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


@pytest.fixture
def holder() -> Iterator:  # type: ignore[type-arg]
    """Start a sleeping process with extra environment; its pid."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(argv: list[str] = SLEEPER, executable: str | None = None, **extra: str) -> int:
        # executable: run this file with argv[0] set to anything at all.
        proc = subprocess.Popen(argv, executable=executable, env=base_env(**extra), stdin=subprocess.DEVNULL)
        procs.append(proc)
        return proc.pid

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


@pytest.fixture
def own_env_file(tmp_path: Path) -> Path:
    path = tmp_path / "ws.env"
    path.write_text(f"ANTHROPIC_API_KEY={OWN_API_KEY}\n")
    return path


def audit_json(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict]:  # type: ignore[type-arg]
    result = run_launcher("audit", "--json", *args, env=env)
    return result.returncode, json.loads(result.stdout)


def by_pid(report: dict, pid: int) -> dict[str, tuple[str, str]]:  # type: ignore[type-arg]
    return {f["key"]: (f["verdict"], f["fingerprint"]) for f in report["findings"] if f["pid"] == pid}


def test_own_and_foreign_keys_in_live_processes(holder, own_env_file: Path) -> None:  # type: ignore[no-untyped-def]
    own = holder(ANTHROPIC_API_KEY=OWN_API_KEY)
    leak = holder(ANTHROPIC_API_KEY=OWN_OAUTH, CLAUDE_CODE_OAUTH_TOKEN=PLATFORM_OAUTH)
    code, report = audit_json(
        "--billing-mode", "byok", "--env-file", str(own_env_file), "--pid", str(own), "--pid", str(leak)
    )
    assert code == 1
    assert by_pid(report, own) == {"ANTHROPIC_API_KEY": (OWN, fingerprint(OWN_API_KEY))}
    assert by_pid(report, leak) == {
        "ANTHROPIC_API_KEY": (FOREIGN, fingerprint(OWN_OAUTH)),
        "CLAUDE_CODE_OAUTH_TOKEN": (FOREIGN, fingerprint(PLATFORM_OAUTH)),
    }
    assert report["foreign"] == 2 and report["unreadable"] == 0
    assert {f["name"] for f in report["findings"]} <= {"python", "python3", Path(sys.executable).name}
    assert set(report["findings"][0]) == {"pid", "name", "key", "verdict", "fingerprint"}


def test_no_foreign_key_exits_0(holder, own_env_file: Path) -> None:  # type: ignore[no-untyped-def]
    own = holder(ANTHROPIC_API_KEY=OWN_API_KEY)
    clean = holder()
    code, report = audit_json(
        "--billing-mode", "byok", "--env-file", str(own_env_file), "--pid", str(own), "--pid", str(clean)
    )
    assert code == 0
    assert report["foreign"] == 0 and [f["verdict"] for f in report["findings"]] == [OWN]


def test_platform_managed_reports_but_exits_0(holder) -> None:  # type: ignore[no-untyped-def]
    leak = holder(CLAUDE_CODE_OAUTH_TOKEN=PLATFORM_OAUTH)
    code, report = audit_json("--billing-mode", "platform_managed", "--pid", str(leak))
    assert code == 0
    assert report["foreign"] == 1


def test_platform_workspace_own_key_versus_merged_global(platform, holder) -> None:  # type: ignore[no-untyped-def]
    with platform.state.lock:
        platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    own = holder(ANTHROPIC_API_KEY=OWN_API_KEY)
    leak = holder(CLAUDE_CODE_OAUTH_TOKEN=PLATFORM_OAUTH)  # the global the pre-fix server merged in
    code, report = audit_json(*platform_args(platform), "--pid", str(own), "--pid", str(leak), env=token_env())
    assert code == 1
    assert by_pid(report, own) == {"ANTHROPIC_API_KEY": (OWN, fingerprint(OWN_API_KEY))}
    assert by_pid(report, leak) == {"CLAUDE_CODE_OAUTH_TOKEN": (FOREIGN, fingerprint(PLATFORM_OAUTH))}


def test_full_scan_text_table_finds_the_leak(holder, own_env_file: Path) -> None:  # type: ignore[no-untyped-def]
    leak = holder(CLAUDE_CODE_OAUTH_TOKEN=PLATFORM_OAUTH)
    # run_launcher fails the test if any fake secret value appears in the output.
    result = run_launcher("audit", "--billing-mode", "byok", "--env-file", str(own_env_file), env=token_env())
    assert result.returncode == 1, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["PID", "NAME", "KEY", "FINGERPRINT", "VERDICT"]
    leak_rows = [row.split() for row in rows if row.split()[:1] == [str(leak)]]
    # NAME sits between PID and KEY; the interpreter's name varies, the rest does not.
    assert [(r[2], r[3], r[4]) for r in leak_rows] == [
        ("CLAUDE_CODE_OAUTH_TOKEN", fingerprint(PLATFORM_OAUTH), FOREIGN)
    ]
    assert "unreadable" in rows[-1] and "exit 1" in rows[-1]


def test_the_platform_token_is_reported_whoever_claims_to_be_a_launcher(
    holder, tmp_path: Path, own_env_file: Path
) -> None:  # type: ignore[no-untyped-def]
    """argv[0] (or a whole command line) is the process's own claim: an agent
    calling itself agent-launcher is still reported holding the token."""
    fake_launcher = tmp_path / "agent-launcher"
    fake_launcher.write_text("import time\ntime.sleep(60)\n")
    posing = holder(
        [sys.executable, str(fake_launcher), "supervise", "--", "claude"], MOLECULE_WORKSPACE_TOKEN=WORKSPACE_TOKEN
    )
    renamed = holder(
        ["agent-launcher", "-c", "import time; time.sleep(60)"],
        sys.executable,
        MOLECULE_WORKSPACE_TOKEN=WORKSPACE_TOKEN,
    )
    agent = holder(MOLECULE_WORKSPACE_TOKEN=WORKSPACE_TOKEN)
    args = ["--billing-mode", "byok", "--env-file", str(own_env_file)]
    code, report = audit_json(*args, "--pid", str(posing), str(renamed), str(agent))
    assert code == 0, "a token finding is reported, not counted"
    for pid in (posing, renamed, agent):
        assert by_pid(report, pid) == {"MOLECULE_WORKSPACE_TOKEN": (TOKEN, fingerprint(WORKSPACE_TOKEN))}
    assert report["token"] == 3 and report["scanned"] == 3


HOSTILE_NAME = b"a\xff\x1b[2J"


def test_a_hostile_process_name_is_escaped_in_json_and_table(holder) -> None:  # type: ignore[no-untyped-def]
    """A process names itself with an undecodable byte and a terminal
    escape (argv[0] and comm both): the JSON is still valid UTF-8 and the
    table holds no control character."""
    code = (
        "import ctypes, time\n"
        f"ctypes.CDLL(None).prctl(15, {HOSTILE_NAME!r}, 0, 0, 0)\n"  # PR_SET_NAME: what psutil reads first
        "time.sleep(60)\n"
    )
    pid = holder([os.fsdecode(HOSTILE_NAME), "-c", code], sys.executable, CLAUDE_CODE_OAUTH_TOKEN=PLATFORM_OAUTH)
    time.sleep(0.3)  # let it rename itself
    runs = {}
    for extra in (["--json"], []):
        proc = subprocess.run(
            [launcher_path(), "audit", "--billing-mode", "byok", *extra, "--pid", str(pid)],
            env=base_env(),
            capture_output=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
        output = proc.stdout.decode("utf-8") + proc.stderr.decode("utf-8")  # strict: valid UTF-8 or fail
        assert_no_secret(output)
        assert proc.returncode == 1, proc.stderr[-500:]
        assert not any(ch in output for ch in "\x1b\x9b"), "a terminal escape reached the output"
        runs[bool(extra)] = proc.stdout.decode("utf-8")
    report = json.loads(runs[True])
    (finding,) = report["findings"]
    assert (finding["key"], finding["verdict"]) == ("CLAUDE_CODE_OAUTH_TOKEN", FOREIGN)
    assert finding["name"].startswith("a\\xff\\x1b[2J"), "the name is shown, escaped"
    assert "a\\xff\\x1b[2J" in runs[False]


def test_platform_token_in_an_agent_is_reported_not_counted(holder, own_env_file: Path) -> None:  # type: ignore[no-untyped-def]
    agent = holder(ANTHROPIC_API_KEY=OWN_API_KEY, MOLECULE_WORKSPACE_TOKEN=WORKSPACE_TOKEN)
    code, report = audit_json("--billing-mode", "byok", "--env-file", str(own_env_file), "--pid", str(agent))
    assert code == 0
    assert by_pid(report, agent)["MOLECULE_WORKSPACE_TOKEN"] == (TOKEN, fingerprint(WORKSPACE_TOKEN))
    assert report["token"] == 1 and report["foreign"] == 0


def test_missing_pid_is_counted_unreadable_not_fatal() -> None:
    result = run_launcher("audit", "--json", "--pid", "999999999")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["unreadable"] == 1
    assert "no process 999999999" in result.stderr


@pytest.fixture
def user_namespace() -> None:
    require_unshare("--user", "--map-root-user")


def test_unreadable_environments_are_counted(user_namespace, holder) -> None:  # type: ignore[no-untyped-def]
    # From inside a user namespace, processes outside it deny /proc/PID/environ
    # even to "root": the ordinary way audit meets an unreadable process.
    leak = holder(CLAUDE_CODE_OAUTH_TOKEN=PLATFORM_OAUTH)
    result = run_launcher("audit", "--json", "--pid", str(leak), prefix=("unshare", "--user", "--map-root-user"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["unreadable"] == 1 and report["findings"] == []


def test_judge_verdicts_and_escaped_names() -> None:
    catalogue = load_catalogue()
    own = {"ANTHROPIC_API_KEY": fingerprint(OWN_API_KEY)}
    stripped = StrippedValues.of(
        {PLATFORM_OAUTH: "CLAUDE_CODE_OAUTH_TOKEN", WORKSPACE_TOKEN: "MOLECULE_WORKSPACE_TOKEN"},
        frozenset({WORKSPACE_TOKEN}),
    )
    by = Judge(catalogue, own, stripped, lambda _path: False)
    env = {
        "anthropic_api_key": OWN_API_KEY,  # same value, other spelling: still the workspace's own
        "OPENAI_API_KEY": "",  # empty authenticates nothing
        "PATH": "/bin",
        "MOLECULE_WORKSPACE_TOKEN": WORKSPACE_TOKEN,
        # Issue 19.5: the token in lower case or under any name, a stripped value renamed.
        "molecule_workspace_token": "not even the token",
        "TOKEN_BACKUP": f"Bearer {WORKSPACE_TOKEN}",
        "CLAUDE_TOKEN_BACKUP": PLATFORM_OAUTH,
    }
    assert [(f.key, f.verdict) for f in judge(7, "x", env, by)] == [
        ("CLAUDE_TOKEN_BACKUP", FOREIGN),
        ("MOLECULE_WORKSPACE_TOKEN", TOKEN),
        ("TOKEN_BACKUP", TOKEN),
        ("anthropic_api_key", OWN),
        ("molecule_workspace_token", TOKEN),
    ]
    hostile = judge(7, "a\udcff\x1b[2J", {"\tANTHROPIC_API_KEY": OWN_OAUTH}, by)
    assert [(f.name, f.key, f.verdict) for f in hostile] == [("a\\xff\\x1b[2J", "\\x09ANTHROPIC_API_KEY", FOREIGN)]


def test_a_renamed_copy_of_a_stripped_platform_key_is_foreign(holder, platform) -> None:  # type: ignore[no-untyped-def]
    """Issue 19.5: the platform's global OAuth token (stripped in byok) held
    as CLAUDE_TOKEN_BACKUP, and the launcher's token in lower case."""
    with platform.state.lock:
        platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    agent = holder(
        ANTHROPIC_API_KEY=OWN_API_KEY, CLAUDE_TOKEN_BACKUP=PLATFORM_OAUTH, molecule_workspace_token=WORKSPACE_TOKEN
    )
    code, report = audit_json(*platform_args(platform), "--pid", str(agent), env=token_env())
    assert code == 1
    found = by_pid(report, agent)
    assert found["CLAUDE_TOKEN_BACKUP"] == (FOREIGN, fingerprint(PLATFORM_OAUTH))
    assert found["molecule_workspace_token"] == (TOKEN, fingerprint(WORKSPACE_TOKEN))
    assert found["ANTHROPIC_API_KEY"] == (OWN, fingerprint(OWN_API_KEY))


NON_DUMPABLE = "import ctypes, time\nctypes.CDLL(None).prctl(4, 0, 0, 0, 0)\ntime.sleep(60)\n"  # PR_SET_DUMPABLE 0


def test_a_process_that_hides_is_not_proven_clean(as_root, shared: Path, holder) -> None:  # type: ignore[no-untyped-def]
    """Issue 19.5: an agent that makes itself non-dumpable cannot be read by
    an audit of its own uid. That is no clean bill: exit 2, listed by pid."""
    hidden = holder([*AS_AGENT, sys.executable, "-c", NON_DUMPABLE], CLAUDE_CODE_OAUTH_TOKEN=PLATFORM_OAUTH)
    time.sleep(0.5)  # let it hide
    own_env_file = write_file(shared / "ws.env", f"ANTHROPIC_API_KEY={OWN_API_KEY}\n")
    for extra in (["--json"], []):
        result = run_launcher(
            "audit", "--billing-mode", "byok", "--env-file", str(own_env_file), *extra, "--pid", str(hidden),
            prefix=AS_AGENT,
        )  # fmt: skip
        assert result.returncode == 2, result.stderr[-1000:]
        if extra:
            report = json.loads(result.stdout)
            assert report["unreadable_pids"] == [hidden] and report["findings"] == []
        else:
            assert f"not proven clean: the environment of 1 process(es) could not be read ({hidden})" in result.stdout


@pytest.mark.parametrize("pid", ["-1", "0", "x"])
def test_a_pid_that_is_not_one_is_config_invalid(pid: str) -> None:
    result = run_launcher("audit", "--pid", pid)
    assert result.returncode == 64 and "CONFIG_INVALID" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_pid_takes_several_values_or_repeats() -> None:
    from launcher.cli import build_parser

    parse = build_parser().parse_args
    assert parse(["audit", "--pid", "1", "2", "--json"]).pids == [1, 2]
    assert parse(["audit", "--pid", "1", "--pid", "2"]).pids == [1, 2]


# A process whose environment holds what a library's parser might not show:
# argv[1] is a JSON list of raw entries, exec'd as they are (an empty entry,
# a name given twice).
RAW_ENV_EXEC = r"""
import json, os, sys
entries = [e.encode() for e in json.loads(sys.argv[1])]
import ctypes  # os.execve refuses an empty name and folds duplicates: the C call does neither
libc = ctypes.CDLL(None, use_errno=True)
argv = (ctypes.c_char_p * 3)(b"/bin/sleep", b"60", None)
envp = (ctypes.c_char_p * (len(entries) + 1))(*entries, None)
libc.execve(b"/bin/sleep", argv, envp)
"""


@pytest.mark.parametrize(
    "entries",
    [
        pytest.param(["", f"CLAUDE_CODE_OAUTH_TOKEN={PLATFORM_OAUTH}"], id="after-an-empty-entry"),
        pytest.param(
            [f"ANTHROPIC_API_KEY={OWN_OAUTH}", f"ANTHROPIC_API_KEY={OWN_API_KEY}"], id="first-of-a-name-given-twice"
        ),
    ],
)
def test_audit_sees_every_entry_of_an_environment(holder, own_env_file: Path, entries: list[str]) -> None:
    """Attack pass on issue 19: psutil's reading of /proc/PID/environ stops
    at an empty entry and keeps the last of two equal names, while getenv
    takes the first. audit reads every raw entry: the foreign one is found."""
    pid = holder([sys.executable, "-c", RAW_ENV_EXEC, json.dumps(entries)])
    for _ in range(100):
        if Path(f"/proc/{pid}/exe").resolve().name == "sleep":
            break
        time.sleep(0.02)
    code, report = audit_json("--billing-mode", "byok", "--env-file", str(own_env_file), "--pid", str(pid))
    assert code == 1, report
    assert report["foreign"] == 1
