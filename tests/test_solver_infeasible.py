"""Infeasible alignments raise InfeasibleError saying which constraints conflict."""

from __future__ import annotations

import numpy as np
import pytest
from alignment_instances import random_problem
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from territory_opt.errors import InfeasibleError
from territory_opt.solvers import SolveOptions, solve
from territory_opt.solvers.explain import explain_infeasibility, precheck
from territory_opt.verify import check_plan

OPTIONS = SolveOptions(time_limit=5, engine="cpsat")


def _reasons(problem) -> str:
    with pytest.raises(InfeasibleError) as caught:
        solve(problem, OPTIONS)
    assert caught.value.exit_code == 3
    return "\n".join(caught.value.reasons)


def test_locks_over_upper_bound():
    n = 100
    locked = np.full(n, -1)
    locked[:30] = 3                       # ~30 % of the workload into one of 5 territories
    text = _reasons(random_problem(n, 5, seed=1, locked=locked))
    assert "locked accounts alone put T03 at" in text and "workload target" in text
    assert "tolerance is 10%" in text


def test_move_cap_too_tight():
    problem = random_problem(200, 5, seed=2, max_moved=3.0)
    problem.current[:] = 0                # everything currently in T00
    text = _reasons(problem)
    assert "the move cap" in text and "too tight" in text
    assert "needs moving at least" in text


def test_eligibility_leaves_territory_empty():
    eligible = np.ones((120, 6), bool)
    eligible[:, 5] = False
    text = _reasons(random_problem(120, 6, seed=3, eligible=eligible))
    assert "T05" in text and "no eligible accounts" in text


def test_lock_into_ineligible_territory():
    eligible = np.ones((50, 3), bool)
    eligible[7, 2] = False
    locked = np.full(50, -1)
    locked[7] = 2
    text = _reasons(random_problem(50, 3, seed=5, eligible=eligible, locked=locked))
    assert "item I0007 is locked to T02, where it is not eligible" in text


def test_capacity_below_workload_lower_bound():
    capacity = np.full(4, np.nan)
    problem = random_problem(80, 4, seed=4, capacity=capacity)
    problem.capacity[2] = 0.5 * problem.targets[2, 0]
    text = _reasons(problem)
    assert "T02's capacity" in text and "workload lower bound" in text


def test_conflict_found_by_assumptions_when_prechecks_pass():
    # Two items of weight 10 and one of 1, two territories with target 10.5 ± 4 %:
    # every territory bound is reachable on its own, but no split balances both.
    weights = np.array([[10.0], [10.0], [1.0]])
    problem = random_problem(3, 2, seed=0, tolerances=(0.04,), weights=weights,
                             targets=np.full((2, 1), 10.5), workload=None)
    assert precheck(problem) == []
    reasons = explain_infeasibility(problem)
    assert "cannot all hold" in reasons[0] or "cannot hold" in reasons[0]
    assert "within ±4%" in reasons[0]
    assert _reasons(problem) == "\n".join(reasons)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(4, 14), k=st.integers(2, 4), seed=st.integers(0, 10_000),
       tolerance=st.floats(0.0, 0.6), lock_share=st.floats(0, 0.5), cap=st.floats(0, 1),
       engine=st.sampled_from(["highs", "cpsat"]))
def test_random_instances_are_solved_or_explained(n, k, seed, tolerance, lock_share, cap, engine):
    rng = np.random.default_rng(seed)
    locked = np.where(rng.random(n) < lock_share, rng.integers(0, k, n), -1)
    eligible = rng.random((n, k)) < 0.8
    problem = random_problem(n, k, seed=seed, tolerances=(tolerance,), locked=locked,
                             eligible=eligible, max_moved=cap * n)
    try:
        solution = solve(problem, SolveOptions(time_limit=5, engine=engine))
    except InfeasibleError as error:
        assert error.reasons and all(isinstance(r, str) and r for r in error.reasons)
        return
    assert check_plan(problem, solution.assignment) == []
    assert solution.status in ("OPTIMAL", "FEASIBLE")
