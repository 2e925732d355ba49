"""The resident parent of ``supervise``: the agent's parent for its whole life.

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

This module is its own program. The ``supervise`` command
(``commands/supervise.py``) gates in the launcher's full interpreter, then
re-executes the same PID as ``resident``: ``python -I -S`` with an empty
environment, importing only this module, ``reaper``, ``refresh``, ``log``,
``errors`` and ``privileges``, because the parent stays resident for the
agent's whole life and every byte it holds is multiplied by the fleet. The
plan crosses the exec in a memfd (anonymous memory: never on disk, never in
argv or the environment). The resident holds the child's environment in
memory only (its own ``/proc/PID/environ`` is empty) and is not dumpable
(``privileges.make_undumpable``, called again after the exec, which resets
it), so a child of the same uid can read neither its environment nor its
memory. With ``--user`` every child runs as that user while the parent
keeps root for refreshes (the token file can stay root-only).

Each refresh is a short-lived helper process (``HelperPull`` here, its other
end ``commands.supervise.pull_helper``): a ``fork`` of the resident, which
imports the launcher's full pipeline, pulls, writes the next child's
environment into a memfd and exits; its imports and buffers leave with it,
and its exit (a SIGCHLD, like any other) tells the loop to read the answer.
A fork, not a fresh interpreter: ``execve`` makes a process dumpable again,
and a helper that started dumpable could be read by the agent (same uid)
through ``/proc/PID/{fd/0,mem}`` before it made itself unreadable, the
request (the original environment, the token) included. A fork inherits the
resident's non-dumpable flag, its empty ``environ`` and its argv, and the
request never crosses a pipe: no moment of the helper's life is readable.
The fork is made on this loop's one thread, so no lock can be held across
it. A refresh never trades a working child for one that cannot start: the
helper answers a candidate only after the checks the first start went
through (``pipeline.startable``); anything that fails there is a failed
refresh, and the running child is kept.

Module-level imports are the resident's: keep them to the standard
library's lightest (no ``dataclasses``, ``argparse``, ``traceback``).
"""

from __future__ import annotations

import enum
import json
import os
import random
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from .errors import ForeignAgentCredentialError, LauncherError, PlatformProxyError, by_code, unexpected
from .log import Log
from .privileges import Identity, make_undumpable
from .reaper import Tree, become_subreaper, exit_code, reap, signal_group, spawn
from .refresh import Schedule, compare

if TYPE_CHECKING:
    from .config import Config

FORWARDED = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH")
)
SHUTDOWN = frozenset({signal.SIGTERM, signal.SIGINT})
WAITED = frozenset({*FORWARDED, signal.SIGCHLD})
DRAIN_POLL = 0.1  # while a stopped tree drains: each look scans /proc
KILL_GRACE = 5.0  # after SIGKILL, how long to wait for the kernel before giving up


class Options(NamedTuple):
    refresh: float | None
    stop_signal: signal.Signals
    stop_timeout: float
    subreaper: bool

    @classmethod
    def from_config(cls, config: Config) -> Options:
        """Validated by ``config.resolve``, as every other flag."""
        return cls(config.refresh, config.stop_signal, config.stop_timeout, config.subreaper)


class Candidate(NamedTuple):
    """What a pull produced: the next child's environment and executable,
    and the agent files the pull judged (path, stamp; ``files.changed``)."""

    env: dict[str, str]
    path: str
    watched: Sequence[tuple[str, Sequence[int] | None]] = ()

    def __repr__(self) -> str:  # values: a count only
        return f"Candidate({self.path!r}, {len(self.env)} variables)"


class Pull(Protocol):
    """A refresh in a helper process: ``start`` (given the running child's
    candidate) returns its pid; once the
    loop has reaped that pid, ``finish`` returns the helper's candidate or
    raises its error; ``cancel`` kills a helper in flight."""

    def start(self, current: Candidate) -> int: ...

    def finish(self) -> Candidate: ...

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
        argv: Sequence[str],
        first: Candidate,
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
        _moved: Callable[[Candidate], list[str]] = lambda c: moved_files(c.watched),
        essential: Mapping[int, str] | None = None,
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
        self._moved = _moved
        self.current = first
        self.pgid = 0  # the child's pid: leader of its own session and group
        self.child: int | None = None  # None once reaped
        self.status: int | None = None  # the main child's wait status
        self.stopping: _Stopping | None = None
        self.pending: Candidate | None = None
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
            candidate: Candidate | None = pull.finish()  # always: it also frees the answer
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

    def _start(self, candidate: Candidate) -> None:
        moved = self._moved(candidate)
        if moved:  # the last check before a start: the agent files are the ones judged
            raise ForeignAgentCredentialError(f"{moved[0]} changed after the launcher checked it; nothing was started")
        pid = self._spawn(candidate.path, self.argv, candidate.env)
        self.current = candidate
        self.child, self.pgid, self.status = pid, pid, None
        self.log.info(f"started {candidate.path} as pid {pid} with {len(candidate.env)} variables")
        if self._pull is not None:
            self.refresh_at = self._clock() + self.schedule.after_success()

    def _rechecked(self, candidate: Candidate | None, error: Exception | None) -> None:
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


