"""A platform stand-in that misbehaves on purpose, on 127.0.0.1 only.

``launcher.devserver`` speaks HTTP through ``http.server``, which cannot
send half a body, reset a connection or trickle bytes. This one works at
the socket level: each connection is served by a *behaviour*, a function
that gets the parsed request and the raw socket and may do anything to it.
Behaviours are taken from a script in order, then the default repeats::

    with FaultServer(default=stall(30)) as server: ...
    with FaultServer(script=[reset_mid_body], default=answer_ok) as server: ...

The documents, their routing and the request records are
``launcher.devserver``'s (``PlatformState``), the one platform stand-in;
only the wire is this module's. A recorded request's ``repr`` masks the
Authorization header, so a failing assertion cannot quote the token.
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field

import pytest
from support import OWN_API_KEY, PLATFORM_OAUTH, WORKSPACE_ID

from launcher.config import load_config
from launcher.devserver import PlatformState, Recorded
from launcher.errors import PlatformUnavailableError
from launcher.platform.client import PlatformClient

# No token required: the tests here are about the wire, not authentication.
PLATFORM = PlatformState(
    WORKSPACE_ID,
    workspace_secrets={"ANTHROPIC_API_KEY": OWN_API_KEY},
    global_secrets={"CLAUDE_CODE_OAUTH_TOKEN": PLATFORM_OAUTH, "EDITOR": "vi"},
)
VALUES = PLATFORM.values()
LISTING = PLATFORM.listing()


@dataclass
class Conn:
    sock: socket.socket
    server: FaultServer
    buffer: bytes = b""

    def read_request(self) -> Recorded | None:
        while b"\r\n\r\n" not in self.buffer:
            data = self.sock.recv(65536)
            if not data:
                return None
            self.buffer += data
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if ":" in line)
        }
        request = Recorded(method, path, headers.get("authorization"))
        self.server.record(request)
        return request

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)


Behaviour = Callable[[Conn, Recorded], bool]  # True: keep the connection for another request


def response_bytes(
    status: int, body: bytes, headers: dict[str, str | bytes] | None = None, length: int | None = None
) -> bytes:
    """A response; a header value given as bytes goes on the wire as is
    (a non-ASCII byte, a control character: whatever a test plants)."""
    reasons = {200: "OK", 302: "Found", 404: "Not Found", 429: "Too Many Requests", 503: "Service Unavailable"}
    lines = [f"HTTP/1.1 {status} {reasons.get(status, 'Status')}".encode(), b"Content-Type: application/json"]
    lines += [k.encode() + b": " + (v if isinstance(v, bytes) else v.encode()) for k, v in (headers or {}).items()]
    if length != -1:  # -1: no Content-Length (a chunked head)
        lines.append(f"Content-Length: {len(body) if length is None else length}".encode())
    # One send for head and body: split writes meet Nagle and delayed ACK.
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def document_for(path: str) -> tuple[int, bytes]:
    return PLATFORM.answer(path, None)


def answer_ok(conn: Conn, request: Recorded) -> bool:
    status, body = document_for(request.path)
    conn.send(response_bytes(status, body))
    return True


def stall(seconds: float) -> Behaviour:
    """Read the request, then say nothing for longer than any timeout."""

    def behaviour(conn: Conn, request: Recorded) -> bool:
        conn.server.stopping.wait(seconds)
        return False

    return behaviour


def reset_mid_body(conn: Conn, request: Recorded) -> bool:
    _, body = document_for(request.path)
    conn.send(response_bytes(200, body, length=len(body))[: -len(body) // 2])
    time.sleep(0.05)  # let the client start on the body before the RST
    # SO_LINGER with a zero timeout turns close() into a TCP RST.
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return False


def short_body(conn: Conn, request: Recorded) -> bool:
    """Declare more than is sent, then close cleanly (FIN, not RST)."""
    _, body = document_for(request.path)
    conn.send(response_bytes(200, body[: len(body) // 2], length=len(body)))
    return False


def trickle(interval: float = 0.2) -> Behaviour:
    """A slow loris: a valid head, then one byte of body per interval."""

    def behaviour(conn: Conn, request: Recorded) -> bool:
        conn.send(response_bytes(200, b"", length=1_000_000))
        while not conn.server.stopping.wait(interval):
            conn.send(b" ")  # leading whitespace: valid JSON, forever unfinished
        return False

    return behaviour


def answer(status: int, body: bytes = b"", headers: dict[str, str | bytes] | None = None) -> Behaviour:
    """Always this response, whatever was asked."""

    def behaviour(conn: Conn, request: Recorded) -> bool:
        conn.send(response_bytes(status, body, headers))
        return True

    return behaviour


def documents(headers: dict[str, str | bytes] | None = None, **bodies: bytes) -> Behaviour:
    """The usual documents, some replaced by name (``values=``, ``secrets=``)."""

    def behaviour(conn: Conn, request: Recorded) -> bool:
        status, body = document_for(request.path)
        body = bodies.get(request.path.rsplit("/", 1)[-1], body)
        conn.send(response_bytes(status, body, headers))
        return True

    return behaviour


def by_endpoint(values: Behaviour, listing: Behaviour) -> Behaviour:
    def behaviour(conn: Conn, request: Recorded) -> bool:
        return (values if request.path.endswith("/values") else listing)(conn, request)

    return behaviour


def drip(head: bytes, forever: bytes, interval: float = 0.25) -> Behaviour:
    """Send ``head``, then ``forever`` one byte per interval, cycling, until
    the client hangs up: every single read is quick, the response endless."""

    def behaviour(conn: Conn, request: Recorded) -> bool:
        conn.send(head)
        at = 0
        while not conn.server.stopping.wait(interval):
            conn.send(forever[at : at + 1])
            at = (at + 1) % len(forever)
        return False

    return behaviour


# The three ways to keep http.client reading with a byte now and then.
status_trickle = drip(b"", b"HTTP/1.1 200 OK\r\n")  # the status line itself, a byte at a time
header_trickle = drip(b"HTTP/1.1 200 OK\r\n", b"X-Slow: a\r\n")  # complete header lines, never a blank one
chunk_size_trickle = drip(response_bytes(200, b"", {"Transfer-Encoding": "chunked"}, length=-1), b"0")
endless_continue = drip(b"", b"HTTP/1.1 100 Continue\r\n\r\n", interval=0.01)


def redirect_to(location: str) -> Behaviour:
    def behaviour(conn: Conn, request: Recorded) -> bool:
        conn.send(response_bytes(302, b"", {"Location": location + request.path}))
        return True

    return behaviour


def too_many(retry_after: str | bytes) -> Behaviour:
    def behaviour(conn: Conn, request: Recorded) -> bool:
        conn.send(response_bytes(429, b"", {"Retry-After": retry_after}))
        return True

    return behaviour


@dataclass
class FaultServer:
    default: Behaviour = answer_ok
    script: list[Behaviour] = field(default_factory=list)
    tls: ssl.SSLContext | None = None
    requests: list[Recorded] = field(default_factory=list)
    connections: int = 0

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.threads: list[threading.Thread] = []
        # A duplicate of each accepted socket still open, to shut it down from
        # here however its thread has wrapped it (TLS detaches the original).
        self.open: set[socket.socket] = set()

    @property
    def url(self) -> str:
        host, port = self.listener.getsockname()
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    def record(self, request: Recorded) -> None:
        with self.lock:
            self.requests.append(request)

    def _next_behaviour(self) -> Behaviour:
        with self.lock:
            return self.script.pop(0) if self.script else self.default

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            handle = sock.dup()
            with self.lock:
                self.connections += 1
                self.open.add(handle)
            thread = threading.Thread(target=self._serve, args=(sock, handle), daemon=True)
            thread.start()
            self.threads.append(thread)

    def _serve(self, raw: socket.socket, handle: socket.socket) -> None:
        sock = raw
        try:
            if self.tls is not None:
                try:
                    sock = self.tls.wrap_socket(raw, server_side=True)
                except (ssl.SSLError, OSError):
                    return  # the client refused the certificate, as it should
            conn = Conn(sock, self)
            while not self.stopping.is_set():
                request = conn.read_request()
                if request is None or not self._next_behaviour()(conn, request):
                    return
        except OSError:
            return  # the client hung up: exactly what several faults provoke
        finally:
            with self.lock:
                self.open.discard(handle)
            handle.close()  # first: the connection ends when its last descriptor closes
            with suppress(OSError):
                sock.close()

    def __enter__(self) -> FaultServer:
        thread = threading.Thread(target=self._accept_loop, daemon=True)
        thread.start()
        self.threads.append(thread)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping.set()
        with suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        # Wake any thread blocked reading from a client that is still connected.
        with self.lock:
            accepted = list(self.open)
        for handle in accepted:
            with suppress(OSError):
                handle.shutdown(socket.SHUT_RDWR)
        for thread in self.threads:
            thread.join(timeout=2)


def failed_fetch(behaviour: Behaviour, deadline: float) -> tuple[PlatformUnavailableError, float]:
    """The launcher's own client, in this process (no interpreter start-up
    to blur the timing), against ``behaviour``: the error it must end in
    and the seconds it took."""
    with FaultServer(default=behaviour) as server:
        config = load_config({"platform_url": server.url, "workspace_id": WORKSPACE_ID, "deadline": str(deadline)}, {})
        started = time.monotonic()
        with PlatformClient(config) as client, pytest.raises(PlatformUnavailableError) as caught:
            client.fetch(False, lambda key: False)
        return caught.value, time.monotonic() - started
