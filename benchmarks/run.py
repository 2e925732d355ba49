"""The launcher's benchmarks, side by side with their baselines, as tables.

    python benchmarks/run.py            # everything (about 9 minutes on 2 cores)
    python benchmarks/run.py --quick    # fewer rounds (about a minute)
    python benchmarks/run.py --only launch,fleet

1. launch: median wall time of ``agent-launcher exec -- /bin/true`` against
   a loopback platform in byok mode (List + Values + List) over the median
   of ``python -c "import httpx, tenacity, dotenv"``, and local mode
   (``--env-file``) over ``python -c pass``; runs interleaved A,B,C,D.
2. gate: planning bundles of 1k, 10k and 100k keys beside ``json.loads``
   of the same bundle.
3. supervise: ``benchmarks/bench_supervise.py``: the parent's RSS and its
   kill-to-exit time beside a minimal stdlib supervisor and tini.
4. fleet: 200 launchers started at once against one platform process that
   admits 20 concurrent requests and answers the rest 429 + Retry-After.
5. proxy: ``benchmarks/bench_proxy.py``: what ``supervise --platform-proxy``
   adds per request (median, p90, ratio, added ms) against a direct
   connection to the dev platform, interleaved; sequential throughput; the
   resident's and the proxy's RSS.

Everything runs on 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from _common import WORKSPACE_ID, clean_env, launcher

HERE = Path(__file__).resolve().parent
PY = sys.executable
TOKEN = "wstok-bench-not-a-secret"
WALL_TIMEOUT = 120.0  # one launch takes well under a second; a hang must not stall the run


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n## {title}\n")
    for index, row in enumerate(cells):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))
        if index == 0:
            print("  ".join("-" * w for w in widths))


@contextmanager
def platform_server(*flags: str) -> Iterator[tuple[str, Callable[[], dict[str, float]]]]:
    proc = subprocess.Popen(
        [PY, str(HERE / "platform_server.py"), *flags],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.startswith("READY "):
            raise RuntimeError(f"platform stand-in did not start: {line!r}")
        url = f"http://127.0.0.1:{int(line.split()[1])}"

        def stats() -> dict[str, float]:
            with urllib.request.urlopen(url + "/__stats", timeout=10) as response:
                return json.loads(response.read())

        yield url, stats
    finally:
        if proc.stdin:
            proc.stdin.close()  # the stand-in exits at EOF
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wall(cmd: Sequence[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=WALL_TIMEOUT
    )
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited {proc.returncode}: {proc.stderr[-300:]}")
    return elapsed


# 1. launch overhead ------------------------------------------------------


def bench_launch(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, platform_server() as (url, stats):
        env_file = Path(tmp) / "workspace.env"
        env_file.write_text("ANTHROPIC_API_KEY=sk-ant-api03-bench-own\nEDITOR=vi\n")
        exe = launcher()
        env = clean_env(MOLECULE_WORKSPACE_TOKEN=TOKEN)
        platform_args = ["--platform-url", url, "--workspace-id", WORKSPACE_ID]
        cases = {
            "launcher byok (List+Values+List)": [
                exe,
                "exec",
                *platform_args,
                "--billing-mode",
                "byok",
                "--",
                "/bin/true",
            ],
            'python -c "import httpx, tenacity, dotenv"': [PY, "-c", "import httpx, tenacity, dotenv"],
            # The same floor, plus the exec the launcher ends with.
            "the same imports, then execv /bin/true": [
                PY,
                "-c",
                "import httpx, tenacity, dotenv, os; os.execv('/bin/true', ['true'])",
            ],
            "launcher local (--env-file)": [
                exe,
                "exec",
                "--env-file",
                str(env_file),
                "--billing-mode",
                "byok",
                "--",
                "/bin/true",
            ],
            'python -c "pass"': [PY, "-c", "pass"],
            "launcher platform_managed (Values)": [
                exe,
                "exec",
                *platform_args,
                "--billing-mode",
                "platform_managed",
                "--",
                "/bin/true",
            ],
            # Local mode's own floor: python-dotenv's package import.
            'python -c "import dotenv"': [PY, "-c", "import dotenv"],
        }
        for _ in range(3):  # warm the page cache and .pyc files
            for cmd in cases.values():
                wall(cmd, env)
        before = stats()["requests"]
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(rounds):
            for name, cmd in cases.items():  # interleaved: drift hits every case alike
                times[name].append(wall(cmd, env))
        per_round = (stats()["requests"] - before) / rounds
    med = {name: statistics.median(xs) * 1000 for name, xs in times.items()}
    names = list(cases)
    rows = [
        [name, f"{med[name]:.1f}", f"{min(times[name]) * 1000:.1f}", f"{max(times[name]) * 1000:.1f}"] for name in names
    ]
    table(f"launch overhead (median of {rounds} interleaved runs, ms)", ["command", "median", "min", "max"], rows)

    def ratio(a: str, b: str) -> str:
        """Per round (the two ran back to back), then the median and spread."""
        pairs = [x / y for x, y in zip(times[a], times[b], strict=True)]
        return f"{statistics.median(pairs):.2f} ({min(pairs):.2f}–{max(pairs):.2f})"

    floor, exec_floor = 'python -c "import httpx, tenacity, dotenv"', "the same imports, then execv /bin/true"
    ratios = [
        ["byok launch / import floor", ratio(names[0], floor)],
        ["byok launch / import floor + execv", ratio(names[0], exec_floor)],
        ["platform_managed launch / import floor", ratio("launcher platform_managed (Values)", floor)],
        ["local launch / python -c pass", ratio("launcher local (--env-file)", 'python -c "pass"')],
        ["local launch / import dotenv", ratio("launcher local (--env-file)", 'python -c "import dotenv"')],
    ]
    table("launch ratios (median of per-round ratios, min–max)", ["ratio", "value"], ratios)
    print(f"\nplatform requests per round: {per_round:.0f}  (byok 3 + platform_managed 1)")


# 2. gate scaling ---------------------------------------------------------


def bench_gate(repeats: int) -> None:
    from launcher.catalogue import load_catalogue
    from launcher.config import load_config
    from launcher.gate import Source
    from launcher.pipeline import run_gate
    from launcher.platform.wire import parse_values
    from launcher.values import Scope

    catalogue = load_catalogue()
    config = load_config({"billing_mode": "byok"}, {"CONFIGS_DIR": os.devnull})
    llm_keys = sorted(catalogue.bypass_keys)
    rows = []
    for n in (1_000, 10_000, 100_000):
        values = {f"APP_SETTING_{i:06d}": f"value-{i:06d}-{'x' * 24}" for i in range(n - len(llm_keys))}
        values.update({key: f"sk-bench-{key.lower()}" for key in llm_keys})
        scopes = {key: (Scope.WORKSPACE, Scope.GLOBAL)[i % 2] for i, key in enumerate(values)}
        body = json.dumps(values).encode()
        inherited = clean_env()

        def median_ms(fn: Callable[[], object]) -> float:
            samples = []
            for _ in range(repeats):
                started = time.perf_counter()
                fn()
                samples.append(time.perf_counter() - started)
            return statistics.median(samples) * 1000

        loads = median_ms(lambda body=body: json.loads(body))
        parse = median_ms(lambda body=body: parse_values(body))
        gate = median_ms(
            lambda v=values, s=scopes, e=inherited: run_gate(config, [Source("platform", v, s)], e, catalogue)
        )
        # What check and -vv add: every key's decision and fingerprint.
        explain = median_ms(
            lambda v=values, s=scopes, e=inherited: run_gate(
                config, [Source("platform", v, s)], e, catalogue
            ).decisions()
        )
        rows.append(
            [
                f"{n:,}",
                f"{loads:.2f}",
                f"{parse:.2f}",
                f"{gate:.2f}",
                f"{gate / n * 1000:.2f}",
                f"{gate / loads:.2f}",
                f"{explain:.2f}",
            ]
        )
    table(
        f"gate scaling (median of {repeats}, ms)",
        ["keys", "json.loads", "parse_values", "run_gate", "plan us/key", "plan/json.loads", "plan+explain"],
        rows,
    )


# 3. supervise footprint --------------------------------------------------


def bench_supervise(quick: bool) -> bool:
    print("\n## supervise footprint\n")
    return run_part("bench_supervise.py", ["--samples", "6", "--stops", "3"] if quick else [])


def run_part(script: str, args: list[str]) -> bool:
    """A part measured by a script of its own: its tables, or why not."""
    proc = subprocess.run(
        [PY, str(HERE / script), *args], capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL
    )
    print(proc.stdout.rstrip() or f"({script} exited {proc.returncode}: {proc.stderr[-500:]})")
    return proc.returncode == 0


# 4. fleet start ----------------------------------------------------------


def bench_fleet(launchers: int, slots: int, service_time: float, retry_after: int) -> bool:
    exe = launcher()
    flags = ["--max-concurrent", str(slots), "--service-time", str(service_time), "--retry-after", str(retry_after)]
    with platform_server(*flags) as (url, stats):
        env = clean_env(MOLECULE_WORKSPACE_TOKEN=TOKEN)
        # platform_managed: one request (Values) per launcher when nothing
        # is refused, so every request above `launchers` is a retry.
        cmd = [exe, "exec", "--platform-url", url, "--workspace-id", WORKSPACE_ID]
        cmd += ["--billing-mode", "platform_managed", "--deadline", "60", "--", "/bin/date", "+%s.%N"]
        spawned = time.time()
        procs = [
            subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(launchers)
        ]
        stop_by = time.monotonic() + 120
        outcomes = []
        for proc in procs:
            try:
                out, err = proc.communicate(timeout=max(0.1, stop_by - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
            outcomes.append((proc.returncode, out.strip(), err))
        counts = stats()
    starts = sorted(float(out) - spawned for code, out, _ in outcomes if code == 0 and out)
    failures = [err.strip().splitlines()[-1:] for code, _, err in outcomes if code != 0]
    requests = int(counts["requests"])

    def pct(p: float) -> str:
        return f"{starts[min(len(starts) - 1, int(p * len(starts)))]:.2f}" if starts else "-"

    rows = [
        ["launchers started", f"{len(starts)} / {launchers}"],
        ["platform requests", f"{requests}  ({requests / launchers:.2f} per launcher; bound < 3.00)"],
        ["  answered 429", f"{int(counts['rejected'])}"],
        ["  peak admitted at once", f"{int(counts['peak_in_flight'])} (limit {slots})"],
        ["first child start (s after spawn)", pct(0.0)],
        ["median child start", pct(0.5)],
        ["p90 child start", pct(0.9)],
        ["last child start", f"{starts[-1]:.2f}" if starts else "-"],
        ["start-time spread (last - first)", f"{starts[-1] - starts[0]:.2f}" if starts else "-"],
    ]
    title = (
        f"fleet start: {launchers} launchers, platform_managed, {slots} slots, "
        f"{service_time * 1000:.0f} ms service, 429 Retry-After {retry_after}"
    )
    table(title, ["measure", "value"], rows)
    if failures:
        print(f"\n{len(failures)} launchers failed, e.g. {failures[0]}")
    verdict = len(starts) == launchers and requests < 3 * launchers
    print(f"\nall started and requests < 3x launchers: {'yes' if verdict else 'NO'}")
    return verdict


# 5. platform proxy --------------------------------------------------------


def bench_proxy(quick: bool) -> bool:
    print("\n## platform proxy (supervise --platform-proxy)\n")
    return run_part("bench_proxy.py", ["--rounds", "300" if quick else "2000"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--only", default="launch,gate,supervise,fleet,proxy", help="comma-separated sections")
    parser.add_argument("--launchers", type=int, default=200)
    parser.add_argument("--service-time", type=float, default=1.5, help="platform work per admitted request (s)")
    args = parser.parse_args()
    sections = set(args.only.split(","))
    cpu = next((line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")), "?")
    print(f"# agent-launcher benchmarks, {datetime.date.today().isoformat()}")
    print(f"{platform.node()}: {os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}")
    print(f"Python {platform.python_version()} at {PY}")
    compile_launcher()
    parts: list[tuple[str, Callable[[], object]]] = [
        ("launch", lambda: bench_launch(rounds=10 if args.quick else 30)),
        ("gate", lambda: bench_gate(repeats=3 if args.quick else 7)),
        ("supervise", lambda: bench_supervise(args.quick)),
        ("fleet", lambda: bench_fleet(args.launchers, 20, args.service_time, retry_after=1)),
        ("proxy", lambda: bench_proxy(args.quick)),
    ]
    failed = []  # a part that could not measure: the run goes on, and exits 1
    for name, part in parts:
        if name not in sections:
            continue
        try:
            if part() is False:
                failed.append(name)
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            print(f"\n({name} could not be measured: {type(exc).__name__}: {exc})")
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


def compile_launcher() -> None:
    """Bytecode for the launcher's modules, as pip writes it for an installed
    wheel. An editable checkout run with PYTHONDONTWRITEBYTECODE (or after an
    edit) would otherwise compile every module on every launch: ~8 ms that
    no installed launcher pays."""
    import compileall

    import launcher

    compileall.compile_dir(str(Path(launcher.__file__).parent), quiet=1)


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


if __name__ == "__main__":
    raise SystemExit(main())
