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

import enum
import os
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import psutil

from ..config import TOKEN_VAR, BillingMode, Config
from ..gate import fingerprint
from ..log import Log, escape
from ..registry import KeyCatalog, normalise


class Verdict(enum.StrEnum):
    """What a key found in a process is: the workspace's own kept value,
    anything else (foreign), or the launcher's platform token."""

    OWN = "own"
    FOREIGN = "foreign"
    TOKEN = "token"  # noqa: S105 - a verdict, not a secret


OWN, FOREIGN, TOKEN = Verdict.OWN, Verdict.FOREIGN, Verdict.TOKEN


class Finding(NamedTuple):
    pid: int
    name: str
    key: str
    verdict: Verdict
    fingerprint: str


class Report(NamedTuple):
    findings: list[Finding]
    scanned: int
    unreadable: int

    def tally(self, verdict: Verdict) -> int:
        return sum(1 for f in self.findings if f.verdict == verdict)

    def as_json(self) -> dict[str, object]:
        return {
            "findings": [f._asdict() for f in self.findings],
            "foreign": self.tally(FOREIGN),
            "unreadable": self.unreadable,
            "token": self.tally(TOKEN),
            "scanned": self.scanned,
        }


def judge(
    pid: int, name: str, environ: Mapping[str, str], catalog: KeyCatalog, own: Mapping[str, str]
) -> list[Finding]:
    """Findings for one process; ``own`` maps normalised key → fingerprint."""
    findings = []
    for key, value in environ.items():
        if not value.strip():
            continue  # an empty variable authenticates nothing
        fp = fingerprint(value)
        if catalog.is_llm_key(key):
            verdict = OWN if own.get(normalise(key)) == fp else FOREIGN
        elif key == TOKEN_VAR:
            verdict = TOKEN
        else:
            continue
        findings.append(Finding(pid, escape(name), escape(key), verdict, fp))
    return sorted(findings, key=lambda f: f.key)


def scan(pids: Sequence[int] | None, catalog: KeyCatalog, own: Mapping[str, str], log: Log) -> Report:
    me = os.getpid()
    findings: list[Finding] = []
    scanned = unreadable = 0
    for pid in psutil.pids() if pids is None else pids:
        if pid == me:
            continue
        try:
            proc = psutil.Process(pid)
            name = proc.name()
            environ = proc.environ()
        except psutil.ZombieProcess:
            continue  # exited: holds nothing any more
        except psutil.NoSuchProcess:
            if pids is not None:  # asked for by name: say so
                log.warning(f"no process {pid}")
                unreadable += 1
            continue
        except psutil.AccessDenied:
            unreadable += 1
            continue
        scanned += 1
        findings += judge(pid, name, environ, catalog, own)
    return Report(findings, scanned, unreadable)


def table(report: Report, mode: BillingMode, status: int) -> str:
    header = ("PID", "NAME", "KEY", "FINGERPRINT", "VERDICT")
    rows = [(str(f.pid), f.name, f.key, f.fingerprint, f.verdict.value) for f in report.findings]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]
    lines.append("")
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
    own = {normalise(k): fp for k, fp in plan.kept_fingerprints().items()}
    report = scan(config.pids, plan.catalog, own, log)
    # platform_managed: the platform routes LLM traffic, a found key is news, not a breach.
    status = 1 if plan.billing_mode is not BillingMode.PLATFORM_MANAGED and report.tally(FOREIGN) else 0
    print(dumps(report.as_json()) if config.json else table(report, plan.billing_mode, status))
    return status
