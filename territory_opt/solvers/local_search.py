"""Large-instance engine (thousands of units): construct, balance, compact, polish by LNS; bound.

1. Start: free centres under contiguity, recursive spanning-tree bisection, each part sized for
   its territory. Otherwise seeds (weighted k-means on unit positions for free centres, per
   connected component under contiguity; or the fixed rep units), then region growing: the
   territory with the smallest relative load takes its cheapest frontier unit.
2. Balance: boundary moves that cut the total bound violation, swaps of two boundary units
   (one metric fixed without breaking another), then chains of moves along a path of adjacent
   territories between an overloaded or underloaded one and one with room. All stay connected.
3. A start that stays unbalanced (hard bands, bisection) is re-cut around its unbalanced
   territories (2 territory adjacencies) and balanced again, up to ``LOCAL_RESTARTS`` times,
   before a fresh start.
4. Compactness: improving boundary moves within the bounds, alternating with re-centring (free
   centres: the best unit among those nearest the territory's weighted centroid).
5. LNS: 2–3 adjacent territories re-optimised exactly (fixed centres, ``hess.solve_exact``);
   groups with no territory in common are solved in parallel threads (``lns_workers``);
   deterministic runs solve them in batches, each step on its own work clock.

The bound is valid for the whole problem: a Lagrangian relaxation of the free-centre model
(assignment rows dualised, each centre's load kept within [L, U] as a continuous knapsack;
multipliers steered over ~1.5 territories' worth of nearest units, the best ones' knapsacks
then solved over all units), Σ_i min_t cost_it for fixed centres,
k − 1 for cut edges on a connected map; plus, with soft metrics, the penalty that units heavier
than a band force on every plan (``assignment_model.soft_penalty_floor``). The objective is the
compactness cost plus the soft-balance penalties, as in the exact model.
"""

from __future__ import annotations

import contextvars
import heapq
import itertools
import math
import os
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

import numpy as np
from scipy.spatial import cKDTree

from territory_opt.errors import NoSolutionError
from territory_opt.problem import AlignmentProblem
from territory_opt.solvers import clock
from territory_opt.solvers.assignment_model import loads, soft_deviation_penalty, soft_penalty_floor
from territory_opt.solvers.base import Solution, SolveOptions
from territory_opt.solvers.contiguity import (
    Graph,
    components,
    random_spanning_tree,
    subtree_loads,
    subtree_mask,
)
from territory_opt.solvers.graph_problem import EARTH_RADIUS_KM
from territory_opt.solvers.hess import ExactInstance, solve_exact

# Share of the bound's time for subgradient steps (steered over candidate pairs); the rest
# solves the best multipliers' knapsacks over all units, which makes the bound valid. National
# ZIP instance, 80 s: 0.8 gives 9.26e7 (the knapsacks not all solved in time), 0.6 1.0097e8
SUBGRADIENT_SHARE = 0.6
LOCAL_RESTARTS = 3  # large engine, hard bands: local re-cuts of a stuck start before a fresh one
MAX_LNS_WORKERS = 4  # LNS groups solved at once by default (model building holds the GIL)
# Deterministic runs by default: a fixed count, not the machine's cores, so that the plan is the
# same everywhere (a machine with fewer cores only takes longer)
DETERMINISTIC_LNS_WORKERS = 2
# Deterministic LNS batches hold this many groups per worker: step times vary tenfold (median
# 0.5, mean 1.3, up to 6 work s on the national instance), so a batch of one group per worker
# would mostly wait for its slowest step
LNS_BATCH_PER_WORKER = 4
MIN_BATCH_STEP_SECONDS = 0.25  # below this a step seldom solves its group (median 0.5 work s)


def lns_workers(options: SolveOptions) -> int:
    """LNS threads: ``options.workers``; else, deterministic, ``DETERMINISTIC_LNS_WORKERS``;
    else the usable cores up to ``MAX_LNS_WORKERS``."""
    if options.workers is not None:
        return options.workers
    if options.deterministic:
        return DETERMINISTIC_LNS_WORKERS
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(MAX_LNS_WORKERS, cores or 1))


def unit_vectors(latlon: np.ndarray) -> np.ndarray:
    """(n, 3) points on the unit sphere for lat/lon degrees."""
    lat, lon = np.radians(latlon[:, 0]), np.radians(latlon[:, 1])
    return np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])


def chord_to_km(chord: np.ndarray) -> np.ndarray:
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.clip(chord / 2, 0.0, 1.0))


