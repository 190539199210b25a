"""Warm starts for the assignment engines: a starting plan, then a load repair.

Starting plans: the LP relaxation rounded (each item to its largest LP value), or greedy
(locked items to their lock; with a move cap every item stays in its current territory;
otherwise each item goes to its cheapest candidate). ``repair`` then moves single items
between candidate territories until every hard balance bound, capacity and the move cap
hold: each step takes the territory with the largest violation and applies the move that
buys the most violation reduction per unit of extra cost. Violations are measured as
fractions of the mean target (balance), of capacity, and of the move cap.
"""

from __future__ import annotations

import time

import numpy as np

from territory_opt.problem import AlignmentProblem
from territory_opt.solvers import clock
from territory_opt.solvers.assignment_model import Candidates, pair_costs

MAX_REPAIR_STEPS_PER_ITEM = 2


def greedy_start(problem: AlignmentProblem, cand: Candidates) -> np.ndarray:
    """Locks, else the current territory under a move cap, else the cheapest candidate."""
    costs = pair_costs(problem)[cand.item, cand.terr]
    order = np.lexsort((costs, cand.item))
    assignment = cand.terr[order[cand.start[:-1]]].copy()
    if problem.max_moved is not None:
        stay = (problem.current >= 0) & cand.mask[np.arange(problem.n_items),
                                                   np.maximum(problem.current, 0)]
        assignment[stay] = problem.current[stay]
    return assignment


def _pairs_of(cand: Candidates, items: np.ndarray) -> np.ndarray:
    """Indices of every candidate pair of ``items`` (sorted items give sorted indices)."""
    counts = cand.start[items + 1] - cand.start[items]
    first = np.repeat(cand.start[items] - np.cumsum(counts) + counts, counts)
    return first + np.arange(int(counts.sum()))


def _focus_pairs(viol, cand: Candidates, into: list[np.ndarray], a: np.ndarray,
                 free: np.ndarray, loads: np.ndarray, work: np.ndarray, focus: int | None,
                 current: np.ndarray) -> np.ndarray:
    """Candidate moves that can fix territory ``focus`` (out of it when over a bound, into it
    when under), or, for ``focus=None`` (only the move cap is violated), moves back home.
    ``into[t]``: the pairs whose territory is t. Cost O(items + pairs into the territory)."""
    if focus is None:
        return np.flatnonzero(free[cand.item] & (cand.terr == current[cand.item])
                              & (a[cand.item] != cand.terr))
    over = ((loads[focus] > viol.upper[focus] + 1e-12).any()
            or (viol.capped and work[focus] > viol.capacity[focus] + 1e-12))
    if over:
        pairs = _pairs_of(cand, np.flatnonzero((a == focus) & free))
        return pairs[cand.terr[pairs] != focus]
    pairs = into[focus]
    items = cand.item[pairs]
    return pairs[free[items] & (a[items] != focus)]


class _Violation:
    """Constraint violation of a plan, vectorised over candidate moves."""

    def __init__(self, problem: AlignmentProblem):
        hard = ~np.asarray(problem.soft, bool)
        self.weights = np.asarray(problem.weights, float)[:, hard]
        self.lower, self.upper = problem.lower[:, hard], problem.upper[:, hard]
        self.scale = np.maximum(problem.targets[:, hard].mean(axis=0), 1e-12)
        capacity = problem.capacity if problem.workload is not None else None
        self.capped = capacity is not None and bool(np.isfinite(capacity).any())
        if self.capped:
            self.capacity = np.where(np.isfinite(capacity), capacity, np.inf)
            self.workload = np.asarray(problem.workload, float)
            self.cap_scale = np.where(np.isfinite(capacity), np.maximum(capacity, 1e-12), 1.0)
        self.max_moved = problem.max_moved
        self.move_scale = max(problem.max_moved or 0.0, 1e-12)
        self.current = problem.current
        self.move_weight = np.asarray(problem.move_weight, float)

    def state(self, assignment: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, float]:
        loads = np.stack([np.bincount(assignment, weights=self.weights[:, m], minlength=k)
                          for m in range(self.weights.shape[1])], axis=1) \
            if self.weights.shape[1] else np.zeros((k, 0))
        work = np.bincount(assignment, weights=self.workload, minlength=k) if self.capped \
            else np.zeros(k)
        moved = (self.current >= 0) & (assignment != self.current)
        return loads, work, float(self.move_weight[moved].sum())

    def territory(self, t: np.ndarray, loads: np.ndarray, work: np.ndarray) -> np.ndarray:
        """Violation of territories ``t`` at the given (rows-aligned) loads and workloads."""
        over = np.maximum(loads - self.upper[t], 0) + np.maximum(self.lower[t] - loads, 0)
        value = (over / self.scale).sum(axis=1)
        if self.capped:
            value = value + np.maximum(work - self.capacity[t], 0) / self.cap_scale[t]
        return value

    def moves(self, moved: float) -> float:
        if self.max_moved is None:
            return 0.0
        return max(moved - self.max_moved, 0.0) / self.move_scale


