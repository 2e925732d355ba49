"""Configuration: flags beat environment variables beat defaults.

Precedence is data, not branching: ``ChainMap(cli, env, DEFAULTS)``. Each
layer only holds what it really sets, so the first layer that names a
setting wins and ``source_of`` can say which one that was.
"""

import enum
import ipaddress
import math
import re
import signal
import stat
from collections import ChainMap
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlsplit

from .agents.profiles import argv_of, identify_agent
from .catalogue import check_provider
from .errors import ConfigError, InsecureURLError
from .files import Cap, check_regular, read_text

if TYPE_CHECKING:
    from .privileges import Identity


class BillingMode(enum.StrEnum):
    PLATFORM_MANAGED = "platform_managed"
    BYOK = "byok"
    SUBSCRIPTION = "subscription"
    DISABLED = "disabled"


# Environment variable for each setting that has one. --env-file and
# friends are flags only: a file list in the environment would be one more
# place for a container image to smuggle keys in.
ENV_VARS: dict[str, str] = {
    "platform_url": "PLATFORM_URL",
    "workspace_id": "WORKSPACE_ID",
    "token_file": "MOLECULE_WORKSPACE_TOKEN_FILE",
    "billing_mode": "MOLECULE_LLM_BILLING_MODE",
    "provider": "MOLECULE_LLM_PROVIDER",
    "deadline": "LAUNCHER_DEADLINE",
    "allow_http": "LAUNCHER_ALLOW_HTTP",
    "log_format": "LAUNCHER_LOG_FORMAT",
    "ca_file": "LAUNCHER_CA_FILE",
    "user": "LAUNCHER_USER",
    "agent": "LAUNCHER_AGENT",
    "platform_proxy": "LAUNCHER_PLATFORM_PROXY",
}

DEFAULTS: dict[str, object] = {
    "platform_url": None,
    "workspace_id": None,
    "token_file": None,
    "billing_mode": BillingMode.PLATFORM_MANAGED.value,
    "provider": "any",
    "deadline": "30",
    "max_bundle_bytes": str(1024 * 1024),
    "allow_http": False,
    "log_format": "text",
    "ca_file": None,
    "env_files": (),
    "global_env_files": (),
    "bypass_keys_files": (),
    "pristine": False,
    "agent": None,  # None: from the command's basename
    "own_agent_files": (),
    "argv": (),  # the agent's argv, after -- (exec's default when empty)
    "user": None,
    "verbose": 0,
    "quiet": False,
    # supervise's own flags (no environment variables: an orchestrator sets them per container)
    "refresh": None,
    "stop_signal": "SIGTERM",
    "stop_timeout": "10",
    "subreaper": False,
    # supervise --platform-proxy (launcher.platform.proxy); exec and check refuse it
    "platform_proxy": False,
    # audit's
    "pids": None,
    "json": False,  # check's and audit's --json
}

# Honoured for the platform's TLS as OpenSSL itself would, after
# --ca-file and LAUNCHER_CA_FILE; only where it is used (an https platform),
# since a container may well carry one that local mode never reads.
SSL_CERT_FILE = "SSL_CERT_FILE"
LOG_FORMATS = ("text", "json")

# The launcher's own platform credential (the gate strips it, see
# gate.LAUNCHER_OWN_VARS).
TOKEN_VAR = "MOLECULE_WORKSPACE_TOKEN"  # noqa: S105 - a variable name

# The server's own check (lowercase 8-4-4-4-12 hex); anything else would
# become part of a URL path.
_WORKSPACE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TRUTHY = {"1", "true", "yes", "on"}
_FALSY = {"", "0", "false", "no", "off"}


