"""Parse and validate what the platform and dotenv files hand us.

Everything here is a pure function of bytes or text: no network, no
environment. Errors name the origin and position, never a value.
"""

import enum
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from .errors import BundleInvalidError

KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A failed_keys entry as workspace-server writes it: "global:KEY" or "KEY".
FAILED_KEY_PATTERN = re.compile(r"(?:[a-z_]{1,32}:)?[A-Za-z_][A-Za-z0-9_]*")


class Scope(enum.StrEnum):
    """Where a value came from, as far as the launcher can prove."""

    WORKSPACE = "workspace"
    GLOBAL = "global"
    INHERITED = "inherited"
    UNKNOWN = "unknown"
    # Set by the launcher itself (the metadata fallback it closes, see
    # ``registry.Closer``); never a platform's claim: parsing maps only
    # "workspace" and "global" (``scope_of_rows``).
    LAUNCHER = "launcher"


def check_entries(pairs: Iterable[tuple[object, object]], origin: str) -> dict[str, str]:
    bundle: dict[str, str] = {}
    for key, value in pairs:
        if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
            raise BundleInvalidError(f"{origin}: a key ({_describe(key)}) is not a valid variable name")
        if not isinstance(value, str):
            raise BundleInvalidError(f"{origin}: value of {key} is {type(value).__name__}, not a string")
        if "\x00" in value:
            raise BundleInvalidError(f"{origin}: value of {key} contains a NUL byte")
        if not _is_unicode(value):
            # JSON can spell a lone surrogate ("\ud800"); no environment can hold one.
            raise BundleInvalidError(f"{origin}: value of {key} is not valid Unicode (a lone surrogate)")
        if key in bundle:
            raise BundleInvalidError(f"{origin}: key {key} appears more than once")
        bundle[key] = value
    return bundle


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def fingerprint(value: str) -> str:
    """8 hex of SHA-256: enough to tell two values apart, useless to replay.
    The only form in which any value is ever shown."""
    import hashlib  # OpenSSL start-up: paid only when something is shown

    try:
        # An inherited value that was not UTF-8 hashes as its original bytes.
        data = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate no byte maps to
        data = value.encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()[:8]


def _describe(key: object) -> str:
    """An invalid key by fingerprint, not by text: whatever sits where a
    name should be could be a value pasted in the wrong place."""
    if not isinstance(key, str):
        return type(key).__name__
    return f"{len(key)} characters, fingerprint {fingerprint(key)}"


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__("duplicate key")
        self.key = key


def _unique_object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """json's object hook that refuses a key given twice: "last one wins"
    would let a server (or a proxy appending to the body) pick which of
    two values the gate sees."""
    obj: dict[str, object] = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKeyError(key)
        obj[key] = value
    return obj


def _named(key: str) -> str:
    return key if KEY_PATTERN.fullmatch(key) else f"({_describe(key)})"


def _load_json(body: bytes, origin: str) -> object:
    if body[:2] == b"\x1f\x8b":
        raise BundleInvalidError(f"{origin}: the body is gzip-compressed, although identity encoding was asked for")
    try:
        return json.loads(body, object_pairs_hook=_unique_object)
    except _DuplicateKeyError as exc:
        raise BundleInvalidError(f"{origin}: key {_named(exc.key)} appears more than once in one object") from None
    except UnicodeDecodeError:
        raise BundleInvalidError(f"{origin}: not JSON (not UTF-8 text)") from None
    except ValueError as exc:
        # JSONDecodeError's text quotes only a position, never the document.
        raise BundleInvalidError(f"{origin}: not JSON ({type(exc).__name__})") from None
    except RecursionError:
        raise BundleInvalidError(f"{origin}: JSON nested too deeply") from None


def parse_values(body: bytes, origin: str = "secrets/values") -> dict[str, str]:
    """The merged bundle: a flat JSON object of string to string."""
    data = _load_json(body, origin)
    if not isinstance(data, dict):
        raise BundleInvalidError(f"{origin}: expected a JSON object, got {type(data).__name__}")
    return check_entries(data.items(), origin)