# -- the resident program -------------------------------------------------------------------

# How the resident and the pull helper start: an isolated interpreter (-I:
# no PYTHON* variables, no user site, no script directory) that imports the
# launcher from where this copy of it lives. The resident also skips the
# site-packages scan (-S: ~2 MiB): it needs the standard library only.
_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); import {} as s; sys.exit(s.{}(*sys.argv[2:]))"
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def this_interpreter() -> str:
    """The running interpreter's file, through the kernel's magic link: it
    needs no search permission on the directories of ``sys.executable``
    (a venv may live under a 0700 home that a launcher started by a
    non-root user can no longer walk), and it is the very binary that is
    running even if the file was replaced since. ``argv[0]`` stays
    ``sys.executable``, so Python still finds its venv and prefix."""
    return "/proc/self/exe" if os.path.exists("/proc/self/exe") else sys.executable


def interpreter(module: str, function: str, *args: str, site: bool) -> list[str]:
    """argv that runs ``module.function(*args)`` in a fresh, isolated interpreter."""
    flags = ["-I"] if site else ["-I", "-S"]
    return [sys.executable, *flags, "-c", _BOOT.format(module, function), _PACKAGE_ROOT, *args]


def resident(fd: str) -> int:
    """The resident parent: read the handover, supervise, exit with the status.
    Nothing escapes as a traceback: a bug is reported by type and place."""
    make_undumpable()  # before the plan is read: exec made this process dumpable again
    log = Log()
    pull: HelperPull | None = None
    proxy: ProxyProcess | None = None
    try:
        with os.fdopen(int(fd), "rb") as handover:
            data = json.loads(handover.read())
        log = Log(**data["log"])
        refresh, signum, stop_timeout, subreaper = data["options"]
        options = Options(refresh, signal.Signals(signum), stop_timeout, subreaper)
        if data.get("proxy"):
            proxy = ProxyProcess(data["proxy"])  # the listening socket: this process's and the proxy's only
            if data["request"]:
                data["request"]["token_cell"] = proxy.cell
        pull = HelperPull(data["request"]) if data["request"] else None
        user = Identity(*data["user"]) if data["user"] else None
        if user is not None:
            user = user._replace(groups=tuple(user.groups))
        if options.subreaper and os.getpid() != 1 and not become_subreaper():
            log.warning("--subreaper: prctl(PR_SET_CHILD_SUBREAPER) failed; orphans will not be reaped here")
        if proxy is not None:
            proxy.start()  # ready before the first child, which is given its address
        supervisor = Supervisor(
            data["argv"],
            Candidate(*data["first"]),
            options,
            log,
            pull=pull,
            _spawn=lambda path, argv, env: spawn(path, argv, env, user),
            essential={proxy.pid: "the platform proxy"} if proxy is not None and proxy.pid else None,
            # The proxy is this process's child, not the agent's: a stop leaves it be.
            _tree=lambda pgid: Tree(pgid, frozenset({proxy.pid} if proxy is not None and proxy.pid else ())),
        )
        status = supervisor.run()
    except LauncherError as exc:
        log.error(exc.code, exc.message)
        return exc.exit_code
    except Exception as exc:  # the same last line of defence as the CLI's
        log.error("INTERNAL_ERROR", f"{unexpected(exc)} (a bug; the message is withheld)")
        return LauncherError.exit_code
    finally:
        if pull is not None:
            pull.cancel()
        if proxy is not None:
            proxy.stop()
    # The agent is gone (run returns once its tree is): what the launcher
    # wrote for it goes too. Only codex's private CODEX_HOME so far.
    if "CODEX_HOME" in supervisor.current.env:
        from .codex import release

        release(supervisor.current.env["CODEX_HOME"], user.uid if user else None)
    return status


