"""A loopback platform stand-in for the benchmarks, run as its own process
so that the launchers it serves compete for the CPU the way a fleet does,
not for the benchmark runner's GIL.

    python benchmarks/platform_server.py --max-concurrent 20 --retry-after 1

It admits at most ``--max-concurrent`` requests at once, holds each for
``--service-time`` seconds (the platform's own work: a database read and
a decrypt), and answers the rest ``429`` with ``Retry-After``. It prints
``READY <port>`` when listening, serves ``GET /__stats`` (outside the
limit) with its counters, and exits when its stdin closes or after
``--lifetime`` seconds, so a crashed runner never leaves it behind.

The documents and their routing are ``launcher.devserver``'s (the one
platform stand-in); this adds the admission control and the counters.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from http.server import ThreadingHTTPServer

from _common import WORKSPACE_ID

from launcher.devserver import JSON, PlatformHandler, PlatformState

PLATFORM = PlatformState(
    WORKSPACE_ID,
    workspace_secrets={"ANTHROPIC_API_KEY": "sk-ant-api03-bench-own-0000"},
    global_secrets={
        "CLAUDE_CODE_OAUTH_TOKEN": "sk-ant-oat01-bench-platform-0000",
        "GITHUB_TOKEN": "ghp_bench_0000",
        "EDITOR": "vi",
    },
)


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.rejected = 0
        self.in_flight = 0
        self.peak_in_flight = 0

    def snapshot(self) -> dict[str, float]:
        with self.lock:
            return {"requests": self.requests, "rejected": self.rejected, "peak_in_flight": self.peak_in_flight}


def handler_for(args: argparse.Namespace, stats: Stats) -> type[PlatformHandler]:
    slots = threading.BoundedSemaphore(args.max_concurrent) if args.max_concurrent > 0 else None

    class Handler(PlatformHandler):
        state = PLATFORM

        def do_GET(self) -> None:  # noqa: N802 - http.server calls it by this name
            # Not the base's do_GET: a fleet's requests are counted, not recorded one by one.
            if self.path == "/__stats":
                return self.send(200, json.dumps(stats.snapshot()).encode(), JSON)
            with stats.lock:
                stats.requests += 1
            if slots is not None and not slots.acquire(blocking=False):
                with stats.lock:
                    stats.rejected += 1
                return self.send(429, b'{"error": "busy"}', {**JSON, "Retry-After": str(args.retry_after)})
            try:
                with stats.lock:
                    stats.in_flight += 1
                    stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)
                if args.service_time:
                    time.sleep(args.service_time)
                self.answer()
            finally:
                with stats.lock:
                    stats.in_flight -= 1
                if slots is not None:
                    slots.release()

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # A fleet connects at once: the default backlog of 5 would turn the
    # burst into SYN retransmits a second later and measure the kernel.
    request_queue_size = 1024

    def handle_error(self, request: object, client_address: object) -> None:
        # A launcher that gives up on a 429 closes with the body unread, so
        # the kernel resets the connection: expected, and not worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-concurrent", type=int, default=0, help="0 = unlimited")
    parser.add_argument("--service-time", type=float, default=0.0)
    parser.add_argument("--retry-after", type=int, default=1)
    parser.add_argument("--lifetime", type=float, default=900.0)
    args = parser.parse_args()

    stats = Stats()
    server = Server(("127.0.0.1", args.port), handler_for(args, stats))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"READY {server.server_address[1]}", flush=True)

    def watch_stdin() -> None:
        sys.stdin.read()  # returns at EOF: the runner closed the pipe or died
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    time.sleep(args.lifetime)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
