#!/usr/bin/env python3
"""Every environment variable name (and credential/config file path) a pinned
agent CLI reads, extracted from its own installed files; checked against the
classification in ``launcher/data/inventory/``.

Usage::

    agent_inventory.py AGENT CLI_PATH            # print the extraction (JSON)
    agent_inventory.py AGENT CLI_PATH --write    # regenerate <agent>.names.json
    agent_inventory.py AGENT CLI_PATH --check    # exit 1 when it differs
    agent_inventory.py --counts                  # the counts table (README, docs)
    agent_inventory.py --problems                # classification problems, if any

AGENT is ``claude-code``, ``codex`` or ``gemini-cli``; CLI_PATH is the installed
command (``e2e/node_modules/.bin/claude`` etc.) or the file it resolves to.
How each agent is read is in docs/inventory.md. Stdlib only.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import struct
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "launcher" / "data"
INVENTORY = DATA / "inventory"
CLASSIFICATION = INVENTORY / "classification.json"
CATALOGUE = DATA / "credential_catalogue.json"

AGENTS = ("claude-code", "codex", "gemini-cli")
ALIASES = {"claude": "claude-code", "gemini": "gemini-cli"}
KINDS = ("credential", "routing", "switch", "relocation", "command", "transport", "cloud_identity", "harmless")
RISKY = tuple(k for k in KINDS if k != "harmless")

# An environment variable name as the programs spell them (a few mixed-case
# Windows names such as ComSpec exist). Names ending in "_" are prefixes the
# program scans for (npm_config_), not variables.
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Credential and configuration files: a path literal counts when it names one
# of these (whole literal, quoted in JS; an exact code-referenced literal in Rust).
PATH_RE = re.compile(
    r"(?:~/|\$HOME/|/)?(?:[\w.@-]+/)*"
    r"(?:\.aws/(?:credentials|config|sso/cache|login/cache)"
    r"|\.claude(?:\.json|/\.credentials\.json|/settings(?:\.local)?\.json|/remote/\.(?:api_key|oauth_token))?"
    r"|\.credentials\.json|\.claude\.json|managed-settings(?:\.json|\.d)"
    r"|(?:\.codex/)?(?:auth|config)\.(?:json|toml)"
    r"|\.gemini(?:/(?:settings|oauth_creds|google_accounts|mcp-oauth-tokens|installation_id)\.json)?"
    r"|oauth_creds\.json|google_accounts\.json|mcp-oauth-tokens(?:-v2)?\.json"
    r"|application_default_credentials\.json|\.config/gcloud(?:/[\w.-]+)*"
    r"|\.azure(?:/[\w.-]+)?|\.netrc|\.git-credentials|\.npmrc|\.docker/config\.json"
    r"|\.config/anthropic(?:/[\w.-]+)*|settings(?:\.local)?\.json)"
)


@dataclass(frozen=True)
class Extraction:
    agent: str
    version: str
    extracted_from: str
    method: list[str]
    names: list[str]
    paths: list[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "version": self.version,
            "extracted_from": self.extracted_from,
            "method": self.method,
            "count": len(self.names),
            "names": self.names,
            "paths": self.paths,
        }


def _is_name(name: str) -> bool:
    return bool(ENV_NAME.fullmatch(name)) and not name.endswith("_") and len(name) >= 2


def _package_root(start: Path, package_name: str) -> Path | None:
    """The directory holding package.json whose "name" is package_name, at or above start."""
    for folder in [start, *start.parents]:
        manifest = folder / "package.json"
        if manifest.is_file():
            try:
                if json.loads(manifest.read_text(encoding="utf-8")).get("name") == package_name:
                    return folder
            except (OSError, ValueError):
                continue
    return None


def _version(root: Path | None) -> str:
    if root is None:
        return "unknown"
    try:
        version = str(json.loads((root / "package.json").read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError):
        return "unknown"
    # A platform package's version names its platform ("0.171.0-linux-x64"):
    # the CLI's version is the same whichever path to it the caller gave.
    return version.removesuffix("-linux-x64")


def _is_elf(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == b"\x7fELF"


def _platform_binary(real: Path, main_package: str, platform_package: str, relative: Iterable[str]) -> Path:
    """The native binary of main_package: real itself when it is ELF, else the
    platform package's file, looked up from node_modules next to main_package."""
    if _is_elf(real):
        return real
    root = _package_root(real.parent, main_package)
    if root is None:
        raise SystemExit(f"{real}: not inside {main_package}")
    for modules in (root / "node_modules", root.parent.parent if root.parent.name.startswith("@") else root.parent):
        for rel in relative:
            for candidate in sorted((modules / platform_package).glob(rel)):
                if candidate.is_file() and _is_elf(candidate):
                    return candidate
    raise SystemExit(f"{real}: no native binary of {platform_package} found")