class Config(NamedTuple):
    platform_url: str | None
    workspace_id: str | None
    token: str | None
    token_source: str
    billing_mode: BillingMode
    billing_mode_source: str
    provider: str
    env_files: tuple[Path, ...]
    global_env_files: tuple[Path, ...]
    bypass_keys_files: tuple[Path, ...]
    pristine: bool
    deadline: float
    max_bundle_bytes: int
    allow_http: bool
    ca_file: str | None  # --ca-file > LAUNCHER_CA_FILE > SSL_CERT_FILE (https only)
    log_format: str  # one of LOG_FORMATS
    agent: str = "generic"
    agent_source: str = "default"
    own_agent_files: tuple[Path, ...] = ()
    argv: tuple[str, ...] = ()  # the agent's argv: as given after --, else exec's default
    argv_given: bool = False  # after --: check finds only an executable it was given
    warnings: tuple[str, ...] = ()
    user: "Identity | None" = None  # --user: who the agent runs as (privileges.py)
    verbosity: int = 1  # LEVELS in log.py: 0 errors only (-q), 1 warnings, +1 for each -v
    # supervise: --refresh, --stop-signal, --stop-timeout, --subreaper
    refresh: float | None = None
    stop_signal: signal.Signals = signal.SIGTERM
    stop_timeout: float = 10.0
    subreaper: bool = False
    platform_proxy: bool = False  # --platform-proxy / LAUNCHER_PLATFORM_PROXY: serve the platform API to the child
    pids: tuple[int, ...] | None = None  # audit --pid: only these processes
    json: bool = False  # check, audit: print JSON
    # The flag layer this Config was resolved from (no secret: the token is
    # never a flag), so that another process can resolve it again from the
    # same flags and environment: supervise's refresh helper does.
    flags: Mapping[str, object] = {}

    def __repr__(self) -> str:
        token = "None" if self.token is None else "'********'"
        return (
            f"Config(platform_url={self.platform_url!r}, workspace_id={self.workspace_id!r}, "
            f"token={token}, billing_mode={self.billing_mode.value!r}, provider={self.provider!r})"
        )


def env_layer(environ: Mapping[str, str]) -> dict[str, object]:
    """The settings the environment really sets (empty counts as unset)."""
    return {name: environ[var] for name, var in ENV_VARS.items() if environ.get(var, "") != ""}


def source_of(settings: ChainMap[str, object], name: str) -> str:
    for label, layer in zip(("flag", "env", "default"), settings.maps, strict=True):
        if name in layer:
            return label
    return "default"


def load_config(cli: Mapping[str, object], environ: Mapping[str, str], *, switch_user: bool = True) -> Config:
    """``switch_user=False`` (audit) ignores ``LAUNCHER_USER``: nothing is started."""
    settings: ChainMap[str, object] = ChainMap(dict(cli), env_layer(environ), DEFAULTS)
    warnings: list[str] = []
    # Before any secret is read: a launcher that cannot drop as asked reads nothing.
    user = _user(settings["user"]) if switch_user else None

    platform_url = _platform_url(settings["platform_url"])
    workspace_id = _workspace_id(settings["workspace_id"], required=platform_url is not None)
    allow_http = _flag(settings["allow_http"], "LAUNCHER_ALLOW_HTTP")
    if platform_url is not None:
        _refuse_insecure(platform_url, allow_http)

    billing_mode, mode_source = _billing_mode(settings, warnings)
    # Local mode talks to no platform: it has no reason to read a secret.
    token, token_source = _token(settings, environ, warnings) if platform_url else (None, "unused in local mode")
    argv = argv_of(settings["argv"])
    agent, agent_source = identify_agent(settings["agent"], argv, source_of(settings, "agent"))
    log_format = str(settings["log_format"])
    if log_format not in LOG_FORMATS:
        raise ConfigError(f"log format must be text or json, not {log_format!r}")

    return Config(
        platform_url=platform_url,
        workspace_id=workspace_id,
        token=token,
        token_source=token_source,
        billing_mode=billing_mode,
        billing_mode_source=mode_source,
        provider=check_provider(str(settings["provider"]).strip().lower()),
        env_files=_existing_files(settings["env_files"], "--env-file", Cap.ENV_FILE),
        global_env_files=_existing_files(settings["global_env_files"], "--global-env-file", Cap.ENV_FILE),
        bypass_keys_files=_existing_files(settings["bypass_keys_files"], "--bypass-keys-file", Cap.KEY_LIST),
        pristine=bool(settings["pristine"]),
        deadline=_positive_number(settings["deadline"], "deadline", float),
        max_bundle_bytes=int(_positive_number(settings["max_bundle_bytes"], "max bundle bytes", int)),
        allow_http=allow_http,
        ca_file=_ca_file(settings, environ, platform_url),
        log_format=log_format,
        agent=agent,
        agent_source=agent_source,
        own_agent_files=_existing_files(settings["own_agent_files"], "--own-agent-file", Cap.AGENT_FILE),
        argv=argv,
        argv_given=bool(settings.maps[0].get("argv")),
        json=bool(settings["json"]),
        flags=dict(cli),
        warnings=tuple(warnings),
        user=user,
        verbosity=0 if settings["quiet"] else 1 + _count(settings["verbose"]),
        refresh=_refresh(settings["refresh"]),
        stop_signal=parse_signal(str(settings["stop_signal"])),
        stop_timeout=_stop_timeout(settings["stop_timeout"]),
        subreaper=bool(settings["subreaper"]),
        platform_proxy=_platform_proxy(settings, platform_url) if switch_user else False,
        pids=_pids(settings["pids"]),
    )


