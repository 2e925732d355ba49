"""A stripped value under another name is that value (issues 10 and 19.4):
the launcher's token in any spelling or copy never reaches the child, and
a stripped credential copied under a name the gate does not know is
stripped too, in every scope (inherited, global, even the workspace's own
file), equal or inside a longer value, and reported by name; an agent file
that holds one refuses the launch, even when declared own. Black-box runs
of the installed launcher, against the pre-fix platform stand-in where a
platform is needed, all output grepped for the fake values."""

from __future__ import annotations

import json
from pathlib import Path

from support import (
    GITHUB_TOKEN,
    OWN_API_KEY,
    PLATFORM_OAUTH,
    WORKSPACE_TOKEN,
    base_env,
    by_key,
    exec_dump,
    platform_args,
    run_launcher,
    token_env,
    touch_command,
    write_env_file,
)

from launcher.values import fingerprint


def test_copies_of_the_stripped_platform_token_are_stripped_in_every_scope(tmp_path: Path, platform) -> None:  # type: ignore[no-untyped-def]
    workspace = write_env_file(tmp_path / "own.env", ANTHROPIC_API_KEY=OWN_API_KEY, WS_COPY=f"Bearer {PLATFORM_OAUTH}")
    globals_file = tmp_path / "global.env"
    globals_file.write_text(f"GLOBAL_COPY={PLATFORM_OAUTH}\n")
    env = token_env(CLAUDE_TOKEN_BACKUP=PLATFORM_OAUTH, lower_copy=f"  {PLATFORM_OAUTH}\n", SHORT="1")
    args = (*platform_args(platform), "--global-env-file", str(globals_file), "--env-file", workspace)

    checked = run_launcher("check", "--json", *args, "--", "true", env=env)
    assert checked.returncode == 0, checked.stderr
    keys = by_key(json.loads(checked.stdout))
    copies = {
        "CLAUDE_TOKEN_BACKUP": "inherited",
        "lower_copy": "inherited",
        "GLOBAL_COPY": "global",
        "WS_COPY": "workspace",
    }
    for key, scope in copies.items():
        assert keys[key]["action"] == "strip" and keys[key]["scope"] == scope, key
        assert keys[key]["reason"] == "holds the value of the stripped CLAUDE_CODE_OAUTH_TOKEN", key
    assert keys["ANTHROPIC_API_KEY"]["action"] == "keep"

    ran, child = exec_dump(*args, env=env)
    assert ran.returncode == 0, ran.stderr
    assert not set(copies) & child.keys(), "a copy of the stripped platform token reached the agent"
    assert child["ANTHROPIC_API_KEY"] == OWN_API_KEY
    assert child["SHORT"] == "1" and child["GITHUB_TOKEN"] == GITHUB_TOKEN, "values that copy nothing stay"
    assert PLATFORM_OAUTH not in "".join(child.values())


def test_the_tokens_copies_are_stripped_as_before(tmp_path: Path, platform) -> None:  # type: ignore[no-untyped-def]
    with platform.state.lock:
        platform.state.workspace_secrets["ANTHROPIC_API_KEY"] = OWN_API_KEY
    ran, child = exec_dump(*platform_args(platform), env=token_env(AUTH_HEADER=f"Bearer {WORKSPACE_TOKEN}"))
    assert ran.returncode == 0, ran.stderr
    assert "AUTH_HEADER" not in child


def test_an_agent_file_holding_a_stripped_value_refuses_even_declared_own(tmp_path: Path, platform) -> None:  # type: ignore[no-untyped-def]
    """Under any field: the settings env block's unknown name, a free-text
    field. Declaring it own does not make the platform's value the
    workspace's: check says which value it holds, by name."""
    home = tmp_path / "home"
    settings = home / ".claude" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"env": {"CLAUDE_TOKEN_BACKUP": PLATFORM_OAUTH}, "note": "x"}))
    workspace = write_env_file(tmp_path / "own.env", ANTHROPIC_API_KEY=OWN_API_KEY)
    env = token_env(HOME=str(home))
    ran_marker = tmp_path / "ran"
    child = touch_command(ran_marker)
    for declared in ((), ("--own-agent-file", str(settings))):
        args = (*platform_args(platform), "--env-file", workspace, "--agent", "claude-code", *declared)
        checked = run_launcher("check", "--json", *args, "--", *child, env=env)
        ran = run_launcher("exec", *args, "--", *child, env=env)
        assert checked.returncode == ran.returncode == 78, (checked.stderr, ran.stderr)
        assert "FOREIGN_AGENT_CREDENTIAL" in ran.stderr
        found = [
            (f["path"], f["field"], f["verdict"], f["fingerprint"]) for f in json.loads(checked.stdout)["agent_files"]
        ]
        assert (
            str(settings),
            "(the value of the stripped CLAUDE_CODE_OAUTH_TOKEN)",
            "foreign",
            fingerprint(PLATFORM_OAUTH),
        ) in found
        assert not ran_marker.exists(), "the agent ran"


