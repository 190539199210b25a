"""Plain-words explanations of why the hard constraints cannot all hold.

``precheck`` runs fast, sufficient tests (each finding proves infeasibility):
locks vs upper bounds and capacity, single items too big for every allowed territory,
per-territory reachable totals (eligibility and locks) vs lower bounds, capacity vs the
workload lower bound, and the move cap vs the moves that locks, eligibility and balance force.
``explain_infeasibility`` is the fallback once a model has been proved infeasible: CP-SAT
with one assumption literal per constraint group (balance of metric m at territory t,
capacity at t, the move cap, the locks into t) and ``sufficient_assumptions_for_infeasibility``.
"""

from __future__ import annotations

import numpy as np
from ortools.sat.python import cp_model

from territory_opt.problem import AlignmentProblem
from territory_opt.solvers import clock


def _num(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.4g}"


def _move_unit(problem: AlignmentProblem) -> str:
    counts = np.array([len(a) for a in problem.item_accounts], float)
    return "accounts" if np.allclose(counts, problem.move_weight) else "moved-share units"


def _cap_text(problem: AlignmentProblem) -> str:
    total = float(np.asarray(problem.move_weight, float).sum())
    share = problem.max_moved / total if total > 0 else 0.0
    return f"the move cap ({share:.0%} = {_num(problem.max_moved)} {_move_unit(problem)})"


def _band(problem: AlignmentProblem, m: int) -> str:
    return f"tolerance is {problem.tolerances[m]:.0%}"


def _knapsack_moves(amount: float, gains: np.ndarray, costs: np.ndarray) -> float:
    """Least total cost (fractional) of items whose gains sum to ``amount``; inf if impossible."""
    if amount <= 0:
        return 0.0
    useful = gains > 0
    gains, costs = gains[useful], costs[useful]
    if gains.sum() < amount:
        return np.inf
    order = np.argsort(costs / gains, kind="stable")
    cumulative = np.cumsum(gains[order])
    last = int(np.searchsorted(cumulative, amount))
    paid = costs[order][:last].sum()
    before = cumulative[last - 1] if last > 0 else 0.0
    return float(paid + costs[order][last] * (amount - before) / gains[order][last])


def _move_cap_checks(problem: AlignmentProblem, allowed: np.ndarray, hard: np.ndarray
                     ) -> list[str]:
    if problem.max_moved is None:
        return []
    n, k = allowed.shape
    has_current = problem.current >= 0
    rows = np.arange(n)
    forced = has_current & ~allowed[rows, np.maximum(problem.current, 0)]
    move_weight = np.asarray(problem.move_weight, float)
    slack = 1e-9 * max(1.0, problem.max_moved)
    reasons = []
    forced_weight = float(move_weight[forced].sum())
    if forced_weight > problem.max_moved + slack:
        reasons.append(f"{_cap_text(problem)} is too tight: locks and eligibility alone force "
                       f"moving {_num(forced_weight)} {_move_unit(problem)}")
    weights = np.asarray(problem.weights, float)
    for m in np.flatnonzero(hard):
        current_load = np.bincount(problem.current[has_current], weights=weights[has_current, m],
                                   minlength=k)
        shed = gain = 0.0
        for t in range(k):
            mine = has_current & (problem.current == t)
            shed += _knapsack_moves(current_load[t] - problem.upper[t, m], weights[mine, m],
                                    move_weight[mine])
            newcomers = ~has_current & allowed[:, t]
            need = problem.lower[t, m] - current_load[t] - weights[newcomers, m].sum()
            others = has_current & ~mine & allowed[:, t]
            gain += _knapsack_moves(need, weights[others, m], move_weight[others])
        needed = max(shed, gain)
        if np.isfinite(needed) and needed > problem.max_moved + slack:
            reasons.append(f"{_cap_text(problem)} is too tight: reaching the "
                           f"{problem.metric_names[m]} bounds needs moving at least "
                           f"{_num(needed)} {_move_unit(problem)}")
    return reasons


