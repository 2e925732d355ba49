"""What crosses from the ``supervise`` command to its resident, and from
each refresh helper back: typed records, and the one JSON form they take
over the exec (a socket) and the fork (an answer memfd).

JSON turns tuples into lists and records into arrays; ``Handover.load``
builds the records back field by field, so the resident works with the
same types the command built, and a reader (or a type checker) can follow
every field across the boundary.
"""

import json
import signal
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from ..privileges import Identity

if TYPE_CHECKING:
    from ..config import Config


class Options(NamedTuple):
    refresh: float | None
    stop_signal: signal.Signals
    stop_timeout: float
    subreaper: bool

    @classmethod
    def from_config(cls, config: "Config") -> "Options":
        """Validated by ``config.resolve``, as every other flag."""
        return cls(config.refresh, config.stop_signal, config.stop_timeout, config.subreaper)


class Candidate(NamedTuple):
    """What a pull produced: the next child's environment and executable,
    and the agent files the pull judged (path, stamp; ``files.changed``)."""

    env: dict[str, str]
    path: str
    watched: Sequence[tuple[str, Sequence[int | str] | None]] = ()

    def __repr__(self) -> str:  # values: a count only
        return f"Candidate({self.path!r}, {len(self.env)} variables)"

    @classmethod
    def load(cls, data: Sequence[Any]) -> "Candidate":
        env, path, watched = (*data, ())[:3]
        return cls(dict(env), str(path), tuple((str(p), None if s is None else tuple(s)) for p, s in watched))


class LogSettings(NamedTuple):
    fmt: str
    verbosity: int


class Handover(NamedTuple):
    """Everything the resident needs, and nothing it does not: the agent's
    argv, the supervisor's options, how to log, the first candidate, the
    agent's user, (with ``--platform-proxy``) what the proxy serves with,
    and (with ``--refresh``) the request each refresh helper pulls with
    (configuration flags and the original environment: secrets, held in the
    non-dumpable resident's memory only)."""

    argv: tuple[str, ...]
    options: Options
    log: LogSettings
    first: Candidate
    user: Identity | None
    request: Mapping[str, Any] | None
    # --platform-proxy: the listening socket's fd, the endpoint, the token's
    # file, what the proxy pulls with (the original environment: secrets).
    proxy: Mapping[str, Any] | None = None

    def __repr__(self) -> str:  # the request and the candidate hold values
        return f"Handover({len(self.argv)} arguments, refresh={self.options.refresh!r}, user={self.user is not None})"

    def dumps(self) -> bytes:
        options = [
            self.options.refresh,
            int(self.options.stop_signal),
            self.options.stop_timeout,
            self.options.subreaper,
        ]
        return json.dumps(
            {
                "argv": self.argv,
                "options": options,
                "log": self.log,
                "first": self.first,
                "user": self.user,
                "request": self.request,
                "proxy": self.proxy,
            }
        ).encode()

    @classmethod
    def loads(cls, raw: bytes) -> "Handover":
        data = json.loads(raw)
        refresh, signum, stop_timeout, subreaper = data["options"]
        user = None
        if data["user"] is not None:
            spec, uid, gid, groups, name, home = data["user"]
            user = Identity(spec, uid, gid, tuple(groups), name, home)
        return cls(
            tuple(data["argv"]),
            Options(refresh, signal.Signals(signum), stop_timeout, subreaper),
            LogSettings(*data["log"]),
            Candidate.load(data["first"]),
            user,
            data["request"],
            data.get("proxy"),
        )
