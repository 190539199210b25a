"""Dynamics 365, HubSpot and pharma/Veeva exports: files, columns, encodings, round trip."""

from __future__ import annotations

import pandas as pd
import pytest
from test_export_helpers import ACCOUNTS, UNIT_TERRITORY, make_result

from territory_opt.errors import InputError
from territory_opt.export import alignment_frame, export_result
from territory_opt.export.veeva import detect_unit_kind

BOM = b"\xef\xbb\xbf"


def _read(path, encoding="utf-8") -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding)


def _expected_alignment() -> dict[str, str]:
    return {a: t for a, (_, t, _) in ACCOUNTS.items()}


# --- Dynamics 365 -------------------------------------------------------------------------------


def test_dynamics_files_have_a_bom_and_parents_come_first(tmp_path):
    files = export_result(make_result(tmp_path), "dynamics", tmp_path / "out")
    folder = tmp_path / "out" / "dynamics"
    for path in files:
        if path.suffix == ".csv" and path.name != "alignment.csv":
            assert path.read_bytes().startswith(BOM), path.name
    known: set[str] = {""}
    for depth in (1, 2, 3):
        level = _read(folder / f"territories_level{depth}.csv", "utf-8-sig")
        assert list(level.columns) == [
            "Territory Name",
            "Parent",
            "Manager",
            "Description",
            "Currency",
        ]
        assert set(level["Parent"]) <= known  # every parent was imported by an earlier file
        known |= set(level["Territory Name"])
    assert {"East", "West", "Boston – North", "Zürich Süd", "'=cmd|' /C calc'!A0"} <= known
    users = _read(folder / "users_territory_update.csv", "utf-8-sig")
    assert list(users.columns) == ["Primary Email", "Full Name", "Territory"]
    assert users["Primary Email"].is_unique
    assert dict(zip(users["Primary Email"], users["Territory"]))["mia@example.com"] == "East"
    accounts = _read(folder / "accounts_territory_update.csv", "utf-8-sig")
    label = {"T1": "Boston – North", "T2": "'=cmd|' /C calc'!A0", "T3": "Zürich Süd"}
    assert dict(zip(accounts["Account Number"], accounts["Territory"])) == {
        a: label[t] for a, t in _expected_alignment().items()
    }
    assert accounts.set_index("Account Number").at["A4", "Account Name"] == "'@risk"


def test_dynamics_rejects_a_user_in_two_territories(tmp_path):
    result = make_result(tmp_path)
    result.dataset.reps.loc[2, "email"] = "ann@example.com"  # M1 shares Ann's login
    with pytest.raises(InputError) as info:
        export_result(result, "dynamics", tmp_path / "out")
    assert "exactly one territory" in str(info.value) and "EAST, T1" in str(info.value)
    assert not (tmp_path / "out" / "dynamics").exists()


def test_duplicate_territory_names_are_made_unique_for_name_lookups(tmp_path):
    result = make_result(tmp_path)
    result.dataset.territories.loc[4, "name"] = "Boston – North"  # T2 now shares T1's name
    export_result(result, "dynamics", tmp_path / "out")
    level = _read(tmp_path / "out" / "dynamics" / "territories_level3.csv", "utf-8-sig")
    assert list(level["Territory Name"]) == [
        "Boston – North (T1)",
        "Boston – North (T2)",
        "Zürich Süd",
    ]
    assert "repeat" in (tmp_path / "out" / "dynamics" / "README.md").read_text()


# --- HubSpot ------------------------------------------------------------------------------------


