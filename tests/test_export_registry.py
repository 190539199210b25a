"""export_result: registry, options, atomic folders, determinism and the exported alignment."""

from __future__ import annotations

import pandas as pd
import pytest
from test_export_helpers import make_result

from territory_opt.errors import InputError
from territory_opt.export import FORMATS, alignment_frame, export_result


def test_every_format_writes_readme_and_the_exact_alignment(tmp_path):
    result = make_result(tmp_path)
    expected = alignment_frame(result)
    assert list(expected.columns) == ["account_id", "territory_id"]
    plan = result.assignments.set_index("account_id")["territory_id"]
    assert dict(zip(expected["account_id"], expected["territory_id"])) == plan.to_dict()
    for fmt in FORMATS:
        files = export_result(result, fmt, tmp_path / "out")
        folder = tmp_path / "out" / fmt
        assert folder / "README.md" in files and folder / "alignment.csv" in files
        exported = pd.read_csv(folder / "alignment.csv", dtype=str, keep_default_na=False)
        assert exported.equals(expected), fmt
        for path in files:
            if path.suffix == ".csv":  # a BOM only where Dynamics needs it
                assert path.read_bytes().startswith(b"\xef\xbb\xbf") == (
                    fmt == "dynamics" and path.name != "alignment.csv"
                )
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        FORMATS
    )  # no temp leftovers


def test_exports_are_deterministic(tmp_path):
    result = make_result(tmp_path)
    for fmt in ("salesforce", "dynamics", "hubspot", "veeva"):
        first = {
            p.relative_to(tmp_path / "a"): p.read_bytes()
            for p in export_result(result, fmt, tmp_path / "a")
        }
        second = {
            p.relative_to(tmp_path / "b"): p.read_bytes()
            for p in export_result(result, fmt, tmp_path / "b")
        }
        assert first == second, fmt


def test_a_failing_writer_leaves_no_folder_and_keeps_the_previous_one(tmp_path):
    result = make_result(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(InputError):
        export_result(result, "salesforce", out, include_users="sometimes")
    assert list(out.iterdir()) == []  # nothing half-written, no temp folder
    export_result(result, "veeva", out)
    before = {p.name: p.read_bytes() for p in (out / "veeva").iterdir()}
    result.dataset.territories.loc[3, "name"] = "North; South"  # veeva cannot express this name
    with pytest.raises(InputError):
        export_result(result, "veeva", out)
    assert {p.name: p.read_bytes() for p in (out / "veeva").iterdir()} == before
    assert [p.name for p in out.iterdir()] == ["veeva"]


def test_re_export_replaces_the_folder(tmp_path):
    out = tmp_path / "out"
    export_result(make_result(tmp_path), "hubspot", out)
    (out / "hubspot" / "stale.csv").write_text("old", encoding="utf-8")
    export_result(make_result(tmp_path), "hubspot", out)
    assert not (out / "hubspot" / "stale.csv").exists()


def test_unknown_format_and_options_are_input_errors(tmp_path):
    result = make_result(tmp_path)
    with pytest.raises(InputError, match="one of salesforce"):
        export_result(result, "sap", tmp_path / "out")
    with pytest.raises(InputError) as info:
        export_result(result, "dynamics", tmp_path / "out", users="x.csv")
    assert "'users'" in str(info.value) and "currency" in str(info.value)
    assert export_result(result, "pharma", tmp_path / "out")[0].parent.name == "veeva"


def test_assignments_naming_an_unknown_territory_are_rejected(tmp_path):
    result = make_result(tmp_path)
    result.assignments.loc[0, "territory_id"] = "T9"
    with pytest.raises(InputError, match="assignments, row 2, column 'territory_id'"):
        export_result(result, "hubspot", tmp_path / "out")
