"""LLM keys (the credential catalogue and the server's list) and the providers, loaded from ``data/``.

An *LLM key* is any variable the gate treats as carrying, steering or
enabling an LLM credential. The names come from two lists, both data:

- ``llm_bypass_keys.txt``: the server's own list, mirrored as it is (plus
  any ``--bypass-keys-file``); a ``*_BASE_URL`` there is routing, every
  other name a credential;
- ``credential_catalogue.json``: what the supported agents were observed
  (or documented) to read, each entry with its kind, its agents and the
  source of that fact.

Every LLM key is gated alike, whatever its kind; the kind only decides
whether a surviving key can count as a credential.
"""

import enum
import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from .errors import ConfigError
from .files import Cap, read_text

DATA_DIR = Path(__file__).with_name("data")


class KeyKind(enum.StrEnum):
    """What an LLM key does for the agent that reads it."""

    CREDENTIAL = "credential"  # authenticates: counts where a provider accepts it
    ROUTING = "routing"  # base URLs and custom headers: never a credential
    SWITCH = "switch"  # turns on a backend with ambient cloud credentials
    RELOCATION = "relocation"  # moves the files (or descriptors) a credential is read from
    CLOUD_IDENTITY = "cloud_identity"  # a cloud SDK's credential, profile, credential file or metadata setting
    TRANSPORT = "transport"  # proxies, CA trust, TLS and sockets: through what the agent's traffic goes
    COMMAND = "command"  # a command line the agent runs


# A switch counts as on unless its value is one of these (fail closed: any
# other value may turn the backend on, whatever the agent's own parser says).
SWITCH_OFF = frozenset({"", "0", "false", "no", "off"})
# Kinds whose stripped values are recognised under other names (copies).
SECRET_KINDS = frozenset({KeyKind.CREDENTIAL, KeyKind.CLOUD_IDENTITY})


def switch_on(value: str) -> bool:
    return value.strip().lower() not in SWITCH_OFF


def normalise(name: str) -> str:
    return name.strip().upper()


def is_routing(name: str) -> bool:
    """A base URL steers traffic but authenticates nothing (the rule for the
    server's list, whose entries carry no kind)."""
    return normalise(name).endswith("_BASE_URL")


class CatalogueEntry(NamedTuple):
    name: str
    kind: KeyKind
    agents: tuple[str, ...]
    source: str


class Provider(NamedTuple):
    name: str
    credentials: tuple[str, ...]
    requires: tuple[str, ...] = ()
    backends: tuple[str, ...] = ()  # cloud backends whose own credential counts for this provider

    def satisfied_by(self, env: Mapping[str, str]) -> list[str]:
        """The credentials this provider would authenticate with, if any.

        Names are exact here: a process reads ``ANTHROPIC_API_KEY``, not
        ``anthropic_api_key``, so only the canonical spelling is usable.
        """
        if any(not env.get(name, "").strip() for name in self.requires):
            return []
        return [name for name in self.credentials if env.get(name, "").strip()]


class Backend(NamedTuple):
    """A cloud backend a switch turns on, and what is a credential for it."""

    name: str
    switches: tuple[str, ...]
    # Any one group, every name of it non-blank; none at all: the backend only
    # ever uses the machine's identity (never the workspace's own).
    credentials: tuple[tuple[str, ...], ...]

    def satisfied_by(self, env: Mapping[str, str]) -> tuple[str, ...]:
        """The first group ``env`` completes, or ()."""
        return next((g for g in self.credentials if all(env.get(n, "").strip() for n in g)), ())

    def needs(self) -> str:
        if not self.credentials:
            return "nothing the workspace can own (only the machine's identity)"
        return " or ".join("+".join(group) for group in self.credentials)


class Closer(NamedTuple):
    """What the launcher sets in the child to close a cloud SDK's fallback
    to an instance-metadata or managed-identity service."""

    name: str
    value: str
    unless: tuple[str, ...]  # not when one of these survives (the SDK answers before the fallback)


