"""The platform client's retry policy (``platform/client.py``), with an
injected clock and sleep: back off and stop at the deadline without
spinning, honour Retry-After but never sleep past the deadline, never retry
an auth failure, report a failure by its cause. Narrow unit tests: the
transport is httpx's MockTransport, never the network."""

from __future__ import annotations

import httpx
import pytest
from support import WORKSPACE_ID

from launcher.config import load_config
from launcher.errors import PlatformAuthError, PlatformUnavailableError
from launcher.platform.client import PlatformClient


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


def _client(handler, deadline: float = 30) -> tuple[PlatformClient, FakeTime, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    fake = FakeTime()

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        fake.now += 0.01  # a request takes a little time
        return handler(request)

    config = load_config(
        {"platform_url": "http://127.0.0.1:1", "workspace_id": WORKSPACE_ID, "deadline": str(deadline)}, {}
    )
    client = PlatformClient(config, _clock=fake.clock, _sleep=fake.sleep, _transport=httpx.MockTransport(record))
    return client, fake, seen


def test_persistent_5xx_backs_off_and_stops_at_the_deadline_without_spinning():
    client, fake, seen = _client(lambda r: httpx.Response(503))
    with client, pytest.raises(PlatformUnavailableError, match="answered 503"):
        client.fetch(False, lambda k: True)
    assert fake.now <= 30
    assert fake.now > 25, "retries go on until close to the deadline"
    assert len(seen) < 40, f"{len(seen)} requests in 30 s is a retry storm"


def test_retry_after_is_waited_at_least():
    def answer(request: httpx.Request) -> httpx.Response:
        if not seen[:-1]:  # the first request
            return httpx.Response(429, headers={"Retry-After": "7"})
        return httpx.Response(200, stream=httpx.ByteStream(b'{"A": "1"}'))

    client, fake, seen = _client(answer)
    with client:
        assert client.fetch(False, lambda k: True).values == {"A": "1"}
    assert len(seen) == 2 and 7 <= fake.sleeps[0] <= 12


def test_retry_after_past_the_deadline_gives_up_without_sleeping():
    client, fake, seen = _client(lambda r: httpx.Response(503, headers={"Retry-After": "60"}), deadline=10)
    with client, pytest.raises(PlatformUnavailableError):
        client.fetch(False, lambda k: True)
    assert (len(seen), fake.sleeps) == (1, [])


def test_auth_failure_is_final():
    client, fake, seen = _client(lambda r: httpx.Response(401, json={"error": "bad token"}))
    with client, pytest.raises(PlatformAuthError):
        client.fetch(False, lambda k: True)
    assert (len(seen), fake.sleeps) == (1, [])


def test_connection_errors_are_retried_and_reported_by_cause():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise ConnectionRefusedError("refused")

    client, _, seen = _client(refuse, deadline=5)
    with client, pytest.raises(PlatformUnavailableError, match=r"connection failed \(ConnectionRefusedError\)"):
        client.fetch(False, lambda k: True)
    assert len(seen) >= 3


def test_a_cut_at_the_deadline_is_reported_by_the_failure_before_it():
    def answer(request: httpx.Request) -> httpx.Response:
        if len(seen) == 1:
            return httpx.Response(503)
        fake.now = 31  # the second attempt runs into the deadline
        raise TimeoutError("timed out")

    client, fake, seen = _client(answer)
    with client, pytest.raises(PlatformUnavailableError, match=r"answered 503, until the deadline; gave up after 2"):
        client.fetch(False, lambda k: True)


def test_a_wait_that_would_end_past_the_deadline_is_not_started():
    """No wait ends closer to the deadline than one attempt needs; the
    server's own Retry-After is never shortened (only its jitter)."""

    def answer(request: httpx.Request) -> httpx.Response:
        if len(seen) == 1:
            return httpx.Response(429, headers={"Retry-After": "7"})
        return httpx.Response(200, stream=httpx.ByteStream(b'{"A": "1"}'))

    for _ in range(20):  # the jitter is random: uncapped, about half the draws would end past 10 s
        client, fake, seen = _client(answer, deadline=10)
        with client:
            assert client.fetch(False, lambda k: True).values == {"A": "1"}
        assert len(seen) == 2 and 7 <= fake.sleeps[0] <= 10 - 0.25


def test_own_backoff_leaves_room_for_one_last_attempt():
    client, fake, _ = _client(lambda r: httpx.Response(503), deadline=3)
    with client, pytest.raises(PlatformUnavailableError):
        client.fetch(False, lambda k: True)
    assert all(s <= 3 for s in fake.sleeps) and fake.now < 3
    assert fake.now > 3 - 0.25 - 0.05, "stopped early although one more attempt fitted"


def test_the_bundle_repr_shows_no_value():
    client, _, _ = _client(lambda r: httpx.Response(200, stream=httpx.ByteStream(b'{"A": "FAKESECRET-1"}')))
    with client:
        bundle = client.fetch(False, lambda k: True)
    assert "FAKESECRET" not in repr(bundle) and "1 values" in repr(bundle)
