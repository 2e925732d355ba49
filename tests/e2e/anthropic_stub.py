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

Recording, the egress trap and the lifecycle are ``stub_server``'s, shared
with the OpenAI and Gemini stand-ins.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from stub_server import LoopbackStub, RecordedRequest, StubHandler

__all__ = ["CREDENTIAL_HEADERS", "DEFAULT_REPLY", "AnthropicStub", "RecordedRequest"]

# Headers that can carry an LLM credential to the upstream.
CREDENTIAL_HEADERS = ("authorization", "x-api-key")

DEFAULT_REPLY = "Hello from the agent-launcher stub."


class _Handler(StubHandler):
    server_version = "anthropic-stub/1"

    def not_found(self) -> None:
        self.send_json(
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
        self.send_sse(
            (name, dict(data, type=name))
            for name, data in [
                ("message_start", {"message": start}),
                ("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
                ("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": text}}),
                ("content_block_stop", {"index": 0}),
                (
                    "message_delta",
                    {
                        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                        "usage": {"output_tokens": msg["usage"]["output_tokens"]},
                    },
                ),
                ("message_stop", {}),
            ]
        )

    def answer(self, req: RecordedRequest) -> None:
        route = req.route.rstrip("/")
        if route == "/v1/messages":
            msg = self._message(req)
            if (req.json or {}).get("stream"):
                self._stream(msg)
            else:
                self.send_json(200, msg)
        elif route == "/v1/messages/count_tokens":
            self.send_json(200, {"input_tokens": 10})
        else:
            self.not_found()


class AnthropicStub(LoopbackStub):
    """Threaded loopback stand-in for the Anthropic API. See module docstring."""

    handler = _Handler
    credential_headers: ClassVar[tuple[str, ...]] = CREDENTIAL_HEADERS
    default_reply: ClassVar[str] = DEFAULT_REPLY

    def message_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.route.rstrip("/") == "/v1/messages"]
