"""One test per validation rule: each mistake gives exactly the expected file/row/column."""

from __future__ import annotations

import pytest
from fixtures.data.builder import (
    BASE,
    csv_text,
    make_scenario,
    where,
    with_cell,
    with_column,
    without_column,
)

from territory_opt.data import collect_issues, load_dataset
from territory_opt.errors import InputError

ACC, REPS, TERR = BASE["accounts"], BASE["reps"], BASE["territories"]


def issues_of(tmp_path, files=None, **sections):
    return collect_issues(make_scenario(tmp_path, files, **sections))


def test_base_inputs_are_valid(tmp_path):
    assert issues_of(tmp_path) == []
    dataset = load_dataset(make_scenario(tmp_path))
    assert list(dataset.accounts["account_id"]) == ["A1", "A2", "A3", "A4"]


def test_missing_required_column(tmp_path):
    issues = issues_of(tmp_path, {"accounts": without_column(ACC, "account_id")})
    assert where(issues) == [("accounts.csv", 1, "account_id")]


def test_missing_required_column_of_reps(tmp_path):
    issues = issues_of(tmp_path, {"reps": without_column(REPS, "territory_id")})
    assert where(issues) == [("reps.csv", 1, "territory_id")]


def test_mapped_header_not_in_file(tmp_path):
    issues = issues_of(tmp_path, data={"columns": {"accounts": {"potential": "Pot 2027"}}})
    assert where(issues) == [("accounts.csv", 1, "Pot 2027")]
    assert "data.columns.accounts.potential" in issues[0].expected


def test_sheet_key_must_name_a_data_file(tmp_path):
    issues = issues_of(tmp_path, data={"sheet": {"acounts": "Sheet1"}})
    assert where(issues) == [("scenario.toml", None, "data.sheet.acounts")]


def test_mapping_key_that_is_not_a_column(tmp_path):
    issues = issues_of(tmp_path, data={"columns": {"accounts": {"potentail": "potential"}}})
    assert where(issues) == [("scenario.toml", None, "data.columns.accounts")]
    assert issues[0].value == "potentail"


@pytest.mark.parametrize("key,row,column", [
    ("accounts", 4, "account_id"), ("reps", 3, "rep_id"), ("territories", 5, "territory_id"),
])
def test_duplicate_ids(tmp_path, key, row, column):
    rows = BASE[key]
    duplicated = with_cell(rows, row, column, rows[row - 2][rows[0].index(column)])
    issues = issues_of(tmp_path, {key: duplicated})
    assert (f"{key}.csv", row, column) in where(issues)
    duplicate = next(i for i in issues if i.file.endswith(f"{key}.csv") and i.row == row)
    assert duplicate.expected == f"a unique {column} (also in row {row - 1})"


def test_duplicate_unit_ids(tmp_path):
    units = [["unit_id", "lat", "lon"], ["U1", "40", "-89"], ["U1", "41", "-89"]]
    assert where(issues_of(tmp_path, {"units": units})) == [("units.csv", 3, "unit_id")]


def test_tabular_unit_without_location(tmp_path):
    units = [["unit_id", "lat", "lon"], ["U1", "40", "-89"], ["U2", "", ""]]
    accounts = with_cell(with_cell(with_cell(ACC, 2, "lat", ""), 2, "lon", ""), 2, "unit_id",
                         "U2")
    issues = issues_of(tmp_path, {"units": units, "accounts": accounts})
    assert where(issues) == [("units.csv", 3, "lat")]


def test_empty_id_cell(tmp_path):
    issues = issues_of(tmp_path, {"accounts": with_cell(ACC, 3, "account_id", "  ")})
    assert where(issues) == [("accounts.csv", 3, "account_id")]


@pytest.mark.parametrize("key,column,value", [
    ("accounts", "potential", "abc"), ("accounts", "sales_ly", "1,5"),
    ("accounts", "workload", "n/a"), ("reps", "capacity", "lots"), ("reps", "fte", "one"),
])
def test_non_numeric_metric(tmp_path, key, column, value):
    issues = issues_of(tmp_path, {key: with_cell(BASE[key], 2, column, value)})
    assert where(issues) == [(f"{key}.csv", 2, column)]
    assert issues[0].value == value and "a number" in issues[0].expected


