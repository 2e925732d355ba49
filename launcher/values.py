"""Variables and their values as the launcher holds them: what a valid
name is, the scope a value came from (as far as the launcher can prove),
and the fingerprint, the only form in which any value is ever shown."""

import enum
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import NamedTuple

from .errors import BundleInvalidError

KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Verdict(enum.StrEnum):
    """Whose a credential is: the workspace's own, anything else (foreign),
    or (audit only) the launcher's own platform token. Said of a value in an
    agent's file (``agents.scan``) and of a value a process holds (``audit``)."""

    OWN = "own"
    FOREIGN = "foreign"
    TOKEN = "token"  # noqa: S105 - a verdict, not a secret


class Scope(enum.StrEnum):
    """Where a value came from, as far as the launcher can prove."""

    WORKSPACE = "workspace"
    GLOBAL = "global"
    INHERITED = "inherited"
    UNKNOWN = "unknown"
    # Set by the launcher itself (the metadata fallback it closes, see
    # ``catalogue.Closer``); never a platform's claim: parsing maps only
    # "workspace" and "global" (``scope_of_rows``).
    LAUNCHER = "launcher"


def check_entries(pairs: Iterable[tuple[object, object]], origin: str) -> dict[str, str]:
    bundle: dict[str, str] = {}
    for key, value in pairs:
        if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
            raise BundleInvalidError(f"{origin}: a key ({describe_key(key)}) is not a valid variable name")
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


def describe_key(key: object) -> str:
    """An invalid key by fingerprint, not by text: whatever sits where a
    name should be could be a value pasted in the wrong place."""
    if not isinstance(key, str):
        return type(key).__name__
    return f"{len(key)} characters, fingerprint {fingerprint(key)}"


# A stripped value is recognised under another name when it is at least
# COPY_EQUAL characters long (shorter values, "1" or "none", occur by
# chance), and inside a longer value (``Bearer <value>``) from COPY_INSIDE
# characters on; the launcher's token from COPY_EQUAL on, and equal at any
# length.
COPY_EQUAL = 8
COPY_INSIDE = 16


class StrippedValues(NamedTuple):
    """The values the gate stripped, to recognise under any name: value ->
    the variable it was stripped from. ``inside``: the ones also looked for
    inside longer values (the launcher's token from COPY_EQUAL characters
    on, the rest from COPY_INSIDE), worked out once (``of``): the gate asks
    about every key of the environment."""

    by_value: Mapping[str, str]
    inside: tuple[tuple[str, str], ...] = ()
    # One search for all of ``inside`` (the gate runs it on every value).
    pattern: re.Pattern[str] | None = None

    @classmethod
    def of(cls, by_value: Mapping[str, str], tokens: frozenset[str] = frozenset()) -> "StrippedValues":
        inside = tuple(
            (secret, key)
            for secret, key in by_value.items()
            if len(secret) >= (COPY_EQUAL if secret in tokens else COPY_INSIDE)
        )
        # Longest first: a secret that holds another is reported as itself.
        ordered = sorted((secret for secret, _ in inside), key=len, reverse=True)
        pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        return cls(by_value, inside, pattern)

    def __repr__(self) -> str:  # values: a count only
        return f"StrippedValues({len(self.by_value)} values)"

    def __bool__(self) -> bool:
        return bool(self.by_value)

    def copy_of(self, value: str) -> str | None:
        """The variable whose stripped value ``value`` is or contains, if any."""
        found = self.match(value)
        return None if found is None else found[1]

    def match(self, value: str) -> tuple[str, str] | None:
        """(the stripped value, its variable) that ``value`` is or contains, if any."""
        text = value.strip()
        if text in self.by_value:
            return text, self.by_value[text]
        if self.pattern is None or len(text) <= COPY_EQUAL:
            return None
        hit = self.pattern.search(text)
        return None if hit is None else (hit.group(0), self.by_value[hit.group(0)])

    def in_bytes(self, data: bytes) -> Iterator[tuple[str, str]]:
        """(value, variable) for each stripped value long enough to look for that ``data`` holds."""
        for secret, key in self.inside:
            if secret.encode("utf-8", "surrogateescape") in data:
                yield secret, key
