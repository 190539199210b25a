"""Building the Dataset: fixtures, mapping, derived values, green-field and unit levels."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from fixtures.data.builder import ACC_HEADER_RENAMES, BASE, make_scenario, where, with_column
from fixtures.data.builder import without_column as drop
from shapely.geometry import Point, box

from territory_opt import load_scenario
from territory_opt.data import adjacency_from_polygons, collect_issues, load_dataset
from territory_opt.dataset import (
    ACCOUNT_COLUMNS,
    REP_COLUMNS,
    TERRITORY_COLUMNS,
    UNIT_COLUMNS,
)
from territory_opt.errors import InputError

FIXTURES = Path(__file__).parent / "fixtures" / "data"
VALID = FIXTURES / "valid" / "scenario.toml"
TEN = FIXTURES / "ten_mistakes" / "scenario.toml"


@pytest.fixture(scope="module")
def valid():
    return load_dataset(load_scenario(VALID))


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_valid_fixture_frames_and_dtypes(valid):
    accounts = valid.accounts
    assert list(accounts.columns[:len(ACCOUNT_COLUMNS)]) == ACCOUNT_COLUMNS
    assert {"calls_per_year", "minutes_per_call", "employees"} <= set(accounts.columns)
    assert len(accounts) == 50 and accounts.index.tolist() == list(range(50))
    for column in ("lat", "lon", "potential", "sales_ly", "workload", "employees"):
        assert accounts[column].dtype == np.float64
    for column in ("account_id", "unit_id", "current_territory", "locked_territory"):
        assert accounts[column].dtype == object
        assert all(v is None or isinstance(v, str) for v in accounts[column])
    assert list(valid.reps.columns) == REP_COLUMNS
    assert list(valid.territories.columns) == TERRITORY_COLUMNS
    assert list(valid.units.columns[:4]) == UNIT_COLUMNS
    assert isinstance(valid.units, gpd.GeoDataFrame) and valid.units.crs.to_epsg() == 4326
    assert valid.leaf_territories == ["T1", "T2", "T3", "T4"]
    assert valid.rep_of("T3")["fte"] == 0.5 and valid.rep_of("T3")["name"] == "Cy"
    assert pd.isna(valid.rep_of("T4")["start_date"])
    assert valid.reps["start_date"].iloc[0] == pd.Timestamp("2020-03-01")
    assert set(valid.sources) == {"accounts", "reps", "territories", "units", "adjacency"}


def test_valid_fixture_values_match_the_files(valid):
    rows = _csv_rows(FIXTURES / "valid" / "accounts.csv")
    accounts = valid.accounts.set_index("account_id")
    for row in rows:
        got = accounts.loc[row["account_id"]]
        hours = float(row["calls_per_year"]) * float(row["minutes_per_call"]) / 60
        assert got["workload"] == pytest.approx(hours)
        assert got["potential"] == float(row["potential"])
        assert got["current_territory"] == row["current_territory"]
        assert got["name"] == row["name"]


def test_locations_and_units_filled_from_the_grid(valid):
    """Every account lies inside its unit's 0.1-degree square (checked by arithmetic)."""
    rows = {r["account_id"]: r for r in _csv_rows(FIXTURES / "valid" / "accounts.csv")}
    units = valid.units.set_index("unit_id")
    for account in valid.accounts.itertuples():
        col, row = int((account.lon + 90.0) / 0.1), int((account.lat - 40.0) / 0.1)
        assert account.unit_id == f"021{row * 4 + col + 1:02d}"
        assert units.loc[account.unit_id, "geometry"].contains(Point(account.lon, account.lat))
        if rows[account.account_id]["lat"] == "":  # located from its unit's point
            assert (account.lat, account.lon) == (units.loc[account.unit_id, "lat"],
                                                  units.loc[account.unit_id, "lon"])
    assert sum(r["unit_id"] == "" for r in rows.values()) == 5  # placed by polygon
    assert sum(r["lat"] == "" for r in rows.values()) == 5      # located by unit


def test_units_keep_zero_padded_ids_and_numeric_columns(valid):
    assert valid.units["unit_id"].tolist()[:3] == ["02101", "02102", "02103"]
    assert valid.units["households"].dtype == np.float64
    for unit in valid.units.itertuples():
        assert unit.geometry.contains(Point(unit.lon, unit.lat))


def test_edge_list_matches_rook_adjacency_of_the_polygons(valid):
    assert valid.adjacency_rule == "edge list"
    assert len(valid.adjacency) == 24  # 2 * 4 * 3 rook edges on a 4x4 grid
    from_polygons = adjacency_from_polygons(valid.units, "rook")
    pd.testing.assert_frame_equal(valid.adjacency, from_polygons)


