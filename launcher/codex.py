"""The codex agent's own files: where codex finds a credential besides the
environment, and the ``auth.json`` the launcher writes from ``CODEX_AUTH_JSON``.

Observed with codex 0.171.0 against a loopback stand-in (``tests/e2e/
test_codex_control.py``): codex reads ``$CODEX_HOME/auth.json`` (API-key or
ChatGPT-login form), loads ``$CODEX_HOME/.env`` itself with its values
overriding the process environment (``CODEX_*`` names excepted), and a model
provider in ``$CODEX_HOME/config.toml``, ``/etc/codex/config.toml`` or
``/etc/codex/managed_config.toml`` can carry its own credential. Everything
here reads files; nothing runs a command a file names.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import BundleInvalidError, ConfigError

AUTH_JSON_VAR = "CODEX_AUTH_JSON"
CODEX_HOME_VAR = "CODEX_HOME"
# codex's own limit is far larger; a real auth.json is a few KiB (three JWTs).
MAX_AUTH_JSON_BYTES = 64 * 1024
SYSTEM_CONFIG_FILES = (Path("/etc/codex/config.toml"), Path("/etc/codex/managed_config.toml"))
# Header names that carry a credential when a provider sets them itself.
_CREDENTIAL_HEADER = re.compile(r"auth|key|token|secret|cookie|session", re.IGNORECASE)
# auth.json fields that authenticate (the ChatGPT form nests them in "tokens").
AUTH_JSON_FIELDS = ("OPENAI_API_KEY",)
AUTH_JSON_TOKEN_FIELDS = ("access_token", "refresh_token", "id_token")


@dataclass(frozen=True)
class Found:
    """One credential (or one unreadable file) in an agent file."""

    path: str
    field: str
    value: str | None = dataclasses.field(repr=False)  # None: the file could not be read


def codex_home(env: Mapping[str, str]) -> Path:
    """``$CODEX_HOME``, else ``~/.codex``, as codex resolves it in ``env``."""
    relocated = env.get(CODEX_HOME_VAR, "")
    if relocated:
        return Path(relocated)
    return Path(env.get("HOME") or os.path.expanduser("~")) / ".codex"


def _read(path: Path) -> str | None:
    """The file's text; None if there is none. Raises OSError/UnicodeError."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def scan_auth_json(path: Path) -> Iterator[Found]:
    try:
        text = _read(path)
        if text is None:
            return
        data = json.loads(text)
    except (OSError, UnicodeError, ValueError, RecursionError) as exc:
        yield Found(str(path), f"unreadable ({type(exc).__name__})", None)
        return
    if not isinstance(data, dict):
        yield Found(str(path), "unreadable (not a JSON object)", None)
        return
    for name in AUTH_JSON_FIELDS:
        value = data.get(name)
        if isinstance(value, str) and value.strip():
            yield Found(str(path), name, value)
    tokens = data.get("tokens")
    if isinstance(tokens, dict):
        for name in AUTH_JSON_TOKEN_FIELDS:
            value = tokens.get(name)
            if isinstance(value, str) and value.strip():
                yield Found(str(path), f"tokens.{name}", value)


def scan_config_toml(path: Path, env: Mapping[str, str], is_catalogued: Callable[[str], bool]) -> Iterator[Found]:
    """Model providers that bring a credential of their own.

    ``experimental_bearer_token``, a credential-looking ``http_headers`` entry
    and an ``auth`` command are credentials in the file. ``env_key`` and
    ``env_http_headers`` name variables that codex reads: one the catalogue
    knows is gated like any variable; any other is a channel the gate cannot
    judge, so it counts as a credential in the file when the child's
    environment sets it.
    """
    import tomllib

    try:
        text = _read(path)
        if text is None:
            return
        data = tomllib.loads(text)
    except (OSError, UnicodeError, tomllib.TOMLDecodeError, RecursionError) as exc:
        yield Found(str(path), f"unreadable ({type(exc).__name__})", None)
        return
    providers = data.get("model_providers")
    if not isinstance(providers, dict):
        return
    for name, spec in sorted(providers.items()):
        if not isinstance(spec, dict):
            continue
        where = f"model_providers.{name}"
        token = spec.get("experimental_bearer_token")
        if isinstance(token, str) and token.strip():
            yield Found(str(path), f"{where}.experimental_bearer_token", token)
        auth = spec.get("auth")
        if isinstance(auth, dict) and auth.get("command"):
            # A helper whose output is the credential: never run, always foreign.
            yield Found(str(path), f"{where}.auth.command", json.dumps(auth.get("command")))
        headers = spec.get("http_headers")
        if isinstance(headers, dict):
            for header, value in sorted(headers.items()):
                if _CREDENTIAL_HEADER.search(header) and isinstance(value, str) and value.strip():
                    yield Found(str(path), f"{where}.http_headers.{header}", value)
        variables: list[tuple[str, object]] = [(f"{where}.env_key", spec.get("env_key"))]
        env_headers = spec.get("env_http_headers")
        if isinstance(env_headers, dict):
            variables += [(f"{where}.env_http_headers.{h}", v) for h, v in sorted(env_headers.items())]
        for field_name, variable in variables:
            if not isinstance(variable, str) or is_catalogued(variable):
                continue
            value = env.get(variable, "")
            if value.strip():
                yield Found(str(path), f"{field_name} ({variable})", value)


