"""End-to-end: solve a small scenario, export it, re-import the export as the current plan."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from territory_opt.export import alignment_frame, export_result
from territory_opt.scenarios.config import load_scenario
from territory_opt.scenarios.runner import load_result, run_scenario, write_result

ZIP_CENTRES = {
    "02139": (42.36, -71.10),
    "02140": (42.39, -71.13),
    "10001": (40.75, -73.99),
    "10002": (40.72, -73.99),
    "94103": (37.77, -122.41),
    "94105": (37.79, -122.39),
    "60601": (41.88, -87.62),
    "60602": (41.88, -87.63),
}


@pytest.fixture
def scenario_file(tmp_path):
    rng = np.random.default_rng(7)
    zips = list(ZIP_CENTRES)
    accounts = pd.DataFrame(
        {
            "account_id": [f"A{i:03d}" for i in range(40)],
            "name": ["=HYPERLINK(1)" if i == 0 else f"Account {i}" for i in range(40)],
            "unit_id": [zips[i % len(zips)] for i in range(40)],
            "potential": rng.integers(50, 150, 40).astype(float),
            "sales_ly": rng.integers(20, 100, 40).astype(float),
            "current_territory": [["T1", "T2", "T3", "T4"][i % 4] for i in range(40)],
        }
    )
    accounts["lat"] = [ZIP_CENTRES[z][0] + rng.normal(0, 0.01) for z in accounts["unit_id"]]
    accounts["lon"] = [ZIP_CENTRES[z][1] + rng.normal(0, 0.01) for z in accounts["unit_id"]]
    data = tmp_path / "data"
    data.mkdir()
    accounts.to_csv(data / "accounts.csv", index=False)
    pd.DataFrame(
        {
            "territory_id": ["US", "EAST", "WEST", "T1", "T2", "T3", "T4"],
            "parent_id": ["", "US", "US", "EAST", "EAST", "WEST", "WEST"],
            "level": [
                "nation",
                "region",
                "region",
                "territory",
                "territory",
                "territory",
                "territory",
            ],
            "name": ["Nation", "East", "West", "Boston", "New York", "San Francisco", "Chicago"],
        }
    ).to_csv(data / "territories.csv", index=False)
    pd.DataFrame(
        {
            "rep_id": ["R1", "R2", "R3", "R4"],
            "territory_id": ["T1", "T2", "T3", "T4"],
            "name": ["Ann", "Bob", "Cy", "Di"],
            "email": ["ann@x.com", "bob@x.com", "cy@x.com", "di@x.com"],
            "home_lat": [42.36, 40.75, 37.77, 41.88],
            "home_lon": [-71.10, -73.99, -122.41, -87.62],
        }
    ).to_csv(data / "reps.csv", index=False)
    path = tmp_path / "plan.toml"
    path.write_text(
        'name = "roundtrip"\n[data]\naccounts = "data/accounts.csv"\nreps = "data/reps.csv"\n'
        'territories = "data/territories.csv"\n[alignment]\n'
        'balance = [ { metric = "potential", tolerance = 0.2 } ]\ntime_limit = 10\nseed = 0\n'
        'deterministic = true\n[quota]\ntotal = 1_000_000\nround_to = 1000\nseasonality = "quarter"\n',
        encoding="utf-8",
    )
    return path


def _rerun_with_current(scenario_file, current: pd.DataFrame):
    """Evaluate the plan given by ``current`` (account_id, territory_id) as the current alignment."""
    accounts_path = scenario_file.parent / "data" / "accounts.csv"
    accounts = pd.read_csv(accounts_path, dtype={"unit_id": str})
    accounts["current_territory"] = accounts["account_id"].map(
        dict(zip(current["account_id"], current["territory_id"]))
    )
    accounts.to_csv(accounts_path, index=False)
    return run_scenario(load_scenario(scenario_file, {"alignment": {"mode": "current"}}))


def test_exported_alignment_re_imports_with_zero_moves(scenario_file, tmp_path):
    solved = run_scenario(load_scenario(scenario_file))
    assert solved.assignments["moved"].any()  # the optimiser changed the plan
    write_result(solved, tmp_path / "results", with_map=False)
    reopened = load_result(tmp_path / "results")
    export_result(reopened, "veeva", tmp_path / "export")
    export_result(reopened, "salesforce", tmp_path / "export")
    folder = tmp_path / "export" / "veeva"

    # the veeva bundle alone (ZIP file + overrides) reproduces the plan
    zips = pd.read_csv(folder / "zip_to_territory.csv", dtype=str)
    overrides = pd.read_csv(folder / "overrides.csv", dtype=str)
    by_zip = dict(zip(zips["zip5"], zips["territory_id"]))
    override = dict(zip(overrides["account_id"], overrides["territory_id"]))
    accounts = pd.read_csv(scenario_file.parent / "data" / "accounts.csv", dtype=str)
    rebuilt = (
        pd.DataFrame(
            {
                "account_id": accounts["account_id"],
                "territory_id": [
                    override.get(a) or by_zip[u]
                    for a, u in zip(accounts["account_id"], accounts["unit_id"])
                ],
            }
        )
        .sort_values("account_id")
        .reset_index(drop=True)
    )
    assert rebuilt.equals(alignment_frame(solved))

    keys = pd.read_csv(
        tmp_path / "export" / "salesforce" / "05_account_territory_associations_insert_keys.csv",
        dtype=str,
    )
    assert dict(zip(keys["account_id"], keys["Territory2DeveloperName"])) == dict(
        zip(rebuilt["account_id"], rebuilt["territory_id"])
    )

    again = _rerun_with_current(scenario_file, rebuilt)
    assert not again.assignments["moved"].any()
    assert alignment_frame(again).equals(alignment_frame(solved))
