"""Salesforce Enterprise Territory Management: Metadata API package + Data Loader CSVs.

The package (``metadata/``) creates one Territory2Type per hierarchy level, one
Territory2Model (deployed in Planning state) and one Territory2 per hierarchy node.
The CSVs load members, forecast managers, account associations (as add/drop diffs
when the current associations are given) and ForecastingQuota rows.

Salesforce record Ids are unknown to the plan, so every CSV is written as a ``_keys``
file (DeveloperNames, emails, account ids) and, when the optional id-mapping CSVs
resolve every key, also as the Id-based file Data Loader takes.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from xml.sax.saxutils import escape

import pandas as pd

from territory_opt.errors import InputError, InputIssue
from territory_opt.export.csvsafe import SALESFORCE_ID, lookup, read_key_csv
from territory_opt.export.folder import ExportFolder
from territory_opt.export.plan import Plan, build_plan, user_members
from territory_opt.quota.hierarchy import REP_LEVEL
from territory_opt.results import Result

DEVELOPER_NAME = re.compile(r"^[A-Za-z](?!.*__)[A-Za-z0-9_]*(?<!_)$")
DEVELOPER_NAME_MAX = 80
LABEL_MAX = 80
TERRITORIES_PER_MODEL = 1000
NAMESPACE = "http://soap.sforce.com/2006/04/metadata"
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _trim(text: str, limit: int) -> str:
    return text[:limit].rstrip("_")


def developer_name(text: str, prefix: str = "X") -> str:
    """A valid DeveloperName from any text: ASCII-folded, runs of other characters -> '_'.

    Starts with a letter (``prefix_`` is put before a leading digit; ``prefix`` alone
    for text with no usable character), no '__', no trailing '_', at most 80 chars.
    ``prefix`` must itself be a valid DeveloperName.
    """
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    core = re.sub(r"[^A-Za-z0-9]+", "_", folded).strip("_")
    if not core:
        return prefix
    if not core[0].isalpha():
        core = f"{prefix}_{core}"
    return _trim(core, DEVELOPER_NAME_MAX)


def unique_developer_names(texts: Iterable[str], prefix: str = "X") -> list[str]:
    """DeveloperNames for ``texts`` in order, unique case-insensitively (suffix _2, _3, ...)."""
    used: set[str] = set()
    names = []
    for text in texts:
        base = developer_name(text, prefix)
        name, k = base, 2
        while name.lower() in used:
            suffix = f"_{k}"
            name = _trim(base, DEVELOPER_NAME_MAX - len(suffix)) + suffix
            k += 1
        used.add(name.lower())
        names.append(name)
    return names


def _xml(text: str) -> str:
    return escape(_XML_ILLEGAL.sub("", text))


def _element(root: str, fields: list[tuple[str, str | None]]) -> str:
    body = "".join(f"    <{k}>{_xml(v)}</{k}>\n" for k, v in fields if v is not None)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{NAMESPACE}">\n{body}</{root}>\n'
    )


def _package_xml(members: dict[str, list[str]], api_version: str) -> str:
    types = "".join(
        "    <types>\n"
        + "".join(f"        <members>{_xml(m)}</members>\n" for m in sorted(names))
        + f"        <name>{kind}</name>\n    </types>\n"
        for kind, names in members.items()
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Package xmlns="{NAMESPACE}">\n{types}'
        f"    <version>{_xml(api_version)}</version>\n</Package>\n"
    )


def period_start(period: str, start_date: str | None = None) -> str:
    """First day of a quota period, yyyy-mm-dd: '2027-Q2' -> '2027-04-01', '2027-05' -> '2027-05-01'.

    Quarters are calendar quarters; a ``start_date`` (yyyy-mm-dd, first of a month)
    given by the quota engine wins, e.g. for a fiscal year starting in February.
    """
    if start_date:
        match = re.fullmatch(r"(\d{4})-(\d{2})-01", start_date)
        if not match or not 1 <= int(match[2]) <= 12:
            raise InputError(
                [
                    InputIssue(
                        "quota_periods",
                        "a start_date on the first of a month",
                        column="start_date",
                        value=start_date,
                    )
                ]
            )
        return start_date
    if match := re.fullmatch(r"(\d{4})-Q([1-4])", period):
        return f"{match[1]}-{3 * (int(match[2]) - 1) + 1:02d}-01"
    if (match := re.fullmatch(r"(\d{4})-(\d{2})", period)) and 1 <= int(match[2]) <= 12:
        return f"{match[1]}-{match[2]}-01"
    raise InputError(
        [
            InputIssue(
                "quota_periods", "a period like 2027-Q1 or 2027-01", column="period", value=period
            )
        ]
    )


class _Names:
    """DeveloperNames of the model, the level types and the territories."""

    def __init__(self, plan: Plan, model: str):
        self.model = developer_name(model, "Model")
        levels = list(dict.fromkeys(plan.hierarchy["level"]))
        self.type_of_level = dict(zip(levels, unique_developer_names(levels, "Level")))
        ids = list(plan.hierarchy["territory_id"])
        self.territory = dict(zip(ids, unique_developer_names(ids, "T")))


def _write_package(
    folder: ExportFolder, plan: Plan, names: _Names, label: str, api_version: str, description: str
) -> None:
    h = plan.hierarchy
    for priority, (level, type_name) in enumerate(names.type_of_level.items(), start=1):
        folder.text(
            f"metadata/territory2Types/{type_name}.territory2Type",
            _element(
                "Territory2Type",
                [
                    ("description", f"Hierarchy level '{level}'"),
                    ("name", level[:LABEL_MAX]),
                    ("priority", str(priority)),
                ],
            ),
        )
    model_dir = f"metadata/territory2Models/{names.model}"
    folder.text(
        f"{model_dir}/{names.model}.territory2Model",
        _element(
            "Territory2Model",
            [("description", description[:1000] or None), ("name", label[:LABEL_MAX])],
        ),
    )
    for row in h.itertuples(index=False):
        parent = names.territory[row.parent_id] if row.parent_id else None
        folder.text(
            f"{model_dir}/territories/{names.territory[row.territory_id]}.territory2",
            _element(
                "Territory2",
                [
                    ("description", f"{row.level} {row.territory_id}"),
                    ("name", row.label[:LABEL_MAX]),
                    ("parentTerritory", parent),
                    ("territory2Type", names.type_of_level[row.level]),
                ],
            ),
        )
    members = {
        "Territory2Type": list(names.type_of_level.values()),
        "Territory2Model": [names.model],
        "Territory2": [f"{names.model}.{names.territory[t]}" for t in h["territory_id"]],
    }
    folder.text(
        "metadata/package.xml",
        _package_xml(members, api_version),
        f"Metadata API package: {len(names.type_of_level)} Territory2Type, 1 Territory2Model "
        f"'{names.model}', {len(h)} Territory2 (files under metadata/)",
    )
    folder.csv(
        "territories_keys.csv",
        pd.DataFrame(
            {
                "DeveloperName": [names.territory[t] for t in h["territory_id"]],
                "territory_id": h["territory_id"],
                "Name": h["label"].str.slice(0, LABEL_MAX),
                "ParentDeveloperName": [names.territory[p] if p else "" for p in h["parent_id"]],
                "Territory2Type": [names.type_of_level[v] for v in h["level"]],
                "Depth": h["depth"],
            }
        ),
        "each territory's DeveloperName next to its territory_id (review; Id resolution)",
        text_columns=["Name"],
    )
    if len(h) > TERRITORIES_PER_MODEL:
        folder.note(
            f"{len(h)} territories exceed the default limit of {TERRITORIES_PER_MODEL} per "
            "model; ask Salesforce to raise it before deploying."
        )


class _Ids:
    """Optional id-mapping CSVs (Salesforce exports) -> Id lists, or None when not given."""

    def __init__(
        self,
        users: str | Path | None,
        territories: str | Path | None,
        accounts: str | Path | None,
        account_key_column: str,
    ):
        self.paths = {"users": users, "territory_ids": territories, "account_ids": accounts}
        self.users = read_key_csv(users, "users", ["Email", "Username"], "Id") if users else None
        self.territories = (
            read_key_csv(territories, "territory_ids", ["DeveloperName"], "Id")
            if territories
            else None
        )
        self.accounts = (
            read_key_csv(accounts, "account_ids", [account_key_column], "Id") if accounts else None
        )

    def resolve(self, option: str, keys: list[str], what: str) -> list[str] | None:
        table = {
            "users": self.users,
            "territory_ids": self.territories,
            "account_ids": self.accounts,
        }[option]
        return None if table is None else lookup(table, keys, self.paths[option], what)


def _pair(
    folder: ExportFolder,
    stem: str,
    keys: pd.DataFrame,
    ids: pd.DataFrame | None,
    description: str,
    text_columns: list[str],
    pending: list[str],
    missing: list[str],
) -> None:
    """Write ``stem_keys.csv``, and ``stem.csv`` when every Id resolved; else record the lookups."""
    folder.csv(
        f"{stem}_keys.csv",
        keys,
        f"{description} (human-readable keys, for review)",
        text_columns=text_columns,
    )
    if ids is not None:
        folder.csv(f"{stem}.csv", ids, f"{description} (Data Loader: Salesforce Ids)")
    else:
        pending.append(f"`{stem}.csv` needs: {', '.join(missing)}")


def _account_associations(
    folder: ExportFolder,
    plan: Plan,
    names: _Names,
    ids: _Ids,
    current: str | Path | None,
    pending: list[str],
) -> None:
    a = plan.accounts
    label = plan.label_of()
    dev = [names.territory[t] for t in a["territory_id"]]
    object_ids = ids.resolve("account_ids", list(a["account_id"]), "account_id")
    territory_ids = ids.resolve("territory_ids", dev, "Territory2 DeveloperName")
    if current is None:
        keys = pd.DataFrame(
            {
                "account_id": a["account_id"],
                "AccountName": a["name"],
                "Territory2DeveloperName": dev,
                "TerritoryName": [label[t] for t in a["territory_id"]],
                "AssociationCause": "Territory2Manual",
            }
        )
        id_frame = None
        if object_ids is not None and territory_ids is not None:
            id_frame = pd.DataFrame(
                {
                    "ObjectId": object_ids,
                    "Territory2Id": territory_ids,
                    "AssociationCause": "Territory2Manual",
                }
            )
        _pair(
            folder,
            "05_account_territory_associations_insert",
            keys,
            id_frame,
            "ObjectTerritory2Association insert: every account into its territory",
            ["AccountName", "TerritoryName"],
            pending,
            [
                m
                for m, v in (("account_ids", object_ids), ("territory_ids", territory_ids))
                if v is None
            ],
        )
        return
    if object_ids is None or territory_ids is None:
        raise InputError(
            [
                InputIssue(
                    str(current),
                    "also the options account_ids and territory_ids, to "
                    "compare current associations by Salesforce Id",
                    column="current_associations",
                )
            ]
        )
    _association_diff(folder, plan, names, ids, current, object_ids, territory_ids)


def _read_current(path: str | Path) -> pd.DataFrame:
    """Current ObjectTerritory2Associations: Id, ObjectId, Territory2Id[, AssociationCause]."""
    path = Path(path)
    if not path.is_file():
        raise InputError(
            [InputIssue(str(path), "an existing CSV file (option current_associations)")]
        )
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    lower = {c.strip().lower(): c for c in raw.columns}
    required = ["Id", "ObjectId", "Territory2Id"]
    issues = [
        InputIssue(str(path), f"a '{c}' column", column="<header>", value=", ".join(raw.columns))
        for c in required
        if c.lower() not in lower
    ]
    if issues:
        raise InputError(issues)
    frame = pd.DataFrame({c: raw[lower[c.lower()]].str.strip() for c in required})
    frame["AssociationCause"] = (
        raw[lower["associationcause"]] if "associationcause" in lower else ""
    )
    for column in required:
        for row, value in enumerate(frame[column], start=2):
            if not SALESFORCE_ID.match(value):
                issues.append(
                    InputIssue(
                        str(path),
                        "a 15- or 18-character Salesforce Id",
                        row=row,
                        column=column,
                        value=value,
                    )
                )
    if issues:
        raise InputError(issues)
    return frame


def _association_diff(
    folder: ExportFolder,
    plan: Plan,
    names: _Names,
    ids: _Ids,
    current_path: str | Path,
    object_ids: list[str],
    territory_ids: list[str],
) -> None:
    """Deletes + inserts turning the current ObjectTerritory2Associations into the plan.

    Ids compare on their first 15 characters (18-character Ids only add a checksum).
    Rows of territories outside this model or accounts outside the plan are left alone.
    """
    current = _read_current(current_path)
    a = plan.accounts
    model_devs = list(names.territory.values())
    model_ids = ids.resolve("territory_ids", model_devs, "Territory2 DeveloperName")
    dev_of = {t[:15]: d for t, d in zip(model_ids, model_devs)}
    account_of = {o[:15]: acc for o, acc in zip(object_ids, a["account_id"])}
    target = {(o[:15], t[:15]) for o, t in zip(object_ids, territory_ids)}

    deletes, kept, outside, rule_based = [], set(), 0, 0
    for row in current.itertuples(index=False):
        pair = (row.ObjectId[:15], row.Territory2Id[:15])
        if pair[1] not in dev_of or pair[0] not in account_of:
            outside += 1
        elif pair in target:
            kept.add(pair)
        else:
            deletes.append((row.Id, account_of[pair[0]], dev_of[pair[1]]))
            rule_based += row.AssociationCause not in ("", "Territory2Manual")
    insert = [(o[:15], t[:15]) not in kept for o, t in zip(object_ids, territory_ids)]
    new_dev = dict(zip(a["account_id"], (names.territory[t] for t in a["territory_id"])))
    name_of = dict(zip(a["account_id"], a["name"]))
    label = plan.label_of()

    folder.csv(
        "06_account_territory_associations_delete.csv",
        pd.DataFrame({"Id": [d[0] for d in deletes]}, dtype=object),
        "ObjectTerritory2Association delete (Data Loader: Ids); run before the inserts",
    )
    folder.csv(
        "06_account_territory_associations_delete_keys.csv",
        pd.DataFrame(
            {
                "Id": [d[0] for d in deletes],
                "account_id": [d[1] for d in deletes],
                "AccountName": [name_of[d[1]] for d in deletes],
                "FromTerritory2DeveloperName": [d[2] for d in deletes],
                "ToTerritory2DeveloperName": [new_dev[d[1]] for d in deletes],
            },
            dtype=object,
        ),
        "ObjectTerritory2Association delete (human-readable keys, for review)",
        text_columns=["AccountName"],
    )
    added = a[insert]
    folder.csv(
        "07_account_territory_associations_insert.csv",
        pd.DataFrame(
            {
                "ObjectId": [o for o, keep in zip(object_ids, insert) if keep],
                "Territory2Id": [t for t, keep in zip(territory_ids, insert) if keep],
                "AssociationCause": "Territory2Manual",
            },
            dtype=object,
        ),
        "ObjectTerritory2Association insert (Data Loader: Ids); accounts new to a territory",
    )
    folder.csv(
        "07_account_territory_associations_insert_keys.csv",
        pd.DataFrame(
            {
                "account_id": added["account_id"],
                "AccountName": added["name"],
                "Territory2DeveloperName": [names.territory[t] for t in added["territory_id"]],
                "TerritoryName": [label[t] for t in added["territory_id"]],
                "AssociationCause": "Territory2Manual",
            },
            dtype=object,
        ),
        "ObjectTerritory2Association insert (human-readable keys, for review)",
        text_columns=["AccountName", "TerritoryName"],
    )
    moves = len({d[1] for d in deletes} & set(added["account_id"]))
    folder.note(
        f"Realignment diff against `{Path(current_path).name}`: {len(deletes)} delete(s), "
        f"{len(added)} insert(s), {len(kept)} association(s) unchanged, {moves} account move(s) "
        f"(a move is a delete plus an insert); {outside} current row(s) outside this model or "
        "plan left alone. Deletes skip the recycle bin: keep the current-associations export."
    )
    if rule_based:
        folder.note(
            f"{rule_based} delete(s) are rule-based associations; the assignment rules will "
            "re-add them unless the rules change too."
        )


def _user_files(
    folder: ExportFolder,
    plan: Plan,
    members: pd.DataFrame,
    names: _Names,
    ids: _Ids,
    rep_role: str,
    manager_role: str,
    pending: list[str],
) -> pd.DataFrame:
    leaf = dict(zip(plan.hierarchy["territory_id"], plan.hierarchy["is_leaf"]))
    label = plan.label_of()
    dev = [names.territory[t] for t in members["territory_id"]]
    role = [rep_role if leaf[t] else manager_role for t in members["territory_id"]]
    user_ids = ids.resolve("users", list(members["email"]), "user email")
    territory_ids = ids.resolve("territory_ids", dev, "Territory2 DeveloperName")
    keys = pd.DataFrame(
        {
            "Territory2DeveloperName": dev,
            "TerritoryName": [label[t] for t in members["territory_id"]],
            "UserEmail": members["email"],
            "RepId": members["rep_id"],
            "RepName": members["name"],
            "RoleInTerritory2": role,
        }
    )
    id_frame = None
    if user_ids is not None and territory_ids is not None:
        id_frame = pd.DataFrame(
            {"UserId": user_ids, "Territory2Id": territory_ids, "RoleInTerritory2": role}
        )
    missing = [m for m, v in (("users", user_ids), ("territory_ids", territory_ids)) if v is None]
    _pair(
        folder,
        "03_user_territory_associations",
        keys,
        id_frame,
        "UserTerritory2Association insert: reps and managers into territories",
        ["TerritoryName", "RepName", "RoleInTerritory2"],
        pending,
        missing,
    )

    owners = plan.forecast_users()
    owner_dev = [names.territory[t] for t in owners["territory_id"]]
    keys = pd.DataFrame(
        {
            "Territory2DeveloperName": owner_dev,
            "ForecastUserEmail": owners["email"],
            "RepId": owners["rep_id"],
        }
    )
    owner_ids = ids.resolve("users", list(owners["email"]), "user email")
    owner_territories = ids.resolve("territory_ids", owner_dev, "Territory2 DeveloperName")
    id_frame = None
    if owner_ids is not None and owner_territories is not None:
        id_frame = pd.DataFrame({"Id": owner_territories, "ForecastUserId": owner_ids})
    _pair(
        folder,
        "04_territory_forecast_users",
        keys,
        id_frame,
        "Territory2 update: forecast manager per territory (must already be a member)",
        [],
        pending,
        missing,
    )
    return owners


def _months(start: str, end: str) -> int:
    (y0, m0), (y1, m1) = (map(int, d.split("-")[:2]) for d in (start, end))
    return (y1 - y0) * 12 + m1 - m0


def _quota_owner_rows(plan: Plan, owners: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Per-period quotas as territory x owner rows, plus notes on what was left out.

    A rep node (level 'rep') is owned by that rep in its parent territory; a territory
    node by the territory's forecast manager, unless a rep row already covers the same
    owner, territory and period (the rep row carries ramp and vacancy adjustments).
    """
    periods = plan.quota_periods
    territories = set(plan.hierarchy["territory_id"])
    manager = dict(zip(owners["territory_id"], owners["email"]))
    email = dict(zip(plan.members["rep_id"], plan.members["email"]))
    rep_territory = {}
    if plan.quotas is not None:
        reps = plan.quotas[plan.quotas["level"] == REP_LEVEL]
        rep_territory = dict(zip(reps["node_id"], reps["parent_id"]))
    starts = [
        period_start(p, s)
        for p, s in zip(periods["period"], periods.get("start_date", [""] * len(periods)))
    ]
    rows, vacant, outside = [], set(), set()
    for node, period, start, quota in zip(
        periods["node_id"], periods["period"], starts, periods["quota"]
    ):
        if node in territories:
            if manager.get(node):
                rows.append((node, manager[node], period, start, quota, 1))
            else:
                vacant.add(node)
        elif rep_territory.get(node) in territories and email.get(node):
            rows.append((rep_territory[node], email[node], period, start, quota, 0))
        else:
            outside.add(node)
    frame = pd.DataFrame(
        rows, columns=["territory_id", "email", "period", "start_date", "quota", "from_territory"]
    )
    order = {t: i for i, t in enumerate(plan.hierarchy["territory_id"])}
    frame["_order"] = frame["territory_id"].map(order)
    frame = frame.sort_values(["from_territory", "_order", "email", "start_date"], kind="stable")
    covered = frame.duplicated(["territory_id", "email", "start_date"], keep="first")
    notes = []
    if covered.any():
        notes.append(
            f"{int(covered.sum())} territory quota row(s) left out: the rep's own quota "
            "row covers the same owner, territory and period."
        )
    if vacant:
        notes.append(
            "Quotas of territories without a forecast manager (no owner) left out: "
            + ", ".join(sorted(vacant)[:10])
            + "."
        )
    if outside:
        notes.append(
            "Quotas of nodes outside the territory hierarchy (e.g. company, house) left "
            "out: " + ", ".join(sorted(outside)[:10]) + "."
        )
    frame = frame[~covered].sort_values(["_order", "email", "start_date"], kind="stable")
    return frame.drop(columns=["_order", "from_territory"]).reset_index(drop=True), notes


