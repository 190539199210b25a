"""Shared pieces of the Zoltners–Sinha assignment model: candidate pairs, plan evaluation.

Model (both engines): binary x[i, t] for candidate pairs only; each item in exactly one
territory; per territory t and metric m, ``lower[t, m] <= Σ_i weights[i, m]·x[i, t] <=
upper[t, m]`` (hard) or soft with penalty ``soft_penalty[m]`` per unit of fractional
deviation (deviation / target) beyond the band; ``Σ workload·x[i, t] <= capacity[t]``;
``Σ_i move_weight[i]·(1 − x[i, current[i]]) <= max_moved`` (items with a current territory);
minimise ``Σ cost·x + move_penalty·moved weight + soft penalties``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from territory_opt.problem import AlignmentProblem

DEFAULT_CANDIDATES = 12
REACH_MARGIN = 3.0  # each territory's candidates must be able to reach 3 × its upper bound


def allowed_pairs(problem: AlignmentProblem) -> np.ndarray:
    """(n, k) bool: pairs permitted by eligibility and locks (a locked item has at most one)."""
    n, k = problem.n_items, problem.n_territories
    eligible = np.ones((n, k), bool) if problem.eligible is None else \
        np.asarray(problem.eligible, bool)
    allowed = eligible.copy()
    locked = np.flatnonzero(problem.locked >= 0)
    allowed[locked] = False
    allowed[locked, problem.locked[locked]] = eligible[locked, problem.locked[locked]]
    return allowed


def pair_costs(problem: AlignmentProblem) -> np.ndarray:
    """(n, k) objective cost of each pair: compactness cost + move penalty when leaving current."""
    cost = np.asarray(problem.cost, float)
    if problem.move_penalty <= 0:
        return cost
    has_current = problem.current >= 0
    leaving = np.where(has_current, problem.move_penalty * problem.move_weight, 0.0)
    cost = cost + leaving[:, None]
    rows = np.flatnonzero(has_current)
    cost[rows, problem.current[rows]] -= leaving[rows]
    return cost


@dataclass
class Candidates:
    """Candidate pairs, sorted by item: ``item[p]``, ``terr[p]``; ``start[i]:start[i+1]``."""

    item: np.ndarray
    terr: np.ndarray
    start: np.ndarray
    complete: bool  # every allowed pair is a candidate
    per_item: int   # K asked for
    mask: np.ndarray  # (n, k) bool

    @classmethod
    def from_mask(cls, mask: np.ndarray, complete: bool, per_item: int) -> Candidates:
        item, terr = np.nonzero(mask)
        start = np.concatenate([[0], np.cumsum(mask.sum(axis=1))])
        return cls(item.astype(np.int64), terr.astype(np.int64), start, complete, per_item, mask)

    @property
    def n_territories(self) -> int:
        return self.mask.shape[1]

    @property
    def size(self) -> int:
        return len(self.item)

    def index_of(self, item: np.ndarray, terr: np.ndarray) -> np.ndarray:
        """Pair index of (item, terr), or -1 when not a candidate."""
        key = self.item * self.n_territories + self.terr
        query = np.asarray(item) * self.n_territories + np.asarray(terr)
        pos = np.clip(np.searchsorted(key, query), 0, max(len(key) - 1, 0))
        return np.where(key[pos] == query, pos, -1) if len(key) else np.full(query.shape, -1)


def select_candidates(problem: AlignmentProblem, per_item: int | None) -> Candidates:
    """The ``per_item`` nearest allowed territories of every item, plus its current one,
    plus nearest extra items for any territory whose candidates could not reach
    ``REACH_MARGIN × upper`` of a hard metric (or its lower bound, when that is all there is).

    Nearest = lowest cost (distance when the cost is flat). ``per_item=None`` or ≥ k keeps all.
    """
    allowed = allowed_pairs(problem)
    n, k = allowed.shape
    if per_item is None or per_item >= k:
        return Candidates.from_mask(allowed, True, k)
    costs = pair_costs(problem)
    flat = np.ptp(costs) == 0
    key_source = np.asarray(problem.distance_km, float) if flat else costs
    mask = np.zeros((n, k), bool)
    for first in range(0, n, CHUNK_ROWS):
        rows = slice(first, min(first + CHUNK_ROWS, n))
        key = np.where(allowed[rows], key_source[rows], np.inf)
        nearest = np.argpartition(key, per_item - 1, axis=1)[:, :per_item]
        np.put_along_axis(mask[rows], nearest, True, axis=1)
    rows = np.flatnonzero(problem.current >= 0)
    mask[rows, problem.current[rows]] = True
    mask &= allowed
    hard = ~np.asarray(problem.soft, bool)
    weights = np.asarray(problem.weights, float)[:, hard]
    def reach_of(pairs: np.ndarray) -> np.ndarray:
        return np.stack([weights[:, m] @ pairs for m in range(weights.shape[1])], axis=1) \
            if weights.shape[1] else np.zeros((k, 0))

    need = np.minimum(reach_of(allowed), REACH_MARGIN * problem.upper[:, hard])
    reach = reach_of(mask)
    for t in np.flatnonzero((reach < need - 1e-9).any(axis=1)):
        pool = np.flatnonzero(allowed[:, t] & ~mask[:, t])
        order = pool[np.argsort(key_source[pool, t], kind="stable")]
        gained = reach[t] + np.cumsum(weights[order], axis=0)
        short = (gained < need[t] - 1e-9).any(axis=1)
        take = int(np.argmin(short)) + 1 if not short.all() else len(order)
        mask[order[:take], t] = True
    complete = bool((mask == allowed).all())
    return Candidates.from_mask(mask, complete, per_item)


def loads(problem: AlignmentProblem, assignment: np.ndarray) -> np.ndarray:
    """(k, m) metric totals per territory for a plan."""
    k = problem.n_territories
    weights = np.asarray(problem.weights, float)
    return np.stack([np.bincount(assignment, weights=weights[:, m], minlength=k)
                     for m in range(weights.shape[1])], axis=1) if weights.shape[1] else \
        np.zeros((k, 0))


def moved_weight(problem: AlignmentProblem, assignment: np.ndarray) -> float:
    """Σ move_weight of items that leave their current territory."""
    moved = (problem.current >= 0) & (assignment != problem.current)
    return float(problem.move_weight[moved].sum())


def soft_deviation_penalty(problem: AlignmentProblem, territory_loads: np.ndarray) -> float:
    """Σ over soft metrics of penalty × (fractional deviation beyond the band)."""
    soft = np.asarray(problem.soft, bool)
    if not soft.any():
        return 0.0
    excess = np.maximum(territory_loads - problem.upper, 0) + np.maximum(
        problem.lower - territory_loads, 0)
    fraction = excess / np.maximum(problem.targets, 1e-12)
    return float((fraction[:, soft] * problem.soft_penalty[soft]).sum())


def objective(problem: AlignmentProblem, assignment: np.ndarray) -> float:
    """The model objective of a plan, recomputed in floating point from the problem arrays."""
    n = problem.n_items
    value = float(np.asarray(problem.cost, float)[np.arange(n), assignment].sum())
    value += problem.move_penalty * moved_weight(problem, assignment)
    return value + soft_deviation_penalty(problem, loads(problem, assignment))


def relative_gap(objective_value: float, bound: float | None) -> float | None:
    """(objective − bound) / max(|objective|, 1e-9), at least 0."""
    if bound is None:
        return None
    return max(0.0, (objective_value - bound) / max(abs(objective_value), 1e-9))


@dataclass
class Multipliers:
    """Non-negative Lagrange multipliers of the side constraints, each in "≤" orientation.

    ``upper``/``lower`` (k, m): on load ≤ upper and load ≥ lower; ``capacity`` (k,);
    ``move``: on the move cap.
    """

    upper: np.ndarray
    lower: np.ndarray
    capacity: np.ndarray
    move: float


CHUNK_ROWS = 8192  # items per block when sweeping (n, k) Lagrangian costs (memory bound)


def _lagrangian_costs(problem: AlignmentProblem, multipliers: Multipliers):
    """Clipped multipliers' per-pair charge pieces, the constant term, and a block function
    returning the (rows, k) Lagrangian costs (inf where not allowed)."""
    weights = np.asarray(problem.weights, float)
    up, lo = multipliers.upper.copy(), multipliers.lower.copy()
    soft = np.asarray(problem.soft, bool)
    if soft.any():
        per_unit = problem.soft_penalty[None, :] / np.maximum(problem.targets, 1e-12)
        up[:, soft] = np.minimum(up[:, soft], per_unit[:, soft])
        lo[:, soft] = np.minimum(lo[:, soft], per_unit[:, soft])
    constant = float(-(up * problem.upper).sum() + (lo * problem.lower).sum())
    cap = None
    if problem.capacity is not None and problem.workload is not None:
        cap = np.where(np.isfinite(problem.capacity), multipliers.capacity, 0.0)
        constant -= float((cap * np.nan_to_num(problem.capacity)).sum())
    move = multipliers.move if problem.max_moved is not None else 0.0
    if move > 0:
        constant -= move * problem.max_moved
    base = np.asarray(problem.cost, float)
    eligible = None if problem.eligible is None else np.asarray(problem.eligible, bool)

    def block(rows: slice) -> np.ndarray:
        reduced = base[rows] + weights[rows] @ (up - lo).T
        count = reduced.shape[0]
        index = np.arange(count)
        current = problem.current[rows]
        has_current = current >= 0
        leave = np.where(has_current, problem.move_penalty * problem.move_weight[rows], 0.0)
        leave = leave + np.where(has_current, move * problem.move_weight[rows], 0.0)
        reduced += leave[:, None]
        reduced[index[has_current], current[has_current]] -= leave[has_current]
        if cap is not None:
            reduced += np.outer(np.asarray(problem.workload, float)[rows], cap)
        if eligible is not None:
            reduced[~eligible[rows]] = np.inf
        locked = problem.locked[rows]
        is_locked = locked >= 0
        if is_locked.any():
            keep = reduced[index[is_locked], locked[is_locked]]
            reduced[is_locked] = np.inf
            reduced[index[is_locked], locked[is_locked]] = keep
        return reduced

    return constant, block


def _blocks(n: int):
    for first in range(0, n, CHUNK_ROWS):
        yield slice(first, min(first + CHUNK_ROWS, n))


def lagrangian_bound(problem: AlignmentProblem, multipliers: Multipliers
                     ) -> tuple[float, np.ndarray]:
    """A valid lower bound on the optimum over ALL allowed pairs (not just candidates).

    Dualise balance, capacity and the move cap; what is left splits per item into a
    minimum over its allowed territories:
    L = Σ_i min_t [c_it + Σ_m (u_tm − l_tm)·w_im + cap_t·workload_i + μ·mw_i·[t ≠ cur_i]]
        − Σ u·upper + Σ l·lower − Σ cap·capacity − μ·max_moved.
    (c includes the move penalty.) Soft rows' multipliers are clipped to their penalty per
    unit (else the bound is −∞). Returns the bound and each item's minimising territory.
    Computed in blocks of items, so memory stays O(CHUNK_ROWS·k).
    """
    constant, block = _lagrangian_costs(problem, multipliers)
    total, plan = constant, np.empty(problem.n_items, np.int64)
    for rows in _blocks(problem.n_items):
        reduced = block(rows)
        plan[rows] = np.argmin(reduced, axis=1)
        total += float(reduced[np.arange(len(plan[rows])), plan[rows]].sum())
    return total, plan


def price_pairs(problem: AlignmentProblem, cand: Candidates, multipliers: Multipliers,
                per_item: int = 3) -> Candidates | None:
    """Column generation step: add, per item, up to ``per_item`` non-candidate pairs whose
    Lagrangian cost beats the item's best candidate. None when no pair prices out (then the
    restricted LP is the LP over all allowed pairs and its bound is global)."""
    _, block = _lagrangian_costs(problem, multipliers)
    mask = cand.mask.copy()
    added = 0
    for rows in _blocks(problem.n_items):
        reduced = block(rows)
        in_cand = cand.mask[rows]
        best_candidate = np.where(in_cand, reduced, np.inf).min(axis=1)
        outside = np.where(in_cand, np.inf, reduced)
        improving = outside < (best_candidate - 1e-9 * np.maximum(1.0, np.abs(
            best_candidate)))[:, None]
        local = np.flatnonzero(improving.any(axis=1))
        if local.size == 0:
            continue
        take = min(per_item, outside.shape[1])
        best = np.argpartition(outside[local], take - 1, axis=1)[:, :take]
        chosen = np.take_along_axis(improving[local], best, axis=1)
        mask[rows.start + np.repeat(local, take)[chosen.ravel()], best.ravel()[chosen.ravel()]] \
            = True
        added += int(chosen.sum())
    return Candidates.from_mask(mask, False, cand.per_item) if added else None


@dataclass
class DualAscent:
    """Result of ``dual_ascent``: best bound, its multipliers and Lagrangian plan."""

    bound: float
    multipliers: Multipliers
    plan: np.ndarray
    iterations: int


def _side_rows(problem: AlignmentProblem, assignment: np.ndarray):
    """Per-unit-of-target subgradients of the dualised rows at a plan."""
    k = problem.n_territories
    scale = np.maximum(problem.targets, 1e-12)
    load = loads(problem, assignment)
    g_up, g_lo = (load - problem.upper) / scale, (problem.lower - load) / scale
    g_cap = np.zeros(k)
    if problem.capacity is not None and problem.workload is not None:
        work = np.bincount(assignment, weights=np.asarray(problem.workload, float), minlength=k)
        finite = np.isfinite(problem.capacity)
        g_cap[finite] = (work[finite] - problem.capacity[finite]) / np.maximum(
            problem.capacity[finite], 1e-12)
    g_move = 0.0
    if problem.max_moved is not None:
        g_move = (moved_weight(problem, assignment) - problem.max_moved) / max(
            problem.max_moved, 1.0)
    return g_up, g_lo, g_cap, g_move


def dual_ascent(problem: AlignmentProblem, *, upper_bound: float | None = None,
                start: Multipliers | None = None, iterations: int = 150,
                deadline: float | None = None) -> DualAscent:
    """Maximise the Lagrangian bound over the multipliers (projected subgradient).

    Works in "per unit of target" coordinates so metrics of any scale step alike; the step is
    Polyak's, θ·(target − L)/‖g‖², toward ``upper_bound`` when known, else 2 % above the best
    bound so far; θ halves after 10 iterations without improvement. Every iterate gives a
    valid bound over all allowed pairs; the best one is returned.
    """
    import time

    k, m = problem.targets.shape
    scale = np.maximum(problem.targets, 1e-12)
    cap_scale = np.ones(k) if problem.capacity is None else np.where(
        np.isfinite(problem.capacity), np.maximum(np.nan_to_num(problem.capacity), 1e-12), 1.0)
    move_scale = max(problem.max_moved or 1.0, 1.0)
    current = start or Multipliers(np.zeros((k, m)), np.zeros((k, m)), np.zeros(k), 0.0)
    # scaled coordinates: u = multiplier × scale
    u_up, u_lo = current.upper * scale, current.lower * scale
    u_cap, u_move = current.capacity * cap_scale, current.move * move_scale
    best = None
    theta, stall = 1.0, 0
    done = 0
    for done in range(1, iterations + 1):
        trial = Multipliers(u_up / scale, u_lo / scale, u_cap / cap_scale, u_move / move_scale)
        bound, plan = lagrangian_bound(problem, trial)
        if best is None or bound > best.bound + 1e-12 * max(1.0, abs(best.bound)):
            best, stall = DualAscent(bound, trial, plan, done), 0
        else:
            stall += 1
            if stall >= 10:
                theta, stall = theta / 2, 0
        if theta < 1e-4 or (deadline is not None and time.monotonic() > deadline):
            break
        g_up, g_lo, g_cap, g_move = _side_rows(problem, plan)
        g_up = np.where((u_up > 0) | (g_up > 0), g_up, 0.0)
        g_lo = np.where((u_lo > 0) | (g_lo > 0), g_lo, 0.0)
        g_cap = np.where((u_cap > 0) | (g_cap > 0), g_cap, 0.0)
        g_move = g_move if (u_move > 0 or g_move > 0) else 0.0
        norm = float((g_up ** 2).sum() + (g_lo ** 2).sum() + (g_cap ** 2).sum() + g_move ** 2)
        if norm <= 1e-18:
            break  # the Lagrangian plan satisfies every dualised row: bound is optimal-ish
        target = upper_bound if upper_bound is not None and upper_bound > best.bound else \
            best.bound + 0.02 * max(abs(best.bound), 1.0)
        step = theta * (target - bound) / norm
        u_up = np.maximum(u_up + step * g_up, 0)
        u_lo = np.maximum(u_lo + step * g_lo, 0)
        u_cap = np.maximum(u_cap + step * g_cap, 0)
        u_move = max(u_move + step * g_move, 0.0)
    best.iterations = done
    return best
