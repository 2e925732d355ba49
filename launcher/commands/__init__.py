"""One module per command, one shape: ``run(config, environ, log) -> int``.

``cli`` parses and dispatches through ``REGISTRY``; ``config.load_config`` has
validated every flag; ``pipeline`` takes each command from the
configuration to a plan and, for the commands that start the agent, to
something that can be started. A command's module is imported only when it
runs: local ``exec`` never loads what ``supervise`` or ``audit`` need
(psutil among them; ``tests/test_imports.py``).
"""

import importlib
from collections.abc import Mapping
from typing import Protocol

from ..config import Config
from ..log import Log


class Command(Protocol):
    def run(self, config: Config, environ: Mapping[str, str], log: Log) -> int: ...


# name -> module, relative to this package
REGISTRY = {"exec": ".exec", "check": ".check", "supervise": ".supervise", "audit": ".audit"}


def load(name: str) -> Command:
    module: Command = importlib.import_module(REGISTRY[name], __name__)  # a module with run()
    return module
