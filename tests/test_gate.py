"""The gate is pure (issue 21): ``gate.strip`` and ``gate.judge`` decide
from their inputs alone, with no filesystem, no network and no privileges:
every file the decision needs was read by ``pipeline`` before."""

from __future__ import annotations

import builtins
import os

import pytest
from support import OWN_API_KEY, PLATFORM_OAUTH

from launcher.catalogue import load_catalogue
from launcher.config import load_config
from launcher.gate import STRIP, Source, judge, strip
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
    assert set(result.stripped) == {"CLAUDE_CODE_OAUTH_TOKEN", "BACKUP"}
    assert {d.key: d.action for d in result.llm_key_decisions()}["BACKUP"] is STRIP
