"""The assignment model in CP-SAT, with integer scaling.

Scaling (CP-SAT is integer-only):
* metric m is multiplied by a power of ten s_m chosen so that the mean non-zero item value
  is at least 10⁴ units, while the metric total stays ≤ 10¹³; item values are rounded, and
  the integer bounds are tightened by the worst-case rounding error of each row, so a plan
  feasible for the integer rows is feasible for the exact (float) bounds;
* costs are multiplied by a power of ten c so that the largest candidate pair cost is
  ≤ 10⁷ units (precision 1/c in the problem's cost units; exact for whole-number costs);
* soft deviations are counted in basis points (10⁻⁴) of the target, penalised at
  ``soft_penalty·10⁻⁴·c`` per point (rounded);
* the reported objective is recomputed in floating point from the plan; the bound is the
  integer bound / c minus the largest total rounding error.
Deterministic runs use ``interleave_search`` with a fixed seed and ``max_deterministic_time``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from ortools.sat.python import cp_model

from territory_opt.problem import AlignmentProblem
from territory_opt.solvers import clock
from territory_opt.solvers.assignment_highs import EngineResult
from territory_opt.solvers.assignment_model import Candidates, pair_costs

METRIC_RESOLUTION = 1e4
MAX_METRIC_TOTAL = 1e13
MAX_PAIR_COST = 1e7
BASIS_POINTS = 1e4
DEFAULT_WORKERS = 8


def power_of_ten_scale(values: np.ndarray, resolution: float, max_total: float) -> float:
    """10^p with mean(|values| > 0)·10^p ≥ resolution, unless Σ|values|·10^p would pass max_total."""
    positive = np.abs(values[values != 0])
    if positive.size == 0:
        return 1.0
    power = math.ceil(math.log10(resolution / positive.mean()))
    total = float(positive.sum())
    while total * 10.0 ** power > max_total:
        power -= 1
    return 10.0 ** power


def _cost_scale(costs: np.ndarray) -> float:
    largest = float(np.abs(costs).max(initial=0.0))
    if largest == 0:
        return 1.0
    return 10.0 ** math.floor(math.log10(MAX_PAIR_COST / largest))


@dataclass
class CpModel:
    """A built CP-SAT model and what is needed to read it back."""

    model: cp_model.CpModel
    x: list
    cand: Candidates
    cost_scale: float
    cost_slack: float                       # max total rounding error of the objective, scaled
    soft_vars: list = field(default_factory=list)   # (over, under, t, m) in basis points
    groups: dict = field(default_factory=dict)       # literal index -> (kind, t, m)


def _group_by_territory(cand: Candidates, k: int) -> list[np.ndarray]:
    order = np.argsort(cand.terr, kind="stable")
    cuts = np.searchsorted(cand.terr[order], np.arange(k + 1))
    return [order[cuts[t]:cuts[t + 1]] for t in range(k)]


def _scaled_row(values: np.ndarray, scale: float, members: np.ndarray):
    """Integer coefficients of a row and the sums of its positive / negative rounding errors."""
    exact = values[members] * scale
    rounded = np.round(exact)
    error = exact - rounded
    return rounded.astype(np.int64), float(error[error > 0].sum()), float(-error[error < 0].sum())


def _bounds(lower: float, upper: float, scale: float, pos_err: float, neg_err: float
            ) -> tuple[int, int]:
    """Integer row bounds that imply the float bounds despite rounding (tiny float slack)."""
    lo = -cp_model.INT_MAX if not np.isfinite(lower) else \
        math.ceil(lower * scale + neg_err - 1e-9 * max(1.0, abs(lower * scale)))
    hi = cp_model.INT_MAX if not np.isfinite(upper) else \
        math.floor(upper * scale - pos_err + 1e-9 * max(1.0, abs(upper * scale)))
    return lo, hi


def build_cpsat(problem: AlignmentProblem, cand: Candidates, *, assumptions: bool = False,
                locks_as_assumptions: bool = False) -> CpModel:
    """The restricted model; with ``assumptions`` every constraint group (balance of metric m
    at territory t, capacity at t, move cap, and — if ``locks_as_assumptions`` — the locks
    into each territory) is enforced by its own literal, recorded in ``groups``."""
    k = problem.n_territories
    model = cp_model.CpModel()
    x = [model.new_bool_var(f"x{p}") for p in range(cand.size)]
    for i in range(problem.n_items):
        model.add_exactly_one(x[cand.start[i]:cand.start[i + 1]])
    groups: dict = {}

    def guard(constraint, kind: str, t: int | None = None, m: int | None = None):
        if assumptions:
            literal = model.new_bool_var(f"{kind}_{t}_{m}")
            constraint.only_enforce_if(literal)
            groups[literal.index] = (kind, t, m)

    by_terr = _group_by_territory(cand, k)
    weights = np.asarray(problem.weights, float)
    soft_vars = []
    for m in range(weights.shape[1]):
        scale = power_of_ten_scale(weights[:, m], METRIC_RESOLUTION, MAX_METRIC_TOTAL)
        column = weights[cand.item, m]
        for t in range(k):
            members = by_terr[t]
            coefs, pos_err, neg_err = _scaled_row(column, scale, members)
            expr = cp_model.LinearExpr.weighted_sum([x[p] for p in members], coefs.tolist())
            lo, hi = _bounds(problem.lower[t, m], problem.upper[t, m], scale, pos_err, neg_err)
            if not problem.soft[m]:
                guard(model.add_linear_constraint(expr, lo, hi), "balance", t, m)
                continue
            unit = max(1, round(problem.targets[t, m] * scale / BASIS_POINTS))
            span = int(min(np.abs(coefs).sum() // unit + 1, cp_model.INT32_MAX))
            over, under = model.new_int_var(0, span, ""), model.new_int_var(0, span, "")
            model.add(expr - unit * over <= hi)
            model.add(expr + unit * under >= lo)
            soft_vars.append((over, under, t, m))
    if problem.capacity is not None and problem.workload is not None:
        scale = power_of_ten_scale(np.asarray(problem.workload, float), METRIC_RESOLUTION,
                                   MAX_METRIC_TOTAL)
        column = np.asarray(problem.workload, float)[cand.item]
        for t in np.flatnonzero(np.isfinite(problem.capacity)):
            coefs, pos_err, neg_err = _scaled_row(column, scale, by_terr[t])
            _, hi = _bounds(-np.inf, problem.capacity[t], scale, pos_err, neg_err)
            expr = cp_model.LinearExpr.weighted_sum([x[p] for p in by_terr[t]], coefs.tolist())
            guard(model.add(expr <= hi), "capacity", int(t))
    if problem.max_moved is not None:
        has_current = problem.current >= 0
        at_current = np.flatnonzero(has_current[cand.item]
                                    & (cand.terr == problem.current[cand.item]))
        move_weight = np.asarray(problem.move_weight, float)
        scale = power_of_ten_scale(move_weight, METRIC_RESOLUTION, MAX_METRIC_TOTAL)
        coefs, pos_err, neg_err = _scaled_row(move_weight[cand.item], scale, at_current)
        need = float(move_weight[has_current].sum() - problem.max_moved)
        lo, _ = _bounds(need, np.inf, scale, pos_err, neg_err)
        expr = cp_model.LinearExpr.weighted_sum([x[p] for p in at_current], coefs.tolist())
        guard(model.add(expr >= lo), "move_cap")
    if locks_as_assumptions:
        locked = np.flatnonzero(problem.locked >= 0)
        pairs = cand.index_of(locked, problem.locked[locked])
        for t in np.unique(problem.locked[locked]):
            chosen = pairs[problem.locked[locked] == t]
            if (chosen < 0).any():
                continue  # the lock pair is not allowed at all: precheck reports it
            guard(model.add_bool_and([x[p] for p in chosen]), "locks", int(t))

    costs = pair_costs(problem)[cand.item, cand.terr]
    cost_scale = _cost_scale(costs)
    scaled = costs * cost_scale
    rounded = np.round(scaled)
    error = np.abs(scaled - rounded)
    slack = float(np.maximum.reduceat(error, cand.start[:-1]).sum()) if cand.size else 0.0
    objective = cp_model.LinearExpr.weighted_sum(x, rounded.astype(np.int64).tolist())
    for over, under, _, m in soft_vars:
        per_point = round(problem.soft_penalty[m] / BASIS_POINTS * cost_scale)
        objective += per_point * (over + under)
    model.minimize(objective)
    return CpModel(model, x, cand, cost_scale, slack, soft_vars, groups)


class _Progress(cp_model.CpSolverSolutionCallback):
    def __init__(self, report, cost_scale: float, started: float):
        super().__init__()
        self.report, self.cost_scale, self.started = report, cost_scale, started

    def on_solution_callback(self) -> None:
        self.report({"objective": self.objective_value / self.cost_scale,
                     "bound": self.best_objective_bound / self.cost_scale,
                     "seconds": time.monotonic() - self.started, "engine": "cpsat"})


def configure(solver: cp_model.CpSolver, *, time_limit: float, seed: int, deterministic: bool,
              workers: int | None, relative_gap: float, wall_limit: float | None = None) -> None:
    """Search parameters; deterministic → interleaved search budgeted in deterministic time
    ``time_limit``, with ``wall_limit`` seconds as a wall-clock safety stop (a run cut by it
    is no longer reproducible)."""
    params = solver.parameters
    params.num_workers = workers or DEFAULT_WORKERS
    params.random_seed = seed
    params.relative_gap_limit = relative_gap
    params.log_search_progress = True
    params.log_to_stdout = False
    params.catch_sigint_signal = False  # Ctrl-C is ours (clock.wait_for); CP-SAT's handler
    # would leave SIGINT at its default afterwards, killing the process on the next Ctrl-C
    if deterministic:
        params.interleave_search = True
        params.max_deterministic_time = max(time_limit, 0.01)
        if wall_limit is not None:
            params.max_time_in_seconds = max(wall_limit, 0.01)
    else:
        params.max_time_in_seconds = max(time_limit, 0.01)


def run_cpsat(problem: AlignmentProblem, cand: Candidates, *, time_limit: float, seed: int,
              deterministic: bool, workers: int | None, relative_gap: float,
              hint: np.ndarray | None = None, progress=None, wall_limit: float | None = None,
              started: float | None = None) -> EngineResult:
    """Solve the restricted model with CP-SAT from an optional plan hint; ``progress`` gets
    every incumbent as ``{"objective", "bound", "seconds", "engine"}`` (seconds since
    ``started``, a time.monotonic() value; default: now). ``stats["wall_stopped"]``: a
    deterministic run was cut by ``wall_limit``."""
    built = build_cpsat(problem, cand)
    if hint is not None:
        chosen = np.zeros(cand.size, bool)
        chosen[cand.index_of(np.arange(problem.n_items), hint)] = True
        for p in range(cand.size):
            built.model.add_hint(built.x[p], bool(chosen[p]))
    solver = cp_model.CpSolver()
    configure(solver, time_limit=time_limit, seed=seed, deterministic=deterministic,
              workers=workers, relative_gap=relative_gap, wall_limit=wall_limit)
    lines: list[str] = []
    solver.log_callback = lines.append
    callback = _Progress(progress, built.cost_scale, started if started is not None
                         else time.monotonic()) if progress else None
    status = clock.wait_for(lambda: solver.solve(built.model, callback), stop=solver.stop_search)
    name = {cp_model.OPTIMAL: "OPTIMAL", cp_model.FEASIBLE: "FEASIBLE",
            cp_model.INFEASIBLE: "INFEASIBLE"}.get(status, "UNKNOWN")
    log = "\n".join(lines)
    hint_used = "The solution hint is complete and is feasible" in log
    stats = {"deterministic_time": solver.deterministic_time, "wall_time": solver.wall_time,
             "workers": solver.parameters.num_workers, "hint_feasible": hint_used,
             "cost_scale": built.cost_scale,
             "wall_stopped": deterministic and wall_limit is not None and name != "OPTIMAL"
             and solver.deterministic_time < time_limit
             and solver.wall_time >= 0.99 * wall_limit}
    if name in ("INFEASIBLE", "UNKNOWN"):
        return EngineResult(name, None, None, log=log, stats=stats)
    values = np.array([solver.boolean_value(v) for v in built.x], bool)
    assignment = np.empty(problem.n_items, np.int64)
    assignment[cand.item[values]] = cand.terr[values]
    bound = (solver.best_objective_bound - built.cost_slack) / built.cost_scale
    if problem.soft.any():
        bound = None  # basis-point rounding of soft deviations makes the integer bound inexact
    return EngineResult(name, assignment, bound, log=log, stats=stats)
