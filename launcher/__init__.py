"""agent-launcher: keep a platform's own LLM credentials out of BYOK agents.

``cli.main`` is the entry point: it parses the flags, ``config.resolve``
validates every flag and environment variable once into a ``Config``, and
the command runs (``exec`` and ``check`` in ``cli``, ``supervise`` and
``audit`` in their own modules). Every command gets its plan from the
pipeline in ``main`` (``build_plan``): sources (dotenv files through
``bundle``, the platform through ``fetch`` over ``transport``) → ``gate``;
then ``launch`` proves the child's environment startable and resolves the
command. ``errors`` sits beside them all; ``devserver`` is the one platform
stand-in (demos, tests, benchmarks).
"""

__version__ = "0.1.0"
