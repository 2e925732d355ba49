"""The one way the launcher reads a file an operator names.

Token, CA, key-list and dotenv files are read whole, so each must be a
regular file of bounded size: a FIFO would block the launch forever,
``/dev/zero`` would exhaust memory, a directory has no text. The file is
opened first (``O_NONBLOCK``: opening a FIFO must not wait for a writer)
and the *open descriptor* is checked with ``fstat``, so what is checked is
what is read, whatever the path is renamed to in between. Symlinks are
followed on purpose: Kubernetes mounts secrets through them.

Missing, unreadable, not regular and too large are all ``CONFIG_INVALID``
(64): each is an operator's mistake about the same file, found before any
network traffic.
"""

from __future__ import annotations

import enum
import errno
import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

from .errors import ConfigError

KIB = 1024
MIB = 1024 * KIB


class Cap(enum.IntEnum):
    """The largest file accepted for each purpose, with room to spare."""

    TOKEN = 64 * KIB  # a bearer token is well under 1 KiB; a JWT a few KiB
    KEY_LIST = 1 * MIB  # variable names, one a line
    ENV_FILE = 1 * MIB  # the default --max-bundle-bytes: no larger than a platform bundle
    CA_FILE = 4 * MIB  # a full public CA bundle is ~300 KiB
    AGENT_FILE = 1 * MIB  # an agent's settings or credential file (agents/scan.py)


class UnreadableFileError(Exception):
    """Why a file cannot be read (or parsed), as a reason without its path:
    each caller names the file in its own error (``ConfigError`` for a file
    the operator named, a finding for an agent's file)."""


MISSING = frozenset({errno.ENOENT, errno.ENOTDIR})


def read_regular(
    path: str | Path, cap: int, *, missing_ok: bool = False, content: bool = True, follow: bool = True
) -> tuple[bytes, os.stat_result] | None:
    """The bytes of the regular file at ``path`` (at most ``cap``) and the
    ``fstat`` of the descriptor they were read from; None for a missing file
    when ``missing_ok``; ``content=False`` checks without reading;
    ``follow=False`` refuses a symlink (``O_NOFOLLOW``). Anything else that is not a readable regular file
    within ``cap`` (a FIFO, a device, a directory, a file that grows past
    the cap while it is read) raises ``UnreadableFileError``, at once: the file is
    opened non-blocking, so a FIFO never waits for a writer."""
    try:
        flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
        fd = os.open(path, flags)
    except OSError as exc:
        if missing_ok and exc.errno in MISSING:
            return None
        raise UnreadableFileError(_reason(exc)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableFileError(f"not a regular file ({_kind(info.st_mode)})")
        if info.st_size > cap:
            raise UnreadableFileError(f"{info.st_size} bytes, over the {cap}-byte limit")
        if not content:
            return b"", info
        chunks, size = [], 0
        while size <= cap:  # a read may return less than asked (procfs, FUSE)
            chunk = os.read(fd, cap + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > cap:
            raise UnreadableFileError(f"over the {cap}-byte limit")
        return b"".join(chunks), info
    except OSError as exc:
        raise UnreadableFileError(_reason(exc)) from None
    finally:
        os.close(fd)


def _reason(exc: OSError) -> str:
    return "no such file" if exc.errno in MISSING else os.strerror(exc.errno or 0).lower()


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a plain file"


def check_regular(path: Path, what: str, cap: int) -> None:
    """Fail now, with the reader's own error, if ``path`` could not be read."""
    try:
        read_regular(path, cap, content=False)
    except UnreadableFileError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}") from None


def read_bounded(path: Path, what: str, cap: int) -> bytes:
    """The bytes of a file the operator named, at most ``cap`` of them; any
    problem is CONFIG_INVALID naming the file."""
    try:
        read = read_regular(path, cap)
    except UnreadableFileError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}") from None
    assert read is not None  # missing_ok is off
    return read[0]


def read_text(path: Path, what: str, cap: int) -> str:
    """``read_bounded`` as UTF-8; undecodable text is the operator's to fix (64)."""
    try:
        return read_bounded(path, what, cap).decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read {what} {path}: not UTF-8 text") from None


def write_private(path: Path, text: str, owner: tuple[int, int] | None = None) -> None:
    """``text`` as ``path``, atomically, 0600 (``owner``'s, if given): a
    fresh file beside it (``mkstemp``: O_EXCL, never through a link anyone
    planted), flushed, then renamed over it, so a reader sees the old file
    or the new one, never half of either."""
    import tempfile

    fd, temporary = tempfile.mkstemp(prefix=f"{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            if owner is not None:
                os.fchown(fd, *owner)
            os.fchmod(fd, 0o600)
            stream.write(text)
            stream.flush()
            os.fsync(fd)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


# -- stamps: has a file changed since it was read? -------------------------------

# (device, inode, size, mtime_ns, ctime_ns, SHA-256 of the content): any
# write, rename over, chmod or relink changes one of the first five (ctime is
# set by the kernel, not by utime); a write through a shared mapping of a
# page dirtied before changes none of them, so the content is compared too.
# A directory has no digest: its times change when an entry is added.
Stamp = tuple[int, int, int, int, int, str]
UNREADABLE: Stamp = (-1, -1, -1, -1, -1, "")  # exists, but cannot be read: equal only to itself


def stamp_of(info: os.stat_result, data: bytes | None = None) -> Stamp:
    digest = ""
    if data is not None:
        import hashlib  # OpenSSL start-up: paid only where an agent file exists

        digest = hashlib.sha256(data).hexdigest()
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns, digest)


def stamp(path: str) -> Stamp | None:
    """The file at ``path`` as the agent would open it (links followed), its
    content included; a directory by its metadata; None: absent."""
    try:
        info = os.stat(path)
    except OSError as exc:
        return None if exc.errno in MISSING else UNREADABLE
    if not stat.S_ISREG(info.st_mode):
        return stamp_of(info)
    try:
        read = read_regular(path, Cap.AGENT_FILE, missing_ok=True)
    except UnreadableFileError:
        return UNREADABLE
    return None if read is None else stamp_of(read[1], read[0])


def changed(watched: Iterable[tuple[str, Sequence[int | str] | None]]) -> list[str]:
    """The paths whose file is not the one stamped (a stamp that crossed a
    process boundary as a JSON list compares as the tuple it was)."""
    return [path for path, was in watched if stamp(path) != (None if was is None else tuple(was))]
