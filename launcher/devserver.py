"""A stand-in for workspace-server's secrets endpoints, for tests and demos.

It speaks the real contract::

    GET /workspaces/{id}/secrets/values  -> {"KEY": "value", ...}   (merged)
    GET /workspaces/{id}/secrets         -> [{"key", "has_value", "scope", ...}]

and, for a runtime run behind ``supervise --platform-proxy``, what the
platform's own workspace runtime calls::

    POST /registry/register   {"id", ...}           -> {"status": "registered"[, "auth_token"]}
    POST /registry/heartbeat  {"workspace_id", ...} -> {"status": "ok"}
    GET  /workspaces/{id}/state                     -> {"workspace_id", "status": "online", ...}

register answers ``auth_token`` once, when ``issue_token`` is set, and
that token is required from then on (the real server issues one on a
workspace's first register). Two test endpoints stand for what a proxy
must stream: ``GET /workspaces/{id}/events`` (server-sent events, chunked,
``stream_events`` events ``stream_gap`` seconds apart) and ``GET
/workspaces/{id}/poll`` (a long poll answered after ``poll_delay``);
``POST /workspaces/{id}/echo`` answers the size and hash of the body it
read, ``GET /workspaces/{id}/blob/N`` N bytes.

This module is the one platform stand-in; the others build on it.
``PlatformState`` is the model (a workspace's secrets, the token it
requires, the requests it saw) and ``PlatformState.answer`` the routing
(the two endpoints as JSON, 401, 404); ``PlatformHandler`` serves it
through ``http.server``. ``tests/faultserver.py`` answers from the same
model over raw sockets so that it can misbehave byte by byte, and
``benchmarks/platform_server.py`` subclasses the handler to add admission
control.

By default it behaves like the server *before* the fix (every global is
merged into every workspace), because that is what the launcher has to
survive; ``server_gate=True`` strips global-origin LLM keys for
non-platform workspaces, as the fixed server does. Tests script faults by
queueing canned responses with ``push``.

    python -m launcher.devserver --workspace-id ID --token-file F \\
        --workspace-env-file ws.env --global-env-file global.env
"""

from __future__ import annotations

import argparse
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .catalogue import load_catalogue
from .envfiles import read_dotenv

STAMP = "2026-01-01T00:00:00Z"


@dataclass
class Canned:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    # False: no Content-Length, the body ends when the connection closes,
    # so a client can only enforce a size cap while it reads.
    declare_length: bool = True


@dataclass
class Recorded:
    method: str
    path: str
    authorization: str | None
    client_port: int = 0

    @property
    def has_authorization(self) -> bool:
        return self.authorization is not None

    def __repr__(self) -> str:  # the token is a secret in tests too
        auth = None if self.authorization is None else "Bearer ********"
        return f"Recorded({self.method} {self.path}, authorization={auth})"