def repair(problem: AlignmentProblem, cand: Candidates, assignment: np.ndarray,
           max_steps: int | None = None, deadline: float | None = None) -> np.ndarray:
    """Move single unlocked items (or swap pairs) between candidates until no hard constraint
    is violated, no move reduces the violation, or ``deadline`` (time.monotonic) passes;
    returns the repaired plan (a copy)."""
    a = assignment.copy()
    n, k = problem.n_items, problem.n_territories
    viol = _Violation(problem)
    costs = pair_costs(problem)
    free = problem.locked < 0
    loads, work, moved = viol.state(a, k)
    all_t = np.arange(k)
    by_terr = np.argsort(cand.terr, kind="stable")
    cuts = np.searchsorted(cand.terr[by_terr], np.arange(k + 1))
    into = [by_terr[cuts[t]:cuts[t + 1]] for t in range(k)]
    max_steps = max_steps if max_steps is not None else MAX_REPAIR_STEPS_PER_ITEM * n + 10
    for _ in range(max_steps):
        if deadline is not None and time.monotonic() > deadline:
            break
        per_terr = viol.territory(all_t, loads, work)
        move_excess = viol.moves(moved)
        if per_terr.sum() + move_excess <= 1e-12:
            break
        order = [int(t) for t in np.argsort(-per_terr, kind="stable") if per_terr[t] > 1e-12]
        for focus in order + ([None] if move_excess > 1e-12 else []):
            pairs = _focus_pairs(viol, cand, into, a, free, loads, work, focus, problem.current)
            if len(pairs) == 0:
                continue
            items, dest = cand.item[pairs], cand.terr[pairs]
            src = a[items]
            w = viol.weights[items]
            wl = viol.workload[items] if viol.capped else np.zeros(len(items))
            before = per_terr[src] + per_terr[dest] + move_excess
            mw = viol.move_weight[items]
            has_current = problem.current[items] >= 0
            moved_after = moved + np.where(has_current & (src == problem.current[items]), mw, 0.0) \
                - np.where(has_current & (dest == problem.current[items]), mw, 0.0)
            after = (viol.territory(src, loads[src] - w, work[src] - wl)
                     + viol.territory(dest, loads[dest] + w, work[dest] + wl))
            if viol.max_moved is not None:
                after = after + np.maximum(moved_after - viol.max_moved, 0.0) / viol.move_scale
            gain = before - after
            useful = gain > 1e-12
            if useful.any():
                break
        else:
            swap = _best_swap(problem, viol, cand, a, free, costs, loads, work, moved, per_terr,
                              move_excess, order)
            if swap is None:
                break
            (i, j), moved = swap
            for item, s, d in ((i, a[i], a[j]), (j, a[j], a[i])):
                loads[s] -= viol.weights[item]
                loads[d] += viol.weights[item]
                if viol.capped:
                    work[s] -= viol.workload[item]
                    work[d] += viol.workload[item]
            a[i], a[j] = a[j], a[i]
            continue
        extra = costs[items, dest] - costs[items, src]
        score = np.where(useful, extra / np.where(useful, gain, 1.0), np.inf)
        best = int(np.argmin(score))
        i, s, d = int(items[best]), int(src[best]), int(dest[best])
        a[i] = d
        loads[s] -= w[best]
        loads[d] += w[best]
        if viol.capped:
            work[s] -= wl[best]
            work[d] += wl[best]
        moved = float(moved_after[best])
    return a


