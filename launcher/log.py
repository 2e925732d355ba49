"""One-line diagnostics on stderr, as text or JSON lines.

Callers pass key names and fingerprints only; this module never sees a
secret value, so there is nothing here to mask.
"""

from __future__ import annotations

import json
import sys
import time
from typing import TextIO

LEVELS = {"error": 0, "warning": 1, "info": 2, "debug": 3}


class Log:
    def __init__(self, fmt: str = "text", verbosity: int = 1, stream: TextIO | None = None) -> None:
        self.fmt = fmt
        self.verbosity = verbosity
        self.stream = stream or sys.stderr

    def emit(self, level: str, message: str, code: str | None = None, **fields: object) -> None:
        if LEVELS[level] > self.verbosity:
            return
        if self.fmt == "json":
            record: dict[str, object] = {"ts": round(time.time(), 3), "level": level, "code": code, "message": message}
            record.update(fields)
            line = json.dumps(record, ensure_ascii=False)
        else:
            prefix = f"{code}: " if code else ""
            line = f"agent-launcher: {level}: {prefix}{message}"
        # One physical line per record, whatever the message held.
        self.stream.write(line.replace("\n", " ").replace("\r", " ") + "\n")
        self.stream.flush()

    def error(self, code: str, message: str, **fields: object) -> None:
        self.emit("error", message, code, **fields)

    def warning(self, message: str, code: str | None = None) -> None:
        self.emit("warning", message, code)

    def info(self, message: str, **fields: object) -> None:
        self.emit("info", message, **fields)

    def debug(self, message: str, **fields: object) -> None:
        self.emit("debug", message, **fields)
