"""Sales-force structure (sizing, hire, retire) on the small valid fixture.

Every KPI the module reports is recomputed here from the accounts, the returned plan
(territory per account) and the territory homes, with this file's own formulas.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from territory_opt.data import load_dataset, read_table
from territory_opt.errors import InputError
from territory_opt.scenarios.config import load_scenario
from territory_opt.structure import (
    current_homes,
    homes_for_headcount,
    rank_hires,
    rank_retirements,
    sizing_curve,
    sizing_runs,
    smallest_within_capacity,
    with_territories,
    write_sizing_plot,
)

HEADCOUNTS = [2, 3, 4, 5, 6]


def km(lat1, lon1, lat2, lon2):
    """Great-circle km on a 6371 km sphere (this file's own formula)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = (np.sin((p2 - p1) / 2) ** 2
         + np.cos(p1) * np.cos(p2) * np.sin(np.radians(np.asarray(lon2) - lon1) / 2) ** 2)
    return 2 * 6371.0 * np.arcsin(np.sqrt(a))


def recompute(accounts: pd.DataFrame, plan: np.ndarray, homes: pd.DataFrame, metrics: list[str],
              hours_per_fte: float) -> dict:
    """KPIs of a plan from scratch: homes has territory_id, lat, lon, fte."""
    out = {}
    frame = accounts.assign(territory=plan)
    fte = homes.set_index("territory_id")["fte"]
    for metric in metrics:
        totals = frame.groupby("territory")[metric].sum().reindex(fte.index, fill_value=0.0)
        targets = fte / fte.sum() * accounts[metric].sum()
        out[f"max_dev_{metric}"] = float((totals / targets - 1).abs().max())
    home = homes.set_index("territory_id").loc[plan]
    out["travel_km"] = float(km(accounts["lat"].to_numpy(), accounts["lon"].to_numpy(),
                                home["lat"].to_numpy(), home["lon"].to_numpy()).sum())
    workload = frame.groupby("territory")["workload"].sum().reindex(fte.index, fill_value=0.0)
    potential = frame.groupby("territory")["potential"].sum().reindex(fte.index, fill_value=0.0)
    excess = (workload - fte * hours_per_fte).clip(lower=0)
    out["over_capacity_hours"] = float(excess.sum())
    out["territories_over_capacity"] = int((excess > 1e-9).sum())
    out["uncovered_potential"] = float((potential * excess / workload.where(workload > 0, 1)).sum())
    return out


def assert_kpis_match(kpis: dict, expected: dict) -> None:
    for name, value in expected.items():
        assert kpis[name] == pytest.approx(value, rel=1e-3, abs=1e-6), name


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(Path(__file__).parent / "fixtures" / "data" / "valid" / "scenario.toml")


@pytest.fixture(scope="module")
def dataset(scenario):
    return load_dataset(scenario)


@pytest.fixture(scope="module")
def hours_per_fte(dataset):
    """Capacity per FTE so that about 3.5 reps cover the whole workload."""
    return float(dataset.accounts["workload"].sum()) / 3.5


@pytest.fixture(scope="module")
def runs(scenario, dataset, hours_per_fte):
    return sizing_runs(scenario, HEADCOUNTS, capacity_hours=hours_per_fte, dataset=dataset)


def test_sizing_kpis_are_those_of_the_returned_plans(scenario, dataset, runs, hours_per_fte):
    metrics = [rule.metric for rule in scenario.alignment.balance]
    for headcount, evaluation in runs:
        homes = homes_for_headcount(dataset, headcount, scenario.alignment.seed, "potential")
        assert len(evaluation.centres) == headcount
        assert evaluation.kpis["screening"] == "mip"  # the MIP closed its gap, not a time limit
        assert set(evaluation.account_territory) <= set(homes["territory_id"])
        centres = homes.rename(columns={"home_lat": "lat", "home_lon": "lon"}).assign(fte=1.0)
        assert np.allclose(evaluation.centres[["lat", "lon"]], centres[["lat", "lon"]])
        expected = recompute(dataset.accounts, evaluation.account_territory, centres, metrics,
                             hours_per_fte)
        assert_kpis_match(evaluation.kpis, expected)


