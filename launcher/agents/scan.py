"""Read the files an agent profile names, and find the credentials in them.

Which paths, ``paths`` says (as the agent resolves them, in the
child's final environment). Files are only read, never executed: a
helper is reported, not run. Each read is bounded, and a FIFO or device is
opened non-blocking and never read (a regular-file check comes first), so
no file can hang or flood the launcher.

A value found is hashed and dropped: a finding carries the path, the
field, a fingerprint and the variable it stands for, never the value.
"""

import json
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple, Self

from ..files import Cap, Stamp, UnreadableFileError, read_regular, stamp, stamp_of
from ..values import StrippedValues, Verdict, fingerprint
from .paths import candidates
from .profiles import AgentProfile, FieldSpec, FileEntry, Format

MAX_FILE_BYTES = int(Cap.AGENT_FILE)


class AgentFinding(NamedTuple):
    """One credential (or one file that could not be read) in a profile file."""

    path: str
    field: str | None  # None: the file itself could not be read
    verdict: Verdict
    fingerprint: str | None
    counts_as: str | None = None  # the variable it stands for, when own
    helper: bool = False
    problem: str | None = None  # why the file could not be read
    identity: tuple[int, int] | None = None  # (device, inode)

    def describe(self) -> str:
        if self.problem is not None:
            return f"{self.path}: {self.problem}"
        return f"{self.path}: {self.field}" + (" (a helper command)" if self.helper else "")


# -- reading ------------------------------------------------------------------


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UnreadableFileError("not UTF-8 text") from None


def _parse_json(data: bytes) -> Any:
    text = _text(data)
    if not text.strip():
        return {}  # an empty file holds nothing
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise UnreadableFileError("not valid JSON") from None


def _parse_jsonc(data: bytes) -> Any:
    from .jsonc import strip_comments

    try:
        stripped = strip_comments(_text(data))
    except ValueError:
        raise UnreadableFileError("not valid JSON") from None
    return _parse_json(stripped.encode("utf-8"))


def _parse_toml(data: bytes) -> Any:
    import tomllib  # only when an agent has a TOML file

    try:
        return tomllib.loads(_text(data))
    except (tomllib.TOMLDecodeError, RecursionError):
        raise UnreadableFileError("not valid TOML") from None


def _parse_dotenv(data: bytes) -> Any:
    from ..envfiles import parse_dotenv
    from ..errors import BundleInvalidError

    try:
        return parse_dotenv(_text(data), "file")
    except BundleInvalidError:
        raise UnreadableFileError("a line cannot be parsed as dotenv") from None


def _parse_ini(data: bytes) -> Any:
    import configparser

    # No interpolation, no special DEFAULT section: "[default]" is the AWS
    # default profile, a section like any other.
    parser = configparser.ConfigParser(interpolation=None, strict=False, default_section="\0")
    try:
        parser.read_string(_text(data))
    except configparser.Error:
        raise UnreadableFileError("not valid INI") from None
    return {section: dict(parser.items(section)) for section in parser.sections()}


PARSERS: dict[Format, Callable[[bytes], Any]] = {
    Format.JSON: _parse_json,
    Format.JSONC: _parse_jsonc,
    Format.TOML: _parse_toml,
    Format.DOTENV: _parse_dotenv,
    Format.INI: _parse_ini,
}


# -- fields -------------------------------------------------------------------