@pytest.mark.parametrize("key,column,value", [
    ("accounts", "potential", "-1"), ("accounts", "sales_ly", "-0.5"),
    ("accounts", "workload", "-3"), ("reps", "capacity", "-10"),
])
def test_negative_metric(tmp_path, key, column, value):
    issues = issues_of(tmp_path, {key: with_cell(BASE[key], 3, column, value)})
    assert where(issues) == [(f"{key}.csv", 3, column)]
    assert issues[0].expected == "a non-negative number"


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-Infinity", "1e999"])
def test_nan_and_inf_metric(tmp_path, value):
    issues = issues_of(tmp_path, {"accounts": with_cell(ACC, 4, "potential", value)})
    assert where(issues) == [("accounts.csv", 4, "potential")]
    assert issues[0].expected == "a finite number"


@pytest.mark.parametrize("value,valid", [("0", False), ("1.5", False), ("-0.5", False),
                                         ("1", True), ("0.25", True)])
def test_fte_range(tmp_path, value, valid):
    issues = issues_of(tmp_path, {"reps": with_cell(REPS, 2, "fte", value)})
    assert where(issues) == ([] if valid else [("reps.csv", 2, "fte")])


def test_calls_and_minutes_must_be_numbers(tmp_path):
    accounts = with_column(with_column(without_column(ACC, "workload"), "calls_per_year",
                                       ["10", "x", "12", "4"]),
                           "minutes_per_call", ["30", "30", "-5", "45"])
    issues = issues_of(tmp_path, {"accounts": accounts})
    assert where(issues) == [("accounts.csv", 3, "calls_per_year"),
                             ("accounts.csv", 4, "minutes_per_call")]


def test_calls_without_minutes(tmp_path):
    accounts = with_column(without_column(ACC, "workload"), "calls_per_year", ["1"] * 4)
    assert where(issues_of(tmp_path, {"accounts": accounts})) == [
        ("accounts.csv", 1, "minutes_per_call")]


@pytest.mark.parametrize("lat,lon,column", [("95", "-120", "lat"), ("-91", "100", "lat"),
                                            ("40", "181", "lon"), ("40", "-200.5", "lon")])
def test_coordinates_out_of_range(tmp_path, lat, lon, column):
    accounts = with_cell(with_cell(ACC, 5, "lat", lat), 5, "lon", lon)
    issues = issues_of(tmp_path, {"accounts": accounts})
    assert where(issues) == [("accounts.csv", 5, column)]
    assert "swapped" not in issues[0].expected


def test_coordinates_swapped(tmp_path):
    accounts = with_cell(with_cell(ACC, 3, "lat", "-89.7"), 3, "lon", "40.2")
    assert issues_of(tmp_path, {"accounts": accounts}) == []  # both valid: cannot tell
    accounts = with_cell(with_cell(ACC, 3, "lat", "-120.4"), 3, "lon", "37.8")
    issues = issues_of(tmp_path, {"accounts": accounts})
    assert where(issues) == [("accounts.csv", 3, "lat")]
    assert "lat/lon look swapped" in issues[0].expected


def test_rep_home_coordinates_checked(tmp_path):
    issues = issues_of(tmp_path, {"reps": with_cell(REPS, 3, "home_lon", "abc")})
    assert where(issues) == [("reps.csv", 3, "home_lon")]


def test_lat_without_lon_value(tmp_path):
    issues = issues_of(tmp_path, {"accounts": with_cell(ACC, 2, "lon", "")})
    assert where(issues) == [("accounts.csv", 2, "lon")]


def test_lat_column_without_lon_column(tmp_path):
    accounts = with_column(without_column(without_column(ACC, "lat"), "lon"), "lat",
                           ["40"] * 4)
    issues = issues_of(tmp_path, {"accounts": accounts})
    assert ("accounts.csv", 1, "lon") in where(issues)


def test_account_without_location(tmp_path):
    accounts = with_cell(with_cell(ACC, 4, "lat", ""), 4, "lon", "")
    assert where(issues_of(tmp_path, {"accounts": accounts})) == [("accounts.csv", 4, "lat")]