def test_sizing_capacity_facts_that_must_hold(dataset, runs, hours_per_fte):
    total = float(dataset.accounts["workload"].sum())
    curve = sizing_curve(runs, total, hours_per_fte)
    assert curve["headcount"].tolist() == HEADCOUNTS
    bound = math.ceil(total / hours_per_fte)
    assert (curve["capacity_lower_bound"] == bound).all()
    for row in curve.itertuples():
        # the excess over all territories is at least the total excess
        assert row.over_capacity_hours >= max(0.0, total - row.headcount * hours_per_fte) - 1e-6
        assert row.within_capacity == (row.territories_over_capacity == 0)
        assert 0.0 <= row.uncovered_potential <= dataset.accounts["potential"].sum()
    assert not curve.loc[curve["headcount"] < bound, "within_capacity"].any()
    best = smallest_within_capacity(curve)
    fits = [h for h, e in runs if e.kpis["territories_over_capacity"] == 0]
    assert best == (min(fits) if fits else None)
    assert best is None or best >= bound


def test_smallest_within_capacity_reads_the_curve():
    curve = pd.DataFrame({"headcount": [30, 31, 32, 33], "within_capacity": [False, True, False, True]})
    assert smallest_within_capacity(curve) == 31
    assert smallest_within_capacity(curve.assign(within_capacity=False)) is None


def test_sizing_is_reproducible(scenario, dataset, runs, hours_per_fte):
    again = sizing_runs(scenario, HEADCOUNTS, capacity_hours=hours_per_fte, dataset=dataset)
    total = float(dataset.accounts["workload"].sum())
    pd.testing.assert_frame_equal(sizing_curve(runs, total, hours_per_fte),
                                  sizing_curve(again, total, hours_per_fte))
    for (_, first), (_, second) in zip(runs, again):
        assert (first.account_territory == second.account_territory).all()


def test_sizing_plot_is_written(dataset, runs, hours_per_fte, tmp_path):
    curve = sizing_curve(runs, float(dataset.accounts["workload"].sum()), hours_per_fte)
    path = write_sizing_plot(curve, tmp_path / "sizing.png")
    assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_new_territories_keep_a_clean_hierarchy(dataset):
    homes = homes_for_headcount(dataset, 3, seed=1)
    variant = with_territories(dataset, homes, keep_current=False)
    assert variant.leaf_territories == homes["territory_id"].tolist()
    assert set(variant.territories["territory_id"]) - set(homes["territory_id"]) <= \
        set(dataset.territories["territory_id"])
    assert variant.accounts["current_territory"].isna().all()
    assert variant.reps["rep_id"].str.startswith("PLANNED-").all()


def capped(scenario, share: float):
    return scenario.model_copy(update={
        "alignment": scenario.alignment.model_copy(update={"max_moved_share": share})})


@pytest.fixture(scope="module")
def hires(scenario, dataset, hours_per_fte):
    return rank_hires(capped(scenario, 0.3), screen=4, spacing_km=5.0, top=3, capacity_hours=hours_per_fte,
                      dataset=dataset)


def independent_score(row, baseline: dict, metrics: list[str], total_workload: float) -> float:
    return ((row["over_capacity_hours"] - baseline["over_capacity_hours"]) / total_workload
            + sum(row[f"max_dev_{m}"] - baseline[f"max_dev_{m}"] for m in metrics)
            + (row["travel_km"] - baseline["travel_km"]) / baseline["travel_km"])


def test_hire_ranking_is_sorted_by_an_honest_score(scenario, dataset, hires, hours_per_fte):
    table = hires.table
    assert len(table) == 3 and table["rank"].tolist() == [1, 2, 3]
    assert table["score"].is_monotonic_increasing
    assert len(hires.evaluations) == 4  # every screened candidate, not only the top
    all_scores = [independent_score(pd.Series(e.kpis), hires.baseline, ["potential", "workload"],
                                    float(dataset.accounts["workload"].sum()))
                  for e in hires.evaluations.values()]
    assert table["score"].tolist() == pytest.approx(sorted(all_scores)[:3])
    best = table.iloc[0]
    new_id = f"NEW-{best['candidate_id']}"
    assert new_id in hires.best_dataset.leaf_territories
    assert len(hires.best_dataset.leaf_territories) == len(dataset.leaf_territories) + 1
    rep = hires.best_dataset.reps.set_index("territory_id").loc[new_id]
    assert (rep["home_lat"], rep["home_lon"]) == pytest.approx((best["lat"], best["lon"]))


