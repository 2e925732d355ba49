"""What crosses from the ``supervise`` command to its resident, and from
each refresh helper back: typed records, and the one JSON form they take
over the exec (a socket) and the fork (an answer memfd).

JSON turns tuples into lists and records into arrays; ``Handover.loads``
builds the records back field by field, so the resident works with the
same types the command built, and a reader (or a type checker) can follow
every field across the boundary.
"""

import json
import signal
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from ..launch import Startable
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
        """Validated by ``config.load_config``, as every other flag."""
        return cls(config.refresh, config.stop_signal, config.stop_timeout, config.subreaper)


class LogSettings(NamedTuple):
    fmt: str
    verbosity: int


class PullInputs(NamedTuple):
    """What every pull after the first (a refresh helper, the proxy's gated
    re-pull) runs the pipeline with: the command line's flags, the original
    environment (secrets: held in the non-dumpable resident's memory only),
    how to log, and the import path (the resident runs without
    site-packages; its forks import the full launcher from here). ``flags``
    are ``Config.flags``, JSON-shaped: a tuple comes back a list, which
    ``load_config`` reads alike."""

    flags: Mapping[str, Any]
    environ: dict[str, str]
    log: LogSettings
    path: tuple[str, ...]

    def __repr__(self) -> str:  # the environment holds secrets
        return f"PullInputs({len(self.flags)} flags, {len(self.environ)} variables)"

    @classmethod
    def load(cls, data: Sequence[Any]) -> "PullInputs":
        flags, environ, log, path = data
        return cls(dict(flags), {str(k): str(v) for k, v in environ.items()}, LogSettings(*log), tuple(path))


class Endpoint(NamedTuple):
    """The platform proxy as the child sees it: its URL and the per-launch
    credential the child is given instead of the token."""

    url: str
    credential: str

    def __repr__(self) -> str:  # the credential is the child's key to the proxy
        return f"Endpoint({self.url!r})"


class RefreshRequest(NamedTuple):
    """What each refresh helper pulls with (``--refresh``); ``alarm``: the
    helper's own deadline, in seconds. ``token_cell``: the memfd where the
    proxy leaves a token that register issued (set by the resident)."""

    inputs: PullInputs
    alarm: int
    proxy: Endpoint | None = None
    token_cell: int | None = None

    def __repr__(self) -> str:
        return f"RefreshRequest(alarm={self.alarm}, proxy={self.proxy is not None})"

    @classmethod
    def load(cls, data: Sequence[Any]) -> "RefreshRequest":
        inputs, alarm, proxy, cell = data
        return cls(PullInputs.load(inputs), int(alarm), None if proxy is None else Endpoint(*proxy), cell)


class ProxyRequest(NamedTuple):
    """What the platform proxy serves with (``--platform-proxy``): the
    listening socket's fd (it crosses the exec), the endpoint the child
    was given, the launcher's token file (a token register issues is kept
    there)."""

    inputs: PullInputs
    fd: int
    endpoint: Endpoint
    token_path: str

    def __repr__(self) -> str:
        return f"ProxyRequest(fd={self.fd}, {self.endpoint!r})"

    @classmethod
    def load(cls, data: Sequence[Any]) -> "ProxyRequest":
        inputs, fd, endpoint, token_path = data
        return cls(PullInputs.load(inputs), int(fd), Endpoint(*endpoint), str(token_path))


class Handover(NamedTuple):
    """Everything the resident needs, and nothing it does not: the
    supervisor's options, how to log, the first child (argv included), the
    agent's user, and what the refresh helpers (``--refresh``) and the
    platform proxy (``--platform-proxy``) work with."""

    options: Options
    log: LogSettings
    first: Startable
    user: Identity | None
    refresh: RefreshRequest | None = None
    proxy: ProxyRequest | None = None

    def __repr__(self) -> str:  # the requests and the first child hold values
        return (
            f"Handover({len(self.first.argv)} arguments, refresh={self.options.refresh!r}, "
            f"user={self.user is not None}, proxy={self.proxy is not None})"
        )

    def dumps(self) -> bytes:
        """JSON: records become arrays (the signal, an IntEnum, its number)."""
        return json.dumps(self).encode()

    @classmethod
    def loads(cls, raw: bytes) -> "Handover":
        options, log, first, user, refresh, proxy = json.loads(raw)
        refresh_every, signum, stop_timeout, subreaper = options
        identity = None
        if user is not None:
            spec, uid, gid, groups, name, home = user
            identity = Identity(spec, uid, gid, tuple(groups), name, home)
        return cls(
            Options(refresh_every, signal.Signals(signum), stop_timeout, subreaper),
            LogSettings(*log),
            Startable.load(first),
            identity,
            None if refresh is None else RefreshRequest.load(refresh),
            None if proxy is None else ProxyRequest.load(proxy),
        )
