"""The import rules of docs/architecture.md ("Import rules"), which the
launch-time and supervisor-memory figures of docs/benchmarks.md rest on:
one "hoist the imports" tidy-up would break them silently. Measured on the
installed command with ``python -X importtime``, which lists every module
the process really imported before it exec'd the child."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support import OWN_API_KEY, base_env, launcher_path, platform_args, token_env

HEAVY = frozenset({"httpx", "httpcore", "tenacity", "psutil", "anyio", "h11", "certifi"})


def imported_packages(*args: str, env: dict[str, str]) -> set[str]:
    return {name.split(".")[0] for name in imported_modules(*args, env=env)}


def imported_modules(*args: str, env: dict[str, str]) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", launcher_path(), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr[-800:]}"
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    assert "launcher" in names, "importtime output not understood"
    return names


@pytest.fixture
def own_env(tmp_path: Path) -> str:
    path = tmp_path / "own.env"
    path.write_text(f"ANTHROPIC_API_KEY={OWN_API_KEY}\n")
    return str(path)


@pytest.mark.parametrize("command", ["exec", "check"])
def test_local_mode_loads_no_network_or_process_library(command: str, own_env: str) -> None:
    args = [command, "--billing-mode", "byok", "--env-file", own_env]
    if command == "exec":
        args += ["--", "/bin/true"]
    loaded = imported_packages(*args, env=base_env())
    assert not loaded & HEAVY, f"local {command} imported {sorted(loaded & HEAVY)}"
    assert "dotenv" in loaded  # the dotenv parser is local mode's one dependency


def test_platform_exec_loads_the_client_but_not_psutil(platform) -> None:
    platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    args = ["exec", *platform_args(platform), "--", "/bin/true"]
    loaded = imported_packages(*args, env=token_env())
    assert {"httpx", "tenacity"} <= loaded
    assert not loaded & {"psutil", "httpcore", "anyio", "certifi"}, sorted(loaded & HEAVY)


def test_records_on_the_launch_path_are_built_from_evaluated_annotations(platform) -> None:
    """A ``typing.NamedTuple`` whose annotations are strings (``from
    __future__ import annotations``) compiles every one of them when the
    class is defined: 1.5 ms of a byok launch (measured with compiled
    bytecode) over the records the launch path defines. Those modules
    evaluate their annotations instead."""
    import ast

    platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    args = ["exec", *platform_args(platform), "--billing-mode", "byok", "--", "/bin/true"]
    loaded = imported_modules(*args, env=token_env())
    package = Path(__file__).resolve().parent.parent / "launcher"
    deferred = []
    for name in sorted(m for m in loaded if m.startswith("launcher.")):
        path = package.joinpath(*name.split(".")[1:]).with_suffix(".py")
        if not path.exists():  # a package
            path = package.joinpath(*name.split(".")[1:], "__init__.py")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        future = any(
            isinstance(node, ast.ImportFrom) and node.module == "__future__" and node.names[0].name == "annotations"
            for node in tree.body
        )
        fields = sum(
            isinstance(item, ast.AnnAssign)
            for node in tree.body
            if isinstance(node, ast.ClassDef) and any(getattr(b, "id", "") == "NamedTuple" for b in node.bases)
            for item in node.body
        )
        if future and fields > 2:
            deferred.append(f"{name} ({fields} fields)")
    assert "launcher.gate" in loaded and "launcher.config" in loaded
    assert not deferred, f"NamedTuples built from string annotations on the launch path: {deferred}"
