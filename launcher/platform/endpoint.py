"""The child's side of the platform proxy, set up by the launch.

Why it is shaped so:

- **Loopback TCP, not a Unix socket.** The runtime names its platform with
  ``PLATFORM_URL`` and speaks plain HTTP clients (httpx, requests) to it;
  only ``http://127.0.0.1:PORT`` is something every one of them can name.
  The port is random (bound by the kernel, ``listen`` called before the
  resident starts, so the child's first request waits in the backlog
  rather than failing) and the socket is bound to 127.0.0.1 only.
- **A per-launch credential instead of the token.** Loopback is shared by
  every process in the network namespace, so the port alone proves
  nothing: every request must carry ``Bearer <credential>``, a
  ``secrets.token_urlsafe(32)`` made for this launch, compared in constant
  time. The child receives it where it used to receive the token
  (``MOLECULE_WORKSPACE_TOKEN``, and ``$CONFIGS_DIR/.auth_token`` when that
  file is not the launcher's own), so a runtime needs no change but its
  ``PLATFORM_URL``. The credential is worth nothing off this host and
  nothing after the launch: only this launch's proxy accepts it, and the
  proxy dies with the resident (``PR_SET_PDEATHSIG``).
- **The token cell.** ``POST /registry/register`` may answer a new token;
  the proxy keeps it. The refresh helper, another fork of the resident,
  must pull with the same token, so the proxy writes it into a memfd the
  resident made before either fork (close-on-exec: the agent never holds
  it; the resident holds it and never reads it). ``flock`` keeps a reader
  from seeing half a write.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import ENV_VARS, TOKEN_VAR, Config
from ..files import write_private
from ..gate import is_launcher_var
from ..log import Log

if TYPE_CHECKING:
    from ..privileges import Identity

CREDENTIAL_PREFIX = "lpx-"  # recognisable in a leak report; the rest is 256 random bits
TOKEN_FILE_NAME = ".auth_token"  # noqa: S105 - a file name; the runtime's own: $CONFIGS_DIR/.auth_token


def new_credential() -> str:
    return CREDENTIAL_PREFIX + secrets.token_urlsafe(32)


def open_listener() -> tuple[int, str]:
    """A listening loopback socket on a kernel-chosen port: its fd (to cross
    the resident's exec) and the URL the child is given."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    fd = sock.detach()
    return fd, f"http://127.0.0.1:{port}"


def launcher_token_path(config: Config, environ: Mapping[str, str]) -> Path:
    """Where the launcher keeps the token a register hands out: its token
    file (--token-file, then MOLECULE_WORKSPACE_TOKEN_FILE), else the
    runtime's conventional ``$CONFIGS_DIR/.auth_token``."""
    flagged = config.flags.get("token_file")
    if flagged:
        return Path(str(flagged))
    if environ.get(ENV_VARS["token_file"]):
        return Path(environ[ENV_VARS["token_file"]])
    return Path(environ.get("CONFIGS_DIR") or "/configs") / TOKEN_FILE_NAME


def child_token_path(env: Mapping[str, str]) -> Path:
    return Path(env.get("CONFIGS_DIR") or "/configs") / TOKEN_FILE_NAME


def proxied_env(env: Mapping[str, str], url: str, credential: str, workspace_id: str | None) -> dict[str, str]:
    """The gated environment, pointed at the proxy: PLATFORM_URL, the
    credential in the token variable, no token file variable."""
    out = {k: v for k, v in env.items() if not is_launcher_var(k)}
    out[ENV_VARS["platform_url"]] = url
    out[TOKEN_VAR] = credential
    if workspace_id:
        out[ENV_VARS["workspace_id"]] = workspace_id
    return out


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def hand_token_file(
    env: Mapping[str, str], credential: str, launcher_path: Path, user: Identity | None, log: Log
) -> Path | None:
    """Write the credential where the runtime reads its token
    (``$CONFIGS_DIR/.auth_token`` of the child's environment), owned by
    the child's user, 0600; the path, or None when it was not written.

    Never over the launcher's own token file. Written to a fresh name in
    the same directory (``mkstemp``: O_EXCL, never through a link the
    agent planted) and renamed over the old one, so a reader sees the old
    file or the new one."""
    path = child_token_path(env)
    if _same_file(path, launcher_path):
        log.warning(
            f"the child's {path} is the launcher's own token file: the child gets the proxy credential in "
            f"{TOKEN_VAR} only; a runtime that reads that file needs {ENV_VARS['token_file']} outside CONFIGS_DIR "
            "(docs/platform-proxy.md)",
            code="PROXY_TOKEN_FILE_SHARED",
        )
        return None
    if not path.parent.is_dir():
        log.debug(f"no {path.parent}: the proxy credential is in {TOKEN_VAR} only")
        return None
    write_private(path, credential, None if user is None else (user.uid, user.gid))
    log.info(f"the child's {path} holds this launch's proxy credential")
    return path


# -- the token cell ------------------------------------------------------------------------


def write_cell(fd: int, token: str) -> None:
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        os.ftruncate(fd, 0)
        data = token.encode()
        written = 0
        while written < len(data):
            written += os.pwrite(fd, data[written:], written)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def read_cell(fd: int) -> str | None:
    """The token the proxy keeps, when a register has replaced the configured one."""
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_SH)
    try:
        chunks, offset = [], 0
        while chunk := os.pread(fd, 4096, offset):
            chunks.append(chunk)
            offset += len(chunk)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
    token = b"".join(chunks).decode("ascii", "replace").strip()
    return token or None
