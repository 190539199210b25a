"""The large-instance path of the assignment solver: smoothed duals, the pruned LP, repair,
determinism and its wall-clock safety limit, progress reports. Small instances only."""

from __future__ import annotations

import numpy as np
import pytest
from alignment_instances import constrained_problem, random_problem

from territory_opt.solvers import SolveOptions, assignment, clock, solve
from territory_opt.solvers.assignment_highs import run_highs
from territory_opt.solvers.assignment_model import (
    Candidates,
    allowed_pairs,
    objective,
    select_candidates,
    smoothed_dual,
)
from territory_opt.solvers.warm_start import improve, repair
from territory_opt.verify import check_plan


def _lp_over_all_pairs(problem) -> float:
    """The LP relaxation over every allowed pair, solved directly (the bound's reference)."""
    complete = Candidates.from_mask(allowed_pairs(problem), True, problem.n_territories)
    lp = run_highs(problem, complete, integer=False, time_limit=60)
    assert lp.status == "OPTIMAL"
    return float(lp.bound)


def _pruned_problem(**overrides):
    """40 territories: the 12 nearest per item are far from every pair."""
    return random_problem(2000, 40, seed=21, tolerances=(0.05, 0.10), **overrides)


def test_smoothed_dual_bound_is_valid_and_close_to_the_lp():
    problem = _pruned_problem()
    cand = select_candidates(problem, 8)
    assert not cand.complete
    dual = smoothed_dual(problem, cand)
    lp_value = _lp_over_all_pairs(problem)
    assert dual.bound <= lp_value * (1 + 1e-9)
    assert dual.bound >= lp_value * (1 - 0.01)
    # the window is a subset of the candidates, with at least one pair per item
    assert not (dual.window.mask & ~dual.cand.mask).any()
    assert (np.diff(dual.window.start) >= 1).all()
    assert dual.window.size < dual.cand.size


def test_pruned_instance_gives_a_sound_plan_and_the_lp_bound():
    problem = _pruned_problem()
    solution = solve(problem, SolveOptions(time_limit=6, engine="highs"))
    assert check_plan(problem, solution.assignment) == []
    assert solution.objective == pytest.approx(objective(problem, solution.assignment))
    assert not solution.stats["candidates_complete"]
    lp_value = _lp_over_all_pairs(problem)
    assert solution.bound <= lp_value * (1 + 1e-9)
    assert solution.bound <= solution.objective
    if solution.stats["lp_converged"]:  # pricing found nothing: the bound is the full LP's
        assert solution.bound == pytest.approx(lp_value, rel=1e-6)
    assert solution.status in ("OPTIMAL", "FEASIBLE")


def test_repair_restores_every_hard_rule_from_a_bad_plan():
    n = 800
    problem = constrained_problem(n, 16, seed=3, locks=20, ineligible=60, barred=4, capped=8,
                                  capacity_factor=1.03, move_share=0.3)
    cand = select_candidates(problem, 6)
    cheapest = np.where(allowed_pairs(problem), problem.cost, np.inf).argmin(axis=1)
    crowded = cheapest.copy()
    crowded[80:400] = crowded[80]  # pile a block of free items into one territory
    assert check_plan(problem, crowded) != []
    repaired = repair(problem, cand, crowded)
    assert check_plan(problem, repaired) == []
    assert (repaired[:20] == problem.locked[:20]).all()
    improved = improve(problem, cand, repaired)
    assert check_plan(problem, improved) == []
    assert objective(problem, improved) <= objective(problem, repaired) + 1e-6


def test_deterministic_pruned_runs_are_identical_and_within_the_safety_limit():
    problem = random_problem(800, 24, seed=8, tolerances=(0.08, 0.12))
    options = SolveOptions(time_limit=1, engine="cpsat", deterministic=True, seed=1, workers=2)
    first = solve(problem, options)
    second = solve(problem, options)
    assert not first.stats["candidates_complete"]
    assert np.array_equal(first.assignment, second.assignment)
    assert first.objective == second.objective
    assert check_plan(problem, first.assignment) == []
    assert assignment.SAFETY_NOTE not in first.stats["notes"]


def test_deterministic_run_past_its_safety_limit_says_so(monkeypatch):
    monkeypatch.setattr(clock, "SAFETY_FACTOR", 0.0)
    monkeypatch.setattr(clock, "SAFETY_SECONDS", 0.0)
    problem = random_problem(300, 10, seed=5)
    solution = solve(problem, SolveOptions(time_limit=2, engine="cpsat", deterministic=True))
    assert assignment.SAFETY_NOTE in solution.stats["notes"]
    assert check_plan(problem, solution.assignment) == []
    assert solution.bound <= solution.objective


def test_progress_reports_every_phase_with_honest_figures():
    seen: list[dict] = []
    problem = _pruned_problem()
    solution = solve(problem, SolveOptions(time_limit=5, engine="highs", progress=seen.append))
    phases = [info["phase"] for info in seen]
    for phase in ("dual", "lp", "warm start", "highs", "done"):  # "highs": read from its log
        assert phase in phases
    incumbents = [info["objective"] for info in seen if info["phase"] == "highs"]
    assert incumbents == sorted(incumbents, reverse=True)
    assert min(incumbents) >= solution.objective - 1e-6
    seconds = [info["seconds"] for info in seen]
    assert seconds == sorted(seconds)
    for info in seen:
        if "objective" in info and "bound" in info:
            assert info["bound"] <= info["objective"] + 1e-6
    assert seen[-1]["objective"] == pytest.approx(solution.objective)
    assert seen[-1]["bound"] == pytest.approx(solution.bound)
