"""Command line: parse, run the pipeline, report, exit with a stable status."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import NoReturn

from . import __version__
from .commands import REGISTRY, load
from .config import DEFAULTS, ENV_VARS, LOG_FORMATS, Config, load_config, pid
from .errors import ConfigError, LauncherError, unexpected
from .log import Log

PROG = "agent-launcher"
COMMANDS = tuple(REGISTRY)  # launcher.commands: one module per command


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse's own exit status is 2; ours for a bad flag is 64.
        if message.startswith("unrecognized arguments"):
            message += " (the agent's own command and flags go after --)"
        raise ConfigError(message)


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
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
    add("--log-format", default=None, choices=LOG_FORMATS, help="diagnostics format (env LAUNCHER_LOG_FORMAT)")
    add("-v", "--verbose", action="count", default=None, help="more diagnostics (repeatable)")
    add("-q", "--quiet", action="store_true", default=None, help="errors only")


def _add_user_option(parser: argparse.ArgumentParser) -> None:
    """The option of the commands that start the agent (not audit)."""
    parser.add_argument(
        "--user",
        default=None,
        metavar="USER[:GROUP]",
        help="run the agent as this user (names or numbers; env LAUNCHER_USER); the launcher must start as root",
    )


def _add_proxy_option(parser: argparse.ArgumentParser) -> None:
    """supervise's; exec and check accept it only to refuse it as one (64)."""
    parser.add_argument(
        "--platform-proxy",
        action="store_true",
        default=None,
        help="keep the workspace token in the launcher and serve the platform API to the child on a private "
        "loopback endpoint (env LAUNCHER_PLATFORM_PROXY=1; supervise only: see docs/platform-proxy.md)",
    )


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or with ``only``, just that command's part:
    argparse spends about 0.05 ms on each flag it is given (2.5 ms for all
    four commands) and a run needs its own command's only. ``--help`` and a
    mistyped command get the whole parser, so that they can list them all."""
    parser = _Parser(prog=PROG, description="Gate a workspace's LLM credentials, then run the agent.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMANDS if only is None else (only,):
        _ADD_COMMAND[name](commands)
    return parser


def _add_exec(commands: argparse._SubParsersAction[_Parser]) -> None:
    run = commands.add_parser("exec", help="gate, then replace this process with COMMAND (default: claude)")
    _add_common_options(run)
    _add_user_option(run)
    _add_proxy_option(run)
    run.add_argument("argv", nargs="*", metavar="COMMAND")


def _add_check(commands: argparse._SubParsersAction[_Parser]) -> None:
    check = commands.add_parser("check", help="gate and explain; exit with the status exec would")
    _add_common_options(check)
    _add_user_option(check)
    _add_proxy_option(check)
    check.add_argument("--json", action="store_true", help="print the plan as JSON")
    check.add_argument("argv", nargs="*", metavar="COMMAND", help="also check that COMMAND resolves")


def _add_supervise(commands: argparse._SubParsersAction[_Parser]) -> None:
    supervise = commands.add_parser(
        "supervise",
        help="gate, run COMMAND as a child, forward signals, reap, follow rotation",
        description="Gate as exec does, then run COMMAND in its own session and stay its parent: forward "
        "TERM/INT/HUP/QUIT/USR1/USR2/WINCH to its process group, reap orphans, exit with its status "
        "(128+N if it died of signal N). A child that exits is not restarted: that is the orchestrator's job.",
    )
    _add_common_options(supervise)
    _add_user_option(supervise)
    _add_proxy_option(supervise)
    # Values are checked by config.load_config, as every other flag's.
    supervise.add_argument(
        "--refresh",
        default=None,
        metavar="SECONDS",
        help="re-pull the bundle this often (jittered); restart the child when its environment changes. "
        "A failed pull or a refusing plan keeps the running child and backs off",
    )
    supervise.add_argument(
        "--stop-signal", default=None, help="signal that asks the child to stop before a restart (default SIGTERM)"
    )
    supervise.add_argument(
        "--stop-timeout",
        default=None,
        metavar="SECONDS",
        help="grace before SIGKILL of every process left in the child's tree (default 10)",
    )
    supervise.add_argument(
        "--subreaper",
        action="store_true",
        default=None,
        help="adopt and reap orphans even when not PID 1 (PR_SET_CHILD_SUBREAPER)",
    )
    supervise.add_argument("argv", nargs="*", metavar="COMMAND")


def _add_audit(commands: argparse._SubParsersAction[_Parser]) -> None:
    audit = commands.add_parser(
        "audit",
        help="find LLM keys that running processes should not hold",
        description="Judge the LLM keys in every readable process's environment against the plan: own (the "
        "workspace's kept value) or foreign. Values are never shown. Exit 1 on a foreign key unless platform_managed.",
    )
    _add_common_options(audit)
    audit.add_argument(
        "--pid",
        dest="pids",
        type=pid,  # config.pid: also what config.load_config applies
        action="extend",
        nargs="+",
        default=None,
        metavar="PID",
        help="only these processes (--pid 1 2, or --pid 1 --pid 2)",
    )
    audit.add_argument("--json", action="store_true", help="print findings as JSON")


_ADD_COMMAND = {"exec": _add_exec, "check": _add_check, "supervise": _add_supervise, "audit": _add_audit}


def split_command(argv: Sequence[str]) -> tuple[list[str], list[str] | None]:
    """Everything after the first ``--`` is the child's, verbatim."""
    if "--" in argv:
        at = list(argv).index("--")
        return list(argv[:at]), list(argv[at + 1 :])
    return list(argv), None


