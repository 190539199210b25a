"""The assignment model as a MathOpt ModelProto, solved by HiGHS (LP relaxation and MIP).

HiGHS is called through MathOpt only (pywraplp's HiGHS loses the incumbent on time limits).
The proto is built straight from numpy arrays (no per-variable Python objects), so 10⁶
candidate pairs build in about a second. Threads cannot be set for HiGHS via MathOpt.

Columns: x per candidate pair (binary, or [0, 1] for the LP), then for every soft metric
and territory an ``over`` and an ``under`` deviation (≥ 0, in metric units).
Rows: one Σ_t x = 1 per item; per (t, m) hard: lower ≤ load ≤ upper; soft: load − over ≤
upper and load + under ≥ lower; capacity: workload load ≤ capacity; move cap:
Σ move_weight·x[i, current] ≥ Σ move_weight (items with a current) − max_moved.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from ortools.math_opt import model_parameters_pb2, model_pb2, result_pb2
from ortools.math_opt.core.python import solver as mathopt_solver
from ortools.math_opt.python import mathopt

from territory_opt.problem import AlignmentProblem
from territory_opt.solvers import clock
from territory_opt.solvers.assignment_model import Candidates, Multipliers, pair_costs

_FEASIBLE = 2  # SolutionStatusProto.SOLUTION_STATUS_FEASIBLE
_AT_LOWER = 2  # BasisStatusProto.BASIS_STATUS_AT_LOWER_BOUND
ELASTIC_FACTOR = 10.0
_REASON = result_pb2.TerminationReasonProto
# a node line of HiGHS's MIP log: [Src] Proc. InQueue Leaves Expl.% BestBound BestSol Gap …
_BB_LINE = re.compile(r"^\s*[A-Za-z]?\s+\d+\S*\s+\d+\S*\s+\d+\S*\s+[\d.]+%\s+(\S+)\s+(\S+)\s")


@dataclass
class EngineResult:
    """What one engine run produced on the candidate-restricted model.

    ``bound`` is a lower bound for the restricted model only (valid for the whole problem
    when the candidates are complete). ``values`` are the pair values (LP) when asked for.
    """

    status: str                       # OPTIMAL | FEASIBLE | INFEASIBLE | UNKNOWN
    assignment: np.ndarray | None
    bound: float | None
    log: str = ""
    values: np.ndarray | None = None
    multipliers: Multipliers | None = None
    stats: dict = field(default_factory=dict)
    basis: LpBasis | None = None


@dataclass
class LpBasis:
    """An LP basis keyed by candidate pair, to warm-start the LP after pricing adds pairs."""

    pair_key: np.ndarray      # item * k + terr of each pair column
    pair_status: np.ndarray   # BasisStatusProto value per pair column
    other_status: np.ndarray  # the soft deviation columns, in proto order
    row_status: np.ndarray


@dataclass
class _Rows:
    """Row layout of the proto, to map duals back to constraints."""

    hard: dict[int, int] = field(default_factory=dict)     # metric -> first row of its k rows
    soft_up: dict[int, int] = field(default_factory=dict)
    soft_lo: dict[int, int] = field(default_factory=dict)
    capacity: np.ndarray | None = None                     # row per capacitated territory
    capacity_terr: np.ndarray | None = None
    move: int | None = None


def _extend(repeated, values) -> None:
    repeated.extend(np.asarray(values).tolist())


def elastic_penalty(problem: AlignmentProblem, cand: Candidates) -> float:
    """Penalty per unit of fractional deviation for hard rows made elastic in the LP:
    ``ELASTIC_FACTOR`` × Σ_i (the item's most expensive candidate), so any deviation costs
    more than every candidate plan."""
    costs = pair_costs(problem)[cand.item, cand.terr]
    worst = np.maximum.reduceat(costs, cand.start[:-1]) if cand.size else np.zeros(0)
    return ELASTIC_FACTOR * max(float(np.abs(worst).sum()), 1.0)


def build_proto(problem: AlignmentProblem, cand: Candidates, integer: bool,
                elastic: float | None = None) -> tuple[model_pb2.ModelProto, _Rows, int]:
    """The model proto, its row layout, and the number of columns. With ``elastic``, hard
    balance rows get penalised over/under columns like soft ones (penalty ``elastic``), so a
    restricted LP is never infeasible and its duals can price in the pairs it lacks."""
    n, k = problem.n_items, problem.n_territories
    weights = np.asarray(problem.weights, float)
    penalty = np.where(problem.soft, problem.soft_penalty, elastic or 0.0)
    soft = np.flatnonzero(np.asarray(problem.soft, bool) | (elastic is not None))
    n_pairs = cand.size
    n_cols = n_pairs + 2 * k * len(soft)
    proto = model_pb2.ModelProto()
    var = proto.variables
    _extend(var.ids, np.arange(n_cols))
    _extend(var.lower_bounds, np.zeros(n_cols))
    upper = np.full(n_cols, np.inf)
    upper[:n_pairs] = 1.0
    _extend(var.upper_bounds, upper)
    var.integers.extend([integer] * n_pairs + [False] * (n_cols - n_pairs))
    var.names.extend([""] * n_cols)
    coefficients = np.concatenate([
        pair_costs(problem)[cand.item, cand.terr],
        *[np.tile(penalty[m] / np.maximum(problem.targets[:, m], 1e-12), 2)
          for m in soft]])
    proto.objective.maximize = False
    _extend(proto.objective.linear_coefficients.ids, np.arange(n_cols))
    _extend(proto.objective.linear_coefficients.values, coefficients)

    rows_lb, rows_ub, entries = [np.ones(n)], [np.ones(n)], [(cand.item, np.arange(n_pairs),
                                                             np.ones(n_pairs))]
    layout = _Rows()
    next_row = n
    pair_cols = np.arange(n_pairs)

    def add_rows(lb, ub, r, c, v) -> int:
        nonlocal next_row
        first = next_row
        rows_lb.append(lb)
        rows_ub.append(ub)
        entries.append((r + first, c, v))
        next_row += len(lb)
        return first

    for m in range(weights.shape[1]):
        w = weights[cand.item, m]
        if m not in soft:
            layout.hard[m] = add_rows(problem.lower[:, m], problem.upper[:, m], cand.terr,
                                      pair_cols, w)
            continue
        s = int(np.flatnonzero(soft == m)[0])
        over_cols = n_pairs + 2 * k * s + np.arange(k)
        under_cols = over_cols + k
        layout.soft_up[m] = add_rows(
            np.full(k, -np.inf), problem.upper[:, m],
            np.concatenate([cand.terr, np.arange(k)]), np.concatenate([pair_cols, over_cols]),
            np.concatenate([w, -np.ones(k)]))
        layout.soft_lo[m] = add_rows(
            problem.lower[:, m], np.full(k, np.inf),
            np.concatenate([cand.terr, np.arange(k)]), np.concatenate([pair_cols, under_cols]),
            np.concatenate([w, np.ones(k)]))
    if problem.capacity is not None and problem.workload is not None:
        capped = np.flatnonzero(np.isfinite(problem.capacity))
        row_of = np.full(k, -1)
        row_of[capped] = np.arange(len(capped))
        keep = row_of[cand.terr] >= 0
        first = add_rows(np.full(len(capped), -np.inf), problem.capacity[capped],
                         row_of[cand.terr[keep]], pair_cols[keep], problem.workload[cand.item[keep]])
        layout.capacity = first + np.arange(len(capped))
        layout.capacity_terr = capped
    if problem.max_moved is not None:
        has_current = problem.current >= 0
        at_current = np.flatnonzero(has_current[cand.item]
                                    & (cand.terr == problem.current[cand.item]))
        need = float(problem.move_weight[has_current].sum() - problem.max_moved)
        layout.move = add_rows(np.array([need]), np.array([np.inf]), np.zeros(len(at_current), int),
                               at_current, problem.move_weight[cand.item[at_current]])
    cons = proto.linear_constraints
    _extend(cons.ids, np.arange(next_row))
    _extend(cons.lower_bounds, np.concatenate(rows_lb))
    _extend(cons.upper_bounds, np.concatenate(rows_ub))
    cons.names.extend([""] * next_row)
    r = np.concatenate([e[0] for e in entries])
    c = np.concatenate([e[1] for e in entries])
    v = np.concatenate([e[2] for e in entries])
    keep = v != 0
    order = np.lexsort((c[keep], r[keep]))
    matrix = proto.linear_constraint_matrix
    _extend(matrix.row_ids, r[keep][order])
    _extend(matrix.column_ids, c[keep][order])
    _extend(matrix.coefficients, v[keep][order])
    return proto, layout, n_cols


def soft_deviation_values(problem: AlignmentProblem, assignment: np.ndarray) -> np.ndarray:
    """Values of the over/under columns (column order of ``build_proto``) for a plan."""
    from territory_opt.solvers.assignment_model import loads

    territory_loads = loads(problem, assignment)
    parts = []
    for m in np.flatnonzero(np.asarray(problem.soft, bool)):
        parts.append(np.maximum(territory_loads[:, m] - problem.upper[:, m], 0))
        parts.append(np.maximum(problem.lower[:, m] - territory_loads[:, m], 0))
    return np.concatenate(parts) if parts else np.zeros(0)


def _multipliers(problem: AlignmentProblem, layout: _Rows, duals: np.ndarray) -> Multipliers:
    """MathOpt duals (min problem: y ≥ 0 on active lower bounds, ≤ 0 on upper) → ≤-form ≥ 0."""
    k, m_count = problem.n_territories, problem.weights.shape[1]
    up, lo = np.zeros((k, m_count)), np.zeros((k, m_count))
    for m, first in layout.hard.items():
        y = duals[first:first + k]
        up[:, m], lo[:, m] = np.maximum(-y, 0), np.maximum(y, 0)
    for m, first in layout.soft_up.items():
        up[:, m] = np.maximum(-duals[first:first + k], 0)
    for m, first in layout.soft_lo.items():
        lo[:, m] = np.maximum(duals[first:first + k], 0)
    capacity = np.zeros(k)
    if layout.capacity is not None:
        capacity[layout.capacity_terr] = np.maximum(-duals[layout.capacity], 0)
    move = max(float(duals[layout.move]), 0.0) if layout.move is not None else 0.0
    return Multipliers(up, lo, capacity, move)


def _assignment_from(values: np.ndarray, cand: Candidates, n: int) -> np.ndarray:
    """Per item, the candidate territory with the largest value."""
    order = np.lexsort((-values, cand.item))
    first = order[cand.start[:-1]]
    assert np.array_equal(cand.item[first], np.arange(n))
    return cand.terr[first]


def _status(reason: int, has_solution: bool) -> str:
    if reason == _REASON.TERMINATION_REASON_OPTIMAL:
        return "OPTIMAL"
    if reason in (_REASON.TERMINATION_REASON_INFEASIBLE,
                  _REASON.TERMINATION_REASON_INFEASIBLE_OR_UNBOUNDED):
        return "INFEASIBLE"
    return "FEASIBLE" if has_solution else "UNKNOWN"


def _initial_basis(model_params, basis: LpBasis, cand: Candidates, n_rows: int) -> None:
    """Old columns keep their status; priced-in pairs start non-basic at zero."""
    key = cand.item * cand.n_territories + cand.terr
    status = np.full(cand.size, _AT_LOWER)
    where = np.searchsorted(basis.pair_key, key)
    where = np.clip(where, 0, len(basis.pair_key) - 1)
    known = basis.pair_key[where] == key
    status[known] = basis.pair_status[where[known]]
    columns = np.concatenate([status, basis.other_status])
    target = model_params.initial_basis
    _extend(target.variable_status.ids, np.arange(len(columns)))
    _extend(target.variable_status.values, columns)
    _extend(target.constraint_status.ids, np.arange(n_rows))
    _extend(target.constraint_status.values, basis.row_status)


def branch_and_bound_figures(line: str) -> tuple[float, float] | None:
    """(best bound, best solution) from a line of HiGHS's branch-and-bound log, else None
    ("Src Proc. InQueue | Leaves Expl. | BestBound BestSol Gap | …"; ±inf while unknown)."""
    match = _BB_LINE.match(line)
    if match is None:
        return None
    try:
        return float(match.group(1)), float(match.group(2))
    except ValueError:
        return None


def run_highs(problem: AlignmentProblem, cand: Candidates, *, integer: bool, time_limit: float,
              relative_gap: float = 1e-4, seed: int = 0, hint: np.ndarray | None = None,
              basis: LpBasis | None = None, elastic: float | None = None,
              progress: Callable[[float, float], None] | None = None) -> EngineResult:
    """Solve the restricted model with HiGHS; LP (``integer=False``) also returns duals and a
    basis (pass it back as ``basis`` to warm-start the next LP over more pairs). ``elastic``:
    see ``build_proto``; ``stats["elastic_excess"]`` is then the total slack used.
    ``progress(bound, objective)`` gets HiGHS's figures as its log reports them (every few
    seconds of a MIP; ±inf while unknown)."""
    proto, layout, n_cols = build_proto(problem, cand, integer, elastic)
    params = mathopt.SolveParameters(
        time_limit=datetime.timedelta(seconds=max(time_limit, 0.05)),
        relative_gap_tolerance=relative_gap, random_seed=seed, enable_output=True)
    model_params = model_parameters_pb2.ModelSolveParametersProto()
    if hint is not None and integer:
        values = np.zeros(n_cols)
        values[cand.index_of(np.arange(problem.n_items), hint)] = 1.0
        values[cand.size:] = soft_deviation_values(problem, hint)
        solution_hint = model_params.solution_hints.add()
        _extend(solution_hint.variable_values.ids, np.arange(n_cols))
        _extend(solution_hint.variable_values.values, values)
    n_rows = len(proto.linear_constraints.ids)
    if basis is not None and not integer and len(basis.row_status) == n_rows:
        _initial_basis(model_params, basis, cand, n_rows)
    lines: list[str] = []

    def read_log(new_lines: list[str]) -> None:
        lines.extend(new_lines)
        figures = [branch_and_bound_figures(line) for line in new_lines] if progress else []
        for bound, best in filter(None, figures):
            progress(bound, best)

    try:
        raw = clock.wait_for(lambda: mathopt_solver.solve(
            proto, mathopt.SolverType.HIGHS.value,
            mathopt.StreamableSolverInitArguments().to_proto(), params.to_proto(), model_params,
            read_log, mathopt.CallbackRegistration().to_proto(), None, None),
            limit=time_limit)
    except (RuntimeError, ValueError, AttributeError) as exc:  # real message: __context__
        detail = exc.__context__ or exc
        return EngineResult("UNKNOWN", None, None, log=f"HiGHS failed: {detail}")
    result = result_pb2.SolveResultProto.FromString(raw.SerializeToString()) \
        if not isinstance(raw, result_pb2.SolveResultProto) else raw
    solution = next((s for s in result.solutions
                     if s.primal_solution.feasibility_status == _FEASIBLE), None)
    status = _status(result.termination.reason, solution is not None)
    bound = result.termination.objective_bounds.dual_bound
    bound = float(bound) if np.isfinite(bound) else None
    out = EngineResult(status, None, bound, log="\n".join(lines),
                       stats={"termination": _REASON.Name(result.termination.reason),
                              "detail": result.termination.detail})
    if solution is None:
        return out
    values = np.zeros(n_cols)
    sparse = solution.primal_solution.variable_values
    values[np.asarray(sparse.ids, dtype=np.int64)] = np.asarray(sparse.values, float)
    out.assignment = _assignment_from(values[:cand.size], cand, problem.n_items)
    if elastic is not None:
        hard = ~np.asarray(problem.soft, bool)
        slack = values[cand.size:].reshape(-1, 2, problem.n_territories)  # metric: over, under
        used = sum(float(slack[m].sum() / max(problem.targets[:, m].mean(), 1e-12))
                   for m in range(len(hard)) if hard[m])
        out.stats["elastic_excess"] = used
    if not integer:
        out.values = values[:cand.size]
        duals = np.zeros(len(proto.linear_constraints.ids))
        dual = solution.dual_solution.dual_values
        duals[np.asarray(dual.ids, dtype=np.int64)] = np.asarray(dual.values, float)
        out.multipliers = _multipliers(problem, layout, duals)
        if solution.HasField("basis"):
            out.basis = _basis_of(solution.basis, cand, n_cols, n_rows)
    return out


def _basis_of(proto_basis, cand: Candidates, n_cols: int, n_rows: int) -> LpBasis:
    columns = np.full(n_cols, _AT_LOWER)
    columns[np.asarray(proto_basis.variable_status.ids, np.int64)] = np.asarray(
        proto_basis.variable_status.values)
    rows = np.full(n_rows, _AT_LOWER)
    rows[np.asarray(proto_basis.constraint_status.ids, np.int64)] = np.asarray(
        proto_basis.constraint_status.values)
    return LpBasis(cand.item * cand.n_territories + cand.terr, columns[:cand.size],
                   columns[cand.size:], rows)
