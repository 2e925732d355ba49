"""The LLM key list and the provider registry, loaded from ``data/``.

Both are data so that adding a provider or mirroring a new server-side
bypass key is a one-line change that needs no code review of the gate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError
from .files import Cap, read_text

DATA_DIR = Path(__file__).with_name("data")


def normalise(name: str) -> str:
    return name.strip().upper()


def is_routing(name: str) -> bool:
    """A base URL steers traffic but authenticates nothing."""
    return normalise(name).endswith("_BASE_URL")


@dataclass(frozen=True)
class Provider:
    name: str
    credentials: tuple[str, ...]
    requires: tuple[str, ...] = ()

    def satisfied_by(self, env: dict[str, str]) -> list[str]:
        """The credentials this provider would authenticate with, if any.

        Names are exact here: a process reads ``ANTHROPIC_API_KEY``, not
        ``anthropic_api_key``, so only the canonical spelling is usable.
        """
        if any(not env.get(name, "").strip() for name in self.requires):
            return []
        return [name for name in self.credentials if env.get(name, "").strip()]


@dataclass(frozen=True)
class KeyCatalog:
    bypass_keys: frozenset[str]
    providers: dict[str, Provider]

    def is_bypass(self, name: str) -> bool:
        return normalise(name) in self.bypass_keys

    def provider(self, name: str) -> Provider:
        try:
            return self.providers[name]
        except KeyError:
            known = ", ".join(sorted(self.providers))
            raise ConfigError(f"unknown provider {name[:40]!r} (known: {known})") from None


def read_key_list(path: Path) -> set[str]:
    lines = read_text(path, "key list", Cap.KEY_LIST).splitlines()
    keys = set()
    for number, line in enumerate(lines, 1):
        name = normalise(line.split("#", 1)[0])
        if not name:
            continue
        if not name.replace("_", "A").isalnum() or name[0].isdigit():
            raise ConfigError(f"{path}:{number}: {name[:64]!r} is not a variable name")
        keys.add(name)
    return keys


def load_catalog(extra_key_files: tuple[Path, ...] = ()) -> KeyCatalog:
    keys = read_key_list(DATA_DIR / "llm_bypass_keys.txt")
    for path in extra_key_files:
        keys |= read_key_list(path)
    raw = json.loads((DATA_DIR / "providers.json").read_text(encoding="utf-8"))
    providers = {
        name: Provider(name, tuple(spec["credentials"]), tuple(spec.get("requires", ())))
        for name, spec in raw.items()
        if not name.startswith("_")
    }
    providers["any"] = Provider("any", tuple(sorted(k for k in keys if not is_routing(k))))
    return KeyCatalog(frozenset(keys), providers)
