"""Project settings outside the working directory, on the REAL claude-code CLI.

Does claude read ``.claude/settings.json`` / ``.claude/settings.local.json``
(their ``env`` block, here ``ANTHROPIC_API_KEY``) from a directory other than
the one it runs in? Each control row puts a key in one settings file, gives
claude's environment its own, different key, and looks at which one the
Anthropic stand-in received. As observed with claude-code 2.1.332:

- ``.claude/settings.json`` is read from the working directory only: never
  from a parent, with or without a git repository.
- ``.claude/settings.local.json`` is ALSO read from the root of the git
  repository the working directory is in (the nearest ``.git``, a directory
  or a file, found by walking up; for a linked worktree, the MAIN worktree),
  and that copy beats the working directory's own ``settings.local.json``
  and ``settings.json``. Not from any other parent; not when that root is
  HOME; not when the root, its ``.git`` or its ``.claude`` belong to
  another user (the binary calls this canonicalizing the local settings
  store). Without a repository: the working directory only.

The launcher rows run claude through ``agent-launcher exec`` in ``byok``: its
claude-code profile reads ``{cwd}/.claude/settings*.json`` and, as claude
does, ``settings.local.json`` at the repository root (``{git_root}``) and at
the main worktree's (``{git_main_root}``), so each of those refuses.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import pytest
from agent_clis import assert_claude_answered, assert_no_leak, claude_command, label, other_secrets_seen
from anthropic_stub import AnthropicStub
from support import MARKER, OWN_API_KEY, launcher_path, run_or_fail

pytestmark = pytest.mark.e2e

OTHER_DIR_KEY = f"sk-ant-api03-otherdir-{MARKER}-3c5e71"  # in a settings file outside the working directory
CWD_KEY = f"sk-ant-api03-cwdsettings-{MARKER}-8a2d94"  # in a settings file in the working directory
SECRETS = (OWN_API_KEY, OTHER_DIR_KEY, CWD_KEY)
LABELS = {
    OWN_API_KEY: "own key (environment)",
    OTHER_DIR_KEY: "other directory's settings",
    CWD_KEY: "working directory's settings",
}
OWN, OTHER, CWD = (LABELS[k] for k in SECRETS)
TIMEOUT_S = 120
JSON = ".claude/settings.json"
LOCAL = ".claude/settings.local.json"


def _env_key(key: str) -> dict[str, object]:
    return {"env": {"ANTHROPIC_API_KEY": key}}


class Row(NamedTuple):
    name: str  # the test id
    files: Mapping[str, object]  # under tmp_path: JSON, or text when a str
    cwd: str  # claude's working directory, under tmp_path
    sent: str  # the label of the one key the stand-in must receive
    git: tuple[str, ...] = ()  # directories (under tmp_path) to ``git init``
    worktree: str | None = None  # a linked worktree of ``git[0]``, under tmp_path
    foreign: str | None = None  # chown this path (under tmp_path) to another user

    def __repr__(self) -> str:  # files hold (fake) secrets
        return f"Row({self.name})"


ROWS = [
    # (3) The channel works: settings in the working directory itself.
    Row("cwd-settings-json", {f"t/a/b/c/{JSON}": _env_key(CWD_KEY)}, "t/a/b/c", CWD),
    Row("cwd-settings-local-json", {f"t/a/b/c/{LOCAL}": _env_key(CWD_KEY)}, "t/a/b/c", CWD),
    # (1) No git repository: no parent directory is read.
    Row("no-git-parent-settings-json", {f"t/a/{JSON}": _env_key(OTHER_DIR_KEY)}, "t/a/b/c", OWN),
    Row("no-git-parent-settings-local-json", {f"t/a/{LOCAL}": _env_key(OTHER_DIR_KEY)}, "t/a/b/c", OWN),
    Row("no-git-direct-parent-settings-json", {f"t/a/b/{JSON}": _env_key(OTHER_DIR_KEY)}, "t/a/b/c", OWN),
    # (2) Git repository rooted at a: settings.json still no...
    Row("git-root-settings-json", {f"t/a/{JSON}": _env_key(OTHER_DIR_KEY)}, "t/a/b/c", OWN, git=("t/a",)),
    # ...but settings.local.json at the root yes, however deep the working directory.
    Row("git-root-settings-local-json", {f"t/a/{LOCAL}": _env_key(OTHER_DIR_KEY)}, "t/a/b/c", OTHER, git=("t/a",)),
    Row(
        "git-root-settings-local-json-8-deep",
        {f"t/a/{LOCAL}": _env_key(OTHER_DIR_KEY)},
        "t/a/1/2/3/4/5/6/7/8",
        OTHER,
        git=("t/a",),
    ),
    # Only the root: not a directory between it and the working directory.
    Row("git-between-root-and-cwd", {f"t/a/b/{LOCAL}": _env_key(OTHER_DIR_KEY)}, "t/a/b/c", OWN, git=("t/a",)),
    # The root's settings.local.json beats the working directory's files.
    Row(
        "git-root-local-over-cwd-local",
        {f"t/a/{LOCAL}": _env_key(OTHER_DIR_KEY), f"t/a/b/c/{LOCAL}": _env_key(CWD_KEY)},
        "t/a/b/c",
        OTHER,
        git=("t/a",),
    ),
    Row(
        "git-root-local-over-cwd-json",
        {f"t/a/{LOCAL}": _env_key(OTHER_DIR_KEY), f"t/a/b/c/{JSON}": _env_key(CWD_KEY)},
        "t/a/b/c",
        OTHER,
        git=("t/a",),
    ),
    # The working directory's settings.local.json is still read beside it.
    Row(
        "git-root-local-without-key-cwd-local-still-read",
        {f"t/a/{LOCAL}": {"env": {"UNRELATED": "1"}}, f"t/a/b/c/{LOCAL}": _env_key(CWD_KEY)},
        "t/a/b/c",
        CWD,
        git=("t/a",),
    ),
    # The nearest .git decides: a repository at a/b hides a's files.
    Row("git-nested-repo-hides-outer", {f"t/a/{LOCAL}": _env_key(OTHER_DIR_KEY)}, "t/a/b/c", OWN, git=("t/a/b",)),
    # Found by walking up for .git, not by asking git: HEAD alone is enough.
    Row(
        "git-marker-dir-only",
        {f"t/a/{LOCAL}": _env_key(OTHER_DIR_KEY), "t/a/.git/HEAD": "ref: refs/heads/main\n"},
        "t/a/b/c",
        OTHER,
    ),
    # A linked worktree reads the MAIN worktree's file: not even a parent.
    Row(
        "git-linked-worktree",
        {f"t/repo/{LOCAL}": _env_key(OTHER_DIR_KEY)},
        "t/wt/x",
        OTHER,
        git=("t/repo",),
        worktree="t/wt",
    ),
    Row(
        "git-linked-worktree-json",
        {f"t/repo/{JSON}": _env_key(OTHER_DIR_KEY)},
        "t/wt/x",
        OWN,
        git=("t/repo",),
        worktree="t/wt",
    ),
    # Not when the repository's root is HOME (claude_env's HOME is tmp_path/home).
    Row("git-root-is-home", {f"home/{LOCAL}": _env_key(OTHER_DIR_KEY)}, "home/p/x", OWN, git=("home",)),
    # Nor when the root's .claude belongs to another user.
    Row(
        "git-root-claude-dir-other-owner",
        {f"t/a/{LOCAL}": _env_key(OTHER_DIR_KEY)},
        "t/a/b/c",
        OWN,
        git=("t/a",),
        foreign="t/a/.claude",
    ),
]


def _git(*args: str, home: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git not found")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1"}
    env["GIT_CONFIG_GLOBAL"] = os.devnull
    subprocess.run(["git", "-c", "init.defaultBranch=main", *args], env=env, check=True, capture_output=True)


def _tree(row: Row, tmp_path: Path) -> Path:
    """Lay out ``row``'s repositories and files; claude's working directory."""
    home = tmp_path / "home"
    home.mkdir(parents=True, exist_ok=True)
    for repo in row.git:
        _git("init", "-q", str(tmp_path / repo), home=home)
    if row.worktree:
        main = str(tmp_path / row.git[0])
        _git(
            "-C",
            main,
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "i",
            home=home,
        )
        _git("-C", main, "worktree", "add", "-q", str(tmp_path / row.worktree), home=home)
    for relative, content in row.files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    if row.foreign:
        os.chown(tmp_path / row.foreign, 54321, 54321)
    cwd = tmp_path / row.cwd
    cwd.mkdir(parents=True, exist_ok=True)
    return cwd


def _outside_any_repository(tmp_path: Path) -> None:
    """Rows without a repository of their own mean nothing inside one."""
    enclosing = next((p for p in tmp_path.parents if (p / ".git").exists()), None)
    if enclosing is not None:
        pytest.skip(f"tmp_path is inside a git repository ({enclosing})")


def _seen(stub: AnthropicStub) -> set[tuple[str, str]]:
    return {(h, label(v, LABELS)) for h, v in stub.credentials()}


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_which_settings_file_claude_reads(row: Row, claude_bin, claude_env, run_claude, anthropic_stub, tmp_path):
    """CONTROL, claude alone. Claude's environment holds its own key; the row
    puts another key in a settings file ``env`` block (in the working
    directory, a parent, the git root, a main worktree). The one key the
    stand-in received says which file claude read: a settings ``env`` key
    beats the environment, so receiving the environment's key means the file
    was NOT read."""
    if row.foreign and os.geteuid() != 0:
        pytest.skip("needs root to give a directory to another user")
    _outside_any_repository(tmp_path)
    cwd = _tree(row, tmp_path)
    env = claude_env(tmp_path, anthropic_stub.url, ANTHROPIC_API_KEY=OWN_API_KEY)
    proc = run_claude(claude_bin, env, cwd)
    assert_no_leak(proc, anthropic_stub, SECRETS)
    assert_claude_answered(proc)
    assert anthropic_stub.message_requests(), anthropic_stub.paths()
    assert _seen(anthropic_stub) == {("x-api-key", row.sent)}
    expected = {k for k, v in LABELS.items() if v == row.sent}
    others = other_secrets_seen(anthropic_stub, SECRETS, expected, LABELS)  # labels, never values
    assert others == []


# -- through the launcher ---------------------------------------------------------


class LauncherRow(NamedTuple):
    row: Row  # the layout; its key is the foreign one the launcher must catch
    says: str  # the file the refusal names, under tmp_path


LAUNCHER_ROWS = [
    # The harness works: the same file in the working directory is refused today.
    pytest.param(
        LauncherRow(
            Row("", {f"t/a/b/c/{LOCAL}": _env_key(OTHER_DIR_KEY)}, "t/a/b/c", "", git=("t/a",)),
            f"t/a/b/c/{LOCAL}",
        ),
        id="cwd-settings-local-json-refused",
    ),
    pytest.param(
        LauncherRow(
            Row("", {f"t/a/{LOCAL}": _env_key(OTHER_DIR_KEY)}, "t/a/b/c", "", git=("t/a",)),
            f"t/a/{LOCAL}",
        ),
        id="git-root-settings-local-json-from-subdirectory",
    ),
    pytest.param(
        LauncherRow(
            Row("", {f"t/repo/{LOCAL}": _env_key(OTHER_DIR_KEY)}, "t/wt/x", "", git=("t/repo",), worktree="t/wt"),
            f"t/repo/{LOCAL}",
        ),
        id="main-worktree-settings-local-json-from-linked-worktree",
    ),
]


@pytest.mark.parametrize("case", LAUNCHER_ROWS)
def test_launcher_byok_refuses_a_settings_local_json_claude_would_read(
    case: LauncherRow, claude_bin, claude_env, anthropic_stub, tmp_path
):
    """``agent-launcher exec --billing-mode byok --env-file OWN --agent
    claude-code -- claude -p`` from the working directory of the row, where
    claude (see the control rows) would send the key of a
    ``settings.local.json`` that is not the workspace's own. The launcher
    must refuse before claude starts, naming the file: the working
    directory's, the repository root's from a subdirectory, the main
    worktree's from a linked worktree."""
    _outside_any_repository(tmp_path)
    cwd = _tree(case.row, tmp_path)
    own = tmp_path / "own.env"
    own.write_text(f"ANTHROPIC_API_KEY={OWN_API_KEY}\nANTHROPIC_BASE_URL={anthropic_stub.url}\n", encoding="utf-8")
    env = claude_env(tmp_path, anthropic_stub.url)
    args = ["exec", "--billing-mode", "byok", "--env-file", str(own), "--agent", "claude-code"]
    cmd = [launcher_path(), *args, "--", *claude_command(claude_bin, "say hi")]
    proc = run_or_fail(cmd, env=env, cwd=cwd, timeout=TIMEOUT_S)
    assert_no_leak(proc, anthropic_stub, SECRETS)
    leaked = anthropic_stub.saw_secret(OTHER_DIR_KEY)  # a bool: an assert on the call would print the key
    assert not leaked, "the other directory's key reached the upstream"
    assert proc.returncode == 78, (proc.returncode, proc.stderr[-2000:])
    assert "FOREIGN_AGENT_CREDENTIAL" in proc.stderr and proc.stdout == ""
    assert f"{tmp_path}/{case.says}: env.ANTHROPIC_API_KEY" in proc.stderr, proc.stderr[-2000:]
    assert anthropic_stub.requests == [], "claude started"
