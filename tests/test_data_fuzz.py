"""Malformed inputs give InputError (never another exception) or a Dataset keeping its promises."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from fixtures.data.builder import BASE, csv_text, make_scenario
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from territory_opt.data import load_dataset, read_table
from territory_opt.errors import InputError

JUNK = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", "nan", "inf", "-inf", "1e999", "1,5", "-0", "0x10", "1_000",
                     "٣", "1e-400", "+.5", ".", "-", "NULL", "#N/A", "\"", "a\nb", "T9", "D1",
                     "A1", "A2", "02139"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**20, 10**20).map(str),
)
FUZZED = {"accounts": ["account_id", "lat", "lon", "potential", "sales_ly", "workload",
                       "parent_account_id", "current_territory", "locked_territory"],
          "reps": ["rep_id", "territory_id", "home_lat", "capacity", "fte", "start_date"],
          "territories": ["territory_id", "parent_id"]}


def _fuzzed_rows(draw, key: str) -> list[list[str]]:
    header, *rows = BASE[key]
    rows = [list(r) for r in rows]
    for _ in range(draw(st.integers(1, 8))):
        row = draw(st.integers(0, len(rows) - 1))
        column = header.index(draw(st.sampled_from(FUZZED[key])))
        rows[row][column] = draw(JUNK)
    return [header, *rows]


@st.composite
def fuzzed_inputs(draw):
    return {key: _fuzzed_rows(draw, key) for key in FUZZED}


def _check_promises(dataset) -> None:
    """What downstream code relies on, checked independently of the loader."""
    accounts = dataset.accounts
    ids = list(accounts["account_id"])
    assert all(isinstance(i, str) and i for i in ids) and len(set(ids)) == len(ids)
    assert accounts["lat"].between(-90, 90).all() and accounts["lon"].between(-180, 180).all()
    for column in ("potential", "sales_ly", "workload"):
        values = accounts[column].to_numpy()
        assert np.isfinite(values).all() and (values >= 0).all()
    territories = dataset.territories
    assert territories["territory_id"].is_unique
    parent = dict(zip(territories["territory_id"], territories["parent_id"], strict=True))
    for start, first_parent in parent.items():  # every chain reaches the top: no cycles
        node = first_parent
        for _ in range(len(parent)):
            if node is None:
                break
            node = parent[node]
        assert node is None, start
    leaves = set(dataset.leaf_territories)
    for column in ("current_territory", "locked_territory"):
        assert set(accounts[column].dropna()) <= leaves
    assert set(accounts["parent_account_id"].dropna()) <= set(ids)
    assert set(dataset.reps["territory_id"]) <= leaves
    assert all(0 < f <= 1 for f in dataset.reps["fte"])
    assert all(math.isnan(c) or c >= 0 for c in dataset.reps["capacity"])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fuzzed_inputs())
def test_junk_cells_give_input_error_or_valid_dataset(files):
    with tempfile.TemporaryDirectory() as folder:
        scenario = make_scenario(Path(folder), files)
        try:
            dataset = load_dataset(scenario)
        except InputError as exc:
            assert exc.issues
            assert all(Path(i.file).name in ("accounts.csv", "reps.csv", "territories.csv")
                       for i in exc.issues)
        else:
            _check_promises(dataset)


@pytest.mark.filterwarnings("ignore::territory_opt.data.EncodingFallbackWarning")
@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([".csv", ".xlsx", ".parquet"]))
def test_random_bytes_never_crash_the_reader(raw, suffix):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"t{suffix}"
        path.write_bytes(raw)
        try:
            table = read_table(path)
        except InputError as exc:
            assert exc.issues and all(i.file == str(path) for i in exc.issues)
        else:
            assert all(v is None or isinstance(v, str) for v in table.to_numpy().ravel())


@pytest.mark.filterwarnings("ignore::territory_opt.data.EncodingFallbackWarning")
@settings(max_examples=25, deadline=None)
@given(st.text(max_size=200))
def test_random_text_accounts_file(text):
    with tempfile.TemporaryDirectory() as folder:
        scenario = make_scenario(Path(folder), {"accounts": text})
        try:
            _check_promises(load_dataset(scenario))
        except InputError as exc:
            assert exc.issues


def test_csv_text_round_trips_junk():
    """The fuzzing helper writes cells the reader gets back (stripped) unchanged."""
    rows = [["a", "b"], ["x, y", "line\nbreak"], ['"quoted"', " pad "]]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.csv"
        path.write_text(csv_text(rows), encoding="utf-8")
        assert read_table(path).to_numpy().tolist() == [["x, y", "line\nbreak"],
                                                        ['"quoted"', "pad"]]
