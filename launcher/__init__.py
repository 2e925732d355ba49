"""agent-launcher: keep a platform's own LLM credentials out of BYOK agents.

The stages are the layout (docs/architecture.md draws it). ``cli.main``
parses and dispatches; ``config.load_config`` validates every flag and
environment variable once into a ``Config``; each command is a module of
``commands`` with one shape, ``run(config, environ, log) -> int``. Every
command gets its plan from ``pipeline`` (``build_plan``: sources (dotenv
files through ``envfiles``, the platform through ``platform``) → ``gate``,
which reads the agent's own files through ``agents``), and exec and
supervise their child from ``pipeline.startable`` (``launch`` proves the
environment startable and resolves the command). supervise's long-lived
parent is its own lean program, in ``supervise``. ``errors`` sits beside
them all; ``devserver`` is the one platform stand-in (demos, tests,
benchmarks).
"""

__version__ = "0.1.0"
