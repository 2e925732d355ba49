"""A loopback stand-in for the Gemini API (generativelanguage v1beta), as the
real gemini-cli uses it.

gemini-cli (0.61.0) pointed at ``GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:PORT``
sends ``POST /v1beta/models/MODEL:streamGenerateContent?alt=sse`` with the key
in ``x-goog-api-key`` (``Authorization: Bearer`` when
``GEMINI_API_KEY_AUTH_MECHANISM=bearer``) and reads ``data:`` server-sent
events, each a ``GenerateContentResponse``. ``:generateContent`` (JSON) and
``:countTokens`` are answered too, for the helper calls a client may make. In
Vertex mode (``selectedType`` ``vertex-ai``, ``GOOGLE_VERTEX_BASE_URL``) the
same calls arrive as ``/v1beta1/publishers/google/models/MODEL:...``.

Usage::

    with GeminiStub() as stub:
        env["GOOGLE_GEMINI_BASE_URL"] = stub.url
        ...run gemini...
        assert [h for h, _ in stub.credentials()] == ["x-goog-api-key"]

Recording, the egress trap and the lifecycle are ``stub_server``'s.
"""

from __future__ import annotations

from typing import Any, ClassVar

from stub_server import LoopbackStub, RecordedRequest, StubHandler

__all__ = ["CREDENTIAL_HEADERS", "DEFAULT_REPLY", "GeminiStub"]

# Headers that can carry a Gemini credential.
CREDENTIAL_HEADERS = ("x-goog-api-key", "authorization")

DEFAULT_REPLY = "Hello from the agent-launcher Gemini stub."


def _model(route: str) -> str:
    """``/v1beta/models/gemini-2.5-flash:streamGenerateContent`` -> ``gemini-2.5-flash``."""
    return route.rsplit("/", 1)[-1].split(":", 1)[0]


class _Handler(StubHandler):
    server_version = "gemini-stub/1"

    def not_found(self) -> None:
        self.send_json(
            404,
            {"error": {"code": 404, "message": f"stub: no route {self.command} {self.path}", "status": "NOT_FOUND"}},
        )

    def _response(self, req: RecordedRequest) -> dict[str, Any]:
        return {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": self.state.reply_text}]},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 8, "totalTokenCount": 18},
            "modelVersion": _model(req.route),
            "responseId": "stub-response",
        }

    def answer(self, req: RecordedRequest) -> None:
        route = req.route
        if not route.startswith(("/v1beta/models/", "/v1beta1/publishers/google/models/")):
            return self.not_found()
        if route.endswith(":streamGenerateContent"):
            self.send_sse([(None, self._response(req))])
        elif route.endswith(":generateContent"):
            self.send_json(200, self._response(req))
        elif route.endswith(":countTokens"):
            self.send_json(200, {"totalTokens": 10})
        else:
            self.not_found()


class GeminiStub(LoopbackStub):
    """Threaded loopback stand-in for the Gemini API."""

    handler = _Handler
    credential_headers: ClassVar[tuple[str, ...]] = CREDENTIAL_HEADERS
    default_reply: ClassVar[str] = DEFAULT_REPLY

    def generate_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.route.endswith(":streamGenerateContent")]
