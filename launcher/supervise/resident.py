"""The resident parent of ``supervise``, as a program: it reads the handover,
runs the loop (``loop.Supervisor``) and starts each refresh helper.

The ``supervise`` command (``commands/supervise.py``) gates in the
launcher's full interpreter, then re-executes the same PID as ``resident``:
``python -I -S`` with an empty environment, importing only this package's
``handover``, ``loop``, ``children`` and ``refresh``, and ``log``,
``errors`` and ``privileges``, because the parent stays resident for the
agent's whole life and every byte it holds is multiplied by the fleet. The
plan crosses the exec on a socket (``commands/supervise.become_resident``
says why; never on disk, never in argv or the environment). The resident
holds the child's environment in memory only (its own
``/proc/PID/environ`` is empty) and is not dumpable
(``privileges.make_undumpable``, called again after the exec, which resets
it), so a child of the same uid can read neither its environment nor its
memory. With ``--user`` every child runs as that user while the parent
keeps root for refreshes (the token file can stay root-only).

Each refresh is a short-lived helper process (``HelperPull`` here, its other
end ``supervise.pull.pull_helper``): a ``fork`` of the resident, which
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
library's lightest (docs/architecture.md, "Import rules").
"""

import json
import os
import signal
import sys

from ..errors import LauncherError, PlatformProxyError, by_code, unexpected
from ..launch import Startable
from ..log import Log
from ..privileges import make_undumpable
from .children import Tree, become_subreaper, spawn
from .handover import Handover, ProxyRequest, RefreshRequest
from .loop import WAITED, Supervisor

# How the resident and the pull helper start: an isolated interpreter (-I:
# no PYTHON* variables, no user site, no script directory) that imports the
# launcher from where this copy of it lives. The resident also skips the
# site-packages scan (-S: ~2 MiB): it needs the standard library only.
_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); import {} as s; sys.exit(s.{}(*sys.argv[2:]))"

_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


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


def resident(fd: str, writer: str = "") -> int:
    """The resident parent: read the handover, supervise, exit with the status.
    Nothing escapes as a traceback: a bug is reported by type and place."""
    make_undumpable()  # before the plan is read: exec made this process dumpable again
    log = Log()
    pull: HelperPull | None = None
    proxy: ProxyProcess | None = None
    try:
        untraced()  # a tracer that attached while exec left us dumpable would read all that follows
        handover = Handover.loads(_read_to_end(int(fd)))
        if writer:
            os.waitpid(int(writer), 0)  # the fork that wrote it: reaped here, not left for the loop
        log = Log(handover.log.fmt, handover.log.verbosity)
        options, user = handover.options, handover.user
        request = handover.refresh
        if handover.proxy:
            proxy = ProxyProcess(handover.proxy)  # the listening socket: this process's and the proxy's only
            if request is not None:
                request = request._replace(token_cell=proxy.cell)
        pull = HelperPull(request) if request else None
        if options.subreaper and os.getpid() != 1 and not become_subreaper():
            log.warning("--subreaper: prctl(PR_SET_CHILD_SUBREAPER) failed; orphans will not be reaped here")
        if proxy is not None:
            proxy.start()  # ready before the first child, which is given its address
        spare = frozenset({proxy.pid} if proxy is not None and proxy.pid else ())
        supervisor = Supervisor(
            handover.first,
            options,
            log,
            pull=pull,
            _spawn=lambda path, argv, env: spawn(path, argv, env, user),
            _replaced=lambda old, new: retire(old, new, user.uid if user else None),
            essential={pid: "the platform proxy" for pid in spare},
            # The proxy is this process's child, not the agent's: a stop leaves it be.
            _tree=lambda pgid: Tree(pgid, spare),
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
        from ..agents.codex import release

        release(supervisor.current.env["CODEX_HOME"], user.uid if user else None)
    return status


def retire(old: Startable, new: Startable, uid: int | None) -> None:
    """After a restart: what the launcher wrote for the old child and the
    new one does not use goes now, not at the resident's exit. Only codex's
    private CODEX_HOME so far (a refresh that rotated CODEX_AUTH_JSON)."""
    home = old.env.get("CODEX_HOME")
    if home and home != new.env.get("CODEX_HOME"):
        from ..agents.codex import release

        release(home, uid, keep=new.env.get("CODEX_HOME"))


class HelperPull:
    """A refresh as a short-lived helper: a ``fork`` of this resident (the
    module docstring says why not a fresh interpreter) that runs
    ``supervise.pull.pull_helper`` on the request it inherited
    (configuration flags, the original environment, token included) and
    leaves its answer in a memfd, close-on-exec, that only the two of them
    hold. The loop reaps the helper like any other child, then calls
    ``finish``."""

    def __init__(self, request: RefreshRequest) -> None:
        self._request = request
        self.pid: int | None = None
        self._answer: int | None = None

    def start(self, current: Startable) -> int:
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

    def finish(self) -> Startable:
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
        return Startable.load(answer["startable"])

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

    def __init__(self, request: ProxyRequest) -> None:
        self._request = request
        self._listener: int | None = request.fd
        os.set_inheritable(request.fd, False)  # crossed the exec to get here; no child may hold it
        self.cell = os.memfd_create("agent-launcher-token", os.MFD_CLOEXEC)
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
                code = _proxy(self._request, self.cell, parent, ready_write)
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


def _proxy(request: ProxyRequest, cell: int, parent: int, ready: int) -> int:
    """The proxy's whole life, after the fork."""
    from ..privileges import die_with_parent

    signal.pthread_sigmask(signal.SIG_UNBLOCK, WAITED)  # an operator's SIGTERM ends it, as any process
    die_with_parent(signal.SIGKILL)
    if os.getppid() != parent:  # the resident died before the line above
        return 70
    make_undumpable()  # inherited over fork; checked, as in every launcher process
    inputs = request.inputs
    sys.path[:] = inputs.path
    from pathlib import Path

    from ..platform.proxy import serve

    return serve(
        inputs.flags,
        inputs.environ,
        Log(*inputs.log),
        listener=request.fd,
        url=request.endpoint.url,
        credential=request.endpoint.credential,
        token_path=Path(request.token_path),
        cell=cell,
        ready=ready,
    )


def untraced() -> None:
    """Refuse to go on under ptrace: attached in the moment after ``execve``
    (dumpable), a tracer of the same uid stays attached once the resident is
    unreadable, and could read every secret it is handed."""
    with open("/proc/self/status", "rb") as status:
        for line in status:
            if line.startswith(b"TracerPid:") and int(line.split()[1]) != 0:
                raise LauncherError(f"the resident is being traced (by pid {int(line.split()[1])}): stopping")


def _read_to_end(fd: int) -> bytes:
    """The handover, from the socket its writer closes when done."""
    chunks = []
    try:
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


def _read_from_start(fd: int) -> bytes:
    chunks, offset = [], 0
    while chunk := os.pread(fd, 1 << 16, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _helper(request: RefreshRequest, current: dict[str, str], answer: int) -> int:
    """The refresh helper's whole life, after the fork: the launcher's full
    import path (the resident runs without site-packages), one pull, the
    answer written, stderr flushed (``os._exit`` would drop it)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, WAITED)  # an operator's SIGTERM ends it, as any process
    sys.path[:] = request.inputs.path
    from .pull import pull_helper

    data = json.dumps(pull_helper(request, current)).encode()
    view = memoryview(data)
    while view:
        view = view[os.write(answer, view) :]
    sys.stderr.flush()
    return 0
