"""Shared pieces of the Zoltners–Sinha assignment model: candidate pairs, plan evaluation.

Model (both engines): binary x[i, t] for candidate pairs only; each item in exactly one
territory; per territory t and metric m, ``lower[t, m] <= Σ_i weights[i, m]·x[i, t] <=
upper[t, m]`` (hard) or soft with penalty ``soft_penalty[m]`` per unit of fractional
deviation (deviation / target) beyond the band; ``Σ workload·x[i, t] <= capacity[t]``;
``Σ_i move_weight[i]·(1 − x[i, current[i]]) <= max_moved`` (items with a current territory);
minimise ``Σ cost·x + move_penalty·moved weight + soft penalties``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from territory_opt.problem import AlignmentProblem
from territory_opt.solvers import clock

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


def soft_penalty_matrix(problem: AlignmentProblem, group_loads: np.ndarray) -> np.ndarray:
    """(g, k) soft-balance penalty of each group's (g, m) loads if it were territory t:
    Σ over soft metrics of penalty × (fractional deviation beyond t's band)."""
    soft = np.asarray(problem.soft, bool)
    excess = np.maximum(group_loads[:, None, :] - problem.upper[None], 0) + np.maximum(
        problem.lower[None] - group_loads[:, None, :], 0)
    fraction = excess / np.maximum(problem.targets[None], 1e-12)
    return (fraction[:, :, soft] * problem.soft_penalty[soft]).sum(axis=2)


def soft_deviation_penalty(problem: AlignmentProblem, territory_loads: np.ndarray) -> float:
    """Σ over soft metrics of penalty × (fractional deviation beyond the band)."""
    if not np.any(problem.soft):
        return 0.0
    return float(np.trace(soft_penalty_matrix(problem, territory_loads)))


def soft_penalty_floor(problem: AlignmentProblem) -> np.ndarray:
    """(n,) soft-balance penalty each item forces on every plan; their sum is a lower bound on
    any plan's soft penalty, whatever its other constraints.

    An item heavier than a territory's upper band puts that territory at least w_i − U_t over,
    and with non-negative weights heavy items sharing a territory add their excesses
    (Σ w_i − U ≥ Σ (w_i − U) for U ≥ 0), so item i forces min_t penalty·(w_i − U_t)⁺ / target_t
    per soft metric. Metrics with negative weights or bands contribute nothing.
    """
    soft = np.asarray(problem.soft, bool)
    weights = np.asarray(problem.weights, float)
    forced = np.zeros(problem.n_items)
    for m in np.flatnonzero(soft):
        if weights[:, m].min() < 0 or problem.upper[:, m].min() < 0:
            continue
        excess = np.maximum(weights[:, m, None] - problem.upper[None, :, m], 0.0)
        fraction = excess / np.maximum(problem.targets[None, :, m], 1e-12)
        forced += problem.soft_penalty[m] * fraction.min(axis=1)
    return forced


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


@dataclass
class _Charges:
    """Multipliers as they enter the Lagrangian: soft rows clipped to their penalty per unit
    (else the bound is −∞), rows that do not exist zeroed; ``constant`` is the part of the
    Lagrangian that does not depend on the plan."""

    shift: np.ndarray               # (k, m) upper − lower multiplier, per metric unit
    capacity: np.ndarray | None     # (k,) per workload unit, None without capacities
    move: float                     # per unit of move weight leaving its current territory
    constant: float


def _charges(problem: AlignmentProblem, multipliers: Multipliers) -> _Charges:
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
    return _Charges(up - lo, cap, move, constant)


def _lagrangian_costs(problem: AlignmentProblem, multipliers: Multipliers):
    """The constant term, and a block function returning the (rows, k) Lagrangian costs
    (inf where not allowed)."""
    weights = np.asarray(problem.weights, float)
    charges = _charges(problem, multipliers)
    base = np.asarray(problem.cost, float)
    eligible = None if problem.eligible is None else np.asarray(problem.eligible, bool)

    def block(rows: slice) -> np.ndarray:
        reduced = base[rows] + weights[rows] @ charges.shift.T
        count = reduced.shape[0]
        index = np.arange(count)
        current = problem.current[rows]
        has_current = current >= 0
        leave = np.where(has_current, (problem.move_penalty + charges.move)
                         * problem.move_weight[rows], 0.0)
        reduced += leave[:, None]
        reduced[index[has_current], current[has_current]] -= leave[has_current]
        if charges.capacity is not None:
            reduced += np.outer(np.asarray(problem.workload, float)[rows], charges.capacity)
        if eligible is not None:
            reduced[~eligible[rows]] = np.inf
        locked = problem.locked[rows]
        is_locked = locked >= 0
        if is_locked.any():
            keep = reduced[index[is_locked], locked[is_locked]]
            reduced[is_locked] = np.inf
            reduced[index[is_locked], locked[is_locked]] = keep
        return reduced

    return charges.constant, block


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


@dataclass
class Pricing:
    """One sweep over all allowed pairs at some multipliers: the Lagrangian bound (valid over
    every pair), each item's minimising territory, and the candidates with the priced-in
    pairs added (None when no pair priced in)."""

    bound: float
    plan: np.ndarray
    cand: Candidates | None


def price(problem: AlignmentProblem, cand: Candidates, multipliers: Multipliers, *,
          window: float = 0.0, per_item: int = 3) -> Pricing:
    """Column generation step: per item, add up to ``per_item`` non-candidate pairs whose
    Lagrangian cost is below the item's best candidate + ``window`` (cost units; 0 = strictly
    better). With ``window=0`` and nothing added, the restricted LP whose duals these are is
    the LP over all allowed pairs."""
    constant, block = _lagrangian_costs(problem, multipliers)
    mask = cand.mask.copy()
    total, plan, added = constant, np.empty(problem.n_items, np.int64), 0
    for rows in _blocks(problem.n_items):
        reduced = block(rows)
        plan[rows] = np.argmin(reduced, axis=1)
        total += float(reduced[np.arange(reduced.shape[0]), plan[rows]].sum())
        in_cand = cand.mask[rows]
        best_candidate = np.where(in_cand, reduced, np.inf).min(axis=1)
        outside = np.where(in_cand, np.inf, reduced)
        improving = outside < (best_candidate + window - 1e-9 * np.maximum(1.0, np.abs(
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
    return Pricing(total, plan, Candidates.from_mask(mask, False, cand.per_item) if added
                   else None)


class _DualSpace:
    """The dualised rows in "per unit of target" coordinates, as one vector
    ``[upper (k·m), lower (k·m), capacity (k), move (1)]``: multiplier = coordinate / scale,
    so metrics of any size step alike. Rows that do not exist are held at 0; soft rows are
    boxed by their penalty per unit (beyond it the Lagrangian is −∞)."""

    def __init__(self, problem: AlignmentProblem):
        k, m = problem.targets.shape
        self.problem, self.k, self.m = problem, k, m
        self.scale = np.maximum(problem.targets, 1e-12)
        capped = problem.capacity is not None and problem.workload is not None
        self.finite_cap = np.isfinite(problem.capacity) if capped else np.zeros(k, bool)
        self.cap_scale = np.where(self.finite_cap, np.maximum(
            np.nan_to_num(problem.capacity) if capped else 1.0, 1e-12), 1.0)
        self.move_scale = max(problem.max_moved or 1.0, 1.0)
        soft_box = np.where(np.asarray(problem.soft, bool)[None, :],
                            np.broadcast_to(problem.soft_penalty, (k, m)), np.inf)
        cap_box = np.where(self.finite_cap, np.inf, 0.0)
        move_box = np.inf if problem.max_moved is not None else 0.0
        high = np.concatenate([soft_box.ravel(), soft_box.ravel(), cap_box, [move_box]])
        self.bounds = [(0.0, None if np.isinf(h) else float(h)) for h in high]

    def multipliers(self, y: np.ndarray) -> Multipliers:
        km = self.k * self.m
        return Multipliers(y[:km].reshape(self.k, self.m) / self.scale,
                           y[km:2 * km].reshape(self.k, self.m) / self.scale,
                           y[2 * km:2 * km + self.k] / self.cap_scale,
                           float(y[-1] / self.move_scale))

    def vector(self, multipliers: Multipliers) -> np.ndarray:
        return np.concatenate([(multipliers.upper * self.scale).ravel(),
                               (multipliers.lower * self.scale).ravel(),
                               multipliers.capacity * self.cap_scale,
                               [multipliers.move * self.move_scale]])

    def gradient(self, territory_loads: np.ndarray, work: np.ndarray, moved: float
                 ) -> np.ndarray:
        """d Lagrangian / d coordinate at the given (possibly fractional) loads."""
        problem = self.problem
        g_cap = np.zeros(self.k)
        if self.finite_cap.any():
            capped = self.finite_cap
            g_cap[capped] = (work[capped] - problem.capacity[capped]) / self.cap_scale[capped]
        g_move = 0.0 if problem.max_moved is None else \
            (moved - problem.max_moved) / self.move_scale
        return np.concatenate([((territory_loads - problem.upper) / self.scale).ravel(),
                               ((problem.lower - territory_loads) / self.scale).ravel(),
                               g_cap, [g_move]])


class _PairLagrangian:
    """The Lagrangian restricted to candidate pairs, vectorised over pairs, and its smoothed
    (soft-min) form: softmin_τ(r) = −τ·log Σ_t exp(−r_t/τ) per item, whose gradient is the
    expected load under the Gibbs shares exp(−r/τ) / Σ exp(−r/τ). It is concave in the
    multipliers, within τ·log(#candidates) per item of the exact Lagrangian, and tends to
    it as τ → 0."""

    def __init__(self, problem: AlignmentProblem, cand: Candidates):
        self.problem, self.cand = problem, cand
        self.cost = pair_costs(problem)[cand.item, cand.terr]
        weights = np.asarray(problem.weights, float)
        self.weights = [np.ascontiguousarray(weights[cand.item, j])
                        for j in range(weights.shape[1])]  # per metric, per pair
        self.workload = None if problem.workload is None else \
            np.asarray(problem.workload, float)[cand.item]
        current = problem.current[cand.item]
        self.away = np.where((current >= 0) & (cand.terr != current),
                             np.asarray(problem.move_weight, float)[cand.item], 0.0)
        self.first, self.counts = cand.start[:-1], np.diff(cand.start)

    def reduced(self, multipliers: Multipliers) -> tuple[np.ndarray, float]:
        """Per-pair Lagrangian costs and the constant term."""
        charges = _charges(self.problem, multipliers)
        terr = self.cand.terr
        reduced = self.cost.copy()
        for j, weight in enumerate(self.weights):
            reduced += weight * charges.shift[:, j][terr]
        if charges.capacity is not None:
            reduced += self.workload * charges.capacity[terr]
        if charges.move:
            reduced += charges.move * self.away
        return reduced, charges.constant

    def item_minimum(self, reduced: np.ndarray) -> np.ndarray:
        return np.minimum.reduceat(reduced, self.first)

    def smoothed(self, multipliers: Multipliers, tau: float
                 ) -> tuple[float, np.ndarray, np.ndarray, float]:
        """Smoothed Lagrangian value, and the expected loads (k, m), workloads (k,) and
        moved weight under the Gibbs shares."""
        reduced, constant = self.reduced(multipliers)
        low = self.item_minimum(reduced)
        gibbs = np.exp((np.repeat(low, self.counts) - reduced) / tau)
        total = np.add.reduceat(gibbs, self.first)
        share = gibbs / np.repeat(total, self.counts)
        value = constant + float(low.sum() - tau * np.log(total).sum())
        k, terr = self.problem.n_territories, self.cand.terr
        territory_loads = np.zeros((k, len(self.weights)))
        for j, weight in enumerate(self.weights):
            territory_loads[:, j] = np.bincount(terr, weights=share * weight, minlength=k)
        work = np.zeros(k) if self.workload is None else \
            np.bincount(terr, weights=share * self.workload, minlength=k)
        return value, territory_loads, work, float((share * self.away).sum())


def _regret_scale(problem: AlignmentProblem, cand: Candidates) -> float:
    """Median gap between an item's cheapest and second-cheapest candidate (cost units): the
    scale on which Lagrange multipliers change assignments."""
    costs = pair_costs(problem)[cand.item, cand.terr]
    order = np.lexsort((costs, cand.item))
    several = np.flatnonzero(np.diff(cand.start) > 1)
    first = order[cand.start[several]]
    second = order[cand.start[several] + 1]
    regret = costs[second] - costs[first]
    scale = float(np.median(regret)) if regret.size else 0.0
    return scale if scale > 0 else max(float(np.abs(costs).mean()) if costs.size else 0.0, 1.0)


SMOOTH_TEMPERATURES = (0.3, 0.1, 0.03)  # τ per stage, × the regret scale
SMOOTH_ITERATIONS = 100                 # L-BFGS-B iterations per stage
WINDOW = 5.0                            # pairs within WINDOW·τ of their item's best stay in play
SMOOTH_PRICING_ROUNDS = 6               # per temperature: re-maximise while pricing adds pairs
SETTLED_SHARE = 0.002                   # ... more than this share of items' worth of pairs
UNSETTLED_SHARE = 0.02                  # pricing added more: the candidates lack what the
UNSETTLED_ITERATIONS = 25               # duals want, so maximise briefly and price again


@dataclass
class SmoothedDual:
    """Result of ``smoothed_dual``."""

    bound: float                 # best exact Lagrangian bound seen (valid over all pairs)
    multipliers: Multipliers     # the multipliers of that bound
    cand: Candidates             # the candidates, with pairs priced in along the way
    window: Candidates           # per item, the pairs within WINDOW·τ of its best, at the end
    plan: np.ndarray             # each item's Lagrangian-best territory at the end
    evaluations: int
    stopped: bool                # a deadline cut a stage short


def smoothed_dual(problem: AlignmentProblem, cand: Candidates, *,
                  deadline: float | None = None, report=None) -> SmoothedDual:
    """Near-optimal LP duals without an LP: maximise the smoothed Lagrangian over the
    candidates with L-BFGS-B, for decreasing temperatures τ (``SMOOTH_TEMPERATURES`` × the
    regret scale). After each maximisation one sweep over all pairs takes the exact bound and
    prices in pairs within WINDOW·τ of their item's best candidate; while pricing adds more
    than ``SETTLED_SHARE`` of the items' worth of pairs, the same τ is maximised again (briefly,
    ``UNSETTLED_ITERATIONS``, while the candidates clearly lack what the duals want).
    ``deadline`` (time.monotonic) or Ctrl-C ends the maximisation early; ``report(bound)`` is
    called after every sweep. Budgeted by iterations only, so it is deterministic without a
    deadline.

    At the end, ``window`` keeps, per item, the candidates within WINDOW·τ of its best: at
    near-optimal duals the LP optimum lives there, so the LP over the window is small (most
    items have one pair) and pricing completes it."""
    space = _DualSpace(problem)
    sigma = _regret_scale(problem, cand)
    y = np.zeros(len(space.bounds))
    best: Pricing | None = None
    best_multipliers = space.multipliers(y)
    evaluations, stopped, tau, settled = 0, False, sigma, False
    pairs = _PairLagrangian(problem, cand)

    def negated(vector: np.ndarray, pairs: _PairLagrangian, tau: float
                ) -> tuple[float, np.ndarray]:
        nonlocal evaluations
        evaluations += 1
        value, territory_loads, work, moved = pairs.smoothed(space.multipliers(vector), tau)
        return -value, -space.gradient(territory_loads, work, moved)

    def check(_) -> None:
        if deadline is not None and (time.monotonic() > deadline or clock.interrupted()):
            raise StopIteration

    for relative in SMOOTH_TEMPERATURES:
        tau = relative * sigma
        for _ in range(SMOOTH_PRICING_ROUNDS):
            iterations = SMOOTH_ITERATIONS if settled else UNSETTLED_ITERATIONS
            result = minimize(negated, y, args=(pairs, tau), jac=True, method="L-BFGS-B",
                              bounds=space.bounds, callback=check,
                              options={"maxiter": iterations, "maxfun": 2 * iterations,
                                       "ftol": 1e-13, "gtol": 0.0})
            y = result.x
            multipliers = space.multipliers(y)
            scan = price(problem, cand, multipliers, window=WINDOW * tau, per_item=4)
            if best is None or scan.bound > best.bound:
                best, best_multipliers = scan, multipliers
            if report is not None:
                report(best.bound)
            stopped = deadline is not None and (time.monotonic() > deadline
                                                or clock.interrupted())
            if scan.cand is None:
                break
            added = scan.cand.size - cand.size
            cand = scan.cand
            pairs = _PairLagrangian(problem, cand)
            settled = added <= UNSETTLED_SHARE * problem.n_items
            if stopped or added <= SETTLED_SHARE * problem.n_items:
                break
        if stopped:
            break
    reduced, _ = pairs.reduced(space.multipliers(y))
    low = pairs.item_minimum(reduced)
    keep = reduced <= np.repeat(low, pairs.counts) + WINDOW * tau
    mask = np.zeros_like(cand.mask)
    mask[cand.item[keep], cand.terr[keep]] = True
    plan = cand.terr[np.lexsort((reduced, cand.item))[cand.start[:-1]]]
    return SmoothedDual(best.bound, best_multipliers, cand,
                        Candidates.from_mask(mask, False, cand.per_item), plan, evaluations,
                        stopped)
