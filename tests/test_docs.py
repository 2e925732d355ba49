"""README and docs/ say what the code does: every `agent-launcher` command
line they show parses with the real parser, README's quick start and check
example run as shown, and every relative link lands on a file."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
from support import base_env, launcher_path

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```[a-z]*\n(.*?)^```", re.M | re.S)
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")


def shown_commands(page: Path) -> list[str]:
    """Command lines in fenced blocks that run `agent-launcher` (continuations
    joined, a leading `$ ` dropped, placeholders such as `…` or `<port>`
    read as a value); synopses with [OPTIONS] are not commands."""
    found = []
    for block in FENCE.findall(page.read_text(encoding="utf-8")):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip().removeprefix("$ ")
            words = line.split("#", 1)[0].strip()
            if not re.search(r"(^|\s|/)agent-launcher\s", words + " "):
                continue
            if "[OPTIONS]" in words:
                continue
            found.append(re.sub(r"<[^>]*>|…|\.\.\.", "x", words))
    return found


def launcher_args(line: str) -> list[str] | None:
    """The launcher's own arguments in a shown command (after `agent-launcher`,
    or after the image name for `docker run --entrypoint agent-launcher`)."""
    words = shlex.split(line)
    if words[0] == "docker":
        if "--entrypoint" not in words or words[words.index("--entrypoint") + 1] != "agent-launcher":
            return None  # the image's own entrypoint: the arguments are the agent's
        rest = words[words.index("--entrypoint") + 2 :]
        while rest and rest[0].startswith("-"):  # docker's flags and their values, up to the image
            rest = rest[2:] if rest[0] in ("-e", "-v", "--user", "--network") else rest[1:]
        return rest[1:]  # after the image name
    start = next(i for i, w in enumerate(words) if w.endswith("agent-launcher"))
    return words[start + 1 :]


def test_every_shown_launcher_command_parses() -> None:
    from launcher.cli import build_parser, split_command

    checked = 0
    for page in PAGES:
        for line in shown_commands(page):
            args = launcher_args(line)
            if args is None:
                continue
            own, _command = split_command(args)
            if own == ["--version"]:
                continue
            try:
                build_parser().parse_args(own)
            except Exception as exc:  # the parser raises ConfigError for a bad flag
                pytest.fail(f"{page.name}: `{line}` does not parse: {exc}")
            checked += 1
    assert checked >= 8, f"only {checked} commands found: the extraction is broken"


def test_every_relative_link_lands_on_a_file() -> None:
    for page in PAGES:
        for target, _anchor in LINK.findall(page.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            assert (page.parent / target).exists(), f"{page.name} links to a missing {target}"


def test_readme_quick_start_runs_as_shown() -> None:
    """The quick start's exec, from the repository: the platform's global OAuth
    token is gone, the workspace's own key is there (names only are printed)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    line = next(x for x in readme.splitlines() if x.startswith("python3 -m venv .venv && "))
    exec_part = line.split(".venv/bin/agent-launcher ", 1)[1]
    proc = subprocess.run(
        [launcher_path(), *shlex.split(exec_part)], cwd=REPO, env=base_env(),
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    names = proc.stdout.split()
    assert "ANTHROPIC_API_KEY" in names and "CLAUDE_CODE_OAUTH_TOKEN" not in names


def test_readme_check_example_says_what_check_says() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    shown = readme.split("$ agent-launcher check ", 1)[1].split("```", 1)[0]
    args, _, output = shown.partition("\n")
    proc = subprocess.run(
        [launcher_path(), "check", *shlex.split(args)], cwd=REPO, env=base_env(),
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert proc.returncode == 78, proc.stderr

    def words(text: str) -> str:  # column widths follow the widest key
        return " ".join(text.split())

    for expected in ("CLAUDE_CODE_OAUTH_TOKEN global yes strip", "decision: refuse (exit 78, MISSING_BYOK_CREDENTIAL)"):
        assert expected in words(output) and expected in words(proc.stdout), expected
