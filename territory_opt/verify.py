"""Independent plan checker: recomputes every hard rule from the problem arrays alone.

It shares no code with the solvers, so a solver bug cannot hide behind it.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from territory_opt.problem import AlignmentProblem

RELATIVE_TOLERANCE = 1e-7  # float slack on balance, capacity and move-cap comparisons


def _over(value: float, limit: float) -> bool:
    return value > limit + RELATIVE_TOLERANCE * max(1.0, abs(limit))


def _under(value: float, limit: float) -> bool:
    return value < limit - RELATIVE_TOLERANCE * max(1.0, abs(limit))


def check_plan(problem: AlignmentProblem, assignment, centers=None) -> list[str]:
    """Human-readable violations of the hard constraints by a plan (empty list = valid).

    Checks: one valid territory per item; locks; eligibility; hard balance bounds; capacity;
    the move cap; contiguity over ``edges`` when ``problem.contiguous`` (each non-empty
    territory one connected piece, containing its centre item when ``centers`` is given);
    and for every hierarchy level the same balance and contiguity of its groups, or, for a
    kept level, every item with a current territory still in that territory's group.
    """
    n, k = problem.n_items, problem.n_territories
    ids, tids = problem.item_ids, problem.territory_ids
    plan = np.asarray(assignment)
    if plan.shape != (n,):
        return [f"the plan has {plan.size} entries for {n} items"]
    if not np.issubdtype(plan.dtype, np.integer):
        return ["the plan's territory indices are not integers"]
    bad = np.flatnonzero((plan < 0) | (plan >= k))
    if bad.size:
        return [f"item {ids[i]} has no valid territory (index {plan[i]})" for i in bad[:20]]
    problems: list[str] = []
    for i in np.flatnonzero((problem.locked >= 0) & (plan != problem.locked))[:20]:
        problems.append(f"item {ids[i]} is locked to {tids[problem.locked[i]]} "
                        f"but placed in {tids[plan[i]]}")
    if problem.eligible is not None:
        for i in np.flatnonzero(~np.asarray(problem.eligible, bool)[np.arange(n), plan])[:20]:
            problems.append(f"item {ids[i]} is not eligible for {tids[plan[i]]}")
    problems += _balance(problem, plan, list(tids), problem.targets, problem.tolerances)
    if problem.capacity is not None and problem.workload is not None:
        work = np.bincount(plan, weights=np.asarray(problem.workload, float), minlength=k)
        for t in range(k):
            if np.isfinite(problem.capacity[t]) and _over(work[t], problem.capacity[t]):
                problems.append(f"{tids[t]}: workload {work[t]:,.2f} above capacity "
                                f"{problem.capacity[t]:,.2f}")
    if problem.max_moved is not None:
        moved = sum(float(problem.move_weight[i]) for i in range(n)
                    if problem.current[i] >= 0 and plan[i] != problem.current[i])
        if _over(moved, problem.max_moved):
            problems.append(f"moved {moved:,.2f} exceeds the move cap {problem.max_moved:,.2f}")
    if problem.contiguous:
        problems += _contiguity(problem, plan, centers, problem.territory_ids)
    for level in problem.levels:
        problems += _level(problem, plan, level)
    return problems


def _balance(problem: AlignmentProblem, labels: np.ndarray, names: list[str],
             targets: np.ndarray, tolerances: np.ndarray) -> list[str]:
    """Hard balance: each label's total of every hard metric within target × (1 ± tolerance),
    totals summed item by item (labels: territory or group index per item)."""
    problems = []
    for m, name in enumerate(problem.metric_names):
        if problem.soft[m]:
            continue
        load = np.zeros(len(names))
        for i in range(problem.n_items):
            load[labels[i]] += problem.weights[i, m]
        for t, label in enumerate(names):
            lo = targets[t, m] * (1 - tolerances[m])
            hi = targets[t, m] * (1 + tolerances[m])
            if _over(load[t], hi) or _under(load[t], lo):
                problems.append(f"{label}: {name} {load[t]:,.2f} outside [{lo:,.2f}, {hi:,.2f}]")
    return problems


def _level(problem: AlignmentProblem, plan: np.ndarray, level) -> list[str]:
    """Balance (or kept boundaries) and contiguity of one hierarchy level's groups."""
    group_plan = np.asarray(level.group_of)[plan]
    if level.keep:
        current = np.asarray(problem.current)
        known = current >= 0
        left = np.flatnonzero(known & (group_plan != np.asarray(level.group_of)[
            np.where(known, current, 0)]))
        return [f"item {problem.item_ids[i]} left its {level.name} "
                f"{level.group_ids[level.group_of[current[i]]]} (boundaries are kept)"
                for i in left[:20]]
    target = np.zeros((len(level.group_ids), len(problem.metric_names)))
    for t in range(problem.n_territories):
        target[level.group_of[t]] += problem.targets[t]
    names = [f"{level.name} {g}" for g in level.group_ids]
    problems = _balance(problem, group_plan, names, target, level.tolerances)
    if problem.contiguous:
        problems += _contiguity(problem, group_plan, None, names)
    return problems


def _contiguity(problem: AlignmentProblem, plan: np.ndarray, centers,
                names: list[str]) -> list[str]:
    if problem.edges is None:
        return ["contiguity was asked for but the problem has no adjacency edges"]
    graph = nx.Graph()
    graph.add_nodes_from(range(problem.n_items))
    graph.add_edges_from((int(a), int(b)) for a, b in np.asarray(problem.edges))
    problems = []
    for t, tid in enumerate(names):
        members = np.flatnonzero(plan == t)
        if members.size == 0:
            continue
        pieces = nx.number_connected_components(graph.subgraph(members.tolist()))
        if pieces > 1:
            problems.append(f"{tid} is split into {pieces} disconnected pieces")
        if centers is not None and plan[int(centers[t])] != t:
            problems.append(f"{tid}'s centre item {problem.item_ids[int(centers[t])]} "
                            f"is not in {tid}")
    return problems
