"""Exact variable fixing for territories built around centre units (Validi, Buchanan &
Lykhovyd 2022).

* L-fixing (contiguity): if the vertex-weighted shortest path from centre j to unit i (both
  ends' weights included) exceeds the territory upper bound U, no contiguous territory rooted at
  j can contain i: x_ij = 0. A centre whose reachable set {i : dist_w(j, i) ≤ U} weighs less
  than L cannot open at all.
* Lagrangian (Z-)fixing (free centres, given a plan's cost as cutoff): x_ij = 0 when forcing it
  — and, under contiguity, a path of units from j to i — lifts the Lagrangian bound above the
  cutoff (``lagrangian_fixing``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import csr_matrix, vstack
from scipy.sparse.csgraph import dijkstra

from territory_opt.solvers import clock
from territory_opt.solvers.contiguity import Graph

# Interior-point iterations of the Hess LP on the county instances (AL 43, LA 32, OK 35, KS 54):
# a deterministic run counts n_vars of them as its expected work
IPM_ITERATIONS = 40
_EPS = 1e-7  # keeps zero-weight units as edges (scipy drops explicit zeros)


def vertex_weighted_distances(graph: Graph, weight: np.ndarray, sources: np.ndarray,
                              limit: float) -> np.ndarray:
    """(len(sources), n) min over paths of the summed vertex weights, both ends included.

    Entries above ``limit`` are ``inf``.
    """
    n = graph.n
    tails, heads = graph.arcs()
    mat = csr_matrix((weight[heads] + _EPS, (tails, heads)), shape=(n, n))
    dist = dijkstra(mat, directed=True, indices=sources, limit=limit + 1.0)
    dist = dist + weight[sources][:, None]
    dist[dist > limit * (1 + 1e-12) + n * _EPS] = np.inf
    return dist


def l_fixing(graph: Graph, weights: np.ndarray, lower: np.ndarray, upper: np.ndarray,
             sources: np.ndarray) -> np.ndarray:
    """(len(sources), n) bool: True where unit i may join the contiguous territory rooted at source.

    ``weights`` (n, m) hard metrics with bounds ``lower``/``upper`` (m,). A source whose whole
    reachable set weighs less than ``lower`` in some metric gets an all-False row.
    """
    allowed = np.ones((len(sources), graph.n), dtype=bool)
    for m in range(weights.shape[1]):
        w = np.maximum(weights[:, m], 0.0)
        dist = vertex_weighted_distances(graph, w, np.asarray(sources), float(upper[m]))
        reach = np.isfinite(dist)
        allowed &= reach
        too_small = (reach * w[None, :]).sum(axis=1) < lower[m] - 1e-9
        allowed[too_small] = False
    return allowed


def pairwise_separated(graph: Graph, weights: np.ndarray, upper: np.ndarray,
                       limit: int) -> list[int]:
    """Up to ``limit`` units no two of which fit one contiguous territory (greedy).

    Units i, j conflict when some hard metric's vertex-weighted distance between them exceeds its
    upper bound. Greedy clique in the conflict graph: most conflicts first, then the unit that
    conflicts with all chosen and with most others. (Validi & Buchanan's "max B" set.)
    """
    conflict = np.zeros((graph.n, graph.n), dtype=bool)
    everyone = np.arange(graph.n)
    for m in range(weights.shape[1]):
        w = np.maximum(weights[:, m], 0.0)
        conflict |= ~np.isfinite(vertex_weighted_distances(graph, w, everyone, float(upper[m])))
    np.fill_diagonal(conflict, False)
    degree = conflict.sum(axis=1)
    chosen: list[int] = []
    candidates = np.ones(graph.n, dtype=bool)
    while len(chosen) < limit and candidates.any():
        best = int(np.argmax(np.where(candidates, degree, -1)))
        chosen.append(best)
        candidates &= conflict[best]
    return chosen


@dataclass
class LagrangianFixing:
    allowed: np.ndarray  # (n, n) bool: pairs (unit i, centre j) that may still beat the cutoff
    bound: float         # Lagrangian bound (= the plain Hess LP bound), objective units
    removed: int         # pairs fixed to 0 here


def lagrangian_fixing(graph: Graph, cost: np.ndarray, weights: np.ndarray, lower: np.ndarray,
                      upper: np.ndarray, k: int, allowed: np.ndarray, cutoff: float,
                      contiguous: bool, seconds: float) -> LagrangianFixing | None:
    """Reduced-cost fixing for the free-centre (Hess) model from its Lagrangian (Validi,
    Buchanan & Lykhovyd 2022), with contiguity-aware costs.

    x_ij = 1: unit i joins centre j; ``cost`` (n, n); ``weights`` (n, m) hard metrics with one
    shared ``lower``/``upper`` (m,). Relax the assignment rows Σ_j x_ij = 1 (α_i) and the balance
    rows L·x_jj ≤ Σ_i w_i x_ij ≤ U·x_jj (u ≥ 0) at the plain Hess LP's duals; what remains
    (x_ij ≤ x_jj, Σ_j x_jj = k) is solved by inspection with ŵ the Lagrangian costs:
    W_j = ŵ_jj + Σ_{i≠j} min(0, ŵ_ij), open the k smallest, bound f = Σ α + Σ_open W_j.
    Forcing x_ij = 1 raises f by at least (W_j − max_open W if j is closed) + max(0, ŵ_ij);
    under contiguity by the cheapest path from j to i in unit weights max(0, ŵ_uj) instead,
    as the whole path joins j. Pairs raised above ``cutoff`` belong to no plan costing at most
    ``cutoff``. The bound holds for any multipliers, so LP accuracy only affects its strength.
    The LP is solved by interior point: its duals fix far more pairs than the simplex's (KS at
    its optimum keeps 1,734 of 11,015 pairs instead of 6,704). None when the LP does not solve
    within ``seconds`` (deterministic runs: when its expected work exceeds ``seconds``).
    """
    n = len(cost)
    usable = allowed & np.diag(allowed)[None, :]  # a centre must serve its own unit
    unit, centre = np.nonzero(usable)
    n_vars, own = len(unit), unit == centre
    if clock.deterministic() and n_vars * IPM_ITERATIONS / clock.VISITS_PER_SECOND > seconds:
        return None  # a deterministic run skips an LP unlikely to fit rather than cut it
    scale = max(float(np.abs(cost[unit, centre]).max(initial=0.0)), 1e-12)
    c = cost[unit, centre] / scale
    var = np.arange(n_vars)
    own_var = np.full(n, -1)
    own_var[centre[own]] = var[own]
    assign = csr_matrix((np.ones(n_vars), (unit, var)), shape=(n, n_vars))
    open_row = csr_matrix((np.ones(own.sum()), (np.zeros(own.sum(), int), var[own])),
                          shape=(1, n_vars))
    balance = []
    for m in range(weights.shape[1]):
        w = weights[unit, m] / upper[m]
        balance.append(csr_matrix((np.where(own, lower[m] / upper[m], 0.0) - w, (centre, var)),
                                  shape=(n, n_vars)))
        balance.append(csr_matrix((w - np.where(own, 1.0, 0.0), (centre, var)),
                                  shape=(n, n_vars)))
    others = var[~own]
    link = csr_matrix((np.r_[np.ones(len(others)), -np.ones(len(others))],
                       (np.r_[np.arange(len(others)), np.arange(len(others))],
                        np.r_[others, own_var[centre[others]]])), shape=(len(others), n_vars))
    relaxed = vstack(balance).tocsr() if balance else csr_matrix((0, n_vars))
    result = linprog(c, A_ub=vstack([relaxed, link]), b_ub=np.zeros(relaxed.shape[0] + len(others)),
                     A_eq=vstack([assign, open_row]), b_eq=np.r_[np.ones(n), k], bounds=(0, 1),
                     method="highs-ipm", options={"time_limit": _lp_seconds(seconds)})
    clock.visits(n_vars * result.nit)
    if result.status != 0:
        clock.current().safety_hit |= clock.deterministic() and result.status == 1  # limit
        return None
    alpha = result.eqlin.marginals[:n]
    u = np.maximum(-result.ineqlin.marginals[:relaxed.shape[0]], 0.0)
    reduced = c - assign.T @ alpha + relaxed.T @ u
    lagr = np.full((n, n), np.inf)
    lagr[unit, centre] = reduced
    centres = np.flatnonzero(own_var >= 0)
    value = np.full(n, np.inf)
    off_diagonal = np.where(np.eye(n, dtype=bool), np.inf, lagr)
    value[centres] = (np.diag(lagr)[centres]
                      + np.minimum(off_diagonal[:, centres], 0.0).sum(axis=0))
    opened = np.argsort(value, kind="stable")[:k]
    bound = float(alpha.sum() + value[opened].sum())
    base = np.full(n, np.inf)
    base[centres] = bound + value[centres] - value[opened].max()
    base[opened] = bound
    positive = np.maximum(lagr, 0.0)
    if contiguous:
        raised = base[None, :] + _path_costs(graph, positive, usable, centres)
    else:
        raised = base[None, :] + np.where(np.eye(n, dtype=bool), 0.0, positive)
    limit = cutoff / scale + 1e-7 * max(1.0, abs(cutoff / scale))
    kept = allowed & (raised <= limit)
    return LagrangianFixing(kept, bound * scale, int(allowed.sum() - kept.sum()))


def _lp_seconds(seconds: float) -> float:
    """The LP's time limit: ``seconds``, or to the end (up to the safety limit) when the run
    is deterministic, so that whether it solves does not depend on the machine."""
    if clock.deterministic():
        return clock.current().wall_left()
    return max(0.05, seconds)  # 0.05 first: NaN (the clock stopped by Ctrl-C) gives 0.05


def _path_costs(graph: Graph, weight: np.ndarray, inside: np.ndarray,
                centres: np.ndarray) -> np.ndarray:
    """(n, n): column j (a centre) holds the cheapest path from j to each unit through units
    with ``inside[:, j]``, summing ``weight[:, j]`` over its units except j; ``inf`` where there
    is none and in the other columns."""
    n = graph.n
    tails, heads = graph.arcs()
    costs = np.full((n, n), np.inf)
    for j in centres:
        keep = inside[tails, j] & inside[heads, j]
        mat = csr_matrix((weight[heads[keep], j] + _EPS, (tails[keep], heads[keep])),
                         shape=(n, n))
        costs[:, j] = np.maximum(dijkstra(mat, directed=True, indices=j) - n * _EPS, 0.0)
    return costs