# ---------------------------------------------------------------- claude-code


# The env schema module: `eo(NS,{NAME:()=>id,...})` where every id is declared
# in the same module as `id=H.<kind>(...)` (H is the schema helper).
_NS_MAP = re.compile(rb"[\w$]+\([\w$]+,\{((?:[\w$]+:\(\)=>[\w$]+,?)+)\}\)")
_NS_ENTRY = re.compile(rb"([\w$]+):\(\)=>([\w$]+)")
_SCHEMA_DEF = re.compile(rb"(?<![\w$.])([\w$]+)=([\w$]+)\.(str|rawStr|bool|triBool|triBoolOr|int|enum|names)\(")
_BUN_MODULE_SEP = b"\x00// @bun @bytecode\n"

_JS_ENV = rb"(?<![\w$.])(?:process\d*|globalThis\.process|Bun)\.env"
_JS_DOT = re.compile(_JS_ENV + rb"\??\.([A-Za-z_][A-Za-z0-9_]*)(?![\w$])")
_JS_INDEX = re.compile(_JS_ENV + rb"\??\.?\[\s*[\"'`]([A-Za-z_][A-Za-z0-9_]*)[\"'`]\s*\]")
_JS_DESTRUCTURE = re.compile(rb"\{([^{}=;]{1,600})\}\s*=\s*" + _JS_ENV + rb"(?![\w$.\[])")
_JS_ENV_GET = re.compile(rb"\.env\.get\(\s*[\"']([A-Za-z_][A-Za-z0-9_]*)[\"']\s*\)")
_JS_HELPER = re.compile(
    rb"(?<![\w$.])(?:get\w*Env\w*|\w+FromEnv|getBooleanEnv)\(\s*[\"']([A-Za-z_][A-Za-z0-9_]*)[\"']\s*[,)]"
)
_JS_QUOTED_PATH = re.compile(rb"(?<=[\"'`])([~$\w./@-]{4,200})(?=[\"'`])")


def _js_reads(text: bytes) -> dict[str, set[str]]:
    """Names read through process.env (and aliases), destructuring, env.get and env helpers."""
    found: dict[str, set[str]] = {"process.env": set(), "destructuring": set(), "env.get": set(), "helper": set()}
    for match in _JS_DOT.finditer(text):
        found["process.env"].add(match.group(1).decode())
    for match in _JS_INDEX.finditer(text):
        found["process.env"].add(match.group(1).decode())
    for match in _JS_DESTRUCTURE.finditer(text):
        for part in match.group(1).decode("latin-1").split(","):
            key = part.split(":", 1)[0].split("=", 1)[0].strip().strip("\"'")
            if ENV_NAME.fullmatch(key):
                found["destructuring"].add(key)
    for match in _JS_ENV_GET.finditer(text):
        found["env.get"].add(match.group(1).decode())
    for match in _JS_HELPER.finditer(text):
        found["helper"].add(match.group(1).decode())
    return found