def test_account_with_unit_but_no_units_file(tmp_path):
    accounts = with_cell(with_cell(with_cell(ACC, 4, "lat", ""), 4, "lon", ""), 4, "unit_id",
                         "U9")
    issues = issues_of(tmp_path, {"accounts": accounts})
    assert where(issues) == [("accounts.csv", 4, "unit_id")]


def test_unknown_unit_in_accounts(tmp_path):
    units = [["unit_id", "lat", "lon"], ["U1", "40.1", "-89.9"]]
    accounts = with_cell(ACC, 3, "unit_id", "U7")
    issues = issues_of(tmp_path, {"accounts": accounts, "units": units})
    assert where(issues) == [("accounts.csv", 3, "unit_id")]


@pytest.mark.parametrize("key,row,column", [
    ("accounts", 2, "current_territory"), ("accounts", 3, "locked_territory"),
    ("reps", 3, "territory_id"),
])
def test_unknown_territory(tmp_path, key, row, column):
    issues = issues_of(tmp_path, {key: with_cell(BASE[key], row, column, "T9")})
    assert where(issues) == [(f"{key}.csv", row, column)]
    assert issues[0].value == "T9"


@pytest.mark.parametrize("key,row,column", [
    ("accounts", 2, "current_territory"), ("accounts", 4, "locked_territory"),
    ("reps", 2, "territory_id"),
])
def test_reference_to_non_leaf_territory(tmp_path, key, row, column):
    issues = issues_of(tmp_path, {key: with_cell(BASE[key], row, column, "D1")})
    assert where(issues) == [(f"{key}.csv", row, column)]
    assert "leaf" in issues[0].expected


def test_unknown_parent_account(tmp_path):
    issues = issues_of(tmp_path, {"accounts": with_cell(ACC, 5, "parent_account_id", "A99")})
    assert where(issues) == [("accounts.csv", 5, "parent_account_id")]


def test_account_family_cycle(tmp_path):
    accounts = with_cell(with_cell(ACC, 4, "parent_account_id", "A4"), 5, "parent_account_id",
                         "A3")
    issues = issues_of(tmp_path, {"accounts": accounts})
    assert where(issues) == [("accounts.csv", 4, "parent_account_id")]
    assert issues[0].value == "A3 -> A4 -> A3"


def test_account_own_parent(tmp_path):
    issues = issues_of(tmp_path, {"accounts": with_cell(ACC, 5, "parent_account_id", "A4")})
    assert where(issues) == [("accounts.csv", 5, "parent_account_id")]
    assert issues[0].value == "A4 -> A4"


def test_unknown_hierarchy_parent(tmp_path):
    issues = issues_of(tmp_path, {"territories": with_cell(TERR, 3, "parent_id", "AREA")})
    assert where(issues) == [("territories.csv", 3, "parent_id")]


def test_hierarchy_cycle(tmp_path):
    territories = TERR + [["X1", "X3", "district", ""], ["X2", "X1", "district", ""],
                          ["X3", "X2", "district", ""]]
    issues = issues_of(tmp_path, {"territories": territories})
    assert where(issues) == [("territories.csv", 6, "parent_id")]
    assert issues[0].value == "X1 -> X3 -> X2 -> X1"


def test_family_with_conflicting_locks(tmp_path):
    accounts = with_cell(with_cell(ACC, 2, "locked_territory", "T1"), 3, "locked_territory",
                         "T2")
    issues = issues_of(tmp_path, {"accounts": accounts})
    assert where(issues) == [("accounts.csv", 3, "locked_territory")]
    assert "A1: T1, A2: T2" in issues[0].expected


@pytest.mark.parametrize("key", ["accounts", "reps", "territories"])
def test_empty_file(tmp_path, key):
    issues = issues_of(tmp_path, {key: BASE[key][:1]})
    assert where(issues) == [(f"{key}.csv", None, None)]
    assert "at least one data row" in issues[0].expected


def test_zero_byte_file(tmp_path):
    issues = issues_of(tmp_path, {"reps": b""})
    assert where(issues) == [("reps.csv", None, None)]


def test_missing_file(tmp_path):
    issues = issues_of(tmp_path, {"reps": tmp_path / "nowhere" / "reps.csv"})
    assert where(issues) == [("reps.csv", None, None)]
    assert "existing file" in issues[0].expected


