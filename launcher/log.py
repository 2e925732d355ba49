"""One-line diagnostics on stderr, as text or JSON lines.

Callers pass key names and fingerprints only; this module never sees a
secret value, so there is nothing here to mask. What it does neutralise
is *form*: a message can carry text the launcher did not write (a key name
a server sent, a process name, a path), and a terminal escape or an
undecodable byte in it must not reach a terminal or a JSON reader raw.
``escape`` is applied here, to every record, and by ``render`` to every
string it prints, so no call site has to remember it.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from typing import TextIO

LEVELS = {"error": 0, "warning": 1, "info": 2, "debug": 3}


def _escaped(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape): show the byte
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def escape(text: str) -> str:
    """``text`` with every non-printable character (controls, escapes, lone
    surrogates, format and separator characters but the space) written as
    a backslash escape. The result is printable, valid UTF-8 and one line;
    escaping it again changes nothing (backslashes are left alone)."""
    if text.isprintable():
        return text  # the common case costs one C-level scan
    return "".join(ch if ch.isprintable() else _escaped(ch) for ch in text)


def escape_tree(value: object) -> object:
    """Every string in a JSON-shaped document, keys included, escaped."""
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, dict):
        return {escape_tree(k): escape_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [escape_tree(v) for v in value]
    return value


class Log:
    def __init__(self, fmt: str = "text", verbosity: int = 1, stream: TextIO | None = None) -> None:
        self.fmt = fmt
        self.verbosity = verbosity
        self.stream = stream or sys.stderr

    def emit(
        self, level: str, message: str, code: str | None = None, fields: Mapping[str, object] | None = None
    ) -> None:
        if LEVELS[level] > self.verbosity:
            return
        if self.fmt == "json":
            record: dict[str, object] = {"ts": round(time.time(), 3), "level": level, "code": code, "message": message}
            record.update(fields or {})
            line = json.dumps(escape_tree(record), ensure_ascii=False)
        else:
            prefix = f"{code}: " if code else ""
            # One physical line per record, whatever the message held.
            line = escape(f"agent-launcher: {level}: {prefix}{message}")
        self.stream.write(line + "\n")
        self.stream.flush()

    def error(self, code: str, message: str, **fields: object) -> None:
        self.emit("error", message, code, fields)

    def warning(self, message: str, code: str | None = None) -> None:
        self.emit("warning", message, code)

    def info(self, message: str, **fields: object) -> None:
        self.emit("info", message, None, fields)

    def debug(self, message: str, **fields: object) -> None:
        self.emit("debug", message, None, fields)
