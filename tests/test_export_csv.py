"""CSV hygiene and Salesforce DeveloperNames: the rules every export writer relies on."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from territory_opt.errors import InputError
from territory_opt.export.csvsafe import neutralise, read_key_csv, write_csv, zip5
from territory_opt.export.salesforce import (
    DEVELOPER_NAME,
    developer_name,
    period_start,
    unique_developer_names,
)


@pytest.mark.parametrize("text", ["=1+1", "+49 30", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_formula_triggers_get_a_leading_quote(text):
    assert neutralise(text) == "'" + text


@pytest.mark.parametrize("text", ["", "Acme", "a=b", " =x", "'quoted", "Zürich"])
def test_other_text_is_untouched(text):
    assert neutralise(text) == text


def test_write_csv_is_rfc4180_and_guards_only_text_columns(tmp_path):
    frame = pd.DataFrame(
        {
            "account_id": ["-17", "=2", "A3"],
            "name": ['=HYPERLINK("x")', 'Comma, "Quote"', "Line\nbreak"],
            "amount": [1000.0, 2.5, float("nan")],
        }
    )
    path = tmp_path / "out.csv"
    assert write_csv(path, frame, text_columns=["name"]) == 3
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    assert raw.count(b"\r\n") == 4  # header + 3 records; the embedded newline stays a bare \n
    assert b'"Comma, ""Quote"""' in raw
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
    assert rows == [
        ["account_id", "name", "amount"],
        ["-17", '\'=HYPERLINK("x")', "1000"],  # IDs and numbers verbatim
        ["=2", 'Comma, "Quote"', "2.5"],
        ["A3", "Line\nbreak", ""],
    ]


def test_write_csv_bom_on_request(tmp_path):
    path = tmp_path / "bom.csv"
    write_csv(path, pd.DataFrame({"a": ["é"]}), bom=True)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("02139", "02139"),
        (2139, "02139"),
        ("2139", "02139"),
        (2139.0, "02139"),
        ("501", "00501"),
        ("94105", "94105"),
        ("ABC12", None),
        ("123456", None),
        ("", None),
        (None, None),
        ("02139-4307", None),
    ],
)
def test_zip5_zero_pads_and_rejects_non_zips(value, expected):
    assert zip5(value) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("T1", "T1"),
        ("123 North", "T_123_North"),
        ("Zürich Süd", "Zurich_Sud"),
        ("a__b_", "a_b"),
        ("__x__", "x"),
        ("日本", "T"),
        ("", "T"),
        ("_9", "T_9"),
    ],
)
def test_developer_name_examples(text, expected):
    assert developer_name(text, "T") == expected


def test_dedupe_is_case_insensitive_and_keeps_the_cap():
    names = unique_developer_names(
        ["A-B", "A B", "a_b", "x" * 200, "x" * 200, "x" * 79 + "_2"], "T"
    )
    assert names[:3] == ["A_B", "A_B_2", "a_b_3"]
    assert len({n.lower() for n in names}) == len(names)
    assert all(len(n) <= 80 and DEVELOPER_NAME.match(n) for n in names)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=120), max_size=25))
def test_developer_names_are_always_valid_and_unique(texts):
    names = unique_developer_names(texts, "T")
    assert len(names) == len(texts)
    assert len({n.lower() for n in names}) == len(names)
    for name in names:
        assert DEVELOPER_NAME.match(name), name
        assert len(name) <= 80


@pytest.mark.parametrize(
    ("period", "start"),
    [
        ("2027-Q1", "2027-01-01"),
        ("2027-Q2", "2027-04-01"),
        ("2027-Q4", "2027-10-01"),
        ("2027-11", "2027-11-01"),
    ],
)
def test_period_start_is_the_first_of_the_month(period, start):
    assert period_start(period) == start


def test_period_start_prefers_the_given_start_date_and_rejects_unknown_periods():
    assert period_start("FY27-Q1", "2026-02-01") == "2026-02-01"
    for bad in ("2027", "2027-Q5", "2027-13"):
        with pytest.raises(InputError, match="period"):
            period_start(bad)
    with pytest.raises(InputError, match="first of a month"):
        period_start("2027-Q1", "2027-02-15")


def test_mapping_csv_errors_name_file_row_and_column(tmp_path):
    path = tmp_path / "users.csv"
    path.write_text(
        "Email,Id\nann@example.com,005000000000001AAA\nbob@example.com,not-an-id\n"
        "ANN@example.com,005000000000002AAA\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as info:
        read_key_csv(path, "users", ["Email"], "Id")
    text = str(info.value)
    assert "users.csv, row 3, column 'Id'" in text and "not-an-id" in text
    assert "row 4, column 'Email'" in text  # duplicate key, case-insensitive
    with pytest.raises(InputError, match="a key column"):
        read_key_csv(path, "users", ["Username"], "Id")
    with pytest.raises(InputError, match="existing CSV"):
        read_key_csv(tmp_path / "missing.csv", "users", ["Email"], "Id")
