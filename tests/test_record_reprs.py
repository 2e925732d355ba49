"""No record that can hold a value shows it in its repr: every record with
a field that can hold one (an environment, the agent's arguments, the
token), from the gate's sources to supervise's handover, prints names and
counts only. pytest prints a failing test's locals and operands, and a log
line may format a record: neither may carry a value."""

from __future__ import annotations

import signal

from support import MARKER, PLATFORM_KEY

from launcher.agents.profiles import profile
from launcher.agents.scan import OwnFiles
from launcher.catalogue import load_catalogue
from launcher.config import load_config
from launcher.gate import Source
from launcher.launch import Startable
from launcher.pipeline import AgentContext, run_gate
from launcher.refusal import Outcome
from launcher.supervise import handover as h
from launcher.values import Scope


def test_no_record_that_can_hold_a_value_shows_it_in_its_repr(tmp_path):
    """Every record with a field that can hold a value (environments, the
    agent's arguments, the token) prints names and counts only."""
    env = {"ANTHROPIC_API_KEY": PLATFORM_KEY}
    argv = ("claude", "--settings", f'{{"apiKeyHelper": "echo {PLATFORM_KEY}"}}')
    config = load_config({"billing_mode": "byok", "argv": argv}, {"CONFIGS_DIR": "/nonexistent"})
    context = AgentContext(profile("claude-code"), tmp_path, OwnFiles(frozenset()), argv)
    source = Source("global", env, Scope.GLOBAL)
    result = run_gate(config, [source], {}, load_catalogue(), context)
    inputs = h.PullInputs({"argv": argv}, env, h.LogSettings("text", 1), ())
    endpoint = h.Endpoint("http://127.0.0.1:1", PLATFORM_KEY)
    refresh = h.RefreshRequest(inputs, 35, endpoint)
    proxy = h.ProxyRequest(inputs, 3, endpoint, "/configs/.auth_token")
    records = [
        source,
        context,
        result,
        Outcome(env, env, lambda key: Scope.GLOBAL, load_catalogue()),
        Startable(argv, env, "/usr/bin/claude"),
        inputs,
        endpoint,
        refresh,
        proxy,
        h.Handover(
            h.Options(None, signal.SIGTERM, 10.0, False),
            h.LogSettings("text", 1),
            Startable(argv, env, "/c"),
            None,
            refresh,
            proxy,
        ),
    ]
    leaked = [type(record).__name__ for record in records if MARKER in repr(record)]  # names only, never the repr
    assert not leaked, f"repr shows a value: {leaked}"
