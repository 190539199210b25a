"""The quota tree: company root → hierarchy levels → leaf territories → reps, as arrays.

Leaf metrics are summed up the tree. A rep gets its territory's metrics × its FTE share
(a 0.5 FTE rep next to a 1.0 FTE rep gets one third). A territory with no rep is a vacancy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from territory_opt.errors import InputError, InputIssue
from territory_opt.quota.periods import MONTHLY_COLUMNS

REP_LEVEL = "rep"
GROWTH_METRIC = "__growth__"  # sales_ly × (1 + growth_rate), summed up the tree


@dataclass
class Tree:
    """Nodes in depth order (parents before children); arrays are aligned by node index."""

    ids: np.ndarray  # str
    parent: np.ndarray  # int64, -1 at the root
    level: np.ndarray  # str
    name: np.ndarray  # str or None
    depth: np.ndarray  # int64, root = 0
    is_rep: np.ndarray  # bool
    is_leaf: np.ndarray  # bool: leaf territory (reps hang below it)
    metrics: pd.DataFrame  # numeric leaf metrics summed up the tree; reps by FTE share
    rep_columns: pd.DataFrame  # numeric rep columns (NaN on territory nodes)
    start_date: pd.Series  # datetime64, NaT on territory nodes and reps without a start
    monthly: np.ndarray | None  # n × 12 calendar-month sales_ly, when given

    @property
    def n(self) -> int:
        return len(self.ids)


def _text(series: pd.Series) -> pd.Series:
    """Ids as stripped strings; blanks and NaN become None."""
    values = [None if v is None or pd.isna(v) else str(v).strip() or None
              for v in series.astype(object).tolist()]
    return pd.Series(values, index=series.index, dtype=object)


def _duplicates(ids: pd.Series, file: str, column: str) -> list[InputIssue]:
    dup = ids.duplicated(keep="first") & ids.notna()
    return [InputIssue(file, f"a unique {column}", row=int(i) + 2, column=column, value=ids.iloc[i])
            for i in np.flatnonzero(dup.to_numpy())]


def build_tree(
    hierarchy: pd.DataFrame, leaf_metrics: pd.DataFrame, reps: pd.DataFrame,
    growth_rate: float = 0.0,
) -> Tree:
    """Validate the three frames and lay the tree out as arrays (InputError on bad input)."""
    issues = [InputIssue(file, f"a column '{c}'", column=c)
              for file, frame, cols in (("territories", hierarchy, ("territory_id", "parent_id")),
                                        ("leaf_metrics", leaf_metrics, ("territory_id",)),
                                        ("reps", reps, ("rep_id", "territory_id")))
              for c in cols if c not in frame]
    if issues:
        raise InputError(issues)
    h = pd.DataFrame({"id": _text(hierarchy["territory_id"]).to_numpy(),
                      "parent": _text(hierarchy["parent_id"]).to_numpy()})
    h["level"] = _text(hierarchy["level"]).to_numpy() if "level" in hierarchy else None
    h["name"] = hierarchy["name"].to_numpy() if "name" in hierarchy else None
    issues += [InputIssue("territories", "a territory_id", row=int(i) + 2, column="territory_id")
               for i in np.flatnonzero(h["id"].isna().to_numpy())]
    issues += _duplicates(h["id"], "territories", "territory_id")
    known = set(h["id"].dropna())
    issues += [InputIssue("territories", "a parent_id that is a territory_id (or empty at the top)",
                          row=int(i) + 2, column="parent_id", value=h["parent"].iloc[i])
               for i in np.flatnonzero((h["parent"].notna() & ~h["parent"].isin(known)).to_numpy())]
    if issues:
        raise InputError(issues)

    roots = np.flatnonzero(h["parent"].isna().to_numpy())
    if len(roots) != 1:
        root_id = "COMPANY" if "COMPANY" not in known else "COMPANY_ROOT"
        h.loc[h["parent"].isna(), "parent"] = root_id
        h = pd.concat([pd.DataFrame({"id": [root_id], "parent": [None], "level": ["company"],
                                     "name": ["Company"]}), h], ignore_index=True)
    index = pd.Index(h["id"])
    parent = index.get_indexer(h["parent"].fillna("\x00")).astype(np.int64)
    depth = _depths(parent, h["id"])
    parents = set(h["parent"].dropna())
    is_leaf_territory = ~h["id"].isin(parents).to_numpy()
    h["level"] = h["level"].where(h["level"].notna(), pd.Series(depth).map(lambda d: f"level{d}"))

    r = reps.reset_index(drop=True)
    rep_ids, rep_territory = _text(r["rep_id"]), _text(r["territory_id"])
    issues += [InputIssue("reps", "a rep_id", row=int(i) + 2, column="rep_id")
               for i in np.flatnonzero(rep_ids.isna().to_numpy())]
    issues += _duplicates(rep_ids, "reps", "rep_id")
    issues += [InputIssue("reps", "a rep_id that is not also a territory_id", row=int(i) + 2,
                          column="rep_id", value=rep_ids.iloc[i])
               for i in np.flatnonzero(rep_ids.isin(known).to_numpy())]
    rep_parent = index.get_indexer(rep_territory.fillna("\x00"))
    bad = (rep_parent < 0) | ~is_leaf_territory[np.maximum(rep_parent, 0)]
    issues += [InputIssue("reps", "a leaf territory_id of the hierarchy", row=int(i) + 2,
                          column="territory_id", value=rep_territory.iloc[i])
               for i in np.flatnonzero(bad)]
    fte = pd.to_numeric(r["fte"], errors="coerce") if "fte" in r else pd.Series(1.0, index=r.index)
    fte = fte.fillna(1.0).to_numpy(dtype=float)
    issues += [InputIssue("reps", "fte ≥ 0", row=int(i) + 2, column="fte", value=str(fte[i]))
               for i in np.flatnonzero(fte < 0)]

    metrics, monthly, metric_issues = _leaf_table(leaf_metrics, h["id"], is_leaf_territory,
                                                  growth_rate)
    issues += metric_issues
    if issues:
        raise InputError(issues)

    # depth order: parents before children (stable within a depth keeps file order)
    order = np.argsort(depth, kind="stable")
    new_pos = np.empty(len(order), dtype=np.int64)
    new_pos[order] = np.arange(len(order))
    parent = np.where(parent[order] >= 0, new_pos[np.maximum(parent[order], 0)], -1)
    depth, is_leaf_territory = depth[order], is_leaf_territory[order]
    h = h.iloc[order].reset_index(drop=True)
    metrics = metrics.iloc[order].reset_index(drop=True)
    monthly = None if monthly is None else monthly[order]
    for d in range(depth.max(), 0, -1):
        kids = np.flatnonzero(depth == d)
        sums = np.zeros((len(h), metrics.shape[1]))
        np.add.at(sums, parent[kids], metrics.to_numpy()[kids])
        has_kids = np.zeros(len(h), dtype=bool)
        has_kids[parent[kids]] = True
        metrics.loc[has_kids, :] = sums[has_kids]
        if monthly is not None:
            month_sums = np.zeros_like(monthly)
            np.add.at(month_sums, parent[kids], monthly[kids])
            monthly[has_kids] = month_sums[has_kids]

    # reps: one level below their territory
    territory_of_rep = new_pos[rep_parent]
    fte_total = np.bincount(territory_of_rep, weights=fte, minlength=len(h))
    count = np.bincount(territory_of_rep, minlength=len(h))
    share = np.where(fte_total[territory_of_rep] > 0,
                     fte / np.where(fte_total > 0, fte_total, 1.0)[territory_of_rep],
                     1.0 / np.maximum(count[territory_of_rep], 1))
    rep_metrics = metrics.to_numpy()[territory_of_rep] * share[:, None]
    numeric_rep = r.select_dtypes("number").drop(columns=["home_lat", "home_lon"], errors="ignore")
    numeric_rep = numeric_rep.assign(fte=fte)
    n_terr, n_rep = len(h), len(r)
    rep_names = r["name"] if "name" in r else pd.Series([None] * n_rep)
    no_rep_columns = pd.DataFrame(np.nan, index=range(n_terr), columns=numeric_rep.columns)
    start = (pd.to_datetime(r["start_date"], errors="coerce") if "start_date" in r
             else pd.Series(pd.NaT, index=r.index, dtype="datetime64[ns]"))
    return Tree(
        ids=np.concatenate([h["id"].to_numpy(dtype=object), rep_ids.to_numpy(dtype=object)]),
        parent=np.concatenate([parent, territory_of_rep]).astype(np.int64),
        level=np.concatenate([h["level"].to_numpy(dtype=object),
                              np.full(n_rep, REP_LEVEL, object)]),
        name=np.concatenate([h["name"].to_numpy(dtype=object), rep_names.to_numpy(object)]),
        depth=np.concatenate([depth, depth[territory_of_rep] + 1]),
        is_rep=np.concatenate([np.zeros(n_terr, bool), np.ones(n_rep, bool)]),
        is_leaf=np.concatenate([is_leaf_territory, np.zeros(n_rep, bool)]),
        metrics=pd.DataFrame(np.vstack([metrics.to_numpy(), rep_metrics]), columns=metrics.columns),
        rep_columns=pd.concat([no_rep_columns, numeric_rep.astype(float)], ignore_index=True),
        start_date=pd.concat([pd.Series(pd.NaT, index=range(n_terr), dtype="datetime64[ns]"),
                              start.astype("datetime64[ns]")], ignore_index=True),
        monthly=None if monthly is None else np.vstack([monthly, monthly[territory_of_rep]
                                                        * share[:, None]]),
    )


def _depths(parent: np.ndarray, ids: pd.Series) -> np.ndarray:
    """Depth of each node (root = 0); InputError naming the nodes of a parent cycle."""
    depth = np.full(len(parent), -1, dtype=np.int64)
    depth[parent < 0] = 0
    while (depth < 0).any():
        ready = (depth < 0) & (depth[np.maximum(parent, 0)] >= 0) & (parent >= 0)
        if not ready.any():
            cycle = ids[depth < 0].tolist()
            raise InputError([InputIssue("territories", "a hierarchy without cycles",
                                         column="parent_id", value=", ".join(cycle[:10]))])
        depth[ready] = depth[parent[ready]] + 1
    return depth


def _leaf_table(
    leaf_metrics: pd.DataFrame, ids: pd.Series, is_leaf: np.ndarray, growth_rate: float,
) -> tuple[pd.DataFrame, np.ndarray | None, list[InputIssue]]:
    """Numeric leaf metrics placed on the hierarchy rows (0 elsewhere), monthly sales, issues."""
    m = leaf_metrics.reset_index(drop=True)
    leaf_ids = _text(m["territory_id"])
    issues = _duplicates(leaf_ids, "leaf_metrics", "territory_id")
    leaves = set(ids[is_leaf])
    issues += [InputIssue("leaf_metrics", "a leaf territory_id of the hierarchy", row=int(i) + 2,
                          column="territory_id", value=leaf_ids.iloc[i])
               for i in np.flatnonzero(~leaf_ids.isin(leaves).to_numpy())]
    missing = sorted(leaves - set(leaf_ids.dropna()))
    issues += [InputIssue("leaf_metrics", "one row per leaf territory", column="territory_id",
                          value=t) for t in missing]
    numeric = m.drop(columns=["territory_id"]).select_dtypes("number").astype(float)
    for column in ("potential", "sales_ly"):
        if column not in numeric:
            numeric[column] = 0.0
        negative = np.flatnonzero((numeric[column] < 0).to_numpy())
        issues += [InputIssue("leaf_metrics", f"{column} ≥ 0", row=int(i) + 2, column=column,
                              value=str(numeric[column].iloc[i])) for i in negative]
    if issues:
        return numeric, None, issues
    rate = numeric["growth_rate"].fillna(growth_rate) if "growth_rate" in numeric else growth_rate
    numeric[GROWTH_METRIC] = numeric["sales_ly"].fillna(0.0) * (1.0 + rate)
    rows = pd.Index(leaf_ids).get_indexer(ids.fillna("\x00"))
    placed = numeric.fillna(0.0).reindex(rows).fillna(0.0).reset_index(drop=True)
    monthly = None
    if all(c in numeric for c in MONTHLY_COLUMNS):
        monthly = placed[MONTHLY_COLUMNS].to_numpy(dtype=float).copy()
    return placed, monthly, issues