def precheck(problem: AlignmentProblem) -> list[str]:
    """Fast sufficient infeasibility tests; an empty list means none fired."""
    from territory_opt.solvers.assignment_model import allowed_pairs

    allowed = allowed_pairs(problem)
    k = allowed.shape[1]
    reasons: list[str] = []
    hard = ~np.asarray(problem.soft, bool)
    weights = np.asarray(problem.weights, float)
    tids = problem.territory_ids
    locked = problem.locked >= 0
    tids = problem.territory_ids
    no_option = np.flatnonzero(~allowed.any(axis=1))
    for i in no_option[:5]:
        if problem.locked[i] >= 0:
            reasons.append(f"item {problem.item_ids[i]} is locked to "
                           f"{tids[problem.locked[i]]}, where it is not eligible")
        else:
            reasons.append(f"item {problem.item_ids[i]} is eligible for no territory")
    for m in np.flatnonzero(hard):
        name = problem.metric_names[m]
        lower, upper, target = problem.lower[:, m], problem.upper[:, m], problem.targets[:, m]
        locked_load = np.bincount(problem.locked[locked], weights=weights[locked, m], minlength=k)
        for t in np.flatnonzero(locked_load > upper * (1 + 1e-9) + 1e-12):
            share = locked_load[t] / target[t] if target[t] > 0 else np.inf
            reasons.append(f"locked accounts alone put {tids[t]} at {share:.0%} of its {name} "
                           f"target ({_num(locked_load[t])} of {_num(target[t])}); "
                           f"{_band(problem, m)}")
        largest_room = np.where(allowed, upper[None, :], -np.inf).max(axis=1)
        too_big = np.flatnonzero(weights[:, m] > largest_room * (1 + 1e-9) + 1e-12)
        for i in too_big[:5]:
            room = np.where(allowed[i], upper, -np.inf)
            t = int(np.argmax(room))
            scope = f"{tids[t]}'s" if allowed[i].sum() == 1 else \
                f"the upper bound of every territory it may go to (largest: {tids[t]}'s"
            close = "" if allowed[i].sum() == 1 else ")"
            reasons.append(f"item {problem.item_ids[i]}'s {name} alone ({_num(weights[i, m])}) "
                           f"exceeds {scope} upper bound {_num(upper[t])}{close}")
        reach = allowed.T.astype(float) @ weights[:, m]
        for t in np.flatnonzero(reach < lower * (1 - 1e-9) - 1e-12):
            what = "no eligible accounts" if reach[t] == 0 else \
                f"only {_num(reach[t])} of {name} within reach"
            reasons.append(f"eligibility and locks leave {tids[t]} with {what}, but its {name} "
                           f"target is {_num(target[t])} (lower bound {_num(lower[t])}; "
                           f"{_band(problem, m)})")
    if problem.capacity is not None and problem.workload is not None:
        workload = np.asarray(problem.workload, float)
        capacity = problem.capacity
        locked_work = np.bincount(problem.locked[locked], weights=workload[locked], minlength=k)
        for t in np.flatnonzero(np.isfinite(capacity) & (locked_work > capacity * (1 + 1e-9))):
            reasons.append(f"locked accounts alone need {_num(locked_work[t])} workload hours in "
                           f"{tids[t]}, above its reps' capacity of {_num(capacity[t])}")
        if "workload" in problem.metric_names:
            m = problem.metric_names.index("workload")
            if hard[m]:
                for t in np.flatnonzero(np.isfinite(capacity)
                                        & (problem.lower[:, m] > capacity * (1 + 1e-9))):
                    reasons.append(
                        f"{tids[t]}'s capacity ({_num(capacity[t])} h) is below its workload "
                        f"lower bound ({_num(problem.lower[t, m])} h = target "
                        f"{_num(problem.targets[t, m])} − {problem.tolerances[m]:.0%})")
        if np.isfinite(capacity).all() and workload.sum() > capacity.sum() * (1 + 1e-9):
            reasons.append(f"total workload ({_num(workload.sum())} h) exceeds the reps' total "
                           f"capacity ({_num(capacity.sum())} h)")
    if not reasons:
        reasons += _move_cap_checks(problem, allowed, hard)
    return reasons


def _describe(problem: AlignmentProblem, kind: str, t: int | None, m: int | None) -> str:
    tids = problem.territory_ids
    if kind == "balance":
        return (f"{tids[t]}'s {problem.metric_names[m]} within ±{problem.tolerances[m]:.0%} of "
                f"its target {_num(problem.targets[t, m])} "
                f"({_num(problem.lower[t, m])}–{_num(problem.upper[t, m])})")
    if kind == "capacity":
        return f"{tids[t]}'s capacity of {_num(problem.capacity[t])} workload hours"
    if kind == "move_cap":
        return _cap_text(problem)
    count = int((problem.locked == t).sum())
    return f"the {count} item(s) locked into {tids[t]}"


def explain_infeasibility(problem: AlignmentProblem, time_limit: float = 30.0) -> list[str]:
    """A conflicting set of constraint groups, in plain words (the model is known infeasible)."""
    from territory_opt.solvers.assignment_cpsat import build_cpsat
    from territory_opt.solvers.assignment_model import Candidates

    eligible = np.ones((problem.n_items, problem.n_territories), bool) \
        if problem.eligible is None else np.asarray(problem.eligible, bool)
    cand = Candidates.from_mask(eligible, True, problem.n_territories)
    built = build_cpsat(problem, cand, assumptions=True, locks_as_assumptions=True)
    model = built.model
    model.clear_objective()
    model.add_assumptions([model.get_bool_var_from_proto_index(i) for i in built.groups])
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = time_limit
    solver.parameters.catch_sigint_signal = False  # see assignment_cpsat.configure
    status = clock.wait_for(lambda: solver.solve(model), stop=solver.stop_search)
    if status != cp_model.INFEASIBLE:
        return [("the hard constraints cannot all hold (proved by the solver), but no smaller "
                 "conflicting set was found in the time available")]
    core = solver.sufficient_assumptions_for_infeasibility()
    parts = [_describe(problem, *built.groups[index]) for index in core if index in built.groups]
    if not parts:
        return ["eligibility and the one-territory-per-item rule cannot hold together"]
    if len(parts) == 1:
        return [f"{parts[0]} cannot hold: no combination of the items allowed there fits"]
    return ["these constraints cannot all hold together: " + "; ".join(parts)]