def parse_provenance(body: bytes, origin: str = "secrets") -> dict[str, Scope]:
    """Key -> scope from the List endpoint. A workspace row with a value
    beats a global row for the same key, as it does in the merged bundle.
    A workspace row with ``has_value: false`` proves nothing: the merged
    value is then someone else's, so the key's provenance is unknown
    (unless another workspace row for it has a value)."""
    data = _load_json(body, origin)
    if not isinstance(data, list):
        raise BundleInvalidError(f"{origin}: expected a JSON array, got {type(data).__name__}")
    # Per key, the rows seen: the strongest claim decides.
    seen: dict[str, set[Scope | None]] = {}
    for index, row in enumerate(data):
        if not isinstance(row, dict) or not isinstance(row.get("key"), str):
            raise BundleInvalidError(f"{origin}: entry {index} has no string 'key'")
        raw_scope = row.get("scope")
        scope = (
            Scope.WORKSPACE if raw_scope == "workspace" else Scope.GLOBAL if raw_scope == "global" else Scope.UNKNOWN
        )
        # None marks a workspace row that says it holds no value.
        claim = None if scope is Scope.WORKSPACE and row.get("has_value") is False else scope
        seen.setdefault(row["key"], set()).add(claim)
    return {key: _strongest(claims) for key, claims in seen.items()}


def _strongest(claims: set[Scope | None]) -> Scope:
    if Scope.WORKSPACE in claims:
        return Scope.WORKSPACE
    if None in claims:
        return Scope.UNKNOWN
    return Scope.GLOBAL if Scope.GLOBAL in claims else Scope.UNKNOWN


class FailedKeys(NamedTuple):
    """A 500's ``failed_keys``: the entries that are variable names, and
    how many others there were. Anything else is not shown: a server (or
    a bug in one) could put ``KEY=value`` there."""

    names: tuple[str, ...]
    others: int

    def describe(self) -> str:
        shown = ", ".join(self.names) or "(none listed)"
        if not self.others:
            return shown
        return f"{shown} and {self.others} entr{'y' if self.others == 1 else 'ies'} not shown"


def parse_incomplete(body: bytes) -> FailedKeys | None:
    """The ``failed_keys`` of a 500 that refuses a partial bundle, if any."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if isinstance(data, dict) and isinstance(data.get("failed_keys"), list):
        entries = data["failed_keys"]
        names = tuple(k for k in entries if isinstance(k, str) and len(k) <= 128 and FAILED_KEY_PATTERN.fullmatch(k))
        return FailedKeys(names, len(entries) - len(names))
    return None


def parse_dotenv(text: str, origin: str) -> dict[str, str]:
    """A dotenv file, read literally: no ``${VAR}`` interpolation, so a file
    cannot copy an inherited platform token into a workspace-scope key."""
    import io

    from dotenv.parser import parse_stream  # only local mode pays for it

    entries: dict[str, str] = {}
    for binding in parse_stream(io.StringIO(text)):
        where = f"{origin}:{_first_line(binding.original.string, binding.original.line)}"
        # Name the line and the problem, never the line's text: a pasted
        # token on a line of its own would otherwise be echoed as a "name".
        if binding.error:
            raise BundleInvalidError(f"{where}: cannot parse this line")
        if binding.key is None:
            continue  # blank line or comment
        if not KEY_PATTERN.fullmatch(binding.key):
            raise BundleInvalidError(f"{where}: the name is not a valid variable name")
        if binding.value is None:
            raise BundleInvalidError(f"{where}: a name with no '=' and no value")
        if "\x00" in binding.value:
            raise BundleInvalidError(f"{where}: the value contains a NUL byte")
        entries[binding.key] = binding.value
    return entries


def _first_line(original: str, line: int) -> int:
    # python-dotenv counts a binding from the blank lines before it; the
    # line a person should look at is the first one with text on it.
    skipped = original[: len(original) - len(original.lstrip())]
    return line + skipped.count("\n")


def read_dotenv(path: Path) -> dict[str, str]:
    """A file that cannot be read is the operator's (64, as at start-up);
    one that reads but is not text is a bad bundle (65)."""
    from .files import Cap, read_bounded

    try:
        text = read_bounded(path, "env file", Cap.ENV_FILE).decode("utf-8")
    except UnicodeDecodeError:
        raise BundleInvalidError(f"{path}: not UTF-8 text") from None
    return parse_dotenv(text, str(path))
