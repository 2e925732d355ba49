"""``supervise``: run the agent as a child and stay its parent.

The parent is one loop over one input. The forwarded signals and SIGCHLD
are blocked before the child exists and taken with ``sigtimedwait``, whose
timeout doubles as the timer for refreshes and stop deadlines. Nothing runs
in a signal handler, so there is no race between a child exiting, a signal
arriving and a timer firing: each is handled in turn, in one place.

States, all in ``Supervisor``::

    running ──refresh changed env──▶ stopping(restart) ──tree gone──▶ running
       │  ╲                              │ SIGTERM/SIGINT
       │   ╲ SIGTERM/SIGINT              ▼
       │    ╰─────────────────────▶ stopping(exit) ──tree gone──▶ exit status
       ╰──child exits on its own──▶ stopping(exit)      (after SIGKILL if need be)

A crashed child is not restarted: that is the orchestrator's call, and it
sees the child's own exit status.
"""

from __future__ import annotations

import argparse
import enum
import math
import os
import random
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from .config import Config
from .errors import ConfigError, LauncherError
from .log import Log
from .reaper import Tree, become_subreaper, exit_code, reap, signal_group, spawn
from .refresh import Job, Schedule, compare

FORWARDED = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH")
)
SHUTDOWN = frozenset({signal.SIGTERM, signal.SIGINT})
WAITED = frozenset({*FORWARDED, signal.SIGCHLD})
POLL = 0.05  # while a pull is in flight: a thread cannot wake sigtimedwait cleanly
DRAIN_POLL = 0.1  # while a stopped tree drains: each look scans /proc
KILL_GRACE = 5.0  # after SIGKILL, how long to wait for the kernel before giving up


@dataclass(frozen=True)
class Options:
    refresh: float | None
    stop_signal: signal.Signals
    stop_timeout: float
    subreaper: bool

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace) -> Options:
        refresh = ns.refresh
        if refresh is not None and not (math.isfinite(refresh) and refresh > 0):
            raise ConfigError(f"--refresh must be a positive number of seconds, got {refresh!r}")
        if not (math.isfinite(ns.stop_timeout) and ns.stop_timeout >= 0):
            raise ConfigError(f"--stop-timeout must be zero or more seconds, got {ns.stop_timeout!r}")
        return cls(refresh, parse_signal(ns.stop_signal), ns.stop_timeout, ns.subreaper)


def parse_signal(text: str) -> signal.Signals:
    """``SIGTERM``, ``TERM``, ``term`` or ``15``."""
    raw = str(text).strip()
    try:
        return signal.Signals(int(raw)) if raw.isdigit() else signal.Signals["SIG" + raw.upper().removeprefix("SIG")]
    except (KeyError, ValueError):
        raise ConfigError(f"--stop-signal: unknown signal {raw[:20]!r}") from None


@dataclass(frozen=True)
class Candidate:
    """What a pull produced: the next child's environment and executable."""

    env: dict[str, str]
    path: str


class Then(enum.Enum):
    RESTART = "restart"
    EXIT = "exit"


@dataclass
class _Stopping:
    tree: Tree
    deadline: float
    then: Then
    killed: bool = False


def wait_for_signal(timeout: float | None) -> int | None:
    info = signal.sigwaitinfo(WAITED) if timeout is None else signal.sigtimedwait(WAITED, timeout)
    return None if info is None else info.si_signo