def _js_paths(text: bytes) -> set[str]:
    return {m.group(1).decode() for m in _JS_QUOTED_PATH.finditer(text) if PATH_RE.fullmatch(m.group(1).decode())}


def _claude_schema(module: bytes) -> set[str]:
    defs = {m.group(1): m.group(2) for m in _SCHEMA_DEF.finditer(module)}
    names: set[str] = set()
    if len(defs) < 2:
        return names
    for match in _NS_MAP.finditer(module):
        entries = _NS_ENTRY.findall(match.group(1))
        helpers = {defs.get(ident) for _, ident in entries}
        if entries and len(helpers) == 1 and None not in helpers:
            names.update(name.decode() for name, _ in entries)
    return names


def extract_claude(cli: Path) -> Extraction:
    real = cli.resolve()
    binary = _platform_binary(real, "@anthropic-ai/claude-code", "@anthropic-ai/claude-code-linux-x64", ["claude"])
    version = _version(_package_root(real.parent, "@anthropic-ai/claude-code")) or "unknown"
    if version == "unknown":
        version = _version(_package_root(binary.parent, "@anthropic-ai/claude-code-linux-x64"))
    data = binary.read_bytes()
    start = data.find(_BUN_MODULE_SEP)
    js = data[start:] if start >= 0 else data
    schema: set[str] = set()
    for module in js.split(_BUN_MODULE_SEP):
        schema |= _claude_schema(module)
    reads = _js_reads(js)
    names = schema.union(*reads.values())
    return Extraction(
        agent="claude-code",
        version=version,
        extracted_from=f"{binary.parent.name}/{binary.name} (Bun single-file executable; the embedded JS modules)",
        method=[
            "env schema: eo(NS,{NAME:()=>id}) maps whose ids are all declared in the same module as id=H.<str|rawStr"
            "|bool|triBool|triBoolOr|int|enum|names>(...) (the binary's own typed environment schema, read through"
            " a Proxy over process.env)",
            "process.env.NAME, process.env?.NAME, process.env['NAME'], Bun.env.NAME",
            "destructuring {NAME:x,...}=process.env",
            "<x>.env.get('NAME')",
        ],
        names=sorted(n for n in names if _is_name(n)),
        paths=sorted(_js_paths(js)),
    )


# ---------------------------------------------------------------------- codex


