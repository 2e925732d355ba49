"""The resident's loop (``supervise/loop.py``, the state machine) in-process,
every seam faked: the stop signal forwarded and the child's status passed
on, a rotation stopping then restarting with the new environment, failed
refreshes keeping the child and backing off, the stop timeout killing the
tree, a child that exits on its own not restarted.
"""

from __future__ import annotations

import itertools
import signal
import time
from collections.abc import Callable

from support import OWN_API_KEY, ROTATED_API_KEY

from launcher.values import fingerprint


class FakeTree:
    """A tree whose members are whatever the world says is still alive."""

    def __init__(self, world: World, leader: int) -> None:
        self.world, self.leader = world, leader

    def collect(self) -> None:
        pass

    def alive(self) -> list[int]:
        return sorted(self.world.alive)

    def kill(self) -> int:
        killed = sorted(self.world.alive)
        self.world.killed += killed
        for pid in killed:
            self.world.exit(pid, signal.SIGKILL)
        return len(killed)


class World:
    """Pretend children that obey some signals, a clock that jumps to each
    timeout, and scripted signals for the supervisor itself."""

    def __init__(self, obeys: dict[int, int] | None = None) -> None:
        self.obeys = obeys or {}  # signal -> the wait status a child exits with on it
        self.now = 0.0
        self.next_pid = 100
        self.spawned: list[dict[str, str]] = []
        self.sent: list[tuple[int, int]] = []
        self.alive: set[int] = set()
        self.killed: list[int] = []
        self.exits: list[tuple[int, int]] = []  # waiting to be reaped
        self.script: list[tuple[Callable[[], bool], int]] = []  # (when, signal to the supervisor)

    def spawn(self, path: str, argv: object, env: dict[str, str]) -> int:
        self.next_pid += 1
        self.spawned.append(dict(env))
        self.alive.add(self.next_pid)
        return self.next_pid

    def signal_group(self, pgid: int, signum: int) -> bool:
        self.sent.append((pgid, signum))
        if signum in self.obeys and pgid in self.alive:
            self.exit(pgid, self.obeys[signum])
        return True

    def exit(self, pid: int, status: int) -> None:
        self.alive.discard(pid)
        self.exits.append((pid, status))

    def reap(self) -> list[tuple[int, int]]:
        exits, self.exits = self.exits, []
        return exits

    def wait(self, timeout: float | None) -> int | None:
        if self.exits:
            return signal.SIGCHLD
        if self.script and self.script[0][0]():
            return self.script.pop(0)[1]
        assert timeout is not None, "the loop would block forever here"
        time.sleep(0.002)  # let a refresh thread finish
        self.now += timeout
        return None

    def supervisor(
        self,
        pull: Callable[[], object] | None = None,
        refresh: float | None = None,
        stop_timeout: float = 5,
        replaced: Callable[[object, object], None] = lambda old, new: None,
    ):  # type: ignore[no-untyped-def]
        """``pull``: what each refresh helper answers (or raises);
        ``replaced``: the tidy-up after a restart."""
        from launcher.launch import Startable
        from launcher.log import Log
        from launcher.supervise.handover import Options
        from launcher.supervise.loop import Supervisor

        return Supervisor(
            Startable(("agent",), {"ANTHROPIC_API_KEY": OWN_API_KEY}, "/bin/agent"),
            Options(refresh=refresh, stop_signal=signal.SIGTERM, stop_timeout=stop_timeout, subreaper=False),
            Log("text", 0),
            pull=None if pull is None else FakePull(self, pull),  # type: ignore[arg-type]
            _spawn=self.spawn,  # type: ignore[arg-type]
            _wait=self.wait,
            _reap=self.reap,
            _signal_group=self.signal_group,
            _tree=lambda leader: FakeTree(self, leader),  # type: ignore[arg-type,return-value]
            _clock=lambda: self.now,
            _random=lambda: 0.5,
            _replaced=replaced,
        )


class FakePull:
    """Refresh helpers that exit as soon as they start (pids from 900, apart
    from the children's), answering what ``answer`` returns or raises."""

    def __init__(self, world: World, answer: Callable[[], object]) -> None:
        self.world, self.answer, self.started = world, answer, 0

    def start(self, current: object) -> int:
        self.started += 1
        pid = 900 + self.started
        self.world.exits.append((pid, 0))
        return pid

    def finish(self) -> object:
        return self.answer()

    def cancel(self) -> None:
        pass


