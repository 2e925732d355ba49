"""Replace this process with the agent.

``exec`` keeps the PID, so whatever supervises the container (Docker, the
kubelet, tini) sees the agent's own exit status and signals.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
from collections.abc import Mapping, Sequence

from .errors import CommandNotExecutableError, CommandNotFoundError

DEFAULT_COMMAND = ("claude",)

# CPython ignores these at start-up, and an ignored disposition survives
# exec: without a reset the agent could never die of a broken pipe.
_SIGNALS_PYTHON_IGNORES = tuple(getattr(signal, name) for name in ("SIGPIPE", "SIGXFSZ") if hasattr(signal, name))


def resolve(command: str, search_path: str | None) -> str:
    """The file ``command`` names, checked the way a shell checks it."""
    if "/" in command:
        return _checked(command, command)
    not_executable = None
    for directory in (search_path if search_path is not None else os.defpath).split(os.pathsep):
        candidate = os.path.join(directory or ".", command)
        if os.path.isfile(candidate):
            if os.access(candidate, os.X_OK):
                return candidate
            not_executable = not_executable or candidate
    if not_executable:
        raise CommandNotExecutableError(f"{command}: {not_executable} is not executable")
    raise CommandNotFoundError(f"{command}: not found on PATH")


def _checked(command: str, path: str) -> str:
    if not os.path.exists(path):
        raise CommandNotFoundError(f"{command}: no such file")
    if os.path.isdir(path) or not os.access(path, os.X_OK):
        raise CommandNotExecutableError(f"{command}: not an executable file")
    return path


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
