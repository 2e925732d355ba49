"""Replace this process with the agent, after checking it can start.

``exec`` keeps the PID, so whatever supervises the container (Docker, the
kubelet, tini) sees the agent's own exit status and signals.

Before any start (``exec``, ``check``, ``supervise``'s first start and
every refresh) ``check_startable`` proves that the kernel will accept the
child's argv and environment; a failure is ``BUNDLE_INVALID`` (65) naming
the key, decided before a running child is stopped, rather than an
``execve`` error blamed on the command.
"""

import errno
import os
import signal
import stat
import struct
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import BundleInvalidError, CommandNotExecutableError, CommandNotFoundError, ConfigError, LauncherError

if TYPE_CHECKING:
    from .privileges import Identity


# The kernel's limits for execve (fs/exec.c, Linux >= 2.6.23):
# - one argument or "NAME=value" string, its NUL included, is at most
#   MAX_ARG_STRLEN = 32 pages (131072 bytes with 4 KiB pages);
# - all strings plus one pointer each must fit in a quarter of the stack
#   rlimit, capped at 3/4 of _STK_LIM (6 MiB) and never below 32 pages.
#   glibc's sysconf(_SC_ARG_MAX) is that quarter (without the cap).
# The margin leaves room for what the kernel adds on its own: the
# executable's path, and for a #! script the interpreter line (at most 256
# bytes) and the script's path again (a path is at most 4096 bytes).
_STK_LIM = 8 * 1024 * 1024
EXEC_MARGIN = 16 * 1024
_POINTER = struct.calcsize("P")

# CPython ignores these at start-up, and an ignored disposition survives
# exec: without a reset the agent could never die of a broken pipe.
_SIGNALS_PYTHON_IGNORES = tuple(getattr(signal, name) for name in ("SIGPIPE", "SIGXFSZ") if hasattr(signal, name))