class HelperPull:
    """A refresh as a short-lived helper: a ``fork`` of this resident (the
    module docstring says why not a fresh interpreter) that runs
    ``commands.supervise.pull_helper`` on the request it inherited
    (configuration flags, the original environment, token included) and
    leaves its answer in a memfd, close-on-exec, that only the two of them
    hold. The loop reaps the helper like any other child, then calls
    ``finish``."""

    def __init__(self, request: dict[str, Any]) -> None:
        self._request = request
        self.pid: int | None = None
        self._answer: int | None = None

    def start(self, current: Candidate) -> int:
        answer = os.memfd_create("agent-launcher-refresh", os.MFD_CLOEXEC)
        sys.stdout.flush()  # or the child would write what is buffered a second time
        sys.stderr.flush()
        try:
            pid = os.fork()
        except OSError:
            os.close(answer)
            raise
        if pid == 0:  # pragma: no cover - the helper; the tests observe what it answers
            code = 70
            try:
                code = _helper(self._request, current.env, answer)
            finally:
                os._exit(code)
        self.pid, self._answer = pid, answer
        return pid

    def finish(self) -> Candidate:
        fd, self._answer, self.pid = self._answer, None, None
        if fd is None:
            raise LauncherError("the refresh helper gave no answer (never started)")
        try:
            raw = _read_from_start(fd)
        finally:
            os.close(fd)
        try:
            answer = json.loads(raw)
        except ValueError:
            raise LauncherError("the refresh helper gave no answer (killed or crashed)") from None
        if "error" in answer:
            raise by_code(answer["error"]["code"], answer["error"]["message"])
        return Candidate(answer["env"], answer["path"], answer.get("watched", ()))

    def cancel(self) -> None:
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except OSError:
                pass


class ProxyProcess:
    """``supervise --platform-proxy``'s server: a long-lived ``fork`` of
    this resident (why a fork: the module docstring, and
    ``launcher.platform.proxy``) that serves the listening socket the
    launch bound, with the token this process inherited in its handover.
    It dies with the resident (``PR_SET_PDEATHSIG``) and tells it, through
    a pipe, that it is serving before the first child starts. The token
    cell (a memfd, close-on-exec) is where it leaves a token a register
    issued, for refresh helpers."""

    READY_TIMEOUT = 60.0

    def __init__(self, request: dict[str, Any]) -> None:
        self._request = request
        self._listener: int | None = request["fd"]
        os.set_inheritable(request["fd"], False)  # crossed the exec to get here; no child may hold it
        self.cell = os.memfd_create("agent-launcher-token", os.MFD_CLOEXEC)
        request["cell"] = self.cell
        self.pid: int | None = None

    def start(self) -> int:
        ready_read, ready_write = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the proxy; the tests talk to it
            code = 70
            try:
                os.close(ready_read)
                code = _proxy(self._request, parent, ready_write)
            finally:
                os._exit(code)
        os.close(ready_write)
        if self._listener is not None:
            os.close(self._listener)  # the proxy's alone now: it dies with the launch
            self._listener = None
        self.pid = pid
        try:
            answer = _read_ready(ready_read, self.READY_TIMEOUT)
        finally:
            os.close(ready_read)
        if answer != b"R":
            self.stop()
            raise PlatformProxyError("the platform proxy did not start (its error is above); nothing was started")
        return pid

    def stop(self) -> None:
        if self.pid is None:
            return
        pid, self.pid = self.pid, None
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except OSError:
            pass


def _read_ready(fd: int, timeout: float) -> bytes:
    import select

    readable, _, _ = select.select([fd], [], [], timeout)
    return os.read(fd, 1) if readable else b""


def _proxy(request: dict[str, Any], parent: int, ready: int) -> int:
    """The proxy's whole life, after the fork."""
    from .privileges import die_with_parent

    signal.pthread_sigmask(signal.SIG_UNBLOCK, WAITED)  # an operator's SIGTERM ends it, as any process
    die_with_parent(signal.SIGKILL)
    if os.getppid() != parent:  # the resident died before the line above
        return 70
    make_undumpable()  # inherited over fork; checked, as in every launcher process
    sys.path[:] = request["path"]
    from .platform.proxy import serve

    return serve(request, ready)


def moved_files(watched: Sequence[tuple[str, Sequence[int] | None]]) -> list[str]:
    """``files.changed``, imported only when there are agent files to look at."""
    if not watched:
        return []
    from .files import changed

    return changed(watched)


def _read_from_start(fd: int) -> bytes:
    chunks, offset = [], 0
    while chunk := os.pread(fd, 1 << 16, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _helper(request: dict[str, Any], current: dict[str, str], answer: int) -> int:
    """The refresh helper's whole life, after the fork: the launcher's full
    import path (the resident runs without site-packages), one pull, the
    answer written, stderr flushed (``os._exit`` would drop it)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, WAITED)  # an operator's SIGTERM ends it, as any process
    sys.path[:] = request["path"]
    from .commands.supervise import pull_helper

    data = json.dumps(pull_helper(request, current)).encode()
    view = memoryview(data)
    while view:
        view = view[os.write(answer, view) :]
    sys.stderr.flush()
    return 0
