"""The large (heuristic) districting engine keeps locks and eligibility, checked independently."""

from __future__ import annotations

import copy
import os
import random
import signal
import threading
import time
from dataclasses import replace

import networkx as nx
import numpy as np
from test_districting import grid_problem

from territory_opt.solvers import clock, local_search
from territory_opt.solvers.base import SolveOptions
from territory_opt.solvers.contiguity import Graph
from territory_opt.solvers.districting import hard_bounds, solve_districting
from territory_opt.solvers.local_search import (
    Plan,
    construct,
    lns_sweep,
    partition_by_trees,
    quick_plan,
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


def _balanced_grid_plan():
    """A 30 × 30 grid, 12 territories, two metrics within ±5 %, and a balanced plan of it."""
    problem = grid_problem(30, 12, 0.05, metrics=2, seed=5)
    lower, upper = hard_bounds(problem)
    graph = Graph.from_edges(problem.n_items, problem.edges)
    start = quick_plan(problem, graph, lower, upper, seconds=20, seed=2)
    assert start is not None, "no balanced start plan"
    labels, centres = start
    plan = Plan(problem, graph, lower, upper, True)
    for i, t in enumerate(labels):
        plan.assign(i, int(t))
    plan.centre[:] = centres
    return problem, plan


def _assert_valid(problem, plan) -> None:
    assert check_plan(problem, plan.label, plan.centre) == []
    nx_graph = nx.Graph(list(map(tuple, problem.edges)))
    for t in range(plan.k):
        part = np.flatnonzero(plan.label == t)
        assert nx.is_connected(nx_graph.subgraph(part.tolist()))
        assert np.allclose(plan.load[t], problem.weights[part].sum(axis=0))


def test_parallel_lns_never_solves_two_groups_with_a_territory_in_common(monkeypatch):
    # wall-clock runs solve LNS groups in threads; each step rewrites its group's units, so
    # two steps under way must not share a territory, and the plan must stay valid
    problem, plan = _balanced_grid_plan()
    before = plan.objective()
    active, overlaps, lock = set(), [], threading.Lock()
    under_way = {"now": 0, "most": 0}   # groups being solved
    real_step = local_search.lns_step

    def watched_step(plan, group, seconds):
        with lock:
            overlaps.extend(set(group) & active)
            active.update(group)
            under_way["now"] += 1
            under_way["most"] = max(under_way["most"], under_way["now"])
        try:
            return real_step(plan, group, seconds)
        finally:
            with lock:
                active.difference_update(group)
                under_way["now"] -= 1

    monkeypatch.setattr(local_search, "lns_step", watched_step)
    lns_sweep(plan, np.random.default_rng(0), clock.now() + 30, workers=2)
    assert overlaps == []
    assert under_way["most"] == 2            # two groups were under way at once
    _assert_valid(problem, plan)
    assert plan.objective() <= before


def test_deterministic_parallel_lns_gives_the_same_plan_whichever_step_ends_first(monkeypatch):
    # deterministic runs solve LNS groups in batches, each step on its own work clock: random
    # delays change the order in which the steps of a batch end, but not the plan or the work
    problem, start = _balanced_grid_plan()
    real_step = local_search.lns_step
    outcomes = []
    for delays in (random.Random(1), random.Random(2)):
        def delayed_step(plan, group, seconds, delays=delays):
            time.sleep(0.1 * delays.random())
            return real_step(plan, group, seconds)

        monkeypatch.setattr(local_search, "lns_step", delayed_step)
        plan = copy.deepcopy(start)
        with clock.running(clock.Clock(deterministic=True, time_limit=60)) as run:
            lns_sweep(plan, np.random.default_rng(0), 3.0, workers=2)
        _assert_valid(problem, plan)
        assert plan.objective() <= start.objective()
        outcomes.append((plan.label.tolist(), plan.centre.tolist(), run.work))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][2] > 0


def test_ctrl_c_during_parallel_lns_keeps_the_best_plan(monkeypatch):
    # a real SIGINT while the first LNS groups are being solved in threads: the steps under
    # way finish, no new one starts, and the best plan comes back with the interruption note
    problem = grid_problem(30, 10, 0.03, seed=5)
    real_step, pressed = local_search.lns_step, threading.Event()

    def step_after_ctrl_c(plan, group, seconds):
        if not pressed.is_set():
            pressed.set()
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(plan, group, seconds)

    monkeypatch.setattr(local_search, "lns_step", step_after_ctrl_c)
    outside = signal.signal(signal.SIGINT, lambda signum, frame: None)  # a late signal: no abort
    try:
        solution = solve_districting(problem, SolveOptions(time_limit=60, engine="local",
                                                           workers=2))
    finally:
        signal.signal(signal.SIGINT, outside)
    assert pressed.is_set()
    assert clock.INTERRUPTED_NOTE in solution.stats["notes"]
    assert check_plan(problem, solution.assignment, solution.centers) == []
    assert 0 <= solution.bound <= solution.objective
    assert solution.solve_seconds < 30  # stopped after the steps under way, not at the limit


def test_steps_side_by_side_cost_the_run_their_makespan():
    # forked clocks count their own work; the run pays the list schedule on the workers (in
    # list order, each step to the thread free first), and learns of any safety-limit hit
    run = clock.Clock(deterministic=True, time_limit=60)
    steps = [run.fork() for _ in range(4)]
    for step, work in zip(steps, (3.0, 1.0, 1.0, 1.5)):
        step.spend(work)
    steps[2].safety_hit = True
    run.join(steps, workers=2)
    assert run.work == 3.5          # thread 1: 3; thread 2: 1 + 1 + 1.5
    assert run.safety_hit
    run.join(steps, workers=1)
    assert run.work == 3.5 + 6.5
