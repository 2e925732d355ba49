"""agent-launcher: keep a platform's own LLM credentials out of BYOK agents.

Pipeline, one module per stage: ``config`` → ``fetch`` / ``bundle`` →
``gate`` → ``launch``, with ``cli`` on top and ``errors`` beside them all.
"""

__version__ = "0.1.0"
