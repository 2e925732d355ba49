"""Where the files of an agent profile are, as the agent resolves them.

Paths resolve in the child's final environment (after the gate, so a
stripped ``CLAUDE_CONFIG_DIR`` relocates nothing) and the child's working
directory; templates, relocation (``first_set``), searches
(``first_existing``, ``upward``) and globs are described in
``data/agents/README.md``.
"""

import glob
import os
import pwd
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NamedTuple

from ..files import MISSING
from .profiles import FileEntry, Pick

_VAR = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand(
    template: str, env: Mapping[str, str], cwd: Path | None, quote: Callable[[str], str] = str, trim: bool = True
) -> str | None:
    """The path a template names, or None when a variable it needs is unset
    (or blank). ``trim``: values with surrounding whitespace trimmed, as some
    agents' code does; others take them verbatim, so both are looked at.

    ``quote`` is applied to every value put into the template (and to the
    working directory a relative result is joined to): ``glob.escape`` for a
    glob, so that a value such as ``HOME=/tmp/[a]b`` is a literal path and
    cannot make the pattern miss the file the agent reads.
    """
    missing = False

    def value(match: re.Match[str]) -> str:
        nonlocal missing
        name = match.group(1)
        if name == "cwd":
            found = str(cwd) if cwd is not None else ""
        elif name in ("git_root", "git_main_root"):
            root = git_root(cwd)
            found = str((git_main_root(root) if name == "git_main_root" else root) or "") if root else ""
        elif name == "HOME":
            found = home_of(env)
        else:
            found = env.get(name, "")
        missing = missing or not found.strip()
        found = found.strip() if trim else found
        return quote(found)

    path = _VAR.sub(value, template)
    if missing:
        return None
    return path if os.path.isabs(path) or cwd is None else os.path.join(quote(str(cwd)), path)


def home_of(env: Mapping[str, str]) -> str:
    """The agent's home, as the launcher reads its files: $HOME, else (unset
    or blank; the gate passes no blank HOME on) this uid's passwd entry, as
    node's os.homedir() and codex do for the child, which runs as this uid
    or (with --user) has its HOME set."""
    home = env.get("HOME", "")
    if home.strip():
        return home
    try:
        return pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        return ""


def git_root(cwd: Path | None) -> Path | None:
    """The nearest directory at or above ``cwd`` holding ``.git`` (a
    directory, or a file for a linked worktree), as claude-code finds its
    repository: by walking up, without running git."""
    if cwd is None:
        return None
    return next((d for d in (cwd, *cwd.parents) if os.path.lexists(d / ".git")), None)


def git_main_root(root: Path) -> Path:
    """For a linked worktree (``.git`` is a file, ``gitdir: <main>/.git/worktrees/<name>``),
    the main worktree, whose settings claude-code reads; else ``root``."""
    from ..files import UnreadableFileError, read_regular

    try:
        read = read_regular(root / ".git", 4096, missing_ok=True)
    except UnreadableFileError:
        return root  # a directory: the ordinary case
    text = read[0].decode("utf-8", "replace").strip() if read else ""
    if not text.startswith("gitdir:"):
        return root
    gitdir = (root / text[len("gitdir:") :].strip()).resolve()
    return gitdir.parent.parent.parent if gitdir.parent.name == "worktrees" else root


def _upward(names: tuple[str, ...], cwd: Path | None) -> list[str]:
    if cwd is None:
        return []
    return [str(directory / name) for directory in (cwd, *cwd.parents) for name in names]


class _Place(NamedTuple):
    path: str  # literal; for a glob, the path with its pattern characters as written
    pattern: str | None = None  # a glob with every substituted value escaped


def _candidates(template: str, env: Mapping[str, str], cwd: Path | None) -> list[_Place]:
    """The template's path, trimmed and verbatim when they differ; [] if unset."""
    is_glob = glob.has_magic(_VAR.sub("", template))  # only the profile's own text may be a pattern
    found: list[_Place] = []
    for trim in (True, False):
        path = _expand(template, env, cwd, trim=trim)
        if path is None or any(c.path == path for c in found):
            continue
        found.append(_Place(path, _expand(template, env, cwd, glob.escape, trim) if is_glob else None))
    return found


def candidates(
    entry: FileEntry, env: Mapping[str, str], cwd: Path | None, probed: list[str] | None = None
) -> list[str]:
    """The paths of ``entry`` the agent would read, globs expanded, in order.
    ``probed`` collects what else decided that list and could change it
    before the agent starts: each directory a glob listed, each candidate
    found absent in a search, each ``.git`` looked for on the way to the
    repository root."""
    probed = [] if probed is None else probed
    groups = [[_Place(p)] for p in _upward(entry.upward, cwd)]
    groups += [_candidates(t, env, cwd) for t in entry.paths]
    if entry.pick is Pick.FIRST_SET:
        groups = [next((g for g in groups if g), [])]
    if any("{git_root}" in t or "{git_main_root}" in t for t in entry.paths) and cwd is not None:
        root = git_root(cwd)
        probed.extend(str(d / ".git") for d in (cwd, *cwd.parents) if root is None or d.is_relative_to(root))
    paths: list[str] = []
    for candidate in (c for group in groups for c in group):
        if candidate.pattern is not None:
            probed.append(os.path.dirname(candidate.path))
            paths.extend(_glob(candidate.pattern, os.path.dirname(candidate.path)))
        elif entry.pick is not Pick.FIRST_EXISTING or os.path.lexists(candidate.path):
            paths.append(candidate.path)
        else:
            probed.append(candidate.path)  # absent now; present before the agent starts, it would be the one
        if entry.pick is Pick.FIRST_EXISTING and paths:
            break
    return list(dict.fromkeys(paths))


def _glob(pattern: str, parent: str) -> list[str]:
    """The files ``pattern`` matches in ``parent`` (a literal directory)."""
    try:
        os.listdir(parent)
    except OSError as exc:
        if exc.errno in MISSING:  # the agent finds nothing there either
            return []
        return [parent]  # reading it reports why the directory cannot be listed
    return sorted(glob.glob(pattern, include_hidden=True))  # an agent listing a directory sees dotfiles too
