"""The large (heuristic) districting engine keeps locks and eligibility, checked independently."""

from __future__ import annotations

from dataclasses import replace

import networkx as nx
import numpy as np
from test_districting import grid_problem

from territory_opt.solvers.base import SolveOptions
from territory_opt.solvers.contiguity import Graph
from territory_opt.solvers.districting import hard_bounds, solve_districting
from territory_opt.solvers.local_search import (
    Plan,
    construct,
    partition_by_trees,
    recut_around,
)
from territory_opt.verify import check_plan


def fixed_centre_grid(side: int = 14, k: int = 4):
    """A side×side grid with k rep units in the corners, travel-like cost to each."""
    problem = grid_problem(side, k, 0.15, seed=3)
    corners = np.array([0, side - 1, side * (side - 1), side * side - 1])[:k]
    xy = np.array([(i // side, i % side) for i in range(side * side)], float)
    distance = np.linalg.norm(xy[:, None, :] - xy[corners][None, :, :], axis=2)
    return replace(problem, centers="reps", compactness="travel", center_items=corners,
                   cost=problem.weights[:, :1] * distance, distance_km=distance)


def test_locked_and_ineligible_units_are_respected_by_the_large_engine():
    problem = fixed_centre_grid()
    n, side = problem.n_items, 14
    middle = side * (side // 2) + side // 2
    locked = np.full(n, -1)
    locked[middle] = 3                       # the centre unit must join the far corner's T3
    locked[middle + 1] = 3
    eligible = np.ones((n, 4), bool)
    banned = side * (side - 1) + side // 2   # bottom row, middle: T2 or T3, not T3
    eligible[banned, 3] = False
    problem = replace(problem, locked=locked, eligible=eligible)
    solution = solve_districting(problem, SolveOptions(time_limit=8, engine="local", seed=1))
    plan = solution.assignment
    assert plan[middle] == 3 and plan[middle + 1] == 3
    assert plan[banned] != 3
    assert check_plan(problem, plan) == []
    graph = nx.Graph(list(map(tuple, problem.edges)))
    for t in range(4):
        assert nx.is_connected(graph.subgraph(np.flatnonzero(plan == t).tolist()))


def test_tree_bisection_sizes_each_part_for_its_own_territory():
    # FTE 1, 0.5, 1, 0.5, 1, 0.5: the green-field start cuts each territory's part to its own
    # target (it cut equal parts, so a half-FTE territory started near +100 %)
    fte = np.array([1.0, 0.5, 1.0, 0.5, 1.0, 0.5])
    problem = grid_problem(24, 6, 0.05, seed=4)
    problem = replace(problem, targets=problem.weights.sum() * (fte / fte.sum())[:, None])
    lower, upper = hard_bounds(problem)
    plan = Plan(problem, Graph.from_edges(problem.n_items, problem.edges), lower, upper, True)
    graph = nx.Graph(list(map(tuple, problem.edges)))
    for seed in range(5):
        labels = partition_by_trees(plan, np.random.default_rng(seed))
        assert sorted(set(labels.tolist())) == list(range(6))
        for t in range(6):
            part = np.flatnonzero(labels == t)
            assert nx.is_connected(graph.subgraph(part.tolist()))
            assert abs(problem.weights[part, 0].sum() / problem.targets[t, 0] - 1) < 0.25


def test_a_local_recut_redraws_only_the_territories_near_the_unbalanced_one():
    # the large engine's local restart: a stuck start is re-cut around its unbalanced
    # territories instead of drawing the whole map again
    problem = grid_problem(30, 12, 0.05, seed=5)
    lower, upper = hard_bounds(problem)
    graph = nx.Graph(list(map(tuple, problem.edges)))
    for seed in range(3):
        rng = np.random.default_rng(seed)
        plan = Plan(problem, Graph.from_edges(problem.n_items, problem.edges), lower, upper, True)
        construct(plan, rng)
        before = plan.label.copy()
        near = {0} | {int(before[v]) for u in np.flatnonzero(before == 0)
                      for v in graph.neighbors(int(u))}  # territory 0 and its neighbours
        recut_around(plan, np.array([0]), rng, hops=1)
        outside = ~np.isin(before, sorted(near))
        assert np.array_equal(plan.label[outside], before[outside])
        assert set(plan.label[~outside].tolist()) == near
        assert not np.array_equal(plan.label[~outside], before[~outside])  # re-cut afresh
        for t in range(12):
            part = np.flatnonzero(plan.label == t)
            assert nx.is_connected(graph.subgraph(part.tolist()))
            assert plan.label[plan.centre[t]] == t
            assert np.allclose(plan.load[t], problem.weights[part].sum(axis=0))
            assert abs(plan.load[t, 0] / problem.targets[t, 0] - 1) < 0.25
