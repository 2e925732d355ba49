"""The wire under the platform client: ``http.client`` behind httpx's API
(why: ``client``'s docstring).

One keep-alive connection to the configured origin, and no request to any
other. Every wait is given ``left()``: the per-wait timeout or what is
left of the deadline, whichever ends first -- the TCP connect, the TLS
handshake, the request's writes, and each read ``http.client`` makes,
through ``_Paced``. ``resolve_host`` bounds the name lookup. Failures are
the standard library's own (``OSError``, ``TimeoutError``,
``http.client.HTTPException``), left for the client to translate.
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.client import HTTPResponse
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import httpx

from ..config import Config
from ..errors import PlatformUnavailableError
from ..files import Cap, read_bounded

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

CHUNK = 64 * 1024


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
        raise TimeoutError(f"looking up {host} outlasted the deadline")
    if isinstance(answer[0], OSError):
        raise answer[0]
    return answer[0]


class _Paced(io.RawIOBase):
    """The connection's socket as ``http.client`` reads a response: each
    read waits at most ``left()``. It stands in for the socket
    ``HTTPResponse`` is given, of which it asks ``makefile`` only."""

    def __init__(self, sock: socket.socket, left: Callable[[], float]) -> None:
        self._sock = sock
        # The socket's own unbuffered reader: while it is open the socket
        # stays open, even once http.client has let the connection go.
        self._raw = sock.makefile("rb", buffering=0)
        self._left = left

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(self)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int | None:
        self._sock.settimeout(self._left())
        return self._raw.readinto(buffer)

    def close(self) -> None:
        self._raw.close()
        super().close()


class _Connection(http.client.HTTPConnection):
    """``http.client``'s connection with every wait bounded by ``left``;
    it sets up TLS itself (no ``HTTPSConnection``), so one class bounds both."""

    def __init__(self, url: str, context: ssl.SSLContext | None, timeout: float, deadline: float) -> None:
        parts = urlsplit(url)
        self.origin = _origin(parts.scheme, parts.hostname or "", parts.port)
        _, host, port = self.origin
        super().__init__(host, port)
        self._context = context
        self._timeout = timeout
        self._deadline = deadline
        # http.client makes each response with response_class(sock, method=...);
        # assignment: typeshed declares a class where any such callable serves.
        self.response_class = self._response  # type: ignore[assignment]

    def rearm(self, deadline: float, timeout: float) -> None:
        """New bounds for the next exchange on this connection (the platform
        proxy keeps connections across requests, each with its own deadline)."""
        self._deadline = deadline
        self._timeout = timeout

    def left(self) -> float:
        """How long the next wait may last."""
        left = min(self._timeout, self._deadline - time.monotonic())
        if left <= 0:
            raise TimeoutError("the deadline has passed")
        return left

    def connect(self) -> None:
        last: OSError = OSError(f"no address for {self.host}")
        for family, kind, proto, _, address in resolve_host(self.host, self.port, self.left()):
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(self.left())
                sock.connect(address)
                break
            except OSError as exc:
                sock.close()
                last = exc
        else:
            raise last
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._context is not None:
            sock.settimeout(self.left())  # the handshake's waits share this one bound
            sock = self._context.wrap_socket(sock, server_hostname=self.host)
        self.sock = sock

    def _response(self, sock: socket.socket, debuglevel: int = 0, method: str | None = None) -> HTTPResponse:
        return HTTPResponse(cast(socket.socket, _Paced(sock, self.left)), debuglevel, method)


# The connection on its own, for a caller that speaks http.client itself
# (the platform proxy streams bodies both ways without httpx).
PlatformConnection = _Connection


class _Body(httpx.SyncByteStream):
    """A response body read one socket read at a time."""

    def __init__(self, conn: _Connection, response: HTTPResponse) -> None:
        self._conn = conn
        self._response = response
        self._complete = False

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self._response.read1(CHUNK):
            yield chunk
        if self._response.length:
            # read1 reports a peer that hung up early as a quiet end of body;
            # a short body must not pass for a complete one.
            raise http.client.IncompleteRead(b"", self._response.length)
        self._complete = True

    def close(self) -> None:
        done = self._complete or self._response.length == 0
        self._response.close()
        if not done or self._response.will_close:
            self._conn.close()  # what is left of the body would be taken for the next response


class StdlibTransport(httpx.BaseTransport):
    """One keep-alive connection to the platform's origin. ``timeout``
    bounds each wait, ``deadline`` (a ``time.monotonic()`` instant) all of
    them; httpx's own timeout settings are not consulted."""

    def __init__(self, url: str, context: ssl.SSLContext | None, *, timeout: float, deadline: float) -> None:
        self._conn = _Connection(url, context, timeout, deadline)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url, conn = request.url, self._conn
        if _origin(url.scheme, url.host, url.port) != conn.origin:
            # httpx never asks this (redirects are not followed), but the
            # bearer token must not leave the configured origin even if a
            # caller changes that.
            raise PlatformUnavailableError(f"refusing a request outside the platform origin: {url.scheme}://{url.host}")
        try:
            if conn.sock is None:
                conn.connect()
            conn.sock.settimeout(conn.left())  # the request's writes
            conn.putrequest(request.method, url.raw_path.decode("ascii"), skip_host=True, skip_accept_encoding=True)
            for name, value in request.headers.multi_items():
                conn.putheader(name, value)
            conn.endheaders(request.read() or None)
            response = conn.getresponse()
        except BaseException:
            conn.close()
            raise
        return httpx.Response(
            status_code=response.status,
            # http.client decoded the head as latin-1; back to the same bytes,
            # so that a non-ASCII byte in a header we never read costs nothing
            # (httpx would refuse it as a str).
            headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.getheaders()],
            stream=_Body(conn, response),
            extensions={"http_version": b"HTTP/1.1"},
        )

    def close(self) -> None:
        self._conn.close()


def ssl_context(config: Config) -> ssl.SSLContext | None:
    if urlsplit(config.platform_url or "").scheme != "https":
        # No TLS on this connection: skip loading a CA bundle we would
        # never use (it is a measurable part of start-up).
        return None
    cafile = config.ca_file  # --ca-file, LAUNCHER_CA_FILE or SSL_CERT_FILE (config.load_config)
    if cafile is None:
        import certifi  # what httpx trusts by default; only https pays for it

        return ssl.create_default_context(cafile=certifi.where())
    # The operator's file is read by the bounded reader (a FIFO or a
    # device there must not hang or flood the launch) and handed to
    # OpenSSL as text: what was checked is what is trusted.
    pem = read_bounded(Path(cafile), "CA file", Cap.CA_FILE).decode("latin-1")
    return ssl.create_default_context(cadata=pem)
