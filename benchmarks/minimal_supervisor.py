"""The floor for ``supervise``: the least a Python PID-1 supervisor does.

Spawns its command, forwards TERM/INT/HUP/QUIT/USR1/USR2 to it, reaps every
child, and exits with the command's status (128+N for signal N). What it
costs in memory and in stop latency is what any Python supervisor pays;
the launcher's ``supervise`` is measured against it in the same run.

    python benchmarks/minimal_supervisor.py COMMAND [ARGS...]
"""

import os
import signal
import sys

FORWARDED = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2}
signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED | {signal.SIGCHLD})
child = os.posix_spawnp(sys.argv[1], sys.argv[1:], os.environ, setsigmask=())
while True:
    signum = signal.sigwaitinfo(FORWARDED | {signal.SIGCHLD}).si_signo
    if signum != signal.SIGCHLD:
        os.kill(child, signum)
        continue
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
            sys.exit(128 - code if code < 0 else code)