class ExecLimits(NamedTuple):
    per_string: int  # bytes of one string, its NUL included
    total: int  # bytes of all strings and their pointers, margin already taken off

    @classmethod
    def current(cls) -> "ExecLimits":
        import resource

        page = os.sysconf("SC_PAGESIZE")
        stack = resource.getrlimit(resource.RLIMIT_STACK)[0]
        total = _STK_LIM // 4 * 3
        if stack != resource.RLIM_INFINITY:
            total = min(total, stack // 4)
        arg_max = os.sysconf("SC_ARG_MAX")
        if arg_max > 0:
            total = min(total, arg_max)
        total = max(total, 32 * page)
        return cls(per_string=32 * page, total=total - EXEC_MARGIN)


def check_startable(argv: Sequence[str], env: Mapping[str, str], limits: "ExecLimits | None" = None) -> None:
    """Raise unless ``execve(path, argv, env)`` can succeed as far as its
    arguments go: every name and value encodable (no lone surrogate), no
    empty name, no ``=`` or NUL in a name, no NUL in a value, each string
    within the per-string limit, the whole within the total. A bad
    variable is ``BUNDLE_INVALID`` naming the key, never its value; a bad
    argument is ``CONFIG_INVALID`` (the command line is the operator's).

    One cheap pass (about 1 µs a variable); the reasons are worked out only
    for the string that fails.
    """
    limits = limits or ExecLimits.current()
    encoding, errors = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()  # as os.execve encodes
    total = _POINTER * (len(argv) + len(env))
    for index, arg in enumerate(argv):
        try:
            size = len(arg.encode(encoding, errors)) + 1
        except UnicodeEncodeError:
            raise ConfigError(f"argument {index} of the command cannot be encoded for exec") from None
        if size > limits.per_string or "\0" in arg:
            raise ConfigError(
                f"argument {index} of the command contains a NUL byte or is {size} bytes, "
                f"over the kernel's {_per_string(limits)}"
            )
        total += size
    for name, value in env.items():
        try:
            size = len(name.encode(encoding, errors)) + len(value.encode(encoding, errors)) + 2  # "=" and NUL
        except UnicodeEncodeError:
            size = -1
        if size < 0 or size > limits.per_string or not name or "=" in name or "\0" in name or "\0" in value:
            raise _unstartable(name, value, size, limits)
        total += size
    if total > limits.total:
        raise BundleInvalidError(
            f"the agent's environment and arguments take {total} bytes, over the {limits.total} bytes exec "
            f"accepts here (a quarter of the stack rlimit, at most 6 MiB, less a margin); largest: "
            + ", ".join(_largest(env, 3))
        )


def _unstartable(name: str, value: str, size: int, limits: ExecLimits) -> BundleInvalidError:
    """Why one variable cannot go to execve, by its name only."""
    shown = _name(name)
    if not name:
        return BundleInvalidError("the environment has a variable with an empty name (inherited?); exec refuses it")
    if "=" in name or "\0" in name:
        return BundleInvalidError(f"variable name {shown} contains '=' or a NUL byte; exec refuses it")
    if size < 0:
        part = "name" if _unencodable(name) else "value"
        return BundleInvalidError(f"the {part} of {shown} cannot be encoded for exec (a lone surrogate?)")
    if "\0" in value:
        return BundleInvalidError(f"the value of {shown} contains a NUL byte")
    return BundleInvalidError(
        f"{shown} is {size} bytes as NAME=value, over the kernel's {_per_string(limits)}; "
        "pass a value this large as a file"
    )


def _unencodable(text: str) -> bool:
    try:
        os.fsencode(text)
    except UnicodeEncodeError:
        return True
    return False


def _largest(env: Mapping[str, str], count: int) -> list[str]:
    sizes = {name: len(name) + len(value) + 2 for name, value in env.items()}  # characters: near enough to rank
    return [f"{_name(k)} (about {sizes[k]} bytes)" for k in sorted(sizes, key=sizes.__getitem__, reverse=True)[:count]]


def _per_string(limits: ExecLimits) -> str:
    return f"limit of {limits.per_string} bytes for one string (MAX_ARG_STRLEN, NUL included)"


def _name(name: str) -> str:
    """A variable name fit for a message: escaped unless it is plain."""
    return name if name.isascii() and name.isprintable() and len(name) <= 128 else ascii(name[:128])


class Startable(NamedTuple):
    """What exec and supervise start: the agent's argv and environment, its
    executable, and the agent files the gate judged (path and
    ``files.stamp``, or None: absent; the last check before a start is
    that none changed, ``files.changed``). supervise's refresh helpers
    answer one across a fork, as JSON (``load``)."""

    argv: tuple[str, ...]
    env: dict[str, str]
    path: str
    watched: tuple[tuple[str, Sequence[int | str] | None], ...] = ()

    def __repr__(self) -> str:  # the agent's arguments can hold a credential (--settings '{...}'); values too
        return f"Startable({self.path!r}, {len(self.argv)} arguments, {len(self.env)} variables)"

    @classmethod
    def load(cls, data: Sequence[Any]) -> "Startable":
        """From its JSON form (an array), field by field."""
        argv, env, path, watched = data
        stamps = tuple((str(p), None if s is None else tuple(s)) for p, s in watched)
        return cls(tuple(map(str, argv)), {str(k): str(v) for k, v in env.items()}, str(path), stamps)


def find_executable(command: str, search_path: str | None, as_user: "Identity | None" = None) -> str:
    """The file ``command`` names, checked the way a shell checks it
    (as ``as_user`` would see it, when the agent will run as that user)."""
    if as_user is not None:
        return _as_user(as_user, lambda: find_executable(command, search_path))
    if "/" in command:
        return _checked(command, command)
    denied = None  # as execvp: a name behind a directory the user may not search is 126, not 127
    # PATH may come from the bundle or an env file: its entries are named by
    # position, never echoed (one could hold a value).
    for position, directory in enumerate((search_path if search_path is not None else os.defpath).split(os.pathsep)):
        candidate = os.path.join(directory or ".", command)
        try:
            is_file = stat.S_ISREG(os.stat(candidate).st_mode)
        except PermissionError:
            denied = denied or f"{command}: a directory on PATH cannot be searched (by the agent's user, if --user)"
            continue
        except (OSError, ValueError):
            continue
        if is_file:
            if os.access(candidate, os.X_OK):
                return candidate
            denied = denied or f"{command}: found in PATH entry {position + 1}, but not executable"
    if denied:
        raise CommandNotExecutableError(denied)
    raise CommandNotFoundError(f"{command}: not found on PATH")


def _checked(command: str, path: str) -> str:
    try:
        info = os.stat(path)
    except PermissionError:  # a directory on the way the user may not search: as execve, 126
        raise CommandNotExecutableError(f"{command}: a directory on the way cannot be searched") from None
    except (OSError, ValueError):
        raise CommandNotFoundError(f"{command}: no such file") from None
    if stat.S_ISDIR(info.st_mode) or not os.access(path, os.X_OK):
        raise CommandNotExecutableError(f"{command}: not an executable file")
    return path


def check_drop(user: "Identity") -> None:
    """Prove, without dropping here, that the switch to ``user`` works
    (``check`` must fail where ``exec`` would)."""
    _as_user(user, lambda: "")


_ANSWERS = {0: None, 126: CommandNotExecutableError, 127: CommandNotFoundError, 64: ConfigError}


def _as_user(user: "Identity", work: Callable[[], str]) -> str:
    """``work`` in a short-lived child that has dropped to ``user``: its
    permissions, not root's, decide (e.g. what it may execute). The child
    makes system calls only; its answer comes back over a pipe. That keeps
    it safe from supervise's refresh thread too: no lock another thread
    held at the fork is ever needed by the child."""
    from .privileges import drop, preload

    preload()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; its answer is what the tests check
        answer = b"70\0resolution failed"
        try:
            os.close(read_end)
            drop(user)
            answer = b"0\0" + os.fsencode(work())
        except LauncherError as exc:
            answer = f"{exc.exit_code}\0".encode() + os.fsencode(exc.message)
        except BaseException as exc:
            answer = f"70\0unexpected {type(exc).__name__}".encode()
        finally:
            try:
                os.write(write_end, answer)
            finally:
                os._exit(0)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass  # a supervising parent's reaper may have collected it first
    status, _, text = b"".join(chunks).partition(b"\0")
    message = os.fsdecode(text)
    kind = _ANSWERS.get(int(status or b"70"), LauncherError)
    if kind is None:
        return message
    raise kind(message or f"no answer from a child running as --user {user.spec[:64]}")


def search_path_for(child_env: Mapping[str, str], own_env: Mapping[str, str]) -> str | None:
    # The child's PATH is where the agent itself will look; a pristine
    # child may have none, and then the launcher's own PATH finds it.
    return child_env.get("PATH", own_env.get("PATH"))


def restore_default_signals() -> None:
    for signum in _SIGNALS_PYTHON_IGNORES:
        signal.signal(signum, signal.SIG_DFL)


def exec_failure(command: str, exc: OSError) -> CommandNotFoundError | CommandNotExecutableError:
    """What a failed exec (or spawn) means, as a shell would report it."""
    reason = os.strerror(exc.errno or 0)
    if exc.errno == errno.ENOENT:  # e.g. a script whose #! interpreter is missing
        return CommandNotFoundError(f"{command}: {reason}")
    return CommandNotExecutableError(f"{command}: {reason}")


def exec_command(argv: Sequence[str], env: Mapping[str, str], path: str) -> None:
    """Never returns on success."""
    sys.stdout.flush()
    sys.stderr.flush()
    restore_default_signals()
    try:
        os.execve(path, list(argv), dict(env))  # noqa: S606 - exec is the point
    except OSError as exc:
        raise exec_failure(argv[0], exc) from None
