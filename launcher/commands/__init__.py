"""One module per command, one shape: ``run(config, environ, log) -> int``.

``cli`` parses and dispatches; ``config.resolve`` has validated every flag;
``pipeline`` takes each command from the configuration to a plan and, for
the commands that start the agent, to something that can be started.
"""
