"""The OpenAI and Gemini stand-ins themselves (cheap; no agent CLI): the parts
the real clients do not exercise in every run, and the recording they share
with the Anthropic stand-in."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from anthropic_stub import AnthropicStub
from gemini_stub import GeminiStub
from openai_stub import OpenAIStub


def _post(url: str, payload: object, headers: dict[str, str] | None = None) -> tuple[int, str | None, str]:
    req = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"content-type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, resp.headers.get("content-type"), resp.read().decode()


def _sse(body: str) -> list[dict]:
    return [json.loads(line[len("data: ") :]) for line in body.splitlines() if line.startswith("data: ")]


def test_openai_stub_streams_a_whole_response_and_records_the_bearer():
    with OpenAIStub(reply_text="pong") as stub:
        status, ctype, body = _post(
            stub.base_url + "/responses", {"model": "m", "stream": True}, {"authorization": "Bearer k1"}
        )
        assert (status, ctype) == (200, "text/event-stream")
        events = _sse(body)
        assert [e["type"] for e in events] == [
            "response.created",
            "response.output_item.added",
            "response.output_text.delta",
            "response.output_item.done",
            "response.completed",
        ]
        assert [e["sequence_number"] for e in events] == list(range(5))
        assert events[3]["item"]["content"][0]["text"] == "pong"
        assert events[0]["response"]["id"] == events[-1]["response"]["id"]
        assert events[-1]["response"]["usage"]["total_tokens"] == 18

        with pytest.raises(urllib.error.HTTPError) as err:
            _post(stub.url + "/v1/chat/completions", {})
        assert err.value.code == 404

        assert stub.credentials() == [("authorization", "Bearer k1")]
        assert [r.route for r in stub.response_requests()] == ["/v1/responses"]
        assert stub.paths() == ["/v1/responses", "/v1/chat/completions"]
        assert stub.egress() == []


def test_gemini_stub_streams_json_and_records_the_api_key():
    with GeminiStub(reply_text="pong") as stub:
        url = stub.url + "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        status, ctype, body = _post(url, {"contents": []}, {"x-goog-api-key": "g1"})
        assert (status, ctype) == (200, "text/event-stream")
        (event,) = _sse(body)
        assert event["candidates"][0]["content"]["parts"][0]["text"] == "pong"
        assert event["modelVersion"] == "gemini-2.5-flash"

        vertex = stub.url + "/v1beta1/publishers/google/models/gemini-2.5-flash:generateContent"
        status, ctype, body = _post(vertex, {"contents": []})
        assert (status, ctype) == (200, "application/json")
        assert json.loads(body)["candidates"][0]["finishReason"] == "STOP"

        status, _, body = _post(stub.url + "/v1beta/models/gemini-2.5-flash:countTokens", {})
        assert json.loads(body) == {"totalTokens": 10}

        with pytest.raises(urllib.error.HTTPError) as err:
            _post(stub.url + "/v1/responses", {})
        assert err.value.code == 404
        assert json.loads(err.value.read())["error"]["status"] == "NOT_FOUND"

        assert stub.credentials() == [("x-goog-api-key", "g1")]
        assert len(stub.generate_requests()) == 1
        assert stub.generate_requests()[0].query == "alt=sse"


def test_recorded_requests_never_show_a_credential_in_their_repr():
    with OpenAIStub() as stub:
        _post(stub.base_url + "/responses", {"secret": "body-value"}, {"authorization": "Bearer hidden-value"})
        text = repr(stub.requests)
    assert "hidden-value" not in text and "body-value" not in text
    assert "credential headers=['authorization']" in text


def test_egress_through_the_proxy_trap_is_refused_and_recorded():
    with GeminiStub() as stub:
        proxy = urllib.request.ProxyHandler({"http": stub.url})
        opener = urllib.request.build_opener(proxy)
        with pytest.raises(urllib.error.HTTPError) as err:
            opener.open("http://example.invalid/v1beta/models/x:generateContent", data=b"{}", timeout=10)
        assert err.value.code == 403
        assert [r.method for r in stub.egress()] == ["POST"]
        assert stub.generate_requests() == []


# The Anthropic stand-in (cheap; guards the parts claude does not exercise).
def test_stub_non_streaming_and_streaming_and_unknown_path():
    with AnthropicStub(reply_text="pong") as stub:
        status, ctype, body = _post(stub.url + "/v1/messages", {"model": "m", "messages": []}, {"x-api-key": "k1"})
        assert (status, ctype) == (200, "application/json")
        msg = json.loads(body)
        assert msg["type"] == "message" and msg["content"][0]["text"] == "pong"

        status, ctype, body = _post(
            stub.url + "/v1/messages?beta=true",
            {"model": "m", "messages": [], "stream": True},
            {"authorization": "Bearer t2"},
        )
        assert (status, ctype) == (200, "text/event-stream")
        events = [line[len("event: ") :] for line in body.splitlines() if line.startswith("event: ")]
        assert events == [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
        assert '"text": "pong"' in body

        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(stub.url + "/v1/models", timeout=10)
        assert err.value.code == 404
        assert json.loads(err.value.read())["type"] == "error"

        assert stub.credentials() == [("x-api-key", "k1"), ("authorization", "Bearer t2")]
        assert stub.paths() == ["/v1/messages", "/v1/messages", "/v1/models"]
        assert stub.egress() == []