def test_valid_fixture_is_valid_at_unit_level_too():
    overrides = {"alignment": {"level": "unit", "contiguous": True, "compactness": "cut_edges",
                               "balance": [{"metric": "households"}, {"metric": "potential"}],
                               "max_moved_share": 0.3}}
    assert collect_issues(load_scenario(VALID, overrides)) == []


def test_adjacency_from_polygons_when_no_edge_list(tmp_path):
    scenario = load_scenario(VALID, {"data": {"adjacency": None}})
    dataset = load_dataset(scenario)
    assert dataset.adjacency_rule == "rook" and len(dataset.adjacency) == 24


def test_ten_mistakes_all_reported():
    issues = collect_issues(load_scenario(TEN))
    assert sorted(where(issues), key=str) == sorted([
        ("accounts.csv", 4, "account_id"), ("accounts.csv", 5, "potential"),
        ("accounts.csv", 6, "lat"), ("accounts.csv", 7, "current_territory"),
        ("accounts.csv", 8, "locked_territory"), ("accounts.csv", 9, "parent_account_id"),
        ("reps.csv", 3, "fte"), ("reps.csv", 1, "E-mail"), ("territories.csv", 9, "parent_id"),
        ("scenario.toml", None, "alignment.balance[1].metric"),
    ], key=str)
    with pytest.raises(InputError) as caught:
        load_dataset(load_scenario(TEN))
    assert len(caught.value.issues) == 10


def test_nothing_is_written(tmp_path):
    folder = tmp_path / "valid"
    shutil.copytree(VALID.parent, folder)
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}
    load_dataset(load_scenario(folder / "scenario.toml"))
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*")} == before


def test_column_mapping_and_loose_headers(tmp_path):
    plain = load_dataset(make_scenario(tmp_path))
    header = BASE["accounts"][0]
    renamed = [[ACC_HEADER_RENAMES.get(h, h) for h in header]] + BASE["accounts"][1:]
    mapping = {canonical: user for canonical, user in ACC_HEADER_RENAMES.items()
               if user.lower().replace(" ", "_") != canonical}
    mapped = load_dataset(make_scenario(tmp_path, {"accounts": renamed},
                                        data={"columns": {"accounts": mapping}}))
    pd.testing.assert_frame_equal(mapped.accounts, plain.accounts)


def test_mapping_wins_over_a_same_named_column(tmp_path):
    accounts = with_column(BASE["accounts"], "Potential 2027", ["1", "2", "3", "4"])
    dataset = load_dataset(make_scenario(tmp_path, {"accounts": accounts}, data={
        "columns": {"accounts": {"potential": "Potential 2027"}}}))
    assert dataset.accounts["potential"].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert "Potential 2027" not in dataset.accounts.columns


def test_workload_from_calls_and_minutes(tmp_path):
    accounts = with_column(with_column(BASE["accounts"], "calls_per_year",
                                       ["12", "6", "", "24"]),
                           "minutes_per_call", ["30", "45", "60", "15"])
    accounts = [accounts[0]] + [r if i != 2 else r[:7] + [""] + r[8:]
                                for i, r in enumerate(accounts[1:], start=1)]
    dataset = load_dataset(make_scenario(tmp_path, {"accounts": accounts}))
    # row A2 has a blank workload: 6 calls * 45 min / 60 = 4.5 h; others keep their workload
    assert dataset.accounts["workload"].tolist() == [10.0, 4.5, 8.0, 9.0]
    only_calls = drop(accounts, "workload")
    dataset = load_dataset(make_scenario(tmp_path, {"accounts": only_calls}))
    assert dataset.accounts["workload"].tolist() == [6.0, 4.5, 0.0, 6.0]


def test_missing_optional_columns_default(tmp_path):
    accounts = [["account_id", "lat", "lon"], ["A1", "40", "-89"], ["A2", "41", "-88"]]
    dataset = load_dataset(make_scenario(tmp_path, {"accounts": accounts, "reps": None,
                                                    "territories": None},
                                         alignment={"territories": 2}))
    acc = dataset.accounts
    assert acc["name"].tolist() == ["A1", "A2"]
    for column in ("potential", "sales_ly", "workload"):
        assert acc[column].tolist() == [0.0, 0.0]
    assert acc["segment"].tolist() == [None, None]


@pytest.mark.parametrize("k,first,last", [(5, "T001", "T005"), (1200, "T0001", "T1200")])
def test_green_field_generates_territories(tmp_path, k, first, last):
    accounts = drop(drop(BASE["accounts"], "current_territory"), "locked_territory")
    dataset = load_dataset(make_scenario(tmp_path, {"accounts": accounts, "reps": None,
                                                    "territories": None},
                                         alignment={"territories": k}))
    leaves = dataset.leaf_territories
    assert (len(leaves), leaves[0], leaves[-1]) == (k, first, last)
    root = dataset.territories.iloc[0]
    assert (root["territory_id"], root["parent_id"], root["level"]) == ("ALL", None, "company")
    assert set(dataset.territories["parent_id"].iloc[1:]) == {"ALL"}
    assert dataset.reps.empty and list(dataset.reps.columns) == REP_COLUMNS
    assert dataset.rep_of(first) is None


