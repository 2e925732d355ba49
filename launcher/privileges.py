"""Who the agent runs as, and what it can read of the launcher.

Two protections, both about what the agent can read back of what the gate
took away from it:

- **The supervising parent is not dumpable** (``PR_SET_DUMPABLE`` 0, as
  ssh-agent does). ``/proc/PID/environ`` still holds the environment the
  launcher was *started* with (the platform token, inherited LLM keys: the
  kernel keeps that copy whatever Python does to ``os.environ``) and its
  memory holds the token and every bundle value. For a dumpable process
  both are readable by any process of the same uid, the agent included. A
  non-dumpable process's ``/proc/PID/{environ,mem,maps,fd}`` belong to root
  and pass the kernel's ptrace access check only with ``CAP_SYS_PTRACE``.
  ``supervise`` also re-executes its resident parent with an empty
  environment (for its memory footprint, see ``supervise``), which cleans
  ``environ`` but not memory: the resident still holds the token and the
  child's environment, so it is made non-dumpable again. The flag is
  inherited over ``fork`` and reset by ``execve``, so the agent itself stays
  an ordinary, debuggable process, and every process image of the launcher
  that holds a secret (the resident, the refresh helper) calls
  ``make_undumpable`` first.

- **Privilege drop** (``--user`` / ``LAUNCHER_USER``, as setpriv, gosu and
  su-exec do): the launcher starts as root, reads the token and the
  platform, and only the agent runs as the user. Supplementary groups are
  set first (the user's own from the group database, or only the named
  group with ``USER:GROUP``, as su-exec does), then the gid, then the uid
  (all three of real, effective and saved), then the drop is verified
  irreversible (``setuid(0)`` and ``setgid(0)`` must fail, no capability
  left) and ``no_new_privs`` is set so that no setuid binary or file
  capability can give anything back.

Only the standard library; ``pwd``, ``grp`` and ``ctypes`` are imported
when the feature is used.
"""

import functools
import os
import re
from collections.abc import Callable
from typing import NamedTuple

from .errors import ConfigError, LauncherError, PrivilegeError

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38

_ID = re.compile(r"[0-9]{1,10}")
_NO_ID = 2**32 - 1  # (uid_t) -1 means "unchanged" to the kernel: never a real id
# Inheritable capabilities are left alone: with no_new_privs an exec cannot
# turn them into permitted ones, and older engines give root a full set.
_CAPABILITY_SETS = ("CapPrm", "CapEff", "CapAmb")


class Identity(NamedTuple):
    """The agent's user, resolved once, before any secret is read. (A
    NamedTuple: the resident supervisor imports this module, and it crosses
    the resident's exec as JSON.)"""

    spec: str  # as the operator wrote it, for messages
    uid: int
    gid: int
    groups: tuple[int, ...]  # supplementary groups, the gid among them
    name: str | None  # None: a numeric uid without a passwd entry
    home: str | None


def parse_user(spec: str) -> Identity:
    """``USER[:GROUP]``, names or numbers. Root (uid, gid or a group 0) is
    refused: the point is that the agent cannot read what root can."""
    import grp
    import pwd

    text = spec.strip()
    user, colon, group = text.partition(":")
    shown = text[:64]
    if not user or (colon and not group):
        raise ConfigError(f"--user must be USER or USER:GROUP (names or numbers), got {shown!r}")
    entry: pwd.struct_passwd | None
    if _ID.fullmatch(user):
        uid = _checked_id(user, "uid", shown)
        try:
            entry = pwd.getpwuid(uid)
        except KeyError:
            entry = None  # a bare number is fine with the group given
    else:
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            raise ConfigError(f"--user {shown}: unknown user {user[:32]!r}") from None
        uid = entry.pw_uid
    if group:
        if _ID.fullmatch(group):
            gid = _checked_id(group, "gid", shown)
        else:
            try:
                gid = grp.getgrnam(group).gr_gid
            except KeyError:
                raise ConfigError(f"--user {shown}: unknown group {group[:32]!r}") from None
        groups: tuple[int, ...] = (gid,)  # an explicit group replaces the user's list (su-exec)
    elif entry is None:
        raise ConfigError(f"--user {shown}: uid {uid} has no passwd entry; name the group too (--user {uid}:GID)")
    else:
        gid = entry.pw_gid
        groups = tuple(sorted(set(os.getgrouplist(entry.pw_name, gid))))
    if uid == 0 or gid == 0 or 0 in groups:
        raise ConfigError(f"--user {shown}: the agent must not run as root or in group 0")
    return Identity(text, uid, gid, groups, entry.pw_name if entry else None, entry.pw_dir if entry else None)


