"""Graph helpers for contiguous territories: adjacency, components, separators, overt infeasibility.

The unit graph is given as an (e, 2) array of item index pairs. All functions work on a
``Graph`` (list of neighbour arrays) so the large-instance engine can use them without networkx.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order, minimum_spanning_tree


@dataclass
class Graph:
    """Undirected unit adjacency: ``nbrs[i]`` is the sorted array of i's neighbours."""

    nbrs: list[np.ndarray]

    @classmethod
    def from_edges(cls, n: int, edges: np.ndarray | None) -> Graph:
        edges = np.zeros((0, 2), dtype=int) if edges is None else np.asarray(edges, dtype=int)
        edges = edges.reshape(-1, 2)
        edges = edges[edges[:, 0] != edges[:, 1]]
        both = np.concatenate([edges, edges[:, ::-1]])
        both = np.unique(both, axis=0)
        order = np.argsort(both[:, 0], kind="stable")
        both = both[order]
        starts = np.searchsorted(both[:, 0], np.arange(n + 1))
        return cls([both[starts[i]:starts[i + 1], 1] for i in range(n)])

    @property
    def n(self) -> int:
        return len(self.nbrs)

    def edge_array(self) -> np.ndarray:
        """(m, 2) int array: every edge once, as (u, v) with u < v."""
        tails, heads = self.arcs()
        return np.column_stack([tails, heads])[tails < heads]

    def arcs(self) -> tuple[np.ndarray, np.ndarray]:
        """(tails, heads): every edge in both directions, as two int arrays."""
        tails = np.repeat(np.arange(self.n), [len(nbrs) for nbrs in self.nbrs])
        heads = np.concatenate(self.nbrs).astype(int) if self.n else np.zeros(0, dtype=int)
        return tails, heads


def components(graph: Graph, members) -> list[list[int]]:
    """Connected components of the subgraph induced by ``members``."""
    inside = {int(m) for m in members}
    seen: set[int] = set()
    out = []
    for start in inside:
        if start in seen:
            continue
        comp = [start]
        seen.add(start)
        queue = deque([start])
        while queue:
            u = queue.popleft()
            for v in graph.nbrs[u]:
                v = int(v)
                if v in inside and v not in seen:
                    seen.add(v)
                    comp.append(v)
                    queue.append(v)
        out.append(comp)
    return out


