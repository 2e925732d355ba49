"""Command line: parse, run the pipeline, report, exit with a stable status."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Sequence

from . import __version__
from .config import DEFAULTS, Config, resolve
from .errors import ConfigError, LauncherError
from .log import Log

PROG = "agent-launcher"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse's own exit status is 2; ours for a bad flag is 64.
        if message.startswith("unrecognized arguments"):
            message += " (the agent's own command and flags go after --)"
        raise ConfigError(message)


def _common_options() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    add = common.add_argument
    # default=None everywhere: only what the user typed enters the flag layer.
    add("--platform-url", default=None, help="platform base URL (env PLATFORM_URL); unset = local mode")
    add("--workspace-id", default=None, help="workspace UUID (env WORKSPACE_ID)")
    add(
        "--token-file", default=None, help="file holding the workspace bearer token (env MOLECULE_WORKSPACE_TOKEN_FILE)"
    )
    add(
        "--billing-mode",
        default=None,
        help="platform_managed | byok | subscription | disabled (env MOLECULE_LLM_BILLING_MODE)",
    )
    add(
        "--provider",
        default=None,
        help="provider the agent must have a credential for (env MOLECULE_LLM_PROVIDER; default any)",
    )
    add(
        "--env-file",
        dest="env_files",
        action="append",
        default=None,
        metavar="PATH",
        help="workspace-scope dotenv file (repeatable)",
    )
    add(
        "--global-env-file",
        dest="global_env_files",
        action="append",
        default=None,
        metavar="PATH",
        help="global-scope dotenv file (repeatable)",
    )
    add(
        "--bypass-keys-file",
        dest="bypass_keys_files",
        action="append",
        default=None,
        metavar="PATH",
        help="extra LLM key names, one per line (repeatable)",
    )
    add(
        "--agent",
        default=None,
        metavar="NAME",
        help="claude-code | codex | gemini-cli | generic: whose credential files to check "
        "(env LAUNCHER_AGENT; default from the command's name)",
    )
    add(
        "--own-agent-file",
        dest="own_agent_files",
        action="append",
        default=None,
        metavar="PATH",
        help="an agent file whose credentials are the workspace's own (repeatable)",
    )
    add(
        "--pristine",
        action="store_true",
        default=None,
        help="the child gets only the bundle, not the inherited environment",
    )
    add(
        "--deadline",
        default=None,
        metavar="SECONDS",
        help="total budget for the platform, retries included (env LAUNCHER_DEADLINE; default 30)",
    )
    add("--max-bundle-bytes", default=None, metavar="N", help="largest response body accepted (default 1 MiB)")
    add(
        "--allow-http",
        action="store_true",
        default=None,
        help="allow plain http to a non-loopback host (env LAUNCHER_ALLOW_HTTP=1)",
    )
    add(
        "--ca-file",
        default=None,
        metavar="PATH",
        help="CA bundle for the platform's TLS certificate (env LAUNCHER_CA_FILE; SSL_CERT_FILE also honoured)",
    )
    add("--log-format", default=None, choices=("text", "json"), help="diagnostics format (env LAUNCHER_LOG_FORMAT)")
    add("-v", "--verbose", action="count", default=0, help="more diagnostics (repeatable)")
    add("-q", "--quiet", action="store_true", default=False, help="errors only")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Gate a workspace's LLM credentials, then run the agent.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    common = _common_options()
    run = commands.add_parser(
        "exec", parents=[common], help="gate, then replace this process with COMMAND (default: claude)"
    )
    run.add_argument("argv", nargs="*", metavar="COMMAND")
    check = commands.add_parser("check", parents=[common], help="gate and explain; exit with the status exec would")
    check.add_argument("--json", action="store_true", help="print the plan as JSON")
    check.add_argument("argv", nargs="*", metavar="COMMAND", help="also check that COMMAND resolves")
    supervise = commands.add_parser(
        "supervise",
        parents=[common],
        help="gate, run COMMAND as a child, forward signals, reap, follow rotation",
        description="Gate as exec does, then run COMMAND in its own session and stay its parent: forward "
        "TERM/INT/HUP/QUIT/USR1/USR2/WINCH to its process group, reap orphans, exit with its status "
        "(128+N if it died of signal N). A child that exits is not restarted: that is the orchestrator's job.",
    )
    supervise.add_argument(
        "--refresh",
        type=float,
        default=None,
        metavar="SECONDS",
        help="re-pull the bundle this often (jittered); restart the child when its environment changes. "
        "A failed pull or a refusing plan keeps the running child and backs off",
    )
    supervise.add_argument(
        "--stop-signal", default="SIGTERM", help="signal that asks the child to stop before a restart (default SIGTERM)"
    )
    supervise.add_argument(
        "--stop-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="grace before SIGKILL of every process left in the child's tree (default 10)",
    )
    supervise.add_argument(
        "--subreaper", action="store_true", help="adopt and reap orphans even when not PID 1 (PR_SET_CHILD_SUBREAPER)"
    )
    supervise.add_argument("argv", nargs="*", metavar="COMMAND")
    audit = commands.add_parser(
        "audit",
        parents=[common],
        help="find LLM keys that running processes should not hold",
        description="Judge the LLM keys in every readable process's environment against the plan: own (the "
        "workspace's kept value) or foreign. Values are never shown. Exit 1 on a foreign key unless platform_managed.",
    )
    audit.add_argument(
        "--pid",
        dest="pids",
        type=int,
        action="extend",
        nargs="+",
        default=None,
        metavar="PID",
        help="only these processes (--pid 1 2, or --pid 1 --pid 2)",
    )
    audit.add_argument("--json", action="store_true", help="print findings as JSON")
    return parser


def split_command(argv: Sequence[str]) -> tuple[list[str], list[str] | None]:
    """Everything after the first ``--`` is the child's, verbatim."""
    if "--" in argv:
        at = list(argv).index("--")
        return list(argv[:at]), list(argv[at + 1 :])
    return list(argv), None


