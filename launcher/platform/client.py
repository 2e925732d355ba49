"""Pull the workspace's secret bundle, and its provenance, from the platform.

Why the platform client (this module and ``transport``) is shaped so:

- httpx's client API, over a transport of our own that speaks
  ``http.client``: httpx's default transport is httpcore, and importing it
  (and through it anyio) cost more than everything else a launch does.
  One connection making three GETs to one origin needs none of its
  pooling or HTTP/2.
- One ``--deadline`` for the whole exchange. A socket timeout bounds one
  wait, and ``http.client`` makes many per response (status line, each
  header line, every ``100 Continue``, each chunk-size line): a server
  that sends one byte per wait would keep each wait short and the
  response endless. So the transport gives every wait (connect, TLS
  handshake, writes, each read) the per-wait timeout or what is left of
  the deadline, whichever ends first, and starts none after it; name
  lookup, which has no socket to time, runs on a thread abandoned at the
  deadline. The retry policy's waits are bounded by the same deadline.
- The bearer token stays with the configured origin: no redirect is
  followed, and the transport refuses any other origin outright.
- Errors are translated once, here (``_attempt``, ``_check_status``): what
  the standard library raised becomes the launcher's own error.
  ``TransientPlatformError`` is what asking again can fix (a connection
  error, a timeout, 429, a 5xx without ``failed_keys``); anything else --
  401/403, a refused partial bundle, a malformed body, a redirect, an
  untrusted certificate -- fails at once.
- tenacity holds the retry policy: its ``retry_if_exception_type`` and
  ``wait_random_exponential`` as they come, and two pieces of ours that
  know the deadline the three reads share, which none of its built-ins
  can see (``stop_before_delay`` counts from each call's first attempt, on
  its own clock, and stops only once the next attempt would *start* late):
  ``_wait`` adds the server's Retry-After and never sleeps past the last
  moment an attempt still fits, and ``_stop`` gives up when the next
  attempt could not finish inside the deadline.
"""

import email.utils
import http.client
import random
import re
import ssl
import time
from collections.abc import Callable
from typing import NamedTuple
from urllib.parse import urlsplit

import httpx
import tenacity

from .. import __version__
from ..config import Config
from ..errors import (
    BundleIncompleteError,
    BundleInvalidError,
    ConfigError,
    LauncherError,
    PlatformAuthError,
    PlatformUnavailableError,
    TransientPlatformError,
)
from ..values import Scope
from .transport import StdlibTransport, ssl_context
from .wire import parse_incomplete, parse_provenance, parse_values

PROVENANCE_ROUNDS = 3
PER_REQUEST_TIMEOUT = 10.0  # each socket wait; the deadline bounds them all
BACKOFF = tenacity.wait_random_exponential(multiplier=0.2, max=5)
MAX_RETRY_AFTER = 60.0
MAX_RETRY_AFTER_JITTER = 5.0  # the most a Retry-After wait is stretched (see _wait)
# The least time an attempt is worth starting with: our own backoff leaves
# it before the deadline, and no attempt starts with less.
ATTEMPT_RESERVE = 0.25
_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() accepts "²", which float() refuses


class PlatformBundle(NamedTuple):
    values: dict[str, str]
    scopes: dict[str, Scope] | None
    requests: int

    def __repr__(self) -> str:
        return f"PlatformBundle({len(self.values)} values, requests={self.requests})"