def _quota_files(
    folder: ExportFolder,
    plan: Plan,
    owners: pd.DataFrame | None,
    names: _Names,
    ids: _Ids,
    forecasting_type_id: str | None,
    currency: str,
    pending: list[str],
) -> None:
    periods = plan.quota_periods
    if periods is None:
        folder.note(
            "No per-period quotas in this result, so no ForecastingQuota files were written."
        )
        return
    if owners is None:
        folder.note(
            "Per-period quotas exist but no rep emails do, so no ForecastingQuota files were "
            "written (a quota needs an owner)."
        )
        return
    if "end_date" in periods and "start_date" in periods:
        lengths = {_months(s, e) for s, e in zip(periods["start_date"], periods["end_date"])}
        if not lengths <= {1, 3}:
            folder.note(
                "Quota periods are not months or quarters, so no ForecastingQuota files were "
                "written: Salesforce quotas follow the org's monthly or quarterly forecast "
                "periods (set the scenario's quota seasonality)."
            )
            return
    usable, notes = _quota_owner_rows(plan, owners)
    for note in notes:
        folder.note(note)
    starts = list(usable["start_date"])
    emails = list(usable["email"])
    dev = [names.territory[t] for t in usable["territory_id"]]
    keys = pd.DataFrame(
        {
            "Territory2DeveloperName": dev,
            "QuotaOwnerEmail": emails,
            "Period": usable["period"].to_numpy(),
            "StartDate": starts,
            "QuotaAmount": usable["quota"].to_numpy(),
            "CurrencyIsoCode": currency,
            "ForecastingTypeId": forecasting_type_id or "",
        }
    )
    user_ids = ids.resolve("users", emails, "user email")
    territory_ids = ids.resolve("territory_ids", dev, "Territory2 DeveloperName")
    id_frame = None
    if user_ids is not None and territory_ids is not None and forecasting_type_id:
        id_frame = pd.DataFrame(
            {
                "QuotaOwnerId": user_ids,
                "Territory2Id": territory_ids,
                "ForecastingTypeId": forecasting_type_id,
                "StartDate": starts,
                "QuotaAmount": usable["quota"].to_numpy(),
                "CurrencyIsoCode": currency,
            }
        )
    missing = [
        m
        for m, v in (
            ("users", user_ids),
            ("territory_ids", territory_ids),
            ("forecasting_type_id", forecasting_type_id),
        )
        if not v
    ]
    _pair(
        folder,
        "08_forecasting_quotas",
        keys,
        id_frame,
        "ForecastingQuota insert, one row per owner × period (load after activation)",
        [],
        pending,
        missing,
    )