def test_hire_plans_measured_and_within_the_move_cap(dataset, hires, hours_per_fte):
    accounts = dataset.accounts
    homes = current_homes(dataset)
    for candidate_id, evaluation in hires.evaluations.items():
        plan = evaluation.account_territory
        moved = accounts["current_territory"].notna() & (accounts["current_territory"] != plan)
        assert moved.sum() <= math.floor(0.3 * len(accounts) + 1e-9)
        assert evaluation.kpis["moved_accounts"] == int(moved.sum())
        row = hires.table.set_index("candidate_id")
        new = pd.DataFrame({"territory_id": [f"NEW-{candidate_id}"], "fte": [1.0],
                            "lat": [evaluation.centres.iloc[-1]["lat"]],
                            "lon": [evaluation.centres.iloc[-1]["lon"]]})
        if candidate_id in row.index:
            assert (new.at[0, "lat"], new.at[0, "lon"]) == pytest.approx(
                (row.at[candidate_id, "lat"], row.at[candidate_id, "lon"]))
        centres = pd.concat([homes.rename(columns={"home_lat": "lat", "home_lon": "lon"})[
            ["territory_id", "lat", "lon", "fte"]], new], ignore_index=True)
        expected = recompute(accounts, plan, centres, ["potential", "workload"], hours_per_fte)
        assert_kpis_match(evaluation.kpis, expected)


def test_hire_from_a_candidate_file(scenario, dataset, tmp_path, hours_per_fte):
    path = tmp_path / "candidates.csv"
    path.write_text("candidate_id,name,lat,lon\nC-east,East town,40.2,-89.55\n"
                    "C-west,West town,40.2,-90.05\n")
    ranking = rank_hires(scenario, candidates=read_table(path), top=10,
                         capacity_hours=hours_per_fte, dataset=dataset)
    assert sorted(ranking.table["candidate_id"]) == ["C-east", "C-west"]
    assert set(ranking.table["name"]) == {"East town", "West town"}
    again = rank_hires(scenario, candidates=read_table(path), top=10,
                       capacity_hours=hours_per_fte, dataset=dataset)
    pd.testing.assert_frame_equal(ranking.table, again.table)


def test_bad_candidate_file_names_rows_and_columns(scenario, dataset, tmp_path):
    path = tmp_path / "candidates.csv"
    path.write_text("candidate_id,lat,lon\nA,40.2,-89.5\nA,40.3,-89.6\nB,north,-89.6\nC,40.1,-200\n")
    with pytest.raises(InputError) as caught:
        rank_hires(scenario, candidates=read_table(path), dataset=dataset)
    found = {(issue.row, issue.column) for issue in caught.value.issues}
    assert found == {(3, "candidate_id"), (4, "lat"), (5, "lon")}
    with pytest.raises(InputError) as caught:
        rank_hires(scenario, candidates=pd.DataFrame({"candidate_id": ["A"], "lat": ["40"]}),
                   dataset=dataset)
    assert [issue.column for issue in caught.value.issues] == ["lon"]


def test_retire_ranking_covers_every_territory(scenario, dataset, hours_per_fte):
    ranking = rank_retirements(capped(scenario, 0.3), capacity_hours=hours_per_fte,
                               dataset=dataset)
    table = ranking.table
    assert sorted(table["territory_id"]) == sorted(dataset.leaf_territories)
    assert table["score"].is_monotonic_increasing
    gone = table.at[0, "territory_id"]
    assert gone not in ranking.best_dataset.leaf_territories
    assert len(ranking.best_dataset.leaf_territories) == len(dataset.leaf_territories) - 1
    assert not (ranking.best_dataset.accounts["current_territory"] == gone).any()
    accounts = dataset.accounts
    for territory_id, evaluation in ranking.evaluations.items():
        plan = evaluation.account_territory
        assert territory_id not in set(plan)
        kept = accounts["current_territory"].notna() & (accounts["current_territory"] != territory_id)
        moved = kept & (accounts["current_territory"] != plan)
        assert moved.sum() <= math.floor(0.3 * len(accounts) + 1e-9)
        homes = current_homes(dataset)
        homes = homes[homes["territory_id"] != territory_id]
        centres = homes.rename(columns={"home_lat": "lat", "home_lon": "lon"})
        expected = recompute(accounts, plan, centres, ["potential", "workload"], hours_per_fte)
        assert_kpis_match(evaluation.kpis, expected)


def test_no_default_candidate_far_enough_is_an_input_error(scenario, dataset):
    with pytest.raises(InputError, match="candidates"):
        rank_hires(scenario, spacing_km=500.0, dataset=dataset)


def test_bad_headcount_is_an_input_error(scenario, dataset):
    with pytest.raises(InputError):
        sizing_runs(scenario, [0, 2], dataset=dataset)