def _best_swap(problem, viol, cand, a, free, costs, loads, work, moved, per_terr, move_excess,
               order) -> tuple[tuple[int, int], float] | None:
    """Best exchange of an item of a violated territory f with an item of another territory d
    (both pairs candidates); used when no single move reduces the violation."""
    current = problem.current
    for f in order:
        out = np.flatnonzero(free[cand.item] & (a[cand.item] == f) & (cand.terr != f))
        back = np.flatnonzero(free[cand.item] & (cand.terr == f) & (a[cand.item] != f))
        if len(out) == 0 or len(back) == 0:
            continue
        i_all, d_all = cand.item[out], cand.terr[out]
        j_all = cand.item[back]
        combos = [(np.repeat(i_all[d_all == d], np.sum(a[j_all] == d)),
                   np.tile(j_all[a[j_all] == d], np.sum(d_all == d)), d)
                  for d in np.intersect1d(d_all, a[j_all])]
        if not combos:
            continue
        i = np.concatenate([c[0] for c in combos])
        j = np.concatenate([c[1] for c in combos])
        d = np.concatenate([np.full(len(c[0]), c[2]) for c in combos])
        delta = viol.weights[i] - viol.weights[j]
        dwork = (viol.workload[i] - viol.workload[j]) if viol.capped else np.zeros(len(i))
        ff = np.full(len(i), f)
        after = (viol.territory(ff, loads[f] - delta, work[f] - dwork)
                 + viol.territory(d, loads[d] + delta, work[d] + dwork))
        mw = viol.move_weight
        moved_after = moved + sum(
            np.where(current[x] >= 0, mw[x] * ((src == current[x]).astype(float)
                                                - (dst == current[x]).astype(float)), 0.0)
            for x, src, dst in ((i, ff, d), (j, d, ff)))
        if viol.max_moved is not None:
            after = after + np.maximum(moved_after - viol.max_moved, 0.0) / viol.move_scale
        gain = per_terr[f] + per_terr[d] + move_excess - after
        useful = gain > 1e-12
        if not useful.any():
            continue
        extra = costs[i, d] + costs[j, f] - costs[i, f] - costs[j, d]
        best = int(np.argmin(np.where(useful, extra / np.where(useful, gain, 1.0), np.inf)))
        return (int(i[best]), int(j[best])), float(moved_after[best])
    return None


def violation(problem: AlignmentProblem, assignment: np.ndarray) -> float:
    """Total hard-constraint violation of a plan, in the repair's normalised units."""
    viol = _Violation(problem)
    loads, work, moved = viol.state(assignment, problem.n_territories)
    return float(viol.territory(np.arange(problem.n_territories), loads, work).sum()
                 + viol.moves(moved))


def _excess(load: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    return np.maximum(load - upper, 0) + np.maximum(lower - load, 0)


def improve(problem: AlignmentProblem, cand: Candidates, assignment: np.ndarray,
            rounds: int = 3, deadline: float | None = None) -> np.ndarray:
    """Cost descent: move items to a cheaper candidate when no metric's excess beyond its
    band grows at either end (so a feasible plan stays feasible and soft penalties do not
    grow), capacity and the move cap hold. Largest savings first; stops at ``deadline``
    (time.monotonic) or Ctrl-C."""
    a = assignment.copy()
    k = problem.n_territories
    viol = _Violation(problem)
    weights = np.asarray(problem.weights, float)
    lower, upper = problem.lower, problem.upper
    costs = pair_costs(problem)
    free = problem.locked[cand.item] < 0
    for _ in range(rounds):
        _, work, moved = viol.state(a, k)
        loads = np.stack([np.bincount(a, weights=weights[:, m], minlength=k)
                          for m in range(weights.shape[1])], axis=1)
        saving = costs[cand.item, a[cand.item]] - costs[cand.item, cand.terr]
        pairs = np.flatnonzero(free & (saving > 1e-9))
        changed = False
        for count, p in enumerate(pairs[np.argsort(-saving[pairs], kind="stable")]):
            if deadline is not None and count % 1024 == 0 and (
                    time.monotonic() > deadline or clock.interrupted()):
                return a
            i, d = int(cand.item[p]), int(cand.terr[p])
            s = int(a[i])
            if s == d or costs[i, d] >= costs[i, s]:
                continue
            w = weights[i]
            if (_excess(loads[s] - w, lower[s], upper[s]) > _excess(loads[s], lower[s], upper[s])
                    + 1e-9).any() or (_excess(loads[d] + w, lower[d], upper[d])
                                      > _excess(loads[d], lower[d], upper[d]) + 1e-9).any():
                continue
            if viol.capped and work[d] + viol.workload[i] > viol.capacity[d] + 1e-9:
                continue
            if viol.max_moved is not None and problem.current[i] >= 0:
                delta = viol.move_weight[i] * (int(s == problem.current[i])
                                               - int(d == problem.current[i]))
                if delta > 0 and moved + delta > viol.max_moved + 1e-9:
                    continue
                moved += delta
            a[i] = d
            loads[s] -= w
            loads[d] += w
            if viol.capped:
                work[s] -= viol.workload[i]
                work[d] += viol.workload[i]
            changed = True
        if not changed:
            break
    return a
