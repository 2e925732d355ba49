"""The gemini-cli agent's own files: where gemini finds a credential besides
the environment.

Read from gemini-cli 0.61.0 (``findEnvFile``, ``loadEnvironment``,
``homedir`` in its bundle) and observed against a loopback stand-in
(``tests/e2e/test_gemini_control.py``): gemini loads ONE ``.env`` by itself,
the first it finds walking up from the working directory (in each directory
``.gemini/.env``, then ``.env``), else ``HOME/.gemini/.env``, else
``HOME/.env``, where HOME is ``$GEMINI_CLI_HOME`` when set. A value from it
never overrides a variable that is set, but fills in one that is not: one the
gate stripped, or one the workspace never had. Which file wins depends on
trust and on the agent's current directory, so every candidate counts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from .codex import Found, scan_dotenv

HOME_VAR = "GEMINI_CLI_HOME"
SYSTEM_SETTINGS_VAR = "GEMINI_CLI_SYSTEM_SETTINGS_PATH"
SYSTEM_DEFAULTS_VAR = "GEMINI_CLI_SYSTEM_DEFAULTS_PATH"
SYSTEM_SETTINGS = Path("/etc/gemini-cli/settings.json")
# security.auth.selectedType values that turn on the machine's ambient cloud
# credentials (metadata server, Cloud Shell): never the workspace's own.
AMBIENT_AUTH_TYPES = frozenset({"compute-default-credentials", "cloud-shell"})
OAUTH_FIELDS = ("access_token", "refresh_token", "id_token")


def gemini_home(env: Mapping[str, str]) -> Path:
    """The directory gemini calls home: ``$GEMINI_CLI_HOME``, else ``$HOME``."""
    return Path(env.get(HOME_VAR) or env.get("HOME") or os.path.expanduser("~"))


def dotenv_candidates(cwd: Path, env: Mapping[str, str]) -> list[Path]:
    """Every ``.env`` gemini could load, in its search order."""
    found: list[Path] = []
    directory = Path(os.path.abspath(cwd))
    while True:
        found += [directory / ".gemini" / ".env", directory / ".env"]
        if directory.parent == directory:
            break
        directory = directory.parent
    home = gemini_home(env)
    found += [home / ".gemini" / ".env", home / ".env"]
    return list(dict.fromkeys(found))


def settings_files(cwd: Path, env: Mapping[str, str]) -> list[Path]:
    system = Path(env.get(SYSTEM_SETTINGS_VAR) or SYSTEM_SETTINGS)
    defaults = Path(env.get(SYSTEM_DEFAULTS_VAR) or system.parent / "system-defaults.json")
    user = gemini_home(env) / ".gemini" / "settings.json"
    workspace = Path(os.path.abspath(cwd)) / ".gemini" / "settings.json"
    return list(dict.fromkeys([defaults, user, workspace, system]))


def strip_json_comments(text: str) -> str:
    """gemini's settings are JSON with ``//`` and ``/* */`` comments."""
    out: list[str] = []
    i, n = 0, len(text)
    in_string = False
    while i < n:
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
            out.append(c)
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _load_json(path: Path, comments: bool) -> tuple[object, Found | None]:
    """The document, or the finding that says why it cannot be read; (None, None) if absent."""
    try:
        text = path.read_text(encoding="utf-8")
        return json.loads(strip_json_comments(text) if comments else text), None
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeError, ValueError, RecursionError) as exc:
        return None, Found(str(path), f"unreadable ({type(exc).__name__})", None)


def scan_settings(path: Path) -> Iterator[Found]:
    data, bad = _load_json(path, comments=True)
    if bad is not None:
        yield bad
        return
    if not isinstance(data, dict):
        return
    security = data.get("security")
    auth = security.get("auth") if isinstance(security, dict) else None
    selected = auth.get("selectedType") if isinstance(auth, dict) else None
    if isinstance(selected, str) and selected in AMBIENT_AUTH_TYPES:
        yield Found(str(path), "security.auth.selectedType", selected)


def scan_oauth_creds(path: Path) -> Iterator[Found]:
    data, bad = _load_json(path, comments=False)
    if bad is not None:
        yield bad
        return
    if not isinstance(data, dict):
        if data is not None:
            yield Found(str(path), "unreadable (not a JSON object)", None)
        return
    for name in OAUTH_FIELDS:
        value = data.get(name)
        if isinstance(value, str) and value.strip():
            yield Found(str(path), name, value)


def scan_stored_key(path: Path) -> Iterator[Found]:
    """``gemini-credentials.json`` holds an API key encrypted with a key derived
    from the host and user names: gemini can read it back, so its content is
    a credential, shown by fingerprint like any other."""
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except FileNotFoundError:
        return
    except OSError as exc:
        yield Found(str(path), f"unreadable ({type(exc).__name__})", None)
        return
    if text.strip() and text.strip() not in ("{}", "[]", "null"):
        yield Found(str(path), "(stored API key)", text)


def scan(env: Mapping[str, str], cwd: Path, is_catalogued: Callable[[str], bool]) -> list[Found]:
    """Every credential gemini could find in its files, in the child's final
    environment ``env`` and working directory ``cwd``."""
    found: list[Found] = []
    for dotenv in dotenv_candidates(cwd, env):
        found += scan_dotenv(dotenv, is_catalogued)
    gemini_dir = gemini_home(env) / ".gemini"
    found += scan_stored_key(gemini_dir / "gemini-credentials.json")
    found += scan_oauth_creds(gemini_dir / "oauth_creds.json")
    for settings in settings_files(cwd, env):
        found += scan_settings(settings)
    return found
