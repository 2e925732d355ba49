"""The shared machinery of the loopback LLM API stand-ins.

Each stand-in (``anthropic_stub``, ``openai_stub``, ``gemini_stub``) records
every request a real agent CLI sends it and answers the API calls that CLI
needs to finish a one-prompt run. What differs between them is only which
headers carry a credential and how an answer looks; the recording, the egress
trap, the lifecycle and the observations are here, once.

Only stdlib; binds 127.0.0.1 on an ephemeral port; serves from a daemon
thread. Recorded requests never show a header value or the body in their
repr, so a failing assertion over ``stub.requests`` cannot quote a credential.
Compare credentials by header name, label or fingerprint, or with
``all(...)``: an assert that fails on a list of values would print them.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names; last value wins
    body: bytes = b""
    json: Any = None
    # Which of ``headers`` can carry an LLM credential to this upstream.
    credential_headers: tuple[str, ...] = ()

    @property
    def route(self) -> str:
        """Path without the query string."""
        return self.path.split("?", 1)[0]

    @property
    def query(self) -> str:
        return self.path.split("?", 1)[1] if "?" in self.path else ""

    @property
    def is_egress(self) -> bool:
        """True if this arrived as a proxy request (CONNECT or absolute URI).

        The sandbox env points HTTP(S)_PROXY at the stub, so any attempt by the
        client to reach a non-loopback host lands here and is refused.
        """
        return self.method == "CONNECT" or self.path.startswith(("http://", "https://"))

    def credentials(self) -> list[tuple[str, str]]:
        return [(h, self.headers[h]) for h in self.credential_headers if h in self.headers]

    def __repr__(self) -> str:  # header values and the body may hold a credential
        present = [h for h in self.credential_headers if h in self.headers]
        return f"RecordedRequest({self.method} {self.path}, credential headers={present}, body={len(self.body)} bytes)"


@dataclass
class StubState:
    reply_text: str
    credential_headers: tuple[str, ...]
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: list[RecordedRequest] = field(default_factory=list)


class StubHandler(BaseHTTPRequestHandler):
    """Records every request; subclasses answer ``POST`` in ``answer``."""

    server_version = "llm-stub/1"
    protocol_version = "HTTP/1.1"

    # Silence the default stderr access log.
    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def state(self) -> StubState:
        return self.server.stub_state  # type: ignore[attr-defined]

    # -- recording ---------------------------------------------------------
    def _record(self) -> RecordedRequest:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        parsed = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        rec = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            json=parsed,
            credential_headers=self.state.credential_headers,
        )
        with self.state.lock:
            self.state.requests.append(rec)
        return rec

    # -- responses ---------------------------------------------------------
    def send_json(self, status: int, payload: Any) -> None:
        self.send_bytes(status, "application/json", json.dumps(payload).encode())

    def send_bytes(self, status: int, content_type: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", "req_stub_" + uuid.uuid4().hex[:12])
        if content_type == "text/event-stream":
            self.send_header("cache-control", "no-cache")
        self.end_headers()
        self.wfile.write(data)

    def send_sse(self, events: Iterable[tuple[str | None, Any]]) -> None:
        """Server-sent events, whole: ``event: NAME`` (when named) and ``data: JSON``."""
        chunks = []
        for name, data in events:
            head = f"event: {name}\n" if name else ""
            chunks.append(f"{head}data: {json.dumps(data)}\n\n".encode())
        self.send_bytes(200, "text/event-stream", b"".join(chunks))

    def not_found(self) -> None:
        self.send_json(404, {"error": {"message": f"stub: no route {self.command} {self.path}"}})

    def _refuse_egress(self) -> None:
        data = b"stub: egress to non-loopback hosts is refused in the e2e sandbox\n"
        self.send_response(403)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(data)))
        self.send_header("connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    # -- what subclasses answer ---------------------------------------------
    def answer(self, req: RecordedRequest) -> None:
        self.not_found()

    def answer_head(self, req: RecordedRequest) -> None:
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    # -- verbs -------------------------------------------------------------
    def do_CONNECT(self) -> None:
        self._record()
        self._refuse_egress()

    def do_POST(self) -> None:
        req = self._record()
        if req.is_egress:
            return self._refuse_egress()
        self.answer(req)

    def do_GET(self) -> None:
        if self._record().is_egress:
            return self._refuse_egress()
        self.not_found()

    def do_HEAD(self) -> None:
        req = self._record()
        if req.is_egress:
            return self._refuse_egress()
        self.answer_head(req)

    do_PUT = do_PATCH = do_DELETE = do_GET  # noqa: N815


class LoopbackStub:
    """A threaded loopback stand-in of an LLM API. Subclasses set the handler,
    the credential headers and the default reply."""

    HOST = "127.0.0.1"  # IPv4 loopback only
    handler: ClassVar[type[StubHandler]] = StubHandler
    credential_headers: ClassVar[tuple[str, ...]] = ("authorization",)
    default_reply: ClassVar[str] = "Hello from the agent-launcher stub."

    def __init__(self, reply_text: str | None = None) -> None:
        self._state = StubState(
            reply_text=self.default_reply if reply_text is None else reply_text,
            credential_headers=self.credential_headers,
        )
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> Self:
        server = ThreadingHTTPServer((self.HOST, 0), self.handler)
        server.daemon_threads = True
        server.stub_state = self._state  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._server is not None, "stub not started"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.HOST}:{self.port}"

    # -- observations ------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._state.lock:
            return list(self._state.requests)

    def paths(self) -> list[str]:
        return [r.route for r in self.requests]

    def egress(self) -> list[RecordedRequest]:
        """Requests that tried to leave loopback (arrived via the proxy trap)."""
        return [r for r in self.requests if r.is_egress]

    def credentials(self) -> list[tuple[str, str]]:
        """One (header_name, value) per credential header per request, in order."""
        return [c for r in self.requests for c in r.credentials()]

    def saw_secret(self, secret: str) -> bool:
        """True if ``secret`` appears in any header or body of any request."""
        needle = secret.encode()
        for r in self.requests:
            if needle in r.body or any(secret in v for v in r.headers.values()):
                return True
        return False
