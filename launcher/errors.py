"""Every failure the launcher reports, with its stable code and exit status.

Exception tree::

    LauncherError                        (exit_code, code)
    ├── ConfigError                  64  CONFIG_INVALID
    │   └── PrivilegeError           64  CONFIG_INVALID  (--user could not be applied)
    ├── InsecureURLError             64  INSECURE_URL
    ├── BundleInvalidError           65  BUNDLE_INVALID
    ├── BundleIncompleteError        65  BUNDLE_INCOMPLETE
    ├── PlatformUnavailableError     69  PLATFORM_UNAVAILABLE
    │   └── TransientPlatformError   69  PLATFORM_UNAVAILABLE  (worth another attempt: retried within --deadline)
    ├── PlatformAuthError            77  PLATFORM_AUTH_FAILED
    ├── MissingCredentialError       78  MISSING_BYOK_CREDENTIAL
    ├── ForeignAgentCredentialError  78  FOREIGN_AGENT_CREDENTIAL
    ├── PlatformProxyError           70  PLATFORM_PROXY_FAILED  (supervise --platform-proxy: the proxy died)
    ├── CommandNotExecutableError   126  COMMAND_NOT_EXECUTABLE
    └── CommandNotFoundError        127  COMMAND_NOT_FOUND

Anything else that escapes is a bug: the CLI reports it as 70
INTERNAL_ERROR with the exception's type and where it was raised
(``unexpected``), never its text.

Exit statuses follow sysexits(3) where one fits and the shell's 126/127
convention for the command itself, so a container's exit status tells an
operator which stage failed without reading logs.

Messages must never contain a secret value: callers name keys, files and
line numbers, and show values only as a fingerprint. A message may still
quote text the launcher did not write (a key name from the server, a
path); it is escaped here, once, so no control character or undecodable
byte reaches a terminal or a JSON document through an error.
"""

from __future__ import annotations

from types import TracebackType

from .log import escape


class LauncherError(Exception):
    exit_code = 70
    code = "INTERNAL_ERROR"

    def __init__(self, message: str) -> None:
        message = escape(message)
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class ConfigError(LauncherError):
    exit_code = 64
    code = "CONFIG_INVALID"


class PrivilegeError(ConfigError):
    """Switching to the ``--user`` failed or proved reversible: never
    expected once the user was validated, and nothing is started."""


class InsecureURLError(LauncherError):
    exit_code = 64
    code = "INSECURE_URL"


class BundleInvalidError(LauncherError):
    exit_code = 65
    code = "BUNDLE_INVALID"


class BundleIncompleteError(LauncherError):
    exit_code = 65
    code = "BUNDLE_INCOMPLETE"


class PlatformUnavailableError(LauncherError):
    exit_code = 69
    code = "PLATFORM_UNAVAILABLE"


class TransientPlatformError(PlatformUnavailableError):
    """A failure asking again can fix (a connection error, a timeout, 429,
    a 5xx): the platform client retries it within its deadline and reports
    the last one. ``retry_after``: the seconds the server asked us to wait;
    ``at_deadline``: cut short by the deadline rather than by the platform."""

    def __init__(self, message: str, retry_after: float | None = None, *, at_deadline: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.at_deadline = at_deadline


class PlatformAuthError(LauncherError):
    exit_code = 77
    code = "PLATFORM_AUTH_FAILED"


class MissingCredentialError(LauncherError):
    exit_code = 78
    code = "MISSING_BYOK_CREDENTIAL"


class ForeignAgentCredentialError(LauncherError):
    """A file the agent reads holds a credential that is not the workspace's
    own (or cannot be read to prove it holds none)."""

    exit_code = 78
    code = "FOREIGN_AGENT_CREDENTIAL"


class PlatformProxyError(LauncherError):
    """``supervise --platform-proxy``: the proxy process could not start or
    exited while the agent ran. The agent's platform endpoint is gone with
    it, so the resident stops the agent and exits with this status."""

    exit_code = 70
    code = "PLATFORM_PROXY_FAILED"


class CommandNotExecutableError(LauncherError):
    exit_code = 126
    code = "COMMAND_NOT_EXECUTABLE"


class CommandNotFoundError(LauncherError):
    exit_code = 127
    code = "COMMAND_NOT_FOUND"


def unexpected(exc: BaseException) -> str:
    """A bug, described by its type and the file, line and function where it
    was raised: enough to start a report, and nothing that could quote a
    value (no message, no locals, no arguments). When the deepest frame is
    not the launcher's own (an error inside the standard library or
    importlib), the deepest launcher frame follows it: that is where to
    look. Walks the traceback by hand: the resident supervisor must not
    import ``traceback``."""
    tb = exc.__traceback__
    if tb is None:
        return f"unexpected {type(exc).__name__}"
    package = __file__.rsplit("/", 1)[0] + "/"
    own = None
    while True:
        if tb.tb_frame.f_code.co_filename.startswith(package):
            own = tb
        if tb.tb_next is None:
            break
        tb = tb.tb_next
    text = f"unexpected {type(exc).__name__} at {_frame(tb, package)}"
    return text if own is None or own is tb else f"{text}, from {_frame(own, package)}"


def _frame(tb: TracebackType, package: str) -> str:
    """``commands/check.py:16 in run``: the launcher's files relative to the
    package, anything else by its base name (no directory of the machine)."""
    code = tb.tb_frame.f_code
    path = code.co_filename
    name = path.removeprefix(package) if path.startswith(package) else path.rsplit("/", 1)[-1]
    return f"{name}:{tb.tb_lineno} in {code.co_name}"


def by_code(code: str, message: str) -> LauncherError:
    """The error a code names, for an error that crossed a process boundary
    as (code, message); an unknown code is reported as INTERNAL_ERROR."""
    for cls in _all_errors(LauncherError):
        if cls.code == code:
            return cls(message)
    return LauncherError(message)


def _all_errors(cls: type[LauncherError]) -> list[type[LauncherError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found += _all_errors(sub)
    return found


__all__ = [
    "BundleIncompleteError",
    "BundleInvalidError",
    "CommandNotExecutableError",
    "CommandNotFoundError",
    "ConfigError",
    "ForeignAgentCredentialError",
    "InsecureURLError",
    "LauncherError",
    "MissingCredentialError",
    "PlatformAuthError",
    "PlatformProxyError",
    "PlatformUnavailableError",
    "PrivilegeError",
    "TransientPlatformError",
    "by_code",
    "unexpected",
]
