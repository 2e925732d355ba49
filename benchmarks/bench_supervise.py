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
import statistics
import subprocess
import sys
import time

import psutil
from _common import WORKSPACE_ID, clean_env, launcher, wait_for

from launcher.devserver import DevPlatform, PlatformState

SLEEP = "30"


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
    env = clean_env()
    exe = launcher()
    cases = {
        "agent-launcher supervise -- sleep 30": [exe, "supervise", "--", "sleep", SLEEP],
        "agent-launcher supervise --refresh 1 -- sleep 30": [exe, "supervise", "--refresh", "1", "--", "sleep", SLEEP],
    }
    procs: list[subprocess.Popen[bytes]] = []
    rows: list[tuple[str, float, float]] = []
    with DevPlatform(PlatformState(WORKSPACE_ID, billing_mode="platform_managed")) as platform:
        cases["agent-launcher supervise --platform-url ... --refresh 1 -- sleep 30"] = [
            exe, "supervise", "--platform-url", platform.url, "--workspace-id", WORKSPACE_ID,
            "--refresh", "1", "--", "sleep", SLEEP,
        ]  # fmt: skip
        try:
            bare = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({SLEEP})"], env=env)
            procs.append(bare)
            for label, argv in cases.items():
                proc = subprocess.Popen(argv, env=env)
                procs.append(proc)
                wait_for(lambda p=proc: supervising(p), f"{label} to start its child")  # type: ignore[misc]
                time.sleep(1.5 if "--refresh" in argv else 0.2)  # let a refresh or two run
                rows.append((label, *sample(proc.pid, args.samples)))
            rows.append(('python -c "import time; time.sleep(30)"', *sample(bare.pid, args.samples)))
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait()
    base_rss = rows[-1][1]
    width = max(len(r[0]) for r in rows)
    print(f"{'process'.ljust(width)}  {'RSS MiB':>8}  {'USS MiB':>8}  {'RSS ratio':>9}")
    for label, rss, uss in rows:
        print(f"{label.ljust(width)}  {rss:8.1f}  {uss:8.1f}  {rss / base_rss:8.2f}x")
    print(f"(median of {args.samples} samples each; Python {sys.version.split()[0]}, psutil {psutil.__version__})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
