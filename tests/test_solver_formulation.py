"""build_problem: items, families, targets by FTE, centres, eligibility, capacity, moves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from territory_opt.dataset import Dataset
from territory_opt.formulation import build_problem, geodesic_km_rounded, haversine_km
from territory_opt.scenarios.config import AlignmentConfig, BalanceRule
from territory_opt.solvers import SolveOptions, solve
from territory_opt.solvers.districting import free_centre_cost, free_centre_distances
from territory_opt.verify import check_plan


def _dataset(**rep_overrides) -> Dataset:
    accounts = pd.DataFrame({
        "account_id": ["A1", "A2", "A3", "A4", "A5", "A6"],
        "name": None,
        "lat": [40.0, 40.1, 41.0, 35.0, 35.1, 35.2],
        "lon": [-75.0, -75.1, -74.0, -90.0, -90.1, -90.2],
        "unit_id": ["U1", "U1", "U2", "U3", "U3", "U4"],
        "potential": [100.0, 50.0, 30.0, 80.0, 20.0, 40.0],
        "sales_ly": 0.0,
        "workload": [10.0, 5.0, 3.0, 8.0, 2.0, 4.0],
        "current_territory": ["T1", "T2", "T1", "T2", "T2", None],
        "parent_account_id": [None, "A1", "A2", None, None, None],
        "locked_territory": [None, None, None, None, "T2", None],
        "segment": ["ent", "ent", "ent", "smb", "smb", None],
    })
    reps = pd.DataFrame({
        "rep_id": ["R1", "R2", "R3"], "territory_id": ["T1", "T2", "T2"], "name": None,
        "email": None, "home_lat": [40.0, 35.0, 35.0], "home_lon": [-75.0, -90.0, -90.0],
        "capacity": [100.0, 50.0, 40.0], "fte": [1.0, 1.0, 0.5], "start_date": pd.NaT,
        "manager_id": None, "segment": ["ent", "smb", "smb"],
    })
    for key, value in rep_overrides.items():
        reps[key] = value
    territories = pd.DataFrame({"territory_id": ["ROOT", "T1", "T2", "T3"],
                                "parent_id": [None, "ROOT", "ROOT", "ROOT"],
                                "level": ["region", "territory", "territory", "territory"],
                                "name": None})
    return Dataset(accounts=accounts, territories=territories, reps=reps)


def test_families_collapse_into_root_items():
    problem = build_problem(_dataset(), AlignmentConfig(balance=[BalanceRule(metric="potential")]))
    assert problem.item_ids == ["A1", "A4", "A5", "A6"]
    assert problem.weights[:, 0].tolist() == [180.0, 80.0, 20.0, 40.0]
    assert sorted(problem.item_accounts[0].tolist()) == [0, 1, 2]
    # the family follows its root's current territory (A1 in T1), not A2's
    assert problem.current.tolist() == [0, 1, 1, -1]
    assert problem.locked.tolist() == [-1, -1, 1, -1]
    assert problem.move_weight.tolist() == [3.0, 1.0, 1.0, 1.0]


def test_targets_follow_fte_and_vacancy_fte():
    alignment = AlignmentConfig(balance=[BalanceRule(metric="potential"),
                                         BalanceRule(metric="accounts")], vacancy_fte=0.5)
    problem = build_problem(_dataset(), alignment)
    fte = np.array([1.0, 1.5, 0.5])  # T3 is a vacancy
    np.testing.assert_allclose(problem.targets[:, 0], 320.0 * fte / fte.sum())
    np.testing.assert_allclose(problem.targets[:, 1], 6.0 * fte / fte.sum())


def test_centres_costs_and_vacancy_centroid():
    problem = build_problem(_dataset(), AlignmentConfig(balance=[BalanceRule(metric="potential")]))
    # T1's centre is R1's home; A1's family: workload-weighted km of its three accounts
    acc = _dataset().accounts
    km = haversine_km(acc.lat[:3].to_numpy(), acc.lon[:3].to_numpy(), 40.0, -75.0)
    assert problem.cost[0, 0] == pytest.approx((acc.workload[:3].to_numpy() * km).sum())
    # T3 is a vacancy without current accounts: centroid of all accounts
    assert problem.distance_km[0, 2] == pytest.approx(haversine_km(
        40.0, -75.0, np.average(acc.lat, weights=acc.workload),
        np.average(acc.lon, weights=acc.workload)))


def test_geodesic_rounded_distance_is_whole_km():
    value = geodesic_km_rounded(35.4676, -97.5164, 36.1540, -95.9928)  # Oklahoma City–Tulsa
    assert float(value) == round(float(value))
    assert abs(float(value) - float(haversine_km(35.4676, -97.5164, 36.1540, -95.9928))) < 2


def test_eligibility_capacity_and_move_cap():
    alignment = AlignmentConfig(balance=[BalanceRule(metric="potential", tolerance=1.0)],
                                eligibility="segment", max_moved_share=0.5)
    problem = build_problem(_dataset(), alignment)
    # ent family only T1 (or the vacancy T3); smb items only T2 or T3; A6 (no segment) anywhere
    assert problem.eligible.tolist() == [[True, False, True], [False, True, True],
                                         [False, True, True], [True, True, True]]
    assert np.isnan(problem.capacity[2]) and problem.capacity[:2].tolist() == [100.0, 90.0]
    assert problem.max_moved == pytest.approx(3.0)
    solution = solve(problem, SolveOptions(time_limit=5))
    assert check_plan(problem, solution.assignment) == []
    assert solution.assignment[0] in (0, 2) and solution.assignment[2] == 1


def test_unit_level_items_and_edges():
    dataset = _dataset()
    dataset.units = pd.DataFrame({"unit_id": ["U1", "U2", "U3", "U4"], "lat": [40, 41, 35, 35.2],
                                  "lon": [-75, -74, -90, -90.2], "geometry": None,
                                  "potential": [1.0, 0.0, 0.0, 0.0]})
    dataset.adjacency = pd.DataFrame({"unit_id": ["U1", "U3"], "neighbor_id": ["U2", "U4"]})
    problem = build_problem(dataset, AlignmentConfig(level="unit",
                                                     balance=[BalanceRule(metric="potential")]))
    assert problem.item_ids == ["U1", "U2", "U3", "U4"]
    assert problem.weights[:, 0].tolist() == [151.0, 30.0, 100.0, 40.0]
    assert problem.edges.tolist() == [[0, 1], [2, 3]]
    assert problem.locked.tolist() == [-1, -1, 1, -1]


def test_free_centres_weigh_compactness_by_workload_like_fixed_centres():
    # the note says "compactness cost weighted by workload": free centres must use the same
    # weights (before, their inertia was weighted by the first balanced metric, potential)
    dataset = _dataset()
    dataset.units = pd.DataFrame({"unit_id": ["U1", "U2", "U3", "U4"], "lat": [40, 41, 35, 35.2],
                                  "lon": [-75, -74, -90, -90.2], "geometry": None})
    problem = build_problem(dataset, AlignmentConfig(
        level="unit", centers="free", compactness="inertia", territories=2,
        balance=[BalanceRule(metric="potential", tolerance=1.0)]))
    assert "compactness cost weighted by workload" in problem.notes
    assert problem.free_centre_weight.tolist() == [15.0, 3.0, 10.0, 4.0]
    dist = free_centre_distances(problem)
    assert free_centre_cost(problem, dist)[1, 0] == pytest.approx(3.0 * dist[1, 0] ** 2)
