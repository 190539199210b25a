"""Turn a solved problem into the per-account, per-territory and summary tables.

Everything here is bookkeeping on top of a plan: totals, deviations, travel,
moves and the plain-words reason for every moved account.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd

from territory_opt.dataset import Dataset
from territory_opt.formulation import ancestors, haversine_km, metric_values
from territory_opt.problem import AlignmentProblem

SUMMARY_METRICS = ("potential", "workload", "sales_ly")


def account_territories(problem: AlignmentProblem, item_assignment: np.ndarray, n_accounts: int) -> np.ndarray:
    """Territory index per account row, expanded from the per-item assignment."""
    per_account = np.full(n_accounts, -1, dtype=np.int64)
    for item, rows in enumerate(problem.item_accounts):
        per_account[rows] = item_assignment[item]
    return per_account


def _totals(values: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    valid = labels >= 0
    return np.bincount(labels[valid], weights=values[valid], minlength=k)


def _pct(x: float) -> str:
    return f"{abs(x) * 100:.0f}%"


class MoveExplainer:
    """Plain-words reasons for moved accounts.

    A move is explained by the previous territory's imbalance (the metric furthest
    beyond its tolerance in the inherited plan), by the new territory's room under
    its target, and by distance rank (is the new territory the nearest one?).
    """

    def __init__(self, problem: AlignmentProblem, previous_totals: np.ndarray):
        self.problem = problem
        with np.errstate(divide="ignore", invalid="ignore"):
            self.previous_dev = np.where(
                problem.targets > 0, previous_totals / problem.targets - 1.0, 0.0
            )

    def reason(self, item: int, old: int, new: int) -> str:
        p = self.problem
        ids = p.territory_ids
        head = f"moved {ids[old]}→{ids[new]}: "
        if p.locked[item] == new:
            return head + f"locked to {ids[new]}"
        parts = []
        over = self.previous_dev[old] - p.tolerances
        worst = int(np.argmax(over)) if len(over) else -1
        if worst >= 0 and over[worst] > 0:
            parts.append(
                f"{ids[old]} was {_pct(self.previous_dev[old, worst])} over its "
                f"{p.metric_names[worst]} target"
            )
        else:
            under = -self.previous_dev[new] - p.tolerances
            needy = int(np.argmax(under)) if len(under) else -1
            if needy >= 0 and under[needy] > 0:
                parts.append(
                    f"{ids[new]} was {_pct(self.previous_dev[new, needy])} under its "
                    f"{p.metric_names[needy]} target"
                )
        distances = p.distance_km[item]
        rank = int((distances < distances[new] - 1e-9).sum())
        if rank == 0:
            parts.append(f"{ids[new]} is the nearest territory ({distances[new]:.0f} km vs {distances[old]:.0f} km)")
        elif parts:
            parts.append(f"{ids[new]} is the {_ordinal(rank + 1)}-nearest territory with room")
        else:
            parts.append(f"shorter travel: {distances[new]:.0f} km to {ids[new]} vs {distances[old]:.0f} km to {ids[old]}")
        return head + "; ".join(parts)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def build_tables(
    dataset: Dataset, problem: AlignmentProblem, item_assignment: np.ndarray,
    centers: np.ndarray | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None, dict]:
    """Assignments, territories and units tables plus plan KPIs for metrics.json.

    ``centers`` (free-centre designs): the centre item of each territory; distances are
    then measured to those centres instead of the rep homes.
    """
    accounts = dataset.accounts
    k = problem.n_territories
    ids = np.asarray(problem.territory_ids, dtype=object)
    new = account_territories(problem, item_assignment, len(accounts))
    index = {t: i for i, t in enumerate(problem.territory_ids)}
    old = np.array([index.get(t, -1) if t is not None else -1 for t in accounts["current_territory"]])
    moved = (old >= 0) & (old != new)

    item_of_account = np.empty(len(accounts), dtype=np.int64)
    for item, rows in enumerate(problem.item_accounts):
        item_of_account[rows] = item
    if centers is not None:
        centre_latlon = problem.item_latlon[np.asarray(centers)]
        item_distance = haversine_km(*problem.item_latlon.T, *centre_latlon[item_assignment].T)
        account_distance = item_distance[item_of_account]
    else:
        account_distance = problem.distance_km[item_of_account, new]

    previous_totals = np.zeros_like(problem.targets)
    for m in range(len(problem.metric_names)):
        previous_totals[:, m] = _totals(problem.weights[:, m], problem.current, k)
    explainer = MoveExplainer(problem, previous_totals)
    unit_level = _unit_level(dataset, problem)
    reasons = np.full(len(accounts), "", dtype=object)
    account_ids = accounts["account_id"].to_numpy()
    for row in np.flatnonzero(moved):
        item = item_of_account[row]
        root_row = problem.item_accounts[item][0]
        if centers is not None:
            centre = problem.item_ids[int(centers[new[row]])]
            reasons[row] = (f"moved {ids[old[row]]}→{ids[new[row]]}: green-field design; "
                            f"{ids[new[row]]} is now centred on unit {centre}")
        elif unit_level:
            reasons[row] = (explainer.reason(item, old[row], new[row])
                            + f" (moves with unit {problem.item_ids[item]})")
        elif root_row != row and len(problem.item_accounts[item]) > 1:
            reasons[row] = (
                f"moved {ids[old[row]]}→{ids[new[row]]}: follows its account family "
                f"(parent {account_ids[root_row]})"
            )
        else:
            reasons[row] = explainer.reason(item, old[row], new[row])

    assignments = pd.DataFrame({
        "account_id": accounts["account_id"],
        "name": accounts["name"],
        "territory_id": ids[new],
        "previous_territory_id": [ids[o] if o >= 0 else None for o in old],
        "moved": moved,
        "reason": reasons,
        "unit_id": accounts["unit_id"],
        "lat": accounts["lat"],
        "lon": accounts["lon"],
        "distance_km": account_distance.round(2),
    })
    metric_columns = list(dict.fromkeys([*SUMMARY_METRICS, *problem.metric_names]))
    for metric in metric_columns:
        if metric != "accounts" and metric in accounts:
            assignments[metric] = accounts[metric].to_numpy()

    territories = _territory_table(dataset, problem, new, account_distance)
    if centers is not None:
        territories["center_unit_id"] = [problem.item_ids[int(c)] for c in centers]
        territories["center_lat"] = problem.item_latlon[np.asarray(centers), 0]
        territories["center_lon"] = problem.item_latlon[np.asarray(centers), 1]
    units = _unit_table(dataset, problem, item_assignment, new)
    kpis = _plan_kpis(dataset, problem, territories, moved, units)
    return assignments, territories, units, kpis


def _territory_table(dataset: Dataset, problem, new: np.ndarray, account_distance: np.ndarray) -> pd.DataFrame:
    accounts = dataset.accounts
    k = problem.n_territories
    meta = dataset.territories.set_index("territory_id")
    rows = []
    for t, tid in enumerate(problem.territory_ids):
        rep = dataset.rep_of(tid)
        reps = dataset.reps[dataset.reps["territory_id"] == tid]
        rows.append({
            "territory_id": tid,
            "name": meta.at[tid, "name"] if tid in meta.index else tid,
            "parent_id": meta.at[tid, "parent_id"] if tid in meta.index else None,
            "level": meta.at[tid, "level"] if tid in meta.index else "territory",
            "rep_id": None if rep is None else rep["rep_id"],
            "rep_name": None if rep is None else rep["name"],
            "rep_email": None if rep is None else rep["email"],
            "home_lat": None if rep is None else rep["home_lat"],
            "home_lon": None if rep is None else rep["home_lon"],
            "fte": float(reps["fte"].sum()) if len(reps) else 0.0,
            "vacancy": rep is None,
        })
    table = pd.DataFrame(rows)
    table["accounts"] = np.bincount(new, minlength=k)
    for metric in SUMMARY_METRICS:
        if metric in accounts and metric not in problem.metric_names:
            table[f"{metric}_total"] = _totals(accounts[metric].to_numpy(float), new, k)
    for m, metric in enumerate(problem.metric_names):
        total = _totals(metric_values(accounts, metric), new, k)
        target = problem.targets[:, m]
        table[f"{metric}_total"] = total
        table[f"{metric}_target"] = target
        with np.errstate(divide="ignore", invalid="ignore"):
            table[f"{metric}_deviation"] = np.where(target > 0, total / target - 1.0, 0.0)
    table["travel_km"] = _totals(account_distance, new, k).round(1)
    table["capacity"] = problem.capacity if problem.capacity is not None else np.nan
    chains = ancestors(dataset.territories)
    levels = list(dict.fromkeys(level for tid in problem.territory_ids
                                for level in chains.get(tid, {})))
    for level in levels:  # e.g. district_id, region_id: the territory's ancestor at that level
        table[f"{level}_id"] = [chains.get(tid, {}).get(level) for tid in problem.territory_ids]
    return table


def hierarchy_table(dataset: Dataset, problem: AlignmentProblem,
                    territories: pd.DataFrame) -> pd.DataFrame:
    """Every node of the hierarchy file under the new plan: territory_id, parent_id, level,
    name, accounts and, per balanced metric, <m>_total, <m>_target (Σ of its leaves'), and
    <m>_deviation; for levels balanced by ``problem.levels``, <m>_tolerance as well.

    It is a valid territories file (extra columns are ignored on import), so the plan's
    hierarchy can be read back as the next cycle's input.
    """
    nodes = dataset.territories[["territory_id", "parent_id", "level", "name"]].copy()
    leaves = territories.set_index("territory_id")
    chains = ancestors(dataset.territories)
    members: dict[str, list[str]] = {tid: [tid] for tid in nodes["territory_id"]}
    for leaf in problem.territory_ids:
        for node in chains.get(leaf, {}).values():
            members[node].append(leaf)
    columns = ["accounts"] + [f"{m}_{part}" for m in problem.metric_names
                              for part in ("total", "target")]
    for column in columns:
        nodes[column] = [float(leaves.loc[[t for t in members[node] if t in leaves.index],
                                          column].sum()) for node in nodes["territory_id"]]
    tolerance = {level.name: level.tolerances for level in problem.levels if not level.keep}
    for m, metric in enumerate(problem.metric_names):
        total, target = nodes[f"{metric}_total"], nodes[f"{metric}_target"]
        with np.errstate(divide="ignore", invalid="ignore"):
            nodes[f"{metric}_deviation"] = np.where(target > 0, total / target - 1.0, 0.0)
        if tolerance:
            nodes[f"{metric}_tolerance"] = [
                tolerance[lv][m] if lv in tolerance else
                problem.tolerances[m] if tid in leaves.index else np.nan
                for tid, lv in zip(nodes["territory_id"], nodes["level"])]
    nodes["accounts"] = nodes["accounts"].astype(int)
    return nodes


def _unit_level(dataset: Dataset, problem: AlignmentProblem) -> bool:
    """True when the problem's items are exactly the dataset's units."""
    return (dataset.units is not None and len(problem.item_ids) == len(dataset.units)
            and set(problem.item_ids) == set(dataset.units["unit_id"]))


def _unit_table(dataset: Dataset, problem, item_assignment, new) -> pd.DataFrame | None:
    """Each unit's territory: its own at unit level, else the one holding most of its accounts."""
    if dataset.units is None:
        return None
    ids = np.asarray(problem.territory_ids, dtype=object)
    if _unit_level(dataset, problem):
        by_item = dict(zip(problem.item_ids, ids[item_assignment]))
        return pd.DataFrame({"unit_id": dataset.units["unit_id"], "territory_id": dataset.units["unit_id"].map(by_item)})
    frame = pd.DataFrame({"unit_id": dataset.accounts["unit_id"], "territory_id": ids[new]}).dropna()
    if frame.empty:
        return pd.DataFrame({"unit_id": dataset.units["unit_id"], "territory_id": None})
    majority = frame.groupby(["unit_id", "territory_id"]).size().reset_index(name="n")
    majority = majority.sort_values(["unit_id", "n", "territory_id"], ascending=[True, False, True])
    majority = majority.drop_duplicates("unit_id").set_index("unit_id")["territory_id"]
    return pd.DataFrame({"unit_id": dataset.units["unit_id"], "territory_id": dataset.units["unit_id"].map(majority)})


def territories_contiguous(dataset: Dataset, units: pd.DataFrame | None) -> bool | None:
    """True when every territory's units form one connected piece; None without adjacency."""
    if units is None or dataset.adjacency is None:
        return None
    label = dict(zip(units["unit_id"], units["territory_id"]))
    graph = nx.Graph()
    graph.add_nodes_from(u for u, t in label.items() if t is not None)
    for a, b in dataset.adjacency[["unit_id", "neighbor_id"]].itertuples(index=False):
        if label.get(a) is not None and label.get(a) == label.get(b):
            graph.add_edge(a, b)
    pieces = {}
    for component in nx.connected_components(graph):
        territory = label[next(iter(component))]
        pieces[territory] = pieces.get(territory, 0) + 1
    return all(count == 1 for count in pieces.values())


def _plan_kpis(dataset, problem, territories, moved, units) -> dict:
    accounts = dataset.accounts
    balance = {}
    for metric in problem.metric_names:
        dev = territories[f"{metric}_deviation"].to_numpy(float)
        totals = territories[f"{metric}_total"].to_numpy(float)
        balance[metric] = {
            "max_abs_deviation": float(np.abs(dev).max()) if len(dev) else 0.0,
            "mean_abs_deviation": float(np.abs(dev).mean()) if len(dev) else 0.0,
            "cv": float(totals.std() / totals.mean()) if totals.mean() > 0 else 0.0,
            "tolerance": float(problem.tolerances[problem.metric_names.index(metric)]),
        }
    n = len(accounts)
    potential = accounts["potential"].to_numpy(float)
    return {
        "balance": balance,
        "travel_km": float(territories["travel_km"].sum()),
        "accounts": n,
        "territories": problem.n_territories,
        "moved_accounts": int(moved.sum()),
        "moved_share": float(moved.mean()) if n else 0.0,
        "moved_potential": float(potential[moved].sum()),
        "moved_potential_share": float(potential[moved].sum() / potential.sum()) if potential.sum() > 0 else 0.0,
        # Only unit-level plans have a territory per unit; account-level plans report null.
        "contiguous": territories_contiguous(dataset, units) if _unit_level(dataset, problem) else None,
    }
