"""Microsoft Dynamics 365 Sales (Dataverse) import files, UTF-8 with BOM.

territories_level{n}.csv (n = 1 at the top; import in order so parents exist first),
users_territory_update.csv (systemuser.territoryid: each user in exactly one
territory) and accounts_territory_update.csv (account.territoryid, plus the owner).
Lookups resolve by territory name and user email, so territory names are made unique.
"""

from __future__ import annotations

import pandas as pd

from territory_opt.errors import InputError, InputIssue
from territory_opt.export.folder import ExportFolder
from territory_opt.export.plan import build_plan, user_members
from territory_opt.results import Result

NAME_MAX = 200
DESCRIPTION_MAX = 2000
IMPORT_MAX_BYTES = 8 * 1024 * 1024
IMPORT_ORDER = """\
1. Import `territories_level1.csv`, then level 2, ... (parents first); map Parent to the
   Territory lookup by Name, Manager to User by Primary Email, Currency by ISO Currency Code.
2. Import `users_territory_update.csv` as an update of User (each user belongs to exactly
   one territory).
3. Import `accounts_territory_update.csv` as an update of Account; make Account Number an
   alternate key (or map it) so rows update instead of create. Owner is separate from
   Territory.

Files are UTF-8 with BOM (needed for non-ASCII names), at most 8 MB per file."""


def _check_one_territory_per_user(members: pd.DataFrame, reps_file: str) -> None:
    """Dynamics stores one territory per user: a rep email in two territories is an error."""
    email = members["email"].str.lower()
    territories = members.groupby(email)["territory_id"].agg(lambda s: sorted(set(s)))
    issues = []
    for key, places in territories.items():
        if len(places) > 1:
            rows = members[email == key]
            row = rows["source_row"].dropna()
            issues.append(
                InputIssue(
                    reps_file,
                    "each user in exactly one territory (Dynamics systemuser.territoryid)",
                    row=int(row.iloc[0]) if len(row) else None,
                    column="territory_id",
                    value=f"{rows['email'].iloc[0]}: {', '.join(places)}",
                )
            )
    if issues:
        raise InputError(issues)


def write_dynamics(
    result: Result,
    folder: ExportFolder,
    *,
    currency: str = "USD",
    include_users: bool | str = "auto",
    include_owner: bool = True,
) -> None:
    """Write the Dynamics 365 territory, user and account import files into ``folder``.

    ``currency`` fills the Currency lookup (match it on ISO Currency Code);
    ``include_owner`` adds the account owner (the territory's rep email).
    """
    plan = build_plan(result)
    h = plan.hierarchy
    label = {t: v[:NAME_MAX] for t, v in plan.label_of().items()}
    forecast = plan.forecast_users()
    manager = dict(zip(forecast["territory_id"], forecast["email"]))
    for depth, level in h.groupby("depth", sort=True):
        frame = pd.DataFrame(
            {
                "Territory Name": [label[t] for t in level["territory_id"]],
                "Parent": [label[p] if p else "" for p in level["parent_id"]],
                "Manager": [manager.get(t) or "" for t in level["territory_id"]],
                "Description": [
                    f"{lv} {t}"[:DESCRIPTION_MAX]
                    for lv, t in zip(level["level"], level["territory_id"])
                ],
                "Currency": currency,
            }
        )
        folder.csv(
            f"territories_level{depth}.csv",
            frame,
            f"territories at depth {depth} ({', '.join(dict.fromkeys(level['level']))}); import "
            "level 1 first",
            text_columns=["Territory Name", "Parent", "Description"],
            bom=True,
        )

    members = user_members(plan, result, include_users, "Dynamics user territories")
    if members is None:
        folder.note("No rep emails, so users_territory_update.csv was not written.")
    else:
        _check_one_territory_per_user(members, str(result.dataset.sources.get("reps", "reps")))
        users = pd.DataFrame(
            {
                "Primary Email": members["email"],
                "Full Name": members["name"],
                "Territory": [label[t] for t in members["territory_id"]],
            }
        )
        folder.csv(
            "users_territory_update.csv",
            users.sort_values("Primary Email", kind="stable"),
            "systemuser.territoryid update, matched on Primary Email",
            text_columns=["Full Name", "Territory"],
            bom=True,
        )

    a = plan.accounts
    accounts = pd.DataFrame(
        {
            "Account Number": a["account_id"],
            "Account Name": a["name"],
            "Territory": [label[t] for t in a["territory_id"]],
        }
    )
    if include_owner and members is not None:
        accounts["Owner"] = [manager.get(t) or "" for t in a["territory_id"]]
        vacant = int((accounts["Owner"] == "").sum())
        if vacant:
            folder.note(
                f"{vacant} account(s) are in vacant territories: their Owner cell is blank, which "
                "an update import leaves unchanged."
            )
    folder.csv(
        "accounts_territory_update.csv",
        accounts,
        "account.territoryid (and owner) update, matched on Account Number",
        text_columns=["Account Name", "Territory"],
        bom=True,
    )
    folder.section("Import order", IMPORT_ORDER)
    for name, _, _ in folder.files:
        if (folder.path / name).stat().st_size > IMPORT_MAX_BYTES:
            folder.note(f"`{name}` exceeds the 8 MB import limit: split it or zip it (32 MB).")
    folder.notes.extend(plan.notes)
