"""Salesforce ETM export: Metadata API package, Data Loader CSVs, Id resolution and diffs."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pandas as pd
import pytest
from test_export_helpers import ACCOUNTS, make_result

from territory_opt.errors import InputError
from territory_opt.export import export_result
from territory_opt.export.salesforce import DEVELOPER_NAME
from territory_opt.quota import plan_quotas
from territory_opt.scenarios.config import QuotaConfig

NS = {"m": "http://soap.sforce.com/2006/04/metadata"}
USER_IDS = {
    "ann@example.com": "005000000000001AAA",
    "bob@example.com": "005000000000002AAA",
    "mia@example.com": "005000000000003AAA",
}
TERRITORY_IDS = {
    t: f"0MI00000000000{i}AAA" for i, t in enumerate(["US", "EAST", "WEST", "T1", "T2", "T3"])
}
ACCOUNT_IDS = {a: f"001000000000{i:03d}AAA" for i, a in enumerate(ACCOUNTS)}
FORECASTING_TYPE = "0Db000000000001AAA"


def _read(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _mappings(tmp_path) -> dict:
    users = tmp_path / "users.csv"
    pd.DataFrame({"Id": USER_IDS.values(), "Email": USER_IDS.keys()}).to_csv(users, index=False)
    territories = tmp_path / "territories.csv"
    pd.DataFrame({"Id": TERRITORY_IDS.values(), "DeveloperName": TERRITORY_IDS.keys()}).to_csv(
        territories, index=False
    )
    accounts = tmp_path / "accounts_map.csv"
    pd.DataFrame({"Id": ACCOUNT_IDS.values(), "account_id": ACCOUNT_IDS.keys()}).to_csv(
        accounts, index=False
    )
    return {"users": users, "territory_ids": territories, "account_ids": accounts}


def test_metadata_package_is_consistent(tmp_path):
    result = make_result(tmp_path)
    export_result(result, "salesforce", tmp_path / "out")
    root = tmp_path / "out" / "salesforce" / "metadata"
    package = ET.parse(root / "package.xml").getroot()
    members = {
        t.find("m:name", NS).text: [m.text for m in t.findall("m:members", NS)]
        for t in package.findall("m:types", NS)
    }
    assert members["Territory2Model"] == ["fy27_plan"]
    assert sorted(members["Territory2"]) == sorted(f"fy27_plan.{t}" for t in TERRITORY_IDS)
    priorities = []
    for type_name in members["Territory2Type"]:
        assert DEVELOPER_NAME.match(type_name)
        element = ET.parse(root / "territory2Types" / f"{type_name}.territory2Type").getroot()
        priorities.append(int(element.find("m:priority", NS).text))
    assert sorted(priorities) == list(range(1, len(priorities) + 1))
    model = ET.parse(root / "territory2Models/fy27_plan/fy27_plan.territory2Model").getroot()
    assert model.find("m:description", NS).text == "FY27 & beyond <test>"
    given = result.dataset.territories.set_index("territory_id")
    for member in members["Territory2"]:
        name = member.split(".", 1)[1]
        assert DEVELOPER_NAME.match(name)
        element = ET.parse(
            root / f"territory2Models/fy27_plan/territories/{name}.territory2"
        ).getroot()
        parent = element.find("m:parentTerritory", NS)
        expected_parent = given.at[name, "parent_id"]
        assert (parent.text if parent is not None else None) == (
            None if pd.isna(expected_parent) else expected_parent
        )
        assert element.find("m:territory2Type", NS).text in members["Territory2Type"]
        assert element.find("m:name", NS).text == given.at[name, "name"]  # XML is not a spreadsheet


def test_without_id_mappings_only_keys_files_and_the_readme_says_which_lookups(tmp_path):
    export_result(make_result(tmp_path), "salesforce", tmp_path / "out")
    folder = tmp_path / "out" / "salesforce"
    names = {p.name for p in folder.glob("*.csv")}
    assert {
        "03_user_territory_associations_keys.csv",
        "04_territory_forecast_users_keys.csv",
        "05_account_territory_associations_insert_keys.csv",
        "08_forecasting_quotas_keys.csv",
    } <= names
    assert (
        not {"03_user_territory_associations.csv", "05_account_territory_associations_insert.csv"}
        & names
    )
    users = _read(folder / "03_user_territory_associations_keys.csv")
    assert list(users.columns) == [
        "Territory2DeveloperName",
        "TerritoryName",
        "UserEmail",
        "RepId",
        "RepName",
        "RoleInTerritory2",
    ]
    assert set(zip(users["RepId"], users["Territory2DeveloperName"])) == {
        ("R1", "T1"),
        ("R2", "T2"),
        ("M1", "EAST"),
    }
    readme = (folder / "README.md").read_text()
    assert (
        "`05_account_territory_associations_insert.csv` needs: account_ids, territory_ids" in readme
    )
    for caution in (
        "Only one model per org can be Active",
        "archiving deletes",
        "After activation",
    ):
        assert caution in readme


def test_id_mappings_fill_the_data_loader_files(tmp_path):
    export_result(
        make_result(tmp_path),
        "salesforce",
        tmp_path / "out",
        **_mappings(tmp_path),
        forecasting_type_id=FORECASTING_TYPE,
        currency="EUR",
    )
    folder = tmp_path / "out" / "salesforce"
    users = _read(folder / "03_user_territory_associations.csv")
    assert list(users.columns) == ["UserId", "Territory2Id", "RoleInTerritory2"]
    assert set(zip(users["UserId"], users["Territory2Id"])) == {
        (USER_IDS["ann@example.com"], TERRITORY_IDS["T1"]),
        (USER_IDS["bob@example.com"], TERRITORY_IDS["T2"]),
        (USER_IDS["mia@example.com"], TERRITORY_IDS["EAST"]),
    }
    accounts = _read(folder / "05_account_territory_associations_insert.csv")
    assert list(accounts.columns) == ["ObjectId", "Territory2Id", "AssociationCause"]
    assert set(accounts["AssociationCause"]) == {"Territory2Manual"}
    assert dict(zip(accounts["ObjectId"], accounts["Territory2Id"])) == {
        ACCOUNT_IDS[a]: TERRITORY_IDS[t] for a, (_, t, _) in ACCOUNTS.items()
    }
    forecast = _read(folder / "04_territory_forecast_users.csv")
    assert dict(zip(forecast["Id"], forecast["ForecastUserId"])) == {
        TERRITORY_IDS["T1"]: USER_IDS["ann@example.com"],
        TERRITORY_IDS["T2"]: USER_IDS["bob@example.com"],
        TERRITORY_IDS["EAST"]: USER_IDS["mia@example.com"],
    }
    quotas = _read(folder / "08_forecasting_quotas.csv")
    assert list(quotas.columns) == [
        "QuotaOwnerId",
        "Territory2Id",
        "ForecastingTypeId",
        "StartDate",
        "QuotaAmount",
        "CurrencyIsoCode",
    ]
    assert not quotas.duplicated(["QuotaOwnerId", "Territory2Id", "StartDate"]).any()
    assert set(quotas["StartDate"]) == {"2027-01-01", "2027-04-01", "2027-07-01", "2027-10-01"}
    assert set(quotas["CurrencyIsoCode"]) == {"EUR"} and set(quotas["ForecastingTypeId"]) == {
        FORECASTING_TYPE
    }
    t1 = quotas[quotas["Territory2Id"] == TERRITORY_IDS["T1"]]
    assert t1["QuotaAmount"].astype(float).sum() == pytest.approx(420_000)
    assert set(t1["QuotaOwnerId"]) == {USER_IDS["ann@example.com"]}
    # vacant nodes (no owner) are reported, not silently dropped
    assert "(no owner) left out: T3, US, WEST." in (folder / "README.md").read_text()


def test_partial_mapping_is_an_error_naming_the_mapping_file(tmp_path):
    maps = _mappings(tmp_path)
    pd.DataFrame({"Id": [USER_IDS["ann@example.com"]], "Email": ["ann@example.com"]}).to_csv(
        maps["users"], index=False
    )
    with pytest.raises(InputError) as info:
        export_result(make_result(tmp_path), "salesforce", tmp_path / "out", **maps)
    assert "users.csv" in str(info.value) and "bob@example.com" in str(info.value)
    assert not (tmp_path / "out" / "salesforce").exists()


def test_current_associations_give_deletes_and_inserts_for_moves_only(tmp_path):
    maps = _mappings(tmp_path)
    current = tmp_path / "current.csv"
    rows = [
        ("0MT000000000001AAA", ACCOUNT_IDS["A1"], TERRITORY_IDS["T1"]),  # unchanged
        ("0MT000000000002AAA", ACCOUNT_IDS["A2"], TERRITORY_IDS["T2"]),  # A2 moves T2 -> T1
        (
            "0MT000000000003AAA",
            ACCOUNT_IDS["A3"][:15],
            TERRITORY_IDS["T2"][:15],
        ),  # 15-char Ids, unchanged
        (
            "0MT000000000004AAA",
            ACCOUNT_IDS["A4"],
            "0MI999999999999AAA",
        ),  # another model: left alone
        ("0MT000000000005AAA", "001999999999999AAA", TERRITORY_IDS["T3"]),
    ]  # not in the plan: left alone
    pd.DataFrame(rows, columns=["Id", "ObjectId", "Territory2Id"]).to_csv(current, index=False)
    export_result(
        make_result(tmp_path), "salesforce", tmp_path / "out", **maps, current_associations=current
    )
    folder = tmp_path / "out" / "salesforce"
    deletes = _read(folder / "06_account_territory_associations_delete.csv")
    assert list(deletes["Id"]) == ["0MT000000000002AAA"]
    delete_keys = _read(folder / "06_account_territory_associations_delete_keys.csv")
    assert delete_keys.iloc[0][
        ["account_id", "FromTerritory2DeveloperName", "ToTerritory2DeveloperName"]
    ].tolist() == ["A2", "T2", "T1"]
    inserts = _read(folder / "07_account_territory_associations_insert.csv")
    expected = {ACCOUNT_IDS[a] for a in ACCOUNTS} - {ACCOUNT_IDS["A1"], ACCOUNT_IDS["A3"]}
    assert set(inserts["ObjectId"]) == expected and len(inserts) == len(expected)
    assert not (folder / "05_account_territory_associations_insert.csv").exists()
    readme = (folder / "README.md").read_text()
    assert f"- `current_associations` = `{current}`" in readme
    assert "1 delete(s), 7 insert(s), 2 association(s) unchanged, 1 account move(s)" in readme
    assert "2 current row(s) outside this model or plan left alone" in readme


def test_current_associations_need_the_id_mappings(tmp_path):
    current = tmp_path / "current.csv"
    current.write_text("Id,ObjectId,Territory2Id\n", encoding="utf-8")
    with pytest.raises(InputError, match="account_ids and territory_ids"):
        export_result(
            make_result(tmp_path), "salesforce", tmp_path / "out", current_associations=current
        )


def test_missing_rep_emails(tmp_path):
    result = make_result(tmp_path, emails=False)
    with pytest.raises(InputError) as info:
        export_result(result, "salesforce", tmp_path / "out", include_users=True)
    assert "reps.csv, row 2, column 'email'" in str(info.value)
    with pytest.raises(InputError, match="row 3, column 'email'"):
        export_result(result, "salesforce", tmp_path / "out", include_users="TRUE")  # CLI text
    files = export_result(result, "salesforce", tmp_path / "out")  # auto: skipped and said so
    assert not any(p.name.startswith(("03_", "04_", "08_")) for p in files)
    assert "No rep emails" in (tmp_path / "out" / "salesforce" / "README.md").read_text()


def test_one_missing_email_among_several_is_an_error(tmp_path):
    result = make_result(tmp_path)
    result.dataset.reps.loc[2, "email"] = None
    with pytest.raises(InputError, match=r"row 4, column 'email'"):
        export_result(result, "salesforce", tmp_path / "out")


def test_no_period_quotas_is_said_in_the_readme(tmp_path):
    export_result(make_result(tmp_path, periods=False), "salesforce", tmp_path / "out")
    folder = tmp_path / "out" / "salesforce"
    assert not list(folder.glob("08_*"))
    assert "No per-period quotas" in (folder / "README.md").read_text()


def test_odd_ids_and_names_become_valid_unique_developer_names(tmp_path):
    result = make_result(tmp_path)
    renamed = {"T1": "1 north", "T2": "1-North", "T3": "Über__Süd_"}
    for frame in (result.dataset.territories, result.territories, result.assignments, result.units):
        frame["territory_id"] = frame["territory_id"].replace(renamed)
    result.dataset.reps["territory_id"] = result.dataset.reps["territory_id"].replace(renamed)
    if "quota_periods" in result.extras:
        result.extras["quota_periods"]["node_id"] = result.extras["quota_periods"][
            "node_id"
        ].replace(renamed)
    export_result(result, "salesforce", tmp_path / "out")
    keys = _read(tmp_path / "out" / "salesforce" / "territories_keys.csv")
    names = dict(zip(keys["territory_id"], keys["DeveloperName"]))
    assert (
        names["1 north"] == "T_1_north"
        and names["1-North"] == "T_1_North_2"
        and names["Über__Süd_"] == "Uber_Sud"
    )
    assert all(DEVELOPER_NAME.match(n) for n in names.values())


def _with_engine_quotas(result, seasonality: str):
    """Quotas from the real quota engine (leaf reps only; it cascades to rep nodes)."""
    leaf = pd.DataFrame(
        {
            "territory_id": ["T1", "T2", "T3"],
            "potential": [410.0, 205.0, 318.0],
            "sales_ly": [300.0, 200.0, 250.0],
        }
    )
    reps = result.dataset.reps[result.dataset.reps["territory_id"].isin(leaf["territory_id"])]
    config = QuotaConfig(
        total=1_000_000,
        seasonality=seasonality,
        round_to=1000,
        fiscal_year_start="2027-02-01",
        simulation={"draws": 0},
    )
    plan = plan_quotas(result.dataset.territories, leaf, reps, config)
    result.quotas = plan.quotas
    result.extras["quota_periods"] = plan.periods
    return plan


def test_engine_quotas_rep_rows_win_over_their_territory_rows(tmp_path):
    result = make_result(tmp_path)
    plan = _with_engine_quotas(result, "quarter")
    export_result(
        result,
        "salesforce",
        tmp_path / "out",
        **_mappings(tmp_path),
        forecasting_type_id=FORECASTING_TYPE,
    )
    folder = tmp_path / "out" / "salesforce"
    keys = _read(folder / "08_forecasting_quotas_keys.csv")
    assert not keys.duplicated(["Territory2DeveloperName", "QuotaOwnerEmail", "StartDate"]).any()
    assert set(keys["StartDate"]) == {"2027-02-01", "2027-05-01", "2027-08-01", "2027-11-01"}
    periods = plan.periods.assign(start=plan.periods["start_date"].astype(str))
    for rep, email, territory in (("R1", "ann@example.com", "T1"), ("R2", "bob@example.com", "T2")):
        rows = keys[keys["QuotaOwnerEmail"] == email]
        assert set(rows["Territory2DeveloperName"]) == {territory}
        expected = periods[periods["node_id"] == rep].set_index("start")["quota"]
        assert (
            rows.set_index("StartDate")["QuotaAmount"].astype(float).to_dict() == expected.to_dict()
        )
    mia = keys[keys["QuotaOwnerEmail"] == "mia@example.com"]
    assert set(mia["Territory2DeveloperName"]) == {"EAST"} and len(mia) == 4
    assert len(keys) == 12
    assert len(_read(folder / "08_forecasting_quotas.csv")) == 12
    readme = (folder / "README.md").read_text()
    assert "rep's own quota row covers" in readme and "no owner) left out: T3, US, WEST" in readme


def test_annual_quota_periods_are_not_forecasting_quotas(tmp_path):
    result = make_result(tmp_path)
    _with_engine_quotas(result, "none")
    export_result(result, "salesforce", tmp_path / "out")
    folder = tmp_path / "out" / "salesforce"
    assert not list(folder.glob("08_*"))
    assert "not months or quarters" in (folder / "README.md").read_text()
