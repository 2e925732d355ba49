"""A Docker engine for the container tests: the one already reachable, or a
private dockerd that this module starts and stops.

A started dockerd listens on a socket of its own (never /var/run/docker.sock)
with ``--bridge=none --iptables=false --ip-forward=false``: the tests run
their containers with ``--network host`` and compose makes its own networks
(removed again), so the host's interfaces, firewall and forwarding are left
as they were. Its data root is kept between
runs (``AGENT_LAUNCHER_DOCKERD_ROOT``, default /var/lib/agent-launcher-dockerd)
so that images and the build cache survive; a second session at the same time
gets a temporary one instead.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

DEFAULT_DATA_ROOT = Path("/var/lib/agent-launcher-dockerd")
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30


class EngineUnavailableError(Exception):
    """No engine could be had; the message says why."""


@dataclass
class Engine:
    docker: str  # the client binary
    env: dict[str, str]  # the environment every client call gets (DOCKER_HOST)
    started: subprocess.Popen[bytes] | None = None  # our dockerd, if we started one
    run_dir: Path | None = None
    log_path: Path | None = None
    _lock: IO[bytes] | None = field(default=None, repr=False)

    def cmd(self, *args: str) -> list[str]:
        return [self.docker, *args]

    def run(self, *args: str, timeout: float = 120, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            self.cmd(*args),
            env=self.env,
            capture_output=True,
            timeout=timeout,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            check=False,
        )

    def stop(self) -> None:
        """Stop the dockerd this module started (its containerd goes with it)."""
        proc, self.started = self.started, None
        if proc is not None:
            _terminate(proc)
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        if self.run_dir is not None:
            _unmount_below(self.run_dir)
            shutil.rmtree(self.run_dir, ignore_errors=True)


def _unmount_below(path: Path) -> None:
    """dockerd leaves its network namespace file (exec-root/netns/default)
    mounted after it exits; nothing may stay mounted under our run directory."""
    prefix = str(path) + "/"
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return
    points = [line.split()[4] for line in lines if len(line.split()) > 4]
    for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "--lazy", point], capture_output=True, timeout=30, check=False)


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    # Whatever dockerd left in its process group (containerd, shims).
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _client() -> str:
    docker = shutil.which("docker")
    if docker is None:
        raise EngineUnavailableError("no docker client on PATH (Debian: apt-get install docker.io)")
    return docker


def _answers(docker: str, env: dict[str, str]) -> bool:
    try:
        proc = subprocess.run(
            [docker, "version", "--format", "{{.Server.Version}}"],
            env=env,
            capture_output=True,
            timeout=20,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and bool(proc.stdout.strip())


def _data_root(run_dir: Path) -> tuple[Path, IO[bytes] | None]:
    """The kept data root when free, else one inside ``run_dir`` (removed at stop)."""
    root = Path(os.environ.get("AGENT_LAUNCHER_DOCKERD_ROOT") or DEFAULT_DATA_ROOT)
    lock = None
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = open(root.with_name(root.name + ".lock"), "wb")  # held for the session
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return root, lock
    except OSError:
        if lock is not None:
            lock.close()
        return run_dir / "data", None


def _start(docker: str, extra: list[str]) -> Engine:
    run_dir = Path(tempfile.mkdtemp(prefix="agent-launcher-dockerd-"))
    data_root, lock = _data_root(run_dir)
    sock = run_dir / "docker.sock"
    log_path = run_dir / "dockerd.log"
    cmd = [
        "dockerd",
        "--data-root",
        str(data_root),
        "--exec-root",
        str(run_dir / "exec"),
        "--pidfile",
        str(run_dir / "dockerd.pid"),
        "--host",
        f"unix://{sock}",
        *extra,
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}"}
    env.pop("DOCKER_CONTEXT", None)
    engine = Engine(docker, env, started=proc, run_dir=run_dir, log_path=log_path, _lock=lock)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if sock.exists() and _answers(docker, env):
            return engine
        time.sleep(0.5)
    tail = log_path.read_text(errors="replace")[-3000:]
    engine.stop()
    raise EngineUnavailableError(f"dockerd {' '.join(extra)} did not come up within {START_TIMEOUT_S}s:\n{tail}")


def get_engine() -> Engine:
    """The reachable engine, or a private dockerd started here."""
    docker = _client()
    env = dict(os.environ)
    if _answers(docker, env):
        return Engine(docker, env)
    if shutil.which("dockerd") is None:
        raise EngineUnavailableError("no Docker engine reachable and no dockerd (Debian: apt-get install docker.io)")
    if os.geteuid() != 0:
        raise EngineUnavailableError("no Docker engine reachable, and starting dockerd needs root")
    engine = _start(docker, ["--bridge=none", "--iptables=false", "--ip-forward=false"])
    # Belt and braces: the session fixture stops it; this covers an interpreter
    # that exits without running fixture finalizers.
    atexit.register(engine.stop)
    return engine