# Constants of the TLS/QUIC/HTTP/DNS/crypto, git-object, inotify and terminal
# attribute libraries linked into codex: upper-case literals that are not
# environment variables. Anything not matched here stays a candidate.
_CODEX_NOT_ENV = re.compile(
    r"(?:TLS|TLS13|SSL_(?:FORTEZZA|RSA_FIPS)|TLMSP|H3|QPACK|RSA\w*|ECDSA|ED448\w*|DHKEM|HKDF|SHA\d+|AES|CHACHA20"
    r"|GOSTR\d+|SRTP|SRPSIGNATURE|ML_DSA|PKCS\d*|X509\w*|EVP|ASN1|OSSL|SPDY|HTTP_\d+|V\d+|ISO|CHAPTER|EDITION"
    r"|SNAPSHOT|NTSKE|MAX|STREAM|CONNECTION|RECORD|CLOSE|MOVE|MOVED|DELETE|ON|NO_ERROR|NOT|UTF8)(?:_\w+)?"
    r"|ACK_FREQUENCY|AEAD_LIMIT_REACHED|AGREE_UNIX_FD|NEGOTIATE_UNIX_FD|CROSSED_OUT|\w+_UNDERLINE|\w+_BLINK"
    r"|DEFAULT_SUITE_B|DELEGATED_CREDENTIAL|DISABLED_BY_ADMIN|ECH_OUTER_EXTENSIONS|EC_POINT_FORMATS|ENCRYPT_THEN_MAC"
    r"|EXPIRATION_WARNING|EXPORT_ONLY|FINAL_SIZE_ERROR|FLOW_CONTROL_ERROR|HOME_EXPANSION_FAILURE_WARNING"
    r"|IMMEDIATE_ACK|IMPLICIT_CANONICAL_APP|INSTALLED_BY_DEFAULT|LANGUAGE_BCP47|NO_ACTIVE_WORKSPACE|NO_CONSTRAINT"
    r"|OID_FILTERS|POST_HANDSHAKE_AUTH|PRE_SHARED_KEY|Q_OVERFLOW|RENEGOTIATION_INFO|SERVER_NAME|VERSION_ID"
    r"|WORKSPACE_SETTING|AGENTS_MD|ACK_ECN|ACME_TLS|APPLICATION_\w+|ARBITRARY_\w+|CACHED_INFO|CERTIFICATE_AUTHORITIES"
    r"|CERT_TYPE|CLIENT_\w+|COMPRESS_CERTIFICATE|CRYPTO_BUFFER_EXCEEDED|DATA_BLOCKED|DNSSEC_CHAIN|DNS_OVER_TLS"
    r"|DRAFT_\w+|EARLY_DATA|ECCSI_\w+|ENCRYPTED_CLIENT_HELLO|EXTENDED_MASTER_SECRET|EXTERNAL_SESSION_ID"
    r"|HANDSHAKE_DONE|INTERNAL_ERROR|INVALID_TOKEN|KEY_SHARE|KEY_UPDATE_ERROR|NEW_CONNECTION_ID|NEW_TOKEN"
    r"|NEXT_PROTOCOL_NEGOTIATION|NO_VIABLE_PATH|OLD_APPLICATION_SETTINGS|PASSWORD_SALT|PATH_CHALLENGE"
    r"|PATH_RESPONSE|PROTOCOL_VIOLATION|PSK_KEY_EXCHANGE_MODES|PWD_CLEAR|PWD_PROTECT|QUIC_TRANSPORT_PARAMETERS"
    r"|RESET_STREAM|RETIRE_CONNECTION_ID|SEQUENCE_NUMBER_\w+|SERVER_\w+|SESSION_TICKET|SIGNATURE_\w+"
    r"|SIGNED_CERTIFICATE_TIMESTAMP|STATUS_REQUEST\w*|STOP_SENDING|STREAMS_\w+|STUN_\w+|SUPPORTED_\w+|TDS_80"
    r"|TICKET_PINNING|TOKEN_BINDING|TRANSPARENCY_INFO|TRANSPORT_PARAMETER_ERROR|TRUNCATED_HMAC|TRUSTED_CA_KEYS"
    r"|USER_MAPPING|XMPP_\w+|GIT_WORK_TREECUA|FRAME_\w+"
)
# A one-word literal is taken as a variable only when it is one of these
# well-known names (a lone upper-case word is usually an enum or a keyword).
_ONE_WORD_ENV = frozenset(
    "APPVEYOR BROWSER BUILDKITE CI CLICOLOR COLORFGBG COLORTERM COLUMNS DISPLAY EDITOR HOME HOMEDRIVE HOMEPATH"
    " LANG LANGUAGE LESS LINES LOGNAME NETLIFY OLDPWD PAGER PATH PWD SHELL SSLKEYLOGFILE STRIDER TDDIUM TEMP"
    " TERM TMP TMPDIR TMUX TRAVIS TZ USER USERPROFILE VISUAL WERCKER ZDOTDIR ZELLIJ".split()
)
_UPPER_NAME = re.compile(rb"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")
_LEA_RIP = re.compile(rb"[\x48\x4c]\x8d[\x05\x0d\x15\x1d\x25\x2d\x35\x3d](.{4})", re.S)
_MOV_IMM32 = re.compile(rb"\x41?[\xb8-\xbf](.{4})", re.S)
_IDENT_BYTE = re.compile(rb"[A-Za-z0-9_]")


