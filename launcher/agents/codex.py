"""``CODEX_AUTH_JSON``: the content of codex's ``auth.json``, which platforms
carry as a variable and codex does not read (tests/e2e/test_codex_control.py).

When it survives the gate and the agent is codex, the launcher writes it to
``auth.json`` in a private CODEX_HOME of its own and points the child there;
the variable itself never reaches the child. Where codex finds credentials
otherwise (auth.json, .env, config.toml) is data: ``data/agents/codex.json``.
"""

import errno
import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from ..errors import BundleInvalidError, ConfigError
from ..files import UnreadableFileError, read_regular
from .paths import home_of

AUTH_JSON_VAR = "CODEX_AUTH_JSON"
CODEX_HOME_VAR = "CODEX_HOME"
AGENT = "codex"
# codex's own limit is far larger; a real auth.json is a few KiB (three JWTs).
MAX_AUTH_JSON_BYTES = 64 * 1024
MAX_CONFIG_BYTES = 1024 * 1024  # as any agent file (files.Cap.AGENT_FILE)
# auth.json fields that authenticate (the ChatGPT form nests them in "tokens").
AUTH_JSON_FIELDS = ("OPENAI_API_KEY",)
AUTH_JSON_TOKEN_FIELDS = ("access_token", "refresh_token", "id_token")


def codex_home(env: Mapping[str, str]) -> Path:
    """``$CODEX_HOME``, else ``~/.codex``, as codex resolves it in ``env``."""
    relocated = env.get(CODEX_HOME_VAR, "").strip()
    if relocated:
        return Path(relocated)
    return Path(home_of(env)) / ".codex"


# -- CODEX_AUTH_JSON ------------------------------------------------------------