class Plan:
    """A mutable plan: labels, members, loads and centres, with cost and feasibility helpers."""

    def __init__(self, problem: AlignmentProblem, graph: Graph, lower: np.ndarray,
                 upper: np.ndarray, contiguous: bool):
        self.problem, self.graph, self.contiguous = problem, graph, contiguous
        self.n, self.k = problem.n_items, problem.n_territories
        hard = ~np.asarray(problem.soft, bool)
        # Hard metrics steer and must hold; with none, the soft ones steer (best effort).
        self.enforced = bool(hard.any())
        steer = hard if self.enforced else np.ones_like(hard)
        self.w = np.asarray(problem.weights, float)[:, steer]
        self.lower, self.upper = lower[:, steer], upper[:, steer]
        self.scale = np.maximum(self.upper.mean(axis=0), 1e-9)
        self.free = problem.centers == "free"
        self.kind = problem.compactness
        self.xyz = unit_vectors(np.asarray(problem.item_latlon, float))
        self.dist = (np.asarray(problem.item_distance_km, float)
                     if problem.item_distance_km is not None else None)
        self.w0 = problem.free_centre_weight
        self.fixed_cost = None if self.free else np.asarray(problem.cost, float)
        self.allowed = None if self.free else _allowed(problem)
        self.label = np.full(self.n, -1)
        self.members: list[set[int]] = [set() for _ in range(self.k)]
        self.load = np.zeros((self.k, self.w.shape[1]))
        self.centre = np.full(self.k, -1)

    # --- costs -------------------------------------------------------------------------------
    def km(self, units: np.ndarray, centres: np.ndarray) -> np.ndarray:
        if self.dist is not None:
            return self.dist[units, centres]
        return chord_to_km(np.linalg.norm(self.xyz[units] - self.xyz[centres], axis=-1))

    def cost(self, units, territories) -> np.ndarray:
        """Objective cost of units in territories (elementwise); 0 for cut edges / none."""
        units, territories = np.asarray(units), np.asarray(territories)
        if self.kind in ("cut_edges", "none"):
            return np.zeros(np.broadcast(units, territories).shape)
        if not self.free:
            return self.fixed_cost[units, territories]
        d = self.km(units, self.centre[territories])
        return self.w0[units] * (d**2 if self.kind == "inertia" else d)

    def objective(self) -> float:
        if self.kind == "cut_edges":
            return float(sum(int(np.sum(self.label[nb] != self.label[i]))
                             for i, nb in enumerate(self.graph.nbrs)) // 2)
        return float(self.cost(np.arange(self.n), self.label).sum())

    def move_delta(self, i: int, b: int) -> float:
        """Objective change of moving unit i to territory b."""
        if self.kind == "cut_edges":
            nb = self.label[self.graph.nbrs[i]]
            return float(np.sum(nb == self.label[i]) - np.sum(nb == b))
        return float(self.cost(i, b) - self.cost(i, self.label[i]))

    # --- state -------------------------------------------------------------------------------
    def assign(self, i: int, t: int) -> None:
        old = self.label[i]
        if old >= 0:
            self.members[old].discard(i)
            self.load[old] -= self.w[i]
        self.label[i] = t
        self.members[t].add(i)
        self.load[t] += self.w[i]

    def violation(self, load: np.ndarray, t: int) -> float:
        return float(np.sum((np.maximum(self.lower[t] - load, 0)
                             + np.maximum(load - self.upper[t], 0)) / self.scale))

    def violations(self) -> np.ndarray:
        """(k,) each territory's bound violation."""
        return np.array([self.violation(self.load[t], t) for t in range(self.k)])

    def total_violation(self) -> float:
        return sum(self.violations().tolist())

    def acceptable(self) -> bool:
        """Every hard bound holds (always true when all metrics are soft)."""
        return not self.enforced or self.total_violation() <= 1e-12

    def can_leave(self, i: int) -> bool:
        """Unit i may leave its territory: not its centre, and the rest stays connected."""
        a = self.label[i]
        if i == self.centre[a] or len(self.members[a]) <= 1:
            return False
        if not self.contiguous:
            return True
        same = [int(v) for v in self.graph.nbrs[i] if self.label[v] == a]
        if len(same) <= 1:
            return bool(same)
        targets, seen = set(same[1:]), {i, same[0]}
        queue = deque([same[0]])
        while queue and targets:
            u = queue.popleft()
            for v in self.graph.nbrs[u]:
                v = int(v)
                if v not in seen and self.label[v] == a:
                    seen.add(v)
                    targets.discard(v)
                    queue.append(v)
        return not targets

    def may(self, i: int, t: int) -> bool:
        """Unit i may be placed in territory t (eligibility and locks, fixed centres)."""
        return self.allowed is None or bool(self.allowed[i, t])

    def neighbour_territories(self, i: int) -> set[int]:
        """Territories next to unit i that it may move to."""
        return {int(t) for t in self.label[self.graph.nbrs[i]]
                if t != self.label[i] and self.may(i, int(t))}


def _allowed(problem: AlignmentProblem) -> np.ndarray | None:
    """(n, k) pairs allowed by ``eligible`` and ``locked`` (None when every pair is)."""
    locked = np.asarray(problem.locked)
    if problem.eligible is None and not (locked >= 0).any():
        return None
    allowed = np.ones((problem.n_items, problem.n_territories), bool) \
        if problem.eligible is None else np.asarray(problem.eligible, bool).copy()
    rows = np.flatnonzero(locked >= 0)
    allowed[rows] = False
    allowed[rows, locked[rows]] = True
    return allowed


# --- construction ----------------------------------------------------------------------------
def _seats_per_component(plan: Plan, comps: list[list[int]]) -> list[int]:
    """Territories per connected component, proportional to weight, each within its feasible
    count range (the overt checks guarantee a choice summing to k exists)."""
    totals = np.array([plan.w[c].sum(axis=0) for c in comps])
    lo = np.max(np.ceil(totals / plan.upper.max(axis=0) - 1e-9), axis=1).astype(int)
    hi = np.min(np.floor(totals / np.maximum(plan.lower.min(axis=0), 1e-9) + 1e-9),
                axis=1).astype(int)
    lo = np.maximum(lo, 1)
    seats = lo.copy()
    share = totals[:, 0] / max(totals[:, 0].sum(), 1e-9) * plan.k
    while seats.sum() < plan.k:
        room = np.where(seats < hi, share - seats, -np.inf)
        seats[int(np.argmax(room))] += 1
    return seats.tolist()


def weighted_kmeans(points: np.ndarray, weight: np.ndarray, count: int,
                    rng: np.random.Generator, iterations: int = 15) -> np.ndarray:
    """Lloyd's k-means with weights, k-means++ initialisation; returns (count, dim) centroids."""
    centres = [points[rng.choice(len(points), p=weight / weight.sum())]]
    nearest = np.sum((points - centres[0]) ** 2, axis=1)
    for _ in range(count - 1):
        prob = weight * nearest
        centres.append(points[rng.choice(len(points), p=prob / prob.sum())])
        nearest = np.minimum(nearest, np.sum((points - centres[-1]) ** 2, axis=1))
    centres = np.array(centres)
    for _ in range(iterations):
        _, owner = cKDTree(centres).query(points)
        total = np.bincount(owner, weights=weight, minlength=count)
        moved = np.column_stack([np.bincount(owner, weights=weight * points[:, d], minlength=count)
                                 for d in range(points.shape[1])])
        keep = total > 0
        centres[keep] = moved[keep] / total[keep, None]
    return centres


def _seed_units(plan: Plan, units: list[int], count: int, rng: np.random.Generator) -> list[int]:
    """``count`` distinct seed units: weighted k-means on unit positions, snapped to units."""
    units_arr = np.asarray(units)
    if count >= len(units_arr):
        return units_arr[:count].tolist()
    weight = np.maximum(plan.w0[units_arr], 1e-6)
    tree = cKDTree(plan.xyz[units_arr])
    chosen: list[int] = []
    taken: set[int] = set()
    for centroid in weighted_kmeans(plan.xyz[units_arr], weight, count, rng):
        _, idx = tree.query(centroid, k=min(len(units_arr), 32))
        for j in np.atleast_1d(idx):
            if int(units_arr[j]) not in taken:
                taken.add(int(units_arr[j]))
                chosen.append(int(units_arr[j]))
                break
    rest = [u for u in units_arr.tolist() if u not in taken]
    while len(chosen) < count:
        chosen.append(rest.pop())
    return chosen


def _tree_split(plan: Plan, region: np.ndarray, territories: np.ndarray,
                rng: np.random.Generator, tries: int = 40) -> tuple[np.ndarray, np.ndarray, int]:
    """Split a connected region meant for ``territories`` into two connected parts for the
    first s1 of them and the rest (s1 = 1 for regions of at most 8 seats and 300 units,
    as GerryChain's recursive_tree_part, else half).

    Cuts one edge of a random spanning tree of the region (GerryChain-style), choosing the
    edge whose smaller side's loads are closest to its share of the region in every metric:
    the share of its territories' targets (mid-band), so a half-FTE territory gets half a
    part. Returns (part for territories[:s1], rest, s1).
    """
    seats = len(territories)
    # carve single territories off small county-scale regions (as GerryChain), else halve
    s1 = 1 if seats <= 8 and len(region) <= 300 else seats // 2
    local = {int(u): a for a, u in enumerate(region)}
    rows, cols = [], []
    for a, u in enumerate(region):
        for v in plan.graph.nbrs[u]:
            b = local.get(int(v))
            if b is not None and a < b:
                rows.append(a)
                cols.append(b)
    rows, cols = np.array(rows, dtype=int), np.array(cols, dtype=int)
    w = plan.w[region] / plan.scale
    total = w.sum(axis=0)
    target = plan.lower[territories] + plan.upper[territories]  # (seats, m), twice mid-band
    share = target[:s1].sum(axis=0) / np.maximum(target.sum(axis=0), 1e-12)
    best = (np.inf, None)
    tries = tries if len(region) > 2000 else (4 * tries if len(region) > 300 else 25 * tries)
    tolerance = float(np.min((plan.upper - plan.lower).mean(axis=0) / (2 * plan.scale)))
    enough = tolerance if seats == 2 else 0.5 * tolerance * min(s1, seats - s1)
    want = np.array([total * share, total * (1 - share)])  # (2, m)
    per_seat = total / seats
    n = len(region)
    loads_and_count = np.column_stack([w, np.ones(n)])  # the last column counts units
    for _ in range(tries):
        order, parent = random_spanning_tree(n, rows, cols, rng)
        sub = subtree_loads(order, parent, loads_and_count)[order[1:]]
        dev = np.max(np.abs(sub[:, None, :-1] - want[None]) / per_seat, axis=2)
        which = np.argmin(dev, axis=1)
        score = dev[np.arange(len(which)), which]
        # each side needs a unit per territory it is cut for (a heavy unit alone could take two)
        units_for_first = np.where(which == 0, sub[:, -1], n - sub[:, -1])
        score = score + 1e6 * ((units_for_first < s1) | (n - units_for_first < seats - s1))
        pick = int(np.argmin(score))
        if score[pick] < best[0]:
            inside = subtree_mask(order, parent, [order[1:][pick]])[0]
            part = inside if which[pick] == 0 else ~inside
            best = (score[pick], part)
        if best[0] <= enough:  # within the balance tolerance (half of it above the last level)
            break
    part = best[1]
    return region[part], region[~part], s1


def partition_by_trees(plan: Plan, rng: np.random.Generator) -> np.ndarray:
    """Recursive spanning-tree bisection into k connected parts, each sized for the territory
    whose label it gets; returns labels."""
    labels = np.full(plan.n, -1)
    comps = components(plan.graph, range(plan.n))
    ends = np.cumsum(_seats_per_component(plan, comps))
    for comp, seats, end in reversed(list(zip(comps, np.diff(ends, prepend=0), ends))):
        _bisect(plan, np.array(sorted(comp)), np.arange(end - seats, end), rng, labels)
    return labels


def _bisect(plan: Plan, region: np.ndarray, territories: np.ndarray, rng: np.random.Generator,
            labels: np.ndarray) -> None:
    """Cut a connected region into one connected part per territory by recursive spanning-tree
    bisection (``_tree_split``), writing the parts' territories into ``labels``."""
    stack = [(region, territories)]
    while stack:
        region, territories = stack.pop()
        if len(territories) == 1 or len(region) == 1:
            labels[region] = territories[0]
            continue
        part, rest, s1 = _tree_split(plan, region, territories, rng)
        stack.append((part, territories[:s1]))
        stack.append((rest, territories[s1:]))


def recut_around(plan: Plan, unbalanced: np.ndarray, rng: np.random.Generator,
                 hops: int = 2) -> None:
    """A local restart (free centres, contiguity): the territories within ``hops`` territory
    adjacencies of the unbalanced ones are cut afresh by spanning-tree bisection, each connected
    piece of their union on its own, and re-centred. Costs a region's bisection, not the map's."""
    near, frontier = set(map(int, unbalanced)), set(map(int, unbalanced))
    for _ in range(hops):
        frontier = set().union(*(_adjacent_territories(plan, t) for t in frontier)) - near
        near |= frontier
    region = sorted(set().union(*(plan.members[t] for t in near)))
    labels = np.full(plan.n, -1)
    for piece in components(plan.graph, region):
        piece = np.array(sorted(piece))
        _bisect(plan, piece, np.unique(plan.label[piece]), rng, labels)
    clock.visits(150 * len(region))
    for i in region:
        plan.assign(int(i), int(labels[i]))
    _centre_afresh(plan, sorted(near))


def _centre_afresh(plan: Plan, territories) -> None:
    """Centres of freshly cut territories: any member, then the best by ``recentre``."""
    plan.centre[territories] = [next(iter(plan.members[t])) for t in territories]
    recentre(plan, territories)


def construct(plan: Plan, rng: np.random.Generator) -> None:
    """Free centres under contiguity: recursive spanning-tree bisection, then the best centre
    per part. Otherwise: seed the territories and grow them from their centres."""
    clock.visits(150 * plan.n)  # measured: spanning-tree bisection and growth
    if plan.free and plan.contiguous:
        labels = partition_by_trees(plan, rng)
        for i, t in enumerate(labels):
            plan.assign(i, int(t))
        _centre_afresh(plan, list(range(plan.k)))
        return
    if plan.free:
        comps = components(plan.graph, range(plan.n)) if plan.contiguous else [list(range(plan.n))]
        seats = _seats_per_component(plan, comps)
        seeds = [s for comp, c in zip(comps, seats) for s in _seed_units(plan, comp, c, rng)]
        plan.centre[:] = seeds
    elif plan.problem.center_items is not None:
        plan.centre[:] = plan.problem.center_items
    else:  # each rep's nearest unit roots its territory
        plan.centre[:] = np.argmin(np.asarray(plan.problem.distance_km, float), axis=0)
    for t, c in enumerate(plan.centre):
        plan.assign(int(c), t)
    frontier = [[] for _ in range(plan.k)]
    for t, c in enumerate(plan.centre):
        for v in plan.graph.nbrs[c]:
            if plan.may(int(v), t):
                heapq.heappush(frontier[t], (float(plan.cost(int(v), t)), int(v)))
    target = plan.upper.mean(axis=0)
    order = [(float(np.max(plan.load[t] / target)), t) for t in range(plan.k)]
    heapq.heapify(order)
    while order:
        _, t = heapq.heappop(order)
        while frontier[t] and plan.label[frontier[t][0][1]] >= 0:
            heapq.heappop(frontier[t])
        if not frontier[t]:
            continue
        _, u = heapq.heappop(frontier[t])
        plan.assign(u, t)
        for v in plan.graph.nbrs[u]:
            if plan.label[v] < 0 and plan.may(int(v), t):
                heapq.heappush(frontier[t], (float(plan.cost(int(v), t)), int(v)))
        heapq.heappush(order, (float(np.max(plan.load[t] / target)), t))
    # units no territory could reach (no graph path, or cut off by locks and eligibility)
    for u in np.flatnonzero(plan.label < 0):
        cost = plan.cost(np.full(plan.k, u), np.arange(plan.k)).astype(float)
        if plan.allowed is not None:
            cost = np.where(plan.allowed[u], cost, np.inf)
        plan.assign(int(u), int(np.argmin(cost)))


# --- balance -----------------------------------------------------------------------------------
def _best_balance_move(plan: Plan, t: int) -> tuple[float, int, int] | None:
    """Best violation-reducing move into or out of territory t: (delta, unit, destination)."""
    best = None
    over = np.any(plan.load[t] > plan.upper[t])
    if over:
        candidates = [(i, b) for i in plan.members[t] for b in plan.neighbour_territories(i)]
    else:
        boundary = {int(v) for i in plan.members[t] for v in plan.graph.nbrs[i]
                    if plan.label[v] != t}
        candidates = [(i, t) for i in boundary if plan.may(i, t)]
    for i, b in candidates:
        a = plan.label[i]
        delta = (plan.violation(plan.load[a] - plan.w[i], a)
                 + plan.violation(plan.load[b] + plan.w[i], b)
                 - plan.violation(plan.load[a], a) - plan.violation(plan.load[b], b))
        if delta >= -1e-12:
            continue
        key = (delta, plan.move_delta(i, b) * 1e-12)
        if (best is None or key < best[0]) and plan.can_leave(i):
            best = (key, i, b)
    return None if best is None else (best[0][0], best[1], best[2])


def _try_swap(plan: Plan, t: int, rng: np.random.Generator, sample: int = 15) -> bool:
    """Exchange a boundary unit of t with one of a neighbouring territory when that cuts the
    total violation (fixes one metric without breaking the other); both stay connected."""
    candidates = []
    boundary = [i for i in plan.members[t] if i != plan.centre[t]]
    by_nbr: dict[int, list[int]] = {}
    for i in boundary:
        for b in plan.neighbour_territories(i):
            by_nbr.setdefault(b, []).append(i)
    for b, mine in by_nbr.items():
        theirs = [int(j) for i in mine for j in plan.graph.nbrs[i]
                  if plan.label[j] == b and j != plan.centre[b]]
        mine = list(rng.permutation(mine)[:sample])
        theirs = list(rng.permutation(sorted(set(theirs)))[:sample])
        base = plan.violation(plan.load[t], t) + plan.violation(plan.load[b], b)
        theirs = [j for j in theirs if plan.may(j, t)]
        for i in mine:
            for j in theirs:
                shift = plan.w[i] - plan.w[j]
                delta = (plan.violation(plan.load[t] - shift, t)
                         + plan.violation(plan.load[b] + shift, b) - base)
                if delta < -1e-12:
                    candidates.append((delta, i, j, b))
    candidates.sort(key=lambda c: c[0])
    for _, i, j, b in candidates[:30]:
        plan.assign(i, b)
        plan.assign(j, t)
        if not plan.contiguous or (len(components(plan.graph, plan.members[t])) == 1
                                   and len(components(plan.graph, plan.members[b])) == 1):
            return True
        plan.assign(j, b)
        plan.assign(i, t)
    return False


def _adjacent_territories(plan: Plan, t: int) -> set[int]:
    """The territories with a unit next to one of t's (read from t's members only)."""
    return {int(b) for i in plan.members[t] for b in plan.label[plan.graph.nbrs[i]]} - {t}


def _territory_graph(plan: Plan) -> list[set[int]]:
    adj = [set() for _ in range(plan.k)]
    for i, nb in enumerate(plan.graph.nbrs):
        for t in plan.label[nb]:
            if t != plan.label[i]:
                adj[plan.label[i]].add(int(t))
    return adj


def _shift_chain(plan: Plan, start_t: int, rng: np.random.Generator) -> bool:
    """Shift load along a path of adjacent territories between ``start_t`` and the nearest
    territory that can absorb (if ``start_t`` is over its bound) or give (if under) one unit.

    Each hop moves one connectivity-safe boundary unit towards the territory short of load; the
    chain is kept only if the total violation drops.
    """
    over = bool(np.any(plan.load[start_t] > plan.upper[start_t]))
    unit = plan.w.mean(axis=0)
    adj = _territory_graph(plan)
    parent = {start_t: -1}
    queue = deque([start_t])
    end_t = None
    while queue:
        t = queue.popleft()
        if t != start_t and (np.all(plan.load[t] + unit <= plan.upper[t]) if over
                             else np.all(plan.load[t] - unit >= plan.lower[t])):
            end_t = t
            break
        for b in sorted(adj[t], key=lambda _: rng.random()):
            if b not in parent:
                parent[b] = t
                queue.append(b)
    if end_t is None:
        return False
    path = [end_t]
    while parent[path[-1]] != -1:
        path.append(parent[path[-1]])
    if over:
        path.reverse()  # from the overloaded start to the territory with room
    before = plan.total_violation()
    gap = np.abs(np.where(plan.load[start_t] > plan.upper[start_t],
                          plan.load[start_t] - plan.upper[start_t],
                          plan.lower[start_t] - plan.load[start_t]))
    excess = float(np.max(gap / plan.scale))
    done = []
    for a, b in itertools.pairwise(path):
        options = [i for i in plan.members[a] if b in plan.neighbour_territories(i)]
        rng.shuffle(options)
        options.sort(key=lambda i: abs(np.max(plan.w[i] / plan.scale) - excess))
        moved = next((i for i in options[:20] if plan.can_leave(i)), None)
        if moved is None:
            break
        plan.assign(moved, b)
        done.append((moved, a))
    if len(done) == len(path) - 1 and plan.total_violation() < before - 1e-12:
        return True
    for i, a in reversed(done):
        plan.assign(i, a)
    return False


def balance(plan: Plan, deadline: float, rng: np.random.Generator) -> float:
    """Reduce the total bound violation; returns what is left (0 = balanced)."""
    stuck = 0
    while clock.now() < deadline:
        viol = plan.violations()
        bad = np.flatnonzero(viol > 1e-12)
        if not len(bad):
            return 0.0
        # a round looks at up to 50 bad territories' boundaries, swaps and chains (measured:
        # about 2,000 unit visits plus 12 per unit of each)
        clock.visits(2000 + 12 * min(len(bad), 50) * plan.n / plan.k)
        improved = False
        for t in bad[np.argsort(-viol[bad])][:50]:
            move = _best_balance_move(plan, int(t))
            if move is not None:
                plan.assign(move[1], move[2])
                improved = True
            elif _try_swap(plan, int(t), rng):
                improved = True
        if not improved:
            pushed = any(_shift_chain(plan, int(t), rng) for t in rng.permutation(bad)[:20])
            stuck = 0 if pushed else stuck + 1
            if not pushed and stuck > 50:
                break
    return plan.total_violation()


# --- compactness -------------------------------------------------------------------------------
def recentre(plan: Plan, territories) -> bool:
    """Free centres: move each centre to its best unit among the 12 nearest the weighted centroid
    (the unit nearest the centroid for cut edges / no compactness)."""
    if not plan.free:
        return False
    changed = False
    for t in territories:
        units = np.fromiter(plan.members[t], dtype=int)
        weight = np.maximum(plan.w0[units], 1e-9)
        centroid = (plan.xyz[units] * weight[:, None]).sum(axis=0) / weight.sum()
        near = units[np.argsort(np.linalg.norm(plan.xyz[units] - centroid, axis=1))[:12]]
        costs = []
        for c in near:
            d = plan.km(units, np.full(len(units), c))
            costs.append(float(np.sum(plan.w0[units] * (d if plan.kind == "travel" else d**2))))
        best = int(near[int(np.argmin(costs))])
        if best != plan.centre[t]:
            plan.centre[t] = best
            changed = True
    return changed


def improve(plan: Plan, deadline: float) -> int:
    """Improving boundary moves that keep every bound; returns the number of moves."""
    moves = 0
    while clock.now() < deadline:
        edges = [(i, int(b)) for i, nb in enumerate(plan.graph.nbrs)
                 for b in set(plan.label[nb].tolist()) if b != plan.label[i]]
        if not edges:
            break
        clock.visits(plan.n + len(edges))
        deltas = np.array([plan.move_delta(i, b) for i, b in edges])
        order = np.argsort(deltas)
        made = 0
        for e in order:
            if deltas[e] >= -1e-9 or clock.now() >= deadline:
                break
            i, b = edges[e]
            a = plan.label[i]
            if a == b or plan.move_delta(i, b) >= -1e-9:
                continue
            if np.any(plan.load[a] - plan.w[i] < plan.lower[a] - 1e-9) or \
                    np.any(plan.load[b] + plan.w[i] > plan.upper[b] + 1e-9):
                continue
            if not plan.may(i, b) or (plan.contiguous and b not in plan.neighbour_territories(i)):
                continue
            if plan.can_leave(i):
                plan.assign(i, b)
                made += 1
        moves += made
        if not made:
            break
    return moves


# --- LNS -------------------------------------------------------------------------------------
def lns_group(plan: Plan, seed_territory: int, rng: np.random.Generator,
              busy: set[int] | frozenset[int] = frozenset()) -> list[int]:
    """``seed_territory`` and up to 2 of its neighbours, drawn at random among those not busy."""
    adjacent = sorted(_adjacent_territories(plan, seed_territory) - busy)
    return [seed_territory] + list(rng.permutation(adjacent)[:2])


def lns_step(plan: Plan, group: list[int], seconds: float) -> float:
    """Re-optimise the territories of ``group`` exactly (0.1 % gap), centres fixed; contiguity
    by the LCUT loop alone, without a-priori rows. Changes only the group's units and centres.

    Returns the objective improvement (0 if none)."""
    units = np.fromiter(sorted(set().union(*(plan.members[t] for t in group))), dtype=int)
    local = {int(u): a for a, u in enumerate(units)}
    sub_edges = np.array([(local[u], local[int(v)]) for u in units.tolist()
                          for v in plan.graph.nbrs[u] if int(v) in local and u < v],
                         dtype=int).reshape(-1, 2)
    graph = Graph.from_edges(len(units), sub_edges)
    cols = np.array(group)
    cost = np.stack([plan.cost(units, np.full(len(units), t)) for t in cols], axis=1)
    if plan.kind == "cut_edges":
        cost = np.zeros_like(cost)
    current = np.array([int(np.flatnonzero(cols == plan.label[u])[0]) for u in units])
    before = float(cost[np.arange(len(units)), current].sum())
    inst = ExactInstance(
        graph=graph, roots=np.array([local[int(plan.centre[t])] for t in cols]),
        allowed=np.ones((len(units), len(cols)), dtype=bool) if plan.allowed is None
        else plan.allowed[np.ix_(units, cols)], cost=cost, mode="fixed",
        k=len(cols), weights=plan.w[units], lower=plan.lower[cols], upper=plan.upper[cols],
        soft=np.zeros(plan.w.shape[1], bool), soft_penalty=np.zeros(plan.w.shape[1]),
        targets=(plan.lower[cols] + plan.upper[cols]) / 2, cut_edges=plan.kind == "cut_edges",
        neighbourhood_rows=False)  # cost more than they saved: results/districting.md §4
    before_plan = before if plan.kind != "cut_edges" else None
    clock.visits(inst.allowed.size)
    result = solve_exact(inst, plan.contiguous, seconds, 1e-3,
                         incumbent=(current, before_plan) if before_plan is not None else None)
    if result.column_of is None:
        return 0.0
    if plan.kind == "cut_edges":
        before = float(sum(int(np.sum(current[graph.nbrs[a]] != current[a]))
                           for a in range(len(units))) // 2)
    gain = before - float(result.objective)
    if gain <= 1e-9 * max(abs(before), 1.0):
        return 0.0
    for a, u in enumerate(units):
        if cols[result.column_of[a]] != plan.label[u]:
            plan.assign(int(u), int(cols[result.column_of[a]]))
    recentre(plan, group)
    return gain


def lns_sweep(plan: Plan, rng: np.random.Generator, deadline: float, workers: int) -> bool:
    """One LNS pass: each territory, in random order, seeds a group for ``lns_step`` (at most
    5 s each); True if every territory had its turn before ``deadline``. With ``workers`` > 1,
    that many groups with no territory in common are solved at once in threads (HiGHS runs
    outside the GIL; each step changes only its own group); a territory whose turn comes while
    it is busy waits for the next free slot. Deterministic runs solve such groups in batches
    instead (``_lns_batches``)."""
    order = deque(int(t) for t in rng.permutation(plan.k))
    if workers <= 1:
        for t in order:
            if clock.now() >= deadline:
                return False
            lns_step(plan, lns_group(plan, t, rng), min(5.0, deadline - clock.now()))
        return True
    if clock.deterministic():
        return _lns_batches(plan, order, rng, deadline, workers)
    busy: set[int] = set()
    running: dict[Future, list[int]] = {}
    with ThreadPoolExecutor(workers) as pool:
        while running or (order and clock.now() < deadline):
            while len(running) < workers and clock.now() < deadline:
                group = _next_group(plan, order, rng, busy)
                if group is None:
                    break
                running[pool.submit(contextvars.copy_context().run, lns_step, plan, group,
                                    min(5.0, deadline - clock.now()))] = group
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for task in done:
                busy.difference_update(running.pop(task))
                task.result()
    return not order


def _next_group(plan: Plan, order: deque[int], rng: np.random.Generator,
                busy: set[int]) -> list[int] | None:
    """The group of the first territory in ``order`` that is not busy (taken off ``order``),
    drawn among the territories not busy, which it then makes busy; None if all are busy."""
    t = next((t for t in order if t not in busy), None)
    if t is None:
        return None
    order.remove(t)
    group = lns_group(plan, t, rng, busy)
    busy.update(group)
    return group


def _lns_batches(plan: Plan, order: deque[int], rng: np.random.Generator, deadline: float,
                 workers: int) -> bool:
    """Deterministic parallel LNS: draw ``LNS_BATCH_PER_WORKER`` × ``workers`` groups with no
    territory in common, solve them on ``workers`` threads, each step on its own work clock,
    then draw the next batch. Each step gets the batch's share of the time left (at most 5 s);
    the sweep ends when that share falls below ``MIN_BATCH_STEP_SECONDS``. The run pays the
    batch's makespan on ``workers`` (``join``), so the plan depends neither on which step ends
    first nor on the machine's cores."""
    run = clock.current()
    with ThreadPoolExecutor(workers) as pool:
        while order and clock.now() < deadline:
            busy: set[int] = set()
            groups: list[list[int]] = []
            while (len(groups) < LNS_BATCH_PER_WORKER * workers
                   and (group := _next_group(plan, order, rng, busy))):
                groups.append(group)
            seconds = min(5.0, (deadline - clock.now()) * workers / len(groups))
            if seconds < MIN_BATCH_STEP_SECONDS:
                return False
            steps = [run.fork() for _ in groups]
            tasks = [pool.submit(contextvars.copy_context().run, _step_on, step, plan, group,
                                 seconds) for step, group in zip(steps, groups)]
            for task in tasks:
                task.result()
            run.join(steps, workers)
    return not order


def _step_on(step: clock.Clock, plan: Plan, group: list[int], seconds: float) -> float:
    with clock.running(step):
        return lns_step(plan, group, seconds)


# --- bounds ------------------------------------------------------------------------------------
def lagrangian_bound(plan: Plan, lower_floor: float, upper_cap: float, incumbent: float,
                     deadline: float, neighbours: int = 40, iterations: int = 1000) -> float:
    """Valid lower bound for the free-centre objective (balance relaxed to L ≤ load ≤ U per
    centre on the first steering metric, contiguity dropped).

    Dualise Σ_j x_ij = 1 with multipliers λ_i ≤ w_i·r_i^p (r_i = distance to i's ``neighbours``-th
    nearest unit), so pairs outside the candidate lists have reduced cost ≥ 0. Each centre j then
    solves a continuous knapsack in reduced-cost-per-load order: every negative pair up to
    U − w_j, and further ones until L − w_j; the k cheapest centres are opened. Any λ gives a
    valid bound when the knapsacks are solved over all units (``_exact_centre_values``).

    The subgradient steps are steered by knapsacks over the candidate pairs alone, which take
    the load still missing after the negative pairs from the cheapest candidates (from none at
    cost 0 when they run out). That is no bound: a unit outside the lists, though ≥ 0, may be
    cheaper than those candidates. The bound is the best λ's knapsacks solved over all units,
    centre by centre in the order of a lower estimate (negative pairs only), until the k
    cheapest are known or ``deadline`` (the others count at their estimate: still valid).

    Start: with a load cap U, λ_i = w_i·r^p with r the distance to i's ⌊0.6·n/k⌋-th nearest
    unit (at least the nearest), about its distance to the centre of a territory of n/k units
    around it (national ZIP instance, 80 s: 1.04e8 instead of 8.4e7 from the nearest unit).
    Uncapped, every unit with a negative reduced cost joins a centre, so an overestimate costs
    much more: λ_i starts at the nearest unit's cost (the demo's soft green-field design: from
    the ⌊0.6·n/k⌋-th, 9 s still left the bound below 0).
    """
    n, k = plan.n, plan.k
    kk = min(neighbours, n)
    tree = cKDTree(plan.xyz)
    chord, idx = tree.query(plan.xyz, k=kk)
    dist = plan.dist[np.arange(n)[:, None], idx] if plan.dist is not None else chord_to_km(chord)
    power = 2 if plan.kind == "inertia" else 1
    cost = plan.w0[:, None] * dist**power
    cap = plan.w0 * dist[:, -1] ** power
    pi, pj = np.repeat(np.arange(n), kk), idx.ravel()
    pc = cost.ravel()
    keep = pi != pj
    pi, pj, pc = pi[keep], pj[keep], pc[keep]
    pw = np.maximum(plan.w[pi, 0], 0.0)
    grouped = np.argsort(pj, kind="stable")
    pi, pj, pc, pw = pi[grouped], pj[grouped], pc[grouped], pw[grouped]
    starts = np.searchsorted(pj, np.arange(n))
    scale = max(float(np.median(pc[pw > 0] / pw[pw > 0])) if np.any(pw > 0) else 1.0, 1e-12)
    room = upper_cap - plan.w[:, 0]
    need = np.maximum(lower_floor - plan.w[:, 0], 0.0)
    exact_phase = kk < n and bool(need.any())  # without a lower band the candidates suffice
    steer_end = (clock.now() + SUBGRADIENT_SHARE * (deadline - clock.now()) if exact_phase
                 else deadline)
    start_rank = max(1, int(0.6 * n / k)) if np.isfinite(upper_cap) else 1
    lam = np.minimum(cost[:, min(start_rank, kk - 1)], cap)
    best, best_lam = -np.inf, lam
    theta = 1.0

    def knapsacks(lam: np.ndarray, least_load: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(value per centre, share taken of each pair) over the candidate pairs."""
        nonlocal pi, pj, pc, pw
        clock.visits(len(pi) / 75)  # vectorised: about 75 pairs per unit visit
        rr = pc - lam[pi]
        ratio = _per_load(rr, pw)
        # one sort key: centre, then reduced cost per load (arctan maps it into the open unit
        # interval); the pairs stay in the last order, so the sort sees nearly sorted data
        order = np.argsort(pj + 0.5 + 0.999 / np.pi * np.arctan(ratio / scale), kind="stable")
        pi, pj, pc, pw, rr = pi[order], pj[order], pc[order], pw[order], rr[order]
        cum = np.cumsum(pw)
        base = np.concatenate([[0.0], cum])[starts]
        before = cum - pw - base[pj]
        negative = np.bincount(pj, weights=pw * (rr < 0), minlength=n)
        amount = np.maximum(least_load, np.minimum(room, negative))  # load from candidates
        take = _shares_taken(rr, pw, before, amount[pj])
        value = np.bincount(pj, weights=take * rr, minlength=n) - lam
        return np.where(room >= 0, value, np.inf), take

    for _ in range(iterations):
        if clock.now() >= steer_end:
            break
        value, take = knapsacks(lam, need)
        opened = np.argpartition(value, k - 1)[:k]
        bound = float(lam.sum() + value[opened].sum())
        if bound > best:
            best, best_lam = bound, lam
        is_open = np.zeros(n, bool)
        is_open[opened] = True
        served = np.bincount(pi, weights=take * is_open[pj], minlength=n) + is_open
        grad = 1.0 - served
        norm = float(grad @ grad)
        if norm < 1e-12:
            break
        step = theta * max(incumbent - bound, 1e-6 * abs(incumbent)) / norm
        lam = np.minimum(lam + step * grad, cap)
        theta = max(theta * 0.97, 0.01)
    if exact_phase and np.isfinite(best):
        estimate, _ = knapsacks(best_lam, np.zeros(n))
        values = _exact_centre_values(plan, best_lam, estimate, room, need, deadline)
        best = float(best_lam.sum() + np.partition(values, k - 1)[:k].sum())
    # a valid bound up to the sort key's rounding of near-equal ratios: keep a 10⁻⁹ margin
    return best - 1e-9 * abs(best)


def _exact_centre_values(plan: Plan, lam: np.ndarray, estimate: np.ndarray, room: np.ndarray,
                         need: np.ndarray, deadline: float, block: int = 64) -> np.ndarray:
    """(n,) each centre's Lagrangian value with its knapsack over all units, in blocks of
    centres by increasing ``estimate`` (a lower bound on it), until the k smallest values are
    all exact or ``deadline``; centres not reached keep their estimate."""
    n, k = plan.n, plan.k
    values = estimate.copy()
    order = np.argsort(estimate, kind="stable")
    units = np.arange(n)
    w = np.maximum(plan.w[:, 0], 0.0)
    lightest = np.cumsum(np.sort(w))  # lightest[j]: the least load of j + 1 units
    power = 2 if plan.kind == "inertia" else 1
    for first in range(0, n, block):
        if first >= k and estimate[order[first]] >= np.partition(values, k - 1)[k - 1]:
            break
        if clock.now() >= deadline:
            break
        centres = order[first:first + block]
        clock.visits(len(centres) * n / 75)
        rr = plan.w0[None, :] * plan.km(units[None, :], centres[:, None]) ** power - lam[None, :]
        rr[np.arange(len(centres)), centres] = np.inf  # the centre's own unit is counted apart
        ratio = _per_load(rr, w[None, :])
        # only the cheapest ``few`` units by ratio can be taken: at most every negative one,
        # then as many as the lightest units that reach the lower band
        few = min(n, max(4 * int(np.sum(ratio < 0, axis=1).max()),
                         int(np.searchsorted(lightest, need[centres].max())) + 1,
                         64) * 2)
        ranked = np.argpartition(ratio, few - 1, axis=1)[:, :few]
        ranked = np.take_along_axis(ranked, np.argsort(np.take_along_axis(ratio, ranked, axis=1),
                                                       axis=1, kind="stable"), axis=1)
        rr, wr = np.take_along_axis(rr, ranked, axis=1), w[ranked]
        before = np.cumsum(wr, axis=1) - wr
        negative = np.where(rr < 0, wr, 0.0).sum(axis=1)
        amount = np.maximum(need[centres], np.minimum(room[centres], negative))[:, None]
        take = _shares_taken(rr, wr, before, amount)
        taken = (take * np.where(np.isfinite(rr), rr, 0.0)).sum(axis=1)  # own unit (inf): apart
        values[centres] = np.where(room[centres] >= 0, taken - lam[centres], np.inf)
    return values


def _per_load(rr: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Reduced cost per unit of load; a weightless pair ranks first if negative, else last."""
    return np.where(w > 0, rr / np.maximum(w, 1e-12), np.where(rr < 0, -np.inf, np.inf))


def _shares_taken(rr: np.ndarray, w: np.ndarray, before: np.ndarray,
                  amount: np.ndarray) -> np.ndarray:
    """Share of each pair a continuous knapsack takes, pairs in per-load order with ``before``
    the load ahead of each in its knapsack, until ``amount``; weightless pairs: all negative ones."""
    return np.where(w > 0, np.clip((amount - before) / np.where(w > 0, w, 1.0), 0.0, 1.0),
                    ((rr < 0) & (before <= amount)).astype(float))


def valid_bound(plan: Plan, incumbent: float, deadline: float) -> float:
    if plan.kind == "none":
        return 0.0
    if plan.kind == "cut_edges":
        comps = len(components(plan.graph, range(plan.n)))
        return float(max(plan.k - comps, 0))
    if not plan.free:
        cost = plan.fixed_cost if plan.allowed is None else \
            np.where(plan.allowed, plan.fixed_cost, np.inf)
        return float(np.min(cost, axis=1).sum())
    if plan.enforced:
        floor, cap = float(plan.lower[:, 0].min()), float(plan.upper[:, 0].max())
    else:  # soft loads may leave the bounds
        floor, cap = 0.0, np.inf
    # candidate lists about 1.5 territories' worth of units: shorter lists cap λ_i low (on the
    # national ZIP instance 40 neighbours gave 5.3e7, 150 gave 8.6e7 of a 1.41e8 plan)
    neighbours = max(40, math.ceil(1.5 * plan.n / plan.k))
    if plan.n * (plan.n - 1) <= 200_000:  # small: every pair
        neighbours = plan.n
    return max(0.0, lagrangian_bound(plan, floor, cap, incumbent, deadline, neighbours))


# --- driver ------------------------------------------------------------------------------------
def quick_plan(problem: AlignmentProblem, graph: Graph, lower: np.ndarray, upper: np.ndarray,
               seconds: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray] | None:
    """Construct, balance and compact within ``seconds``; (labels, centres) or None if the plan
    could not be balanced. Used as a start plan by the exact solver."""
    if not seconds > 0:  # also NaN: the clock stopped at +inf (Ctrl-C)
        return None
    deadline = clock.now() + seconds
    rng = np.random.default_rng(seed)
    while True:  # fresh random trees until a start balances or time runs out
        plan = Plan(problem, graph, lower, upper, problem.contiguous)
        construct(plan, rng)
        attempt_end = min(deadline, clock.now() + max(0.2 * seconds, 0.5))
        if balance(plan, attempt_end, rng) <= 1e-12:
            break
        if clock.now() >= deadline:
            return None
    for _ in range(10):
        moved = improve(plan, deadline)
        if not recentre(plan, range(plan.k)) and not moved:
            break
    return plan.label.copy(), plan.centre.copy()



def knn_graph(latlon: np.ndarray, neighbours: int = 8) -> Graph:
    xyz = unit_vectors(latlon)
    _, idx = cKDTree(xyz).query(xyz, k=min(neighbours + 1, len(xyz)))
    edges = np.array([(i, int(j)) for i, row in enumerate(idx) for j in row[1:]])
    return Graph.from_edges(len(xyz), edges)


def solve_large(problem: AlignmentProblem, options: SolveOptions, graph: Graph,
                lower: np.ndarray, upper: np.ndarray, notes: list[str]) -> Solution:
    """Heuristic engine for large unit sets; returns the best balanced plan found in time."""
    start, wall_start = clock.now(), time.monotonic()
    deadline = start + options.time_limit
    rng = np.random.default_rng(options.seed)
    if problem.edges is None:
        graph = knn_graph(np.asarray(problem.item_latlon, float))
        notes.append("no adjacency given: moves use the 8-nearest-neighbour graph")
    if np.any(np.asarray(problem.soft, bool)):
        notes.append("large engine: soft metrics are balanced best-effort when no metric is hard, "
                     "otherwise reported only; the objective includes their penalties")
    plan = Plan(problem, graph, lower, upper, problem.contiguous)
    log = []

    def full_objective() -> float:
        """The plan's compactness cost plus its soft-balance penalties (the model objective)."""
        return plan.objective() + soft_deviation_penalty(problem, loads(problem, plan.label))

    def report(stage: str, bound: float | None = None) -> None:
        value = full_objective()
        log.append(f"{time.monotonic() - wall_start:7.1f} s {stage}: objective {value:.6g}, "
                   f"violation {plan.total_violation():.4g}")
        if options.progress is not None:
            options.progress({"objective": value, "bound": bound,
                              "seconds": time.monotonic() - wall_start, "stage": stage})

    budget = options.time_limit
    # Hard bands: fresh random trees until a start balances or half the time is used. All soft
    # (best effort): a start seldom balances and its luck decides much of the penalty, so
    # starts (each with 20 % of the time to balance) go on until 45 % of the time is used, and
    # the one with the least objective goes on.
    starts_end = start + (0.5 if plan.enforced else 0.45) * budget
    best_start = None
    while True:
        construct(plan, rng)
        report("constructed")
        attempt_end = clock.now() + 0.2 * budget
        if plan.enforced:
            attempt_end = min(starts_end, attempt_end)
        violation = balance(plan, attempt_end, rng)
        for _ in range(LOCAL_RESTARTS if plan.enforced and plan.free and plan.contiguous else 0):
            if violation <= 1e-12 or clock.now() >= attempt_end:
                break
            recut_around(plan, np.flatnonzero(plan.violations() > 1e-12), rng)
            violation = balance(plan, attempt_end, rng)
        report("balanced")
        if plan.enforced and plan.acceptable():
            break
        if not plan.enforced:
            value = full_objective()
            if best_start is None or value < best_start[1]:
                best_start = (plan, value)
        if clock.now() >= starts_end:
            if best_start is not None:
                plan = best_start[0]
            break
        plan = Plan(problem, graph, lower, upper, problem.contiguous)
    if not plan.acceptable():
        raise NoSolutionError(f"no balanced plan found within {options.time_limit:g} s "
                              f"(remaining bound violation {violation:.3g})")
    compact_end = max(start + 0.6 * budget, clock.now() + 0.15 * budget)
    for _ in range(20):
        moved = improve(plan, compact_end)
        if not recentre(plan, range(plan.k)) and not moved:
            break
        balance(plan, compact_end, rng)
    best_label, best_centre, best_obj = (plan.label.copy(), plan.centre.copy(),
                                         full_objective())
    report("compacted")
    sweeps, workers = 0, lns_workers(options)
    while clock.now() < start + 0.85 * budget:
        swept = lns_sweep(plan, rng, start + 0.85 * budget, workers)
        improve(plan, start + 0.85 * budget)
        value = full_objective()
        if plan.acceptable() and value < best_obj:
            best_label, best_centre, best_obj = plan.label.copy(), plan.centre.copy(), value
        sweeps += 1
        report(f"LNS sweep {sweeps}" + ("" if swept else " (time up before its end)"))
        if not swept:
            break
    plan_best = Plan(problem, graph, lower, upper, problem.contiguous)
    for i, t in enumerate(best_label):
        plan_best.assign(i, int(t))
    plan_best.centre[:] = best_centre
    forced = soft_penalty_floor(problem)
    penalty_floor = float(forced.sum())
    if penalty_floor > 0:
        heavy = np.argsort(-forced)[:min(3, int(np.sum(forced > 0)))]
        notes.append(f"bound: {penalty_floor:.4g} of soft-balance penalty no plan avoids, forced "
                     "by units that alone exceed a band: " + ", ".join(
                         f"{problem.item_ids[i]} ({forced[i]:.3g})" for i in heavy)
                     + (" …" if np.sum(forced > 0) > 3 else ""))
    bound = penalty_floor + valid_bound(plan_best, plan_best.objective(),
                                        max(deadline, clock.now() + 1.0))
    bound = min(bound, best_obj)
    gap = max(0.0, (best_obj - bound) / max(abs(best_obj), 1e-9))
    log.append(f"bound {bound:.6g} (gap {gap:.2%})" + (
        f", of which {penalty_floor:.6g} soft-balance penalty no plan avoids"
        if penalty_floor > 0 else ""))
    return Solution(assignment=best_label, status="FEASIBLE", objective=best_obj, bound=bound,
                    gap=gap, solve_seconds=time.monotonic() - wall_start,
                    engine="local-search+lns",
                    centers=best_centre if problem.centers == "free" else None,
                    log="\n".join(log), stats={"notes": notes, "model": "large-engine"})
