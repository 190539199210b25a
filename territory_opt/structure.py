"""Sales-force structure: headcount sizing, where to hire, which territory to retire.

Every question is answered the same way: build a variant of the scenario's data
(a different set of territories with rep homes), re-optimise it, and measure the
plan's KPIs independently of the solver:

* ``max_dev_<metric>``: max |territory total / target − 1| per balanced metric;
* ``travel_km``: Σ over accounts of the distance to their territory's centre;
* ``over_capacity_hours``: Σ_t max(0, workload_t − capacity_t), with capacity per
  FTE from the reps' ``capacity`` (median) or ``capacity_hours``;
* ``uncovered_potential``: Σ_t potential_t · max(0, 1 − capacity_t / workload_t),
  the potential a rep cannot reach when the territory's workload exceeds capacity.

Screening runs use the scenario's balance rules as *soft* constraints (so every
variant has a plan whose imbalance is measured, not a failure), with the
penalty scaled so balance dominates travel. At ``level = "unit"`` (when units exist)
screening is fast; the chosen option is then re-optimised at the scenario's level.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from territory_opt.data import load_dataset
from territory_opt.dataset import Dataset
from territory_opt.errors import InfeasibleError, InputError, InputIssue, NoSolutionError
from territory_opt.formulation import build_problem, haversine_km
from territory_opt.problem import AlignmentProblem
from territory_opt.scenarios.config import AlignmentConfig, Scenario
from territory_opt.solvers import solve
from territory_opt.solvers.base import SolveOptions

DEFAULT_CAPACITY_HOURS = 1600.0  # one FTE: 40 h/week × 40 selling weeks
BALANCE_WEIGHT = 50.0  # soft penalty per unit of fractional deviation, × mean territory travel cost
NEW_PREFIX = "NEW"

Progress = Callable[[str, dict], None]


@dataclass
class Evaluation:
    """One re-optimised variant: its KPIs and the plan (territory index per item)."""

    kpis: dict
    problem: AlignmentProblem
    assignment: np.ndarray


def screening_alignment(alignment: AlignmentConfig, dataset: Dataset, time_limit: float,
                        keep_moves: bool) -> AlignmentConfig:
    """The scenario's alignment with soft balance, unit level when possible, short limit."""
    has_units = dataset.units is not None and dataset.accounts["unit_id"].notna().all()
    return alignment.model_copy(update={
        "mode": "optimize",
        "level": "unit" if has_units else alignment.level,
        "balance": [rule.model_copy(update={"soft": True}) for rule in alignment.balance],
        "max_moved_share": alignment.max_moved_share if keep_moves else None,
        "contiguous": False,
        "centers": "reps",
        "compactness": "travel" if alignment.compactness in ("cut_edges", "none") else alignment.compactness,
        "time_limit": time_limit,
        "deterministic": True,
    })


def capacity_per_fte(dataset: Dataset, capacity_hours: float | None) -> float:
    if capacity_hours is not None:
        return float(capacity_hours)
    given = dataset.reps["capacity"].dropna() if "capacity" in dataset.reps else pd.Series(dtype=float)
    return float(given.median()) if len(given) else DEFAULT_CAPACITY_HOURS


