"""Attainment Monte Carlo, the over-assignment solver, and the fairness audit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from territory_opt.quota import fairness_report, gini, plan_quotas, simulate_attainment
from territory_opt.quota.simulate import estimate_cv
from territory_opt.scenarios.config import QuotaConfig


def reps(n=300, seed=0):
    rng = np.random.default_rng(seed)
    quota = rng.uniform(0.5e6, 2e6, n)
    return quota, quota * rng.uniform(0.8, 1.3, n)


def test_same_seed_same_result_other_seed_differs():
    quota, expected = reps()
    a = simulate_attainment(quota, expected, 0.3, 500, seed=7, plan_total=quota.sum())
    b = simulate_attainment(quota, expected, 0.3, 500, seed=7, plan_total=quota.sum())
    c = simulate_attainment(quota, expected, 0.3, 500, seed=8, plan_total=quota.sum())
    assert np.array_equal(a["rep_probability"], b["rep_probability"])
    assert a["share_at_quota"] == b["share_at_quota"]
    assert not np.array_equal(a["rep_probability"], c["rep_probability"])


def test_rep_probabilities_match_the_lognormal_formula():
    quota, expected = reps()
    cv, draws = 0.25, 4000
    result = simulate_attainment(quota, expected, cv, draws, seed=1, correlation=0.4)
    sigma = np.sqrt(np.log1p(cv**2))
    exact = norm.sf((np.log(quota) - np.log(expected) + sigma**2 / 2) / sigma)
    se = np.sqrt(exact * (1 - exact) / draws)
    assert np.all(np.abs(result["rep_probability"] - exact) <= 5 * se + 1e-3)
    assert result["share_at_quota"] == pytest.approx(exact.mean(), abs=0.03)
    below = norm.cdf((np.log(0.5 * quota) - np.log(expected) + sigma**2 / 2) / sigma).mean()
    assert result["share_below_50"] == pytest.approx(below, abs=0.01)


def test_tails_and_healthy_band_flag():
    quota = np.full(200, 100.0)
    easy = simulate_attainment(quota, np.full(200, 300.0), 0.1, 200, seed=0)
    assert easy["share_above_150"] > 0.99 and easy["flag"] == "above healthy band"
    hard = simulate_attainment(quota, np.full(200, 30.0), 0.1, 200, seed=0)
    assert hard["share_below_50"] > 0.99 and hard["flag"] == "below healthy band"
    # mean 115, cv 0.3: median 110.1, P(S ≥ 100) = Φ(ln 1.101 / 0.294) ≈ 0.63, inside 60–70 %
    fair = simulate_attainment(quota, np.full(200, 115.0), 0.3, 400, seed=0)
    assert 0.6 <= fair["share_at_quota"] <= 0.7 and fair["flag"] is None


@pytest.mark.parametrize(("probability", "correlation"), [(0.8, 0.3), (0.5, 0.1), (0.95, 0.5)])
def test_overassignment_hits_the_requested_company_probability(probability, correlation):
    quota, expected = reps(400, seed=3)
    plan = expected.sum() * 1.02
    draws = 4000
    first = simulate_attainment(quota, expected, 0.3, draws, seed=11, correlation=correlation,
                                plan_total=plan, target_probability=probability)
    factor = (1 + first["overassign_for_probability"]) / (1 + first["current_overassign"])
    # reps sell in proportion to the quota they carry: scale quotas and expectations alike,
    # then check the company probability on fresh draws
    check = simulate_attainment(quota * factor, expected * factor, 0.3, draws, seed=99,
                                correlation=correlation, plan_total=plan)
    tolerance = 4 * np.sqrt(2 * probability * (1 - probability) / draws)
    assert check["p_make_plan"] == pytest.approx(probability, abs=tolerance)
    assert (quota * factor).sum() / plan - 1 == pytest.approx(first["overassign_for_probability"])


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="positive"):
        simulate_attainment(np.array([1.0, 0.0]), np.array([1.0, 1.0]), 0.2, 10)


def test_gini_and_fairness_report():
    assert gini(np.array([2.0, 2.0, 2.0])) == 0.0
    assert gini(np.array([0.0, 0.0, 0.0, 1.0])) == pytest.approx(0.75)
    report = fairness_report(np.array([100.0, 200.0, 300.0, 50.0]),
                             np.array([100.0, 100.0, 100.0, 0.0]),
                             np.array([120.0, 150.0, 310.0, 60.0]))
    ratio = np.array([1.0, 2.0, 3.0])
    assert report["cv"] == pytest.approx(ratio.std() / ratio.mean())
    assert report["gini"] == pytest.approx(gini(ratio))
    assert report["max_abs_deviation"] == pytest.approx(0.5)
    # quotas scaled to last year's 640 total: 98.5, 196.9, 295.4, 49.2 → 3 of 4 made it
    assert report["backtest_share_at_quota"] == pytest.approx(0.75)
    assert report["backtest_flag"] == "above healthy band"
    doubled = fairness_report(np.array([200.0, 400.0, 600.0, 100.0]),
                              np.array([100.0, 100.0, 100.0, 0.0]),
                              np.array([120.0, 150.0, 310.0, 60.0]))
    assert doubled["backtest_share_at_quota"] == report["backtest_share_at_quota"]
    assert doubled["gini"] == pytest.approx(report["gini"])


def test_estimate_cv_from_history():
    potential = np.array([100.0, 100.0, 100.0, 100.0])
    sales = np.array([80.0, 120.0, 80.0, 120.0])
    assert estimate_cv(potential, sales) == pytest.approx(np.std(sales, ddof=1) / 100.0)
    assert estimate_cv(potential[:2], sales[:2]) is None


def test_plan_includes_simulation_and_per_rep_probability():
    hierarchy = pd.DataFrame({"territory_id": ["C", "T1", "T2", "T3", "T4"],
                              "parent_id": [None, "C", "C", "C", "C"],
                              "level": ["company", *["territory"] * 4]})
    leaf = pd.DataFrame({"territory_id": ["T1", "T2", "T3", "T4"],
                         "potential": [100.0, 200.0, 300.0, 400.0],
                         "sales_ly": [90.0, 150.0, 320.0, 380.0]})
    team = pd.DataFrame({"rep_id": ["a", "b", "c", "d"], "territory_id": ["T1", "T2", "T3", "T4"]})
    config = QuotaConfig(total=1000, overassign={"rep": 0.05},
                         simulation={"draws": 1000, "target_probability": 0.8})
    plan = plan_quotas(hierarchy, leaf, team, config, seed=5)
    again = plan_quotas(hierarchy, leaf, team, config, seed=5)
    sim = plan.simulation
    assert sim["cv_source"] == "history" and sim["cv"] == pytest.approx(
        estimate_cv(leaf["potential"], leaf["sales_ly"]))
    reps_rows = plan.quotas[plan.quotas["level"] == "rep"]
    assert reps_rows["p_attain"].between(0, 1).all()
    assert reps_rows["p_attain"].tolist() == again.quotas.loc[reps_rows.index, "p_attain"].tolist()
    assert sim["current_overassign"] == pytest.approx(0.05, abs=0.01)
    flagged = set(reps_rows.loc[reps_rows["p_attain"] < 0.2, "node_id"])
    assert set(sim["unattainable_reps"]) == flagged
    metrics = plan.to_metrics()
    assert "rep_probability" not in metrics["simulation"]
    assert metrics["fairness"]["reps"] == 4
