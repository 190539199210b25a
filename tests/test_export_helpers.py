"""Small real plans for the export tests: a 3-level hierarchy over ZIP (or county) polygons."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
from shapely.geometry import box

from territory_opt.dataset import Dataset
from territory_opt.results import Result
from territory_opt.scenarios.config import scenario_from_dict

UNIT_TERRITORY = {"02139": "T1", "02140": "T1", "10001": "T2", "94103": "T3", "94105": "T3"}
# account -> (unit, territory, previous territory)
ACCOUNTS = {
    "A1": ("02139", "T1", "T1"),
    "A2": ("02140", "T1", "T2"),
    "A3": ("10001", "T2", "T2"),
    "A4": ("10001", "T2", "T1"),
    "A5": ("10001", "T1", "T1"),
    "A6": ("94103", "T3", "T3"),
    "A7": ("94105", "T3", "T3"),
    "A8": ("94105", "T3", "T2"),
    "A10": ("02139", "T1", None),
}
ACCOUNT_NAMES = {
    "A1": '=HYPERLINK("http://x")',
    "A2": '+Acme, "Inc"',
    "A3": "Zürich AG",
    "A4": "@risk",
    "A5": "-5 Labs",
    "A6": "Plain Co",
    "A7": "Line\nbreak",
    "A8": "Tab\tCo",
    "A10": "Ten",
}


def make_result(
    tmp_path: Path,
    *,
    unit_ids: dict[str, str] | None = None,
    quotas: bool = True,
    periods: bool = True,
    emails: bool = True,
    polygons: bool = True,
) -> Result:
    """A solved-looking plan built from real frames; ``unit_ids`` renames the ZIP units."""
    rename = unit_ids or {}
    territories = pd.DataFrame(
        {
            "territory_id": ["US", "EAST", "WEST", "T1", "T2", "T3"],
            "parent_id": [None, "US", "US", "EAST", "EAST", "WEST"],
            "level": ["area", "region", "region", "territory", "territory", "territory"],
            "name": [
                "United States",
                "East",
                "West",
                "Boston – North",
                "=cmd|' /C calc'!A0",
                "Zürich Süd",
            ],
        }
    )
    reps = pd.DataFrame(
        {
            "rep_id": ["R1", "R2", "M1"],
            "territory_id": ["T1", "T2", "EAST"],
            "name": ["Ann Lee", "-Bob", "Mia Manager"],
            "email": ["ann@example.com", "bob@example.com", "mia@example.com"]
            if emails
            else [None] * 3,
            "home_lat": [42.37, 40.75, 42.0],
            "home_lon": [-71.1, -73.99, -72.0],
            "capacity": [float("nan")] * 3,
            "fte": [1.0] * 3,
            "start_date": pd.to_datetime(["2026-01-15", None, None]),
            "manager_id": ["M1", "M1", None],
        }
    )
    zips = list(UNIT_TERRITORY)
    centres = {
        "02139": (42.36, -71.10),
        "02140": (42.39, -71.13),
        "10001": (40.75, -73.99),
        "94103": (37.77, -122.41),
        "94105": (37.79, -122.39),
    }
    units = gpd.GeoDataFrame(
        {
            "unit_id": [rename.get(z, z) for z in zips],
            "lat": [centres[z][0] for z in zips],
            "lon": [centres[z][1] for z in zips],
        },
        geometry=[
            box(
                centres[z][1] - 0.01,
                centres[z][0] - 0.01,
                centres[z][1] + 0.01,
                centres[z][0] + 0.01,
            )
            if polygons
            else None
            for z in zips
        ],
        crs="EPSG:4326",
    )
    ids = list(ACCOUNTS)
    accounts = pd.DataFrame(
        {
            "account_id": ids,
            "name": [ACCOUNT_NAMES[a] for a in ids],
            "lat": [centres[ACCOUNTS[a][0]][0] + 0.001 * i for i, a in enumerate(ids)],
            "lon": [centres[ACCOUNTS[a][0]][1] for a in ids],
            "unit_id": [rename.get(ACCOUNTS[a][0], ACCOUNTS[a][0]) for a in ids],
            "potential": [100.0 + i for i in range(len(ids))],
            "current_territory": [ACCOUNTS[a][2] for a in ids],
        }
    )
    dataset = Dataset(
        accounts=accounts,
        territories=territories,
        reps=reps,
        units=units,
        sources={"reps": tmp_path / "reps.csv"},
    )
    moved = [ACCOUNTS[a][2] is not None and ACCOUNTS[a][2] != ACCOUNTS[a][1] for a in ids]
    assignments = pd.DataFrame(
        {
            "account_id": ids,
            "name": accounts["name"],
            "territory_id": [ACCOUNTS[a][1] for a in ids],
            "previous_territory_id": [ACCOUNTS[a][2] for a in ids],
            "moved": moved,
            "reason": [
                f"moved {ACCOUNTS[a][2]}→{ACCOUNTS[a][1]}: balance" if m else ""
                for a, m in zip(ids, moved)
            ],
            "unit_id": accounts["unit_id"],
            "lat": accounts["lat"],
            "lon": accounts["lon"],
            "potential": accounts["potential"],
        }
    )
    table = pd.DataFrame(
        {
            "territory_id": ["T1", "T2", "T3"],
            "name": territories["name"][3:].tolist(),
            "parent_id": ["EAST", "EAST", "WEST"],
            "level": ["territory"] * 3,
            "rep_id": ["R1", "R2", None],
            "rep_name": ["Ann Lee", "-Bob", None],
            "rep_email": (["ann@example.com", "bob@example.com", None] if emails else [None] * 3),
            "accounts": [4, 2, 3],
            "potential_total": [410.0, 205.0, 318.0],
            "potential_target": [311.0, 311.0, 311.0],
            "potential_deviation": [0.318, -0.34, 0.0225],
            "travel_km": [12.5, 3.0, 8.25],
            "vacancy": [False, False, True],
        }
    )
    scenario = scenario_from_dict(
        {
            "name": "fy27-plan",
            "description": "FY27 & beyond <test>",
            "data": {"accounts": str(tmp_path / "accounts.csv")},
            "alignment": {"level": "unit"},
        }
    )
    quota_frame = (
        pd.DataFrame(
            {
                "node_id": ["US", "EAST", "WEST", "T1", "T2", "T3"],
                "level": territories["level"],
                "parent_id": territories["parent_id"],
                "quota": [1_200_000.0, 800_000.0, 400_000.0, 420_000.0, 400_000.0, 412_000.0],
            }
        )
        if quotas
        else None
    )
    extras = {}
    if periods:
        extras["quota_periods"] = pd.DataFrame(
            [
                (n, f"2027-Q{q}", round(v / 4, 2))
                for n, v in zip(quota_frame["node_id"], quota_frame["quota"])
                for q in range(1, 5)
            ],
            columns=["node_id", "period", "quota"],
        )
    unit_table = pd.DataFrame(
        {
            "unit_id": [rename.get(z, z) for z in zips],
            "territory_id": [UNIT_TERRITORY[z] for z in zips],
        }
    )
    metrics = {
        "status": "OPTIMAL",
        "objective": 123.4,
        "bound": 120.0,
        "gap": 0.0276,
        "solve_seconds": 1.5,
        "balance": {"potential": {"max_abs_deviation": 0.34}},
        "moved_share": sum(moved) / len(ids),
        "contiguous": None,
    }
    return Result(
        scenario=scenario,
        dataset=dataset,
        assignments=assignments,
        territories=table,
        metrics=metrics,
        units=unit_table,
        quotas=quota_frame,
        extras=extras,
    )
