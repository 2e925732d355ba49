"""Process housekeeping for ``supervise``: spawn, reap, and end a child's tree.

psutil is imported here and in ``audit`` only: ``exec`` must stay lean. Here
it is imported only when a tree is stopped, which keeps ~2 MiB off the
parent's resident memory for the agent's whole life.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from .launch import exec_failure

if TYPE_CHECKING:
    import psutil

    from .privileges import Identity

PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>

# The child starts with the dispositions a fresh process would have. CPython
# ignores SIGPIPE and SIGXFSZ (see launch.py), and a parent started under
# nohup or similar may ignore what we are about to forward.
_RESET_IN_CHILD = frozenset(
    getattr(signal, name)
    for name in ("SIGPIPE", "SIGXFSZ", "SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH")
    if hasattr(signal, name)
) | {signal.SIGCHLD}


def spawn(path: str, argv: Sequence[str], env: Mapping[str, str], user: Identity | None = None) -> int:
    """Start ``path`` in a new session with an empty signal mask; its pid.

    posix_spawn rather than subprocess.Popen: the parent blocks the signals
    it waits for, a blocked mask survives exec, and only posix_spawn can
    clear it without a preexec_fn (unsafe once the refresh thread exists).
    We also reap with waitpid(-1), which a Popen object would fight over.
    """
    if user is not None:
        return _spawn_as(user, path, argv, env)
    try:
        return os.posix_spawn(path, list(argv), dict(env), setsid=True, setsigmask=(), setsigdef=_RESET_IN_CHILD)
    except OSError as exc:
        raise exec_failure(argv[0], exc) from None


def _spawn_as(user: Identity, path: str, argv: Sequence[str], env: Mapping[str, str]) -> int:
    """``spawn``, with the child switching to ``user`` before its execve.

    posix_spawn cannot change ids, so: fork, reset the dispositions, new
    session, drop, unblock, execve, as subprocess does in C. Chosen over a
    re-executed trampoline (``python -m ...`` as root) because that would
    start an interpreter as root under the agent's environment, where
    LD_PRELOAD or PYTHONPATH from a bundle would run code before the drop;
    here the agent's environment is used by the execve alone. It is safe in
    a process that may still have a finishing refresh thread because the
    child only makes system calls: everything it needs (ids, groups, libc's
    prctl) was looked up before the fork, and the dispositions are reset to
    the default while the signals are still blocked, so a signal arriving
    before the execve acts on the child as it would on the agent and can
    never run this process's Python handlers. A failure comes back as
    ``stage errno`` over a close-on-exec pipe; EOF means the execve happened.
    """
    from .errors import PrivilegeError
    from .privileges import drop, preload

    preload()
    args, environment = list(argv), dict(env)
    read_end, write_end = os.pipe()  # both close-on-exec
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; the tests observe what it becomes
        stage = "setup"
        try:
            os.close(read_end)
            for signum in _RESET_IN_CHILD:
                signal.signal(signum, signal.SIG_DFL)
            os.setsid()
            stage = "drop"
            drop(user)
            stage = "exec"
            signal.pthread_sigmask(signal.SIG_SETMASK, ())
            os.execve(path, args, environment)  # noqa: S606 - exec is the point
        except BaseException as exc:
            number = exc.errno if isinstance(exc, OSError) and exc.errno else 0
            why = exc.message if isinstance(exc, PrivilegeError) else type(exc).__name__
            os.write(write_end, f"{stage}\0{number}\0{why}".encode()[:4096])
        finally:
            os._exit(127)
    os.close(write_end)
    report = os.read(read_end, 4096)
    os.close(read_end)
    if not report:
        return pid
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    failed, code, why = [*report.decode(errors="replace").split("\0"), "", ""][:3]
    err = int(code or 0)
    if failed == "exec":
        raise exec_failure(argv[0], OSError(err, os.strerror(err)))
    reason = os.strerror(err) if err else why
    raise PrivilegeError(f"cannot start the agent as --user {user.spec[:64]}: {failed} failed ({reason})")


def exit_code(status: int) -> int:
    """A wait status as a shell reports it: the code, or 128+N for signal N."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def reap() -> list[tuple[int, int]]:
    """Collect every child that has exited: (pid, wait status) pairs.

    SIGCHLDs coalesce, so one signal may stand for several exits; as PID 1
    or a subreaper the exits include orphans we never started.
    """
    reaped = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        reaped.append((pid, status))
    return reaped


def become_subreaper() -> bool:
    """PR_SET_CHILD_SUBREAPER: orphans of our descendants are re-parented to
    us, not to the container's PID 1, so we can reap and kill them."""
    import ctypes  # only with --subreaper

    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def signal_group(pgid: int, signum: int) -> bool:
    """Signal a process group; False when nobody is left in it."""
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True


class Tree:
    """Everything one child started, found three ways because each alone
    misses something: descendants of the child (lost once their parent
    dies), members of the child's session (lost if they call setsid), and
    our own descendants (orphans we adopted as PID 1 or a subreaper).

    Processes are remembered once seen, as psutil objects that notice pid
    reuse, so an orphan re-parented away from us is still killed.
    """

    def __init__(self, leader: int) -> None:
        import psutil  # deferred on purpose, see the module docstring

        self._ps = psutil
        self.leader = leader  # also the session and process-group id
        self.known: dict[int, psutil.Process] = {}

    def collect(self) -> None:
        me = os.getpid()
        found: list[psutil.Process] = []
        try:
            leader = self._ps.Process(self.leader)
            found += [leader, *leader.children(recursive=True)]
        except self._ps.Error:
            pass
        try:
            found += self._ps.Process(me).children(recursive=True)
        except self._ps.Error:
            pass
        for pid in self._ps.pids():
            try:
                if os.getsid(pid) == self.leader:
                    found.append(self._ps.Process(pid))
            except (OSError, self._ps.Error):
                continue
        for proc in found:
            if proc.pid != me:
                self.known.setdefault(proc.pid, proc)

    def alive(self) -> list[psutil.Process]:
        """Known processes still running; a zombie holds nothing and counts as gone."""
        alive = []
        for proc in self.known.values():
            try:
                if proc.is_running() and proc.status() != self._ps.STATUS_ZOMBIE:
                    alive.append(proc)
            except self._ps.Error:
                continue
        return alive

    def kill(self) -> int:
        """SIGKILL what is left; the number of processes signalled."""
        killed = 0
        for proc in self.alive():
            try:
                proc.kill()  # psutil re-checks the create time: no stray kill after pid reuse
                killed += 1
            except self._ps.Error:
                continue
        signal_group(self.leader, signal.SIGKILL)  # anything that joined since collect()
        return killed
