"""What each agent reads credentials from: its profile (``profiles``, from
``data/agents``), where its files are (``paths``), reading them and finding
the credentials (``scan``), and codex's auth.json (``codex``)."""
