"""Short-burst optimisation by recombination (ReCom; DeFord, Duchin & Solomon 2021).

A step merges two adjacent territories, draws a random spanning tree of their union (minimum
spanning tree under random edge weights) and looks at the tree edges whose removal leaves two
parts within the bounds in every metric. Both parts are connected by construction. The cheapest
of a few such splits replaces the two territories. A price function gives a territory's cost,
e.g. its perimeter in edges for cut edges (``perimeter_price``). ``recombine_restarting``
restarts stalled walks from fresh plans. Used to polish the exact solver's cut-edge start plan,
and, for cut edges and the contiguous moment of inertia, in a thread beside the MIP
(``districting._solve_beside_recombination``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from territory_opt.solvers import clock
from territory_opt.solvers.contiguity import (
    Graph,
    random_spanning_tree,
    subtree_loads,
    subtree_mask,
)


def perimeter_price(edges: np.ndarray, n: int) -> Callable[[np.ndarray], float]:
    """Territory price for cut edges: its edges to other units (each cut edge counts twice over
    the plan, so the plan's price is twice its cut edges)."""
    def price(members: np.ndarray) -> float:
        inside = np.zeros(n, bool)
        inside[members] = True
        return float(np.count_nonzero(inside[edges[:, 0]] != inside[edges[:, 1]]))
    return price


def recombine(graph: Graph, weights: np.ndarray, lower: np.ndarray, upper: np.ndarray,
              price: Callable[[np.ndarray], float], label: np.ndarray, deadline: float,
              rng: np.random.Generator, burst: int = 10, candidates: int = 8,
              stop: threading.Event | None = None) -> tuple[np.ndarray, int]:
    """Improve a contiguous plan until ``deadline`` by short bursts (Cannon et al. 2023): walks
    of ``burst`` recombination steps, each taking the cheapest priced split whether or not it
    improves, every walk restarting from the best plan seen. Returns (labels, improvements).

    weights (n, m) and lower/upper (m,) are the hard metrics and their common bounds; label (n,)
    holds territories 0..k−1, each connected and within the bounds; ``price(members)`` is one
    territory's cost (e.g. ``perimeter_price``). Of the balanced cuts of each tree,
    at most ``candidates`` (chosen at random) are priced. ``stop``, when set, ends the walk early.
    """
    k = int(label.max()) + 1
    edges = np.array([(u, int(v)) for u in range(graph.n) for v in graph.nbrs[u] if u < v],
                     dtype=int).reshape(-1, 2)
    spent = np.array([price(np.flatnonzero(label == t)) for t in range(k)])
    best, best_spent, improvements = label.copy(), spent.copy(), 0
    while clock.now() < deadline and not (stop is not None and stop.is_set()):
        label, spent = best.copy(), best_spent.copy()
        for _ in range(burst):
            cut = np.flatnonzero(label[edges[:, 0]] != label[edges[:, 1]])
            if len(cut) == 0:  # one territory per connected piece: nothing to recombine
                return best, improvements
            a, b = label[edges[rng.choice(cut)]]
            union = np.flatnonzero((label == a) | (label == b))
            split = _best_split(graph.n, edges, union, weights, lower, upper, price, rng,
                                candidates)
            clock.visits(2 * len(union))
            if split is None:
                continue
            part, spent[a], spent[b] = split
            label[union] = b
            label[part] = a
            if spent.sum() < best_spent.sum() * (1 - 1e-12):
                best, best_spent = label.copy(), spent.copy()
                improvements += 1
    return best, improvements


def recombine_restarting(graph: Graph, weights: np.ndarray, lower: np.ndarray,
                         upper: np.ndarray, price: Callable[[np.ndarray], float],
                         label: np.ndarray, deadline: float, rng: np.random.Generator,
                         fresh: Callable[[], np.ndarray | None], stall: float,
                         stop: threading.Event | None = None) -> tuple[np.ndarray, float]:
    """``recombine`` from ``label``; a walk that has not improved for ``stall`` seconds starts
    again from ``fresh()`` (a new plan, labels 0..k−1, or None to keep walking). The walk's
    final plan depends on its start far more than on its length, so restarts find better
    basins. Returns the best plan over all walks and its total price."""
    k = int(label.max()) + 1

    def total(plan: np.ndarray) -> float:
        return sum(price(np.flatnonzero(plan == t)) for t in range(k))

    best = walking = (label, total(label))
    while clock.now() < deadline and not (stop is not None and stop.is_set()):
        walked, _ = recombine(graph, weights, lower, upper, price, walking[0],
                              min(deadline, clock.now() + stall), rng, stop=stop)
        walked_total = total(walked)
        if walked_total < walking[1] * (1 - 1e-12):
            walking = (walked, walked_total)
        else:
            restart = fresh()
            walking = walking if restart is None else (restart, total(restart))
        best = min(best, walking, key=lambda plan: plan[1])
    return best


def _best_split(n: int, edges: np.ndarray, union: np.ndarray, weights: np.ndarray,
                lower: np.ndarray, upper: np.ndarray, price: Callable[[np.ndarray], float],
                rng: np.random.Generator, candidates: int
                ) -> tuple[np.ndarray, float, float] | None:
    """The cheapest balanced cut of one random spanning tree of ``union``:
    (units of one part, its cost, the other part's cost), or None when no cut balances."""
    local = np.full(n, -1)
    local[union] = np.arange(len(union))
    inner = edges[(local[edges[:, 0]] >= 0) & (local[edges[:, 1]] >= 0)]
    size = len(union)
    order, parent = random_spanning_tree(size, local[inner[:, 0]], local[inner[:, 1]], rng)
    if len(order) < size:  # the union is not connected (cannot happen for adjacent parts)
        return None
    load = subtree_loads(order, parent, weights[union])
    total = load[order[0]]
    below = load[order[1:]]
    fits = np.all((below >= lower) & (below <= upper)
                  & (total - below >= lower) & (total - below <= upper), axis=1)
    cuts = order[1:][fits]
    if len(cuts) == 0:
        return None
    if len(cuts) > candidates:
        cuts = rng.choice(cuts, size=candidates, replace=False)
    best = None
    for inside in subtree_mask(order, parent, cuts):
        part, rest = union[inside], union[~inside]
        part_cost, rest_cost = price(part), price(rest)
        if best is None or part_cost + rest_cost < best[1] + best[2]:
            best = (part, part_cost, rest_cost)
    return best