@pytest.mark.parametrize("raw,row", [
    (csv_text(REPS).encode() + b"R3,T1,\x81\x8d,,,,,\n", 4),  # bytes undefined in cp1252 too
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 3),               # binary, NUL on line 3
])
def test_undecodable_file(tmp_path, raw, row):
    issues = issues_of(tmp_path, {"reps": raw})
    assert where(issues) == [("reps.csv", row, None)]
    assert "UTF-8" in issues[0].expected


def test_ragged_row_names_its_line(tmp_path):
    text = csv_text(REPS) + "R3,T1,Cy,40,-89,,1,,surplus\n"
    issues = issues_of(tmp_path, {"reps": text})
    assert where(issues) == [("reps.csv", 4, None)]
    assert issues[0].value == "9 fields"


def test_duplicate_header(tmp_path):
    rows = [REPS[0] + ["name"]] + [r + ["x"] for r in REPS[1:]]
    assert where(issues_of(tmp_path, {"reps": rows})) == [("reps.csv", 1, "name")]


def test_bad_start_date(tmp_path):
    issues = issues_of(tmp_path, {"reps": with_cell(REPS, 2, "start_date", "next spring")})
    assert where(issues) == [("reps.csv", 2, "start_date")]


def test_balance_metric_must_be_a_numeric_column(tmp_path):
    alignment = {"balance": [{"metric": "potential"}, {"metric": "accounts"},
                             {"metric": "revenue"}, {"metric": "segment"}]}
    issues = issues_of(tmp_path, alignment=alignment)
    assert where(issues) == [("scenario.toml", None, "alignment.balance[2].metric"),
                             ("scenario.toml", None, "alignment.balance[3].metric")]


def test_extra_numeric_column_is_a_metric(tmp_path):
    accounts = with_column(ACC, "Revenue", ["1", "2", "", "4.5"])
    scenario = make_scenario(tmp_path, {"accounts": accounts},
                             alignment={"balance": [{"metric": "revenue"}]},
                             data={"columns": {"accounts": {"revenue": "Revenue"}}})
    assert collect_issues(scenario) == []
    assert list(load_dataset(scenario).accounts["revenue"]) == [1.0, 2.0, 0.0, 4.5]


def test_balance_metric_cells_are_checked(tmp_path):
    accounts = with_column(ACC, "revenue", ["1", "2", "lots", "4"])
    issues = issues_of(tmp_path, {"accounts": accounts},
                       alignment={"balance": [{"metric": "revenue"}]})
    assert where(issues) == [("accounts.csv", 4, "revenue")]


def test_territory_count_must_match_leaves(tmp_path):
    assert issues_of(tmp_path, alignment={"territories": 2}) == []
    issues = issues_of(tmp_path, alignment={"territories": 3})
    assert where(issues) == [("scenario.toml", None, "alignment.territories")]


def test_unit_level_needs_units_or_unit_ids(tmp_path):
    issues = issues_of(tmp_path, {"accounts": without_column(ACC, "unit_id")},
                       alignment={"level": "unit"})
    assert where(issues) == [("scenario.toml", None, "alignment.level")]
    accounts = [ACC[0]] + [with_cell(ACC, r, "unit_id", f"U{r}")[r - 1] for r in (2, 3, 4)] \
        + [ACC[4]]
    issues = issues_of(tmp_path, {"accounts": accounts}, alignment={"level": "unit"})
    assert where(issues) == [("accounts.csv", 5, "unit_id")]


@pytest.mark.parametrize("setting", [{"contiguous": True}, {"compactness": "cut_edges"}])
def test_contiguity_needs_polygons_or_adjacency(tmp_path, setting):
    issues = issues_of(tmp_path, alignment=setting)
    assert where(issues) == [("scenario.toml", None, f"alignment.{next(iter(setting))}")]
    units = [["unit_id", "lat", "lon"], ["U1", "40.1", "-89.9"], ["U2", "40.2", "-89.8"]]
    adjacency = [["unit_id", "neighbor_id"], ["U1", "U2"]]
    assert issues_of(tmp_path, {"units": units, "adjacency": adjacency}, alignment=setting) == []


