"""Every failure the launcher reports, with its stable code and exit status.

Exception tree::

    LauncherError                        (exit_code, code)
    ├── ConfigError                  64  CONFIG_INVALID
    ├── InsecureURLError             64  INSECURE_URL
    ├── BundleInvalidError           65  BUNDLE_INVALID
    ├── BundleIncompleteError        65  BUNDLE_INCOMPLETE
    ├── PlatformUnavailableError     69  PLATFORM_UNAVAILABLE
    ├── PlatformAuthError            77  PLATFORM_AUTH_FAILED
    ├── MissingCredentialError       78  MISSING_BYOK_CREDENTIAL
    ├── ForeignAgentCredentialError  78  FOREIGN_AGENT_CREDENTIAL
    ├── CommandNotExecutableError   126  COMMAND_NOT_EXECUTABLE
    └── CommandNotFoundError        127  COMMAND_NOT_FOUND

Anything else that escapes is a bug: the CLI reports it as 70
INTERNAL_ERROR with the exception's type only, never its text.

Exit statuses follow sysexits(3) where one fits and the shell's 126/127
convention for the command itself, so a container's exit status tells an
operator which stage failed without reading logs.

Messages must never contain a secret value: callers name keys, files and
line numbers, and show values only as a fingerprint.
"""

from __future__ import annotations


class LauncherError(Exception):
    exit_code = 70
    code = "INTERNAL_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class ConfigError(LauncherError):
    exit_code = 64
    code = "CONFIG_INVALID"


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


class CommandNotExecutableError(LauncherError):
    exit_code = 126
    code = "COMMAND_NOT_EXECUTABLE"


class CommandNotFoundError(LauncherError):
    exit_code = 127
    code = "COMMAND_NOT_FOUND"


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
    "PlatformUnavailableError",
]