def validate_auth_json(value: str) -> str:
    """The variable's content, checked: a JSON object of at most
    ``MAX_AUTH_JSON_BYTES`` holding an API key or ChatGPT tokens."""
    size = len(value.encode("utf-8", "surrogateescape"))
    if size > MAX_AUTH_JSON_BYTES:
        raise BundleInvalidError(f"{AUTH_JSON_VAR}: {size} bytes, more than the {MAX_AUTH_JSON_BYTES} accepted")
    try:
        data = json.loads(value)
    except (ValueError, RecursionError) as exc:
        raise BundleInvalidError(f"{AUTH_JSON_VAR}: not JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise BundleInvalidError(f"{AUTH_JSON_VAR}: expected a JSON object, got {type(data).__name__}")
    has_key = any(isinstance(data.get(n), str) and data[n].strip() for n in AUTH_JSON_FIELDS)
    tokens = data.get("tokens")
    has_tokens = isinstance(tokens, dict) and any(
        isinstance(tokens.get(n), str) and tokens[n].strip() for n in AUTH_JSON_TOKEN_FIELDS
    )
    if not (has_key or has_tokens):
        raise BundleInvalidError(
            f"{AUTH_JSON_VAR}: neither an API key (OPENAI_API_KEY) nor ChatGPT tokens (tokens.access_token)"
        )
    return value


def private_home_parent(env: Mapping[str, str], uid: int | None = None) -> Path:
    """Where the launcher's private CODEX_HOME goes: ``$XDG_RUNTIME_DIR`` when
    it is a directory only the agent's user (``uid``, default this
    process's) can enter, else the system temp dir."""
    import tempfile  # only when there is an auth.json to write

    runtime = env.get("XDG_RUNTIME_DIR", "")
    if runtime:
        try:
            st = os.stat(runtime)
        except OSError:
            st = None
        if st is not None and st.st_uid == (os.getuid() if uid is None else uid) and st.st_mode & 0o077 == 0:
            return Path(runtime)
    return Path(tempfile.gettempdir())


class Materialised(NamedTuple):
    codex_home: Path
    auth_json: Path


class PendingAuth(NamedTuple):
    """What the plan decided: this content goes to ``auth.json`` in a new
    private CODEX_HOME (made by ``write``, just before the agent starts;
    ``check`` never writes). ``codex_home`` is the planned directory (the
    parent and the name's prefix; ``materialise`` completes the name),
    ``image_home`` the CODEX_HOME codex would have used."""

    value: str
    codex_home: Path
    image_home: Path
    # Who the agent runs as (--user: uid, gid), else None: this process's own.
    owner: tuple[int, int] | None = None

    def __repr__(self) -> str:  # the value is a credential
        return f"PendingAuth(codex_home={str(self.codex_home)!r}, owner={self.owner!r})"

    def write(self, keeper: int | None = None, reuse: Path | None = None) -> Materialised:
        return materialise(self.value, self.codex_home, self.image_home, self.owner, keeper, reuse)


def pending_auth(value: str, env: Mapping[str, str], owner: tuple[int, int] | None = None) -> PendingAuth:
    """Validate the variable and plan the private CODEX_HOME, in the child's
    environment ``env`` (before the launcher relocates it). The directory's
    parent is checked here, so that ``check`` refuses what ``exec`` would."""
    uid = os.getuid() if owner is None else owner[0]
    planned = private_home(env, uid)
    usable_parent(planned.parent)
    return PendingAuth(validate_auth_json(value), planned, codex_home(env), owner)


def take_auth_json(
    agent: str | None, env: dict[str, str], owner: tuple[int, int] | None = None, seen: Mapping[str, str] | None = None
) -> tuple[PendingAuth | None, dict[str, str]]:
    """For codex, a CODEX_AUTH_JSON that survived the gate (in ``env``, the
    child's environment) becomes auth.json in a private CODEX_HOME: ``env``
    gets CODEX_HOME and loses the variable, which is returned as moved. An
    invalid one is BUNDLE_INVALID. Nothing is written here. ``owner`` is the
    --user the agent runs as: the directory and its files become its own.
    ``seen`` is the environment the agent's files are read in (with --user,
    the user's HOME): the CODEX_HOME it names is the one whose config.toml
    was judged, and the one copied."""
    if agent != AGENT or AUTH_JSON_VAR not in env:
        return None, {}
    pending = pending_auth(env[AUTH_JSON_VAR], env if seen is None else seen, owner)
    moved = {AUTH_JSON_VAR: env.pop(AUTH_JSON_VAR)}
    env[CODEX_HOME_VAR] = str(pending.codex_home)
    return pending, moved


_PREFIX = "agent-launcher-codex-"
_WRITTEN = frozenset({"auth.json", "config.toml"})  # what the launcher writes in its private CODEX_HOME
_USER_MARK = ".pid-"  # one empty file per process that started an agent on the directory
# mkdtemp completes the name with 8 random characters: the planned name (what
# check shows, what exec's size checks count) is as long as the made one.
_UNMADE = "XXXXXXXX"


def private_home(env: Mapping[str, str], uid: int | None = None) -> Path:
    """The planned private CODEX_HOME: its parent, and a name whose random
    part ``materialise`` chooses when it makes the directory."""
    uid = os.getuid() if uid is None else uid
    return private_home_parent(env, uid) / f"{_PREFIX}{uid}-{_UNMADE}"


def usable_parent(parent: Path) -> None:
    """A directory this process can make the private CODEX_HOME in."""
    if not (parent.is_dir() and os.access(parent, os.W_OK | os.X_OK)):
        raise ConfigError(f"cannot create the private CODEX_HOME in {parent}: not a directory this user can write")


def materialise(
    value: str,
    home: Path,
    image_home: Path | None = None,
    owner: tuple[int, int] | None = None,
    keeper: int | None = None,
    reuse: Path | None = None,
) -> Materialised:
    """Write ``value`` (already validated) to ``auth.json`` in a private
    CODEX_HOME that this call makes (``home`` is the planned one: its parent
    and prefix). ``image_home``'s ``config.toml`` (the CODEX_HOME codex
    would have used, already scanned) is copied beside it, so that the agent
    keeps its configuration; its ``auth.json`` and ``.env`` are not.

    The directory is always new: ``mkdtemp`` (an unpredictable name, made
    with ``O_EXCL`` semantics, never through a link), so nothing another
    user made in advance under a shared temp directory is ever adopted, and
    nobody can block a launch by squatting a name. Its files are written
    while root (or this user) still owns it, and only then is it given to
    ``owner`` (--user). The one exception is ``reuse``: the directory this
    launcher made for the agent it supervises now (a refresh), kept when it
    still holds exactly what would be written, so that an unchanged bundle
    gives an unchanged environment (``same_content``).

    The directory records the PID of its keeper (an empty ``.pid-N`` file):
    the process whose life the agent's is bound to, by default this one.
    ``exec`` keeps its PID, so the directory belongs to the agent that runs
    under it and outlives the launcher; ``supervise``'s resident is the
    keeper of every directory its refresh helpers write. A later launcher
    run removes those whose recorded PIDs are all gone (``remove_stale``),
    and a container's temp directory goes with the container.
    """
    import tempfile

    uid, gid = owner if owner is not None else (os.getuid(), os.getgid())
    parent = home.parent
    remove_stale(parent, keep=reuse, uid=uid)
    text = image_config(image_home, owner)
    if reuse is not None and same_content(reuse, parent, uid, value, text):
        return Materialised(reuse, reuse / "auth.json")
    try:
        made = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{uid}-", dir=parent))
        # Everything below goes through this descriptor, never the path: the
        # parent may be the agent's own ($XDG_RUNTIME_DIR), and the agent could
        # swap the name for a link to elsewhere between two calls by path.
        fd = os.open(made, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise ConfigError(f"cannot create the private CODEX_HOME in {parent}: {type(exc).__name__}") from None
    try:
        st = os.fstat(fd)
        if st.st_uid != os.geteuid() or stat.S_IMODE(st.st_mode) & 0o077:
            raise PermissionError(errno.EPERM, "not the directory mkdtemp made")
        _mark(fd, os.getpid() if keeper is None else keeper)
        _write_private(fd, "auth.json", value, owner)
        if text is not None:
            _write_private(fd, "config.toml", text, owner)
        if owner is not None:  # last: the agent gets the directory only once it is complete
            os.fchown(fd, uid, gid)
    except OSError as exc:
        import shutil

        shutil.rmtree(made, ignore_errors=True)
        raise ConfigError(f"cannot write auth.json in the private CODEX_HOME {made}: {type(exc).__name__}") from None
    finally:
        os.close(fd)
    return Materialised(made, made / "auth.json")


def image_config(image_home: Path | None, owner: tuple[int, int] | None = None) -> str | None:
    """The image's ``config.toml``, to copy beside the private auth.json, or
    None. With ``owner`` (a root launcher writing for its --user) it is read
    as that user, in a fork that has dropped to it: only a file the user
    could read itself, through directories it may search (root must not
    copy a root-only file, or a world-readable one inside a root-only
    directory, say through a symlink the agent planted, into a file the
    agent owns), and owned by the user or readable by anyone."""
    if image_home is None:
        return None
    path = image_home / "config.toml"
    if owner is None:
        try:
            read = read_regular(path, MAX_CONFIG_BYTES, missing_ok=True)
        except UnreadableFileError:
            return None  # the scan has already refused an unreadable one outside platform_managed
        data = None if read is None else read[0]
    else:
        data = _read_as(owner, path)
    try:
        return None if data is None else data.decode("utf-8")
    except UnicodeError:
        return None


def _read_as(owner: tuple[int, int], path: Path) -> bytes | None:
    """``path``'s bytes as ``owner`` (uid, gid, no other group) reads them,
    or None. The fork makes system calls only and answers over a pipe."""
    uid, gid = owner
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; the tests check what it answers
        code = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            read = read_regular(path, MAX_CONFIG_BYTES, missing_ok=True)
            if read is not None:
                data, info = read
                if (info.st_uid == uid and info.st_mode & stat.S_IRUSR) or info.st_mode & stat.S_IROTH:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(write_end, view) :]
                    code = 0
        except BaseException:  # noqa: S110 - unreadable as the user: nothing is copied
            pass
        finally:
            os._exit(code)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 1 << 16):
        chunks.append(chunk)
    os.close(read_end)
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:  # a supervising parent's reaper may have collected it first
        return None
    return b"".join(chunks) if os.waitstatus_to_exitcode(status) == 0 else None


