"""The Anthropic stand-in on a Unix socket: what ``ANTHROPIC_UNIX_SOCKET``
points claude at. Same handler, recording and observations as
``AnthropicStub``; only the listener differs (a socket file under the test's
tmp_path instead of a loopback port)."""

from __future__ import annotations

import os
import socketserver
import threading
from pathlib import Path

from anthropic_stub import AnthropicStub


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class UnixAnthropicStub(AnthropicStub):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def start(self) -> UnixAnthropicStub:
        if self.path.exists():
            os.unlink(self.path)
        server = _UnixServer(str(self.path), self.handler)
        server.stub_state = self._state  # type: ignore[attr-defined]
        self._server = server  # type: ignore[assignment]
        self._thread = threading.Thread(target=server.serve_forever, name="UnixAnthropicStub", daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:  # what a client puts in the Host header; the socket is the address
        return "http://localhost"
