"""``CODEX_AUTH_JSON``: the content of codex's ``auth.json``, which platforms
carry as a variable and codex does not read (tests/e2e/test_codex_control.py).

When it survives the gate and the agent is codex, the launcher writes it to
``auth.json`` in a private CODEX_HOME of its own and points the child there;
the variable itself never reaches the child. Where codex finds credentials
otherwise (auth.json, .env, config.toml) is data: ``data/agents/codex.json``.
"""

import contextlib
import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from .errors import BundleInvalidError, ConfigError

AUTH_JSON_VAR = "CODEX_AUTH_JSON"
CODEX_HOME_VAR = "CODEX_HOME"
AGENT = "codex"
# codex's own limit is far larger; a real auth.json is a few KiB (three JWTs).
MAX_AUTH_JSON_BYTES = 64 * 1024
# auth.json fields that authenticate (the ChatGPT form nests them in "tokens").
AUTH_JSON_FIELDS = ("OPENAI_API_KEY",)
AUTH_JSON_TOKEN_FIELDS = ("access_token", "refresh_token", "id_token")


def codex_home(env: Mapping[str, str]) -> Path:
    """``$CODEX_HOME``, else ``~/.codex``, as codex resolves it in ``env``."""
    relocated = env.get(CODEX_HOME_VAR, "").strip()
    if relocated:
        return Path(relocated)
    return Path(env.get("HOME") or os.path.expanduser("~")) / ".codex"


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
    """What the plan decided: this content goes to ``codex_home/auth.json``
    (written by ``write``, just before the agent starts; ``check`` never
    writes). ``image_home`` is the CODEX_HOME codex would have used."""

    value: str
    codex_home: Path
    image_home: Path
    # Who the agent runs as (--user: uid, gid), else None: this process's own.
    owner: tuple[int, int] | None = None

    def __repr__(self) -> str:  # the value is a credential
        return f"PendingAuth(codex_home={str(self.codex_home)!r}, owner={self.owner!r})"

    def write(self, keeper: int | None = None) -> Materialised:
        return materialise(self.value, self.codex_home, self.image_home, self.owner, keeper)


def prepare(value: str, env: Mapping[str, str], owner: tuple[int, int] | None = None) -> PendingAuth:
    """Validate the variable and name the private CODEX_HOME, in the child's
    environment ``env`` (before the launcher relocates it)."""
    uid = os.getuid() if owner is None else owner[0]
    return PendingAuth(validate_auth_json(value), private_home(value, env, uid), codex_home(env), owner)


def take_auth_json(
    agent: str | None, env: dict[str, str], owner: tuple[int, int] | None = None
) -> tuple[PendingAuth | None, dict[str, str]]:
    """For codex, a CODEX_AUTH_JSON that survived the gate (in ``env``, the
    child's environment) becomes auth.json in a private CODEX_HOME: ``env``
    gets CODEX_HOME and loses the variable, which is returned as moved. An
    invalid one is BUNDLE_INVALID. Nothing is written here. ``owner`` is the
    --user the agent runs as: the directory and its files become its own."""
    if agent != AGENT or AUTH_JSON_VAR not in env:
        return None, {}
    pending = prepare(env[AUTH_JSON_VAR], env, owner)
    moved = {AUTH_JSON_VAR: env.pop(AUTH_JSON_VAR)}
    env[CODEX_HOME_VAR] = str(pending.codex_home)
    return pending, moved


_PREFIX = "agent-launcher-codex-"
_USER_MARK = ".pid-"  # one empty file per process that started an agent on the directory


def private_home(value: str, env: Mapping[str, str], uid: int | None = None) -> Path:
    """Where ``value`` goes: one directory per (user, content), so that the same
    bundle gives the same child environment in every process that computes
    it (``supervise`` compares environments; ``audit`` recognises the
    agent's CODEX_HOME as the one it would have been given)."""
    from .bundle import fingerprint

    uid = os.getuid() if uid is None else uid
    return private_home_parent(env, uid) / f"{_PREFIX}{uid}-{fingerprint(value)}"


