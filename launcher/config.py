"""Configuration: flags beat environment variables beat defaults.

Precedence is data, not branching: ``ChainMap(cli, env, DEFAULTS)``. Each
layer only holds what it really sets, so the first layer that names a
setting wins and ``source_of`` can say which one that was.
"""

from __future__ import annotations

import enum
import ipaddress
import os
import re
import stat
from collections import ChainMap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .agents import command_of, resolve_agent
from .errors import ConfigError, InsecureURLError


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
    "agent": "LAUNCHER_AGENT",
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
    "command": (),  # the child's argv (exec's default command when empty)
}

# The variables that carry the launcher's own platform credential. They are
# removed from every child environment: the agent has no business holding
# the token that reads the workspace's secrets.
TOKEN_VAR = "MOLECULE_WORKSPACE_TOKEN"  # noqa: S105 - a variable name
LAUNCHER_OWN_VARS = frozenset({TOKEN_VAR, ENV_VARS["token_file"]})

# The server's own check (lowercase 8-4-4-4-12 hex); anything else would
# become part of a URL path.
_WORKSPACE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TRUTHY = {"1", "true", "yes", "on"}
_FALSY = {"", "0", "false", "no", "off"}


@dataclass(frozen=True)
class Config:
    platform_url: str | None
    workspace_id: str | None
    token: str | None = field(repr=False)
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
    ca_file: str | None
    log_format: str
    agent: str = "generic"
    agent_source: str = "default"
    own_agent_files: tuple[Path, ...] = ()
    command: tuple[str, ...] = ()  # the agent's argv as given (empty: exec's default)
    warnings: tuple[str, ...] = ()

    def __repr__(self) -> str:
        token = "None" if self.token is None else "'********'"
        return (
            f"Config(platform_url={self.platform_url!r}, workspace_id={self.workspace_id!r}, "
            f"token={token}, billing_mode={self.billing_mode.value!r}, provider={self.provider!r})"
        )


def env_layer(environ: Mapping[str, str]) -> dict[str, object]:
    """The settings the environment really sets (empty counts as unset)."""
    return {name: environ[var] for name, var in ENV_VARS.items() if environ.get(var, "") != ""}


def source_of(settings: ChainMap, name: str) -> str:
    for label, layer in zip(("flag", "env", "default"), settings.maps, strict=True):
        if name in layer:
            return label
    return "default"


def resolve(cli: Mapping[str, object], environ: Mapping[str, str]) -> Config:
    settings: ChainMap = ChainMap(dict(cli), env_layer(environ), DEFAULTS)
    warnings: list[str] = []

    platform_url = _platform_url(settings["platform_url"])
    workspace_id = _workspace_id(settings["workspace_id"], required=platform_url is not None)
    allow_http = _flag(settings["allow_http"], "LAUNCHER_ALLOW_HTTP")
    if platform_url is not None:
        _refuse_insecure(platform_url, allow_http)

    billing_mode, mode_source = _billing_mode(settings, warnings)
    # Local mode talks to no platform: it has no reason to read a secret.
    token, token_source = _token(settings, environ, warnings) if platform_url else (None, "unused in local mode")
    command = command_of(settings["command"])
    agent, agent_source = resolve_agent(settings["agent"], command, source_of(settings, "agent"))
    log_format = str(settings["log_format"])
    if log_format not in ("text", "json"):
        raise ConfigError(f"log format must be text or json, not {log_format!r}")

    return Config(
        platform_url=platform_url,
        workspace_id=workspace_id,
        token=token,
        token_source=token_source,
        billing_mode=billing_mode,
        billing_mode_source=mode_source,
        provider=str(settings["provider"]).strip().lower(),
        env_files=_existing_files(settings["env_files"], "--env-file"),
        global_env_files=_existing_files(settings["global_env_files"], "--global-env-file"),
        bypass_keys_files=_existing_files(settings["bypass_keys_files"], "--bypass-keys-file"),
        pristine=bool(settings["pristine"]),
        deadline=_positive_number(settings["deadline"], "deadline", float),
        max_bundle_bytes=_positive_number(settings["max_bundle_bytes"], "max bundle bytes", int),
        allow_http=allow_http,
        ca_file=_optional_file(settings["ca_file"], "--ca-file"),
        log_format=log_format,
        agent=agent,
        agent_source=agent_source,
        own_agent_files=_existing_files(settings["own_agent_files"], "--own-agent-file"),
        command=command,
        warnings=tuple(warnings),
    )


def _platform_url(value: object) -> str | None:
    if value is None:
        return None
    url = str(value).strip().rstrip("/")
    parts = urlsplit(url)
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


def _billing_mode(settings: ChainMap, warnings: list[str]) -> tuple[BillingMode, str]:
    raw = str(settings["billing_mode"])
    source = source_of(settings, "billing_mode")
    try:
        return BillingMode(raw.strip().lower()), source
    except ValueError:
        # The server's default-closed rule: a garbled mode never aborts a
        # launch, it falls back to platform_managed.
        warnings.append(
            f"unrecognised billing mode {raw[:40]!r} from {source}; using platform_managed "
            f"(valid: {', '.join(m.value for m in BillingMode)})"
        )
        return BillingMode.PLATFORM_MANAGED, "fallback"


def _token(settings: ChainMap, environ: Mapping[str, str], warnings: list[str]) -> tuple[str | None, str]:
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
        if not default.is_file():
            return None, "none"
        token_file = default
    path = Path(str(token_file))
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read token file {path}: {type(exc).__name__}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.append(f"token file {path} is readable by group or others (mode {stat.S_IMODE(mode):o}); chmod 600 it")
    return _checked_token(text.strip(), str(path)), str(path)


def _checked_token(token: str, origin: str) -> str:
    if not token.strip():
        raise ConfigError(f"the token from {origin} is empty")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in token):
        raise ConfigError(f"the token from {origin} contains whitespace or control characters")
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


def _positive_number(value: object, name: str, kind: type[int] | type[float]) -> int | float:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a positive number, got {str(value)[:20]!r}") from None
    if not number > 0 or number != number or number == float("inf"):
        raise ConfigError(f"{name} must be a positive number, got {str(value)[:20]!r}")
    return number


def _existing_files(values: object, flag: str) -> tuple[Path, ...]:
    paths = tuple(Path(str(v)) for v in values)  # type: ignore[union-attr]
    for path in paths:
        if not path.is_file():
            raise ConfigError(f"{flag} {path}: {'not a regular file' if path.exists() else 'no such file'}")
    return paths


def _optional_file(value: object, flag: str) -> str | None:
    if value is None:
        return None
    if not os.path.isfile(str(value)):
        raise ConfigError(f"{flag} {value}: no such file")
    return str(value)
