"""Process housekeeping for ``supervise``: spawn, reap, and end a child's tree.

Everything here reads ``/proc`` and calls the kernel directly. The parent
stays resident for the agent's whole life, and on its stop path every
millisecond counts: psutil would add ~2.7 MiB of resident memory, or
~16 ms to import at stop time, for the three facts a tree needs (parent,
session, start time) and one ``kill``.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

from ..launch import exec_failure

if TYPE_CHECKING:
    from ..privileges import Identity

PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>

# The child starts with the dispositions a fresh process would have. CPython
# ignores SIGPIPE and SIGXFSZ (see launch.py), and a parent started under
# nohup or similar may ignore what we are about to forward.
RESET_IN_CHILD = frozenset(
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
        return os.posix_spawn(path, list(argv), dict(env), setsid=True, setsigmask=(), setsigdef=RESET_IN_CHILD)
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
    from ..errors import PrivilegeError
    from ..privileges import drop, preload

    preload()
    args, environment = list(argv), dict(env)
    read_end, write_end = os.pipe()  # both close-on-exec
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; the tests observe what it becomes
        stage = "setup"
        try:
            os.close(read_end)
            for signum in RESET_IN_CHILD:
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
    from ..privileges import prctl

    try:
        prctl(PR_SET_CHILD_SUBREAPER, 1)
    except OSError:
        return False
    return True


def signal_group(pgid: int, signum: int) -> bool:
    """Signal a process group; False when nobody is left in it."""
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True


class Stat(NamedTuple):
    """The fields of ``/proc/PID/stat`` a tree needs."""

    pid: int
    state: str
    ppid: int
    session: int
    start: int  # clock ticks after boot: with the pid, a process's identity


def read_stat(pid: int) -> Stat | None:
    """None once the process is gone (or was never there)."""
    try:  # three system calls; open() would make nine, and a stop reads every process
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        raw = os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)
    # The command name is in parentheses and may hold anything, spaces and
    # parentheses included: the fields proper start after the last ')'.
    fields = raw[raw.rfind(b")") + 2 :].split()
    try:
        return Stat(pid, fields[0].decode("ascii", "replace"), int(fields[1]), int(fields[3]), int(fields[19]))
    except (IndexError, ValueError):
        return None


def snapshot() -> list[Stat]:
    stats = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = read_stat(int(name))
            if stat is not None:
                stats.append(stat)
    return stats


class Tree:
    """Everything one child started, found three ways because each alone
    misses something: descendants of the child (lost once their parent
    dies), members of the child's session (lost if they call setsid), and
    our own descendants (orphans we adopted as PID 1 or a subreaper).

    Processes are remembered once seen, by pid and start time, so an orphan
    re-parented away from us is still killed and a reused pid never is.
    ``spare``: our own children that are not the agent's (the platform
    proxy): neither they nor anything under them is the child's tree.
    """

    def __init__(self, leader: int, spare: frozenset[int] = frozenset()) -> None:
        self.leader = leader  # also the session and process-group id
        self.known: dict[int, int] = {}  # pid -> start time
        self.spare = spare

    def collect(self) -> None:
        me = os.getpid()
        stats = snapshot()
        children: dict[int, list[Stat]] = {}
        for stat in stats:
            children.setdefault(stat.ppid, []).append(stat)
        found = [stat for stat in stats if stat.pid == self.leader or stat.session == self.leader]
        todo = [self.leader, me]
        while todo:
            for stat in children.get(todo.pop(), ()):
                if stat.pid in self.spare:
                    continue
                found.append(stat)
                todo.append(stat.pid)
        for stat in found:
            if stat.pid != me:
                self.known.setdefault(stat.pid, stat.start)

    def alive(self) -> list[int]:
        """Known processes still running; a zombie holds nothing and counts as gone."""
        alive = []
        for pid, start in self.known.items():
            stat = read_stat(pid)
            if stat is not None and stat.start == start and stat.state != "Z":
                alive.append(pid)
        return alive

    def kill(self) -> int:
        """SIGKILL what is left; the number of processes signalled."""
        killed = 0
        for pid in self.alive():  # alive() has just re-checked each start time
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                continue
        signal_group(self.leader, signal.SIGKILL)  # anything that joined since collect()
        return killed
