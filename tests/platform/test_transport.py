"""The stdlib transport's own guarantees (``platform/transport.py``): one
origin, a bounded name lookup, a whole body after ``Connection: close``,
every read bounded by the deadline. Narrow unit tests; the rest of its
behaviour is exercised over real sockets in test_network_faults.py."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest
from faultserver import FaultServer, documents, status_trickle
from support import WORKSPACE_ID, WORKSPACE_TOKEN, base_env, run_launcher

from launcher.config import load_config
from launcher.errors import PlatformUnavailableError
from launcher.platform import transport
from launcher.platform.client import PlatformClient


def test_explicit_default_port_is_the_same_origin():
    """urlsplit keeps :80, httpx drops it: the origin check must not care."""
    assert transport._origin("http", "Example.com", 80) == transport._origin("http", "example.com", None)
    assert transport._origin("https", "h", 443) == transport._origin("https", "h", None)
    assert transport._origin("https", "h", 8443) != transport._origin("https", "h", None)


def test_request_to_another_origin_is_refused_before_any_connection():
    t = transport.StdlibTransport("http://127.0.0.1:9", None, timeout=5.0, deadline=time.monotonic() + 5)
    with pytest.raises(PlatformUnavailableError, match="outside the platform origin"):
        t.handle_request(httpx.Request("GET", "http://127.0.0.2:9/secrets"))
    assert t._conn.sock is None


def test_slow_name_lookup_is_cut_at_the_timeout(monkeypatch):
    release = threading.Event()

    def stuck(*args, **kwargs):
        release.wait(10)
        raise OSError("too late")

    monkeypatch.setattr(socket, "getaddrinfo", stuck)
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="outlasted the deadline"):
        transport.resolve_host("platform.invalid", 443, 0.3)
    assert time.monotonic() - started < 2
    release.set()


def test_platform_named_by_hostname_goes_through_the_bounded_lookup(platform):
    port = platform.server.server_address[1]
    result = run_launcher(
        "check",
        "--platform-url",
        f"http://localhost:{port}",
        "--workspace-id",
        WORKSPACE_ID,
        env=base_env(MOLECULE_WORKSPACE_TOKEN=WORKSPACE_TOKEN),
    )
    assert result.returncode == 0, result.stderr


def test_a_body_after_connection_close_is_read_whole_and_the_next_request_reconnects():
    """With ``Connection: close`` http.client lets go of the connection
    before the body is read: the body must still arrive whole (the reader
    keeps the socket open), and the next request opens a new connection."""
    big = json.dumps({"BIG": "x" * 300_000}).encode()  # far more than one read's buffer
    with FaultServer(default=documents({"Connection": "close"}, values=big)) as server:
        config = load_config({"platform_url": server.url, "workspace_id": WORKSPACE_ID, "deadline": "5"}, {})
        with PlatformClient(config) as client:
            bundle = client.fetch(True, lambda key: False)
    assert len(bundle.values["BIG"]) == 300_000 and bundle.requests == 3
    assert server.connections == 3


def test_each_read_is_bounded_by_the_deadline_not_only_each_wait():
    """A status line dripped one byte at a time keeps every single wait
    short; the exchange still ends at the deadline, as a TimeoutError."""
    with FaultServer(default=status_trickle) as server:
        t = transport.StdlibTransport(server.url, None, timeout=5.0, deadline=time.monotonic() + 1.0)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            t.handle_request(httpx.Request("GET", server.url + "/secrets"))
        elapsed = time.monotonic() - started
        t.close()
    assert 0.9 <= elapsed < 1.5, f"cut after {elapsed:.2f}s for a 1s deadline"
