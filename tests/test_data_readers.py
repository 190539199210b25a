"""Reading tables and unit files: encodings, delimiters, formats, CRS."""

from __future__ import annotations

import codecs
import warnings

import geopandas as gpd
import pandas as pd
import pytest
from fixtures.data.builder import BASE, csv_text, make_scenario
from fixtures.data.builder import without_column as drop_column
from shapely.geometry import box

from territory_opt.data import (
    EncodingFallbackWarning,
    collect_issues,
    load_dataset,
    read_table,
    read_units,
)
from territory_opt.errors import InputError

TEXT = "account_id,name,potential\n02139,Café Zoë,1.5\n 00042 ,  Ørsted ,\n"
EXPECTED = pd.DataFrame({"account_id": ["02139", "00042"], "name": ["Café Zoë", "Ørsted"],
                         "potential": ["1.5", None]}, index=[2, 3], dtype=object)


@pytest.mark.parametrize("encoded", [
    TEXT.encode("utf-8"), codecs.BOM_UTF8 + TEXT.encode("utf-8"),
    TEXT.encode("utf-16"), TEXT.encode("utf-16-le"),
], ids=["utf8", "utf8-bom", "utf16-bom", "utf16-no-bom"])
def test_unicode_encodings_read_alike(tmp_path, encoded):
    path = tmp_path / "a.csv"
    path.write_bytes(encoded)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = read_table(path)
    pd.testing.assert_frame_equal(table, EXPECTED, check_index_type=False)