def materialise(
    value: str,
    home: Path,
    image_home: Path | None = None,
    owner: tuple[int, int] | None = None,
    keeper: int | None = None,
) -> Materialised:
    """Write ``value`` (already validated) to ``auth.json`` in the launcher's
    private CODEX_HOME (``private_home``): a 0700 directory of this user's,
    not a symlink, the file replaced atomically, 0600. ``image_home``'s
    ``config.toml`` (the CODEX_HOME codex would have used, already scanned)
    is copied beside it, so that the agent keeps its configuration; its
    ``auth.json`` and ``.env`` are not.

    The directory records the PID of its keeper (an empty ``.pid-N`` file):
    the process whose life the agent's is bound to, by default this one.
    ``exec`` keeps its PID, so the directory belongs to the agent that runs
    under it and outlives the launcher; ``supervise``'s resident is the
    keeper of every directory its refresh helpers write (a helper's own PID
    is gone a moment later, while the child it prepared runs on). A later
    launcher run removes those whose recorded PIDs are all gone
    (``remove_stale``), and a container's temp directory goes with the
    container.
    """
    remove_stale(home.parent, keep=home, uid=owner[0] if owner is not None else None)
    try:
        os.mkdir(home, 0o700)
        os.chmod(home, 0o700)  # whatever the umask
    except FileExistsError:
        pass
    except OSError as exc:
        raise ConfigError(f"cannot create the private CODEX_HOME {home}: {type(exc).__name__}") from None
    uid, gid = owner if owner is not None else (os.getuid(), os.getgid())
    if owner is not None:  # a root launcher writing for its --user: the agent must own what it reads
        with contextlib.suppress(OSError):
            os.chown(home, uid, gid, follow_symlinks=False)
    st = os.lstat(home)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid or stat.S_IMODE(st.st_mode) != 0o700:
        raise ConfigError(f"{home} exists and is not a private directory of this user's: remove it")
    text = None
    if image_home is not None:
        config = image_home / "config.toml"
        try:
            text = config.read_text(encoding="utf-8") if config.is_file() else None
        except (OSError, UnicodeError):
            text = None  # the scan has already refused an unreadable one outside platform_managed
    try:
        (home / f"{_USER_MARK}{os.getpid() if keeper is None else keeper}").touch(mode=0o600)
        _write_private(home / "auth.json", value, owner)
        if text is not None:
            _write_private(home / "config.toml", text, owner)
    except OSError as exc:
        raise ConfigError(f"cannot write auth.json in the private CODEX_HOME {home}: {type(exc).__name__}") from None
    return Materialised(home, home / "auth.json")


def _write_private(path: Path, text: str, owner: tuple[int, int] | None = None) -> None:
    """Create a sibling 0600 file (``owner``'s, if given), then rename it over ``path``."""
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        if owner is not None:
            os.fchown(fd, *owner)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def release(codex_home: str, uid: int | None = None) -> None:
    """At its keeper's exit (supervise's resident, once the agent is gone):
    the private CODEX_HOMEs this process kept go with it, unless another live
    process keeps them too. A credential file left behind is one more copy."""
    home = Path(codex_home)
    if home.name.startswith(_PREFIX):
        remove_stale(home.parent, uid=uid, leaving=os.getpid())


def remove_stale(parent: Path, keep: Path | None = None, uid: int | None = None, leaving: int | None = None) -> None:
    """This user's private CODEX_HOMEs whose recorded processes are all gone
    (``leaving``, the caller at its exit, counts as gone)."""
    import shutil

    try:
        entries = list(os.scandir(parent))
    except OSError:
        return
    uid = os.getuid() if uid is None else uid
    mine = f"{_PREFIX}{uid}-"
    for entry in entries:
        if not entry.name.startswith(mine) or (keep is not None and entry.path == str(keep)):
            continue
        try:
            if not entry.is_dir(follow_symlinks=False) or entry.stat(follow_symlinks=False).st_uid != uid:
                continue
            marks = [n for n in os.listdir(entry.path) if n.startswith(_USER_MARK)]
        except OSError:
            continue
        pids = [int(n[len(_USER_MARK) :]) for n in marks if n[len(_USER_MARK) :].isdigit()]
        if pids and not any(pid != leaving and _alive(pid) for pid in pids):
            shutil.rmtree(entry.path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
