"""A loopback stand-in for the OpenAI Responses API, as the real codex CLI uses it.

codex (0.171.0) sends ``POST {base_url}/responses`` (``/v1/responses`` with a
base URL ending in ``/v1``) with ``stream: true`` and reads server-sent events.
Tried on the pinned binary: the shortest sequence that ``codex exec`` prints
an answer from is one ``response.output_item.done`` carrying the whole
assistant message, then ``response.completed``; ``response.created`` is
optional; ``response.completed`` alone is a finished turn with no text; a
``response.output_text.delta`` without a ``response.output_item.added`` first
is an error ("OutputTextDelta without active item"). The stand-in sends the
real API's full shape: created, output_item.added, one output_text.delta,
output_item.done, completed.

Usage::

    with OpenAIStub() as stub:
        ...point codex's provider base_url at stub.url + "/v1"...
        assert all(v == f"Bearer {key}" for _, v in stub.credentials())

Recording, the egress trap and the lifecycle are ``stub_server``'s.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from stub_server import LoopbackStub, RecordedRequest, StubHandler

__all__ = ["CREDENTIAL_HEADERS", "DEFAULT_REPLY", "OpenAIStub"]

# Headers that can carry an OpenAI credential (ChatGPT logins add
# chatgpt-account-id beside the Bearer token; it identifies, it does not bill).
CREDENTIAL_HEADERS = ("authorization", "api-key", "openai-api-key")

DEFAULT_REPLY = "Hello from the agent-launcher OpenAI stub."

USAGE = {
    "input_tokens": 10,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 8,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 18,
}


class _Handler(StubHandler):
    server_version = "openai-stub/1"

    def _events(self, req: RecordedRequest) -> list[tuple[str | None, Any]]:
        model = (req.json or {}).get("model") or "gpt-stub"
        response_id = "resp_stub_" + uuid.uuid4().hex[:16]
        item_id = "msg_stub_" + uuid.uuid4().hex[:16]
        text = self.state.reply_text
        response = {"id": response_id, "object": "response", "model": model, "status": "in_progress", "output": []}
        item = {
            "type": "message",
            "id": item_id,
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }
        done = dict(response, status="completed", output=[item], usage=USAGE)
        events: list[dict[str, Any]] = [
            {"type": "response.created", "response": response},
            {"type": "response.output_item.added", "output_index": 0, "item": dict(item, content=[])},
            {
                "type": "response.output_text.delta",
                "item_id": item_id,
                "output_index": 0,
                "content_index": 0,
                "delta": text,
            },
            {"type": "response.output_item.done", "output_index": 0, "item": item},
            {"type": "response.completed", "response": done},
        ]
        return [(e["type"], dict(e, sequence_number=n)) for n, e in enumerate(events)]

    def answer(self, req: RecordedRequest) -> None:
        if req.route.rstrip("/") in ("/v1/responses", "/responses"):
            self.send_sse(self._events(req))
        else:
            self.not_found()


class OpenAIStub(LoopbackStub):
    """Threaded loopback stand-in for the OpenAI Responses API."""

    handler = _Handler
    credential_headers: ClassVar[tuple[str, ...]] = CREDENTIAL_HEADERS
    default_reply: ClassVar[str] = DEFAULT_REPLY

    @property
    def base_url(self) -> str:
        """What a codex provider's ``base_url`` is set to."""
        return self.url + "/v1"

    def response_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.route.rstrip("/") == "/v1/responses"]
