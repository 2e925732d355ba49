"""Parse and validate what the platform and dotenv files hand us.

Everything here is a pure function of bytes or text: no network, no
environment. Errors name the origin and position, never a value.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable
from pathlib import Path

from .errors import BundleInvalidError

KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Scope(enum.StrEnum):
    """Where a value came from, as far as the launcher can prove."""

    WORKSPACE = "workspace"
    GLOBAL = "global"
    INHERITED = "inherited"
    UNKNOWN = "unknown"


def check_entries(pairs: Iterable[tuple[object, object]], origin: str) -> dict[str, str]:
    bundle: dict[str, str] = {}
    for key, value in pairs:
        if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
            raise BundleInvalidError(f"{origin}: a key ({_describe(key)}) is not a valid variable name")
        if not isinstance(value, str):
            raise BundleInvalidError(f"{origin}: value of {key} is {type(value).__name__}, not a string")
        if "\x00" in value:
            raise BundleInvalidError(f"{origin}: value of {key} contains a NUL byte")
        bundle[key] = value
    return bundle


def fingerprint(value: str) -> str:
    """8 hex of SHA-256: enough to tell two values apart, useless to replay.
    The only form in which any value is ever shown."""
    import hashlib  # OpenSSL start-up: paid only when something is shown

    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()[:8]


def _describe(key: object) -> str:
    """An invalid key by fingerprint, not by text: whatever sits where a
    name should be could be a value pasted in the wrong place."""
    if not isinstance(key, str):
        return type(key).__name__
    return f"{len(key)} characters, fingerprint {fingerprint(key)}"


def _load_json(body: bytes, origin: str) -> object:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
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
    """Key -> scope from the List endpoint. A workspace row beats a global
    row for the same key, as it does in the merged bundle."""
    data = _load_json(body, origin)
    if not isinstance(data, list):
        raise BundleInvalidError(f"{origin}: expected a JSON array, got {type(data).__name__}")
    scopes: dict[str, Scope] = {}
    for index, row in enumerate(data):
        if not isinstance(row, dict) or not isinstance(row.get("key"), str):
            raise BundleInvalidError(f"{origin}: entry {index} has no string 'key'")
        raw_scope = row.get("scope")
        scope = (
            Scope.WORKSPACE if raw_scope == "workspace" else Scope.GLOBAL if raw_scope == "global" else Scope.UNKNOWN
        )
        key = row["key"]
        if scopes.get(key) is not Scope.WORKSPACE:
            scopes[key] = scope
    return scopes


def parse_incomplete(body: bytes) -> list[str] | None:
    """The ``failed_keys`` of a 500 that refuses a partial bundle, if any."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if isinstance(data, dict) and isinstance(data.get("failed_keys"), list):
        return [str(k)[:128] for k in data["failed_keys"]]
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
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise BundleInvalidError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise BundleInvalidError(f"{path}: cannot read ({type(exc).__name__})") from None
    return parse_dotenv(text, str(path))
