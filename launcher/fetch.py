"""Pull the workspace's secret bundle, and its provenance, from the platform.

Retry policy, as tenacity pieces: retry only what can succeed later
(connection errors, timeouts, 429, 5xx without ``failed_keys``), wait with
full-jitter exponential backoff or the server's ``Retry-After`` if it asks
for longer, and stop when the next attempt could not finish inside the one
deadline that covers the whole conversation. 401/403, a refused partial
bundle, a malformed body and a certificate that does not verify fail at
once: asking again cannot fix them.

The wire is ``http.client`` behind httpx's client API (``_StdlibTransport``),
not httpx's default httpcore transport: importing httpcore (and, through
it, trio or anyio when they are installed) cost more than everything else
the launcher does after importing httpx, and one connection making three
GETs needs none of its pooling or HTTP/2.
"""

from __future__ import annotations

import email.utils
import http.client
import random
import ssl
import time
from collections.abc import Callable, Iterator
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
    PlatformAuthError,
    PlatformUnavailableError,
)

PER_REQUEST_TIMEOUT = 10.0
PROVENANCE_ROUNDS = 3
MAX_RETRY_AFTER = 60.0
# The most a Retry-After wait is stretched by jitter (see wait_retry_after).
MAX_RETRY_AFTER_JITTER = 5.0
CHUNK = 64 * 1024


class _TransientError(Exception):
    """A failure worth another attempt; never leaves this module."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


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
    if header.isdigit():
        return min(float(header), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return min(max(when.timestamp() - now, 0.0), MAX_RETRY_AFTER)


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
        asked = getattr(exc, "retry_after", None)
        if asked is None:
            return backoff
        return max(backoff, asked + self.rand(0.0, min(asked, MAX_RETRY_AFTER_JITTER)))


class stop_at_deadline(tenacity.stop.stop_base):  # noqa: N801 - tenacity naming
    """Stop when sleeping and trying again would end past the deadline."""

    def __init__(self, deadline: float, clock: Callable[[], float]) -> None:
        self.deadline = deadline
        self.clock = clock

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return self.clock() + retry_state.upcoming_sleep >= self.deadline


class _BodyStream(httpx.SyncByteStream):
    """A response body read one socket read at a time, so the caller can
    stop a trickling body at its deadline between chunks."""

    def __init__(self, owner: _StdlibTransport, response: http.client.HTTPResponse, url: str) -> None:
        self._owner = owner
        self._response = response
        self._url = url

    def __iter__(self) -> Iterator[bytes]:
        response = self._response
        while True:
            self._owner.arm(self._url)
            with _mapped_errors(httpx.ReadTimeout, httpx.ReadError):
                chunk = response.read1(CHUNK)
            if chunk:
                yield chunk
                continue
            # read1 reports a peer that hung up early as a quiet end of
            # body; a short body must not pass for a complete one.
            if response.length:
                raise httpx.RemoteProtocolError(
                    f"connection closed {response.length} bytes short of the declared Content-Length"
                )
            return

    def close(self) -> None:
        done = self._response.isclosed() or self._response.length == 0
        self._response.close()
        if not done or self._response.will_close:
            # Unread bytes would be taken for the next response.
            self._owner.close()


class _mapped_errors:  # noqa: N801 - used like contextlib.suppress
    """Turn the stdlib's socket and protocol errors into httpx's, which is
    what the retry policy classifies."""

    def __init__(self, timeout: type[httpx.TimeoutException], transport: type[httpx.TransportError]) -> None:
        self.timeout = timeout
        self.transport = transport

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        if exc is None or isinstance(exc, httpx.HTTPError):
            return False
        if isinstance(exc, TimeoutError):
            raise self.timeout(type(exc).__name__) from exc
        if isinstance(exc, ssl.SSLCertVerificationError):
            raise httpx.ConnectError(f"certificate verify failed: {exc.verify_message}") from exc
        if isinstance(exc, http.client.HTTPException):
            raise httpx.RemoteProtocolError(type(exc).__name__) from exc
        if isinstance(exc, OSError):
            raise self.transport(type(exc).__name__) from exc
        return False


class _StdlibTransport(httpx.BaseTransport):
    """One keep-alive ``http.client`` connection to the platform's origin."""

    def __init__(self, url: str, context: ssl.SSLContext | None, remaining: Callable[[], float]) -> None:
        parts = urlsplit(url)
        self._origin = (parts.scheme, parts.hostname or "", parts.port)
        self._context = context
        self._remaining = remaining
        self._timeout = PER_REQUEST_TIMEOUT
        self._conn: http.client.HTTPConnection | None = None

    def arm(self, url: str) -> None:
        """Bound the next socket operation by the request timeout and by
        what is left of the deadline, whichever ends first."""
        left = min(self._timeout, self._remaining())
        if left <= 0:
            raise httpx.ReadTimeout(f"deadline reached reading {url}")
        if self._conn is not None:
            self._conn.timeout = left
            if self._conn.sock is not None:
                self._conn.sock.settimeout(left)

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            scheme, host, port = self._origin
            if scheme == "https":
                self._conn = http.client.HTTPSConnection(host, port, context=self._context)
            else:
                self._conn = http.client.HTTPConnection(host, port)
        return self._conn

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if (url.scheme, url.host, url.port) != self._origin:
            # httpx never asks this (redirects are not followed), but the
            # bearer token must not leave the configured origin even if a
            # caller changes that.
            raise httpx.UnsupportedProtocol(
                f"refusing a request outside the platform origin: {url.scheme}://{url.host}"
            )
        timeout = request.extensions.get("timeout", {})
        self._timeout = min(t for t in (timeout.get("read"), PER_REQUEST_TIMEOUT) if t is not None)
        conn = self._connection()
        target = url.raw_path.decode("ascii")
        body = request.read()
        try:
            self.arm(target)
            with _mapped_errors(httpx.ConnectTimeout, httpx.ConnectError):
                if conn.sock is None:
                    conn.connect()
            self.arm(target)
            with _mapped_errors(httpx.WriteTimeout, httpx.WriteError):
                conn.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
                for name, value in request.headers.multi_items():
                    conn.putheader(name, value)
                conn.endheaders(body or None)
            with _mapped_errors(httpx.ReadTimeout, httpx.ReadError):
                response = conn.getresponse()
        except BaseException:
            self.close()
            raise
        return httpx.Response(
            status_code=response.status,
            headers=response.getheaders(),
            stream=_BodyStream(self, response, target),
            extensions={"http_version": b"HTTP/1.1"},
        )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _ssl_context(config: Config, environ: dict[str, str]) -> ssl.SSLContext | None:
    if urlsplit(config.platform_url or "").scheme != "https":
        # No TLS on this connection: skip loading a CA bundle we would
        # never use (it is a measurable part of start-up).
        return None
    cafile = config.ca_file or environ.get("SSL_CERT_FILE") or None
    if cafile is None:
        import certifi  # what httpx trusts by default; only https pays for it

        cafile = certifi.where()
    return ssl.create_default_context(cafile=cafile)