def test_eligibility_column_in_accounts_and_reps(tmp_path):
    accounts = with_column(ACC, "language", ["en", "fr", "en", "en"])
    issues = issues_of(tmp_path, {"accounts": accounts}, alignment={"eligibility": "language"})
    assert where(issues) == [("reps.csv", 1, "language")]
    reps = with_column(REPS, "language", ["en", "fr"])
    issues = issues_of(tmp_path, {"reps": reps}, alignment={"eligibility": "language"})
    assert where(issues) == [("accounts.csv", 1, "language")]


def test_eligibility_codes_stay_text(tmp_path):
    accounts = with_column(ACC, "tier", ["1", "2", "1", "2"])
    reps = with_column(REPS, "tier", ["1", "2"])
    dataset = load_dataset(make_scenario(tmp_path, {"accounts": accounts, "reps": reps},
                                         alignment={"eligibility": "tier"}))
    assert dataset.accounts["tier"].tolist() == ["1", "2", "1", "2"]
    assert dataset.reps["tier"].tolist() == ["1", "2"]


def test_moved_share_cap_needs_current_alignment(tmp_path):
    accounts = without_column(ACC, "current_territory")
    issues = issues_of(tmp_path, {"accounts": accounts}, alignment={"max_moved_share": 0.1})
    assert where(issues) == [("accounts.csv", 1, "current_territory")]


def test_current_mode_needs_every_current_territory(tmp_path):
    accounts = with_cell(ACC, 3, "current_territory", "")
    issues = issues_of(tmp_path, {"accounts": accounts}, alignment={"mode": "current"})
    assert where(issues) == [("accounts.csv", 3, "current_territory")]


def test_adjacency_names_unknown_units(tmp_path):
    units = [["unit_id", "lat", "lon"], ["U1", "40.1", "-89.9"], ["U2", "40.2", "-89.8"]]
    adjacency = [["unit_id", "neighbor_id"], ["U1", "U2"], ["U2", "U3"], ["", "U1"]]
    issues = issues_of(tmp_path, {"units": units, "adjacency": adjacency})
    assert sorted(where(issues)) == [("adjacency.csv", 3, "neighbor_id"),
                                     ("adjacency.csv", 4, "unit_id")]


def test_travel_file_checks(tmp_path):
    travel = [["account_id", "territory_id", "minutes"], ["A1", "T1", "20"],
              ["A1", "T9", "25"], ["A7", "T2", "30"], ["A2", "T2", "-4"], ["A1", "T1", "21"]]
    issues = issues_of(tmp_path, {"travel": travel})
    assert where(issues) == [("travel.csv", 3, "territory_id"), ("travel.csv", 4, "account_id"),
                             ("travel.csv", 5, "minutes"), ("travel.csv", 6, "territory_id")]


def test_issues_are_ordered_by_file_then_row(tmp_path):
    reps = with_cell(REPS, 3, "fte", "2")
    accounts = with_cell(with_cell(ACC, 5, "potential", "x"), 2, "current_territory", "T7")
    issues = issues_of(tmp_path, {"accounts": accounts, "reps": reps},
                       alignment={"balance": [{"metric": "revenue"}]})
    assert where(issues) == [("accounts.csv", 2, "current_territory"),
                             ("accounts.csv", 5, "potential"), ("reps.csv", 3, "fte"),
                             ("scenario.toml", None, "alignment.balance[0].metric")]


def test_long_values_are_shortened(tmp_path):
    issues = issues_of(tmp_path, {"accounts": with_cell(ACC, 2, "potential", "9" * 50 + "x" * 50)})
    assert where(issues) == [("accounts.csv", 2, "potential")]
    assert issues[0].value == "9" * 50 + "x" * 27 + "..."


def test_load_dataset_raises_every_issue(tmp_path):
    accounts = with_cell(with_cell(ACC, 2, "potential", "x"), 5, "lat", "99")
    with pytest.raises(InputError) as caught:
        load_dataset(make_scenario(tmp_path, {"accounts": accounts}))
    assert where(caught.value.issues) == [("accounts.csv", 2, "potential"),
                                          ("accounts.csv", 5, "lat")]
    assert caught.value.exit_code == 2