def always() -> bool:
    return True


def test_loop_sigterm_forwards_and_exits_with_the_childs_status() -> None:
    world = World(obeys={signal.SIGTERM: signal.SIGTERM})
    world.script = [(always, signal.SIGHUP), (always, signal.SIGTERM)]
    assert world.supervisor().run() == 128 + signal.SIGTERM
    assert world.sent == [(101, signal.SIGHUP), (101, signal.SIGTERM)]
    assert world.killed == []


def test_loop_rotation_stops_then_restarts_with_the_new_environment() -> None:
    from launcher.launch import Startable

    world = World(obeys={signal.SIGTERM: 3 << 8})
    rotated = Startable(("agent",), {"ANTHROPIC_API_KEY": ROTATED_API_KEY}, "/bin/agent")
    sup = world.supervisor(pull=lambda: rotated, refresh=30.0)
    world.script = [(lambda: len(world.spawned) == 2, signal.SIGTERM)]
    assert sup.run() == 3
    assert [fingerprint(env["ANTHROPIC_API_KEY"]) for env in world.spawned] == [
        fingerprint(OWN_API_KEY),
        fingerprint(ROTATED_API_KEY),
    ]
    assert world.sent == [(101, signal.SIGTERM), (102, signal.SIGTERM)]  # the stop signal, then our shutdown
    assert world.killed == []
    assert world.now >= 30.0 * 0.9  # the first pull waited for its (jittered) interval


def test_a_failed_tidy_up_after_a_restart_leaves_the_new_child_supervised() -> None:
    """What the old child used goes after a restart (``resident.retire``);
    whatever that meets (the agent owns those files), the new child stays
    supervised: stopped by the loop's own shutdown, its status returned."""
    from launcher.launch import Startable

    calls = []

    def tidy(old: object, new: object) -> None:
        calls.append((old, new))
        raise RecursionError("a tree the agent made too deep")

    world = World(obeys={signal.SIGTERM: 3 << 8})
    rotated = Startable(("agent",), {"ANTHROPIC_API_KEY": ROTATED_API_KEY}, "/bin/agent")
    sup = world.supervisor(pull=lambda: rotated, refresh=30.0, replaced=tidy)
    world.script = [(lambda: len(world.spawned) == 2, signal.SIGTERM)]
    assert sup.run() == 3
    assert len(calls) == 1 and calls[0][1] is rotated, "called once, for the restart only"
    assert world.sent[-1] == (102, signal.SIGTERM), "the new child was still the loop's to stop"


def test_loop_failed_refreshes_keep_the_child_and_back_off() -> None:
    from launcher.errors import PlatformUnavailableError

    world = World(obeys={signal.SIGTERM: signal.SIGTERM})
    pulls: list[float] = []

    def failing() -> object:
        pulls.append(world.now)
        raise PlatformUnavailableError("down")

    sup = world.supervisor(pull=failing, refresh=10.0)
    world.script = [(lambda: len(pulls) >= 5 and sup.helper is None, signal.SIGTERM)]
    assert sup.run() == 128 + signal.SIGTERM
    assert len(world.spawned) == 1 and world.sent == [(101, signal.SIGTERM)]
    # _random = 0.5: the interval, then 3/4 of 2x, 4x, 8x (the cap), 8x the interval.
    assert [round(b - a) for a, b in itertools.pairwise([0.0, *pulls])] == [10, 15, 30, 60, 60]


def test_loop_stop_timeout_kills_the_tree() -> None:
    world = World()  # the child ignores everything
    world.script = [(always, signal.SIGTERM)]
    assert world.supervisor(stop_timeout=2.0).run() == 128 + signal.SIGKILL
    assert world.killed == [101] and world.now >= 2.0


def test_loop_child_exit_is_not_restarted() -> None:
    world = World()
    world.script = [(always, -1)]
    sup = world.supervisor(pull=lambda: None, refresh=1.0)
    original = world.wait

    def wait(timeout: float | None) -> int | None:
        signum = original(timeout)
        if signum == -1:
            world.exit(101, 9 << 8)
            return None
        return signum

    sup._wait = wait
    assert sup.run() == 9
    assert len(world.spawned) == 1