def test_hubspot_without_record_ids_uses_account_id_and_says_so(tmp_path):
    export_result(make_result(tmp_path), "hubspot", tmp_path / "out")
    folder = tmp_path / "out" / "hubspot"
    raw = (folder / "companies_territory_update.csv").read_bytes()
    assert not raw.startswith(BOM)
    companies = _read(folder / "companies_territory_update.csv")
    assert list(companies.columns) == [
        "account_id",
        "Company name",
        "Company owner",
        "Territory",
        "Territory quota",
    ]
    by_account = companies.set_index("account_id")
    assert by_account.at["A3", "Company owner"] == "bob@example.com"
    assert by_account.at["A6", "Company owner"] == ""  # vacant territory
    assert by_account.at["A1", "Territory quota"] == "420000"
    assert by_account.at["A1", "Company name"].startswith("'=")
    assert "instead of Record ID" in (folder / "README.md").read_text()
    options = _read(folder / "territory_property_options.csv")
    assert list(options["Internal value"]) == ["T1", "T2", "T3"]


def test_hubspot_record_ids_from_a_mapping(tmp_path):
    mapping = tmp_path / "hubspot_ids.csv"
    pd.DataFrame(
        {"Record ID": [str(9000 + i) for i in range(len(ACCOUNTS))], "account_id": list(ACCOUNTS)}
    ).to_csv(mapping, index=False)
    export_result(
        make_result(tmp_path, quotas=False, periods=False),
        "hubspot",
        tmp_path / "out",
        record_ids=mapping,
    )
    companies = _read(tmp_path / "out" / "hubspot" / "companies_territory_update.csv")
    assert list(companies.columns) == ["Record ID", "Company name", "Company owner", "Territory"]
    assert (
        dict(zip(companies["Record ID"], companies["Territory"]))[
            str(9000 + list(ACCOUNTS).index("A7"))
        ]
        == "Zürich Süd"
    )
    assert "No quotas" in (tmp_path / "out" / "hubspot" / "README.md").read_text()


def test_hubspot_mapping_with_a_non_numeric_record_id_is_an_error(tmp_path):
    mapping = tmp_path / "hubspot_ids.csv"
    mapping.write_text("Record ID,account_id\nabc,A1\n", encoding="utf-8")
    with pytest.raises(InputError, match="hubspot_ids.csv, row 2, column 'Record ID'"):
        export_result(make_result(tmp_path), "hubspot", tmp_path / "out", record_ids=mapping)


# --- Veeva / pharma -----------------------------------------------------------------------------


def _reimport(folder, accounts_units: dict[str, str]) -> dict[str, str]:
    """Rebuild account -> territory from the bundle: override, else the account's ZIP territory."""
    zips = _read(folder / "zip_to_territory.csv")
    by_zip = dict(zip(zips["zip5"], zips["territory_id"]))
    overrides = _read(folder / "overrides.csv")
    override = dict(zip(overrides["account_id"], overrides["territory_id"]))
    return {a: override.get(a) or by_zip[u.zfill(5)] for a, u in accounts_units.items()}


def test_veeva_bundle_round_trips_to_the_plan(tmp_path):
    result = make_result(tmp_path)
    export_result(result, "veeva", tmp_path / "out")
    folder = tmp_path / "out" / "veeva"
    territories = _read(folder / "territories.csv")
    assert list(territories.columns) == [
        "territory_id",
        "parent_territory_id",
        "territory_name",
        "level",
        "type",
    ]
    assert (
        territories.iloc[0]["parent_territory_id"] == ""
        and territories.iloc[0]["territory_id"] == "US"
    )
    zips = _read(folder / "zip_to_territory.csv")
    assert list(zips.columns) == ["zip5", "territory_id"]
    assert zips["zip5"].is_unique and all(len(z) == 5 and z.isdigit() for z in zips["zip5"])
    assert dict(zip(zips["zip5"], zips["territory_id"])) == UNIT_TERRITORY
    overrides = _read(folder / "overrides.csv")
    assert list(overrides["account_id"]) == ["A5"]  # in ZIP 10001 (T2) but aligned to T1
    units = {a: u for a, (u, _, _) in ACCOUNTS.items()}
    rebuilt = _reimport(folder, units)
    assert rebuilt == _expected_alignment()
    exported = _read(folder / "alignment.csv")
    assert exported.equals(alignment_frame(result))
    assert dict(zip(exported["account_id"], exported["territory_id"])) == _expected_alignment()


