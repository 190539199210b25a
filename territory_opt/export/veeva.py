"""Pharma / Veeva CRM alignment bundle.

territories.csv, zip_to_territory.csv (ZIP units; unit_to_territory.csv for other
units such as counties), roster.csv, overrides.csv (accounts aligned apart from their
unit), Zip_to_Terr_vod__c.csv (``;Name;`` territory lists) and
Account_Territory_Loader_vod__c.csv (add/drop of moved accounts).

Together the geography file and the overrides reproduce the plan exactly: an
account's territory is its override if it has one, else its unit's territory.
"""

from __future__ import annotations

import re
from collections import Counter

import pandas as pd

from territory_opt.errors import InputError, InputIssue
from territory_opt.export.csvsafe import zip5
from territory_opt.export.folder import ExportFolder
from territory_opt.export.plan import Plan, build_plan
from territory_opt.results import Result

_ZIP_HINT = re.compile(r"zip|zcta|postal|postcode", re.IGNORECASE)
LOADING = """\
Territory designer / alignment tools: load `territories.csv`, then the geography file, then
`overrides.csv` (an override wins over its unit), then `roster.csv`.
Veeva CRM: `Zip_to_Terr_vod__c.csv` (Name = ZIP, Territory_vod__c = ;territory name;) and
`Account_Territory_Loader_vod__c.csv` for moved accounts. ZIPs are 5-character text: keep
the column as text when opening in a spreadsheet."""
_COUNTY_HINT = re.compile(r"county|fips|statefp", re.IGNORECASE)


def detect_unit_kind(unit_ids: list[str], columns: list[str] = ()) -> str:
    """'zip' when the unit ids look like US ZIPs, else 'other'.

    ZIP-like: every id is 1-5 digits (see :func:`zip5`). County FIPS codes look the
    same, so ids are taken as counties when the units table has a county/FIPS column
    and no ZIP column, or when (with at least 8 ids) 90 % or more end in an odd digit,
    as county codes nearly all do (001, 003, ...); random ZIPs do so with probability
    0.4 % for 8 ids and under 0.03 % from 20 ids. ``unit_kind`` overrides the guess.
    """
    padded = [zip5(u) for u in unit_ids]
    if not padded or None in padded:
        return "other"
    if any(_COUNTY_HINT.search(c) for c in columns) and not any(
        _ZIP_HINT.search(c) for c in columns
    ):
        return "other"
    odd = sum(z[-1] in "13579" for z in padded)
    if len(padded) >= 8 and odd >= 0.9 * len(padded):
        return "other"
    return "zip"


def unit_territories(plan: Plan) -> dict[str, str]:
    """Unit id -> territory: the plan's unit table, else the one holding most of its accounts."""
    if plan.units is not None:
        return {u: t for u, t in zip(plan.units["unit_id"], plan.units["territory_id"]) if t}
    votes: dict[str, Counter] = {}
    for unit, territory in zip(plan.accounts["unit_id"], plan.accounts["territory_id"]):
        if unit:
            votes.setdefault(unit, Counter())[territory] += 1
    return {u: min(c, key=lambda t: (-c[t], t)) for u, c in votes.items()}


def _check_names(plan: Plan) -> None:
    bad = plan.hierarchy[plan.hierarchy["label"].str.contains(";", regex=False)]
    if len(bad):
        raise InputError(
            [
                InputIssue(
                    "territories",
                    "a territory name without ';' (Veeva territory lists are ';'-separated)",
                    column="name",
                    value=v,
                )
                for v in bad["label"]
            ]
        )


def _geography(folder: ExportFolder, plan: Plan, by_unit: dict[str, str], kind: str) -> None:
    label = plan.label_of()
    units = sorted(by_unit)
    if kind == "zip":
        bad = [u for u in units if zip5(u) is None]
        if bad:
            raise InputError(
                [
                    InputIssue("units", "a ZIP code (unit_kind = 'zip')", column="unit_id", value=u)
                    for u in bad
                ]
            )
        table = pd.DataFrame(
            {"zip5": [zip5(u) for u in units], "territory_id": [by_unit[u] for u in units]}
        )
        table = table.drop_duplicates().sort_values("zip5", kind="stable")
        clash = table[table["zip5"].duplicated(keep=False)]
        if len(clash):
            raise InputError(
                [
                    InputIssue(
                        "units",
                        "one territory per ZIP (ids equal once zero-padded)",
                        column="unit_id",
                        value=z,
                    )
                    for z in sorted(set(clash["zip5"]))
                ]
            )
        folder.csv(
            "zip_to_territory.csv", table, "ZIP (5-character text) -> territory_id, no duplicates"
        )
        folder.csv(
            "Zip_to_Terr_vod__c.csv",
            pd.DataFrame(
                {
                    "Name": table["zip5"],
                    "Territory_vod__c": [f";{label[t]};" for t in table["territory_id"]],
                }
            ),
            "Veeva CRM Zip_to_Terr_vod__c: ZIP -> ;territory name; (generates assignment rules)",
            text_columns=["Territory_vod__c"],
        )
    else:
        folder.csv(
            "unit_to_territory.csv",
            pd.DataFrame({"unit_id": units, "territory_id": [by_unit[u] for u in units]}),
            "geographic unit -> territory_id",
        )
        folder.note(
            "Units are not ZIP codes (e.g. counties), so unit_to_territory.csv replaces "
            "zip_to_territory.csv and no Zip_to_Terr_vod__c file was written; bricks/counties "
            "load through the alignment tool's geography table."
        )


