"""Removing the launcher's stale private CODEX_HOMEs (``codex.remove_stale``):
the directories are the agent's (its uid), so whatever it planted there
(mark names that are no pid, a tree too deep to walk) never makes the
launcher fail, and the directory a running child uses is kept whatever
spelling of its path the caller has."""

from __future__ import annotations

import os
from pathlib import Path

from launcher.agents import codex

DEAD = 2**22 + 1  # above the default pid_max: never a live process


def _home(parent: Path, name: str, *marks: str) -> Path:
    home = parent / f"{codex._PREFIX}{os.getuid()}-{name}"
    home.mkdir(mode=0o700)
    (home / "auth.json").write_text("{}")
    for mark in marks:
        (home / f"{codex._USER_MARK}{mark}").touch()
    return home


def test_planted_marks_and_a_deep_tree_never_make_it_fail(tmp_path: Path) -> None:
    odd = _home(tmp_path, "odd", "\u00b2", "99999999999999999999", "-1", str(DEAD))
    huge = _home(tmp_path, "huge", "9999999999")  # ten digits: over any pid, never alive
    deep = _home(tmp_path, "deep", str(DEAD))
    fd = os.open(deep, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(1200):  # deeper than rmtree's recursion can walk
        os.mkdir("d", dir_fd=fd)
        inner = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = inner
    os.close(fd)
    try:
        codex.remove_stale(tmp_path)  # nothing raises
        assert not odd.exists() and not huge.exists(), "dead marks: stale"
    finally:
        _flatten(deep)  # pytest's own clean-up walks trees recursively too


def _flatten(top: Path) -> None:
    """Remove a deep chain of ``d`` directories one level at a time."""
    while (top / "d").is_dir():
        if (top / "d" / "d").is_dir():
            os.rename(top / "d" / "d", top / "next")
            os.rmdir(top / "d")
            os.rename(top / "next", top / "d")
        else:
            os.rmdir(top / "d")


def test_the_kept_directory_is_kept_under_another_spelling_of_its_path(tmp_path: Path) -> None:
    real = tmp_path / "run"
    real.mkdir()
    alias = tmp_path / "alias"
    alias.symlink_to(real)
    old = _home(real, "old", str(os.getpid()))
    new = _home(real, "new", str(os.getpid()))
    codex.release(str(alias / old.name), keep=str(new), uid=os.getuid())  # the old child's path, by the alias
    assert not old.exists(), "the old child's directory goes"
    assert (new / "auth.json").exists(), "the running child's directory stays"
