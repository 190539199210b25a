"""Synthetic AlignmentProblem instances for the solver tests (numpy-seeded, no I/O)."""

from __future__ import annotations

import numpy as np

from territory_opt.problem import AlignmentProblem


def random_problem(n: int = 300, k: int = 10, seed: int = 0, tolerances=(0.10, 0.15),
                   integer_costs: bool = True, **overrides) -> AlignmentProblem:
    """n items scattered over a 1000 km square, k territory centres drawn among them.

    Metrics: ``workload`` (1–100) and ``potential`` (lognormal); cost = workload × distance
    (rounded to whole numbers when ``integer_costs``); the current plan is the nearest centre.
    """
    rng = np.random.default_rng(seed)
    points = rng.random((n, 2)) * 1000.0
    centres = points[rng.choice(n, k, replace=False)]
    distance = np.sqrt(((points[:, None, :] - centres[None]) ** 2).sum(-1))
    weights = np.column_stack([rng.integers(1, 101, n).astype(float),
                               np.round(rng.lognormal(3.0, 0.6, n), 1)])[:, :len(tolerances)]
    cost = weights[:, :1] * distance
    if integer_costs:
        cost = np.round(cost)
    fields = {
        "item_ids": [f"I{i:04d}" for i in range(n)],
        "territory_ids": [f"T{t:02d}" for t in range(k)],
        "metric_names": ["workload", "potential"][:len(tolerances)],
        "weights": weights,
        "targets": np.tile(weights.sum(0) / k, (k, 1)),
        "tolerances": np.array(tolerances, float),
        "soft": np.zeros(len(tolerances), bool),
        "soft_penalty": np.full(len(tolerances), 1000.0),
        "cost": cost,
        "distance_km": distance,
        "item_latlon": np.column_stack([35 + points[:, 0] / 111.0, -100 + points[:, 1] / 90.0]),
        "current": np.argmin(distance, axis=1),
        "locked": np.full(n, -1),
        "move_weight": np.ones(n),
        "item_accounts": [np.array([i]) for i in range(n)],
        "workload": weights[:, 0].copy(),
    }
    fields.update(overrides)
    return AlignmentProblem(**fields)


def constrained_problem(n: int, k: int, seed: int, *, locks: int, ineligible: int, barred: int,
                        capped: int, capacity_factor: float, move_share: float
                        ) -> AlignmentProblem:
    """``random_problem`` with every side rule: the first ``locks`` items locked to random
    territories, the next ``ineligible`` items barred from the first ``barred`` territories,
    a workload capacity of ``capacity_factor`` × target at territory ``capped``, and a move
    cap of ``move_share`` of the items."""
    rng = np.random.default_rng(seed)
    base = random_problem(n, k, seed=seed)
    locked = np.full(n, -1)
    locked[:locks] = rng.integers(0, k, locks)
    eligible = np.ones((n, k), bool)
    eligible[locks:locks + ineligible, :barred] = False
    capacity = np.full(k, np.nan)
    capacity[capped] = base.targets[capped, 0] * capacity_factor
    return random_problem(n, k, seed=seed, locked=locked, eligible=eligible, capacity=capacity,
                          max_moved=move_share * n)
