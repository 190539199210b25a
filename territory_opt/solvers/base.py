"""What every solver engine returns, and the options every engine accepts."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from territory_opt.errors import NoSolutionError
from territory_opt.solvers import clock

STATUSES = ("OPTIMAL", "FEASIBLE", "INFEASIBLE", "UNKNOWN")


@dataclass
class SolveOptions:
    time_limit: float = 60.0            # seconds (wall), or deterministic seconds if deterministic
    seed: int = 0
    deterministic: bool = False         # same inputs + seed -> identical plan
    engine: str = "auto"                # auto | cpsat | highs | local
    workers: int | None = None          # solver threads: CP-SAT workers, large-engine LNS threads
    relative_gap: float = 1e-4
    candidates: int | None = None       # nearest territories kept per item (None = engine default)
    # progress(report): "seconds", "engine" and "phase" always, "bound" once known,
    # "objective" once a feasible plan exists (top-down runs add "stage")
    progress: Callable[[dict], None] | None = None


@dataclass
class Solution:
    """A plan for an AlignmentProblem, with honest quality figures.

    ``status`` is OPTIMAL only when the engine proved it; a plan stopped by the
    time limit is FEASIBLE with its gap = (objective - bound) / max(|objective|, 1e-9).
    """

    assignment: np.ndarray              # (n,) territory index per item
    status: str
    objective: float | None
    bound: float | None
    gap: float | None
    solve_seconds: float
    engine: str
    centers: np.ndarray | None = None   # (k,) chosen centre item per territory (free centres)
    log: str = ""
    stats: dict = field(default_factory=dict)


def stops_on_ctrl_c(solve_one: Callable) -> Callable:
    """Decorate a ``solve(problem, options) -> Solution`` entry point: Ctrl-C during the
    outermost such call ends the search, and the best plan so far comes back with
    ``clock.INTERRUPTED_NOTE`` among its notes (``clock.stopping_on_interrupt``)."""

    @functools.wraps(solve_one)
    def solve(problem, options: SolveOptions | None = None) -> Solution:
        with clock.stopping_on_interrupt() as outermost:
            try:
                solution = solve_one(problem, options or SolveOptions())
            except NoSolutionError:
                if outermost and clock.interrupted():
                    raise NoSolutionError("interrupted (Ctrl-C) before any plan was found") \
                        from None
                raise
            if outermost and clock.interrupted():
                solution.stats.setdefault("notes", []).append(clock.INTERRUPTED_NOTE)
        return solution

    return solve
