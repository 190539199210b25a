"""Fixed-centre assignment solver: validity, optimality, determinism, honest status."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from alignment_instances import constrained_problem, random_problem

from territory_opt.solvers import SolveOptions, solve
from territory_opt.solvers.assignment_model import loads, objective
from territory_opt.verify import check_plan


def _brute_force_optimum(problem) -> float:
    best = np.inf
    for plan in itertools.product(range(problem.n_territories), repeat=problem.n_items):
        plan = np.array(plan)
        if not check_plan(problem, plan):
            best = min(best, objective(problem, plan))
    return best


@pytest.mark.parametrize("engine", ["highs", "cpsat"])
def test_tiny_instance_matches_brute_force(engine):
    problem = random_problem(8, 3, seed=4, tolerances=(0.35,))
    solution = solve(problem, SolveOptions(time_limit=20, engine=engine, relative_gap=0.0))
    assert check_plan(problem, solution.assignment) == []
    assert solution.status == "OPTIMAL"
    assert solution.objective == pytest.approx(_brute_force_optimum(problem))
    assert solution.gap == pytest.approx(0.0, abs=1e-9)


def test_both_engines_agree_on_small_instance():
    problem = random_problem(40, 4, seed=2, tolerances=(0.10, 0.20))
    results = [solve(problem, SolveOptions(time_limit=30, engine=e, relative_gap=0.0))
               for e in ("highs", "cpsat")]
    for solution in results:
        assert check_plan(problem, solution.assignment) == []
        assert solution.status == "OPTIMAL"
        assert solution.gap == pytest.approx(0.0, abs=1e-9)
        assert solution.objective == pytest.approx(objective(problem, solution.assignment))
    assert results[0].objective == pytest.approx(results[1].objective)


@pytest.mark.parametrize("engine", ["highs", "cpsat", "local"])
def test_plan_satisfies_all_hard_rules(engine):
    n, k = 300, 10
    # items 15-59 may not go to T00-T02; T04's capacity is tighter than its +10 % workload band
    problem = constrained_problem(n, k, seed=7, locks=15, ineligible=45, barred=3, capped=4,
                                  capacity_factor=1.02, move_share=0.25)
    solution = solve(problem, SolveOptions(time_limit=5, engine=engine))
    plan = solution.assignment
    assert check_plan(problem, plan) == []
    assert (plan[:15] == problem.locked[:15]).all()
    assert (plan[15:60] >= 3).all()
    assert np.bincount(plan, weights=problem.workload, minlength=k)[4] \
        <= problem.capacity[4] + 1e-6
    assert ((plan != problem.current).sum()) <= 0.25 * n
    dev = loads(problem, plan) / problem.targets - 1
    assert (np.abs(dev) <= problem.tolerances + 1e-9).all()
    assert solution.status in ("OPTIMAL", "FEASIBLE")
    assert solution.bound <= solution.objective + 1e-6
    assert solution.objective == pytest.approx(objective(problem, plan))


def test_move_penalty_keeps_items_home():
    free = solve(random_problem(200, 6, seed=3, tolerances=(0.3,)),
                 SolveOptions(time_limit=5, engine="highs"))
    problem = random_problem(200, 6, seed=3, tolerances=(0.3,), move_penalty=1e9)
    sticky = solve(problem, SolveOptions(time_limit=5, engine="highs"))
    moved_free = (free.assignment != problem.current).sum()
    moved_sticky = (sticky.assignment != problem.current).sum()
    assert moved_sticky <= moved_free
    assert check_plan(problem, sticky.assignment) == []


def test_deterministic_runs_are_identical():
    problem = random_problem(300, 10, seed=5)
    options = SolveOptions(time_limit=2, engine="cpsat", deterministic=True, seed=3)
    first = solve(problem, options)
    second = solve(problem, options)
    assert np.array_equal(first.assignment, second.assignment)
    assert first.objective == second.objective


def test_time_limited_run_reports_feasible_with_gap():
    problem = random_problem(3000, 30, seed=11, tolerances=(0.02, 0.03))
    solution = solve(problem, SolveOptions(time_limit=1, engine="highs", relative_gap=0.0))
    assert check_plan(problem, solution.assignment) == []
    assert solution.status == "FEASIBLE"
    assert solution.gap is not None and solution.gap > 0
    assert solution.bound < solution.objective


def test_pruned_candidates_never_hide_a_feasible_plan():
    # Territory 0's centre is far from every item, so the 2 nearest candidates never
    # include it; balance still forces items into it.
    problem = random_problem(60, 4, seed=9, tolerances=(0.2,))
    problem.cost[:, 0] += 1e6
    problem.distance_km[:, 0] += 5000
    options = SolveOptions(time_limit=10, engine="cpsat")
    options.candidates = 2
    solution = solve(problem, options)
    assert check_plan(problem, solution.assignment) == []
    assert (solution.assignment == 0).sum() > 0


def test_progress_reports_incumbents():
    seen = []
    problem = random_problem(200, 5, seed=1)
    solve(problem, SolveOptions(time_limit=5, engine="cpsat", progress=seen.append))
    assert seen and all("seconds" in info for info in seen)
    incumbents = [info for info in seen if "objective" in info]  # bound-only before a plan
    assert incumbents and all("bound" in info for info in incumbents)
    assert all(info["bound"] <= info["objective"] + 1e-6 for info in incumbents)
    assert incumbents[-1]["objective"] <= incumbents[0]["objective"] + 1e-6


@pytest.mark.parametrize("engine", ["highs", "cpsat"])
def test_soft_metric_penalty_pulls_loads_to_target(engine):
    def solved(penalty):
        problem = random_problem(150, 5, seed=6, tolerances=(0.15, 0.0),
                                 soft=np.array([False, True]),
                                 soft_penalty=np.array([0.0, penalty]))
        solution = solve(problem, SolveOptions(time_limit=5, engine=engine))
        assert check_plan(problem, solution.assignment) == []
        assert solution.objective == pytest.approx(objective(problem, solution.assignment))
        dev = loads(problem, solution.assignment)[:, 1] / problem.targets[:, 1] - 1
        return np.abs(dev).sum()

    assert solved(1e9) <= solved(0.0) + 1e-9