class PlatformState:
    """One workspace's secrets, held in memory; thread-safe."""

    def __init__(
        self,
        workspace_id: str,
        token: str | None = None,
        workspace_secrets: dict[str, str] | None = None,
        global_secrets: dict[str, str] | None = None,
        billing_mode: str = "byok",
        server_gate: bool = False,
    ) -> None:
        self.workspace_id = workspace_id
        self.token = token
        self.workspace_secrets = dict(workspace_secrets or {})
        self.global_secrets = dict(global_secrets or {})
        self.billing_mode = billing_mode
        self.server_gate = server_gate
        self.lock = threading.Lock()
        self.requests: list[Recorded] = []
        self.canned: list[Canned] = []
        # Called with the path before each answer: tests use it to change
        # secrets between the launcher's reads.
        self.on_request: Callable[[str], None] | None = None
        # The runtime's calls (see the module docstring).
        self.issue_token: str | None = None
        self.registrations: list[dict[str, object]] = []
        self.heartbeats: list[dict[str, object]] = []
        self.stream_events = 3
        self.stream_gap = 0.2
        self.poll_delay = 1.0

    def push(self, *responses: Canned) -> None:
        with self.lock:
            self.canned.extend(responses)

    def record(self, request: Recorded) -> None:
        with self.lock:
            self.requests.append(request)

    def answer(self, path: str, authorization: str | None) -> tuple[int, bytes]:
        """The contract's answer to ``GET path``: status and JSON body."""
        prefix = f"/workspaces/{self.workspace_id}/secrets"
        if self.token is not None and authorization != f"Bearer {self.token}":
            return 401, _json({"error": "invalid or missing workspace token"})
        with self.lock:
            if path == prefix + "/values":
                return 200, _json(self.values())
            if path == prefix:
                return 200, _json(self.listing())
        return 404, _json({"error": "not found"})

    def post(self, path: str, authorization: str | None, body: bytes) -> tuple[int, bytes]:
        """The runtime's POSTs: register, heartbeat, and the echo endpoint."""
        if self.token is not None and authorization != f"Bearer {self.token}":
            return 401, _json({"error": "invalid or missing workspace token"})
        if path == f"/workspaces/{self.workspace_id}/echo":
            return 200, _json({"bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()})
        try:
            document = json.loads(body or b"null")
        except ValueError:
            return 400, _json({"error": "invalid JSON"})
        if not isinstance(document, dict):
            return 400, _json({"error": "invalid JSON"})
        with self.lock:
            if path == "/registry/register":
                if document.get("id") != self.workspace_id:
                    return 403, _json({"error": "workspace id mismatch"})
                self.registrations.append(document)
                answer: dict[str, object] = {"status": "registered"}
                if self.issue_token is not None:
                    answer["auth_token"] = self.token = self.issue_token
                    self.issue_token = None
                return 200, _json(answer)
            if path == "/registry/heartbeat":
                if document.get("workspace_id") != self.workspace_id:
                    return 403, _json({"error": "workspace id mismatch"})
                self.heartbeats.append(document)
                return 200, _json({"status": "ok"})
        return 404, _json({"error": "not found"})

    def values(self) -> dict[str, str]:
        merged = dict(self.global_secrets)
        merged.update(self.workspace_secrets)
        if self.server_gate and self.billing_mode != "platform_managed":
            catalogue = load_catalogue()
            for key in self.global_secrets:
                if key not in self.workspace_secrets and catalogue.is_server_key(key):
                    merged.pop(key, None)
        return merged

    def listing(self) -> list[dict[str, object]]:
        rows = [self._row(k, "workspace") for k in self.workspace_secrets]
        rows += [self._row(k, "global") for k in self.global_secrets if k not in self.workspace_secrets]
        return rows

    @staticmethod
    def _row(key: str, scope: str) -> dict[str, object]:
        return {"key": key, "has_value": True, "scope": scope, "created_at": STAMP, "updated_at": STAMP}


JSON = {"Content-Type": "application/json"}


def _json(document: object) -> bytes:
    return json.dumps(document).encode()


class PlatformHandler(BaseHTTPRequestHandler):
    """Serves ``state``'s answers; a subclass sets ``state`` (see ``handler_for``)."""

    state: PlatformState
    protocol_version = "HTTP/1.1"
    # http.server writes head and body separately; with Nagle on, each
    # keep-alive response after the first waits ~40 ms for a delayed ACK.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: tests read the recorded requests instead

    def do_GET(self) -> None:
        state = self.state
        authorization = self.headers.get("Authorization")
        state.record(Recorded("GET", self.path, authorization, self.client_address[1]))
        with state.lock:
            canned = state.canned.pop(0) if state.canned else None
        if state.on_request:
            state.on_request(self.path)
        if canned is not None:
            time.sleep(canned.delay)
            return self.send(canned.status, canned.body, canned.headers, canned.declare_length)
        own = f"/workspaces/{state.workspace_id}"
        authorised = state.token is None or authorization == f"Bearer {state.token}"
        if authorised and self.path == own + "/state":
            return self.send(200, _json({"workspace_id": state.workspace_id, "status": "online"}), JSON)
        if authorised and self.path == own + "/events":
            return self.stream()
        if authorised and self.path.startswith(own + "/blob/") and self.path.rsplit("/", 1)[1].isdigit():
            return self.send(200, b"x" * int(self.path.rsplit("/", 1)[1]), {"Content-Type": "text/plain"})
        if authorised and self.path == own + "/poll":
            time.sleep(state.poll_delay)
            return self.send(200, _json({"event": "woke"}), JSON)
        self.answer()

    def do_POST(self) -> None:
        state = self.state
        authorization = self.headers.get("Authorization")
        state.record(Recorded("POST", self.path, authorization, self.client_address[1]))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, answer = state.post(self.path, authorization, body)
        self.send(status, answer, JSON)

    def stream(self) -> None:
        """Server-sent events, chunked, one event per chunk, ``stream_gap`` apart."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for index in range(self.state.stream_events):
            event = f"id: {index}\nevent: tick\ndata: {json.dumps({'n': index, 't': time.time()})}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.flush()
            time.sleep(self.state.stream_gap)
        self.wfile.write(b"0\r\n\r\n")

    def answer(self) -> None:
        """What the contract says to this request (no canned response, no record)."""
        status, body = self.state.answer(self.path, self.headers.get("Authorization"))
        self.send(status, body, JSON)

    def send(
        self, status: int, body: bytes, headers: dict[str, str] | None = None, declare_length: bool = True
    ) -> None:
        headers = headers or {}
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if not declare_length:
            self.send_header("Connection", "close")
            self.close_connection = True
        elif "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def handler_for(state: PlatformState, base: type[PlatformHandler] = PlatformHandler) -> type[PlatformHandler]:
    return type("Handler", (base,), {"state": state})


class DevPlatform:
    """The stand-in on a real socket, served from a background thread."""

    def __init__(self, state: PlatformState, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = state
        self.server = ThreadingHTTPServer((host, port), handler_for(state))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> DevPlatform:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agent-launcher-devserver", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--workspace-id", required=True)
    parser.add_argument("--token-file", help="require this bearer token (default: accept requests without one)")
    parser.add_argument("--workspace-env-file", action="append", default=[])
    parser.add_argument("--global-env-file", action="append", default=[])
    parser.add_argument("--billing-mode", default="byok")
    parser.add_argument("--server-gate", action="store_true", help="strip global LLM keys as the fixed server does")
    args = parser.parse_args(argv)
    token = Path(args.token_file).read_text().strip() if args.token_file else None
    state = PlatformState(
        args.workspace_id,
        token,
        {k: v for f in args.workspace_env_file for k, v in read_dotenv(Path(f)).items()},
        {k: v for f in args.global_env_file for k, v in read_dotenv(Path(f)).items()},
        args.billing_mode,
        args.server_gate,
    )
    with DevPlatform(state, args.host, args.port) as platform:
        print(f"dev platform for workspace {args.workspace_id} on {platform.url}", flush=True)
        try:
            platform.thread.join()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