def retry_after_seconds(header: str | None, now: float) -> float | None:
    """``Retry-After`` as delay-seconds or an HTTP-date, capped."""
    if not header:
        return None
    header = header.strip()
    if _DIGITS.fullmatch(header):
        return min(float(header), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(header)
        if when.tzinfo is None:
            return None
        return min(max(when.timestamp() - now, 0.0), MAX_RETRY_AFTER)
    except (TypeError, ValueError, OverflowError, IndexError):
        # Unparseable (a year past 9999, a stray byte...): the server said
        # nothing usable, so the ordinary backoff applies.
        return None


def shown_location(location: str | None) -> str:
    """A redirect target as scheme://host:port only: its userinfo, path and
    query are the server's to know, and may carry a credential."""
    if not location:
        return "no Location"
    try:
        parts = urlsplit(location)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "an unparseable Location"
    if not parts.scheme or not host:
        return "a relative Location"
    return f"{parts.scheme[:16]}://{host[:253]}{f':{port}' if port else ''}"


def _failure(state: tenacity.RetryCallState) -> TransientPlatformError:
    """The failure tenacity is deciding on: the retry condition lets no other through."""
    failure = state.outcome.exception() if state.outcome else None
    assert isinstance(failure, TransientPlatformError)
    return failure


class PlatformClient:
    def __init__(
        self,
        config: Config,
        *,
        _clock: Callable[[], float] = time.monotonic,
        _sleep: Callable[[float], None] = time.sleep,
        _transport: httpx.BaseTransport | None = None,
    ) -> None:
        assert config.platform_url and config.workspace_id
        self.config = config
        self._clock = _clock
        self._sleep = _sleep
        self._deadline = _clock() + config.deadline
        self.requests = 0
        # identity: the size cap counts wire bytes, so no decompression bomb.
        headers = {
            "User-Agent": f"agent-launcher/{__version__}",
            "Accept": "application/json",
            "Accept-Encoding": "identity",
        }
        if config.token:
            headers["Authorization"] = f"Bearer {config.token}"
        if _transport is None:
            try:
                context = ssl_context(config)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"cannot load CA file: {type(exc).__name__}") from None
            _transport = StdlibTransport(
                config.platform_url, context, timeout=PER_REQUEST_TIMEOUT, deadline=self._deadline
            )
        # trust_env=False: a .netrc or proxy variable must not reroute or
        # re-authenticate the request that carries the workspace token.
        self._client = httpx.Client(
            base_url=f"{config.platform_url}/workspaces/{config.workspace_id}",
            headers=headers,
            trust_env=False,
            follow_redirects=False,
            transport=_transport,
            # Before httpx looks at a 3xx: it parses Location even when not
            # following it, and a malformed one would pass for a transport error.
            event_hooks={"response": [self._refuse_redirect]},
        )

    def __enter__(self) -> "PlatformClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._client.close()

    def fetch(self, need_provenance: bool, is_llm: Callable[[str], bool]) -> PlatformBundle:
        if not need_provenance:
            return PlatformBundle(self._get_values(), None, self.requests)
        # Gate only on provenance that held still across the Values read: a
        # key moved between scopes mid-read could pair a global value with
        # a workspace label.
        for _ in range(PROVENANCE_ROUNDS):
            before_body = self._get("/secrets")
            before = parse_provenance(before_body, "GET secrets")
            values = self._get_values()
            after_body = self._get("/secrets")
            if after_body == before_body:
                # The same bytes: nothing moved, and nothing to decode twice
                # (at 100k keys the second decode is a fifth of the launch).
                return PlatformBundle(values, before, self.requests)
            after = parse_provenance(after_body, "GET secrets")
            moved = sorted(k for k in before.keys() | after.keys() if is_llm(k) and before.get(k) != after.get(k))
            if not moved:
                return PlatformBundle(values, after, self.requests)
        raise PlatformUnavailableError(
            f"provenance of {', '.join(moved)} changed during each of {PROVENANCE_ROUNDS} reads; "
            "not gating on a moving scope"
        )

    def explain_provenance(self) -> tuple[dict[str, Scope] | None, str | None]:
        """``check``'s extra List read in platform_managed, where scopes
        change no decision (every LLM key is kept): it may explain the plan,
        never refuse it. One attempt, no retries, so an explanation costs
        ``check`` little more than ``exec``; any failure is a warning."""
        try:
            return parse_provenance(self._attempt("/secrets"), "GET secrets"), None
        except LauncherError as exc:
            return None, f"cannot explain where keys came from (GET /secrets: {exc}); scopes shown as unknown"

    def _get_values(self) -> dict[str, str]:
        return parse_values(self._get("/secrets/values"), "GET secrets/values")

    def _get(self, path: str) -> bytes:
        retried: list[TransientPlatformError] = []
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(TransientPlatformError),
            wait=self._wait,
            stop=self._stop,
            sleep=self._sleep,
            before_sleep=lambda state: retried.append(_failure(state)),
            reraise=True,
        )
        try:
            return retrying(self._attempt, path)
        except TransientPlatformError as exc:
            # Cut short by the deadline rather than by the platform: the
            # failure worth reporting is the one before it.
            reason = f"{retried[-1].message}, until the deadline" if exc.at_deadline and retried else exc.message
            raise PlatformUnavailableError(
                f"GET {path}: {reason}; gave up after {self.requests} requests "
                f"within the {self.config.deadline:g}s deadline"
            ) from None

    def _remaining(self) -> float:
        return self._deadline - self._clock()

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """Full-jitter exponential backoff or, if the server asks for longer,
        its Retry-After stretched by up to as much again (at most
        MAX_RETRY_AFTER_JITTER): Retry-After is the earliest the server wants
        us back, not an appointment, and a fleet restart sends hundreds of
        launchers the same "1"; spread out, the herd becomes a stream the
        server can admit. Never past the last moment an attempt still fits
        before the deadline: trying once more beats giving up early. (That
        cap can trim the jitter, never the server's own wait: where that
        would not fit, ``_stop`` gives up instead.)"""
        wait = BACKOFF(state)
        asked = _failure(state).retry_after
        if asked:
            jitter = random.uniform(0.0, min(asked, MAX_RETRY_AFTER_JITTER))  # noqa: S311 - spreading, not secrecy
            wait = max(wait, asked + jitter)
        return min(wait, self._remaining() - ATTEMPT_RESERVE)

    def _stop(self, state: tenacity.RetryCallState) -> bool:
        """Give up when the next attempt could not finish inside the deadline:
        after the wait the server asked for, too little would be left."""
        return (_failure(state).retry_after or 0.0) + ATTEMPT_RESERVE >= self._remaining()

    def _attempt(self, path: str) -> bytes:
        self.requests += 1
        try:
            with self._client.stream("GET", path) as response:
                self._check_status(path, response)
                return self._read_capped(path, response)
        except TimeoutError:
            # A wait given what was left of the deadline ends at it.
            if self._remaining() <= 0.05:
                raise TransientPlatformError("timed out at the deadline", at_deadline=True) from None
            raise TransientPlatformError(f"timed out after {PER_REQUEST_TIMEOUT:g}s") from None
        except ssl.SSLCertVerificationError:
            # Retrying cannot make an untrusted certificate trusted.
            raise PlatformUnavailableError(
                f"GET {path}: the platform's TLS certificate does not verify against the trusted CAs; "
                "if it is signed by a private CA, pass --ca-file (or LAUNCHER_CA_FILE / SSL_CERT_FILE)"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            raise TransientPlatformError(f"connection failed ({type(exc).__name__})") from None

    def _refuse_redirect(self, response: httpx.Response) -> None:
        status = response.status_code
        if not 300 <= status < 400:
            return
        path = response.request.url.path.rsplit(f"/workspaces/{self.config.workspace_id}", 1)[-1]
        if status == 304:
            raise PlatformUnavailableError(f"GET {path} answered 304 Not Modified to a request with no validators")
        raise PlatformUnavailableError(
            f"GET {path} answered {status} redirect to {shown_location(response.headers.get('location'))}; "
            "redirects are not followed, the bearer token stays with the configured origin"
        )

    def _check_status(self, path: str, response: httpx.Response) -> None:
        status = response.status_code
        if status == 200:
            encoding = response.headers.get("content-encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):
                known = encoding if encoding in ("gzip", "deflate", "br", "zstd", "compress") else "an unknown one"
                raise BundleInvalidError(
                    f"GET {path}: the body is encoded ({known}) although identity encoding was asked for"
                )
            return
        if status in (401, 403):
            raise PlatformAuthError(
                f"GET {path} answered {status}: the workspace token was "
                f"{'missing' if not self.config.token else 'rejected'} "
                f"(token from {self.config.token_source}); check MOLECULE_WORKSPACE_TOKEN_FILE"
            )
        if status == 429 or status >= 500:
            body = self._read_capped(path, response) if status == 500 else b""
            failed = parse_incomplete(body) if body else None
            if failed is not None:
                raise BundleIncompleteError(f"platform refused a partial bundle; failed keys: {failed.describe()}")
            raise TransientPlatformError(
                f"answered {status}", retry_after_seconds(response.headers.get("retry-after"), time.time())
            )
        if status == 404:
            raise ConfigError(f"GET {path} answered 404: no workspace {self.config.workspace_id} on this platform")
        raise PlatformUnavailableError(f"GET {path} answered {status}")

    def _read_capped(self, path: str, response: httpx.Response) -> bytes:
        cap = self.config.max_bundle_bytes
        declared = response.headers.get("content-length", "")
        if _DIGITS.fullmatch(declared) and int(declared) > cap:
            raise BundleInvalidError(
                f"GET {path}: body of {declared} bytes exceeds the {cap}-byte cap "
                "(each response is capped on its own; raise --max-bundle-bytes)"
            )
        body = bytearray()
        for chunk in response.iter_raw():
            body += chunk
            if len(body) > cap:
                raise BundleInvalidError(
                    f"GET {path}: body exceeds the {cap}-byte cap ({len(body)} bytes read so far; "
                    "each response is capped on its own; raise --max-bundle-bytes)"
                )
        return bytes(body)