def _mark(directory: int, pid: int) -> None:
    fd = os.open(f"{_USER_MARK}{pid}", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=directory)
    os.close(fd)


def same_content(home: Path, parent: Path, uid: int, value: str, config: str | None) -> bool:
    """``home`` is one of this launcher's private CODEX_HOMEs for ``uid``
    under ``parent`` (a real 0700 directory of that uid's, by its name) and
    holds exactly ``value`` as auth.json and ``config`` as config.toml (and
    no config.toml without one). What codex writes there itself (sessions,
    history, logs) is its own and does not count: the running child's
    directory stays its directory. Files are read without following links."""
    expected = {"auth.json": value} if config is None else {"auth.json": value, "config.toml": config}
    try:
        st = os.lstat(home)
        if not (
            home.parent == parent
            and home.name.startswith(f"{_PREFIX}{uid}-")
            and stat.S_ISDIR(st.st_mode)
            and st.st_uid == uid
            and stat.S_IMODE(st.st_mode) == 0o700
        ):
            return False
        names = set(os.listdir(home))
        if {n for n in names if n in _WRITTEN} != expected.keys():
            return False
        for name, text in expected.items():
            data = text.encode()
            read = read_regular(home / name, len(data), follow=False)
            if read is None or read[0] != data:
                return False
    except (OSError, UnreadableFileError):
        return False
    return True