def scan_dotenv(path: Path, is_catalogued: Callable[[str], bool]) -> Iterator[Found]:
    """A catalogued variable in a ``.env`` the agent loads by itself."""
    from .bundle import read_dotenv

    try:
        if not path.exists() and not path.is_symlink():
            return
        values = read_dotenv(path)
    except (OSError, BundleInvalidError) as exc:
        yield Found(str(path), f"unreadable ({type(exc).__name__})", None)
        return
    for name, value in sorted(values.items()):
        if is_catalogued(name) and value.strip():
            yield Found(str(path), name, value)


def scan(env: Mapping[str, str], is_catalogued: Callable[[str], bool]) -> list[Found]:
    """Every credential codex would find in its files, in the child's final
    environment ``env``."""
    home = codex_home(env)
    found = list(scan_auth_json(home / "auth.json"))
    found += scan_dotenv(home / ".env", is_catalogued)
    for config in (home / "config.toml", *SYSTEM_CONFIG_FILES):
        found += scan_config_toml(config, env, is_catalogued)
    return found


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


def private_home_parent(env: Mapping[str, str]) -> Path:
    """Where the launcher's private CODEX_HOME goes: ``$XDG_RUNTIME_DIR`` when
    it is a directory only this user can enter, else the system temp dir."""
    runtime = env.get("XDG_RUNTIME_DIR", "")
    if runtime:
        try:
            st = os.stat(runtime)
        except OSError:
            st = None
        if st is not None and st.st_uid == os.getuid() and st.st_mode & 0o077 == 0:
            return Path(runtime)
    return Path(tempfile.gettempdir())


@dataclass(frozen=True)
class Materialised:
    codex_home: Path
    auth_json: Path


_PREFIX = "agent-launcher-codex-"
_OWN = re.compile(re.escape(_PREFIX) + r"(\d+)-")


def private_home(value: str, env: Mapping[str, str]) -> Path:
    """Where ``value`` goes: one directory per (PID, content), so that the same
    bundle gives the same child environment (``supervise`` compares them)."""
    from .bundle import fingerprint

    return private_home_parent(env) / f"{_PREFIX}{os.getpid()}-{fingerprint(value)}"


def materialise(value: str, env: Mapping[str, str], image_home: Path | None = None) -> Materialised:
    """Write ``value`` (already validated) to ``auth.json`` in the launcher's
    private CODEX_HOME (``private_home``): a 0700 directory of this user's,
    not a symlink, the file replaced atomically, 0600. ``image_home``'s
    ``config.toml`` (the CODEX_HOME codex would have used, already scanned)
    is copied beside it, so that the agent keeps its configuration; its
    ``auth.json`` and ``.env`` are not.

    The directory's name carries this process's PID. ``exec`` keeps the PID,
    so the directory belongs to the agent that runs under it and outlives
    the launcher; a later launcher run removes those whose PID is gone
    (``remove_stale``), and a container's temp directory goes with it.
    """
    home = private_home(value, env)
    remove_stale(home.parent)
    try:
        os.mkdir(home, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ConfigError(f"cannot create the private CODEX_HOME {home}: {type(exc).__name__}") from None
    st = os.lstat(home)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or stat.S_IMODE(st.st_mode) != 0o700:
        raise ConfigError(f"{home} exists and is not a private directory of this user's: remove it")
    _write_private(home / "auth.json", value)
    if image_home is not None:
        config = image_home / "config.toml"
        try:
            text = config.read_text(encoding="utf-8") if config.is_file() else None
        except (OSError, UnicodeError):
            text = None  # the scan has already refused an unreadable one outside platform_managed
        if text is not None:
            _write_private(home / "config.toml", text)
    return Materialised(home, home / "auth.json")


def _write_private(path: Path, text: str) -> None:
    """Create a sibling 0600 file, then rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def remove_stale(parent: Path) -> None:
    """Private CODEX_HOMEs of this user whose process is gone."""
    import shutil

    try:
        entries = list(os.scandir(parent))
    except OSError:
        return
    for entry in entries:
        match = _OWN.match(entry.name)
        if not match or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            if entry.stat(follow_symlinks=False).st_uid != os.getuid():
                continue
        except OSError:
            continue
        pid = int(match.group(1))
        if pid == os.getpid() or _alive(pid):
            continue
        shutil.rmtree(entry.path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
