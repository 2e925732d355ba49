"""The resident's loop: the agent's parent for its whole life, as a state machine.

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

Every effect goes through an injected seam (spawn, wait, reap, signal, the
tree, the clock, the pull), so the tests drive this machine in-process with
fakes; ``resident`` wires it to the kernel.
"""

import enum
import random
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from ..errors import ForeignAgentCredentialError, LauncherError, PlatformProxyError, unexpected
from ..launch import Startable
from ..log import Log
from .children import Tree, exit_code, reap, signal_group, spawn
from .handover import Options
from .refresh import Schedule, compare

FORWARDED = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH")
)

SHUTDOWN = frozenset({signal.SIGTERM, signal.SIGINT})

WAITED = frozenset({*FORWARDED, signal.SIGCHLD})

DRAIN_POLL = 0.1  # while a stopped tree drains: each look scans /proc

KILL_GRACE = 5.0  # after SIGKILL, how long to wait for the kernel before giving up


class Pull(Protocol):
    """A refresh in a helper process: ``start`` (given the running child's
    candidate) returns its pid; once the
    loop has reaped that pid, ``finish`` returns the helper's candidate or
    raises its error; ``cancel`` kills a helper in flight."""

    def start(self, current: Startable) -> int: ...

    def finish(self) -> Startable: ...

    def cancel(self) -> None: ...


class Then(enum.Enum):
    RESTART = "restart"
    EXIT = "exit"


class _Stopping:
    __slots__ = ("deadline", "killed", "then", "tree")

    def __init__(self, tree: Tree, deadline: float, then: Then) -> None:
        self.tree = tree
        self.deadline = deadline
        self.then = then
        self.killed = False


def wait_for_signal(timeout: float | None) -> int | None:
    info = signal.sigwaitinfo(WAITED) if timeout is None else signal.sigtimedwait(WAITED, timeout)
    return None if info is None else info.si_signo