def test_platform_managed_strips_no_copy(tmp_path: Path, platform) -> None:  # type: ignore[no-untyped-def]
    ran, child = exec_dump(
        *platform_args(platform, "platform_managed"), env=token_env(CLAUDE_TOKEN_BACKUP=PLATFORM_OAUTH)
    )
    assert ran.returncode == 0, ran.stderr
    assert child["CLAUDE_TOKEN_BACKUP"] == PLATFORM_OAUTH


def test_local_mode_without_a_platform(tmp_path: Path) -> None:
    """A global env file's stripped key, copied in the inherited environment."""
    globals_file = tmp_path / "global.env"
    globals_file.write_text(f"CLAUDE_CODE_OAUTH_TOKEN={PLATFORM_OAUTH}\n")
    workspace = write_env_file(tmp_path / "own.env", ANTHROPIC_API_KEY=OWN_API_KEY)
    ran, child = exec_dump(
        "--billing-mode", "byok", "--global-env-file", str(globals_file), "--env-file", workspace,
        env=base_env(BACKUP=PLATFORM_OAUTH),
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert "BACKUP" not in child


def test_a_json_escaped_copy_in_a_declared_file_still_refuses(tmp_path: Path, platform) -> None:  # type: ignore[no-untyped-def]
    """Attack pass: "\\u0073k-ant-..." in a JSON settings file spells the
    platform's token without its bytes; the parsed value is compared too."""
    home = tmp_path / "home"
    settings = home / ".claude" / "settings.json"
    settings.parent.mkdir(parents=True)
    escaped = "\\u00" + format(ord(PLATFORM_OAUTH[0]), "02x") + PLATFORM_OAUTH[1:]
    settings.write_text('{"env": {"ANTHROPIC_AUTH_TOKEN": "' + escaped + '"}}')
    workspace = write_env_file(tmp_path / "own.env", ANTHROPIC_API_KEY=OWN_API_KEY)
    args = (*platform_args(platform), "--env-file", workspace, "--agent", "claude-code")
    checked = run_launcher(
        "check", "--json", *args, "--own-agent-file", str(settings), "--", "true", env=token_env(HOME=str(home))
    )
    assert checked.returncode == 78, checked.stderr
    fields = [f["field"] for f in json.loads(checked.stdout)["agent_files"] if f["verdict"] == "foreign"]
    assert fields == ["(the value of the stripped CLAUDE_CODE_OAUTH_TOKEN)"]


def test_a_short_token_inside_a_longer_value_is_the_token(tmp_path: Path) -> None:
    """Attack pass: a token under 16 characters inside ``Bearer <token>``."""
    short = "FAKESECRET-tok1"
    ran, child = exec_dump(env=base_env(MOLECULE_WORKSPACE_TOKEN=short, AUTH_HDR=f"Bearer {short}"))
    assert ran.returncode == 0, ran.stderr
    assert "AUTH_HDR" not in child


# -- the launcher's token, under any name ---------------------------------------------------------


def test_launcher_variables_in_any_spelling_never_reach_the_child(box):
    env = box.env(
        **{
            "molecule_workspace_token": WORKSPACE_TOKEN,
            "MOLECULE_WORKSPACE_TOKEN ": WORKSPACE_TOKEN,
            "Molecule_Workspace_Token_File": "/configs/.auth_token",
        }
    )
    for mode in ("platform_managed", "byok"):
        result, child = box.child(
            "--billing-mode", mode, "--env-file", box.own_env_file(ANTHROPIC_API_KEY="k"), env=env
        )
        assert result.returncode == 0, result
        assert not [k for k in child if k.strip().upper().startswith("MOLECULE_WORKSPACE_TOKEN")]


def test_any_variable_holding_the_token_is_stripped_by_name(box, platform):
    platform.state.workspace_secrets.update({"WORKSPACE_AUTH_TOKEN": WORKSPACE_TOKEN, "ANTHROPIC_API_KEY": OWN_API_KEY})
    env = box.env(
        MOLECULE_WORKSPACE_TOKEN=WORKSPACE_TOKEN,
        COPY_OF_TOKEN=f" {WORKSPACE_TOKEN}\n",
        AUTH=f"Bearer {WORKSPACE_TOKEN}",
    )
    args = (*platform_args(platform, "byok"), "--agent", "generic")
    result, child = box.child(*args, env=env)
    assert result.returncode == 0, result
    assert not {"WORKSPACE_AUTH_TOKEN", "COPY_OF_TOKEN", "AUTH"} & child.keys()
    assert WORKSPACE_TOKEN not in "".join(child.values())
    _checked, report = box.check(*args, env=env)
    keys = by_key(report)
    for name in ("WORKSPACE_AUTH_TOKEN", "COPY_OF_TOKEN", "AUTH"):
        assert keys[name]["action"] == "strip" and "token" in keys[name]["reason"]


def test_in_local_mode_an_inherited_token_s_copies_go_too(box):
    env = box.env(MOLECULE_WORKSPACE_TOKEN=WORKSPACE_TOKEN, ALIAS=WORKSPACE_TOKEN, OTHER="kept")
    result, child = box.child("--agent", "generic", env=env)
    assert result.returncode == 0 and "ALIAS" not in child and child["OTHER"] == "kept"