def _select(doc: Any, path: tuple[str, ...], prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(concrete path, value) for every place ``path`` matches in ``doc``."""
    if not path:
        yield prefix, doc
        return
    if not isinstance(doc, dict):
        return
    head, rest = path[0], path[1:]
    keys = list(doc) if head == "*" else [head] if head in doc else []
    for key in keys:
        yield from _select(doc[key], rest, (*prefix, str(key)))


def _present(value: Any) -> bool:
    """Anything but null, blank text or an empty container could authenticate."""
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, dict | list):
        return bool(value)
    return True


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


class Match(NamedTuple):
    field: str
    counts_as: str | None
    helper: bool
    fingerprint: str


def matches(
    doc: Any, specs: tuple[FieldSpec, ...], is_llm_key: Callable[[str], bool], env: Mapping[str, str] | None = None
) -> list[Match]:
    found: list[Match] = []
    for spec in specs:
        for where, value in _select(doc, spec.select):
            name = where[-1] if where else ""
            if spec.llm_keys_only and not is_llm_key(name):
                continue
            if spec.variable:
                # Judged by what the named variable holds in the child's environment.
                if not isinstance(value, str) or is_llm_key(value) or not (env or {}).get(value, "").strip():
                    continue
                field = f"{'.'.join(where)} ({value})"
                found.append(Match(field, spec.counts_as, spec.helper, fingerprint((env or {})[value])))
                continue
            if not _present(value) or (spec.values and _as_text(value).strip().lower() not in spec.values):
                continue
            counts_as = name if spec.counts_as == "{name}" else spec.counts_as
            found.append(Match(".".join(where) or "content", counts_as, spec.helper, fingerprint(_as_text(value))))
    return found


def _raw(data: bytes, specs: tuple[FieldSpec, ...]) -> list[Match]:
    text = data.decode("utf-8", "surrogateescape")
    if not text.strip():
        return []
    counts_as = specs[0].counts_as if specs else None
    return [Match("content", counts_as, False, fingerprint(text.strip()))]


# -- scanning -----------------------------------------------------------------


class OwnFiles(NamedTuple):
    """The files declared with ``--own-agent-file``, by identity (device,
    inode), so a symlink or another spelling of the path still matches."""

    ids: frozenset[tuple[int, int]]

    @classmethod
    def of(cls, paths: tuple[Path, ...]) -> Self:
        ids = set()
        for path in paths:
            try:
                info = os.stat(path)
            except OSError:
                continue  # config.load_config already refused a missing one
            ids.add((info.st_dev, info.st_ino))
        return cls(frozenset(ids))


def scan_file(
    entry: FileEntry,
    path: str,
    own: OwnFiles,
    is_llm_key: Callable[[str], bool],
    env: Mapping[str, str] | None = None,
    stripped: StrippedValues | None = None,
    watch: dict[str, Stamp | None] | None = None,
) -> list[AgentFinding]:
    """``watch`` records what was judged: the read file's stamp, or None for
    an absent one (``files.changed`` later says whether it is still so)."""
    watch = {} if watch is None else watch
    try:
        read = read_regular(path, MAX_FILE_BYTES, missing_ok=True)
    except UnreadableFileError as exc:
        watch[path] = stamp(path)
        return [AgentFinding(path, None, Verdict.FOREIGN, None, problem=str(exc))]
    if read is None:
        watch[path] = None
        return []
    data, info = read
    watch[path] = stamp_of(info, data)
    identity = (info.st_dev, info.st_ino)
    verdict = Verdict.OWN if identity in own.ids else Verdict.FOREIGN
    doc: Any = None
    try:
        if entry.format is Format.RAW:
            found = _raw(data, entry.fields)
        else:
            doc = PARSERS[entry.format](data)
            found = matches(doc, entry.fields, is_llm_key, env)
    except UnreadableFileError as exc:
        return [AgentFinding(path, None, verdict, None, problem=str(exc), identity=identity)]
    findings = [
        AgentFinding(path, m.field, verdict, m.fingerprint, m.counts_as, m.helper, identity=identity) for m in found
    ]
    return findings + copies_in(data, doc, path, identity, stripped or StrippedValues({}))


def copies_in(
    data: bytes, doc: Any, path: str, identity: tuple[int, int], stripped: StrippedValues
) -> list[AgentFinding]:
    """A file that holds the value of a credential the gate stripped, under
    any field: foreign even when declared own, since that value is provably
    not the workspace's. Looked for in the bytes and, parsed, in every text
    the document holds (a JSON ``\\u0073k-...`` escape spells the same value)."""
    copies = dict(stripped.in_bytes(data))
    for text in _texts(doc):
        found = stripped.match(text)
        if found is not None:
            copies.setdefault(*found)
    return [
        AgentFinding(path, f"(the value of the stripped {key})", Verdict.FOREIGN, fingerprint(value), identity=identity)
        for value, key in copies.items()
    ]


def _texts(doc: Any) -> Iterator[str]:
    """Every string a parsed document holds, keys included."""
    if isinstance(doc, str):
        yield doc
    elif isinstance(doc, dict):
        for key, value in doc.items():
            yield from _texts(key)
            yield from _texts(value)
    elif isinstance(doc, list):
        for value in doc:
            yield from _texts(value)


def flag_values(argv: tuple[str, ...], flags: tuple[str, ...]) -> list[str]:
    """The values of ``--flag VALUE`` and ``--flag=VALUE`` in an argv."""
    values = []
    for i, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        if name in flags and eq:
            values.append(value)
        elif arg in flags and i + 1 < len(argv):
            values.append(argv[i + 1])
    return values


def scan_inline(entry: FileEntry, flag: str, text: str, is_llm_key: Callable[[str], bool]) -> list[AgentFinding]:
    """A document given on the command line: nobody can declare it own."""
    where = f"(command line {flag})"
    try:
        doc = PARSERS[entry.format](text.encode("utf-8", "surrogateescape"))
    except (UnreadableFileError, KeyError):
        return [AgentFinding(where, None, Verdict.FOREIGN, None, problem=f"not valid {entry.format.value}")]
    found = matches(doc, entry.fields, is_llm_key)
    return [AgentFinding(where, m.field, Verdict.FOREIGN, m.fingerprint, m.counts_as, m.helper) for m in found]


def override_document(text: str) -> Any:
    """``dotted.key=value`` as codex reads ``-c``: the value as TOML, else
    the literal string; None when it is no such setting."""
    import tomllib

    key, eq, value = text.partition("=")
    path = [part.strip().strip('"') for part in key.split(".")]
    if not eq or not all(path):
        return None
    try:
        parsed: Any = tomllib.loads(f"v = {value}")["v"]
    except (tomllib.TOMLDecodeError, RecursionError):
        parsed = value
    for part in reversed(path):
        parsed = {part: parsed}
    return parsed


def scan_overrides(entry: FileEntry, argv: tuple[str, ...], is_llm_key: Callable[[str], bool]) -> list[AgentFinding]:
    """Settings given one by one on the agent's command line: nobody can
    declare them own."""
    findings: list[AgentFinding] = []
    for flag in entry.overrides:
        attached = [
            a[len(flag) :] for a in argv if len(flag) == 2 and a.startswith(flag) and a[len(flag) :][:1] not in "=-"
        ]
        for value in flag_values(argv, (flag,)) + attached:
            doc = override_document(value)
            if doc is None:
                continue  # the agent rejects it too
            where = f"(command line {flag})"
            found = matches(doc, entry.fields, is_llm_key)
            findings += [
                AgentFinding(where, m.field, Verdict.FOREIGN, m.fingerprint, m.counts_as, m.helper) for m in found
            ]
    return findings


def scan(
    agent: AgentProfile,
    env: Mapping[str, str],
    cwd: Path | None,
    own: OwnFiles,
    is_llm_key: Callable[[str], bool],
    argv: tuple[str, ...] = (),
    stripped: StrippedValues | None = None,
    watch: dict[str, Stamp | None] | None = None,
) -> tuple[AgentFinding, ...]:
    """Every credential in the files ``agent`` reads, as the child would see
    them, including files (or documents) its command line names."""
    findings: list[AgentFinding] = []
    seen: set[str] = set()
    for entry in agent.files:
        findings.extend(scan_overrides(entry, argv[1:], is_llm_key))
        probed: list[str] = []
        paths = candidates(entry, env, cwd, probed)
        if watch is not None:
            for path in probed:
                watch.setdefault(path, stamp(path))
        for flag in entry.argv:
            for value in flag_values(argv[1:], (flag,)):
                if value.lstrip().startswith("{"):
                    findings.extend(scan_inline(entry, flag, value, is_llm_key))
                else:
                    paths.append(value if os.path.isabs(value) or cwd is None else str(cwd / value))
        for path in paths:
            if path in seen:
                continue
            seen.add(path)
            findings.extend(scan_file(entry, path, own, is_llm_key, env, stripped, watch))
    return tuple(findings)