def test_green_field_current_territories_must_be_generated_ids(tmp_path):
    issues = collect_issues(make_scenario(tmp_path, {"reps": None, "territories": None},
                                          alignment={"territories": 2}))
    assert where(issues) == [("accounts.csv", 2, "current_territory"),
                             ("accounts.csv", 3, "current_territory"),
                             ("accounts.csv", 4, "current_territory"),
                             ("accounts.csv", 4, "locked_territory"),
                             ("accounts.csv", 5, "current_territory")]
    assert "generated T001..T002" in issues[0].expected


def test_territories_without_reps_are_vacancies(tmp_path):
    dataset = load_dataset(make_scenario(tmp_path, {"reps": None}))
    assert dataset.leaf_territories == ["T1", "T2"]
    assert dataset.reps.empty and all(dataset.rep_of(t) is None for t in ("T1", "T2"))


def test_territories_derived_from_reps_and_current(tmp_path):
    dataset = load_dataset(make_scenario(tmp_path, {"territories": None}))
    assert dataset.leaf_territories == ["T1", "T2"]
    assert dataset.territories["parent_id"].tolist() == [None, "ALL", "ALL"]


def test_hierarchy_levels_and_names_default(tmp_path):
    territories = [["territory_id", "parent_id"], ["ALL", ""], ["D1", "ALL"], ["T1", "D1"],
                   ["T2", "D1"]]
    dataset = load_dataset(make_scenario(tmp_path, {"territories": territories}))
    assert dataset.territories["level"].tolist() == ["level_1", "level_2", "territory",
                                                     "territory"]
    assert dataset.territories["name"].tolist() == ["ALL", "D1", "T1", "T2"]


def test_unit_level_without_units_file_builds_units(tmp_path):
    accounts = with_column(drop(BASE["accounts"], "unit_id"), "unit_id",
                           ["U1", "U1", "U2", "U2"])
    dataset = load_dataset(make_scenario(tmp_path, {"accounts": accounts},
                                         alignment={"level": "unit"}))
    units = dataset.units.set_index("unit_id")
    assert units.loc["U1", "lat"] == pytest.approx((40.10 + 40.20) / 2)
    assert units.loc["U2", "lon"] == pytest.approx((-89.80 - 89.85) / 2)
    assert units["geometry"].isna().all() and dataset.adjacency is None


def test_tabular_units_locate_accounts(tmp_path):
    units = [["unit_id", "lat", "lon", "population"], ["02139", "42.36", "-71.10", "3000"],
             ["02140", "42.39", "-71.13", ""]]
    accounts = [["account_id", "unit_id"], ["A1", "02139"], ["A2", "02140"]]
    dataset = load_dataset(make_scenario(tmp_path, {"accounts": accounts, "units": units,
                                                    "reps": None}, alignment={"level": "unit"}))
    assert dataset.accounts[["lat", "lon"]].to_numpy().tolist() == [[42.36, -71.10],
                                                                    [42.39, -71.13]]
    assert not isinstance(dataset.units, gpd.GeoDataFrame)
    assert dataset.units["population"].tolist()[0] == 3000.0


def test_unit_level_account_outside_every_polygon(tmp_path):
    path = tmp_path / "units.geojson"
    gpd.GeoDataFrame({"unit_id": ["U1"]}, geometry=[box(-90, 40, -89.8, 40.2)],
                     crs="EPSG:4326").to_file(path)
    issues = collect_issues(make_scenario(tmp_path, {"units": path},
                                          alignment={"level": "unit"}))
    # A1 (40.10, -89.90) and A3 (40.15, -89.80) are inside; A2 and A4 are not
    assert where(issues) == [("accounts.csv", 3, "unit_id"), ("accounts.csv", 5, "unit_id")]


def test_units_geometry_must_be_polygonal(tmp_path):
    path = tmp_path / "units.geojson"
    path.write_text('{"type": "FeatureCollection", "features": ['
                    '{"type": "Feature", "properties": {"unit_id": "a"}, "geometry": '
                    '{"type": "LineString", "coordinates": [[0, 0], [1, 1]]}},'
                    '{"type": "Feature", "properties": {"unit_id": "b"}, "geometry": null},'
                    '{"type": "Feature", "properties": {"unit_id": "c"}, "geometry": '
                    '{"type": "Point", "coordinates": [-89.9, 40.1]}}]}', encoding="utf-8")
    scenario = make_scenario(tmp_path, {"units": path})
    assert where(collect_issues(scenario)) == [("units.geojson", 2, "geometry"),
                                               ("units.geojson", 3, "geometry")]
