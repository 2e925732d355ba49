"""A loopback stand-in for the Anthropic Messages API.

Used by the end-to-end tests to observe what the REAL claude-code CLI sends
upstream (which path, which credential header) when it is pointed at
``ANTHROPIC_BASE_URL=http://127.0.0.1:PORT``.

Usage::

    with AnthropicStub() as stub:
        env["ANTHROPIC_BASE_URL"] = stub.url
        ...run claude...
        # Compare credentials by header name, label or fingerprint, or with
        # all(...): an assert that fails on a list of values would print them.
        assert [h for h, _ in stub.credentials()] == ["authorization"]
        assert all(v == f"Bearer {token}" for _, v in stub.credentials())

Only stdlib; binds 127.0.0.1 on an ephemeral port; serves from a daemon thread.
Recorded requests never show a header value or the body in their repr, so a
failing assertion over ``stub.requests`` cannot quote a credential.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Headers that can carry an LLM credential to the upstream.
CREDENTIAL_HEADERS = ("authorization", "x-api-key")

DEFAULT_REPLY = "Hello from the agent-launcher stub."


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names; last value wins
    body: bytes = b""
    json: Any = None

    @property
    def route(self) -> str:
        """Path without the query string."""
        return self.path.split("?", 1)[0]

    @property
    def is_egress(self) -> bool:
        """True if this arrived as a proxy request (CONNECT or absolute URI).

        The sandbox env points HTTP(S)_PROXY at the stub, so any attempt by the
        client to reach a non-loopback host lands here and is refused.
        """
        return self.method == "CONNECT" or self.path.startswith(("http://", "https://"))

    def credentials(self) -> list[tuple[str, str]]:
        return [(h, self.headers[h]) for h in CREDENTIAL_HEADERS if h in self.headers]

    def __repr__(self) -> str:  # header values and the body may hold a credential
        present = [h for h in CREDENTIAL_HEADERS if h in self.headers]
        return f"RecordedRequest({self.method} {self.path}, credential headers={present}, body={len(self.body)} bytes)"


@dataclass
class _State:
    reply_text: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: list[RecordedRequest] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    server_version = "anthropic-stub/1"
    protocol_version = "HTTP/1.1"

    # Silence the default stderr access log.
    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def state(self) -> _State:
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
        )
        with self.state.lock:
            self.state.requests.append(rec)
        return rec

    # -- responses ---------------------------------------------------------
    def _send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", "req_stub_" + uuid.uuid4().hex[:12])
        self.end_headers()
        self.wfile.write(data)

    def _not_found(self) -> None:
        self._send_json(
            404,
            {
                "type": "error",
                "error": {"type": "not_found_error", "message": f"stub: no route {self.command} {self.path}"},
            },
        )

    def _message(self, req: RecordedRequest) -> dict[str, Any]:
        model = (req.json or {}).get("model") or "claude-stub"
        return {
            "id": "msg_stub_" + uuid.uuid4().hex[:16],
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": self.state.reply_text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": 10,
                "output_tokens": 8,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }

    def _stream(self, msg: dict[str, Any]) -> None:
        text = msg["content"][0]["text"]
        start = dict(msg, content=[], stop_reason=None, usage=dict(msg["usage"], output_tokens=1))
        events = [
            ("message_start", {"type": "message_start", "message": start}),
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": msg["usage"]["output_tokens"]},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        body = b"".join(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events)
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("content-length", str(len(body)))
        self.send_header("request-id", "req_stub_" + uuid.uuid4().hex[:12])
        self.end_headers()
        self.wfile.write(body)

    def _refuse_egress(self) -> None:
        data = b"stub: egress to non-loopback hosts is refused in the e2e sandbox\n"
        self.send_response(403)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(data)))
        self.send_header("connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    # -- verbs -------------------------------------------------------------
    def do_CONNECT(self) -> None:
        self._record()
        self._refuse_egress()

    def do_POST(self) -> None:
        req = self._record()
        if req.is_egress:
            return self._refuse_egress()
        route = req.route.rstrip("/")
        if route == "/v1/messages":
            msg = self._message(req)
            if (req.json or {}).get("stream"):
                self._stream(msg)
            else:
                self._send_json(200, msg)
        elif route == "/v1/messages/count_tokens":
            self._send_json(200, {"input_tokens": 10})
        else:
            self._not_found()

    def do_GET(self) -> None:
        if self._record().is_egress:
            return self._refuse_egress()
        self._not_found()

    def do_HEAD(self) -> None:
        if self._record().is_egress:
            return self._refuse_egress()
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    do_PUT = do_PATCH = do_DELETE = do_GET  # noqa: N815


class AnthropicStub:
    """Threaded loopback stand-in for the Anthropic API. See module docstring."""

    HOST = "127.0.0.1"  # IPv4 loopback only

    def __init__(self, reply_text: str = DEFAULT_REPLY) -> None:
        self._state = _State(reply_text=reply_text)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> AnthropicStub:
        server = ThreadingHTTPServer((self.HOST, 0), _Handler)
        server.daemon_threads = True
        server.stub_state = self._state  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="anthropic-stub", daemon=True)
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

    def __enter__(self) -> AnthropicStub:
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

    def message_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.route.rstrip("/") == "/v1/messages"]

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