def _elf_sections(data: bytes) -> dict[str, tuple[int, int, int]]:
    """name -> (address, file offset, size) for a 64-bit little-endian ELF."""
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    headers = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    names_at = headers[shstrndx][4]
    sections: dict[str, tuple[int, int, int]] = {}
    for header in headers:
        start = names_at + header[0]
        sections[data[start : data.index(b"\0", start)].decode()] = (header[3], header[4], header[5])
    return sections


def _rust_literals(data: bytes) -> Iterator[bytes]:
    """Exact string literals the code uses: a rip-relative lea into .rodata with
    a length loaded next to it (a &str built in code), or a (pointer, length)
    pair in .data.rel.ro (a static &str). A literal is kept only when it ends
    where another referenced literal starts or at a non-identifier byte, so a
    wrong length cannot cut a packed neighbour."""
    sections = _elf_sections(data)
    ro_addr, ro_off, ro_size = sections[".rodata"]
    tx_addr, tx_off, tx_size = sections[".text"]

    def rodata(address: int, length: int) -> bytes | None:
        if ro_addr <= address and address + length <= ro_addr + ro_size:
            return data[ro_off + address - ro_addr : ro_off + address - ro_addr + length]
        return None

    starts: set[int] = set()
    candidates: list[tuple[int, int]] = []
    for match in _LEA_RIP.finditer(data, tx_off, tx_off + tx_size):
        target = tx_addr + (match.end() - tx_off) + int.from_bytes(match.group(1), "little", signed=True)
        if not ro_addr <= target < ro_addr + ro_size:
            continue
        starts.add(target)
        for mov in _MOV_IMM32.finditer(data, max(tx_off, match.start() - 16), match.end() + 20):
            length = int.from_bytes(mov.group(1), "little")
            if 2 <= length <= 200:
                candidates.append((target, length))
    if ".data.rel.ro" in sections:
        _, dr_off, dr_size = sections[".data.rel.ro"]
        for offset in range(dr_off, dr_off + dr_size - 16, 8):
            pointer, length = struct.unpack_from("<QQ", data, offset)
            if ro_addr <= pointer < ro_addr + ro_size:
                starts.add(pointer)
                if 2 <= length <= 200:
                    candidates.append((pointer, length))
    for address, length in candidates:
        text = rodata(address, length)
        if text is None:
            continue
        after = rodata(address + length, 1)
        if after is None or not _IDENT_BYTE.match(after) or address + length in starts:
            yield text


def extract_codex(cli: Path) -> Extraction:
    real = cli.resolve()
    binary = _platform_binary(real, "@openai/codex", "@openai/codex-linux-x64", ["vendor/*/bin/codex"])
    version = _version(_package_root(real.parent, "@openai/codex"))
    if version == "unknown":
        version = _version(_package_root(binary.parent, "@openai/codex-linux-x64"))
    data = binary.read_bytes()
    names: set[str] = set()
    paths: set[str] = set()
    for literal in set(_rust_literals(data)):
        if _UPPER_NAME.fullmatch(literal):
            name = literal.decode()
            if ("_" in name and not _CODEX_NOT_ENV.fullmatch(name)) or name in _ONE_WORD_ENV:
                names.add(name)
        else:
            try:
                text = literal.decode()
            except UnicodeDecodeError:
                continue
            if PATH_RE.fullmatch(text):
                paths.add(text)
    return Extraction(
        agent="codex",
        version=version,
        extracted_from=f"{binary.parent.parent.name}/bin/{binary.name} (static Rust ELF)",
        method=[
            "exact string literals the code references: rip-relative lea into .rodata with the length in a"
            ' neighbouring mov (a &str argument such as std::env::var("NAME")), and (ptr, len) pairs in'
            " .data.rel.ro (static name tables); a literal must end where another referenced literal starts",
            "kept: upper-case NAME_WITH_UNDERSCORE literals that are not TLS/QUIC/DNS/crypto/inotify/terminal"
            " constants (_CODEX_NOT_ENV), and the well-known one-word variables (_ONE_WORD_ENV)",
        ],
        names=sorted(names),
        paths=sorted(paths),
    )