def plan_kpis(problem: AlignmentProblem, assignment: np.ndarray, dataset: Dataset,
              capacity: np.ndarray) -> dict:
    """KPIs of a plan recomputed from the accounts (see the module docstring)."""
    k = problem.n_territories
    account_territory = np.empty(len(dataset.accounts), dtype=np.int64)
    account_distance = np.empty(len(dataset.accounts))
    for item, rows in enumerate(problem.item_accounts):
        account_territory[rows] = assignment[item]
        account_distance[rows] = problem.distance_km[item, assignment[item]]
    kpis = {}
    for m, metric in enumerate(problem.metric_names):
        values = (np.ones(len(dataset.accounts)) if metric == "accounts"
                  else dataset.accounts[metric].to_numpy(float))
        totals = np.bincount(account_territory, weights=values, minlength=k)
        targets = problem.targets[:, m]
        kpis[f"max_dev_{metric}"] = float(np.max(np.abs(totals / np.maximum(targets, 1e-12) - 1)))
    workload = np.bincount(account_territory, weights=dataset.accounts["workload"].to_numpy(float), minlength=k)
    potential = np.bincount(account_territory, weights=dataset.accounts["potential"].to_numpy(float), minlength=k)
    over = np.maximum(workload - capacity, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        uncovered = np.where(workload > 0, potential * over / workload, 0.0)
    kpis.update({
        "travel_km": float(account_distance.sum()),
        "over_capacity_hours": float(over.sum()),
        "territories_over_capacity": int((over > 1e-9).sum()),
        "uncovered_potential": float(uncovered.sum()),
    })
    return kpis


def evaluate(dataset: Dataset, alignment: AlignmentConfig, capacity_fte: float) -> Evaluation:
    """Re-optimise a variant with soft balance and return its independent KPIs."""
    problem = build_problem(dataset, alignment)
    baseline = problem.cost.min(axis=1).sum() / max(problem.n_territories, 1)
    problem.soft_penalty = np.full(len(problem.metric_names), BALANCE_WEIGHT * max(baseline, 1.0))
    solution = solve(problem, SolveOptions(time_limit=alignment.time_limit, seed=alignment.seed,
                                           deterministic=True, engine=alignment.engine))
    fte = np.array([dataset.reps.loc[dataset.reps["territory_id"] == t, "fte"].sum() or alignment.vacancy_fte
                    for t in problem.territory_ids])
    kpis = plan_kpis(problem, solution.assignment, dataset, fte * capacity_fte)
    kpis.update(status=solution.status, gap=solution.gap, solve_seconds=round(solution.solve_seconds, 2))
    return Evaluation(kpis, problem, solution.assignment)


def with_territories(dataset: Dataset, homes: pd.DataFrame, *, keep_current: bool) -> Dataset:
    """A copy of the dataset whose leaf territories are ``homes`` (one rep each).

    ``homes``: territory_id, parent_id, name, home_lat, home_lon, and optionally the
    existing rep columns (rep_id, name, email, fte, capacity). Territories keep the
    non-leaf hierarchy; accounts keep current/locked territories only when they
    still exist and ``keep_current``.
    """
    leaves = set(dataset.leaf_territories)
    inner = dataset.territories[~dataset.territories["territory_id"].isin(leaves)]
    new_leaves = pd.DataFrame({
        "territory_id": homes["territory_id"], "parent_id": homes["parent_id"],
        "level": "territory", "name": homes["name"],
    })
    territories = pd.concat([inner, new_leaves], ignore_index=True)
    reps = pd.DataFrame({
        "rep_id": homes.get("rep_id", "R-" + homes["territory_id"]),
        "territory_id": homes["territory_id"],
        "name": homes.get("rep_name", "planned rep " + homes["territory_id"]),
        "email": homes.get("email", None),
        "home_lat": homes["home_lat"].astype(float), "home_lon": homes["home_lon"].astype(float),
        "capacity": homes.get("capacity", np.nan), "fte": homes.get("fte", 1.0),
        "start_date": pd.NaT, "manager_id": None,
    }).reset_index(drop=True)
    accounts = dataset.accounts.copy()
    valid = set(homes["territory_id"])
    for column in ("current_territory", "locked_territory"):
        keep = accounts[column].isin(valid) if keep_current else pd.Series(False, index=accounts.index)
        accounts[column] = accounts[column].where(keep, None)
    return replace(dataset, accounts=accounts, territories=territories, reps=reps)


def candidate_bases(dataset: Dataset, *, exclude: np.ndarray | None = None, min_km: float = 50.0,
                    limit: int = 200) -> pd.DataFrame:
    """Population centres as candidate rep homes: the most populous units (or, without a
    ``population`` unit column, those with the most account potential), at least
    ``min_km`` from each other and from the ``exclude`` points (lat, lon rows)."""
    if dataset.units is not None:
        units = pd.DataFrame(dataset.units.drop(columns="geometry", errors="ignore"))
        if "population" in units:
            weight = units["population"].astype(float)
        else:
            weight = units["unit_id"].map(dataset.accounts.groupby("unit_id")["potential"].sum()).fillna(0.0)
        pool = pd.DataFrame({"candidate_id": units["unit_id"], "name": units.get("name", units["unit_id"]),
                             "lat": units["lat"], "lon": units["lon"], "weight": weight})
    else:
        grid = dataset.accounts.assign(cell_lat=dataset.accounts["lat"].round(1), cell_lon=dataset.accounts["lon"].round(1))
        pool = grid.groupby(["cell_lat", "cell_lon"]).agg(lat=("lat", "mean"), lon=("lon", "mean"),
                                                          weight=("potential", "sum")).reset_index(drop=True)
        pool["candidate_id"] = [f"C{i:05d}" for i in range(len(pool))]
        pool["name"] = pool["candidate_id"]
    pool = pool.sort_values(["weight", "candidate_id"], ascending=[False, True]).reset_index(drop=True)
    chosen: list[int] = []
    taken = np.empty((0, 2)) if exclude is None else np.asarray(exclude, float).reshape(-1, 2)
    for row in pool.itertuples():
        if len(chosen) >= limit:
            break
        if len(taken) and haversine_km(row.lat, row.lon, taken[:, 0], taken[:, 1]).min() < min_km:
            continue
        chosen.append(row.Index)
        taken = np.vstack([taken, [row.lat, row.lon]])
    return pool.loc[chosen].reset_index(drop=True)


def weighted_kmeans(points: np.ndarray, weights: np.ndarray, k: int, *, seed: int,
                    iterations: int = 30) -> np.ndarray:
    """Lloyd's k-means on (lat, lon) with k-means++ seeding; returns (k, 2) centres."""
    rng = np.random.default_rng(seed)
    w = np.maximum(weights, 1e-9)
    centres = [points[rng.choice(len(points), p=w / w.sum())]]
    for _ in range(1, k):
        d2 = np.min([haversine_km(*points.T, *c) ** 2 for c in centres], axis=0)
        p = w * d2
        centres.append(points[rng.choice(len(points), p=p / p.sum())])
    centres = np.array(centres)
    for _ in range(iterations):
        labels = np.argmin(haversine_km(points[:, None, 0], points[:, None, 1], centres[None, :, 0],
                                        centres[None, :, 1]), axis=1)
        for c in range(k):
            members = labels == c
            if members.any():
                centres[c] = np.average(points[members], axis=0, weights=w[members])
    return centres


def homes_for_headcount(dataset: Dataset, headcount: int, seed: int) -> pd.DataFrame:
    """Rep homes for ``headcount`` territories: workload-weighted k-means centres, each
    snapped to a distinct nearby population centre (``candidate_bases``)."""
    accounts = dataset.accounts
    weight = accounts["workload"].to_numpy(float)
    if weight.sum() <= 0:
        weight = np.ones(len(accounts))
    centres = weighted_kmeans(accounts[["lat", "lon"]].to_numpy(float), weight, headcount, seed=seed)
    pool = candidate_bases(dataset, min_km=0.0, limit=max(20 * headcount, 500))
    free = np.ones(len(pool), bool)
    lat, lon = [], []
    for c_lat, c_lon in centres:
        d = np.where(free, haversine_km(c_lat, c_lon, pool["lat"].to_numpy(), pool["lon"].to_numpy()), np.inf)
        best = int(np.argmin(d))
        free[best] = False
        lat.append(pool.at[best, "lat"])
        lon.append(pool.at[best, "lon"])
    width = len(str(headcount))
    ids = [f"S{i + 1:0{width}d}" for i in range(headcount)]
    root = _root(dataset)
    return pd.DataFrame({"territory_id": ids, "parent_id": root, "name": ids, "home_lat": lat, "home_lon": lon})


def _root(dataset: Dataset) -> str | None:
    tops = dataset.territories.loc[dataset.territories["parent_id"].isna(), "territory_id"]
    leaves = set(dataset.leaf_territories)
    tops = [t for t in tops if t not in leaves]
    return tops[0] if tops else None


def _current_homes(dataset: Dataset) -> pd.DataFrame:
    """The existing leaf territories with their (first) rep's home; vacancies get the
    potential-weighted centroid of their current accounts."""
    rows = []
    meta = dataset.territories.set_index("territory_id")
    for tid in dataset.leaf_territories:
        rep = dataset.rep_of(tid)
        lat = None if rep is None else rep["home_lat"]
        lon = None if rep is None else rep["home_lon"]
        if lat is None or pd.isna(lat):
            mine = dataset.accounts[dataset.accounts["current_territory"] == tid]
            mine = mine if len(mine) else dataset.accounts
            w = mine["potential"].to_numpy(float) + 1e-9
            lat, lon = np.average(mine["lat"], weights=w), np.average(mine["lon"], weights=w)
        rows.append({
            "territory_id": tid, "parent_id": meta.at[tid, "parent_id"], "name": meta.at[tid, "name"],
            "home_lat": float(lat), "home_lon": float(lon),
            "rep_id": None if rep is None else rep["rep_id"],
            "rep_name": None if rep is None else rep["name"],
            "email": None if rep is None else rep["email"],
            "fte": dataset.reps.loc[dataset.reps["territory_id"] == tid, "fte"].sum() or 1.0,
            "capacity": np.nan if rep is None else rep["capacity"],
        })
    return pd.DataFrame(rows)


def _try_evaluate(dataset: Dataset, alignment: AlignmentConfig, capacity_fte: float) -> Evaluation | str:
    """``evaluate``, or the first line of the reason when the variant has no plan."""
    try:
        return evaluate(dataset, alignment, capacity_fte)
    except (InfeasibleError, NoSolutionError) as error:
        return str(error).splitlines()[0]


def size_headcount(scenario: Scenario, counts: Iterable[int], *, capacity_hours: float | None = None,
                   time_limit: float = 10.0, progress: Progress | None = None) -> pd.DataFrame:
    """The sizing curve: for each headcount, a re-optimised green-field plan's KPIs.

    Returns one row per headcount with the KPIs of the module docstring and a
    ``within_capacity`` flag; ``smallest_within_capacity`` reads the answer off it.
    """
    dataset = load_dataset(scenario)
    alignment = screening_alignment(scenario.alignment, dataset, time_limit, keep_moves=False)
    capacity = capacity_per_fte(dataset, capacity_hours)
    rows = []
    for headcount in counts:
        if headcount < 1 or headcount > len(dataset.accounts):
            raise InputError([InputIssue("size", f"a headcount between 1 and {len(dataset.accounts)}",
                                         column="headcount", value=str(headcount))])
        if progress:
            progress("size", {"headcount": headcount})
        variant = with_territories(dataset, homes_for_headcount(dataset, headcount, scenario.alignment.seed),
                                   keep_current=False)
        outcome = _try_evaluate(variant, alignment, capacity)
        row = {"headcount": headcount, "capacity_per_fte": capacity}
        row.update(outcome.kpis if isinstance(outcome, Evaluation) else {"status": "FAILED", "error": outcome})
        rows.append(row)
    curve = pd.DataFrame(rows)
    curve["within_capacity"] = curve.get("over_capacity_hours", pd.Series(np.nan)).fillna(np.inf) <= 1e-6
    return curve


def smallest_within_capacity(curve: pd.DataFrame) -> int | None:
    """The smallest headcount whose plan keeps every territory within capacity."""
    fits = curve.loc[curve["within_capacity"], "headcount"]
    return int(fits.min()) if len(fits) else None


@dataclass
class Ranking:
    """Options ranked by marginal value (hire) or least harm (retire), with the baseline."""

    baseline: dict
    table: pd.DataFrame
    best_dataset: Dataset | None


def _deltas(row: dict, baseline: dict, metrics: list[str]) -> dict:
    out = {f"delta_{k}": row[k] - baseline[k] for k in
           [*(f"max_dev_{m}" for m in metrics), "travel_km", "over_capacity_hours", "uncovered_potential"]}
    # one score: over-capacity share + worst balance deviation + travel share, each as a change
    out["score"] = (
        out["delta_over_capacity_hours"] / max(baseline["over_capacity_hours"] + 1.0, 1.0)
        + max((out[f"delta_max_dev_{m}"] for m in metrics), default=0.0)
        + out["delta_travel_km"] / max(baseline["travel_km"], 1.0)
    )
    return out


def rank_hires(scenario: Scenario, *, candidates: pd.DataFrame | None = None, top: int = 10,
               screen: int = 20, capacity_hours: float | None = None, time_limit: float = 10.0,
               progress: Progress | None = None) -> Ranking:
    """Marginal value of adding one rep at each candidate home base, best first.

    Candidates: ``candidates`` (candidate_id, lat, lon[, name]) or the ``screen`` most
    populous population centres at least 50 km from every current rep home. Each is
    evaluated by re-optimising the current plan plus a new territory there (moves
    measured from the current alignment); ``score`` < 0 means the hire helps.
    """
    dataset = load_dataset(scenario)
    alignment = screening_alignment(scenario.alignment, dataset, time_limit, keep_moves=True)
    capacity = capacity_per_fte(dataset, capacity_hours)
    homes = _current_homes(dataset)
    if candidates is None:
        candidates = candidate_bases(dataset, exclude=homes[["home_lat", "home_lon"]].to_numpy(), limit=screen)
    baseline = evaluate(with_territories(dataset, homes, keep_current=True), alignment, capacity).kpis
    rows, variants = [], {}
    for cand in candidates.itertuples(index=False):
        if progress:
            progress("hire", {"candidate": cand.candidate_id})
        nearest = int(np.argmin(haversine_km(cand.lat, cand.lon, homes["home_lat"].to_numpy(), homes["home_lon"].to_numpy())))
        new = {"territory_id": f"{NEW_PREFIX}-{cand.candidate_id}", "parent_id": homes.at[nearest, "parent_id"],
               "name": f"New: {getattr(cand, 'name', cand.candidate_id)}", "home_lat": cand.lat,
               "home_lon": cand.lon, "fte": 1.0, "capacity": np.nan}
        variant = with_territories(dataset, pd.concat([homes, pd.DataFrame([new])], ignore_index=True),
                                   keep_current=True)
        outcome = _try_evaluate(variant, alignment, capacity)
        row = {"candidate_id": cand.candidate_id, "name": getattr(cand, "name", cand.candidate_id),
               "lat": cand.lat, "lon": cand.lon}
        if isinstance(outcome, Evaluation):
            row.update(outcome.kpis)
            row.update(_deltas(outcome.kpis, baseline, outcome.problem.metric_names))
            variants[cand.candidate_id] = variant
        else:
            row.update(status="FAILED", error=outcome, score=np.inf)
        rows.append(row)
    table = pd.DataFrame(rows).sort_values(["score", "candidate_id"]).head(top).reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    best = variants.get(table.at[0, "candidate_id"]) if len(table) else None
    return Ranking(baseline, table, best)


def rank_retirements(scenario: Scenario, *, capacity_hours: float | None = None, time_limit: float = 10.0,
                     progress: Progress | None = None) -> Ranking:
    """Harm of absorbing each territory into its neighbours (attrition), least harm first."""
    dataset = load_dataset(scenario)
    alignment = screening_alignment(scenario.alignment, dataset, time_limit, keep_moves=False)
    capacity = capacity_per_fte(dataset, capacity_hours)
    homes = _current_homes(dataset)
    baseline = evaluate(with_territories(dataset, homes, keep_current=True), alignment, capacity).kpis
    rows, variants = [], {}
    for position, tid in enumerate(homes["territory_id"]):
        if progress:
            progress("retire", {"territory": tid})
        variant = with_territories(dataset, homes.drop(index=position).reset_index(drop=True), keep_current=True)
        outcome = _try_evaluate(variant, alignment, capacity)
        row = {"territory_id": tid, "rep_id": homes.at[position, "rep_id"]}
        if isinstance(outcome, Evaluation):
            row.update(outcome.kpis)
            row.update(_deltas(outcome.kpis, baseline, outcome.problem.metric_names))
            variants[tid] = variant
        else:
            row.update(status="FAILED", error=outcome, score=np.inf)
        rows.append(row)
    table = pd.DataFrame(rows).sort_values(["score", "territory_id"]).reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    best = variants.get(table.at[0, "territory_id"]) if len(table) else None
    return Ranking(baseline, table, best)


def write_sizing_plot(curve: pd.DataFrame, path) -> str:
    """The sizing curve as a PNG: worst balance deviation and over-capacity hours by headcount."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, left = plt.subplots(figsize=(8, 4.5))
    for column in [c for c in curve.columns if c.startswith("max_dev_")]:
        left.plot(curve["headcount"], 100 * curve[column], marker="o", label=column.replace("max_dev_", "max |dev| "))
    left.set_xlabel("headcount (territories)")
    left.set_ylabel("worst deviation from target (%)")
    right = left.twinx()
    right.bar(curve["headcount"], curve.get("over_capacity_hours", 0), alpha=0.25, color="tab:red",
              label="workload over capacity (h)")
    right.set_ylabel("workload over capacity (hours)")
    lines = left.get_legend_handles_labels()
    bars = right.get_legend_handles_labels()
    left.legend(lines[0] + bars[0], lines[1] + bars[1], loc="upper right")
    left.set_title("Sizing curve")
    fig.tight_layout()
    tmp = f"{path}.tmp.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return str(path)
