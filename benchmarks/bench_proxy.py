"""What ``supervise --platform-proxy`` adds to each platform request, and
what it costs in memory, measured in one run on loopback.

    python benchmarks/bench_proxy.py [--rounds N]

The dev platform runs in its own process (``agent-launcher-devserver``);
the launcher supervises a client that, interleaved round by round, makes
the same request straight to the platform (with the real token) and
through the proxy (with the per-launch credential), each over its own
keep-alive connection: ``GET /workspaces/ID/state`` and ``POST
/registry/heartbeat``. Then each path's sequential throughput over the
same connections. Memory: the resident's and the proxy's RSS while the
client waits.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from _common import WORKSPACE_ID, clean_env, launcher, wait_for

TOKEN = "wstok-bench-not-a-secret"

CLIENT = r"""
import http.client, json, os, sys, time, urllib.parse
direct_url, token, rounds, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
proxy_url, credential = os.environ["PLATFORM_URL"], os.environ["MOLECULE_WORKSPACE_TOKEN"]
wid = os.environ["WORKSPACE_ID"]

def connection(url):
    parts = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)

paths = {"direct": (connection(direct_url), token), "proxy": (connection(proxy_url), credential)}
heartbeat = json.dumps({"workspace_id": wid, "active_tasks": 0}).encode()

def once(which, method):
    conn, bearer = paths[which]
    headers = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"}
    started = time.perf_counter()
    if method == "GET":
        conn.request("GET", f"/workspaces/{wid}/state", headers=headers)
    else:
        conn.request("POST", "/registry/heartbeat", body=heartbeat, headers=headers)
    response = conn.getresponse()
    response.read()
    elapsed = time.perf_counter() - started
    assert response.status == 200, (which, method, response.status)
    return elapsed

for which in paths:  # warm both connections and the proxy's upstream pool
    for _ in range(20):
        once(which, "GET")
samples = {f"{w} {m}": [] for m in ("GET", "POST") for w in paths}
for _ in range(rounds):
    for method in ("GET", "POST"):
        for which in ("direct", "proxy"):
            samples[f"{which} {method}"].append(once(which, method))
throughput = {}
for which in paths:
    started = time.perf_counter()
    for _ in range(rounds):
        once(which, "GET")
    throughput[which] = rounds / (time.perf_counter() - started)
with open(out, "w") as f:
    json.dump({"samples": samples, "throughput": throughput}, f)
open(out + ".done", "w").close()
time.sleep(30)  # measured while waiting: the resident's and the proxy's memory
"""


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def p90_ms(values: list[float]) -> float:
    return sorted(values)[int(0.9 * (len(values) - 1))] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        token_file = directory / "token"
        token_file.write_text(TOKEN)
        token_file.chmod(0o600)
        own = directory / "ws.env"
        own.write_text("ANTHROPIC_API_KEY=sk-ant-api03-bench-own\n")
        platform = subprocess.Popen(
            [sys.executable, "-m", "launcher.devserver", "--port", "0", "--workspace-id", WORKSPACE_ID,
             "--token-file", str(token_file), "--workspace-env-file", str(own)],
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            line = platform.stdout.readline() if platform.stdout else ""
            url = line.strip().rsplit(" ", 1)[-1]
            if not url.startswith("http://"):
                raise SystemExit(f"dev platform did not start: {line!r}")
            client = directory / "client.py"
            client.write_text(CLIENT)
            out = directory / "out.json"
            proc = subprocess.Popen(
                [launcher(), "supervise", "--platform-proxy", "--platform-url", url, "--workspace-id", WORKSPACE_ID,
                 "--token-file", str(token_file), "--billing-mode", "byok", "--",
                 sys.executable, str(client), url, TOKEN, str(args.rounds), str(out)],
                env=clean_env(CONFIGS_DIR=str(directory)),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            try:
                wait_for(lambda: Path(str(out) + ".done").exists() or proc.poll() is not None, "the client", 600)
                if proc.poll() is not None:
                    raise SystemExit(
                        f"the launcher exited {proc.returncode}: {proc.stderr.read()[-500:] if proc.stderr else ''}"
                    )
                time.sleep(0.5)
                resident = psutil.Process(proc.pid)
                children = resident.children()
                proxy = next(c for c in children if "client.py" not in " ".join(c.cmdline()))
                rss = {"resident": resident.memory_info().rss, "proxy": proxy.memory_info().rss}
            finally:
                proc.terminate()
                proc.wait(30)
            result = json.loads(out.read_text())
        finally:
            platform.terminate()
            platform.wait(10)
    samples = result["samples"]
    print(f"platform proxy: {args.rounds} interleaved rounds per request kind, loopback, keep-alive\n")
    columns = [
        ("direct ms", 11),
        ("proxy ms", 10),
        ("added ms", 10),
        ("ratio", 7),
        ("direct p90", 12),
        ("proxy p90", 11),
    ]
    print(f"{'request':<28}" + "".join(f"{name:>{width}}" for name, width in columns))
    for method, label in (("GET", "GET /workspaces/ID/state"), ("POST", "POST /registry/heartbeat")):
        direct, proxied = samples[f"direct {method}"], samples[f"proxy {method}"]
        d, p = median_ms(direct), median_ms(proxied)
        print(
            f"{label:<28}{d:>11.3f}{p:>10.3f}{p - d:>10.3f}{p / d:>7.2f}{p90_ms(direct):>12.3f}{p90_ms(proxied):>11.3f}"
        )
    throughput = result["throughput"]
    print(
        f"\nsequential GET throughput: direct {throughput['direct']:.0f}/s, proxy {throughput['proxy']:.0f}/s "
        f"({throughput['proxy'] / throughput['direct']:.2f}x)"
    )
    print(f"RSS: resident {rss['resident'] / 2**20:.1f} MiB, proxy process {rss['proxy'] / 2**20:.1f} MiB")
    added = median_ms(samples["proxy GET"]) - median_ms(samples["direct GET"])
    print(f"\nmedian added latency under 1 ms: {'yes' if added < 1.0 else 'NO'} ({added:.3f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