class Supervisor:
    def __init__(
        self,
        first: Startable,
        options: Options,
        log: Log,
        *,
        pull: Pull | None = None,
        _spawn: Callable[[str, Sequence[str], Mapping[str, str]], int] = spawn,
        _wait: Callable[[float | None], int | None] = wait_for_signal,
        _reap: Callable[[], list[tuple[int, int]]] = reap,
        _signal_group: Callable[[int, int], bool] = signal_group,
        _tree: Callable[[int], Tree] = Tree,
        _clock: Callable[[], float] = time.monotonic,
        _random: Callable[[], float] = random.random,
        _moved: Callable[[Startable], list[str]] = lambda c: moved_files(c.watched),
        _replaced: Callable[[Startable, Startable], None] = lambda old, new: None,
        essential: Mapping[int, str] | None = None,
    ) -> None:
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
        self._moved = _moved
        self._replaced = _replaced  # what the old child used and the new one does not goes (resident.retire)
        self.current = first
        self.pgid = 0  # the child's pid: leader of its own session and group
        self.child: int | None = None  # None once reaped
        self.status: int | None = None  # the main child's wait status
        self.stopping: _Stopping | None = None
        self.pending: Startable | None = None
        self.shutting_down = False
        self.refresh_at: float | None = None
        self.helper: int | None = None  # a refresh helper's pid while it runs
        # A restart whose agent files changed while the old child stopped:
        # its helper pulls (and judges the files) again before anything starts.
        self.rechecking = False
        self.exit_code: int | None = None
        # Processes the child cannot do without (the platform proxy): pid ->
        # what it is. One that exits ends the launch with ``failure``.
        self.essential = dict(essential or {})
        self.failure: LauncherError | None = None

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
        if self.stopping is not None:
            return DRAIN_POLL
        if self.refresh_at is None or self.helper is not None:
            return None  # a helper in flight ends in a SIGCHLD
        return max(0.0, self.refresh_at - self._clock())

    def _advance(self) -> None:
        if self.exit_code is not None:
            return  # decided (a refused restart): nothing more to start or stop
        now = self._clock()
        if self.stopping is None and self.child is None and not self.rechecking:
            self.log.info(f"child exited with status {exit_code(self.status or 0)}; stopping what it left behind")
            self._begin_stop(Then.EXIT, self.options.stop_signal, now)
        due = self.refresh_at is not None and now >= self.refresh_at
        if due and self.stopping is None and self.helper is None and self._pull is not None:
            self.refresh_at = None
            try:
                self.helper = self._pull.start(self.current)
            except OSError as exc:  # fork failed: out of memory or processes
                self._refresh_failed(LauncherError(f"cannot start the refresh helper ({exc.strerror})"), now)
        if self.stopping is not None:
            self._drain(now)

    # -- events -----------------------------------------------------------

    def _reap(self) -> None:
        for pid, status in self._reap_children():
            if pid == self.child:
                self.child, self.status = None, status
                self.log.debug(f"child {pid} exited with status {exit_code(status)}")
            elif pid == self.helper and self._pull is not None:
                self.helper = None
                self._refreshed(self._pull, self._clock())
            elif pid in self.essential:
                self._lost(self.essential.pop(pid), status)
            else:
                self.log.debug(f"reaped orphan {pid}")

    def _on_signal(self, signum: int) -> None:
        name = signal.Signals(signum).name
        delivered = self._signal_group(self.pgid, signum)
        self.log.debug(f"forwarded {name} to process group {self.pgid}" if delivered else f"{name}: no process left")
        if signum not in SHUTDOWN or self.shutting_down:
            return
        self.shutting_down = True
        if self.helper is not None and self._pull is not None:
            self._pull.cancel()  # its answer no longer matters, and the stop must not wait for it
        self.log.info(f"{name}: stopping the child (grace {self.options.stop_timeout:g}s)")
        if self.stopping is None:
            self._begin_stop(Then.EXIT, None, self._clock())  # the signal itself was the stop request
        else:
            self.stopping.then = Then.EXIT  # a restart in progress becomes the last stop

    def _lost(self, what: str, status: int) -> None:
        """An essential process exited: the child has lost what it runs on
        (its platform endpoint), so it is stopped and the launch fails."""
        self.failure = PlatformProxyError(
            f"{what} exited with status {exit_code(status)}; stopping the agent, whose platform endpoint it was"
        )
        self.log.error(self.failure.code, self.failure.message)
        if self.helper is not None and self._pull is not None:
            self._pull.cancel()
        self.shutting_down = True
        if self.stopping is not None:
            self.stopping.then = Then.EXIT
        elif self.child is not None:
            self._begin_stop(Then.EXIT, self.options.stop_signal, self._clock())

    def _refreshed(self, pull: Pull, now: float) -> None:
        error: Exception | None = None
        try:
            candidate: Startable | None = pull.finish()  # always: it also frees the answer
        except Exception as exc:  # reported by code, or by type and place only
            candidate, error = None, exc
        if self.rechecking:
            self._rechecked(candidate, error)
            return
        if self.stopping is not None or self.shutting_down or self.child is None:
            return  # too late to matter
        if candidate is None:
            self._refresh_failed(error, now)
            return
        change = compare(self.current.env, candidate.env)
        if not change:
            self.refresh_at = now + self.schedule.after_success()
            self.log.debug("refresh: environment unchanged")
            return
        self.log.warning(
            f"refresh: environment changed ({change.describe()}); restarting the child", code="ENVIRONMENT_CHANGED"
        )
        self.pending = candidate
        self._begin_stop(Then.RESTART, self.options.stop_signal, now)

    def _refresh_failed(self, error: BaseException | None, now: float) -> None:
        # Never kill a working agent because the platform blinked.
        delay = self.schedule.after_failure()
        if isinstance(error, LauncherError):
            code, why = error.code, error.message
        else:  # a bug; its text could quote anything, so the type and place only
            code, why = "INTERNAL_ERROR", unexpected(error) if error else "no answer"
        self.log.warning(
            f"refresh failed, keeping the running child (attempt {self.schedule.failures}, "
            f"next in {delay:.1f}s): {why}",
            code=code,
        )
        self.refresh_at = now + delay

    # -- starting and stopping -------------------------------------------

    def _start(self, candidate: Startable) -> None:
        moved = self._moved(candidate)
        if moved:  # the last check before a start: the agent files are the ones judged
            raise ForeignAgentCredentialError(f"{moved[0]} changed after the launcher checked it; nothing was started")
        pid = self._spawn(candidate.path, candidate.argv, candidate.env)
        previous, self.current = self.current, candidate
        self.child, self.pgid, self.status = pid, pid, None
        if previous is not candidate:  # a restart: the old child's tree is gone
            try:
                self._replaced(previous, candidate)
            except Exception as exc:  # tidying never costs the running child its supervisor
                self.log.warning(f"could not remove what the old child used: {unexpected(exc)}")
        self.log.info(f"started {candidate.path} as pid {pid} with {len(candidate.env)} variables")
        if self._pull is not None:
            self.refresh_at = self._clock() + self.schedule.after_success()

    def _rechecked(self, candidate: Startable | None, error: Exception | None) -> None:
        """The restart's second pull is in: start it, or exit with why not
        (the old child is gone; a refusal must not leave a half-started agent)."""
        self.rechecking = False
        if self.shutting_down:
            return  # the stop request already ended the loop's work
        if candidate is None:
            failure = error if isinstance(error, LauncherError) else LauncherError(unexpected(error) if error else "")
            self.log.error(failure.code, f"the restart was refused: {failure.message}")
            self.exit_code = failure.exit_code
            return
        try:
            self._start(candidate)
        except LauncherError as exc:
            self.log.error(exc.code, f"the restart was refused: {exc.message}")
            self.exit_code = exc.exit_code

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
            if not self._moved(candidate) or self._pull is None:
                self._start(candidate)
                return
            # The old child (or anyone) wrote an agent file after the pull
            # judged it: claude rewrites ~/.claude.json as it runs. Judge
            # again now that nothing of ours runs; that pull's answer starts.
            self.log.warning(
                "agent files changed since the refresh checked them: checking again before the restart",
                code="AGENT_FILES_CHANGED",
            )
            self.rechecking = True
            self.helper = self._pull.start(candidate)
            return
        if self.failure is not None:
            self.exit_code = self.failure.exit_code
        elif self.status is None:  # the child would not die even to SIGKILL
            self.exit_code = 128 + signal.SIGKILL
        else:
            self.exit_code = exit_code(self.status)
        self.log.info(f"exiting with status {self.exit_code}")


def moved_files(watched: Sequence[tuple[str, Sequence[int | str] | None]]) -> list[str]:
    """``files.changed``, imported only when there are agent files to look at."""
    if not watched:
        return []
    from ..files import changed

    return changed(watched)