def _platform_url(value: object) -> str | None:
    if value is None:
        return None
    url = str(value).strip().rstrip("/")
    # urlsplit silently drops tabs and newlines, and http.client refuses
    # other controls only when the request is made: refuse them here.
    if not url.isascii() or any(ord(ch) < 33 or ord(ch) == 127 for ch in url):
        raise ConfigError("platform URL must be printable ASCII without spaces or control characters")
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        raise ConfigError(f"platform URL is not a URL: {url[:200]!r}") from None
    # First, and without quoting the URL: it may carry a password.
    if "@" in parts.netloc:
        raise ConfigError("platform URL must not carry credentials; use the token file")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"platform URL must be http(s)://host[:port], got {url[:200]!r}")
    if parts.query or parts.fragment:
        raise ConfigError("platform URL must not have a query or fragment")
    try:
        _ = parts.port  # urlsplit parses the port lazily
    except ValueError as exc:
        raise ConfigError(f"platform URL has a bad port: {url[:200]!r}") from exc
    return url


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _refuse_insecure(url: str, allow_http: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme == "http" and not allow_http and not is_loopback(parts.hostname or ""):
        raise InsecureURLError(
            f"refusing plain http to {parts.hostname}: the bearer token would cross the "
            "network in clear; use https, or --allow-http / LAUNCHER_ALLOW_HTTP=1 on a "
            "trusted network"
        )


def _workspace_id(value: object, *, required: bool) -> str | None:
    if value is None:
        if required:
            raise ConfigError("a workspace id is required with a platform URL (--workspace-id or WORKSPACE_ID)")
        return None
    text = str(value)
    if not _WORKSPACE_ID.fullmatch(text):
        raise ConfigError(f"workspace id must be a lowercase 8-4-4-4-12 hex UUID, got {text[:64]!r}")
    return text


def _user(value: object) -> "Identity | None":
    if value is None:
        return None
    from .privileges import parse_user, require_root

    identity = parse_user(str(value))
    require_root(identity)
    return identity


# Format characters that print as nothing; a value copied from a web page
# or a chat can end in one, and "byok\u200b" must still mean byok.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"


def trimmed(text: str) -> str:
    """Whitespace and zero-width characters removed from both ends."""
    previous = None
    while previous != text:
        previous, text = text, text.strip().strip(_INVISIBLE)
    return text


def _billing_mode(settings: ChainMap[str, object], warnings: list[str]) -> tuple[BillingMode, str]:
    raw = str(settings["billing_mode"])
    source = source_of(settings, "billing_mode")
    if source == "flag" and not trimmed(raw):
        # An empty flag would beat the environment's mode and fall back to
        # platform_managed: the one input that must never fail open.
        raise ConfigError(
            f"--billing-mode is empty; give one of {', '.join(m.value for m in BillingMode)} or leave the flag out"
        )
    try:
        return BillingMode(trimmed(raw).casefold()), source
    except ValueError:
        # The server's default-closed rule: a garbled mode never aborts a
        # launch, it falls back to platform_managed.
        warnings.append(
            f"unrecognised billing mode {raw[:40]!r} from {source}; using platform_managed "
            f"(valid: {', '.join(m.value for m in BillingMode)})"
        )
        return BillingMode.PLATFORM_MANAGED, "fallback"


def _token(settings: ChainMap[str, object], environ: Mapping[str, str], warnings: list[str]) -> tuple[str | None, str]:
    # An explicit --token-file is the most specific statement; after it the
    # token itself, then the file named in the environment, then the
    # conventional mount point if it exists.
    token_file = settings.maps[0].get("token_file")
    if token_file is None and environ.get(TOKEN_VAR):
        return _checked_token(environ[TOKEN_VAR], TOKEN_VAR), TOKEN_VAR
    if token_file is None:
        token_file = settings["token_file"]
    if token_file is None:
        default = Path(environ.get("CONFIGS_DIR") or "/configs") / ".auth_token"
        if not default.exists():
            return None, "none"
        token_file = default
    path = Path(str(token_file))
    text = read_text(path, "token file", Cap.TOKEN)
    try:
        mode = path.stat().st_mode
    except OSError:
        mode = 0  # gone since it was read: nothing left to warn about
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.append(f"token file {path} is readable by group or others (mode {stat.S_IMODE(mode):o}); chmod 600 it")
    return _checked_token(text.strip(), str(path)), str(path)


def _checked_token(token: str, origin: str) -> str:
    if not token.strip():
        raise ConfigError(f"the token from {origin} is empty")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in token):
        raise ConfigError(f"the token from {origin} contains whitespace or control characters")
    if not token.isascii():
        # It travels in an HTTP header, which carries ASCII only.
        raise ConfigError(f"the token from {origin} contains non-ASCII characters")
    return token


