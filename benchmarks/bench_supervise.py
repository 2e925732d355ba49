"""Footprint of the supervising parent: its resident memory while an agent
runs, beside a bare ``python -c "import time; time.sleep(30)"`` measured in
the same run (same interpreter, same machine, same moment).

    python benchmarks/bench_supervise.py [--samples N]

The headline rows are local mode (no platform URL), so httpx is never
imported; ``--refresh`` adds the refresh thread. The last launcher row pulls
from a dev platform on loopback every second, for the cost of httpx.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import psutil

from launcher.devserver import DevPlatform, PlatformState

SLEEP = "30"
WORKSPACE_ID = "6b66de8d-9337-4fb4-be8d-6d49dca0d809"


def launcher() -> str:
    return str(Path(sysconfig.get_path("scripts")) / "agent-launcher")


def wait_for(condition, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise SystemExit("timed out waiting for the process to settle")


def supervising(proc: subprocess.Popen[bytes]) -> bool:
    """True once the launcher has started its child and is waiting in its loop."""
    try:
        return any(c.name() == "sleep" for c in psutil.Process(proc.pid).children())
    except psutil.NoSuchProcess:
        return False


def sample(pid: int, count: int) -> tuple[float, float]:
    """Median RSS and USS in MiB over ``count`` samples."""
    proc = psutil.Process(pid)
    rss, uss = [], []
    for _ in range(count):
        info = proc.memory_full_info()
        rss.append(info.rss)
        uss.append(info.uss)
        time.sleep(0.05)
    return statistics.median(rss) / 2**20, statistics.median(uss) / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    cases = {
        "agent-launcher supervise -- sleep 30": [launcher(), "supervise", "--", "sleep", SLEEP],
        "agent-launcher supervise --refresh 1 -- sleep 30": [
            launcher(),
            "supervise",
            "--refresh",
            "1",
            "--",
            "sleep",
            SLEEP,
        ],
    }
    platform = DevPlatform(PlatformState(WORKSPACE_ID, billing_mode="platform_managed")).__enter__()
    cases["agent-launcher supervise --platform-url ... --refresh 1 -- sleep 30"] = [
        launcher(), "supervise", "--platform-url", platform.url, "--workspace-id", WORKSPACE_ID,
        "--refresh", "1", "--", "sleep", SLEEP,
    ]  # fmt: skip
    procs: list[subprocess.Popen[bytes]] = []
    rows: list[tuple[str, float, float]] = []
    try:
        bare = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({SLEEP})"], env=env)
        procs.append(bare)
        for label, argv in cases.items():
            proc = subprocess.Popen(argv, env=env)
            procs.append(proc)
            wait_for(lambda p=proc: supervising(p))  # type: ignore[misc]
            time.sleep(1.5 if "--refresh" in argv else 0.2)  # let a refresh or two run
            rows.append((label, *sample(proc.pid, args.samples)))
        rows.append(('python -c "import time; time.sleep(30)"', *sample(bare.pid, args.samples)))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait()
        platform.__exit__(None, None, None)
    base_rss = rows[-1][1]
    width = max(len(r[0]) for r in rows)
    print(f"{'process'.ljust(width)}  {'RSS MiB':>8}  {'USS MiB':>8}  {'RSS ratio':>9}")
    for label, rss, uss in rows:
        print(f"{label.ljust(width)}  {rss:8.1f}  {uss:8.1f}  {rss / base_rss:8.2f}x")
    print(f"(median of {args.samples} samples each; Python {sys.version.split()[0]}, psutil {psutil.__version__})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
