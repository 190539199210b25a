"""One canonical view of a chosen plan, shared by every CRM/GIS writer.

The writers only reformat this view: hierarchy (parents first), members (which rep
sits in which territory node), account alignment, unit alignment and quotas.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from territory_opt.errors import InputError, InputIssue
from territory_opt.export.csvsafe import cell_text, text_values
from territory_opt.results import Result


@dataclass(frozen=True)
class Plan:
    """The plan as plain string-keyed frames.

    Missing text is '' throughout (never None/NaN).

    hierarchy: territory_id, parent_id, level (name), name, depth (1 = top), is_leaf,
        label (the name, made unique with " (territory_id)" where names repeat); rows
        ordered parents first (depth, then file order).
    members: rep_id, territory_id, name, email, start_date (yyyy-mm-dd text), primary
        (the plan's rep of a leaf), source_row (row in the reps file, header = 1);
        ordered by hierarchy, primary first, then rep_id.
    accounts: account_id, name, unit_id, lat, lon, territory_id, previous_territory_id,
        moved, reason; ordered by account_id.
    units: unit_id, territory_id (or None without units); ordered by unit_id.
    quotas: node_id, level, parent_id, quota (annual; None when the result has none); the
        quota engine adds rep nodes (level 'rep', parent_id = the rep's leaf territory).
    quota_periods: node_id, period, quota[, start_date, end_date (exclusive), yyyy-mm-dd]
        (None when absent).
    """

    hierarchy: pd.DataFrame
    members: pd.DataFrame
    accounts: pd.DataFrame
    units: pd.DataFrame | None
    quotas: pd.DataFrame | None
    quota_periods: pd.DataFrame | None
    notes: list[str] = field(default_factory=list)

    def forecast_users(self) -> pd.DataFrame:
        """One member per territory node: the primary one (forecast manager, quota owner)."""
        return self.members.drop_duplicates("territory_id", keep="first").reset_index(drop=True)

    def label_of(self) -> dict[str, str]:
        """Territory id -> unique display name (the hierarchy's label)."""
        return dict(zip(self.hierarchy["territory_id"], self.hierarchy["label"]))


def _text(value: object) -> str:
    """Trimmed text; '' for missing (pandas 3 turns None into NaN in text columns)."""
    return cell_text(value).strip()


def alignment_frame(result: Result) -> pd.DataFrame:
    """The exported account -> territory mapping: account_id, territory_id (text, by account_id)."""
    frame = pd.DataFrame(
        {
            "account_id": text_values(result.assignments["account_id"]),
            "territory_id": text_values(result.assignments["territory_id"]),
        }
    )
    return frame.sort_values("account_id", kind="stable").reset_index(drop=True)


def _hierarchy(result: Result) -> pd.DataFrame:
    given = result.dataset.territories
    frame = pd.DataFrame(
        {
            "territory_id": [cell_text(v) for v in given["territory_id"]],
            "parent_id": [_text(v) for v in given["parent_id"]],
            "level": [_text(v) for v in given["level"]],
            "name": [_text(v) for v in given["name"]],
        }
    )
    parent_of = dict(zip(frame["territory_id"], frame["parent_id"]))
    issues = []
    depths = []
    for row, tid in enumerate(frame["territory_id"], start=2):
        depth, node, seen = 1, parent_of[tid], {tid}
        while node and node in parent_of and node not in seen:
            seen.add(node)
            depth, node = depth + 1, parent_of[node]
        if node:
            reason = (
                "a parent_id that is a known territory_id" if node not in parent_of else "no cycle"
            )
            issues.append(
                InputIssue("territories", reason, row=row, column="parent_id", value=node)
            )
        depths.append(depth)
    if issues:
        raise InputError(issues)
    frame["depth"] = depths
    parents = set(frame["parent_id"]) - {""}
    frame["is_leaf"] = ~frame["territory_id"].isin(parents)
    frame["level"] = [level or f"level{d}" for level, d in zip(frame["level"], frame["depth"])]
    display = pd.Series(
        [n or t for n, t in zip(frame["name"], frame["territory_id"])], index=frame.index
    )
    repeated = display.str.lower().duplicated(keep=False)
    frame["label"] = display.where(~repeated, display + " (" + frame["territory_id"] + ")")
    frame["order"] = range(len(frame))
    frame = frame.sort_values(["depth", "order"], kind="stable").drop(columns="order")
    return frame.reset_index(drop=True)


def _members(result: Result, hierarchy: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Reps per territory node: each leaf's planned rep, then the other reps where the reps file puts them."""
    reps = result.dataset.reps
    info = {cell_text(r["rep_id"]): (row, r) for row, (_, r) in enumerate(reps.iterrows(), start=2)}
    rows = []
    if "rep_id" in result.territories:
        for r in result.territories.dropna(subset=["rep_id"]).itertuples(index=False):
            rows.append(
                (
                    cell_text(r.rep_id),
                    cell_text(r.territory_id),
                    True,
                    _text(getattr(r, "rep_name", None)),
                    _text(getattr(r, "rep_email", None)),
                )
            )
    placed = {rep for rep, *_ in rows}
    for rep_id, (_, r) in info.items():
        if rep_id not in placed and _text(r["territory_id"]):
            rows.append((rep_id, cell_text(r["territory_id"]), False, "", ""))
    order = {t: i for i, t in enumerate(hierarchy["territory_id"])}
    notes = []
    unknown = sorted({(rep, t) for rep, t, *_ in rows if t not in order})
    if unknown:
        notes.append(
            f"{len(unknown)} rep(s) skipped because their territory is not in the hierarchy: "
            + ", ".join(f"{rep} ({t})" for rep, t in unknown[:10])
        )
    members = []
    for rep_id, tid, primary, name, email in rows:
        if tid not in order:
            continue
        source_row, source = info.get(rep_id, (None, None))
        members.append(
            {
                "rep_id": rep_id,
                "territory_id": tid,
                "name": _text(source.get("name")) if source is not None else name,
                "email": (_text(source.get("email")) if source is not None else "") or email,
                "start_date": _text(source.get("start_date")) if source is not None else "",
                "primary": primary,
                "source_row": source_row,
                "_order": order[tid],
            }
        )
    columns = [
        "rep_id",
        "territory_id",
        "name",
        "email",
        "start_date",
        "primary",
        "source_row",
        "_order",
    ]
    frame = pd.DataFrame(members, columns=columns)
    frame = frame.sort_values(
        ["_order", "primary", "rep_id"], ascending=[True, False, True], kind="stable"
    )
    return frame.drop(columns="_order").reset_index(drop=True), notes


def _accounts(result: Result, known: set[str]) -> pd.DataFrame:
    a = result.assignments
    blank = pd.Series([""] * len(a), index=a.index, dtype=object)

    def text(name: str) -> list[str]:
        return text_values(a[name]) if name in a else list(blank)

    def number(name: str) -> np.ndarray:
        return (
            pd.to_numeric(a[name], errors="coerce").to_numpy(float)
            if name in a
            else np.full(len(a), np.nan)
        )

    moved = a.get("moved", blank)
    frame = pd.DataFrame(
        {
            "account_id": text("account_id"),
            "name": text("name"),
            "unit_id": text("unit_id"),
            "lat": number("lat"),
            "lon": number("lon"),
            "territory_id": text("territory_id"),
            "previous_territory_id": text("previous_territory_id"),
            "moved": moved.astype(object).where(moved.notna(), False).astype(bool).to_numpy(),
            "reason": text("reason"),
        }
    )
    bad = [(row, t) for row, t in enumerate(frame["territory_id"], start=2) if t not in known]
    if bad:
        raise InputError(
            [
                InputIssue(
                    "assignments",
                    "a territory_id of the hierarchy",
                    row=row,
                    column="territory_id",
                    value=t,
                )
                for row, t in bad
            ]
        )
    return frame.sort_values("account_id", kind="stable").reset_index(drop=True)


def _units(result: Result) -> pd.DataFrame | None:
    if result.units is None or len(result.units) == 0:
        return None
    frame = pd.DataFrame(
        {
            "unit_id": [cell_text(v) for v in result.units["unit_id"]],
            "territory_id": [_text(v) for v in result.units["territory_id"]],
        }
    )
    return frame.sort_values("unit_id", kind="stable").reset_index(drop=True)


def _quotas(result: Result) -> pd.DataFrame | None:
    if result.quotas is None or "quota" not in result.quotas:
        return None
    q = result.quotas
    blank = [""] * len(q)
    return pd.DataFrame(
        {
            "node_id": [cell_text(v) for v in q["node_id"]],
            "level": [_text(v) for v in q["level"]] if "level" in q else blank,
            "parent_id": [_text(v) for v in q["parent_id"]] if "parent_id" in q else blank,
            "quota": pd.to_numeric(q["quota"], errors="coerce").to_numpy(),
        }
    )


def _quota_periods(result: Result) -> pd.DataFrame | None:
    periods = result.extras.get("quota_periods")
    if periods is None or len(periods) == 0:
        return None
    missing = [c for c in ("node_id", "period", "quota") if c not in periods]
    if missing:
        raise InputError(
            [
                InputIssue("quota_periods", "columns node_id, period, quota", column=c)
                for c in missing
            ]
        )
    frame = pd.DataFrame(
        {
            "node_id": [cell_text(v) for v in periods["node_id"]],
            "period": [cell_text(v) for v in periods["period"]],
            "quota": pd.to_numeric(periods["quota"], errors="coerce").to_numpy(),
        }
    )
    for column in ("start_date", "end_date"):
        if column in periods:
            frame[column] = [
                cell_text(pd.Timestamp(v)) if _text(v) else "" for v in periods[column]
            ]
    return frame.sort_values(["node_id", "period"], kind="stable").reset_index(drop=True)


def build_plan(result: Result) -> Plan:
    """Collect and check the plan view; InputError when assignments name unknown territories."""
    hierarchy = _hierarchy(result)
    members, notes = _members(result, hierarchy)
    renamed = [
        t
        for t, label, name in zip(hierarchy["territory_id"], hierarchy["label"], hierarchy["name"])
        if label != (name or t)
    ]
    if renamed:
        notes.append(
            f"{len(renamed)} territory name(s) repeat, so they are written as 'name (territory_id)' "
            f"to keep name lookups unambiguous: {', '.join(renamed[:10])}."
        )
    accounts = _accounts(result, set(hierarchy["territory_id"]))
    return Plan(
        hierarchy, members, accounts, _units(result), _quotas(result), _quota_periods(result), notes
    )


def user_members(
    plan: Plan, result: Result, include: bool | str, purpose: str
) -> pd.DataFrame | None:
    """Members to export as CRM users, or None when skipped.

    ``include``: True (every member needs an email), False (skip), or "auto" (skip
    when no rep has an email, else like True). A missing email is an InputError
    naming the reps file, row and rep.
    """
    if isinstance(include, str):  # from the command line
        include = {"true": True, "false": False}.get(include.lower(), include)
    if include is False:
        return None
    if include not in (True, "auto"):
        raise InputError(
            [
                InputIssue(
                    "export options",
                    "include_users = true, false or 'auto'",
                    column="include_users",
                    value=str(include),
                )
            ]
        )
    has_email = plan.members["email"] != ""
    if include == "auto" and not has_email.any():
        return None
    reps_file = str(result.dataset.sources.get("reps", "reps"))
    if plan.members.empty:
        raise InputError([InputIssue(reps_file, f"at least one rep with a territory ({purpose})")])
    missing = plan.members[~has_email]
    if len(missing):
        raise InputError(
            [
                InputIssue(
                    reps_file,
                    f"an email for every rep ({purpose})",
                    row=None if pd.isna(r.source_row) else int(r.source_row),
                    column="email",
                    value=r.rep_id,
                )
                for r in missing.itertuples(index=False)
            ]
        )
    return plan.members
