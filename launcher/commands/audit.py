"""``audit``: which running processes hold LLM keys they should not.

The plan says which value of each LLM key is the workspace's own (a kept
value's fingerprint); every other value found in a process's environment
is ``foreign``. Values are read, hashed and dropped: output carries pid,
process name, key, fingerprint and verdict only.

Beyond the issue's two verdicts, the launcher's own platform token
(``MOLECULE_WORKSPACE_TOKEN``) held by any process but this audit is
reported as ``token``: with it an agent could read every secret the gate
strips. It is reported, not counted as foreign, and does not change the
exit status. A launcher (a ``supervise`` parent) holding it is reported
too, on purpose: nothing a process shows about itself -- argv[0], its
command line, even /proc/PID/exe resolving to the same interpreter --
tells a launcher from an agent that imitates one, and a finding an
operator can explain costs less than one an agent can hide.

Process names and key names are whatever a process chose: they are
escaped (``log.escape``) before they reach the table or the JSON.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import psutil

from ..agents.codex import CODEX_HOME_VAR
from ..catalogue import KeyCatalogue, normalise
from ..config import TOKEN_VAR, BillingMode, Config
from ..gate import GatePlan, stripped_values
from ..log import Log, escape
from ..values import StrippedValues, Verdict, fingerprint

OWN, FOREIGN, TOKEN = Verdict.OWN, Verdict.FOREIGN, Verdict.TOKEN
FOUND_FOREIGN = 1  # a non-platform workspace: some process holds a foreign value
UNPROVEN = 2  # nothing foreign among what could be read, but some processes could not be


class Finding(NamedTuple):
    pid: int
    name: str
    key: str
    verdict: Verdict
    fingerprint: str


class Report(NamedTuple):
    findings: list[Finding]
    scanned: int
    unreadable_pids: list[int]

    @property
    def unreadable(self) -> int:
        return len(self.unreadable_pids)

    def tally(self, verdict: Verdict) -> int:
        return sum(1 for f in self.findings if f.verdict == verdict)

    def as_json(self) -> dict[str, object]:
        return {
            "findings": [f._asdict() for f in self.findings],
            "foreign": self.tally(FOREIGN),
            "unreadable": self.unreadable,
            "unreadable_pids": self.unreadable_pids,
            "token": self.tally(TOKEN),
            "scanned": self.scanned,
        }


class Judge(NamedTuple):
    """What the plan says a held value is."""

    catalogue: KeyCatalogue
    own: Mapping[str, str]  # normalised LLM key -> the kept value's fingerprint
    stripped: StrippedValues
    own_home: Callable[[str], bool]  # is this CODEX_HOME the launcher's own, as planned?

    @classmethod
    def of(cls, plan: GatePlan, config: Config) -> Judge:
        own = {normalise(k): fp for k, fp in plan.kept_fingerprints().items()}
        return cls(plan.catalogue, own, stripped_values(config, plan.strip.removed, plan.catalogue), _own_home(plan))

    def verdict(self, key: str, value: str) -> Verdict | None:
        original = self.stripped.copy_of(value)
        if normalise(key) == TOKEN_VAR or (original is not None and normalise(original) == TOKEN_VAR):
            return TOKEN
        if original is not None:
            return FOREIGN
        if not self.catalogue.is_llm_key(key):
            return None
        if normalise(key) == CODEX_HOME_VAR and self.own_home(value):
            return OWN
        return OWN if self.own.get(normalise(key)) == fingerprint(value) else FOREIGN


def _own_home(plan: GatePlan) -> Callable[[str], bool]:
    pending = plan.files.codex_auth
    if pending is None:
        return lambda _path: False
    from ..agents.codex import image_config, same_content

    uid = pending.owner[0] if pending.owner else os.getuid()
    config = image_config(pending.image_home)
    return lambda path: same_content(Path(path), pending.codex_home.parent, uid, pending.value, config)


def judge(pid: int, name: str, environ: Mapping[str, str] | Sequence[tuple[str, str]], judge: Judge) -> list[Finding]:
    """Findings for one process: every entry, a name given twice included."""
    findings = []
    for key, value in environ.items() if isinstance(environ, Mapping) else environ:
        if not value.strip():
            continue  # an empty variable authenticates nothing
        verdict = judge.verdict(key, value)
        if verdict is not None:
            findings.append(Finding(pid, escape(name), escape(key), verdict, fingerprint(value)))
    return sorted(findings, key=lambda f: f.key)


def environ_of(pid: int) -> list[tuple[str, str]]:
    """Every ``NAME=value`` entry of ``/proc/PID/environ``, in order,
    duplicates and all: psutil's parser stops at the first empty entry and
    keeps the last of two equal names, while libc's ``getenv`` (and node)
    take the first, so an agent could hide a value from it."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except PermissionError:
        raise psutil.AccessDenied(pid) from None
    except (FileNotFoundError, ProcessLookupError):
        raise psutil.NoSuchProcess(pid) from None
    entries = []
    for entry in raw.split(b"\0"):
        name, eq, value = entry.partition(b"=")
        if eq:
            entries.append((name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape")))
    return entries


def scan_processes(pids: Sequence[int] | None, by: Judge, log: Log) -> Report:
    me = os.getpid()
    findings: list[Finding] = []
    scanned = 0
    unreadable: list[int] = []
    for pid in psutil.pids() if pids is None else pids:
        if pid == me:
            continue
        try:
            proc = psutil.Process(pid)
            name = proc.name()
            environ = environ_of(pid)
        except psutil.ZombieProcess:
            continue  # exited: holds nothing any more
        except psutil.NoSuchProcess:
            if pids is not None:  # asked for by name: say so
                log.warning(f"no process {pid}")
                unreadable.append(pid)
            continue
        except psutil.AccessDenied:
            unreadable.append(pid)
            continue
        scanned += 1
        findings += judge(pid, name, environ, by)
    return Report(findings, scanned, unreadable)


def table(report: Report, mode: BillingMode, status: int) -> str:
    from ..render import columns

    header = ("PID", "NAME", "KEY", "FINGERPRINT", "VERDICT")
    rows = [(str(f.pid), f.name, f.key, f.fingerprint, f.verdict.value) for f in report.findings]
    lines = [*columns(header, rows), ""]
    if report.unreadable_pids:
        shown = ", ".join(str(p) for p in report.unreadable_pids[:20])
        more = f" and {report.unreadable - 20} more" if report.unreadable > 20 else ""
        lines.append(
            f"not proven clean: the environment of {report.unreadable} process(es) could not be read ({shown}{more}); "
            "run audit as root with CAP_SYS_PTRACE, or as their uid"
        )
    lines.append(
        f"{len(report.findings)} finding(s) in {report.scanned} process(es): {report.tally(FOREIGN)} foreign, "
        f"{report.tally(OWN)} own, {report.tally(TOKEN)} token; {report.unreadable} unreadable "
        f"(billing mode {mode.value}: exit {status})"
    )
    return "\n".join(lines)


def run(config: Config, environ: Mapping[str, str], log: Log) -> int:
    from ..pipeline import build_plan
    from ..render import dumps

    plan = build_plan(config, environ, log)
    if plan.refusal is not None:  # audit still judges: nothing is own, everything found is foreign
        log.info(f"the plan would refuse ({plan.refusal.code}); every LLM key found counts as foreign")
    report = scan_processes(config.pids, Judge.of(plan, config), log)
    status = exit_status(report, plan.billing_mode)
    print(dumps(report.as_json()) if config.json else table(report, plan.billing_mode, status))
    return status


def exit_status(report: Report, mode: BillingMode) -> int:
    """1 on a foreign value, else 2 when a process could not be read, else 0.
    platform_managed: the platform routes LLM traffic, a found key is news,
    not a breach (0)."""
    if mode is BillingMode.PLATFORM_MANAGED:
        return 0
    if report.tally(FOREIGN):
        return FOUND_FOREIGN
    return UNPROVEN if report.unreadable else 0
