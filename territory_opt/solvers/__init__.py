"""Solver entry point: ``solve(problem, options) -> Solution``.

Problems with balanced hierarchy levels go to ``hierarchy.solve_top_down``, which calls this
dispatcher once per level and block. Unit-level design (contiguity, free centres, or cut-edge compactness) goes to
``districting.solve_districting``; everything else to the fixed-centre assignment model
(``assignment.solve_assignment``: HiGHS via MathOpt or CP-SAT).
Raises InfeasibleError (with plain-words reasons) or NoSolutionError. Ctrl-C ends the search
and returns the best plan so far (``solvers.clock``).
"""

from __future__ import annotations

from territory_opt.problem import AlignmentProblem
from territory_opt.solvers.base import Solution, SolveOptions, stops_on_ctrl_c

__all__ = ["Solution", "SolveOptions", "solve"]


@stops_on_ctrl_c
def solve(problem: AlignmentProblem, options: SolveOptions) -> Solution:
    """Solve an alignment problem with the engine its shape calls for; Ctrl-C returns the best
    plan so far (``base.stops_on_ctrl_c``)."""
    if problem.levels:
        from territory_opt.solvers.hierarchy import solve_top_down

        return solve_top_down(problem, options, solve)
    if problem.contiguous or problem.centers == "free" or problem.compactness == "cut_edges":
        from territory_opt.solvers.districting import solve_districting

        return solve_districting(problem, options)
    from territory_opt.solvers.assignment import solve_assignment

    return solve_assignment(problem, options)