def _overrides(plan: Plan, by_unit: dict[str, str]) -> pd.DataFrame:
    """Accounts whose territory is not their unit's (or that have no unit), with a reason."""
    rows = []
    for r in plan.accounts.itertuples(index=False):
        unit_territory = by_unit.get(r.unit_id) if r.unit_id else None
        if unit_territory == r.territory_id:
            continue
        if r.moved and r.reason:
            reason = r.reason
        elif not r.unit_id:
            reason = "account aligned individually (no geographic unit)"
        elif unit_territory is None:
            reason = f"account aligned individually (unit {r.unit_id} has no territory)"
        else:
            reason = f"account aligned apart from its unit {r.unit_id} ({unit_territory})"
        rows.append((r.account_id, r.territory_id, reason))
    return pd.DataFrame(rows, columns=["account_id", "territory_id", "reason"])


def _roster(
    plan: Plan, rep_role: str, manager_role: str, effective_date: str | None, end_date: str | None
) -> pd.DataFrame:
    leaf = dict(zip(plan.hierarchy["territory_id"], plan.hierarchy["is_leaf"]))
    m = plan.members
    rows = [
        {
            "employee_id": r.rep_id,
            "username": r.email or "",
            "territory_id": r.territory_id,
            "role": rep_role if leaf[r.territory_id] else manager_role,
            "start_date": r.start_date or effective_date or "",
            "end_date": end_date or "",
            "vacancy_flag": "N",
        }
        for r in m.itertuples(index=False)
    ]
    staffed = set(m["territory_id"])
    rows += [
        {
            "employee_id": "",
            "username": "",
            "territory_id": t,
            "role": rep_role if leaf[t] else manager_role,
            "start_date": effective_date or "",
            "end_date": end_date or "",
            "vacancy_flag": "Y",
        }
        for t in plan.hierarchy["territory_id"]
        if leaf[t] and t not in staffed
    ]
    order = {t: i for i, t in enumerate(plan.hierarchy["territory_id"])}
    frame = pd.DataFrame(
        rows,
        columns=[
            "employee_id",
            "username",
            "territory_id",
            "role",
            "start_date",
            "end_date",
            "vacancy_flag",
        ],
    )
    frame["_order"] = frame["territory_id"].map(order)
    return frame.sort_values(["_order", "vacancy_flag", "employee_id"], kind="stable").drop(
        columns="_order"
    )


def write_veeva(
    result: Result,
    folder: ExportFolder,
    *,
    unit_kind: str = "auto",
    rep_role: str = "Representative",
    manager_role: str = "Manager",
    effective_date: str | None = None,
    end_date: str | None = None,
) -> None:
    """Write the pharma alignment bundle into ``folder``.

    ``unit_kind``: 'zip', 'other' or 'auto' (:func:`detect_unit_kind`). Roster dates
    are yyyy-mm-dd; a rep's own start_date wins over ``effective_date``.
    """
    if unit_kind not in ("auto", "zip", "other"):
        raise InputError(
            [
                InputIssue(
                    "export options",
                    "unit_kind = 'auto', 'zip' or 'other'",
                    column="unit_kind",
                    value=unit_kind,
                )
            ]
        )
    for option, value in (("effective_date", effective_date), ("end_date", end_date)):
        if value is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise InputError(
                [InputIssue("export options", "a date as yyyy-mm-dd", column=option, value=value)]
            )
    plan = build_plan(result)
    _check_names(plan)
    h = plan.hierarchy
    label = plan.label_of()
    folder.csv(
        "territories.csv",
        pd.DataFrame(
            {
                "territory_id": h["territory_id"],
                "parent_territory_id": h["parent_id"],
                "territory_name": h["label"],
                "level": h["depth"],
                "type": h["level"],
            }
        ),
        "hierarchy, parents first (parent_territory_id blank at the root; level 1 = top)",
        text_columns=["territory_name", "type"],
    )

    by_unit = unit_territories(plan)
    if by_unit:
        columns = list(result.dataset.units.columns) if result.dataset.units is not None else []
        kind = detect_unit_kind(sorted(by_unit), columns) if unit_kind == "auto" else unit_kind
        _geography(folder, plan, by_unit, kind)
    else:
        folder.note(
            "Accounts have no geographic units, so every account is aligned through overrides.csv."
        )
    overrides = _overrides(plan, by_unit)
    folder.csv(
        "overrides.csv",
        overrides,
        "accounts aligned apart from their unit's territory, with reason",
        text_columns=["reason"],
    )
    folder.csv(
        "roster.csv",
        _roster(plan, rep_role, manager_role, effective_date, end_date),
        "reps per territory; vacancy_flag Y marks a vacant leaf territory",
        text_columns=["role"],
    )
    moved = plan.accounts[plan.accounts["moved"] & (plan.accounts["previous_territory_id"] != "")]
    folder.csv(
        "Account_Territory_Loader_vod__c.csv",
        pd.DataFrame(
            {
                "Account_vod__c": moved["account_id"],
                "Territory_To_Add_vod__c": [f";{label[t]};" for t in moved["territory_id"]],
                "Territory_to_Drop_vod__c": [
                    f";{label.get(t, t)};" for t in moved["previous_territory_id"]
                ],
            }
        ),
        "realignment diff for moved accounts (Account_vod__c = the account's external id)",
        text_columns=["Territory_To_Add_vod__c", "Territory_to_Drop_vod__c"],
    )
    if (plan.members["email"] == "").any():
        folder.note(
            "Some roster rows have no username: Rep_Roster_vod__c.Username_External_Id_vod__c must "
            "equal the Salesforce username."
        )
    folder.section("Loading", LOADING)
    folder.notes.extend(plan.notes)