def test_windows_1252_fallback_warns(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(TEXT.encode("cp1252"))
    with pytest.warns(EncodingFallbackWarning, match="line 2"):
        table = read_table(path)
    assert table.at[2, "name"] == "Café Zoë"


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_other_delimiters(tmp_path, sep):
    path = tmp_path / "a.csv"
    path.write_text(TEXT.replace(",", sep), encoding="utf-8")
    pd.testing.assert_frame_equal(read_table(path), EXPECTED, check_index_type=False)


def test_blank_rows_keep_spreadsheet_numbering(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("id,v\na,1\n\n,\nb,2\n", encoding="utf-8")
    table = read_table(path)
    assert table.index.tolist() == [2, 5]
    assert table["id"].tolist() == ["a", "b"]


def test_blank_rows_above_the_header(tmp_path):
    import openpyxl
    book = openpyxl.Workbook()
    sheet = book.active
    sheet["A3"], sheet["B3"], sheet["A4"], sheet["B4"], sheet["A6"] = "id", "v", "x", 1, "y"
    book.save(tmp_path / "a.xlsx")
    (tmp_path / "a.csv").write_text("\n,\nid,v\nx,1\n\ny,\n", encoding="utf-8")
    for name in ("a.xlsx", "a.csv"):
        table = read_table(tmp_path / name)
        assert table.attrs["header_row"] == 3
        assert table.to_dict("index") == {4: {"id": "x", "v": "1"}, 6: {"id": "y", "v": None}}


def test_header_issues_name_the_header_row(tmp_path):
    path = tmp_path / "reps.csv"
    path.write_text("\n\n" + csv_text(drop_column(BASE["reps"], "territory_id")),
                    encoding="utf-8")
    issues = collect_issues(make_scenario(tmp_path, {"reps": path}))
    assert [(i.row, i.column) for i in issues] == [(3, "territory_id")]


def test_quoted_cells_with_commas_and_newlines(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text('id,name\n1,"Smith, J."\n2,"two\nlines"\n', encoding="utf-8")
    assert read_table(path)["name"].tolist() == ["Smith, J.", "two\nlines"]


def test_infer_numbers_keeps_codes_and_ids_as_text(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("zip,store_id,StoreID,paid,sales,label\n02139,7,7,1,1.5,x\n"
                    "10001,8,8,0,,y\n", encoding="utf-8")
    table = read_table(path, infer=True)
    assert table["zip"].tolist() == ["02139", "10001"]
    assert table["store_id"].tolist() == ["7", "8"] and table["StoreID"].tolist() == ["7", "8"]
    assert table["paid"].tolist() == [1.0, 0.0]
    assert table["sales"].dtype == float and table["sales"].isna().tolist() == [False, True]
    assert table["label"].tolist() == ["x", "y"]


def test_unknown_suffix(tmp_path):
    path = tmp_path / "a.dbf"
    path.write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="a table file"):
        read_table(path)


def _accounts_frame() -> pd.DataFrame:
    """BASE accounts typed as a user would save them from pandas (numbers as numbers)."""
    header, *rows = BASE["accounts"]
    frame = pd.DataFrame(rows, columns=header).replace("", None)
    for column in ("lat", "lon", "potential", "sales_ly", "workload"):
        frame[column] = frame[column].astype(float)
    return frame


@pytest.mark.parametrize("suffix", [".xlsx", ".parquet"])
def test_xlsx_and_parquet_load_like_csv(tmp_path, suffix):
    from_csv = load_dataset(make_scenario(tmp_path))
    path = tmp_path / f"accounts{suffix}"
    frame = _accounts_frame()
    frame.to_excel(path, index=False) if suffix == ".xlsx" else frame.to_parquet(path)
    other = load_dataset(make_scenario(tmp_path, {"accounts": path}))
    pd.testing.assert_frame_equal(other.accounts, from_csv.accounts)


def test_xlsx_sheet_selection_and_missing_sheet(tmp_path):
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"x": [1]}).to_excel(writer, sheet_name="Notes", index=False)
        _accounts_frame().to_excel(writer, sheet_name="Accounts", index=False)
    dataset = load_dataset(make_scenario(tmp_path, {"accounts": path},
                                         data={"sheet": {"accounts": "Accounts"}}))
    assert dataset.accounts["account_id"].tolist() == ["A1", "A2", "A3", "A4"]
    with pytest.raises(InputError) as caught:
        read_table(path, sheet="Accts")
    assert caught.value.issues[0].value == "Accts"
    assert "'Notes', 'Accounts'" in caught.value.issues[0].expected


def test_xlsx_numeric_ids_lose_float_suffix(tmp_path):
    path = tmp_path / "a.xlsx"
    pd.DataFrame({"unit_id": [2139.0, 10001.0], "v": [0.25, 3.0]}).to_excel(path, index=False)
    table = read_table(path)
    assert table["unit_id"].tolist() == ["2139", "10001"]
    assert table["v"].tolist() == ["0.25", "3"]


def test_parquet_nullable_types(tmp_path):
    path = tmp_path / "a.parquet"
    pd.DataFrame({"unit_id": pd.array(["02139", None], dtype="string"),
                  "n": pd.array([3, None], dtype="Int64"),
                  "when": pd.to_datetime(["2027-01-15", None])}).to_parquet(path)
    table = read_table(path)
    assert table.to_numpy().tolist() == [["02139", "3", "2027-01-15"]]
    assert table.index.tolist() == [2]  # the all-blank record 3 is dropped


def test_corrupt_xlsx(tmp_path):
    path = tmp_path / "a.xlsx"
    path.write_bytes(b"not a zip file")
    with pytest.raises(InputError, match="Excel"):
        read_table(path)


def test_units_reprojected_to_wgs84(tmp_path):
    cells = gpd.GeoDataFrame({"unit_id": ["01", "02"], "households": [10, 20]},
                             geometry=[box(-90, 40, -89.9, 40.1), box(-89.9, 40, -89.8, 40.1)],
                             crs="EPSG:4326")
    path = tmp_path / "units.gpkg"
    cells.to_crs("EPSG:3857").to_file(path)
    units = read_units(path)
    assert units.crs.to_epsg() == 4326
    assert units["unit_id"].tolist() == ["01", "02"]
    assert units.index.tolist() == [2, 3]
    for got, want in zip(units.geometry, cells.geometry, strict=True):
        assert got.symmetric_difference(want).area < 1e-12


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
@pytest.mark.parametrize("name", ["units.shp", "units.geojson"])
def test_units_in_metres_without_crs_are_rejected(tmp_path, name):
    """A shapefile without .prj, or a GeoJSON (always WGS84) holding metres."""
    path = tmp_path / name
    gpd.GeoDataFrame({"unit_id": ["a"]}, geometry=[box(500000, 4400000, 510000, 4410000)]
                     ).to_file(path)
    with pytest.raises(InputError, match="coordinate reference system"):
        read_units(path)


def test_unreadable_geo_file(tmp_path):
    path = tmp_path / "units.geojson"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="GeoJSON"):
        read_units(path)


def test_tabular_units_have_no_geometry(tmp_path):
    path = tmp_path / "units.csv"
    path.write_text(csv_text([["unit_id", "lat", "lon"], ["02139", "42.36", "-71.1"]]),
                    encoding="utf-8")
    units = read_units(path)
    assert units["unit_id"].tolist() == ["02139"] and units.geometry.isna().all()