def _flag(value: object, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUTHY:
        return True
    if text in _FALSY:
        return False
    raise ConfigError(f"{name} must be 1/0/true/false, got {str(value)[:20]!r}")


def _platform_proxy(settings: ChainMap[str, object], platform_url: str | None) -> bool:
    """A proxy needs a platform to forward to: asked for in local mode, it
    is a mistake worth stopping on, not a setting to ignore."""
    wanted = _flag(settings["platform_proxy"], ENV_VARS["platform_proxy"])
    if wanted and platform_url is None:
        what = "--platform-proxy" if source_of(settings, "platform_proxy") == "flag" else ENV_VARS["platform_proxy"]
        raise ConfigError(f"{what} needs a platform (--platform-url or PLATFORM_URL) to forward to")
    return wanted


def _positive_number(value: object, name: str, kind: type[int] | type[float]) -> int | float:
    try:
        number = kind(str(value))
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a positive number, got {str(value)[:20]!r}") from None
    if not number > 0 or number != number or number == float("inf"):
        raise ConfigError(f"{name} must be a positive number, got {str(value)[:20]!r}")
    return number


def _existing_files(values: object, flag: str, cap: int) -> tuple[Path, ...]:
    """Checked now, read later (each read checks again: see files.py)."""
    paths = tuple(Path(str(v)) for v in _sequence(values))
    for path in paths:
        check_regular(path, flag, cap)
    return paths


def _sequence(values: object) -> tuple[object, ...]:
    """A repeatable flag's values (argparse gives a list, DEFAULTS a tuple)."""
    if not isinstance(values, list | tuple):
        raise ConfigError(f"expected a list of values, got {type(values).__name__}")
    return tuple(values)


def _ca_file(settings: ChainMap[str, object], environ: Mapping[str, str], platform_url: str | None) -> str | None:
    value = settings["ca_file"]
    if value is not None:
        what = "--ca-file" if source_of(settings, "ca_file") == "flag" else ENV_VARS["ca_file"]
    elif environ.get(SSL_CERT_FILE) and urlsplit(platform_url or "").scheme == "https":
        value, what = environ[SSL_CERT_FILE], SSL_CERT_FILE
    else:
        return None
    check_regular(Path(str(value)), what, Cap.CA_FILE)
    return str(value)


def _count(value: object) -> int:
    return value if isinstance(value, int) else 0


def parse_signal(text: str) -> signal.Signals:
    """``SIGTERM``, ``TERM``, ``term`` or ``15``."""
    raw = str(text).strip()
    try:
        return signal.Signals(int(raw)) if raw.isdigit() else signal.Signals["SIG" + raw.upper().removeprefix("SIG")]
    except (KeyError, ValueError):
        raise ConfigError(f"--stop-signal: unknown signal {raw[:20]!r}") from None


def _seconds(value: object) -> float:
    try:
        return float(str(value))
    except ValueError:
        return math.nan  # refused by the caller's range check, with its own message


def _refresh(value: object) -> float | None:
    if value is None:
        return None
    refresh = _seconds(value)
    if not (math.isfinite(refresh) and refresh > 0):
        raise ConfigError(f"--refresh must be a positive number of seconds, got {str(value)[:20]!r}")
    return refresh


def _stop_timeout(value: object) -> float:
    timeout = _seconds(value)
    if not (math.isfinite(timeout) and timeout >= 0):
        raise ConfigError(f"--stop-timeout must be zero or more seconds, got {str(value)[:20]!r}")
    return timeout


def pid(text: str) -> int:
    """A process id: a positive integer (psutil takes -1 for a bug, not a miss)."""
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise ConfigError(f"--pid: not a process id: {text[:20]!r}")
    return number


def _pids(values: object) -> tuple[int, ...] | None:
    if values is None:
        return None
    return tuple(pid(str(v)) for v in _sequence(values))