class KeyCatalogue(NamedTuple):
    bypass_keys: frozenset[str]  # the server's list (+ --bypass-keys-file), normalised
    providers: dict[str, Provider]
    entries: Mapping[str, CatalogueEntry] = {}  # normalised name -> entry
    backends: Mapping[str, Backend] = {}
    closers: tuple[Closer, ...] = ()

    @property
    def llm_keys(self) -> frozenset[str]:
        """Every normalised name the gate treats as an LLM key."""
        return self.bypass_keys | frozenset(self.entries)

    def is_llm_key(self, name: str) -> bool:
        norm = normalise(name)
        return norm in self.bypass_keys or norm in self.entries

    def is_server_key(self, name: str) -> bool:
        """On the server's own list (what a fixed server strips by itself)."""
        return normalise(name) in self.bypass_keys

    def kind_of(self, name: str) -> KeyKind | None:
        """The kind of an LLM key; None for any other name."""
        norm = normalise(name)
        entry = self.entries.get(norm)
        if entry is not None:
            return entry.kind
        if norm in self.bypass_keys:
            return KeyKind.ROUTING if is_routing(norm) else KeyKind.CREDENTIAL
        return None

    def provider(self, name: str) -> Provider:
        return self.providers[name]  # a name config.load_config has checked (check_provider)


def read_key_list(path: Path) -> set[str]:
    lines = read_text(path, "key list", Cap.KEY_LIST).splitlines()
    keys = set()
    for number, line in enumerate(lines, 1):
        name = normalise(line.split("#", 1)[0])
        if not name:
            continue
        if not _is_name(name):
            # File and line only: an operator who pasted KEY=value here must not see the value echoed.
            raise ConfigError(f"{path}:{number}: not a variable name (one name per line, # comments)")
        keys.add(name)
    return keys


def _is_name(name: str) -> bool:
    return name.replace("_", "A").isalnum() and not name[0].isdigit()


def read_catalogue(path: Path = DATA_DIR / "credential_catalogue.json") -> dict[str, CatalogueEntry]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    entries: dict[str, CatalogueEntry] = {}
    for spec in raw["variables"]:
        name = normalise(spec["name"])
        if not _is_name(name) or name in entries or spec["source"] not in raw["sources"]:
            raise ConfigError(f"{path}: bad or duplicate entry {name[:64]!r}")
        entries[name] = CatalogueEntry(name, KeyKind(spec["kind"]), tuple(spec["agents"]), spec["source"])
    return entries


def read_backends(path: Path = DATA_DIR / "credential_catalogue.json") -> tuple[dict[str, Backend], tuple[Closer, ...]]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    backends = {
        name: Backend(
            name,
            tuple(normalise(n) for n in spec["switches"]),
            tuple(tuple(group) for group in spec["credentials"]),
        )
        for name, spec in raw.get("backends", {}).items()
    }
    closers = tuple(
        Closer(spec["name"], spec["value"], tuple(spec.get("unless", ()))) for spec in raw.get("metadata_off", ())
    )
    return backends, closers


@functools.cache
def _provider_specs() -> dict[str, Any]:
    raw: dict[str, Any] = json.loads((DATA_DIR / "providers.json").read_text(encoding="utf-8"))
    return {name: spec for name, spec in raw.items() if not name.startswith("_")}


def check_provider(name: str) -> str:
    """``name`` if it is a provider (``config.load_config`` asks, once, before
    any I/O); else CONFIG_INVALID listing the known ones."""
    if name != "any" and name not in _provider_specs():
        known = ", ".join(sorted([*_provider_specs(), "any"]))
        raise ConfigError(f"unknown provider {name[:40]!r} (known: {known})")
    return name


def load_catalogue(extra_key_files: tuple[Path, ...] = ()) -> KeyCatalogue:
    keys = read_key_list(DATA_DIR / "llm_bypass_keys.txt")
    for path in extra_key_files:
        keys |= read_key_list(path)
    entries = read_catalogue()
    backends, closers = read_backends()
    providers = {
        name: Provider(
            name, tuple(spec["credentials"]), tuple(spec.get("requires", ())), tuple(spec.get("backends", ()))
        )
        for name, spec in _provider_specs().items()
    }
    catalogue = KeyCatalogue(frozenset(keys), providers, entries, backends, closers)
    credentials = sorted(k for k in catalogue.llm_keys if catalogue.kind_of(k) is KeyKind.CREDENTIAL)
    providers["any"] = Provider("any", tuple(credentials), (), tuple(backends))
    return catalogue
