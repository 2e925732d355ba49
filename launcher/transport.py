"""The wire under the platform client: ``http.client`` behind httpx's API.

httpx's default transport is httpcore, and importing it (and through it
anyio, or trio where installed) cost more than everything else the
launcher does after importing httpx. One connection making three GETs to
one origin needs none of its pooling or HTTP/2, so this transport keeps
httpx's client, request and exception types and speaks through the
standard library instead. It also enforces two things a general transport
would not: the whole exchange ends by the caller's deadline, and no request
leaves the configured origin.

Why the deadline takes two mechanisms: ``settimeout`` (``arm``) bounds
each *single* socket wait, which is what tells a stalled server from a
slow one (and sets the per-request timeout worth a retry). But
``http.client`` makes many waits per response -- the status line, each
header line, every interim ``100 Continue``, each chunk-size line -- and a
server that sends one byte per wait keeps every wait short and the whole
response endless. So a ``_Watchdog`` timer holds a duplicate of the
connection's socket and shuts the connection down at the deadline:
whatever ``http.client`` is blocked in (TLS handshake included) returns at
once, and the failure is reported as the deadline. DNS has no socket to
cut; ``resolve_host`` bounds it separately.
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
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from .config import Config
from .files import Cap, read_bounded

PER_REQUEST_TIMEOUT = 10.0
CHUNK = 64 * 1024


class _Watchdog:
    """Shuts the attached connection down when the deadline passes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None  # a dup: shutdown reaches the connection however it is wrapped
        self._timer: threading.Timer | None = None
        self.fired = False

    def start(self, seconds: float) -> None:
        if self._timer is None:
            self._timer = threading.Timer(max(seconds, 0.0), self._fire)
            self._timer.daemon = True
            self._timer.start()

    def attach(self, sock: socket.socket) -> None:
        with self._lock:
            self._release()
            self._sock = sock.dup()
            if self.fired:
                self._cut()

    def detach(self) -> None:
        with self._lock:
            self._release()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.detach()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            self._cut()

    def _cut(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)

    def _release(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


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
            with self._owner.guard(httpx.ReadTimeout, httpx.ReadError):
                chunk = response.read1(CHUNK)
                # read1 reports a peer that hung up early as a quiet end of
                # body; a short body must not pass for a complete one.
                if not chunk and response.length:
                    raise httpx.RemoteProtocolError(
                        f"connection closed {response.length} bytes short of the declared Content-Length"
                    )
            if not chunk:
                return
            yield chunk

    def close(self) -> None:
        done = self._response.isclosed() or self._response.length == 0
        self._response.close()
        if not done or self._response.will_close:
            # Unread bytes would be taken for the next response.
            self._owner.disconnect()


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


def resolve_host(host: str, port: int, timeout: float) -> list[tuple[Any, ...]]:
    """getaddrinfo, bounded: it has no timeout of its own, and a slow
    resolver must not outlast the deadline. The lookup runs on a daemon
    thread that is abandoned, not waited for, when time runs out."""
    try:
        ipaddress.ip_address(host)
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)  # a literal: no lookup
    except ValueError:
        pass
    answer: list[list[tuple[Any, ...]] | OSError] = []

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
    found = answer[0]
    if isinstance(found, OSError):
        raise httpx.ConnectError(f"cannot resolve {host} ({type(found).__name__})") from found
    return found


def _connect_to(
    addresses: list[tuple[Any, ...]],
    on_connect: Callable[[socket.socket], None],
    _address: object,
    timeout: float | None,
    _source: object = None,
) -> socket.socket:
    """socket.create_connection's signature, over addresses looked up
    already (``_address`` and ``_source`` are what http.client passes);
    ``on_connect`` sees the socket before any byte is read from it."""
    last: OSError | None = None
    for family, kind, proto, _, address in addresses:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
            on_connect(sock)
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
        self._watchdog = _Watchdog()

    @contextlib.contextmanager
    def guard(self, timeout: type[httpx.TimeoutException], failure: type[httpx.TransportError]) -> Iterator[None]:
        """``_mapped_errors``, and whatever broke once the watchdog cut the
        connection is the deadline, not the server's fault."""
        try:
            with _mapped_errors(timeout, failure):
                yield
        except httpx.TransportError as exc:
            if self._watchdog.fired:
                raise httpx.ReadTimeout("the deadline cut the exchange short") from exc
            raise
        if self._watchdog.fired:
            # A cut can also look like success: a head or a chunk-size line
            # ended by the shutdown instead of by its CRLF.
            raise httpx.ReadTimeout("the deadline cut the exchange short")

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
            self._watchdog.start(self._remaining())  # once: the deadline is one instant for every request
            if conn.sock is None:
                _, host, port = self._origin
                addresses = resolve_host(host, port, conn.timeout if conn.timeout is not None else self._remaining())
                # http.client's own hook for opening the socket: connect to
                # the addresses looked up above, keep the name for TLS (SNI).
                # attr-defined: a documented-in-source hook typeshed does not declare.
                conn._create_connection = functools.partial(  # type: ignore[attr-defined]
                    _connect_to, addresses, self._watchdog.attach
                )
                self.arm(target)
                with self.guard(httpx.ConnectTimeout, httpx.ConnectError):
                    conn.connect()
            self.arm(target)
            with self.guard(httpx.WriteTimeout, httpx.WriteError):
                conn.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
                for name, value in request.headers.multi_items():
                    conn.putheader(name, value)
                conn.endheaders(body or None)
            with self.guard(httpx.ReadTimeout, httpx.ReadError):
                response = conn.getresponse()
        except BaseException:
            self.disconnect()
            raise
        return httpx.Response(
            status_code=response.status,
            # http.client decoded the head as latin-1; back to the same bytes,
            # so that a non-ASCII byte in a header we never read costs nothing
            # (httpx would refuse it as a str).
            headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.getheaders()],
            stream=_BodyStream(self, response, target),
            extensions={"http_version": b"HTTP/1.1"},
        )

    def disconnect(self) -> None:
        """Drop the connection (the next request opens another)."""
        self._watchdog.detach()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        self._watchdog.stop()
        self.disconnect()


def ssl_context(config: Config) -> ssl.SSLContext | None:
    if urlsplit(config.platform_url or "").scheme != "https":
        # No TLS on this connection: skip loading a CA bundle we would
        # never use (it is a measurable part of start-up).
        return None
    cafile = config.ca_file  # --ca-file, LAUNCHER_CA_FILE or SSL_CERT_FILE (config.resolve)
    if cafile is None:
        import certifi  # what httpx trusts by default; only https pays for it

        return ssl.create_default_context(cafile=certifi.where())
    # The operator's file is read by the bounded reader (a FIFO or a
    # device there must not hang or flood the launch) and handed to
    # OpenSSL as text: what was checked is what is trusted.
    pem = read_bounded(Path(cafile), "CA file", Cap.CA_FILE).decode("latin-1")
    return ssl.create_default_context(cadata=pem)


def is_certificate_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
