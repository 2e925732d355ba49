"""The commands README.md and docs/*.md show, and which test runs each.

A shown command is a line of a ```sh block (continued lines joined,
comments dropped), a ``$ `` line of any block, or an ``agent-launcher``
line of a synopsis that is a whole command (no ``[OPTIONS]``, no
``...``). Each is claimed in RUNNERS by the one test that runs it, which
takes its command line from here (``claimed``), so editing a command in
the docs changes what runs; or it is in NOT_RUN with the reason.
test_docs.py fails on a shown command that no entry, or more than one,
claims.

Placeholders in the docs are ``<...>`` (``<port>``, ``<base>``), ``…``
for what the surrounding text names, and ``[...]`` for an optional group
of words; ``fill`` puts real values in their place."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```([a-z]*)\n(.*?)^```", re.M | re.S)

# test (path under tests/ :: function) -> (page, a pattern its lines match), ...
RUNNERS: dict[str, tuple[tuple[str, str], ...]] = {
    "test_docs.py::test_readme_quick_start_runs_as_shown": (("README.md", r"^python3 -m venv \.venv && "),),
    "test_docs.py::test_readme_test_command_is_what_ci_runs": (("README.md", r"^\.venv/bin/python -m pytest$"),),
    "test_docs.py::test_readme_check_example_says_what_check_says": (("README.md", r"^agent-launcher check "),),
    "test_docs.py::test_version_line_prints_the_version": (("README.md", r"^agent-launcher --version$"),),
    "test_docs.py::test_platform_proxy_line_keeps_the_token_from_the_runtime": (
        ("README.md", r"^exec agent-launcher supervise --platform-proxy "),
        ("platform-proxy.md", r"^exec agent-launcher supervise --platform-proxy "),
    ),
    "test_docs.py::test_supervise_line_gates_and_exits_as_its_child": (
        ("supervise-and-audit.md", r"^agent-launcher supervise "),
    ),
    "test_docs.py::test_audit_line_finds_the_foreign_key": (("supervise-and-audit.md", r"^agent-launcher audit "),),
    "test_docs.py::test_pip_compile_lines_made_the_locks": (("containers.md", r"^\.venv/bin/pip-compile "),),
    "test_docs.py::test_benchmarks_line_prints_every_table": (
        ("benchmarks.md", r"^\.venv/bin/python benchmarks/run\.py"),
    ),
    "container/test_container_docs.py::test_build_lines_build_the_image_under_test": (
        ("README.md", r"^docker build -t agent-launcher \.$"),
        ("containers.md", r"^docker build (--target demo )?-t agent-launcher(:demo)? \.$"),
    ),
    "container/test_container_agents.py::test_agent_build_argument_installs_that_cli": (
        ("containers.md", r"^docker build --build-arg AGENT="),
    ),
    "container/test_container_docs.py::test_run_lines_launch_claude_with_the_own_key_only": (
        ("README.md", r"^docker run --rm -it "),
        ("containers.md", r"^docker run --rm -it "),
    ),
    "container/test_container_docs.py::test_root_lines_run_claude_as_the_agent_user": (
        ("README.md", r"^docker run --rm --user 0 "),
        ("containers.md", r"^docker run --rm --user 0 "),
    ),
    "container/test_container_docs.py::test_entrypoint_version_line": (
        ("containers.md", r"^docker run --rm --entrypoint agent-launcher agent-launcher --version$"),
    ),
    "container/test_container_docs.py::test_entrypoint_check_line_explains_the_decision": (
        ("containers.md", r"^docker run --rm --entrypoint agent-launcher .* check --json$"),
    ),
    "container/test_container_docs.py::test_entrypoint_supervise_line_runs_claude": (
        ("containers.md", r"^docker run --rm --entrypoint agent-launcher .* supervise -- "),
    ),
    "container/test_container_docs.py::test_the_suite_builds_as_its_docs_say": (
        ("containers.md", r"^DOCKER_BUILDKIT=0 docker build "),
    ),
    "container/test_container_image.py::test_byok_own_key_real_claude_sends_only_that_key": (
        ("containers.md", r"^docker run --rm --network host "),
    ),
    "container/test_container_compose.py::test_compose_example_comes_up_and_the_agent_runs": (
        ("containers.md", r"^docker-compose "),
    ),
}

# (page, pattern) -> why no test runs it
NOT_RUN: dict[tuple[str, str], str] = {
    ("platform-proxy.md", r"^exec python /app/main\.py$"): (
        "the platform runtime's own entrypoint before the change, shown for contrast; the line after it runs"
    ),
    ("containers.md", r"^\.venv/bin/pip install pip-tools$"): (
        "installs pip-compile from PyPI, out of the tests' reach; the locks it makes are checked against the docs"
    ),
}


def shown_commands(page: Path) -> list[str]:
    """The command lines ``page`` shows, as an operator would type them."""
    found = []
    for lang, block in FENCE.findall(page.read_text(encoding="utf-8")):
        for raw in re.sub(r"\s*\\\n\s*", " ", block).splitlines():
            line = raw.strip()
            if line.startswith("$ "):
                line = line[2:]
            elif lang != "sh" and (not line.startswith("agent-launcher ") or re.search(r"\[OPTIONS\]|\.\.\.", line)):
                continue  # a diagram, an output, a synopsis (but for a command line in it)
            line = re.sub(r"(^|\s+)#.*$", "", line)
            if line:
                found.append(line)
    return found


def claims_of(page: str, line: str) -> list[str]:
    """Every runner (or NOT_RUN reason) whose pattern matches ``line`` of ``page``."""
    runners = [r for r, lines in RUNNERS.items() for p, pattern in lines if p == page and re.search(pattern, line)]
    reasons = [why for (p, pattern), why in NOT_RUN.items() if p == page and re.search(pattern, line)]
    return runners + reasons


def claimed(runner: str) -> list[tuple[str, str]]:
    """(page, line) of every shown command ``runner`` claims, for its parametrize."""
    found = [
        (page.name, line)
        for page in PAGES
        for line in shown_commands(page)
        if any(p == page.name and re.search(pattern, line) for p, pattern in RUNNERS[runner])
    ]
    assert found, f"{runner} claims no line the docs show"
    return found


def each_line(runner: str) -> pytest.MarkDecorator:
    """Parametrize a runner over its lines: ``page`` and ``line``, one case a line."""
    lines = claimed(runner)
    return pytest.mark.parametrize(("page", "line"), lines, ids=[f"{p}:{i}" for i, (p, _) in enumerate(lines)])


def fill(line: str, values: Mapping[str, str], optional: bool = False) -> list[str]:
    """``line``'s words with each placeholder or shown value in ``values``
    replaced (by text, before splitting), and its ``[...]`` group kept
    (brackets dropped) only when ``optional``. Fails on a placeholder left."""
    for shown, value in values.items():
        assert shown in line, f"`{shown}` is not in `{line}`"
        line = line.replace(shown, value)
    group = re.search(r"\[([^\]]*)\]", line)
    if group:
        line = line.replace(group.group(0), group.group(1) if optional else "")
    left = re.findall(r"<[^>]*>|…|\.\.\.", line)
    assert not left, f"placeholders left unfilled: {left} in `{line}`"
    return shlex.split(line)
