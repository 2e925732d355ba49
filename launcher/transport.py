"""The wire under the platform client: ``http.client`` behind httpx's API.

httpx's default transport is httpcore, and importing it (and through it
anyio, or trio where installed) cost more than everything else the
launcher does after importing httpx. One connection making three GETs to
one origin needs none of its pooling or HTTP/2, so this transport keeps
httpx's client, request and exception types and speaks through the
standard library instead. It also enforces two things a general transport
would not: every socket wait ends by the caller's deadline, and no request
leaves the configured origin.
"""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import httpx

from .config import Config

PER_REQUEST_TIMEOUT = 10.0
CHUNK = 64 * 1024


class _BodyStream(httpx.SyncByteStream):
    """A response body read one socket read at a time, so the caller can
    stop a trickling body at its deadline between chunks."""

    def __init__(self, owner: StdlibTransport, response: http.client.HTTPResponse, url: str) -> None:
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


class StdlibTransport(httpx.BaseTransport):
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


def ssl_context(config: Config, environ: dict[str, str]) -> ssl.SSLContext | None:
    if urlsplit(config.platform_url or "").scheme != "https":
        # No TLS on this connection: skip loading a CA bundle we would
        # never use (it is a measurable part of start-up).
        return None
    cafile = config.ca_file or environ.get("SSL_CERT_FILE") or None
    if cafile is None:
        import certifi  # what httpx trusts by default; only https pays for it

        cafile = certifi.where()
    return ssl.create_default_context(cafile=cafile)


def is_certificate_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