def _cli_layer(ns: argparse.Namespace) -> dict[str, object]:
    layer = {k: v for k, v in vars(ns).items() if k in DEFAULTS and v is not None}
    # The command names the default agent; it is not a setting of its own.
    layer["command"] = tuple(getattr(ns, "argv", None) or ())
    return layer


def _log_for(ns: argparse.Namespace | None, environ: dict[str, str]) -> Log:
    fmt = getattr(ns, "log_format", None) or environ.get("LAUNCHER_LOG_FORMAT", "text")
    if fmt not in ("text", "json"):
        fmt = "text"
    verbosity = 0 if getattr(ns, "quiet", False) else 1 + getattr(ns, "verbose", 0)
    return Log(fmt, verbosity)


def _exit_on(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None, environ: dict[str, str] | None = None) -> int:
    # As a container's PID 1 the kernel drops SIGTERM unless a handler is
    # installed, so `docker stop` during a slow platform read would wait for
    # SIGKILL. exec resets handled signals, so the agent never inherits this.
    signal.signal(signal.SIGTERM, _exit_on)
    environ = dict(os.environ if environ is None else environ)
    own_argv, command = split_command(sys.argv[1:] if argv is None else argv)
    ns = None
    config: Config | None = None
    try:
        ns = build_parser().parse_args(own_argv)
        log = _log_for(ns, environ)
        if command is not None:
            ns.argv = [*ns.argv, *command]
        config = resolve(_cli_layer(ns), environ)
        for warning in config.warnings:
            log.warning(warning)
        return COMMANDS[ns.command](ns, config, environ, log)
    except LauncherError as exc:
        log = _log_for(ns, environ)
        if ns is not None and getattr(ns, "json", False):
            from .render import dumps, error_json

            print(dumps(error_json(exc, config)))
        log.error(exc.code, exc.message)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # last line of defence for secrecy
        # A traceback could quote a value; the type is enough to file a bug.
        _log_for(ns, environ).error(
            "INTERNAL_ERROR",
            f"unexpected {type(exc).__name__} (a bug: the traceback is withheld because it could quote a value)",
        )
        return LauncherError.exit_code


def _exec(ns: argparse.Namespace, config: Config, environ: dict[str, str], log: Log) -> int:
    from .launch import DEFAULT_COMMAND, exec_command, search_path_for
    from .launch import resolve as resolve_command
    from .main import build_plan, log_plan, write_agent_files

    argv = ns.argv or list(DEFAULT_COMMAND)
    plan = build_plan(config, environ, log)
    log_plan(plan, log)
    if plan.refusal is not None:
        raise plan.refusal
    write_agent_files(plan)
    path = resolve_command(argv[0], search_path_for(plan.env, environ))
    log.info(f"exec {path} with {len(plan.env)} variables")
    exec_command(argv, plan.env, path)
    return 0  # not reached


def _check(ns: argparse.Namespace, config: Config, environ: dict[str, str], log: Log) -> int:
    from .launch import resolve as resolve_command
    from .launch import search_path_for
    from .main import build_plan
    from .render import dumps, plan_json, plan_table

    plan = build_plan(config, environ, log, explain=True)
    if plan.launches and ns.argv:
        resolve_command(ns.argv[0], search_path_for(plan.env, environ))
    print(dumps(plan_json(plan, config.warnings)) if ns.json else plan_table(plan))
    if plan.refusal is not None:
        log.error(plan.refusal.code, plan.refusal.message)
    return plan.exit_code


def _supervise(ns: argparse.Namespace, config: Config, environ: dict[str, str], log: Log) -> int:
    from .supervise import run  # psutil only where it is used

    return run(ns, config, environ, log)


def _audit(ns: argparse.Namespace, config: Config, environ: dict[str, str], log: Log) -> int:
    from .audit import run

    return run(ns, config, environ, log)


Handler = Callable[[argparse.Namespace, Config, dict[str, str], Log], int]
COMMANDS: dict[str, Handler] = {"exec": _exec, "check": _check, "supervise": _supervise, "audit": _audit}