class Supervisor:
    def __init__(
        self,
        argv: Sequence[str],
        first: Candidate,
        options: Options,
        log: Log,
        *,
        pull: Callable[[], Candidate] | None = None,
        _spawn: Callable[[str, Sequence[str], Mapping[str, str]], int] = spawn,
        _wait: Callable[[float | None], int | None] = wait_for_signal,
        _reap: Callable[[], list[tuple[int, int]]] = reap,
        _signal_group: Callable[[int, int], bool] = signal_group,
        _tree: Callable[[int], Tree] = Tree,
        _clock: Callable[[], float] = time.monotonic,
        _random: Callable[[], float] = random.random,
    ) -> None:
        self.argv = list(argv)
        self.options = options
        self.log = log
        self._pull = pull if options.refresh else None
        self._spawn = _spawn
        self._wait = _wait
        self._reap_children = _reap
        self._signal_group = _signal_group
        self._tree = _tree
        self._clock = _clock
        self.schedule = Schedule(options.refresh or 1.0, _random=_random)
        self.current = first
        self.pgid = 0  # the child's pid: leader of its own session and group
        self.child: int | None = None  # None once reaped
        self.status: int | None = None  # the main child's wait status
        self.stopping: _Stopping | None = None
        self.pending: Candidate | None = None
        self.shutting_down = False
        self.refresh_at: float | None = None
        self.job: Job[Candidate] | None = None
        self.exit_code: int | None = None

    # -- the loop ---------------------------------------------------------

    def run(self) -> int:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, WAITED)
        try:
            self._start(self.current)
            while self.exit_code is None:
                signum = self._wait(self._timeout())
                if signum == signal.SIGCHLD:
                    self._reap()
                elif signum is not None:
                    self._on_signal(signum)
                self._advance()
            return self.exit_code
        finally:
            # A signal that arrived after the last wait must not act on us
            # once unblocked (a late SIGTERM would replace the child's status).
            while signal.sigtimedwait(WAITED, 0) is not None:
                pass
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    def _timeout(self) -> float | None:
        if self.job is not None:
            return POLL
        if self.stopping is not None:
            return DRAIN_POLL
        if self.refresh_at is None:
            return None
        return max(0.0, self.refresh_at - self._clock())

    def _advance(self) -> None:
        now = self._clock()
        if self.job is not None and self.job.done:
            job, self.job = self.job, None
            self._refreshed(job, now)
        if self.stopping is None and self.child is None:
            self.log.info(f"child exited with status {exit_code(self.status or 0)}; stopping what it left behind")
            self._begin_stop(Then.EXIT, self.options.stop_signal, now)
        due = self.refresh_at is not None and now >= self.refresh_at
        if due and self.stopping is None and self.job is None and self._pull is not None:
            self.refresh_at = None
            self.job = Job(self._pull)
        if self.stopping is not None:
            self._drain(now)

    # -- events -----------------------------------------------------------

    def _reap(self) -> None:
        for pid, status in self._reap_children():
            if pid == self.child:
                self.child, self.status = None, status
                self.log.debug(f"child {pid} exited with status {exit_code(status)}")
            else:
                self.log.debug(f"reaped orphan {pid}")

    def _on_signal(self, signum: int) -> None:
        name = signal.Signals(signum).name
        delivered = self._signal_group(self.pgid, signum)
        self.log.debug(f"forwarded {name} to process group {self.pgid}" if delivered else f"{name}: no process left")
        if signum not in SHUTDOWN or self.shutting_down:
            return
        self.shutting_down = True
        self.log.info(f"{name}: stopping the child (grace {self.options.stop_timeout:g}s)")
        if self.stopping is None:
            self._begin_stop(Then.EXIT, None, self._clock())  # the signal itself was the stop request
        else:
            self.stopping.then = Then.EXIT  # a restart in progress becomes the last stop

    def _refreshed(self, job: Job[Candidate], now: float) -> None:
        if self.stopping is not None or self.shutting_down or self.child is None:
            return  # too late to matter
        if job.error is not None or job.result is None:
            self._refresh_failed(job.error, now)
            return
        change = compare(self.current.env, job.result.env)
        if not change:
            self.refresh_at = now + self.schedule.after_success()
            self.log.debug("refresh: environment unchanged")
            return
        self.log.warning(
            f"refresh: environment changed ({change.describe()}); restarting the child", code="ENVIRONMENT_CHANGED"
        )
        self.pending = job.result
        self._begin_stop(Then.RESTART, self.options.stop_signal, now)

    def _refresh_failed(self, error: BaseException | None, now: float) -> None:
        # Never kill a working agent because the platform blinked.
        delay = self.schedule.after_failure()
        if isinstance(error, LauncherError):
            code, why = error.code, error.message
        else:  # a bug; its text could quote anything, so the type only
            code, why = "INTERNAL_ERROR", f"unexpected {type(error).__name__}"
        self.log.warning(
            f"refresh failed, keeping the running child (attempt {self.schedule.failures}, "
            f"next in {delay:.1f}s): {why}",
            code=code,
        )
        self.refresh_at = now + delay

    # -- starting and stopping -------------------------------------------

    def _start(self, candidate: Candidate) -> None:
        pid = self._spawn(candidate.path, self.argv, candidate.env)
        self.current = candidate
        self.child, self.pgid, self.status = pid, pid, None
        self.log.info(f"started {candidate.path} as pid {pid} with {len(candidate.env)} variables")
        if self._pull is not None:
            self.refresh_at = self._clock() + self.schedule.after_success()

    def _begin_stop(self, then: Then, signum: int | None, now: float) -> None:
        if signum is not None:
            self._signal_group(self.pgid, signum)
        tree = self._tree(self.pgid)
        tree.collect()
        self.stopping = _Stopping(tree, now + self.options.stop_timeout, then)

    def _drain(self, now: float) -> None:
        stop = self.stopping
        assert stop is not None
        stop.tree.collect()  # late forks and fresh orphans join the tree
        alive = stop.tree.alive()
        if self.child is None and not alive:
            self._stopped(now)
        elif not stop.killed and now >= stop.deadline:
            killed = stop.tree.kill()
            self.log.warning(
                f"stop timeout ({self.options.stop_timeout:g}s): killed {killed} process(es) left in the child's tree",
                code="STOP_TIMEOUT",
            )
            stop.killed, stop.deadline = True, now + KILL_GRACE
        elif stop.killed and now >= stop.deadline:
            self.log.warning(f"{len(alive)} process(es) outlived SIGKILL; giving up on them", code="STOP_TIMEOUT")
            self._stopped(now)

    def _stopped(self, now: float) -> None:
        stop, self.stopping = self.stopping, None
        assert stop is not None
        if stop.then is Then.RESTART and self.pending is not None:
            candidate, self.pending = self.pending, None
            self._start(candidate)
            return
        if self.status is None:  # the child would not die even to SIGKILL
            self.exit_code = 128 + signal.SIGKILL
        else:
            self.exit_code = exit_code(self.status)
        self.log.info(f"exiting with status {self.exit_code}")


# -- the command -------------------------------------------------------------


def run(ns: argparse.Namespace, config: Config, environ: dict[str, str], log: Log) -> int:
    from .launch import DEFAULT_COMMAND, search_path_for
    from .launch import resolve as resolve_command
    from .main import build_plan, log_plan, write_agent_files

    options = Options.from_namespace(ns)
    argv = ns.argv or list(DEFAULT_COMMAND)

    def pull(*, first: bool = False) -> Candidate:
        plan = build_plan(config, environ, log)
        if first:
            log_plan(plan, log)
        if plan.refusal is not None:
            raise plan.refusal
        write_agent_files(plan)
        return Candidate(plan.env, resolve_command(argv[0], search_path_for(plan.env, environ)))

    first = pull(first=True)  # refusals raise here: no child is ever started
    if options.subreaper and os.getpid() != 1 and not become_subreaper():
        log.warning("--subreaper: prctl(PR_SET_CHILD_SUBREAPER) failed; orphans will not be reaped here")
    return Supervisor(argv, first, options, log, pull=pull).run()
