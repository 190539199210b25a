"""Sales-force structure: headcount sizing, where to hire, which territory to retire.

Every question is answered the same way: build a variant of the scenario's data (a different
set of leaf territories, each with a rep home), re-optimise it with a fast screening
heuristic, and measure the plan's KPIs from the accounts, independently of the optimiser:

* ``max_dev_<metric>``: max over territories of |total_t / target_t − 1|, target_t =
  fte_t / Σ fte × the metric's account total (``accounts`` = account count);
* ``travel_km``: Σ over accounts of the haversine km to their territory's centre (the first
  rep's home; a vacancy: the workload-weighted centroid of its current accounts);
* ``over_capacity_hours``: Σ_t max(0, workload_t − capacity_t), capacity_t = fte_t × hours per
  FTE (``capacity_hours``, else the reps' median ``capacity``, else 1600 h);
* ``uncovered_potential``: Σ_t potential_t · max(0, 1 − capacity_t / workload_t), the
  potential a rep cannot reach when the workload exceeds capacity;
* ``moved_accounts``: accounts whose territory differs from a still-existing current one.

Screening re-optimises every option the same fast way: small items (``screening_dataset``:
accounts grouped by unit, current territory and lock, families kept whole, cut into chunks
of at most 2 % of a territory's target), the scenario's balance bands made elastic, the LP
relaxation then a small MIP for the items the LP splits, then cost descent (``screen_plan``).
Costs are exact per account; the KPIs are measured per account. The option finally chosen
is re-optimised with the scenario's own solver settings (``reoptimise``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from territory_opt.data import load_dataset
from territory_opt.dataset import Dataset
from territory_opt.errors import InputError, InputIssue, NoSolutionError
from territory_opt.formulation import build_problem, family_roots, haversine_km, metric_values
from territory_opt.problem import AlignmentProblem
from territory_opt.results import Result
from territory_opt.scenarios.config import AlignmentConfig, Scenario
from territory_opt.solvers.assignment_highs import elastic_penalty, run_highs
from territory_opt.solvers.assignment_model import select_candidates
from territory_opt.solvers.warm_start import improve

DEFAULT_CAPACITY_HOURS = 1600.0  # one FTE: 40 h/week × 40 selling weeks
CANDIDATES_PER_ITEM = 12         # nearest territories a screening item may go to
CHUNK_SHARE = 0.02               # screening item: at most this share of a mean target
SCREEN_LP_SECONDS = 120.0        # safety limits of the screening LP and MIP (wall seconds)
SCREEN_MIP_SECONDS = 60.0
SCREEN_GAP = 0.02                # the MIP stops within 2 % of its bound
CANDIDATE_SPACING_KM = 50.0      # default hire candidates: this far from each other and reps
NEW_PREFIX = "NEW"
KPI_DELTAS = ("travel_km", "over_capacity_hours", "uncovered_potential")

Progress = Callable[[str, dict], None]


@dataclass
class Evaluation:
    """One re-optimised variant: its KPIs, the territory of every account (row order of
    ``dataset.accounts``) and the territories' centres (territory_id, lat, lon, fte,
    capacity_hours)."""

    kpis: dict
    account_territory: np.ndarray
    centres: pd.DataFrame


# ---------------------------------------------------------------------------- variants

def screening_alignment(alignment: AlignmentConfig, *, keep_moves: bool) -> AlignmentConfig:
    """The scenario's alignment as screened: screening items (``screening_dataset``) as
    units, fixed rep centres, travel (or inertia) cost, hard balance rules, no contiguity;
    the move cap only when ``keep_moves``."""
    return alignment.model_copy(update={
        "mode": "optimize", "level": "unit", "contiguous": False, "centers": "reps",
        "balance": [rule.model_copy(update={"soft": False}) for rule in alignment.balance],
        "compactness": alignment.compactness if alignment.compactness == "inertia" else "travel",
        "max_moved_share": alignment.max_moved_share if keep_moves else None,
    })


def with_territories(dataset: Dataset, homes: pd.DataFrame, *, keep_current: bool) -> Dataset:
    """A copy of the dataset whose leaf territories are ``homes`` rows.

    ``homes``: territory_id, parent_id, name, home_lat, home_lon and optionally rep_id,
    rep_name, email, fte, capacity, manager_id. A row without rep_id is a planned rep
    (``PLANNED-<territory>``; other rep columns empty); a row with a missing home stays a
    vacancy; existing reps keep their other columns (e.g. eligibility). Inner nodes
    without any remaining leaf below them are dropped. Accounts keep current/locked
    territories that still exist when ``keep_current``, else none.
    """
    leaves = set(dataset.leaf_territories)
    inner = dataset.territories[~dataset.territories["territory_id"].isin(leaves)]
    parent_of = dict(zip(inner["territory_id"], inner["parent_id"]))
    used: set[str] = set()
    for node in homes["parent_id"]:
        while isinstance(node, str) and node not in used:
            used.add(node)
            node = parent_of.get(node)
    territories = pd.concat([
        inner[inner["territory_id"].isin(used)],
        pd.DataFrame({"territory_id": homes["territory_id"], "parent_id": homes["parent_id"],
                      "level": "territory", "name": homes["name"]}),
    ], ignore_index=True)
    staffed = homes[homes["home_lat"].notna()].reset_index(drop=True)

    def column(name: str, default) -> pd.Series:
        values = staffed[name] if name in staffed else pd.Series(None, index=staffed.index)
        return values.where(values.notna(), default)

    reps = pd.DataFrame({
        "rep_id": column("rep_id", "PLANNED-" + staffed["territory_id"]),
        "territory_id": staffed["territory_id"],
        "name": column("rep_name", "planned rep " + staffed["territory_id"]),
        "email": column("email", None),
        "home_lat": staffed["home_lat"].astype(float), "home_lon": staffed["home_lon"].astype(float),
        "capacity": pd.to_numeric(column("capacity", np.nan), errors="coerce"),
        "fte": pd.to_numeric(column("fte", 1.0), errors="coerce"),
        "start_date": pd.NaT, "manager_id": column("manager_id", None),
    })
    for extra in dataset.reps.columns.difference(reps.columns):  # e.g. an eligibility column
        reps[extra] = reps["rep_id"].map(dataset.reps.drop_duplicates("rep_id")
                                         .set_index("rep_id")[extra])
    accounts = dataset.accounts.copy()
    valid = set(homes["territory_id"])
    for name in ("current_territory", "locked_territory"):
        keep = accounts[name].isin(valid) if keep_current else pd.Series(False, index=accounts.index)
        accounts[name] = accounts[name].where(keep, None)
    return replace(dataset, accounts=accounts, territories=territories, reps=reps)


def current_homes(dataset: Dataset) -> pd.DataFrame:
    """The existing leaf territories as ``with_territories`` rows: the first rep's home and
    details, the summed fte; a vacancy keeps a missing home (it stays a vacancy)."""
    meta = dataset.territories.set_index("territory_id")
    rows = []
    for tid in dataset.leaf_territories:
        reps = dataset.reps[dataset.reps["territory_id"] == tid]
        first = reps.iloc[0] if len(reps) else None
        rows.append({
            "territory_id": tid, "parent_id": meta.at[tid, "parent_id"], "name": meta.at[tid, "name"],
            "home_lat": np.nan if first is None else first["home_lat"],
            "home_lon": np.nan if first is None else first["home_lon"],
            "rep_id": None if first is None else first["rep_id"],
            "rep_name": None if first is None else first["name"],
            "email": None if first is None else first["email"],
            "manager_id": None if first is None else first["manager_id"],
            "fte": float(reps["fte"].fillna(1.0).sum()) if len(reps) else np.nan,
            "capacity": np.nan if first is None else first["capacity"],
        })
    return pd.DataFrame(rows)


def _unit_points(dataset: Dataset) -> pd.DataFrame:
    """Places reps can live: units (weight = population, else account potential) or, without
    units, 0.1° cells of accounts (weight = potential). Columns candidate_id, name, lat, lon,
    weight; heaviest first (ties by id)."""
    if dataset.units is not None:
        units = pd.DataFrame(dataset.units.drop(columns="geometry", errors="ignore"))
        if "population" in units:
            weight = pd.to_numeric(units["population"], errors="coerce").fillna(0.0)
        else:
            by_unit = dataset.accounts.groupby("unit_id")["potential"].sum()
            weight = units["unit_id"].map(by_unit).fillna(0.0)
        pool = pd.DataFrame({"candidate_id": units["unit_id"].astype(str),
                             "name": units["name"] if "name" in units else units["unit_id"],
                             "lat": units["lat"].astype(float), "lon": units["lon"].astype(float),
                             "weight": weight.astype(float)})
    else:
        accounts = dataset.accounts
        cells = accounts.groupby([accounts["lat"].round(1), accounts["lon"].round(1)])
        pool = cells.agg(lat=("lat", "mean"), lon=("lon", "mean"),
                         weight=("potential", "sum")).reset_index(drop=True)
        pool["candidate_id"] = [f"C{i:05d}" for i in range(len(pool))]
        pool["name"] = pool["candidate_id"]
    return pool.sort_values(["weight", "candidate_id"], ascending=[False, True],
                            kind="stable").reset_index(drop=True)


def candidate_bases(dataset: Dataset, *, exclude: np.ndarray | None = None,
                    min_km: float = CANDIDATE_SPACING_KM, limit: int = 20) -> pd.DataFrame:
    """Population centres as candidate rep homes: the heaviest ``_unit_points`` at least
    ``min_km`` from each other and from the ``exclude`` points ((lat, lon) rows)."""
    pool = _unit_points(dataset)
    taken = np.empty((0, 2)) if exclude is None else np.asarray(exclude, float).reshape(-1, 2)
    taken = taken[np.isfinite(taken).all(axis=1)]
    chosen: list[int] = []
    for row in pool.itertuples():
        if len(chosen) >= limit:
            break
        if len(taken) and haversine_km(row.lat, row.lon, taken[:, 0], taken[:, 1]).min() < min_km:
            continue
        chosen.append(row.Index)
        taken = np.vstack([taken, [row.lat, row.lon]])
    return pool.loc[chosen, ["candidate_id", "name", "lat", "lon", "weight"]].reset_index(drop=True)


def validate_candidates(frame: pd.DataFrame, file: str = "candidates") -> pd.DataFrame:
    """A user's candidate list (candidate_id, lat, lon[, name]; text cells are fine) checked
    and typed; every problem is an InputIssue with its CSV row (header = row 1)."""
    issues = [InputIssue(file, f"a column '{name}'", column=name)
              for name in ("candidate_id", "lat", "lon") if name not in frame.columns]
    if issues:
        raise InputError(issues)
    out = pd.DataFrame({"candidate_id": frame["candidate_id"].astype(str).str.strip()})
    out["name"] = frame["name"] if "name" in frame.columns else out["candidate_id"]
    for name, low, high in (("lat", -90.0, 90.0), ("lon", -180.0, 180.0)):
        values = pd.to_numeric(frame[name], errors="coerce")
        for row in np.flatnonzero((values.isna() | (values < low) | (values > high)).to_numpy()):
            issues.append(InputIssue(file, f"a number between {low:g} and {high:g}", row=int(row) + 2,
                                     column=name, value=str(frame[name].iloc[row])))
        out[name] = values.to_numpy(float)
    blank = out["candidate_id"].isin(["", "nan", "None"])
    for row in np.flatnonzero(blank.to_numpy()):
        issues.append(InputIssue(file, "a non-empty candidate_id", row=int(row) + 2,
                                 column="candidate_id"))
    for row in np.flatnonzero((out["candidate_id"].duplicated() & ~blank).to_numpy()):
        issues.append(InputIssue(file, "a unique candidate_id", row=int(row) + 2,
                                 column="candidate_id", value=out["candidate_id"].iloc[row]))
    if not len(out):
        issues.append(InputIssue(file, "at least one candidate row"))
    if issues:
        raise InputError(issues)
    return out


def weighted_kmeans(points: np.ndarray, weights: np.ndarray, k: int, *, seed: int,
                    iterations: int = 30) -> np.ndarray:
    """Lloyd's k-means on (lat, lon) degrees (haversine assignment, weighted mean update)
    with k-means++ seeding from ``seed``; returns (k, 2) centres."""
    rng = np.random.default_rng(seed)
    w = np.maximum(np.asarray(weights, float), 1e-12)
    centres = np.empty((k, 2))
    centres[0] = points[rng.choice(len(points), p=w / w.sum())]
    nearest = haversine_km(points[:, 0], points[:, 1], *centres[0]) ** 2
    for c in range(1, k):
        p = w * nearest
        pick = rng.choice(len(points), p=p / p.sum()) if p.sum() > 0 else rng.integers(len(points))
        centres[c] = points[pick]
        nearest = np.minimum(nearest, haversine_km(points[:, 0], points[:, 1], *centres[c]) ** 2)
    for _ in range(iterations):
        labels = np.argmin(haversine_km(points[:, None, 0], points[:, None, 1],
                                        centres[None, :, 0], centres[None, :, 1]), axis=1)
        total = np.bincount(labels, weights=w, minlength=k)
        moved = centres.copy()
        for axis in (0, 1):
            sums = np.bincount(labels, weights=w * points[:, axis], minlength=k)
            moved[:, axis] = np.where(total > 0, sums / np.maximum(total, 1e-300), centres[:, axis])
        if np.allclose(moved, centres, atol=1e-7):
            break
        centres = moved
    return centres


def homes_for_headcount(dataset: Dataset, headcount: int, seed: int,
                        metric: str = "workload") -> pd.DataFrame:
    """``headcount`` planned territories: k-means centres of the units' (or 0.1° cells')
    ``metric``-weighted centroids, weighted by ``metric`` (``home_metric``), each snapped to a distinct nearby population centre; each
    new territory hangs under the parent of the nearest current rep's territory (the root
    for a design without reps)."""
    accounts = dataset.accounts
    weight = metric_values(accounts, metric)
    if not weight.sum() > 0:
        weight = np.ones(len(accounts))
    cell = pd.factorize(_cells(dataset), sort=True)[0]  # k-means on weighted cell centroids
    mass = np.bincount(cell, weights=weight)
    points = np.column_stack([np.bincount(cell, weights=weight * accounts[axis].to_numpy(float))
                              for axis in ("lat", "lon")]) / np.maximum(mass, 1e-300)[:, None]
    centres = weighted_kmeans(points[mass > 0], mass[mass > 0], headcount, seed=seed)
    pool = _unit_points(dataset).head(max(20 * headcount, 500))
    pool_lat, pool_lon = pool["lat"].to_numpy(), pool["lon"].to_numpy()
    free = np.ones(len(pool), bool)
    lat, lon = np.empty(headcount), np.empty(headcount)
    for c, (c_lat, c_lon) in enumerate(centres):
        if free.any():
            d = np.where(free, haversine_km(c_lat, c_lon, pool_lat, pool_lon), np.inf)
            best = int(np.argmin(d))
            free[best] = False
            lat[c], lon[c] = pool_lat[best], pool_lon[best]
        else:
            lat[c], lon[c] = c_lat, c_lon
    ids = [f"S{i + 1:0{len(str(headcount))}d}" for i in range(headcount)]
    return pd.DataFrame({"territory_id": ids, "parent_id": _parents_near(dataset, lat, lon),
                         "name": ids, "home_lat": lat, "home_lon": lon})


def home_metric(alignment: AlignmentConfig) -> str:
    """What planned homes follow: the metric of the tightest balance rule (the plan must
    share it most evenly, so centres go where it is), else workload."""
    rules = sorted(alignment.balance, key=lambda rule: rule.tolerance)
    return rules[0].metric if rules else "workload"


def _parents_near(dataset: Dataset, lat: np.ndarray, lon: np.ndarray) -> list:
    """The parent of the current leaf territory whose rep lives nearest each point."""
    homes = current_homes(dataset).dropna(subset=["home_lat", "home_lon"])
    if homes.empty:
        tops = dataset.territories.loc[dataset.territories["parent_id"].isna(), "territory_id"]
        inner = [t for t in tops if t not in set(dataset.leaf_territories)]
        return [inner[0] if inner else None] * len(lat)
    d = haversine_km(np.asarray(lat)[:, None], np.asarray(lon)[:, None],
                     homes["home_lat"].to_numpy(float)[None, :],
                     homes["home_lon"].to_numpy(float)[None, :])
    return homes["parent_id"].to_numpy()[np.argmin(d, axis=1)].tolist()


# ---------------------------------------------------------------------------- screening

def _cells(dataset: Dataset) -> np.ndarray:
    """Per account: its unit id, or without units on every account its 0.1° lat/lon cell."""
    accounts = dataset.accounts
    if accounts["unit_id"].notna().all():
        return accounts["unit_id"].astype(str).to_numpy()
    return (accounts["lat"].round(1).astype(str) + "," + accounts["lon"].round(1).astype(str)).to_numpy()


def screening_dataset(dataset: Dataset, alignment: AlignmentConfig) -> Dataset:
    """The dataset with small screening items as ``unit_id`` (and no units, adjacency or
    travel file): accounts grouped by their family root's (unit, current territory, locked
    territory[, eligibility value]), each group cut, west to east, into chunks holding at
    most ``CHUNK_SHARE`` of a territory's mean target of every balanced metric. Costs stay
    exact per account; only what moves together changes."""
    accounts = dataset.accounts
    roots = family_roots(accounts["account_id"], accounts["parent_account_id"])
    keys = [_cells(dataset), accounts["current_territory"].fillna("").astype(str).to_numpy(),
            accounts["locked_territory"].fillna("").astype(str).to_numpy()]
    if alignment.eligibility:
        keys.append(accounts[alignment.eligibility].fillna("").astype(str).to_numpy())
    group = pd.Series(["|".join(parts) for parts in zip(*(key[roots] for key in keys))])
    k = max(len(dataset.leaf_territories), 1)
    share = np.zeros(len(accounts))
    for rule in alignment.balance:
        values = metric_values(accounts, rule.metric).clip(min=0)
        family = np.bincount(roots, weights=values, minlength=len(accounts))[roots]
        share = np.maximum(share, family / max(values.sum() / k, 1e-12))
    share = np.where(roots == np.arange(len(accounts)), share, 0.0)  # count a family once
    order = np.lexsort((accounts["lon"].to_numpy(float)[roots], group.to_numpy()))
    running = pd.Series(share[order]).groupby(group.to_numpy()[order]).cumsum().to_numpy()
    chunk = np.empty(len(accounts), np.int64)
    chunk[order] = np.floor(running / CHUNK_SHARE).astype(np.int64)
    items = group + "#" + pd.Series(chunk[roots]).astype(str)
    return replace(dataset, accounts=accounts.assign(unit_id=items.to_numpy()), units=None,
                   adjacency=None, travel=None)


def screen_plan(problem: AlignmentProblem) -> tuple[np.ndarray, str]:
    """A good plan fast, for comparing options (capacity is measured, not enforced):

    1. the LP relaxation over the ``CANDIDATES_PER_ITEM`` nearest territories per item, with
       the balance bands elastic (``elastic_penalty``: any deviation beyond a band costs
       more than every plan), so it always has a solution;
    2. items the LP assigns whole are fixed; a MIP (same model, HiGHS) places the few
       fractional ones, stopping within ``SCREEN_GAP`` of its bound (at ``SCREEN_MIP_SECONDS``
       it keeps its best plan, else the LP rounding; only then can a rerun differ);
    3. ``improve``: cost descent that never widens a band excess or breaks the move cap.

    Returns the plan and how step 2 ended: ``mip`` (within the gap), ``mip time limit``
    or ``lp rounding`` (the MIP found nothing in time).
    """
    problem = replace(problem, capacity=None)
    cand = select_candidates(problem, CANDIDATES_PER_ITEM)
    elastic = elastic_penalty(problem, cand)
    lp = run_highs(problem, cand, integer=False, time_limit=SCREEN_LP_SECONDS, elastic=elastic)
    if lp.values is None:
        raise NoSolutionError(f"screening LP found no plan ({lp.status})")
    whole = np.maximum.reduceat(lp.values, cand.start[:-1]) >= 1.0 - 1e-6
    rest = replace(problem, locked=np.where(whole, lp.assignment, problem.locked))
    mip = run_highs(rest, select_candidates(rest, CANDIDATES_PER_ITEM), integer=True,
                    time_limit=SCREEN_MIP_SECONDS, relative_gap=SCREEN_GAP, elastic=elastic)
    if mip.assignment is None:
        return improve(problem, cand, lp.assignment), "lp rounding"
    return improve(problem, cand, mip.assignment), "mip" if mip.status == "OPTIMAL" \
        else "mip time limit"


def _centre_weights(accounts: pd.DataFrame) -> np.ndarray:
    """Workload (else potential, else 1) per account, floored at 1 % of its mean."""
    for name in ("workload", "potential"):
        values = np.clip(accounts[name].to_numpy(float), 0.0, None)
        if values.sum() > 0:
            return np.maximum(values, 0.01 * values.mean())
    return np.ones(len(accounts))


def territory_centres(dataset: Dataset, capacity_fte: float, vacancy_fte: float) -> pd.DataFrame:
    """Per leaf territory: centre (first rep's home; a vacancy: workload-weighted centroid of
    its current accounts, else of all), fte (Σ reps' fte; a vacancy ``vacancy_fte``) and
    capacity_hours = fte × ``capacity_fte``."""
    accounts = dataset.accounts
    weight = _centre_weights(accounts)
    rows = []
    for tid in dataset.leaf_territories:
        reps = dataset.reps[dataset.reps["territory_id"] == tid]
        home = reps[["home_lat", "home_lon"]].to_numpy(float)[:1]
        if len(home) and np.isfinite(home).all():
            lat, lon = home[0]
        else:
            mine = (accounts["current_territory"] == tid).to_numpy()
            mine = mine if mine.any() else np.ones(len(accounts), bool)
            lat = np.average(accounts["lat"].to_numpy(float)[mine], weights=weight[mine])
            lon = np.average(accounts["lon"].to_numpy(float)[mine], weights=weight[mine])
        fte = float(reps["fte"].fillna(1.0).sum()) if len(reps) else vacancy_fte
        rows.append({"territory_id": tid, "lat": lat, "lon": lon, "fte": fte,
                     "capacity_hours": fte * capacity_fte})
    return pd.DataFrame(rows)


def plan_kpis(dataset: Dataset, account_territory: np.ndarray, centres: pd.DataFrame,
              metrics: list[str]) -> dict:
    """KPIs of a plan (territory id per account) recomputed from the accounts; see the
    module docstring."""
    accounts = dataset.accounts
    position = {t: i for i, t in enumerate(centres["territory_id"])}
    t_index = np.array([position[t] for t in account_territory], dtype=np.int64)
    k = len(centres)
    fte = centres["fte"].to_numpy(float)
    kpis = {}
    for metric in metrics:
        values = metric_values(accounts, metric)
        totals = np.bincount(t_index, weights=values, minlength=k)
        targets = fte / fte.sum() * values.sum()
        kpis[f"max_dev_{metric}"] = float(np.max(np.abs(totals / np.maximum(targets, 1e-12) - 1)))
    travel = haversine_km(accounts["lat"].to_numpy(float), accounts["lon"].to_numpy(float),
                          centres["lat"].to_numpy(float)[t_index],
                          centres["lon"].to_numpy(float)[t_index])
    workload = np.bincount(t_index, weights=accounts["workload"].to_numpy(float), minlength=k)
    potential = np.bincount(t_index, weights=accounts["potential"].to_numpy(float), minlength=k)
    capacity = centres["capacity_hours"].to_numpy(float)
    over = np.maximum(workload - capacity, 0.0)
    uncovered = potential * over / np.where(workload > 0, workload, 1.0)
    current = accounts["current_territory"].to_numpy(object)
    has_current = pd.notna(current) & np.isin(current, centres["territory_id"].to_numpy())
    kpis.update({
        "travel_km": float(travel.sum()),
        "over_capacity_hours": float(over.sum()),
        "territories_over_capacity": int((over > 1e-9).sum()),
        "uncovered_potential": float(uncovered.sum()),
        "moved_accounts": int((has_current & (current != account_territory)).sum()),
    })
    return kpis


def evaluate(dataset: Dataset, alignment: AlignmentConfig, capacity_fte: float) -> Evaluation:
    """Screen-optimise a variant (``screen_plan``) and measure it (``plan_kpis``)."""
    problem = build_problem(screening_dataset(dataset, alignment), alignment)
    items, how = screen_plan(problem)
    account_territory = np.empty(len(dataset.accounts), dtype=object)
    for item, rows in enumerate(problem.item_accounts):
        account_territory[rows] = problem.territory_ids[items[item]]
    centres = territory_centres(dataset, capacity_fte, alignment.vacancy_fte)
    kpis = plan_kpis(dataset, account_territory, centres, problem.metric_names)
    kpis.update(territories=problem.n_territories, screening=how)
    return Evaluation(kpis, account_territory, centres)


def capacity_per_fte(dataset: Dataset, capacity_hours: float | None) -> float:
    """Workload hours one FTE can cover: given, else the reps' median capacity, else 1600."""
    if capacity_hours is not None:
        if not capacity_hours > 0:
            raise InputError([InputIssue("options", "a positive number of hours per FTE",
                                         column="capacity", value=str(capacity_hours))])
        return float(capacity_hours)
    given = pd.to_numeric(dataset.reps["capacity"], errors="coerce").dropna()
    given = given[given > 0]
    return float(given.median()) if len(given) else DEFAULT_CAPACITY_HOURS


# ---------------------------------------------------------------------------- sizing

def sizing_runs(scenario: Scenario, counts: Iterable[int], *, capacity_hours: float | None = None,
                dataset: Dataset | None = None, progress: Progress | None = None
                ) -> list[tuple[int, Evaluation]]:
    """A green-field plan per headcount (``homes_for_headcount`` with the scenario's seed and
    ``home_metric``, screened without a move cap), with its evaluation."""
    dataset = dataset if dataset is not None else load_dataset(scenario)
    alignment = screening_alignment(scenario.alignment, keep_moves=False)
    capacity = capacity_per_fte(dataset, capacity_hours)
    counts = list(counts)
    bad = [c for c in counts if not 1 <= c <= len(dataset.accounts)]
    if bad or not counts:
        raise InputError([InputIssue("options", f"headcounts between 1 and {len(dataset.accounts)}",
                                     column="headcount", value=str(bad[0] if bad else "none"))])
    runs = []
    for headcount in counts:
        if progress:
            progress("size", {"headcount": headcount})
        homes = homes_for_headcount(dataset, headcount, scenario.alignment.seed,
                                    home_metric(scenario.alignment))
        variant = with_territories(dataset, homes, keep_current=False)
        runs.append((headcount, evaluate(variant, alignment, capacity)))
    return runs


def sizing_curve(runs: list[tuple[int, Evaluation]], total_workload: float,
                 capacity_fte: float) -> pd.DataFrame:
    """One row per headcount: KPIs, ``within_capacity`` (no territory over capacity) and
    ``capacity_lower_bound`` = ⌈total workload / hours per FTE⌉, below which no plan fits."""
    curve = pd.DataFrame([{"headcount": h, "capacity_per_fte": capacity_fte, **e.kpis}
                          for h, e in runs])
    curve["within_capacity"] = curve["territories_over_capacity"] == 0
    curve["capacity_lower_bound"] = int(np.ceil(total_workload / capacity_fte - 1e-9))
    return curve


def size_headcount(scenario: Scenario, counts: Iterable[int], *, capacity_hours: float | None = None,
                   progress: Progress | None = None) -> pd.DataFrame:
    """The sizing curve of the scenario for each headcount in ``counts`` (``sizing_curve``)."""
    dataset = load_dataset(scenario)
    runs = sizing_runs(scenario, counts, capacity_hours=capacity_hours, dataset=dataset,
                       progress=progress)
    return sizing_curve(runs, float(dataset.accounts["workload"].sum()),
                        capacity_per_fte(dataset, capacity_hours))


def smallest_within_capacity(curve: pd.DataFrame) -> int | None:
    """The smallest headcount whose plan keeps every territory within capacity, or None."""
    fits = curve.loc[curve["within_capacity"], "headcount"]
    return int(fits.min()) if len(fits) else None


# ---------------------------------------------------------------------------- hire / retire

@dataclass
class Ranking:
    """Options ranked best first (``score`` ascending), the baseline KPIs, and the variant
    dataset of the best option (re-optimise it with ``reoptimise``)."""

    baseline: dict
    table: pd.DataFrame
    best_dataset: Dataset | None
    evaluations: dict[str, Evaluation]


def score_change(kpis: dict, baseline: dict, metrics: list[str], total_workload: float) -> dict:
    """``delta_*`` = option − baseline per KPI, and one ``score`` (lower is better):
    Δ over-capacity hours / total workload + Σ_m Δ max deviation_m + Δ travel / baseline travel.
    Each term is a fraction, so a drop of 1 % of travel weighs as much as 1 point of balance."""
    deltas = {f"delta_{name}": kpis[name] - baseline[name]
              for name in [*(f"max_dev_{m}" for m in metrics), *KPI_DELTAS]}
    deltas["score"] = (deltas["delta_over_capacity_hours"] / max(total_workload, 1e-9)
                       + sum(deltas[f"delta_max_dev_{m}"] for m in metrics)
                       + deltas["delta_travel_km"] / max(baseline["travel_km"], 1e-9))
    return deltas


def _rank(options: list[tuple[str, dict, Dataset]], baseline: Evaluation, metrics: list[str],
          alignment: AlignmentConfig, capacity: float, id_column: str, top: int | None,
          progress: Progress | None, step: str) -> Ranking:
    """Evaluate every (id, descriptive columns, variant) option and rank by ``score``."""
    total_workload = float(next(iter(options))[2].accounts["workload"].sum()) if options else 0.0
    rows, evaluations, variants = [], {}, {}
    for option_id, columns, variant in options:
        if progress:
            progress(step, {id_column: option_id})
        outcome = evaluate(variant, alignment, capacity)
        evaluations[option_id], variants[option_id] = outcome, variant
        rows.append({id_column: option_id, **columns, **outcome.kpis,
                     **score_change(outcome.kpis, baseline.kpis, metrics, total_workload)})
    table = pd.DataFrame(rows).sort_values(["score", id_column], kind="stable").reset_index(drop=True)
    if top is not None:
        table = table.head(top)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    best = variants[table.at[0, id_column]] if len(table) else None
    return Ranking(baseline.kpis, table, best, evaluations)


def rank_hires(scenario: Scenario, *, candidates: pd.DataFrame | None = None, top: int = 10,
               screen: int = 20, spacing_km: float = CANDIDATE_SPACING_KM,
               capacity_hours: float | None = None,
               dataset: Dataset | None = None, progress: Progress | None = None) -> Ranking:
    """Marginal value of one more rep at each candidate home base, best first.

    Candidates: ``candidates`` (candidate_id, lat, lon[, name]; checked by
    ``validate_candidates``) or the ``screen`` most populous population centres at least
    ``spacing_km`` from each other and from every current rep. Each option is the current plan plus
    a new territory there (under the parent of the nearest rep's territory), re-optimised
    under the scenario's move cap; the baseline is the current territories re-optimised the
    same way. ``score`` < 0 means the hire helps.
    """
    dataset = dataset if dataset is not None else load_dataset(scenario)
    alignment = screening_alignment(scenario.alignment, keep_moves=True)
    capacity = capacity_per_fte(dataset, capacity_hours)
    homes = current_homes(dataset)
    if candidates is None:
        candidates = candidate_bases(dataset, exclude=homes[["home_lat", "home_lon"]].to_numpy(float),
                                     min_km=spacing_km, limit=screen)
        if candidates.empty:
            raise InputError([InputIssue("candidates", f"a population centre at least {spacing_km:g} "
                                         "km from every rep (or a candidates file)")])
    else:
        candidates = validate_candidates(candidates)
    baseline = evaluate(with_territories(dataset, homes, keep_current=True), alignment, capacity)
    parents = _parents_near(dataset, candidates["lat"].to_numpy(float),
                            candidates["lon"].to_numpy(float))
    options = []
    for cand, parent in zip(candidates.itertuples(index=False), parents):
        new = pd.DataFrame([{"territory_id": f"{NEW_PREFIX}-{cand.candidate_id}", "parent_id": parent,
                             "name": f"New: {cand.name}", "home_lat": cand.lat, "home_lon": cand.lon,
                             "fte": 1.0}])
        variant = with_territories(dataset, pd.concat([homes, new], ignore_index=True),
                                   keep_current=True)
        options.append((cand.candidate_id, {"name": cand.name, "lat": cand.lat, "lon": cand.lon},
                        variant))
    metrics = [rule.metric for rule in alignment.balance]
    return _rank(options, baseline, metrics, alignment, capacity, "candidate_id", top, progress,
                 "hire")


def rank_retirements(scenario: Scenario, *, capacity_hours: float | None = None,
                     dataset: Dataset | None = None, progress: Progress | None = None) -> Ranking:
    """Harm of absorbing each territory into the others (attrition), least harm first.

    Each option drops one leaf territory (its rep leaves; its accounts lose their current
    territory, so absorbing them does not count against the move cap) and re-optimises the
    rest under the scenario's move cap; the baseline is the current territories re-optimised
    the same way.
    """
    dataset = dataset if dataset is not None else load_dataset(scenario)
    alignment = screening_alignment(scenario.alignment, keep_moves=True)
    capacity = capacity_per_fte(dataset, capacity_hours)
    homes = current_homes(dataset)
    if len(homes) < 2:
        raise InputError([InputIssue("territories", "at least two leaf territories to retire one",
                                     column="territory_id")])
    baseline = evaluate(with_territories(dataset, homes, keep_current=True), alignment, capacity)
    options = [(tid, {"rep_id": homes.at[i, "rep_id"]},
                with_territories(dataset, homes.drop(index=i).reset_index(drop=True),
                                 keep_current=True))
               for i, tid in enumerate(homes["territory_id"])]
    metrics = [rule.metric for rule in alignment.balance]
    return _rank(options, baseline, metrics, alignment, capacity, "territory_id", None, progress,
                 "retire")


def reoptimise(scenario: Scenario, dataset: Dataset, label: str, *,
               time_limit: float | None = None, progress: Progress | None = None) -> Result:
    """The chosen option's plan at the scenario's own settings (``run_scenario``), renamed
    ``<scenario>-<label>``; ``time_limit`` overrides the scenario's when given."""
    from territory_opt.scenarios.runner import run_scenario

    update = {"name": f"{scenario.name}-{label}"}
    if time_limit is not None:
        update["alignment"] = scenario.alignment.model_copy(update={"time_limit": time_limit})
    return run_scenario(scenario.model_copy(update=update), dataset=dataset, progress=progress)


def write_sizing_plot(curve: pd.DataFrame, path) -> str:
    """The sizing curve as a PNG: worst balance deviation (%) and workload over capacity
    (hours) by headcount, with the capacity lower bound marked; travel (km) below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, travel) = plt.subplots(2, 1, figsize=(8, 7), sharex=True,
                                       gridspec_kw={"height_ratios": [3, 2]})
    for column in [c for c in curve.columns if c.startswith("max_dev_")]:
        left.plot(curve["headcount"], 100 * curve[column], marker="o",
                  label=column.replace("max_dev_", "max |dev| "))
    left.set_ylabel("worst deviation from target (%)")
    right = left.twinx()
    right.bar(curve["headcount"], curve["over_capacity_hours"], alpha=0.25, color="tab:red",
              label="workload over capacity (h)")
    right.set_ylabel("workload over capacity (hours)")
    bound = int(curve["capacity_lower_bound"].iloc[0])
    if curve["headcount"].min() <= bound <= curve["headcount"].max():
        left.axvline(bound, color="grey", linestyle="--", label=f"capacity bound ({bound})")
    lines, bars = left.get_legend_handles_labels(), right.get_legend_handles_labels()
    left.legend(lines[0] + bars[0], lines[1] + bars[1], loc="upper right")
    left.set_title(f"Sizing curve (capacity bound: {bound} reps)")
    travel.plot(curve["headcount"], curve["travel_km"] / 1000, marker="o", color="tab:green")
    travel.set_ylabel("travel (thousand km)")
    travel.set_xlabel("headcount (territories)")
    fig.tight_layout()
    tmp = f"{path}.tmp.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return str(path)