def _is_certificate_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class PlatformClient:
    def __init__(
        self,
        config: Config,
        environ: dict[str, str],
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
                context = _ssl_context(config, environ)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"cannot load CA file: {type(exc).__name__}") from None
            _transport = _StdlibTransport(config.platform_url, context, self._remaining)
        # trust_env=False: a .netrc or proxy variable must not reroute or
        # re-authenticate the request that carries the workspace token.
        self._client = httpx.Client(
            base_url=f"{config.platform_url}/workspaces/{config.workspace_id}",
            headers=headers,
            trust_env=False,
            follow_redirects=False,
            transport=_transport,
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
            before = self._get_provenance()
            values = self._get_values()
            after = self._get_provenance()
            moved = sorted(k for k in before.keys() | after.keys() if is_llm(k) and before.get(k) != after.get(k))
            if not moved:
                return PlatformBundle(values, after, self.requests)
        raise PlatformUnavailableError(
            f"provenance of {', '.join(moved)} changed during each of {PROVENANCE_ROUNDS} reads; "
            "not gating on a moving scope"
        )

    def _get_values(self) -> dict[str, str]:
        return parse_values(self._get("/secrets/values"), "GET secrets/values")

    def _get_provenance(self) -> dict[str, Scope]:
        return parse_provenance(self._get("/secrets"), "GET secrets")

    def _get(self, path: str) -> bytes:
        retrying = tenacity.Retrying(
            stop=stop_at_deadline(self._deadline, self._clock),
            wait=wait_retry_after(tenacity.wait_random_exponential(multiplier=0.2, max=5)),
            retry=tenacity.retry_if_exception_type(_TransientError),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return retrying(self._attempt, path)
        except _TransientError as exc:
            raise PlatformUnavailableError(
                f"GET {path}: {exc.reason}; gave up after {self.requests} requests "
                f"within the {self.config.deadline:g}s deadline"
            ) from None

    def _remaining(self) -> float:
        return self._deadline - self._clock()

    def _attempt(self, path: str) -> bytes:
        remaining = self._remaining()
        if remaining <= 0:
            raise _TransientError("deadline reached")
        budget = min(PER_REQUEST_TIMEOUT, remaining)
        self.requests += 1
        try:
            with self._client.stream("GET", path, timeout=httpx.Timeout(budget)) as response:
                self._check_status(path, response)
                return self._read_capped(path, response)
        except httpx.TimeoutException:
            raise _TransientError("timed out") from None
        except httpx.TransportError as exc:
            if _is_certificate_failure(exc):
                # Retrying cannot make an untrusted certificate trusted.
                raise PlatformUnavailableError(
                    f"GET {path}: the platform's TLS certificate does not verify against the trusted CAs; "
                    "if it is signed by a private CA, pass --ca-file (or LAUNCHER_CA_FILE / SSL_CERT_FILE)"
                ) from None
            raise _TransientError(f"connection failed ({type(exc).__name__})") from None

    def _check_status(self, path: str, response: httpx.Response) -> None:
        status = response.status_code
        if status == 200:
            return
        if status in (401, 403):
            raise PlatformAuthError(
                f"GET {path} answered {status}: the workspace token was "
                f"{'missing' if not self.config.token else 'rejected'} "
                f"(token from {self.config.token_source}); check MOLECULE_WORKSPACE_TOKEN_FILE"
            )
        if 300 <= status < 400:
            target = urlsplit(response.headers.get("location", ""))
            raise PlatformUnavailableError(
                f"GET {path} answered {status} redirect to {target.scheme}://{target.netloc or '?'}; "
                "redirects are not followed, the bearer token stays with the configured origin"
            )
        if status == 429 or status >= 500:
            body = self._read_capped(path, response) if status == 500 else b""
            failed = parse_incomplete(body) if body else None
            if failed is not None:
                raise BundleIncompleteError(
                    f"platform refused a partial bundle; failed keys: {', '.join(failed) or '(none listed)'}"
                )
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
        if declared.isdigit() and int(declared) > cap:
            raise BundleInvalidError(f"GET {path}: body of {declared} bytes exceeds the {cap}-byte cap")
        body = bytearray()
        for chunk in response.iter_raw():
            body += chunk
            if len(body) > cap:
                raise BundleInvalidError(f"GET {path}: body exceeds the {cap}-byte cap")
            if self._remaining() <= 0:
                raise _TransientError("body still arriving at the deadline")
        return bytes(body)
