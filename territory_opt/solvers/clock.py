"""Search time for the unit-level engines: the wall clock, or counted work when deterministic.

A deterministic run (``SolveOptions.deterministic``) must give the same plan for the same inputs
and seed on any machine and under any load, so its phases are budgeted in *work seconds*
instead of wall seconds: every search step adds a fixed nominal cost (``visits``; the rates
below were set on the benchmark machine so that a work second is roughly a wall second there),
building a model adds a cost by its size (``built``), HiGHS gets a node limit (``node_limit``;
an LP an iteration limit, and no start when it cannot fit: ``fits``) instead of a time
limit. Steps run side by side (the large engine's LNS batches) each count on their own clock
(``fork``), and the run pays for their makespan (``join``), so neither the order in which they
finish nor the number of cores changes the plan. The wall clock then only guards a safety limit
(``SAFETY_FACTOR`` × the limit + ``SAFETY_SECONDS``); a run that reaches it says so, since a
re-run may differ.

Solvers read the clock of the run they belong to (``now``, ``visits``); ``running`` installs it.
Wall-clock runs need nothing: the default clock is the wall clock.

Ctrl-C (``stopping_on_interrupt``, installed once per solve) moves every clock to +∞: each
phase stops at its next check of the clock and the solve returns its best plan so far. Long
solver calls run in a worker thread (``wait_for``) so that the main thread sees Ctrl-C at once:
a CP-SAT search is stopped; a HiGHS call still ends at its own limit (HiGHS through MathOpt
ignores interrupters), and the user is told so. A second Ctrl-C aborts (KeyboardInterrupt).
"""

from __future__ import annotations

import contextvars
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

SAFETY_FACTOR = 4.0      # deterministic runs: wall-clock safety limit = factor × limit + seconds
SAFETY_SECONDS = 60.0
SAFETY_NOTE = "the deterministic run hit its wall-clock safety limit; a re-run may differ"
INTERRUPTED_NOTE = "interrupted (Ctrl-C): the best plan found so far, with the bound known then"
STOPPING_MESSAGE = ("Ctrl-C: stopping at the next check, keeping the best plan so far "
                    "(Ctrl-C again aborts)")
# Work rates of a deterministic run, measured on the benchmark machine (2 cores, see
# benchmarks/README.md). HiGHS has no limit on a MIP's total simplex iterations, so a MIP's
# budget becomes a node limit, while its work is counted by simplex iterations (2,500–4,500 per
# second on the county models). Its nodes per second fall with the square of the model's size
# s = variables + rows: NM (s = 640) 196, ME (2,190) 18.6, WV's flow model (13,080) 0.57, OK's
# (14,709) 0.47, i.e. NODE_RATE / s² with NODE_RATE ≈ 1e8. Python search loops count unit visits
# (one unit looked at by a move, a split, a knapsack or a search step).
NODE_RATE = 1.0e8
ITERATIONS_PER_SECOND = 4.0e3
VISITS_PER_SECOND = 2.0e5
# Building a MathOpt model in Python: variables + 4 × rows per second (measured 5.5e4 on the
# AMD EPYC machine, on a 12 × 12 grid's Hess model, 4.8 s, and Kansas's, 2.7 s).
MODEL_TERMS_PER_SECOND = 5.5e4


def safety_deadline(started: float, time_limit: float) -> float:
    """Wall-clock (time.monotonic) end of a deterministic run started at ``started``."""
    return started + SAFETY_FACTOR * time_limit + SAFETY_SECONDS


class Clock:
    """``now()`` is wall time, or the work seconds spent so far when deterministic."""

    def __init__(self, deterministic: bool = False, time_limit: float = 0.0):
        self.deterministic = deterministic
        self.work = 0.0
        self.safety = safety_deadline(time.monotonic(), time_limit)
        self.safety_hit = False

    def now(self) -> float:
        if _INTERRUPT.requested:
            return math.inf
        return self.work if self.deterministic else time.monotonic()

    def spend(self, seconds: float) -> None:
        if self.deterministic:
            self.work += seconds

    def fork(self) -> Clock:
        """A clock for one of several steps run side by side: its own work count from 0 and
        this clock's safety limit."""
        step = Clock(self.deterministic)
        step.safety = self.safety
        return step

    def join(self, steps: list[Clock], workers: int) -> None:
        """Pay for steps run on ``workers`` threads on ``fork``ed clocks, in list order, each
        by the thread free first: the makespan of that schedule."""
        ends = [0.0] * workers
        for step in steps:
            ends[ends.index(min(ends))] += step.work
        self.spend(max(ends))
        self.safety_hit |= any(step.safety_hit for step in steps)

    def wall_left(self) -> float:
        """Wall seconds a deterministic run may still use (its safety limit)."""
        return max(self.safety - time.monotonic(), 0.0)


