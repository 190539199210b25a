"""Scenario comparison on hand-built results: KPIs, deltas, moved list, reports."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook
from rich.console import Console

from territory_opt.dataset import Dataset
from territory_opt.errors import InputError
from territory_opt.results import Result
from territory_opt.scenarios.compare import (
    compare_results,
    render_rich_table,
    write_comparison,
)
from territory_opt.scenarios.config import scenario_from_dict

T3 = "<script>alert('x')</script>"  # a hostile territory id: must be escaped in HTML
ACCOUNTS = pd.DataFrame(
    {
        "account_id": ["A1", "A2", "A3", "A4", "A5", "A6"],
        "potential": [100.0, 50.0, 50.0, 40.0, 30.0, 30.0],  # total 300: equal share 100
        "current_territory": ["T1", "T1", "T2", T3, T3, T3],
    }
)
CURRENT = {"A1": "T1", "A2": "T1", "A3": "T2", "A4": T3, "A5": T3, "A6": T3}
BALANCED = {**CURRENT, "A2": "T2"}


def make_result(
    name: str,
    plan: dict[str, str],
    travel: list[float],
    *,
    balance=("potential",),
    status="OPTIMAL",
    gap=0.0,
    quotas: list[float] | None = None,
    quota_metrics: dict | None = None,
) -> Result:
    """A Result whose tables are derived from ``plan`` the way the runner lays them out."""
    accounts = ACCOUNTS.assign(lat=[48.1, 48.2, 48.3, 48.4, 48.5, 48.6], lon=11.5)
    dataset = Dataset(
        accounts=accounts,
        territories=pd.DataFrame(
            {
                "territory_id": ["T1", "T2", T3],
                "parent_id": None,
                "level": "territory",
                "name": ["T1", "T2", T3],
            }
        ),
        reps=pd.DataFrame({"rep_id": ["R1", "R2", "R3"], "territory_id": ["T1", "T2", T3]}),
    )
    new = accounts["account_id"].map(plan)
    moved = new != accounts["current_territory"]
    assignments = pd.DataFrame(
        {
            "account_id": accounts["account_id"],
            "territory_id": new,
            "previous_territory_id": accounts["current_territory"],
            "moved": moved,
            "reason": np.where(moved, "moved T1→T2: T1 was 50% over its potential target", ""),
            "unit_id": None,
            "lat": accounts["lat"],
            "lon": accounts["lon"],
            "potential": accounts["potential"],
        }
    )
    ids = ["T1", "T2", T3]
    territories = pd.DataFrame({"territory_id": ids})
    territories["accounts"] = [int((new == t).sum()) for t in ids]
    territories["potential_total"] = [accounts["potential"][new == t].sum() for t in ids]
    for metric in balance:
        column = "accounts" if metric == "accounts" else f"{metric}_total"
        total = territories[column].astype(float)
        territories[f"{metric}_total"] = total
        territories[f"{metric}_target"] = total.sum() / 3
        territories[f"{metric}_deviation"] = total / (total.sum() / 3) - 1
    territories["travel_km"] = travel
    metrics = {
        "status": status,
        "gap": gap,
        "solve_seconds": 1.5,
        "contiguous": None,
        "balance": {m: {} for m in balance},
    }
    quota_frame = None
    if quotas is not None:
        quota_frame = pd.DataFrame(
            {"node_id": ids, "level": "territory", "parent_id": None, "quota": quotas}
        )
        metrics["quota"] = quota_metrics or {}
    return Result(
        scenario=scenario_from_dict({"name": name, "data": {"accounts": "x.csv"}}),
        dataset=dataset,
        assignments=assignments,
        territories=territories,
        metrics=metrics,
        quotas=quota_frame,
    )


@pytest.fixture
def current() -> Result:
    return make_result("current", CURRENT, [10.0, 20.0, 30.0], status="UNKNOWN", gap=None)


@pytest.fixture
def balanced() -> Result:
    return make_result(
        "balanced",
        BALANCED,
        [12.0, 25.0, 30.0],
        balance=("potential", "accounts"),
        status="FEASIBLE",
        gap=0.012,
        quotas=[110.0, 90.0, 100.0],
        quota_metrics={"simulation": {"share_at_quota": 0.6}},
    )


def test_kpis_match_hand_computed_figures(current, balanced):
    c = compare_results([current, balanced])
    k = c.kpis
    assert list(k.columns) == ["current", "balanced"]
    # current potential totals 150/50/100 vs 100 each; balanced 100/100/100.
    assert k.at["potential: worst |deviation|", "current"] == pytest.approx(0.5)
    assert k.at["potential: mean |deviation|", "current"] == pytest.approx(1 / 3)
    assert k.at["potential: CV of totals", "current"] == pytest.approx(math.sqrt(5000 / 3) / 100)
    assert k.at["potential: worst |deviation|", "balanced"] == pytest.approx(0.0)
    # accounts is balanced only in "balanced"; current is measured against the equal share 2.
    assert k.at["accounts: worst |deviation|", "current"] == pytest.approx(0.5)  # counts 2/1/3
    assert k.at["accounts: worst |deviation|", "balanced"] == pytest.approx(0.5)  # counts 1/2/3
    assert k.at["travel (km)", "current"] == pytest.approx(60.0)
    assert k.at["travel (km)", "balanced"] == pytest.approx(67.0)
    assert k.at["moved accounts", "current"] == 0
    assert k.at["moved accounts", "balanced"] == 1
    assert k.at["moved share", "balanced"] == pytest.approx(1 / 6)
    assert k.at["moved potential", "balanced"] == pytest.approx(50.0)
    # quota / potential = 1.1, 0.9, 1.0: CV sqrt(0.02/3), Gini 0.4 / 9.
    assert k.at["quota/potential: CV", "balanced"] == pytest.approx(math.sqrt(0.02 / 3))
    assert k.at["quota/potential: Gini", "balanced"] == pytest.approx(0.4 / 9)
    assert k.at["expected share of reps at quota", "balanced"] == pytest.approx(0.6)
    assert np.isnan(k.at["quota/potential: CV", "current"])
    assert k.at["status", "balanced"] == "FEASIBLE"
    assert k.at["gap", "balanced"] == pytest.approx(0.012)


def test_reported_quota_fairness_is_used_when_present(current):
    with_fairness = make_result(
        "q",
        BALANCED,
        [1.0, 1.0, 1.0],
        quotas=[110.0, 90.0, 100.0],
        quota_metrics={"fairness": {"cv": 0.25, "gini": 0.125}},
    )
    k = compare_results([current, with_fairness]).kpis
    assert k.at["quota/potential: CV", "q"] == 0.25
    assert k.at["quota/potential: Gini", "q"] == 0.125


def test_moved_list_is_exact_and_reasons_come_from_the_later_plan(current, balanced):
    c = compare_results([current, balanced])
    assert c.moved.to_dict("records") == [
        {
            "scenario": "balanced",
            "account_id": "A2",
            "from": "T1",
            "to": "T2",
            "reason": "moved T1→T2: T1 was 50% over its potential target",
        }
    ]
    # Reversed: the later plan keeps A2 in its current territory, which the reason says.
    back = compare_results([balanced, current])
    assert back.moved.to_dict("records") == [
        {
            "scenario": "current",
            "account_id": "A2",
            "from": "T2",
            "to": "T1",
            "reason": "stays in its current territory T1",
        }
    ]


def test_territory_deltas_are_totals_and_differences_vs_the_first(current, balanced):
    d = compare_results([current, balanced]).territory_deltas
    potential = d[d["metric"] == "potential"].set_index("territory_id")
    assert potential.loc["T1", "current"] == 150 and potential.loc["T1", "balanced"] == 100
    assert potential["Δ balanced"].to_dict() == {"T1": -50.0, "T2": 50.0, T3: 0.0}
    travel = d[d["metric"] == "travel_km"].set_index("territory_id")
    assert travel["Δ balanced"].to_dict() == {"T1": 2.0, "T2": 5.0, T3: 0.0}
    assert list(dict.fromkeys(d["territory_id"])) == ["T1", "T2", T3]


def test_explain_states_the_main_differences_in_plain_words(current, balanced):
    text = " ".join(compare_results([current, balanced]).explain())
    assert "balanced cuts the worst potential deviation from 50% to 0.0%" in text
    assert "by moving 1 account (17%)" in text
    assert "travel +12%" in text  # 67 km vs 60 km
    assert "balanced is within 1.2% of the proven bound" in text
    assert "territory T1: potential 150 → 100 (−33%)" in text


def test_names_must_be_distinct_and_one_per_result(current, balanced):
    with pytest.raises(InputError, match="distinct"):
        compare_results([current, balanced], names=["a", "a"])
    with pytest.raises(InputError, match="one per result"):
        compare_results([current, balanced], names=["a"])
    twice = compare_results([current, current])
    assert twice.names == ["current", "current-2"]


def test_rich_table_shows_user_strings_literally(current, balanced):
    c = compare_results([current, balanced], names=["[bold]now[/bold]", "balanced"])
    console = Console(record=True, width=200)
    console.print(render_rich_table(c))
    text = console.export_text()
    assert "[bold]now[/bold]" in text
    assert "50%" in text and "FEASIBLE" in text


def test_write_comparison_writes_every_file_and_escapes_html(tmp_path, current, balanced):
    c = compare_results([current, balanced], names=["current", "<b>balanced</b>"])
    paths = write_comparison(c, tmp_path)
    names = {p.name for p in paths}
    assert {
        "compare.csv",
        "territory_deltas.csv",
        "moved_accounts.csv",
        "compare.xlsx",
        "compare.html",
    } <= names
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left

    kpis = pd.read_csv(tmp_path / "compare.csv", index_col="kpi")
    assert float(kpis.at["moved accounts", "<b>balanced</b>"]) == 1
    moved = pd.read_csv(tmp_path / "moved_accounts.csv")
    assert moved[["account_id", "from", "to"]].values.tolist() == [["A2", "T1", "T2"]]
    book = load_workbook(tmp_path / "compare.xlsx", read_only=True)
    assert book.sheetnames == ["KPIs", "Territory deltas", "Moved accounts"]

    page = (tmp_path / "compare.html").read_text(encoding="utf-8")
    assert "<script" not in page and "<b>balanced" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "&lt;b&gt;balanced&lt;/b&gt;" in page
    assert "http://" not in page and "https://" not in page and "<link" not in page
    assert "cuts the worst potential deviation" in page


def test_report_writes_and_embeds_the_comparison_map(tmp_path, current, balanced):
    write_comparison(compare_results([current, balanced]), tmp_path)
    assert (tmp_path / "compare_map.html").stat().st_size > 0
    page = (tmp_path / "compare.html").read_text(encoding="utf-8")
    assert 'href="compare_map.html"' in page and '<iframe src="compare_map.html"' in page


def test_report_links_a_map_already_in_the_folder(tmp_path, current):
    (tmp_path / "compare_map.html").write_text("<html></html>")
    write_comparison(compare_results([current]), tmp_path)  # one plan: no map is drawn
    assert (tmp_path / "compare_map.html").read_text() == "<html></html>"
    assert 'href="compare_map.html"' in (tmp_path / "compare.html").read_text(encoding="utf-8")
    (tmp_path / "compare_map.html").unlink()
    write_comparison(compare_results([current]), tmp_path)
    assert "compare_map.html" not in (tmp_path / "compare.html").read_text(encoding="utf-8")


def test_single_result_is_described_on_its_own(current):
    text = " ".join(compare_results([current]).explain())
    assert "current has a worst potential deviation of 50%" in text
    assert "status UNKNOWN" in text


def test_compare_real_results_folders(tmp_path):
    """Current plan vs an optimised plan, both written and re-loaded through the runner."""
    from territory_opt.scenarios.runner import load_result, run_scenario, write_result

    rng = np.random.default_rng(5)
    lat, lon = 48 + rng.random(40), 11 + rng.random(40)
    current = np.where(lon < 11.5, "T1", "T2")
    accounts = pd.DataFrame(
        {
            "account_id": [f"A{i:02d}" for i in range(40)],
            "lat": lat,
            "lon": lon,
            "potential": np.where(current == "T1", 300.0, 100.0) + rng.integers(0, 50, 40),
            "current_territory": current,
        }
    )
    accounts.to_csv(tmp_path / "accounts.csv", index=False)
    pd.DataFrame(
        {
            "rep_id": ["R1", "R2"],
            "territory_id": ["T1", "T2"],
            "home_lat": [48.5, 48.5],
            "home_lon": [11.25, 11.75],
        }
    ).to_csv(tmp_path / "reps.csv", index=False)
    folders = []
    for name, mode in (("now", "current"), ("even", "optimize")):
        scenario = scenario_from_dict(
            {
                "name": name,
                "data": {
                    "accounts": str(tmp_path / "accounts.csv"),
                    "reps": str(tmp_path / "reps.csv"),
                },
                "quota": {"total": 1e6, "simulation": {"draws": 200}}
                if mode == "optimize"
                else None,
                "alignment": {
                    "mode": mode,
                    "time_limit": 5,
                    "balance": [{"metric": "potential", "tolerance": 0.05}],
                },
            }
        )
        folders.append(write_result(run_scenario(scenario), tmp_path / name, with_map=False))
    c = compare_results([load_result(f) for f in folders])

    plans = [
        pd.read_csv(f / "assignments.csv").set_index("account_id")["territory_id"] for f in folders
    ]
    changed = sorted(plans[0].index[plans[0] != plans[1]])
    assert sorted(c.moved["account_id"]) == changed and len(changed) > 0
    assert (c.moved["reason"] != "").all()
    even = accounts.assign(t=accounts["account_id"].map(plans[1]))
    worst = (
        (even.groupby("t")["potential"].sum() / (accounts["potential"].sum() / 2) - 1).abs().max()
    )
    assert c.kpis.at["potential: worst |deviation|", "even"] == pytest.approx(worst)
    assert worst <= 0.05 + 1e-9
    assert "even cuts the worst potential deviation" in " ".join(c.explain())
    reported = json.loads((folders[1] / "metrics.json").read_text())["quota"]
    assert c.kpis.at["quota/potential: CV", "even"] == pytest.approx(reported["fairness"]["cv"])
    assert c.kpis.at["expected share of reps at quota", "even"] == pytest.approx(
        reported["simulation"]["share_at_quota"]
    )
    assert np.isnan(c.kpis.at["quota/potential: CV", "now"])