def _checked_id(text: str, kind: str, shown: str) -> int:
    number = int(text)
    if number >= _NO_ID:
        raise ConfigError(f"--user {shown}: {kind} {text} is out of range")
    return number


def require_root(identity: Identity) -> None:
    """Switching users needs root; as anyone else ``--user`` would be a
    promise the launcher cannot keep, so it is refused, not ignored."""
    euid = os.geteuid()
    if euid != 0:
        raise ConfigError(
            f"--user {identity.spec[:64]}: switching users needs the launcher to start as root, "
            f"it runs as uid {euid}; drop --user/LAUNCHER_USER when the container already runs as the agent's user"
        )


# -- the system calls ----------------------------------------------------------------


@functools.cache
def _prctl() -> Callable[..., int]:
    """libc's prctl, looked up once. Resolved in the parent before a fork,
    so that the child between fork and exec only makes system calls."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    prctl = libc.prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    function: Callable[..., int] = prctl
    return function


def prctl(option: int, arg: int = 0) -> int:
    """``prctl(option, arg)``: the launcher's one way to call it; OSError on failure."""
    result = _prctl()(option, arg, 0, 0, 0)
    if result < 0:
        import ctypes  # already loaded by _prctl: a lookup, not a file read

        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def preload() -> None:
    """Load what ``drop`` needs while it is safe and possible: before a fork
    (the child makes system calls only) and before the drop itself (the
    user may not be able to read the interpreter's library)."""
    _prctl()


def make_undumpable() -> None:
    """PR_SET_DUMPABLE 0: /proc/self/{environ,mem} unreadable by same-uid
    processes, and no core dump full of secrets."""
    try:
        prctl(PR_SET_DUMPABLE, 0)
        dumpable = prctl(PR_GET_DUMPABLE)
    except OSError as exc:
        raise LauncherError(
            f"cannot make the launcher unreadable to its child: prctl failed ({exc.strerror})"
        ) from None
    if dumpable != 0:
        raise LauncherError("cannot make the launcher unreadable to its child: still dumpable after prctl")


def die_with_parent(signum: int) -> None:
    """PR_SET_PDEATHSIG: ``signum`` arrives when the parent (the thread that
    forked us) exits. Used by the platform proxy, a fork of supervise's
    resident that must never outlive it."""
    try:
        prctl(PR_SET_PDEATHSIG, signum)
    except OSError as exc:
        raise LauncherError(f"cannot tie the platform proxy to its parent: prctl failed ({exc.strerror})") from None


def drop(identity: Identity) -> None:
    """Become ``identity`` for good. Raises PrivilegeError (nothing else is
    started) if any step fails or could be undone. Safe between fork and
    exec: system calls and /proc/self only (call ``preload`` first)."""
    uid, gid = identity.uid, identity.gid
    preload()
    try:
        os.setgroups(list(identity.groups))
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    except OSError as exc:
        raise PrivilegeError(f"cannot switch to --user {identity.spec[:64]}: {exc.strerror}") from None
    _verify(identity)
    try:
        prctl(PR_SET_NO_NEW_PRIVS, 1)
    except OSError as exc:
        raise PrivilegeError(f"cannot set no_new_privs: {exc.strerror}") from None


def _verify(identity: Identity) -> None:
    uid, gid = identity.uid, identity.gid
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid):
        raise PrivilegeError(f"--user {identity.spec[:64]}: ids did not change as asked")
    if sorted(os.getgroups()) != sorted(identity.groups):
        raise PrivilegeError(f"--user {identity.spec[:64]}: supplementary groups did not change as asked")
    for regain in (os.setuid, os.setgid):
        try:
            regain(0)
        except PermissionError:
            continue
        raise PrivilegeError(f"--user {identity.spec[:64]}: the switch is reversible ({regain.__name__}(0) worked)")
    # Binary: a text codec may have to be imported, from files the user may not read.
    with open("/proc/self/status", "rb") as status:
        for line in status:
            name, _, value = line.decode("latin-1").partition(":")
            if name in _CAPABILITY_SETS and int(value, 16) != 0:
                raise PrivilegeError(f"--user {identity.spec[:64]}: capabilities remain after the switch ({name})")