# ----------------------------------------------------------------- gemini-cli


def extract_gemini(cli: Path) -> Extraction:
    real = cli.resolve()
    root = _package_root(real.parent, "@google/gemini-cli")
    if root is None:
        raise SystemExit(f"{real}: not inside @google/gemini-cli")
    bundle = root / "bundle"
    names: set[str] = set()
    paths: set[str] = set()
    for path in sorted(bundle.rglob("*")):
        if path.suffix not in {".js", ".mjs", ".cjs"} or not path.is_file():
            continue
        text = path.read_bytes()
        names.update(*_js_reads(text).values())
        paths |= _js_paths(text)
    return Extraction(
        agent="gemini-cli",
        version=_version(root),
        extracted_from="bundle/**/*.{js,mjs,cjs} (esbuild bundle)",
        method=[
            "process.env.NAME, process.env?.NAME, process.env['NAME'] (also the bundler's process2.. aliases)",
            "destructuring {NAME,...}=process.env",
            "env helpers taking a literal name: getEnv('NAME'), getBooleanEnv, get*FromEnv('NAME')",
        ],
        names=sorted(n for n in names if _is_name(n)),
        paths=sorted(paths),
    )


EXTRACTORS = {"claude-code": extract_claude, "codex": extract_codex, "gemini-cli": extract_gemini}


def extract(agent: str, cli: Path) -> Extraction:
    return EXTRACTORS[ALIASES.get(agent, agent)](cli)


# ----------------------------------------------------------- checked-in files


def names_file(agent: str) -> Path:
    return INVENTORY / f"{agent}.names.json"


def render(extraction: Extraction) -> str:
    return json.dumps(extraction.as_json(), indent=1, sort_keys=False) + "\n"


