"""Agent profiles: which files an agent reads credentials from, as data.

A profile is ``data/agents/<name>.json`` (the format is described in
``data/agents/README.md``). This module loads and validates profiles and
says which agent a command is; ``scan`` reads the files a profile
names. Adding an agent is a data file, not code.
"""

import enum
import json
import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import ConfigError

# What exec, check and supervise run when no command is given.
DEFAULT_ARGV = ("claude",)

AGENTS_DIR = Path(__file__).parent.parent / "data" / "agents"
GENERIC = "generic"
# Every profile at once: what a command whose basename names no agent gets
# (``sh -c …``, a runtime that starts an agent through an SDK), since any
# of them may run inside it. ``--agent`` narrows it.
ALL = "all"


class Format(enum.StrEnum):
    JSON = "json"
    JSONC = "jsonc"  # JSON with // and /* */ comments (gemini-cli's settings)
    TOML = "toml"
    DOTENV = "dotenv"
    INI = "ini"  # sections of key = value (the AWS shared credentials and config files)
    RAW = "raw"  # the whole file is one credential


class Pick(enum.StrEnum):
    """Which of a file entry's candidate paths the agent reads."""

    FIRST_SET = "first_set"  # the first whose variables are all set (relocation: the rest are ignored)
    FIRST_EXISTING = "first_existing"  # the first that exists (a search)
    ALL = "all"  # every one


class FieldSpec(NamedTuple):
    """A place in a parsed file that holds (or yields) a credential."""

    select: tuple[str, ...]  # dotted path; "*" matches every key at that level
    llm_keys_only: bool = False  # keep a "*" match only when the key is an LLM key
    counts_as: str | None = None  # the variable it stands for when own; "{name}" = the matched key
    helper: bool = False  # a command the agent runs to get the credential (never run here)
    values: tuple[str, ...] = ()  # only these values (case-insensitive) count, e.g. an auth type
    # The value names a variable the agent reads (codex's env_key): it counts
    # when that variable is set in the child's environment and is no LLM key
    # (an LLM key is the gate's to judge; any other name escapes it).
    variable: bool = False


class FileEntry(NamedTuple):
    label: str
    paths: tuple[str, ...]  # templates: {VAR} from the child's environment, {cwd}, globs allowed
    pick: Pick
    format: Format
    fields: tuple[FieldSpec, ...]
    upward: tuple[str, ...] = ()  # names looked for in {cwd} and each parent, before ``paths``
    argv: tuple[str, ...] = ()  # flags of the agent's command whose value is such a file, or the document itself
    # flags of the agent's command whose value is one ``dotted.key=value``
    # setting of this file's document (codex's ``-c``)
    overrides: tuple[str, ...] = ()


class AgentProfile(NamedTuple):
    name: str
    executables: tuple[str, ...]  # basenames that default to this agent
    files: tuple[FileEntry, ...]
    source: str


# Profiles are JSON read from our own package: shapes are checked by use
# (and by tests/agents/), not by a schema.
Spec = Mapping[str, Any]


def _field(spec: Spec) -> FieldSpec:
    select = str(spec.get("select", ""))
    return FieldSpec(
        select=tuple(select.split(".")) if select else (),
        llm_keys_only=spec.get("names") == "llm_keys",
        counts_as=str(spec["as"]) if spec.get("as") else None,
        helper=bool(spec.get("helper", False)),
        values=tuple(str(v).lower() for v in spec.get("values", ())),
        variable=bool(spec.get("variable", False)),
    )


def _entry(spec: Spec, field_sets: Mapping[str, list[Spec]]) -> FileEntry:
    fields = spec.get("fields", [])
    raw_fields = field_sets[fields] if isinstance(fields, str) else fields
    upward = spec.get("upward", [])
    return FileEntry(
        label=str(spec["label"]),
        paths=tuple(spec.get("paths", ())),
        pick=Pick(spec.get("pick", Pick.ALL)),
        format=Format(spec["format"]),
        fields=tuple(_field(f) for f in raw_fields),
        upward=tuple(upward),
        argv=tuple(spec.get("argv", ())),
        overrides=tuple(spec.get("overrides", ())),
    )


def _build(raw: Spec) -> AgentProfile:
    sets = raw.get("field_sets", {})
    return AgentProfile(
        name=raw["agent"],
        executables=tuple(raw.get("executables", ())),
        files=tuple(_entry(spec, sets) for spec in raw.get("files", ())),
        source=raw.get("source", ""),
    )


@cache
def _documents() -> dict[str, Spec]:
    """Every profile in ``data/agents`` as parsed JSON, by name. A launch
    builds the records of its own agent only (see ``profile``)."""
    loaded = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(AGENTS_DIR.glob("*.json"))]
    return {raw["agent"]: raw for raw in loaded}


def profiles() -> dict[str, AgentProfile]:
    """Every profile, by name."""
    return {name: profile(name) for name in known() if name != ALL}


def known() -> list[str]:
    return sorted([*_documents(), ALL])


def members(name: str) -> tuple[str, ...]:
    """The profiles whose files ``name`` checks: itself, or for ``all``
    every profile that names files."""
    if name != ALL:
        return (name,)
    return tuple(n for n in sorted(_documents()) if _documents()[n].get("files"))


@cache
def profile(name: str) -> AgentProfile:
    if name == ALL:
        parts = [profile(n) for n in members(ALL)]
        return AgentProfile(
            name=ALL,
            executables=(),
            files=tuple(entry for part in parts for entry in part.files),
            source="every profile's files: the command names no known agent",
        )
    try:
        raw = _documents()[name]
    except KeyError:
        raise ConfigError(f"unknown agent {name[:40]!r} (known: {', '.join(known())})") from None
    return _build(raw)


def argv_of(given: object) -> tuple[str, ...]:
    """The agent's argv as given on the command line, else exec's default."""
    argv = tuple(str(arg) for arg in given) if isinstance(given, tuple | list) else ()
    return argv or DEFAULT_ARGV


def identify_agent(flag_or_env: object, argv: tuple[str, ...], source: str) -> tuple[str, str]:
    """(agent, where it came from): --agent / LAUNCHER_AGENT, else what the
    executable's basename says (source "executable"). Unknown names are
    CONFIG_INVALID."""
    if flag_or_env is None:
        return agent_for_executable(argv[0]), "executable"
    return profile(str(flag_or_env).strip().lower()).name, source


def agent_for_executable(executable: str) -> str:
    """The agent an executable is, by its basename (``/usr/bin/claude`` →
    ``claude-code``); ``all`` when it names none: a wrapper (``sh -c``, a
    Python runtime using an SDK) may start any agent, so every profile's
    files are checked (fail closed)."""
    base = os.path.basename(executable)
    return next((name for name, raw in _documents().items() if base in raw.get("executables", ())), ALL)