LOAD_ORDER = """\
1. Deploy `metadata/` with the Metadata API
   (e.g. `sf project deploy start --metadata-dir metadata`).
   It creates the territory types, the model **in Planning state** and the territories (parents
   are retried after children, so one package is enough). The deploy fails if an *Archived* model
   has the same DeveloperName.
2. Resolve Ids: `SELECT Id, DeveloperName FROM Territory2 WHERE Territory2Model.DeveloperName =
   '{model}'`, users (`SELECT Id, Email FROM User WHERE IsActive = true`) and accounts; pass them
   as `territory_ids=`, `users=`, `account_ids=` to re-export with the Id files filled.
3. Insert `03_user_territory_associations.csv` (UserTerritory2Association).
4. Update `04_territory_forecast_users.csv` (Territory2: Id, ForecastUserId); forecast users must
   already be members.
5. Accounts: delete `06_..._delete.csv` then insert `07_..._insert.csv` (a move is a delete plus an
   insert; there is no update), or, without a current-associations export, insert
   `05_account_territory_associations_insert.csv`. Accounts with IsExcludedFromRealign are
   skipped by rules, not by manual associations.
6. Preview and **activate** the model. Only one model per org can be Active.
7. **Before archiving the old model, export its quotas**: archiving deletes its territory
   forecasts, forecast types, quotas and adjustments.
8. After activation, insert `08_forecasting_quotas.csv` (ForecastingQuota; needs Manage Quotas and
   View All Forecasts). Quotas don't roll up, so manager rows are included.

All CSVs are UTF-8 without BOM, comma separated, first row = API names; the `_keys` twins are
for review and are not loaded."""