def _write_private(directory: int, name: str, text: str, owner: tuple[int, int] | None = None) -> None:
    """A new 0600 file ``name`` in ``directory`` (a descriptor), ``owner``'s if given."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(name, flags, 0o600, dir_fd=directory)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        if owner is not None:
            os.fchown(fd, *owner)
        f.write(text)


def release(codex_home: str, uid: int | None = None, keep: str | None = None) -> None:
    """At its keeper's exit (supervise's resident, once the agent is gone),
    or once the child that used ``codex_home`` is replaced by one using
    ``keep``: the private CODEX_HOMEs this process kept go, but ``keep`` and
    any that another live process keeps too. A credential file left behind is
    one more copy."""
    home = Path(codex_home)
    if home.name.startswith(_PREFIX):
        remove_stale(home.parent, keep=Path(keep) if keep else None, uid=uid, leaving=os.getpid())


def remove_stale(parent: Path, keep: Path | None = None, uid: int | None = None, leaving: int | None = None) -> None:
    """This user's private CODEX_HOMEs whose recorded processes are all gone
    (``leaving``, the caller at its exit, counts as gone), but ``keep``
    (by device and inode: another spelling of its path is still it).

    The directories are the agent's own (its uid) and it may have planted
    anything in them: mark names that are no pid, trees too deep to walk.
    Nothing found there makes this fail; at worst a directory stays."""
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return
    uid = os.getuid() if uid is None else uid
    mine = f"{_PREFIX}{uid}-"
    kept = _inode(keep)
    for entry in entries:
        if not entry.name.startswith(mine):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != uid or (info.st_dev, info.st_ino) == kept:
                continue
            marks = [n[len(_USER_MARK) :] for n in os.listdir(entry.path) if n.startswith(_USER_MARK)]
        except OSError:
            continue
        pids = [int(m) for m in marks if m.isascii() and m.isdigit() and len(m) <= 10]
        if pids and not any(pid != leaving and _alive(pid) for pid in pids):
            _remove(entry.path)


def _inode(path: Path | None) -> tuple[int, int] | None:
    try:
        info = os.stat(path) if path is not None else None
    except OSError:
        return None
    return None if info is None else (info.st_dev, info.st_ino)


def _remove(path: str) -> None:
    import shutil

    try:
        shutil.rmtree(path, ignore_errors=True)  # never follows a link (rmtree's avoids_symlink_attacks)
    except Exception:  # noqa: S110 - e.g. RecursionError on a tree the agent made too deep: it stays
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # OverflowError: no pid is that large
        return False
    except PermissionError:
        return True
    return True