def random_spanning_tree(size: int, rows: np.ndarray, cols: np.ndarray,
                         rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random spanning tree of the graph on 0..size−1 with edges (rows[e], cols[e]): the
    minimum spanning tree under random edge weights (GerryChain-style). Returns the
    breadth-first order from node 0 and each node's parent (shorter when not connected)."""
    mat = coo_matrix((rng.random(len(rows)) + 0.1, (rows, cols)), shape=(size, size))
    return breadth_first_order(minimum_spanning_tree(mat), 0, directed=False)


def subtree_loads(order: np.ndarray, parent: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per node, the summed ``weights`` rows of its subtree in a ``random_spanning_tree``."""
    load = weights.astype(float)
    for node in order[:0:-1]:
        load[parent[node]] += load[node]
    return load


def subtree_mask(order: np.ndarray, parent: np.ndarray, nodes) -> list[np.ndarray]:
    """For each of ``nodes``, a boolean mask over 0..len(order)−1 of the nodes in its subtree."""
    children: list[list[int]] = [[] for _ in range(len(order))]
    for node in order[1:]:
        children[parent[node]].append(int(node))
    masks = []
    for node in nodes:
        inside = np.zeros(len(order), bool)
        stack = [int(node)]
        while stack:
            here = stack.pop()
            inside[here] = True
            stack.extend(children[here])
        masks.append(inside)
    return masks


def minimal_separator(graph: Graph, stray: list[int], root: int) -> tuple[list[int], set[int]]:
    """A vertex set C separating every vertex of ``stray`` from ``root``, minimal on both sides.

    ``stray`` is a connected vertex set not containing ``root``. C = N(stray) ∩ N(R), where R is the
    component of ``root`` in G − N(stray) (the LCUT separator of Validi, Buchanan & Lykhovyd).
    Returns (C, R): C separates every vertex of ``stray`` from every vertex of R.
    """
    stray_set = set(stray)
    boundary = {int(v) for u in stray for v in graph.nbrs[u] if int(v) not in stray_set}
    if root in boundary:
        return [root], {root}
    reach = {root}
    queue = deque([root])
    while queue:
        u = queue.popleft()
        for v in graph.nbrs[u]:
            v = int(v)
            if v not in reach and v not in boundary:
                reach.add(v)
                queue.append(v)
    return sorted(b for b in boundary if any(int(v) in reach for v in graph.nbrs[b])), reach


def split_counts(total: float, lower: float, upper: float) -> tuple[int, int]:
    """Fewest and most territories with load in [lower, upper] that can hold ``total``."""
    lo = math.ceil(total / upper - 1e-9) if upper > 0 else 0
    hi = math.floor(total / lower + 1e-9) if lower > 0 else 10**9
    return lo, hi


def territory_counts(totals, lower, upper) -> tuple[int, int]:
    """Fewest and most territories that can hold loads ``totals`` (one per metric) with every
    metric within its [lower, upper]; fewest > most means no whole number can."""
    lo, hi = 0, 10**9
    for total, low, up in zip(totals, lower, upper):
        fewest, most = split_counts(float(total), float(low), float(up))
        lo, hi = max(lo, fewest), min(hi, most)
    return lo, hi


def overt_infeasibility(
    graph: Graph,
    weights: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    k: int,
    names: list[str],
    metric_names: list[str],
    contiguous: bool,
) -> list[str]:
    """Plain-words reasons why no plan can exist, found by counting alone (empty if none found).

    ``weights`` (n, m) hard-balanced metrics; ``lower``/``upper`` (m,) per-territory bounds, the
    loosest over territories. Checks: one unit above the upper bound; the total cannot be split
    into k territories; under contiguity each connected component (islands included) must split
    into a whole number of territories whose counts add up to k.
    """
    reasons = []
    for m, metric in enumerate(metric_names):
        big = np.flatnonzero(weights[:, m] > upper[m] + 1e-9)
        for i in big[:5]:
            reasons.append(f"unit {names[i]} alone has {metric} {weights[i, m]:g}, above the "
                           f"territory upper bound {upper[m]:g}; units cannot be split")
        if len(big) > 5:
            reasons.append(f"... and {len(big) - 5} more units above the {metric} upper bound")
        lo, hi = split_counts(weights[:, m].sum(), lower[m], upper[m])
        if not lo <= k <= hi:
            reasons.append(f"total {metric} {weights[:, m].sum():g} cannot form {k} territories "
                           f"each within [{lower[m]:g}, {upper[m]:g}]")
    if reasons or not contiguous:
        return reasons
    comps = components(graph, range(graph.n))
    if len(comps) == 1:
        return reasons
    min_sum = max_sum = 0
    for comp in comps:
        lo_c, hi_c = territory_counts(weights[comp].sum(axis=0), lower, upper)
        label = (f"island {names[comp[0]]}" if len(comp) == 1
                 else f"connected group of {len(comp)} units containing {names[comp[0]]}")
        if lo_c > hi_c:
            desc = ", ".join(f"{metric} {weights[comp, m].sum():g}"
                             for m, metric in enumerate(metric_names))
            reasons.append(f"{label} ({desc}) cannot be split into a whole number of contiguous "
                           f"territories within the bounds")
        min_sum += lo_c
        max_sum += min(hi_c, k)
    if not reasons and not min_sum <= k <= max_sum:
        reasons.append(f"the {len(comps)} disconnected parts of the map need between {min_sum} and "
                       f"{max_sum} contiguous territories, not {k}")
    return reasons