def load_extraction(agent: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(names_file(agent).read_text(encoding="utf-8"))
    return loaded


def load_classification(path: Path = CLASSIFICATION) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def catalogue_kinds(path: Path = CATALOGUE) -> dict[str, str]:
    """name -> kind for every variable credential_catalogue.json classifies."""
    loaded = json.loads(path.read_text(encoding="utf-8"))
    return {str(entry["name"]): str(entry["kind"]) for entry in loaded["variables"]}


def kinds(classification: dict[str, Any] | None = None, catalogue: dict[str, str] | None = None) -> dict[str, str]:
    """name -> kind over classification.json and the catalogue (the catalogue's kind counts)."""
    classification = load_classification() if classification is None else classification
    merged = {name: str(entry["kind"]) for name, entry in classification["names"].items()}
    merged.update(catalogue_kinds() if catalogue is None else catalogue)
    return merged


def extracted_names(extractions: dict[str, dict[str, Any]] | None = None) -> dict[str, list[str]]:
    if extractions is None:
        extractions = {agent: load_extraction(agent) for agent in AGENTS}
    return {agent: list(extractions[agent]["names"]) for agent in AGENTS if agent in extractions}


def unclassified(names: Iterable[str], known: dict[str, str] | None = None) -> list[str]:
    known = kinds() if known is None else known
    return sorted({name for name in names if name not in known})


def problems(
    extractions: dict[str, dict[str, Any]] | None = None,
    classification: dict[str, Any] | None = None,
    catalogue: dict[str, str] | None = None,
) -> list[str]:
    """Every way the extraction files and the classification disagree (empty: consistent)."""
    classification = load_classification() if classification is None else classification
    catalogue = catalogue_kinds() if catalogue is None else catalogue
    per_agent = extracted_names(extractions)
    everything = set().union(*per_agent.values())
    found: list[str] = []
    sources = classification.get("sources", {})
    for name, entry in sorted(classification["names"].items()):
        kind, reason, source = entry.get("kind"), entry.get("reason"), entry.get("source")
        if kind not in KINDS:
            found.append(f"{name}: kind {kind!r} is not one of {', '.join(KINDS)}")
        if not isinstance(reason, str) or not reason.strip() or "\n" in reason:
            found.append(f"{name}: the reason must be one non-empty line")
        if source not in sources:
            found.append(f"{name}: source {source!r} is not in the sources table")
        if name in catalogue and catalogue[name] != kind:
            found.append(f"{name}: classified {kind}, but credential_catalogue.json says {catalogue[name]}")
        if name not in everything:
            found.append(f"{name}: classified, but no extraction lists it (stale)")
    known = kinds(classification, catalogue)
    for agent, names in per_agent.items():
        found.extend(f"{name}: read by {agent}, not classified" for name in unclassified(names, known))
    return found


def counts(
    extractions: dict[str, dict[str, Any]] | None = None,
    classification: dict[str, Any] | None = None,
    catalogue: dict[str, str] | None = None,
) -> str:
    """The markdown counts table: per agent, names read and how many of each kind."""
    if extractions is None:
        extractions = {agent: load_extraction(agent) for agent in AGENTS}
    known = kinds(classification, catalogue)
    per_agent = extracted_names(extractions)
    rows = [
        "| agent | version | names read | " + " | ".join(KINDS) + " | risky (not harmless) |",
        "|---|---|---:|" + "---:|" * len(KINDS) + "---:|",
    ]

    def row(label: str, version: str, names: set[str]) -> str:
        tally = Counter(known.get(name, "unclassified") for name in names)
        cells = [str(tally.get(kind, 0)) for kind in KINDS]
        risky = sum(tally.get(kind, 0) for kind in RISKY)
        return f"| {label} | {version} | {len(names)} | " + " | ".join(cells) + f" | {risky} |"

    for agent, names in per_agent.items():
        rows.append(row(agent, str(extractions[agent].get("version", "")), set(names)))
    rows.append(row("all three (distinct names)", "", set().union(*per_agent.values())))
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("agent", nargs="?", choices=[*AGENTS, *ALIASES])
    parser.add_argument("cli", nargs="?", type=Path, help="the installed CLI (e2e/node_modules/.bin/<cli>)")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="regenerate launcher/data/inventory/<agent>.names.json")
    action.add_argument("--check", action="store_true", help="exit 1 when the checked-in extraction differs")
    action.add_argument("--counts", action="store_true", help="print the counts table")
    action.add_argument("--problems", action="store_true", help="print classification problems; exit 1 if any")
    args = parser.parse_args(argv)
    if args.counts:
        print(counts())
        return 0
    if args.problems:
        found = problems()
        print("\n".join(found) if found else "consistent")
        return 1 if found else 0
    if args.agent is None or args.cli is None:
        parser.error("AGENT and CLI_PATH are required (or --counts / --problems)")
    agent = ALIASES.get(args.agent, args.agent)
    rendered = render(extract(agent, args.cli))
    if args.write:
        names_file(agent).parent.mkdir(parents=True, exist_ok=True)
        names_file(agent).write_text(rendered, encoding="utf-8")
        names = json.loads(rendered)["names"]
        new = unclassified(names) if CLASSIFICATION.exists() else names
        print(f"wrote {os.path.relpath(names_file(agent))}; unclassified: {', '.join(new) or 'none'}")
        return 0
    if args.check:
        current = names_file(agent).read_text(encoding="utf-8") if names_file(agent).exists() else ""
        if current == rendered:
            return 0
        sys.stdout.writelines(
            difflib.unified_diff(current.splitlines(True), rendered.splitlines(True), "checked-in", "binary")
        )
        return 1
    sys.stdout.write(rendered)
    return 0


if __name__ == "__main__":
    sys.exit(main())
