"""Exact variable fixing for contiguous territories (L-fixing, Validi, Buchanan & Lykhovyd 2022).

If the vertex-weighted shortest path from centre j to unit i (both ends' weights included) exceeds
the territory upper bound U, no contiguous territory rooted at j can contain i: x_ij = 0. A centre
whose reachable set {i : dist_w(j, i) ≤ U} weighs less than L cannot open at all.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from territory_opt.solvers.contiguity import Graph

_EPS = 1e-7  # keeps zero-weight units as edges (scipy drops explicit zeros)


def vertex_weighted_distances(graph: Graph, weight: np.ndarray, sources: np.ndarray,
                              limit: float) -> np.ndarray:
    """(len(sources), n) min over paths of the summed vertex weights, both ends included.

    Entries above ``limit`` are ``inf``.
    """
    n = graph.n
    rows = np.concatenate([np.full(len(nb), i) for i, nb in enumerate(graph.nbrs)] or [[]])
    cols = np.concatenate(list(graph.nbrs) or [[]]).astype(int)
    rows = rows.astype(int)
    mat = csr_matrix((weight[cols] + _EPS, (rows, cols)), shape=(n, n))
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
