"""Refresh pieces for ``supervise``: when to pull again, and what changed
between two environments.

Pure and small so that the supervisor's loop only wires them together.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import NamedTuple

# Failed pulls wait longer each time, up to this many intervals: a platform
# that is down should not be hammered by every supervised agent at once.
MAX_BACKOFF_FACTOR = 8
JITTER = 0.1  # ±10 % on the regular cadence, so replicas do not pull in lockstep


class Schedule:
    """Delay before the next pull: the interval with jitter after a success,
    full-jitter-ish exponential backoff after consecutive failures."""

    def __init__(self, interval: float, *, _random: Callable[[], float] = random.random) -> None:
        self.interval = interval
        self.failures = 0
        self._random = _random

    def after_success(self) -> float:
        self.failures = 0
        return self.interval * (1 - JITTER + 2 * JITTER * self._random())

    def after_failure(self) -> float:
        self.failures += 1
        ceiling = self.interval * min(2.0**self.failures, MAX_BACKOFF_FACTOR)
        # Half fixed, half random: never sooner than half the ceiling.
        return ceiling * (0.5 + 0.5 * self._random())


class Change(NamedTuple):
    """Key names only (a NamedTuple: the resident parent never imports
    dataclasses, whose import costs more memory than the whole loop)."""

    rotated: tuple[str, ...]
    removed: tuple[str, ...]
    added: tuple[str, ...]

    def __bool__(self) -> bool:  # a tuple of three is always truthy: say what we mean
        return bool(self.rotated or self.removed or self.added)

    def describe(self) -> str:
        labelled = (("rotated", self.rotated), ("removed", self.removed), ("added", self.added))
        return "; ".join(f"{label} {', '.join(keys)}" for label, keys in labelled if keys) or "no change"


def compare(old: Mapping[str, str], new: Mapping[str, str]) -> Change:
    """Key names that differ between two environments, compared by value
    (not by the 8-hex fingerprint: a rotation must not hide in a 32-bit
    collision). Only names leave this function."""
    return Change(
        rotated=tuple(sorted(k for k in old.keys() & new.keys() if old[k] != new[k])),
        removed=tuple(sorted(old.keys() - new.keys())),
        added=tuple(sorted(new.keys() - old.keys())),
    )
