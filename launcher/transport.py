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

import contextlib
import functools
import http.client
import ipaddress
import socket
import ssl
import threading
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


@contextlib.contextmanager
def _mapped_errors(timeout: type[httpx.TimeoutException], failure: type[httpx.TransportError]) -> Iterator[None]:
    """Turn the stdlib's socket and protocol errors into httpx's, which is
    what the retry policy classifies."""
    try:
        yield
    except httpx.HTTPError:
        raise
    except TimeoutError as exc:
        raise timeout(type(exc).__name__) from exc
    except ssl.SSLCertVerificationError as exc:
        raise httpx.ConnectError(f"certificate verify failed: {exc.verify_message}") from exc
    except http.client.HTTPException as exc:
        raise httpx.RemoteProtocolError(type(exc).__name__) from exc
    except OSError as exc:
        raise failure(type(exc).__name__) from exc


def _origin(scheme: str, host: str, port: int | None) -> tuple[str, str, int]:
    # urlsplit keeps an explicit :443, httpx.URL drops it: compare the
    # effective port so https://host:443 and https://host are one origin.
    return scheme, host.lower(), port or (443 if scheme == "https" else 80)


def resolve_host(host: str, port: int, timeout: float) -> list[tuple]:
    """getaddrinfo, bounded: it has no timeout of its own, and a slow
    resolver must not outlast the deadline. The lookup runs on a daemon
    thread that is abandoned, not waited for, when time runs out."""
    try:
        ipaddress.ip_address(host)
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)  # a literal: no lookup
    except ValueError:
        pass
    answer: list[object] = []

    def lookup() -> None:
        try:
            answer.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as exc:
            answer.append(exc)

    worker = threading.Thread(target=lookup, name="resolve", daemon=True)
    worker.start()
    worker.join(timeout)
    if not answer:
        raise httpx.ConnectTimeout(f"looking up {host} outlasted the deadline")
    if isinstance(answer[0], OSError):
        raise httpx.ConnectError(f"cannot resolve {host} ({type(answer[0]).__name__})") from answer[0]
    return answer[0]  # type: ignore[return-value]


def _connect_to(
    addresses: list[tuple], _address: object, timeout: float | None, _source: object = None
) -> socket.socket:
    """socket.create_connection's signature, over addresses looked up
    already (``_address`` and ``_source`` are what http.client passes)."""
    last: OSError | None = None
    for family, kind, proto, _, address in addresses:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    raise last or OSError("no address to connect to")


class StdlibTransport(httpx.BaseTransport):
    """One keep-alive ``http.client`` connection to the platform's origin."""

    def __init__(self, url: str, context: ssl.SSLContext | None, remaining: Callable[[], float]) -> None:
        parts = urlsplit(url)
        self._origin = _origin(parts.scheme, parts.hostname or "", parts.port)
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
        if _origin(url.scheme, url.host, url.port) != self._origin:
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
            if conn.sock is None:
                _, host, port = self._origin
                addresses = resolve_host(host, port, conn.timeout)
                # http.client's own hook for opening the socket: connect to
                # the addresses looked up above, keep the name for TLS (SNI).
                conn._create_connection = functools.partial(_connect_to, addresses)  # type: ignore[attr-defined]
                self.arm(target)
                with _mapped_errors(httpx.ConnectTimeout, httpx.ConnectError):
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
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