def test_veeva_zip_to_terr_and_account_loader_formats(tmp_path):
    export_result(make_result(tmp_path), "veeva", tmp_path / "out")
    folder = tmp_path / "out" / "veeva"
    zip_terr = _read(folder / "Zip_to_Terr_vod__c.csv")
    assert dict(zip(zip_terr["Name"], zip_terr["Territory_vod__c"]))["94105"] == ";Zürich Süd;"
    assert zip_terr["Territory_vod__c"].str.fullmatch(r";[^;]+;").all()
    loader = _read(folder / "Account_Territory_Loader_vod__c.csv")
    moved = {a for a, (_, t, p) in ACCOUNTS.items() if p and p != t}
    assert set(loader["Account_vod__c"]) == moved
    row = loader.set_index("Account_vod__c").loc["A2"]
    assert (row["Territory_To_Add_vod__c"], row["Territory_to_Drop_vod__c"]) == (
        ";Boston – North;",
        ";=cmd|' /C calc'!A0;",
    )
    roster = _read(folder / "roster.csv")
    assert list(roster.columns) == [
        "employee_id",
        "username",
        "territory_id",
        "role",
        "start_date",
        "end_date",
        "vacancy_flag",
    ]
    assert roster.set_index("territory_id").at["T3", "vacancy_flag"] == "Y"
    assert roster.set_index("employee_id").at["R1", "start_date"] == "2026-01-15"


def test_int_like_zip_ids_are_zero_padded(tmp_path):
    result = make_result(tmp_path, unit_ids={"02139": "2139", "02140": "2140"})
    export_result(result, "veeva", tmp_path / "out")
    folder = tmp_path / "out" / "veeva"
    zips = _read(folder / "zip_to_territory.csv")
    assert {"02139", "02140"} <= set(zips["zip5"])
    raw = (folder / "zip_to_territory.csv").read_text()
    assert "\n02139," in raw and "\n2139," not in raw
    units = {a: u.lstrip("0") for a, (u, _, _) in ACCOUNTS.items()}
    assert _reimport(folder, units) == _expected_alignment()


def test_county_units_get_unit_to_territory_instead(tmp_path):
    counties = {
        "02139": "25017",
        "02140": "25025",
        "10001": "36061",
        "94103": "06075",
        "94105": "06081",
    }
    result = make_result(tmp_path, unit_ids=counties)
    export_result(result, "veeva", tmp_path / "out", unit_kind="other")
    folder = tmp_path / "out" / "veeva"
    assert (
        not (folder / "zip_to_territory.csv").exists()
        and not (folder / "Zip_to_Terr_vod__c.csv").exists()
    )
    units = _read(folder / "unit_to_territory.csv")
    assert dict(zip(units["unit_id"], units["territory_id"])) == {
        counties[z]: t for z, t in UNIT_TERRITORY.items()
    }
    assert "not ZIP codes" in (folder / "README.md").read_text()


def test_detect_unit_kind():
    assert detect_unit_kind(["02139", "10001", "94105"]) == "zip"
    assert detect_unit_kind(["2139", "501", "2140.0"]) == "zip"
    assert (
        detect_unit_kind(["13001", "13003", "13005", "13007", "13009", "13011", "13013", "13015"])
        == "other"
    )
    assert detect_unit_kind(["13001", "13003"], ["GEOID", "COUNTYFP"]) == "other"
    assert detect_unit_kind(["13001", "13003"], ["ZCTA5CE10", "GEOID10"]) == "zip"
    assert detect_unit_kind(["Fulton County", "13003"]) == "other"
    assert detect_unit_kind(["123456"]) == "other"


def test_veeva_rejects_semicolons_in_territory_names(tmp_path):
    result = make_result(tmp_path)
    result.dataset.territories.loc[3, "name"] = "North; South"
    with pytest.raises(InputError, match="without ';'"):
        export_result(result, "veeva", tmp_path / "out")