_WALL = Clock()
_current: contextvars.ContextVar[Clock] = contextvars.ContextVar("clock", default=_WALL)


def current() -> Clock:
    return _current.get()


def now() -> float:
    """Seconds on the current run's clock (compare with deadlines taken from ``now``)."""
    return _current.get().now()


def visits(count: float) -> None:
    """Count ``count`` unit visits of a search loop."""
    _current.get().spend(count / VISITS_PER_SECOND)


def built(variables: int, rows: int) -> None:
    """Count the building of a model with ``variables`` and ``rows``."""
    _current.get().spend((variables + 4 * rows) / MODEL_TERMS_PER_SECOND)


def fits(variables: int, seconds: float, building: bool = False) -> bool:
    """Whether an LP (a MIP's root) with ``variables``, and its model first when ``building``,
    fits in ``seconds`` of a deterministic run, at one simplex iteration (and one model term)
    per variable at least; always on the wall clock, where HiGHS's time limit cuts the root."""
    per_variable = 1 / ITERATIONS_PER_SECOND + (1 / MODEL_TERMS_PER_SECOND if building else 0.0)
    return not deterministic() or variables * per_variable <= seconds


def node_limit(seconds: float, size: int) -> int:
    """Branch-and-bound nodes for ``seconds`` of a MIP with ``size`` variables + rows."""
    return max(1, int(seconds * NODE_RATE / max(size, 1) ** 2))


def deterministic() -> bool:
    return _current.get().deterministic


@contextmanager
def running(clock: Clock) -> Iterator[Clock]:
    """Make ``clock`` the current run's clock inside the block."""
    token = _current.set(clock)
    try:
        yield clock
    finally:
        _current.reset(token)


class _Interrupt:
    """The process's Ctrl-C state while a solve runs (signal handlers run in the main thread)."""

    installed = False
    requested = False
    stop: Callable[[], None] | None = None  # ends the solver call under way, if it can
    waiting = ""                             # what that call is, said on the first Ctrl-C


_INTERRUPT = _Interrupt()
T = TypeVar("T")


def interrupted() -> bool:
    """Ctrl-C was pressed during the solve under way."""
    return _INTERRUPT.requested


@contextmanager
def stopping_on_interrupt() -> Iterator[bool]:
    """Inside the block, Ctrl-C (SIGINT) requests a stop instead of raising KeyboardInterrupt;
    a second one raises it. Yields whether this block installed the handler (the outermost
    solve, in the main thread); nested blocks, other threads and a process that ignores SIGINT
    (e.g. a background job of a shell script) change nothing."""
    if _INTERRUPT.installed or threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        yield False
        return

    def interrupt(signum, frame) -> None:
        if _INTERRUPT.requested:
            raise KeyboardInterrupt
        _INTERRUPT.requested = True
        print(f"\n{STOPPING_MESSAGE}{_INTERRUPT.waiting}", file=sys.stderr, flush=True)
        if _INTERRUPT.stop is not None:
            _INTERRUPT.stop()

    _INTERRUPT.installed, _INTERRUPT.requested = True, False
    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        yield True
    finally:
        signal.signal(signal.SIGINT, previous)
        _INTERRUPT.installed = _INTERRUPT.requested = False  # later work runs on a live clock


def wait_for(call: Callable[[], T], stop: Callable[[], None] | None = None,
             limit: float | None = None) -> T:
    """``call()``, a long solver call in native code, run in a worker thread (in this context)
    while the main thread waits, so that Ctrl-C is handled at once: ``stop()`` ends the call
    early (CP-SAT's ``stop_search``); without it the call runs to its own ``limit`` (seconds),
    and the first Ctrl-C says so; after a second one (KeyboardInterrupt) the call may still be
    running, so a process that then exits should leave by ``os._exit`` (the CLI does).
    Outside a solve's Ctrl-C handling: just ``call()``."""
    if not _INTERRUPT.installed or threading.current_thread() is not threading.main_thread():
        return call()
    context, outcome = contextvars.copy_context(), {}

    def work() -> None:
        try:
            outcome["value"] = context.run(call)
        except BaseException as error:  # noqa: BLE001 - re-raised in the waiting thread
            outcome["error"] = error

    _INTERRUPT.stop = stop
    _INTERRUPT.waiting = "" if stop is not None else (
        "; the solver call under way cannot be interrupted and ends by its own limit"
        + ("" if limit is None else f" (at most {limit:.0f} s)"))
    worker = threading.Thread(target=work, name="territory-opt solver call", daemon=True)
    try:
        worker.start()
        while worker.is_alive():
            worker.join(0.1)
    finally:
        _INTERRUPT.stop, _INTERRUPT.waiting = None, ""
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
