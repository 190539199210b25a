"""HubSpot company import: owner (by email) and a territory dropdown property per company.

HubSpot has no territory object; the alignment lives in owners plus a custom
property. Rows update existing companies only when they carry a Record ID, which
comes from an optional mapping CSV (Record ID, account_id).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from territory_opt.export.csvsafe import lookup, read_key_csv
from territory_opt.export.folder import ExportFolder
from territory_opt.export.plan import build_plan, user_members
from territory_opt.results import Result

RECORD_ID = re.compile(r"^\d+$")
IMPORT_STEPS = """\
1. Create the company property '{territory}' (dropdown select) with the options in
   `territory_property_options.csv`{quota_step}.
2. Import `companies_territory_update.csv` as Companies; the Company owner column takes a
   user's email. Imported owner changes send no notifications.

If the Salesforce integration is on, owners follow Salesforce: use the Salesforce export
instead. Teams are user settings and are not part of this import."""


def write_hubspot(
    result: Result,
    folder: ExportFolder,
    *,
    record_ids: str | Path | None = None,
    record_key_column: str = "account_id",
    territory_property: str = "Territory",
    quota_property: str = "Territory quota",
    include_users: bool | str = "auto",
) -> None:
    """Write companies_territory_update.csv and the territory property's options.

    ``record_ids``: CSV with 'Record ID' and ``record_key_column`` (our account_id).
    The quota column is the annual quota of the company's territory, when quotas exist.
    """
    plan = build_plan(result)
    a = plan.accounts
    label = plan.label_of()
    frame = pd.DataFrame(index=range(len(a)))
    if record_ids:
        mapping = read_key_csv(
            record_ids,
            "record_ids",
            [record_key_column],
            "Record ID",
            RECORD_ID,
            "a numeric HubSpot Record ID",
        )
        frame["Record ID"] = lookup(mapping, a["account_id"], record_ids, "account_id")
    else:
        frame["account_id"] = a["account_id"].to_numpy()
        folder.note(
            "No record_ids mapping was given, so rows carry `account_id` instead of Record ID: "
            "map it to a unique company property (e.g. an external account id) when importing, or "
            "every row creates a new company."
        )
    frame["Company name"] = a["name"].to_numpy()
    members = user_members(plan, result, include_users, "HubSpot company owners")
    if members is None:
        folder.note("No rep emails, so the Company owner column was left out.")
    else:
        forecast = plan.forecast_users()
        owner = dict(zip(forecast["territory_id"], forecast["email"]))
        frame["Company owner"] = [owner.get(t) or "" for t in a["territory_id"]]
    frame[territory_property] = [label[t] for t in a["territory_id"]]
    if plan.quotas is not None:
        quota = dict(zip(plan.quotas["node_id"], plan.quotas["quota"]))
        frame[quota_property] = [quota.get(t) for t in a["territory_id"]]
    else:
        folder.note("No quotas in this result, so the quota column was left out.")
    folder.csv(
        "companies_territory_update.csv",
        frame,
        "company owner and territory per company (Import > Companies)",
        text_columns=["Company name", territory_property],
    )
    leaves = plan.hierarchy[plan.hierarchy["is_leaf"]]
    folder.csv(
        "territory_property_options.csv",
        pd.DataFrame({"Label": leaves["label"], "Internal value": leaves["territory_id"]}),
        f"options of the '{territory_property}' dropdown property (create it before importing)",
        text_columns=["Label"],
    )
    quota_step = f", and a number property '{quota_property}'" if plan.quotas is not None else ""
    folder.section(
        "Import steps", IMPORT_STEPS.format(territory=territory_property, quota_step=quota_step)
    )
    folder.notes.extend(plan.notes)