def write_salesforce(
    result: Result,
    folder: ExportFolder,
    *,
    model_name: str | None = None,
    model_label: str | None = None,
    api_version: str = "62.0",
    users: str | Path | None = None,
    territory_ids: str | Path | None = None,
    account_ids: str | Path | None = None,
    account_key_column: str = "account_id",
    current_associations: str | Path | None = None,
    forecasting_type_id: str | None = None,
    currency: str = "USD",
    rep_role: str = "Sales Rep",
    manager_role: str = "Sales Manager",
    include_users: bool | str = "auto",
) -> None:
    """Write the Salesforce ETM package and Data Loader CSVs into ``folder``.

    Id mappings are CSV exports: ``users`` (Email or Username, Id), ``territory_ids``
    (DeveloperName, Id), ``account_ids`` (``account_key_column``, Id).
    ``current_associations`` (Id, ObjectId, Territory2Id) turns account associations
    into delete + insert diffs. ``include_users``: see :func:`user_members`.
    """
    plan = build_plan(result)
    names = _Names(plan, model_name or result.scenario.name)
    if model_name and names.model != model_name:
        folder.note(
            f"Model name '{model_name}' is not a valid DeveloperName; used '{names.model}'."
        )
    ids = _Ids(users, territory_ids, account_ids, account_key_column)
    pending: list[str] = []
    _write_package(
        folder,
        plan,
        names,
        model_label or result.scenario.name,
        api_version,
        result.scenario.description,
    )
    members = user_members(plan, result, include_users, "Salesforce user associations")
    owners = None
    if members is None:
        folder.note(
            "No rep emails, so no user association, forecast manager or quota files were written."
        )
    else:
        owners = _user_files(folder, plan, members, names, ids, rep_role, manager_role, pending)
    _account_associations(folder, plan, names, ids, current_associations, pending)
    _quota_files(folder, plan, owners, names, ids, forecasting_type_id, currency, pending)
    folder.section("Load order", LOAD_ORDER.format(model=names.model))
    if pending:
        folder.section(
            "Lookups to resolve",
            "Only the `_keys` files were written for these; give the "
            "id-mapping CSVs to get the Id files:\n\n" + "\n".join(f"- {p}" for p in pending),
        )
    folder.notes.extend(plan.notes)
