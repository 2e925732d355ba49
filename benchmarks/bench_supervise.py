"""The supervising parent beside its floors, measured in one run: resident
memory while an agent (``sleep 30``) runs, and the time from ``kill -TERM``
on the parent to the parent's exit.

    python benchmarks/bench_supervise.py [--samples N] [--stops N]

Baselines, same interpreter, same machine, same moment: a minimal stdlib
supervisor (``minimal_supervisor.py``: spawn, forward, reap) and tini where
it is installed. Rows: the launcher in local mode, and with ``--refresh 1``
against a dev platform on loopback (every refresh a real pull).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
from _common import WORKSPACE_ID, clean_env, launcher, wait_for

from launcher.devserver import DevPlatform, PlatformState

SLEEP = "30"
HERE = Path(__file__).resolve().parent
MINIMAL = "minimal stdlib supervisor"


def supervising(proc: subprocess.Popen[bytes]) -> bool:
    """True once the parent has started its child (``sleep``)."""
    try:
        return any(c.name() == "sleep" for c in psutil.Process(proc.pid).children())
    except psutil.NoSuchProcess:
        return False


def start(argv: list[str], env: dict[str, str], label: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: supervising(proc), f"{label} to start its child")
    return proc


def rss_mib(pid: int, count: int) -> float:
    proc = psutil.Process(pid)
    samples = []
    for _ in range(count):
        samples.append(proc.memory_info().rss)
        time.sleep(0.05)
    return statistics.median(samples) / 2**20


def kill_to_exit_ms(argv: list[str], env: dict[str, str], label: str, settle: float) -> float:
    proc = start(argv, env, label)
    time.sleep(settle)  # a refreshing parent has pulled at least once
    # A blocking wait, not Popen.wait(timeout): that one polls with sleeps
    # that double up to 50 ms, which would round every exit up to 7.5 or
    # 15.5 ms. The timer only ends a parent that never exits.
    guard = threading.Timer(30, proc.kill)
    guard.start()
    began = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait()
    finally:
        guard.cancel()
    return (time.perf_counter() - began) * 1000


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=20, help="RSS samples per process")
    parser.add_argument("--stops", type=int, default=7, help="kill-to-exit runs per process")
    args = parser.parse_args()
    env = clean_env()
    exe = launcher()
    with DevPlatform(PlatformState(WORKSPACE_ID, billing_mode="platform_managed")) as platform:
        cases: dict[str, list[str]] = {MINIMAL: [sys.executable, str(HERE / "minimal_supervisor.py"), "sleep", SLEEP]}
        tini = shutil.which("tini")
        if tini:
            cases["tini -s"] = [tini, "-s", "--", "sleep", SLEEP]
        cases["agent-launcher supervise (local mode)"] = [exe, "supervise", "--", "sleep", SLEEP]
        cases["agent-launcher supervise --refresh 1 (platform)"] = [
            exe, "supervise", "--platform-url", platform.url, "--workspace-id", WORKSPACE_ID,
            "--refresh", "1", "--", "sleep", SLEEP,
        ]  # fmt: skip
        rss: dict[str, list[float]] = {label: [] for label in cases}
        stops: dict[str, list[float]] = {label: [] for label in cases}
        # Interleaved, so that a drift in the machine's speed hits every row alike.
        for _ in range(args.stops):
            for label, argv in cases.items():
                settle = 1.5 if "--refresh" in argv else 0.2
                proc = start(argv, env, label)
                try:
                    time.sleep(settle)
                    rss[label].append(rss_mib(proc.pid, max(1, args.samples // args.stops)))
                finally:
                    proc.terminate()
                    proc.wait(timeout=30)
                stops[label].append(kill_to_exit_ms(argv, env, label, settle))
    floor_rss = statistics.median(rss[MINIMAL])
    floor_stop = statistics.median(stops[MINIMAL])
    width = max(len(label) for label in cases)
    header = f"{'RSS MiB (min–max)':>20}  {'× floor':>7}  {'kill→exit ms (min–max)':>24}  {'× floor':>7}"
    print(f"{'parent'.ljust(width)}  {header}")
    for label in cases:
        r, s = rss[label], stops[label]
        print(
            f"{label.ljust(width)}  {spread(r):>20}  {statistics.median(r) / floor_rss:6.2f}x  "
            f"{spread(s):>24}  {statistics.median(s) / floor_stop:6.2f}x"
        )
    print(f"(medians over {args.stops} starts each, interleaved; Python {sys.version.split()[0]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
