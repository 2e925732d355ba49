"""The gate's decisions (``gate.py``) are pure records: ``gate.strip`` and
``gate.judge`` decide from their inputs alone, with no filesystem, no
network and no privileges (every file the decision needs was read by
``pipeline`` before; issue 21); the ``--user`` environment (HOME, USER,
LOGNAME) is made once, there; and what they return cannot be changed
afterwards nor shows a value."""

from __future__ import annotations

import builtins
import os

import pytest
from support import MARKER, OWN_API_KEY, PLATFORM_KEY, PLATFORM_OAUTH

from launcher.catalogue import KeyKind, load_catalogue
from launcher.config import BillingMode, load_config
from launcher.gate import STRIP, Action, Decision, Source, decide, judge, strip
from launcher.pipeline import run_gate
from launcher.values import Scope


def test_strip_and_judge_need_no_filesystem(monkeypatch: pytest.MonkeyPatch) -> None:
    catalogue = load_catalogue()  # data: loaded before the filesystem goes away
    config = load_config({"billing_mode": "byok"}, {"CONFIGS_DIR": os.devnull})
    sources = [
        Source("global", {"CLAUDE_CODE_OAUTH_TOKEN": PLATFORM_OAUTH, "BACKUP": PLATFORM_OAUTH}, Scope.GLOBAL),
        Source("workspace", {"ANTHROPIC_API_KEY": OWN_API_KEY}, Scope.WORKSPACE),
    ]

    def no_io(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the gate touched the filesystem")

    for name in ("open", "stat", "lstat", "listdir", "scandir", "access"):
        monkeypatch.setattr(os, name, no_io)
    monkeypatch.setattr(builtins, "open", no_io)
    state = strip(config, sources, {"PATH": "/bin"}, catalogue)
    result = judge(config, state, catalogue)
    monkeypatch.undo()
    assert result.launches and result.usable_credentials == ("ANTHROPIC_API_KEY",)
    assert set(result.strip.removed) == {"CLAUDE_CODE_OAUTH_TOKEN", "BACKUP"}
    assert {d.key: d.action for d in result.llm_key_decisions()}["BACKUP"] is STRIP


def test_the_user_environment_is_made_once_by_the_gate() -> None:
    """With --user, HOME/USER/LOGNAME are the user's unless a source the
    operator chose sets them (an inherited /root is replaced; no passwd
    name drops the inherited USER): the one environment that the agent's
    files are read under and that the child gets, explained as the
    launcher's own."""
    from launcher.privileges import Identity

    catalogue = load_catalogue()
    config = load_config({"billing_mode": "platform_managed"}, {"CONFIGS_DIR": os.devnull})
    named = config._replace(user=Identity("agent", 10001, 10001, (10001,), "agent", "/home/agent"))
    inherited = {"HOME": "/root", "USER": "root", "LOGNAME": "root", "PATH": "/bin"}
    chosen = [Source("workspace", {"LOGNAME": "chosen"}, Scope.WORKSPACE)]
    result = judge(named, strip(named, chosen, inherited, catalogue), catalogue)
    assert {k: result.env[k] for k in ("HOME", "USER", "LOGNAME")} == {
        "HOME": "/home/agent",
        "USER": "agent",
        "LOGNAME": "chosen",
    }
    shown = {d.key: (d.scope, d.source) for d in result.decisions()}
    assert shown["HOME"] == (Scope.LAUNCHER, "launcher: --user") and shown["LOGNAME"][0] is Scope.WORKSPACE

    numeric = config._replace(user=Identity("10001", 10001, 10001, (10001,), None, None))
    result = judge(numeric, strip(numeric, [], inherited, catalogue), catalogue)
    assert result.env["HOME"] == "/" and "USER" not in result.env and "LOGNAME" not in result.env
    pristine = numeric._replace(pristine=True)
    result = judge(
        pristine, strip(pristine, [Source("f", {"HOME": "/srv"}, Scope.WORKSPACE)], {}, catalogue), catalogue
    )
    assert result.env["HOME"] == "/srv", "with --pristine every value is chosen"


def test_a_copy_the_user_environment_replaces_is_still_reported_as_a_copy() -> None:
    """An inherited USER holding the platform's token is a copy of a stripped
    value: the child gets the --user's name instead, and check still says
    that USER held the stripped credential."""
    from launcher.gate import KEEP
    from launcher.privileges import Identity

    catalogue = load_catalogue()
    config = load_config({"billing_mode": "byok"}, {"CONFIGS_DIR": os.devnull})
    config = config._replace(user=Identity("agent", 10001, 10001, (10001,), "agent", "/home/agent"))
    inherited = {"CLAUDE_CODE_OAUTH_TOKEN": PLATFORM_OAUTH, "USER": PLATFORM_OAUTH, "HOME": "/root"}
    own = [Source("workspace", {"ANTHROPIC_API_KEY": OWN_API_KEY}, Scope.WORKSPACE)]
    result = judge(config, strip(config, own, inherited, catalogue), catalogue)
    assert result.env["USER"] == "agent"
    shown = {d.key: d for d in result.decisions()}
    assert shown["USER"].action is STRIP and "stripped CLAUDE_CODE_OAUTH_TOKEN" in shown["USER"].reason
    assert shown["HOME"].action is KEEP and shown["HOME"].reason == "the --user's own, from its passwd entry"


def test_the_plan_is_immutable_and_decisions_are_records():
    catalogue = load_catalogue()
    d = decide("GOOGLE_API_KEY", Scope.GLOBAL, BillingMode.BYOK, catalogue)
    assert d == Decision(KeyKind.CREDENTIAL, Action.STRIP, d.reason) and d.action is STRIP and d.llm_key
    config = load_config({"billing_mode": "byok"}, {"CONFIGS_DIR": "/nonexistent"})
    result = run_gate(config, [Source("g", {"ANTHROPIC_API_KEY": PLATFORM_KEY}, Scope.GLOBAL)], {}, catalogue)
    assert result.code == "MISSING_BYOK_CREDENTIAL"
    with pytest.raises(AttributeError):
        result.refusal = None  # type: ignore[misc]
    assert MARKER not in repr(result) and MARKER not in repr(result.llm_key_decisions())


def test_a_blank_home_is_never_passed_on() -> None:
    """Attack pass on issue 21: node reads a blank HOME as the working
    directory, codex and the launcher's scan as the passwd entry, so the
    scan could look elsewhere than the agent. Outside platform_managed (which
    refuses on no file and strips nothing) a blank HOME is stripped:
    the agent's home is its passwd entry's (with --user, the user's), where
    its files are read."""
    from launcher.privileges import Identity

    catalogue = load_catalogue()
    config = load_config({"billing_mode": "byok"}, {"CONFIGS_DIR": os.devnull})
    own = [Source("workspace", {"ANTHROPIC_API_KEY": OWN_API_KEY, "HOME": " "}, Scope.WORKSPACE)]
    for inherited in ({"HOME": ""}, {"HOME": "/root"}):
        result = judge(config, strip(config, own, inherited, catalogue), catalogue)
        assert "HOME" not in result.env and result.launches
        shown = {d.key: d for d in result.decisions()}
        assert shown["HOME"].action is STRIP and shown["HOME"].reason.startswith("blank")
    as_user = config._replace(user=Identity("agent", 10001, 10001, (10001,), "agent", "/home/agent"))
    result = judge(as_user, strip(as_user, own, {"HOME": "/root"}, catalogue), catalogue)
    assert result.env["HOME"] == "/home/agent", "the blank choice is no choice: the user's home"