def cli_layer(ns: argparse.Namespace) -> dict[str, object]:
    layer = {k: v for k, v in vars(ns).items() if k in DEFAULTS and v is not None}
    # The command names the default agent; it is not a setting of its own.
    layer["argv"] = tuple(getattr(ns, "argv", None) or ())
    return layer


def log_for(config: Config) -> Log:
    return Log(config.log_format, config.verbosity)


def _fallback_log(ns: argparse.Namespace | None, environ: Mapping[str, str]) -> Log:
    """Only for an error raised before ``config.load_config`` returned (it may be
    the log format itself that is wrong): the best guess, so that the error
    is still reported."""
    fmt = getattr(ns, "log_format", None) or environ.get(ENV_VARS["log_format"], "text")
    fmt = fmt if fmt in LOG_FORMATS else "text"
    verbosity = 0 if getattr(ns, "quiet", None) else 1 + (getattr(ns, "verbose", None) or 0)
    return Log(fmt, verbosity)


def _exit_on(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def console() -> None:
    """The installed ``agent-launcher`` command: the only place that touches
    process-wide state before ``main`` runs."""
    # As a container's PID 1 the kernel drops SIGTERM unless a handler is
    # installed, so `docker stop` during a slow platform read would wait for
    # SIGKILL. exec resets handled signals, so the agent never inherits this.
    signal.signal(signal.SIGTERM, _exit_on)
    # Before anything reads a secret: a dumpable launcher's memory and fds
    # (and /proc/PID/environ, the token variable) are open to every process
    # of its uid. What cannot be closed from here: the moments between the
    # kernel's execve and this line, when environ holds only what our own
    # parent passed, and so already exposed in the parent (docs/security.md).
    from .privileges import make_undumpable

    try:
        make_undumpable()
    except LauncherError as exc:
        Log().error(exc.code, exc.message)
        raise SystemExit(exc.exit_code) from None
    raise SystemExit(main(sys.argv[1:], os.environ))


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    """Parse, run one command, report; the exit status. No process-wide side
    effects: callable in-process (tests do) as often as wanted."""
    environ = dict(environ)
    own_argv, command = split_command(argv)
    ns = None
    config: Config | None = None
    try:
        only = own_argv[0] if own_argv and own_argv[0] in COMMANDS else None
        ns = build_parser(only).parse_args(own_argv)
        if command is not None:
            ns.argv = [*ns.argv, *command]
        config = load_config(cli_layer(ns), environ, switch_user=ns.command != "audit")
        log = log_for(config)
        for warning in config.warnings:
            log.warning(warning)
        return dispatch(ns.command, config, environ, log)
    except LauncherError as exc:
        log = log_for(config) if config else _fallback_log(ns, environ)
        if ns is not None and getattr(ns, "json", False):
            from .render import dumps, error_json

            print(dumps(error_json(exc, config)))
        log.error(exc.code, exc.message)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # last line of defence for secrecy
        # A traceback could quote a value; the type and where it happened
        # are enough to file a bug.
        (log_for(config) if config else _fallback_log(ns, environ)).error(
            "INTERNAL_ERROR",
            f"{unexpected(exc)} (a bug; the message and traceback are withheld because they could quote a value)",
        )
        return LauncherError.exit_code


def dispatch(command: str, config: Config, environ: Mapping[str, str], log: Log) -> int:
    return load(command).run(config, environ, log)
