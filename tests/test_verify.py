"""The independent plan checker catches every kind of violation."""

from __future__ import annotations

import numpy as np
from alignment_instances import random_problem

from territory_opt.verify import check_plan


def _problem(**overrides):
    weights = np.array([[1.0], [1.0], [1.0], [1.0]])
    fields = {"weights": weights, "targets": np.full((2, 1), 2.0),
                  "soft": np.array([False]), "soft_penalty": np.array([1.0]),
                  "current": np.array([0, 0, 1, 1]), "workload": weights[:, 0].copy()}
    fields.update(overrides)
    return random_problem(4, 2, seed=0, tolerances=(0.0,), **fields)


def test_valid_plan_has_no_violations():
    assert check_plan(_problem(), np.array([0, 0, 1, 1])) == []


def test_shape_index_and_type_errors():
    problem = _problem()
    assert "entries" in check_plan(problem, np.array([0, 1]))[0]
    assert "no valid territory" in check_plan(problem, np.array([0, 0, 1, 2]))[0]
    assert "not integers" in check_plan(problem, np.array([0.0, 0, 1, 1]))[0]


def test_balance_locks_eligibility_capacity_moves():
    eligible = np.ones((4, 2), bool)
    eligible[3, 1] = False
    problem = _problem(locked=np.array([1, -1, -1, -1]), eligible=eligible,
                       capacity=np.array([1.5, np.nan]), max_moved=1.0)
    found = "\n".join(check_plan(problem, np.array([0, 0, 1, 1])))
    assert "locked to T01" in found
    assert "not eligible for T01" in found
    assert "above capacity" in found
    plan = np.array([1, 1, 0, 0])
    found = "\n".join(check_plan(problem, plan))
    assert "exceeds the move cap" in found
    unbalanced = "\n".join(check_plan(_problem(), np.array([0, 0, 0, 1])))
    assert "T00: workload 3.00 outside [2.00, 2.00]" in unbalanced


def test_float_noise_within_tolerance_is_accepted():
    problem = _problem(weights=np.array([[0.1], [0.2], [0.3], [0.0]]),
                       targets=np.full((2, 1), 0.3))
    assert check_plan(problem, np.array([0, 0, 1, 1])) == []


def test_contiguity_over_edges():
    problem = _problem(edges=np.array([[0, 1], [1, 2], [2, 3]]), contiguous=True)
    assert check_plan(problem, np.array([0, 0, 1, 1])) == []
    found = check_plan(problem, np.array([0, 1, 1, 0]))
    assert found == ["T00 is split into 2 disconnected pieces"]
    assert "centre item" in check_plan(problem, np.array([0, 0, 1, 1]), centers=[2, 3])[0]
