"""What the platform's answers hold: the bundle (Values), provenance
(List) and a partial bundle's failed keys, parsed and validated strictly.

Pure functions of bytes: no network. Errors name the endpoint and the key,
never a value.
"""

import json
import re
from typing import NamedTuple

from ..errors import BundleInvalidError
from ..values import KEY_PATTERN, Scope, check_entries, describe_key

# A failed_keys entry as workspace-server writes it: "global:KEY" or "KEY".
FAILED_KEY_PATTERN = re.compile(r"(?:[a-z_]{1,32}:)?[A-Za-z_][A-Za-z0-9_]*")


# The fields of a List row the launcher reads: named in an error, as a
# top-level variable name is. Any other key given twice is a server's own
# text, possibly a value: shown by length and fingerprint only.
_ROW_FIELDS = frozenset({"key", "scope", "has_value"})


class _UniqueObjects:
    """json's object hook that refuses a key given twice: "last one wins"
    would let a server (or a proxy appending to the body) pick which of
    two values the gate sees. It records the first duplicate and the object
    it was in (objects are built innermost first, so the document's own
    top level is the last one), for ``_load_json`` to refuse."""

    def __init__(self) -> None:
        self.built = 0
        self.duplicate: tuple[str, int] | None = None

    def __call__(self, pairs: list[tuple[str, object]]) -> dict[str, object]:
        self.built += 1
        obj: dict[str, object] = {}
        for key, value in pairs:
            if key in obj and self.duplicate is None:
                self.duplicate = (key, self.built)
            obj[key] = value
        return obj


def _load_json(body: bytes, origin: str) -> object:
    if body[:2] == b"\x1f\x8b":
        raise BundleInvalidError(f"{origin}: the body is gzip-compressed, although identity encoding was asked for")
    hook = _UniqueObjects()
    try:
        data = json.loads(body, object_pairs_hook=hook)
    except UnicodeDecodeError:
        raise BundleInvalidError(f"{origin}: not JSON (not UTF-8 text)") from None
    except ValueError as exc:
        # JSONDecodeError's text quotes only a position, never the document.
        raise BundleInvalidError(f"{origin}: not JSON ({type(exc).__name__})") from None
    except RecursionError:
        raise BundleInvalidError(f"{origin}: JSON nested too deeply") from None
    if hook.duplicate is not None:
        key, where = hook.duplicate
        top_level = isinstance(data, dict) and where == hook.built  # a variable name of a Values object
        named = key if KEY_PATTERN.fullmatch(key) and (top_level or key in _ROW_FIELDS) else None
        shown = named or f"({describe_key(key)})"
        raise BundleInvalidError(f"{origin}: key {shown} appears more than once in one object")
    return data


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
