"""GeoPackage/GeoJSON layers and the Excel workbook re-open with their own readers."""

from __future__ import annotations

import json

import geopandas as gpd
import openpyxl
import pyogrio
import shapely
from test_export_helpers import ACCOUNTS, UNIT_TERRITORY, make_result

from territory_opt.export import export_result


def test_gpkg_reopens_with_three_valid_layers(tmp_path):
    export_result(make_result(tmp_path), "gpkg", tmp_path / "out")
    path = tmp_path / "out" / "gpkg" / "fy27-plan.gpkg"
    layers = dict(pyogrio.list_layers(path))
    assert layers == {"territories": "MultiPolygon", "units": "MultiPolygon", "accounts": "Point"}
    frames = {name: gpd.read_file(path, layer=name) for name in layers}
    for frame in frames.values():
        assert frame.crs.to_epsg() == 4326
        assert frame.geometry.is_valid.all()
    territories = frames["territories"].set_index("territory_id")
    units = frames["units"]
    assert dict(zip(units["unit_id"], units["territory_id"])) == UNIT_TERRITORY  # ZIPs stay text
    for territory, shape in territories.geometry.items():
        members = units[units["territory_id"] == territory]
        assert shapely.equals(shape, shapely.union_all(members.geometry.to_numpy()))
    accounts = frames["accounts"]
    assert dict(zip(accounts["account_id"], accounts["territory_id"])) == {
        a: t for a, (_, t, _) in ACCOUNTS.items()
    }
    assert territories.at["T1", "quota"] == 420_000 and territories.at["T2", "rep_id"] == "R2"


def test_without_unit_polygons_territories_are_account_hulls(tmp_path):
    result = make_result(tmp_path, polygons=False)
    export_result(result, "geojson", tmp_path / "out")
    folder = tmp_path / "out" / "geojson"
    assert {p.name for p in folder.glob("*.geojson")} == {
        "territories.geojson",
        "units.geojson",
        "accounts.geojson",
    }
    territories = gpd.read_file(folder / "territories.geojson").set_index("territory_id")
    accounts = gpd.read_file(folder / "accounts.geojson")
    units = gpd.read_file(folder / "units.geojson")
    assert set(units.geom_type) == {"Point"}
    assert territories.geometry.is_valid.all() and set(territories.geom_type) == {"MultiPolygon"}
    for territory, shape in territories.geometry.items():
        points = accounts[accounts["territory_id"] == territory].geometry
        assert shape.area > 0 and points.within(shape.buffer(1e-9)).all()
    assert "convex hulls" in (folder / "README.md").read_text()
    document = json.loads((folder / "territories.geojson").read_text())
    assert "crs" not in document  # RFC 7946: WGS84 lon/lat implied


def test_xlsx_sheets_formatting_and_injection_guard(tmp_path):
    result = make_result(tmp_path)
    result.assignments.loc[result.assignments["account_id"] == "A2", "unit_id"] = (
        "=1+1"  # an odd ID
    )
    export_result(result, "xlsx", tmp_path / "out")
    book = openpyxl.load_workbook(tmp_path / "out" / "xlsx" / "fy27-plan.xlsx")
    assert book.sheetnames == [
        "Territories",
        "Moved accounts",
        "Quotas",
        "Quota periods",
        "Summary",
    ]
    for sheet in book:
        assert sheet.freeze_panes == "A2"
        assert all(cell.font.bold for cell in sheet[1])
        assert sheet.column_dimensions["A"].width > 5
    territories = book["Territories"]
    header = [c.value for c in territories[1]]
    rows = {r[0]: dict(zip(header, r)) for r in territories.iter_rows(min_row=2, values_only=True)}
    assert rows["T2"]["name"] == "'=cmd|' /C calc'!A0" and rows["T2"]["rep_name"] == "'-Bob"
    assert rows["T1"]["potential_deviation"] == 0.318
    moved_sheet = book["Moved accounts"]
    header = [c.value for c in moved_sheet[1]]
    moved = {r[0]: dict(zip(header, r)) for r in moved_sheet.iter_rows(min_row=2, values_only=True)}
    assert set(moved) == {a for a, (_, t, p) in ACCOUNTS.items() if p and p != t}
    assert moved["A2"]["reason"] == "moved T2→T1: balance"
    assert moved["A2"]["unit_id"] == "=1+1"  # IDs are not altered ...
    unit_cell = next(c for c in moved_sheet["F"] if c.value == "=1+1")
    assert unit_cell.data_type == "s"  # ... but stored as text, never as a formula
    summary = dict(book["Summary"].iter_rows(min_row=2, values_only=True))
    assert summary["status"] == "OPTIMAL" and summary["balance.potential.max_abs_deviation"] == 0.34
    quotas = book["Quotas"]
    assert [c.value for c in quotas[1]] == ["node_id", "level", "parent_id", "quota"]


def test_xlsx_without_quotas_says_so(tmp_path):
    export_result(make_result(tmp_path, quotas=False, periods=False), "xlsx", tmp_path / "out")
    book = openpyxl.load_workbook(tmp_path / "out" / "xlsx" / "fy27-plan.xlsx")
    assert book.sheetnames == ["Territories", "Moved accounts", "Quotas", "Summary"]
    assert book["Quotas"]["A2"].value == "No quotas in this result."
