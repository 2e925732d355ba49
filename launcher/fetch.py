"""Pull the workspace's secret bundle, and its provenance, from the platform.

Retry policy, as tenacity pieces: retry only what can succeed later
(connection errors, timeouts, 429, 5xx without ``failed_keys``), wait with
full-jitter exponential backoff or the server's ``Retry-After`` if it asks
for longer, and stop when the next attempt could not finish inside the one
deadline that covers the whole conversation. 401/403, a refused partial
bundle, a malformed body and a certificate that does not verify fail at
once: asking again cannot fix them.

The wire is ``transport.StdlibTransport``: ``http.client`` behind httpx's
client API (see that module for why).
"""

from __future__ import annotations

import email.utils
import random
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import tenacity

from . import __version__
from .bundle import Scope, parse_incomplete, parse_provenance, parse_values
from .config import Config
from .errors import (
    BundleIncompleteError,
    BundleInvalidError,
    ConfigError,
    LauncherError,
    PlatformAuthError,
    PlatformUnavailableError,
)
from .transport import PER_REQUEST_TIMEOUT, StdlibTransport, is_certificate_failure, ssl_context

PROVENANCE_ROUNDS = 3
MAX_RETRY_AFTER = 60.0
# The most a Retry-After wait is stretched by jitter (see wait_retry_after).
MAX_RETRY_AFTER_JITTER = 5.0
_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() accepts "²", which float() refuses


class _TransientError(Exception):
    """A failure worth another attempt; never leaves this module."""

    def __init__(self, reason: str, retry_after: float | None = None, *, at_deadline: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        # Cut short by the deadline rather than by the platform: the
        # failure worth reporting is then the one before it.
        self.at_deadline = at_deadline


@dataclass(frozen=True)
class PlatformBundle:
    values: dict[str, str]
    scopes: dict[str, Scope] | None
    requests: int


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


class wait_retry_after(tenacity.wait.wait_base):  # noqa: N801 - tenacity naming
    """The fallback backoff, or the server's Retry-After plus jitter.

    Retry-After is the earliest the server wants us back, not an
    appointment: a fleet restart sends hundreds of launchers the same
    "1", and honouring it exactly brings them all back in the same
    instant to be turned away again. Spreading each return over
    [asked, 2*asked] (at most MAX_RETRY_AFTER_JITTER longer) turns the
    herd into a stream the server can admit.
    """

    def __init__(
        self, fallback: tenacity.wait.wait_base, rand: Callable[[float, float], float] = random.uniform
    ) -> None:
        self.fallback = fallback
        self.rand = rand

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        backoff = self.fallback(retry_state)
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        asked: float | None = getattr(exc, "retry_after", None)
        if asked is None:
            return backoff
        return max(backoff, asked + self.rand(0.0, min(asked, MAX_RETRY_AFTER_JITTER)))


class wait_within(tenacity.wait.wait_base):  # noqa: N801 - tenacity naming
    """Our own backoff never sleeps past the point where one last attempt
    still fits before the deadline: trying once more beats giving up early.
    (The server's Retry-After is not shortened: it is the server's demand.)"""

    def __init__(self, wait: tenacity.wait.wait_base, remaining: Callable[[], float], reserve: float = 0.25) -> None:
        self.wait = wait
        self.remaining = remaining
        self.reserve = reserve

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        remaining = self.remaining()
        if remaining <= self.reserve:
            # No room for another attempt: a wait to the deadline, which
            # stop_at_deadline refuses. Never zero: that would spin.
            return max(remaining, 0.0)
        return min(self.wait(retry_state), remaining - self.reserve)


class stop_at_deadline(tenacity.stop.stop_base):  # noqa: N801 - tenacity naming
    """Stop when sleeping and trying again would end past the deadline."""

    def __init__(self, deadline: float, clock: Callable[[], float]) -> None:
        self.deadline = deadline
        self.clock = clock

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return self.clock() + retry_state.upcoming_sleep >= self.deadline


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
            _transport = StdlibTransport(config.platform_url, context, self._remaining)
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

    def __enter__(self) -> PlatformClient:
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
        except _TransientError as exc:
            reason = exc.reason
        except LauncherError as exc:
            reason = f"{exc.code}: {exc.message}"
        return None, f"cannot explain where keys came from (GET /secrets: {reason}); scopes shown as unknown"

    def _get_values(self) -> dict[str, str]:
        return parse_values(self._get("/secrets/values"), "GET secrets/values")

    def _get(self, path: str) -> bytes:
        causes: list[str] = []

        def note_cause(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, _TransientError) and not exc.at_deadline:
                causes.append(exc.reason)

        retrying = tenacity.Retrying(
            stop=stop_at_deadline(self._deadline, self._clock),
            wait=wait_retry_after(
                wait_within(tenacity.wait_random_exponential(multiplier=0.2, max=5), self._remaining)
            ),
            retry=tenacity.retry_if_exception_type(_TransientError),
            sleep=self._sleep,
            after=note_cause,
            reraise=True,
        )
        try:
            return retrying(self._attempt, path)
        except _TransientError as exc:
            reason = f"{causes[-1]}, until the deadline" if exc.at_deadline and causes else exc.reason
            raise PlatformUnavailableError(
                f"GET {path}: {reason}; gave up after {self.requests} requests "
                f"within the {self.config.deadline:g}s deadline"
            ) from None

    def _remaining(self) -> float:
        return self._deadline - self._clock()

    def _attempt(self, path: str) -> bytes:
        remaining = self._remaining()
        if remaining <= 0:
            raise _TransientError("deadline reached", at_deadline=True)
        budget = min(PER_REQUEST_TIMEOUT, remaining)
        self.requests += 1
        try:
            with self._client.stream("GET", path, timeout=httpx.Timeout(budget)) as response:
                self._check_status(path, response)
                return self._read_capped(path, response)
        except httpx.TimeoutException:
            # The socket wait is cut at the deadline too (see arm), so a
            # trickling body most often ends here rather than in _read_capped.
            late = self._remaining() <= 0.05
            if late:
                raise _TransientError("timed out at the deadline", at_deadline=True) from None
            raise _TransientError(f"timed out after {budget:g}s") from None
        except httpx.TransportError as exc:
            if is_certificate_failure(exc):
                # Retrying cannot make an untrusted certificate trusted.
                raise PlatformUnavailableError(
                    f"GET {path}: the platform's TLS certificate does not verify against the trusted CAs; "
                    "if it is signed by a private CA, pass --ca-file (or LAUNCHER_CA_FILE / SSL_CERT_FILE)"
                ) from None
            raise _TransientError(f"connection failed ({type(exc).__name__})") from None

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
            raise _TransientError(
                f"answered {status}",
                retry_after_seconds(response.headers.get("retry-after"), time.time()),
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
            if self._remaining() <= 0:
                raise _TransientError("body still arriving at the deadline", at_deadline=True)
        return bytes(body)
