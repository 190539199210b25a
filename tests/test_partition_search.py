"""The exhaustive partition search agrees with brute force and returns valid plans (the
cheapest, when given a territory price)."""

from __future__ import annotations

from itertools import product

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from territory_opt.solvers.contiguity import Graph
from territory_opt.solvers.partition_search import search_partition


def valid(graph: nx.Graph, weights: np.ndarray, lower: np.ndarray, upper: np.ndarray,
          labels, k: int) -> bool:
    """k non-empty connected parts with every load in [lower, upper] (networkx, plain sums)."""
    labels = np.asarray(labels)
    for t in range(k):
        members = np.flatnonzero(labels == t).tolist()
        load = weights[members].sum(axis=0)
        if not members or np.any(load < lower) or np.any(load > upper) \
                or not nx.is_connected(graph.subgraph(members)):
            return False
    return True


def brute_force_exists(graph, weights, lower, upper, k) -> bool:
    n = graph.number_of_nodes()
    return any(valid(graph, weights, lower, upper, labels, k)
               for labels in product(range(k), repeat=n) if labels[0] == 0)


@st.composite
def instances(draw):
    n = draw(st.integers(2, 8))
    k = draw(st.integers(2, 3))
    metrics = draw(st.integers(1, 2))
    pairs = [(u, v) for u in range(n) for v in range(u + 1, n)]
    edges = [p for p in pairs if draw(st.booleans())]
    weights = np.array(draw(st.lists(st.lists(st.integers(0, 6), min_size=metrics,
                                              max_size=metrics), min_size=n, max_size=n)),
                       float)
    share = weights.sum(axis=0) / k
    below = np.array(draw(st.lists(st.integers(0, 3), min_size=metrics, max_size=metrics)))
    above = np.array(draw(st.lists(st.integers(0, 3), min_size=metrics, max_size=metrics)))
    return n, edges, weights, np.floor(share) - below, np.ceil(share) + above, k


@settings(max_examples=150, deadline=None)
@given(instances())
def test_search_agrees_with_brute_force(instance):
    n, edges, weights, lower, upper, k = instance
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(edges)
    found = search_partition(Graph.from_edges(n, np.array(edges, dtype=int).reshape(-1, 2)),
                             weights, lower, upper, k, seconds=30)
    assert found.status == ("FOUND" if brute_force_exists(graph, weights, lower, upper, k)
                            else "NONE")
    if found.status == "FOUND":
        assert valid(graph, weights, lower, upper, found.labels, k)


@settings(max_examples=100, deadline=None)
@given(instances(), st.integers(0, 10_000))
def test_priced_search_returns_the_cheapest_plan(instance, seed):
    # price = squared distance to the territory's best member on random points, as for the
    # moment of inertia; brute force over all labellings gives the cheapest valid plan
    n, edges, weights, lower, upper, k = instance
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(edges)
    points = np.random.default_rng(seed).random((n, 2))
    squared = ((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=2)

    def price(members) -> float:
        members = list(members)
        return float(squared[np.ix_(members, members)].sum(axis=0).min())

    def plan_price(labels) -> float:
        return sum(price(np.flatnonzero(np.asarray(labels) == t)) for t in range(k))

    found = search_partition(Graph.from_edges(n, np.array(edges, dtype=int).reshape(-1, 2)),
                             weights, lower, upper, k, seconds=30, price=price)
    plans = [labels for labels in product(range(k), repeat=n)
             if labels[0] == 0 and valid(graph, weights, lower, upper, labels, k)]
    assert found.status == ("FOUND" if plans else "NONE")
    if plans:
        assert valid(graph, weights, lower, upper, found.labels, k)
        assert found.cost == pytest.approx(plan_price(found.labels))
        assert found.cost == pytest.approx(min(plan_price(labels) for labels in plans))


def test_deadline_gives_unknown_and_more_time_a_valid_plan():
    # 7 × 7 grid, random loads, 4 parts within ±0.1 %: the search needs over 20,000 steps
    grid = nx.convert_node_labels_to_integers(nx.grid_2d_graph(7, 7))
    weights = np.random.default_rng(3).integers(50, 150, size=(49, 1)).astype(float)
    share = weights.sum() / 4
    lower, upper = np.array([np.ceil(share * 0.999)]), np.array([np.floor(share * 1.001)])
    graph = Graph.from_edges(49, np.array(list(grid.edges)))
    assert search_partition(graph, weights, lower, upper, 4, seconds=0).status == "UNKNOWN"
    found = search_partition(graph, weights, lower, upper, 4, seconds=30)
    assert found.status == "FOUND" and valid(grid, weights, lower, upper, found.labels, 4)
