"""Turn a validated Dataset and the alignment settings into an AlignmentProblem.

Items (what moves as one):
* ``level = "account"``: an account family (a root account and all its descendants via
  ``parent_account_id``) is one item whose id is the root's account id.
* ``level = "unit"``: a unit is one item; its accounts follow it. Unit metrics are the sums
  of the unit's accounts' metrics plus the unit's own numeric column of that name.

Numbers (all per item, summed over its accounts):
* balanced metrics: each balance rule's column; ``accounts`` is the account count;
* targets: a leaf territory's share of the metric total by rep FTE (sum of the ``fte`` of
  its reps; a vacancy counts ``alignment.vacancy_fte``);
* centres: the home of the territory's first rep; without one (vacancy or no home), the
  cost-weighted centroid of its current accounts, else the centroid of all accounts; the
  centre item (contiguity's root) is the item nearest the centre not locked elsewhere;
* distance: haversine km, or WGS-84 geodesic km rounded to whole km
  (``distance = "geodesic_km_rounded"``, the published districting convention);
* cost weight of an account: ``workload`` when the workload column has a positive total,
  else ``potential`` when positive, else 1 per account; each account's weight is floored at
  1 % of the mean weight so that zero-weight accounts still prefer nearby territories;
* cost of item i in territory t: Σ_accounts weight·d (travel), weight·d² (inertia), 0
  (none or cut_edges, which the districting engine handles). d is km, or travel minutes
  when a travel file is given (pairs missing from it are estimated from km at the file's
  median minutes per km);
* ``cost_weight``: the item's sum of those account weights; with free centres the cost of
  item i served by centre item j is cost_weight_i·d_ij (travel) or cost_weight_i·d_ij²;
* ``current``/``locked``: a family takes its root's value; a unit takes the territory most
  of its accounts are currently in, and its accounts' (single) lock;
* ``move_weight``: accounts in the item, or the ``moved_share_metric`` total if set;
  ``max_moved = max_moved_share × Σ move_weight``;
* eligibility: an item may go to a territory only if every non-empty eligibility value of
  its accounts is among the values of the territory's reps (a vacancy, or a rep without a
  value, accepts all);
* capacity: the sum of the territory's reps' ``capacity`` (NaN = no cap, when any of its
  reps has none, or for a vacancy); workload = the item's workload hours.
* levels (``alignment.levels``): each leaf's ancestor at that ``level`` of the hierarchy file,
  ordered top-down by depth; tolerance per metric from the rule, else the territory's.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd

from territory_opt.dataset import Dataset
from territory_opt.errors import InputError, InputIssue
from territory_opt.problem import AlignmentProblem, Level
from territory_opt.scenarios.config import AlignmentConfig

EARTH_RADIUS_KM = 6371.0088
COST_WEIGHT_FLOOR = 0.01       # fraction of the mean account weight every account counts at least
FREE_CENTRE_DISTANCE_MAX_ITEMS = 5000  # fill the n×n item distances for free centres up to this


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in km between broadcastable arrays of WGS84 degrees."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(lon2) - np.radians(lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def geodesic_km_rounded(lat1, lon1, lat2, lon2) -> np.ndarray:
    """WGS-84 ellipsoidal distance in whole km (pyproj Geod), broadcastable arrays."""
    from pyproj import Geod

    lat1, lon1, lat2, lon2 = np.broadcast_arrays(*(np.asarray(v, float) for v in
                                                    (lat1, lon1, lat2, lon2)))
    _, _, metres = Geod(ellps="WGS84").inv(lon1.ravel(), lat1.ravel(), lon2.ravel(), lat2.ravel())
    return np.round(np.asarray(metres) / 1000.0).reshape(lat1.shape)


def distance_function(name: str):
    """The km distance function selected by ``alignment.distance``."""
    return geodesic_km_rounded if name == "geodesic_km_rounded" else haversine_km


def family_roots(account_ids: pd.Series, parent_ids: pd.Series) -> np.ndarray:
    """Row index of each account's family root (following ``parent_account_id`` upwards).

    Parents missing from the accounts, and cycles (already a validation error), end the climb.
    """
    position = {aid: i for i, aid in enumerate(account_ids)}
    parent = np.array([position.get(p, -1) if isinstance(p, str) and p else -1
                       for p in parent_ids], dtype=np.int64)
    parent[parent == np.arange(len(parent))] = -1
    root = np.where(parent < 0, np.arange(len(parent)), parent)
    for _ in range(64):  # pointer jumping: depth 2^64 is more than enough
        nxt = np.where(parent[root] < 0, root, parent[root])
        if np.array_equal(nxt, root):
            break
        root = nxt
    return root


def metric_values(accounts: pd.DataFrame, metric: str, file: str = "accounts") -> np.ndarray:
    """Per-row values of a balance metric; ``accounts`` is the count (1 per row)."""
    if metric == "accounts":
        return np.ones(len(accounts))
    if metric not in accounts.columns:
        raise InputError([InputIssue(file, f"a numeric column '{metric}' for the balance rule",
                                     column=metric)])
    values = pd.to_numeric(accounts[metric], errors="coerce")
    bad = values.isna() & accounts[metric].notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError([InputIssue(file, "a number", row=row + 2, column=metric,
                                     value=str(accounts[metric].iloc[row]))])
    return values.fillna(0.0).to_numpy(float)


def _cost_weights(accounts: pd.DataFrame) -> tuple[np.ndarray, str]:
    for column in ("workload", "potential"):
        if column in accounts.columns:
            values = pd.to_numeric(accounts[column], errors="coerce").fillna(0.0).to_numpy(float)
            values = np.clip(values, 0.0, None)
            if values.sum() > 0:
                floor = COST_WEIGHT_FLOOR * values.mean()
                return np.maximum(values, floor), column
    return np.ones(len(accounts)), "accounts"


def _group_sum(groups: np.ndarray, n_groups: int, values: np.ndarray) -> np.ndarray:
    """Sum rows of ``values`` (1-D or 2-D) by group index."""
    if values.ndim == 1:
        return np.bincount(groups, weights=values, minlength=n_groups)
    out = np.zeros((n_groups, values.shape[1]))
    np.add.at(out, groups, values)
    return out


def _items(dataset: Dataset, level: str) -> tuple[list[str], np.ndarray, np.ndarray, list[str]]:
    """Item ids, item index per account, item (lat, lon), notes."""
    accounts = dataset.accounts
    notes = []
    if level == "account":
        roots = family_roots(accounts["account_id"], accounts["parent_account_id"])
        unique_roots, item_of = np.unique(roots, return_inverse=True)
        ids = accounts["account_id"].to_numpy()[unique_roots].tolist()
        latlon = accounts[["lat", "lon"]].to_numpy(float)[unique_roots]
        if len(unique_roots) < len(accounts):
            notes.append(f"{len(accounts) - len(unique_roots)} child accounts move with their "
                         f"family root ({len(unique_roots)} items)")
        return ids, item_of.astype(np.int64), latlon, notes
    units = dataset.units
    if units is None:
        codes, unit_ids = pd.factorize(accounts["unit_id"])
        if (codes < 0).any():
            raise InputError([InputIssue("accounts", "a unit_id on every account at unit level",
                                         row=int(np.flatnonzero(codes < 0)[0]) + 2,
                                         column="unit_id")])
        latlon = np.column_stack([
            np.bincount(codes, weights=accounts["lat"].to_numpy(float)) / np.bincount(codes),
            np.bincount(codes, weights=accounts["lon"].to_numpy(float)) / np.bincount(codes)])
        return list(unit_ids), codes.astype(np.int64), latlon, notes
    ids = units["unit_id"].tolist()
    position = {u: i for i, u in enumerate(ids)}
    item_of = np.array([position.get(u, -1) for u in accounts["unit_id"]], dtype=np.int64)
    if (item_of < 0).any():
        row = int(np.flatnonzero(item_of < 0)[0])
        raise InputError([InputIssue("accounts", "a unit_id listed in the units file", row=row + 2,
                                     column="unit_id", value=str(accounts["unit_id"].iloc[row]))])
    latlon = units[["lat", "lon"]].to_numpy(float)
    return ids, item_of, latlon, notes


def _territory_index(values, territory_ids: list[str]) -> np.ndarray:
    position = {t: i for i, t in enumerate(territory_ids)}
    return np.array([position.get(v, -1) if isinstance(v, str) else -1 for v in values],
                    dtype=np.int64)


def _item_choice(item_of: np.ndarray, n: int, per_account: np.ndarray, level: str,
                 root_rows: np.ndarray | None, column: str) -> np.ndarray:
    """Per-item territory index: the family root's value, or a unit's most common value."""
    if level == "account":
        return per_account[root_rows]
    out = np.full(n, -1, dtype=np.int64)
    known = per_account >= 0
    if not known.any():
        return out
    frame = pd.DataFrame({"item": item_of[known], "t": per_account[known]})
    counts = frame.groupby(["item", "t"]).size().reset_index(name="c")
    if column == "locked_territory":
        clash = counts.groupby("item")["t"].nunique()
        if (clash > 1).any():
            raise InputError([InputIssue("accounts", "one locked_territory per unit at unit level",
                                         column="locked_territory",
                                         value=f"unit item {int(clash.idxmax())}")])
    best = counts.sort_values(["item", "c", "t"], ascending=[True, False, True]).drop_duplicates(
        "item")
    out[best["item"].to_numpy()] = best["t"].to_numpy()
    return out


def _territory_fte(dataset: Dataset, territory_ids: list[str], vacancy_fte: float) -> np.ndarray:
    reps = dataset.reps
    fte = pd.to_numeric(reps["fte"], errors="coerce").fillna(1.0) if "fte" in reps else 1.0
    per = pd.Series(np.asarray(fte, float) * np.ones(len(reps)), index=reps.index).groupby(
        reps["territory_id"]).sum()
    return np.array([float(per[t]) if t in per.index else vacancy_fte for t in territory_ids])


def _centres(dataset: Dataset, territory_ids: list[str], acc_latlon: np.ndarray,
             acc_current: np.ndarray, acc_weight: np.ndarray, notes: list[str]) -> np.ndarray:
    centres = np.zeros((len(territory_ids), 2))
    reps = dataset.reps
    first = reps.drop_duplicates("territory_id").set_index("territory_id")
    fallback = []
    for t, tid in enumerate(territory_ids):
        if tid in first.index:
            home = first.loc[tid, ["home_lat", "home_lon"]].to_numpy(float)
            if np.isfinite(home).all():
                centres[t] = home
                continue
        mine = acc_current == t
        source = mine if mine.any() else np.ones(len(acc_current), bool)
        centres[t] = np.average(acc_latlon[source], axis=0, weights=acc_weight[source])
        fallback.append(tid)
    if fallback:
        notes.append("centre = weighted centroid of current accounts (no rep home) for: "
                     + ", ".join(fallback[:10]) + (" ..." if len(fallback) > 10 else ""))
    return centres


def _travel_minutes(dataset: Dataset, territory_ids: list[str],
                    acc_km: np.ndarray, notes: list[str]) -> np.ndarray:
    """Per-account travel minutes to each territory from ``dataset.travel`` (km-estimated gaps)."""
    travel = dataset.travel
    accounts = dataset.accounts
    key = "account_id" if "account_id" in travel.columns else "unit_id"
    t_index = _territory_index(travel["territory_id"], territory_ids)
    keys = accounts[key].to_numpy()
    key_codes, key_values = pd.factorize(pd.Series(keys))
    travel_key = pd.Index(key_values).get_indexer(travel[key])
    minutes_by_key = np.full((len(key_values), len(territory_ids)), np.nan)
    ok = (travel_key >= 0) & (t_index >= 0)
    minutes_by_key[travel_key[ok], t_index[ok]] = pd.to_numeric(
        travel["minutes"], errors="coerce").to_numpy(float)[ok]
    minutes = np.where(key_codes[:, None] >= 0, minutes_by_key[np.maximum(key_codes, 0)], np.nan)
    given = np.isfinite(minutes) & (acc_km > 0)
    if not given.any():
        raise InputError([InputIssue("travel", f"travel minutes for {key}s and territories in "
                                     "this scenario", column="minutes")])
    per_km = float(np.median(minutes[given] / acc_km[given]))
    missing = ~np.isfinite(minutes)
    if missing.any():
        notes.append(f"{int(missing.sum())} account-territory pairs missing from the travel file "
                     f"were estimated at {per_km:.2f} min/km")
    return np.where(missing, acc_km * per_km, minutes)


def _eligibility(dataset: Dataset, column: str, territory_ids: list[str], item_of: np.ndarray,
                 n: int) -> np.ndarray:
    accounts, reps = dataset.accounts, dataset.reps
    issues = [InputIssue(f, f"the eligibility column '{column}'", column=column)
              for f, frame in (("accounts", accounts), ("reps", reps)) if column not in frame]
    if issues:
        raise InputError(issues)

    def norm(v):
        return None if v is None or (isinstance(v, float) and np.isnan(v)) or v == "" else str(v)

    accepts: list[set | None] = []
    for tid in territory_ids:
        values = [norm(v) for v in reps.loc[reps["territory_id"] == tid, column]]
        accepts.append(None if not values or None in values else set(values))
    eligible = np.ones((n, len(territory_ids)), bool)
    acc_values = np.array([norm(v) for v in accounts[column]], dtype=object)
    for value in {v for v in acc_values if v is not None}:
        items = np.unique(item_of[acc_values == value])
        refusing = [t for t, acc in enumerate(accepts) if acc is not None and value not in acc]
        if refusing:
            eligible[np.ix_(items, refusing)] = False
    return eligible


def ancestors(territories: pd.DataFrame) -> dict[str, dict[str, str]]:
    """Per territory id, its ancestors (itself excluded) keyed by their ``level`` value."""
    parent = dict(zip(territories["territory_id"], territories["parent_id"]))
    level = dict(zip(territories["territory_id"], territories["level"]))
    out: dict[str, dict[str, str]] = {}
    for tid in territories["territory_id"]:
        chain, node, seen = {}, parent.get(tid), {tid}
        while isinstance(node, str) and node in parent and node not in seen:
            seen.add(node)
            chain.setdefault(str(level.get(node)), node)
            node = parent.get(node)
        out[tid] = chain
    return out


def _levels(dataset: Dataset, territory_ids: list[str], alignment: AlignmentConfig,
            metric_names: list[str]) -> list[Level]:
    """The balanced hierarchy levels, top first (see ``Level``)."""
    if not alignment.levels:
        return []
    issues = []
    if alignment.centers == "free" or alignment.compactness == "cut_edges":
        issues.append(InputIssue("scenario", "alignment.levels with centers = 'reps' and a "
                                 "travel, inertia or none compactness", column="levels"))
    chains = ancestors(dataset.territories)
    default = {rule.metric: rule.tolerance for rule in alignment.balance}
    levels, depth = [], {}  # depth: steps above the leaves
    for rule in alignment.levels:
        if rule.level in depth:
            issues.append(InputIssue("scenario", "each level once in alignment.levels",
                                     column="levels.level", value=rule.level))
            continue
        groups = [chains[t].get(rule.level) for t in territory_ids]
        orphans = [t for t, g in zip(territory_ids, groups) if g is None]
        if orphans:
            issues.append(InputIssue("territories", f"every territory under a node of level "
                                     f"'{rule.level}' (alignment.levels)", column="level",
                                     value=", ".join(orphans[:5])))
            continue
        tolerance = dict(default)
        if isinstance(rule.tolerance, dict):
            unknown = sorted(set(rule.tolerance) - set(default))
            if unknown:
                issues.append(InputIssue("scenario", f"tolerances for balanced metrics "
                                         f"({', '.join(default)}) at level '{rule.level}'",
                                         column="levels.tolerance", value=", ".join(unknown)))
            tolerance.update(rule.tolerance)
        elif rule.tolerance is not None:
            tolerance = dict.fromkeys(default, rule.tolerance)
        group_ids = list(dict.fromkeys(groups))
        position = {g: i for i, g in enumerate(group_ids)}
        levels.append(Level(rule.level, group_ids, np.array([position[g] for g in groups]),
                            np.array([tolerance[m] for m in metric_names], float),
                            rule.keep_boundaries))
        depth[rule.level] = list(chains[territory_ids[0]]).index(rule.level)  # steps up
    if issues:
        raise InputError(issues)
    levels.sort(key=lambda lv: -depth[lv.name])  # the level furthest from the leaves first
    for upper, lower in pairwise(levels):
        nested = {}
        for up, low in zip(upper.group_of, lower.group_of):
            if nested.setdefault(low, up) != up:
                raise InputError([InputIssue("territories", f"each '{lower.name}' under one "
                                             f"'{upper.name}'", column="parent_id",
                                             value=lower.group_ids[low])])
    return levels


def build_problem(dataset: Dataset, alignment: AlignmentConfig) -> AlignmentProblem:
    """Build the geometry-free problem (see the module docstring for every convention)."""
    accounts = dataset.accounts
    notes: list[str] = []
    territory_ids = dataset.leaf_territories
    k = len(territory_ids)
    level = alignment.level
    item_ids, item_of, item_latlon, item_notes = _items(dataset, level)
    notes += item_notes
    n = len(item_ids)
    root_rows = None
    if level == "account":
        roots = family_roots(accounts["account_id"], accounts["parent_account_id"])
        root_rows = np.unique(roots)

    metric_names = [rule.metric for rule in alignment.balance]
    weights = np.zeros((n, len(metric_names)))
    for j, metric in enumerate(metric_names):
        weights[:, j] = _group_sum(item_of, n, metric_values(accounts, metric))
        if level == "unit" and dataset.units is not None and metric in dataset.units.columns \
                and metric != "accounts":
            weights[:, j] += metric_values(dataset.units, metric, "units")

    fte = _territory_fte(dataset, territory_ids, alignment.vacancy_fte)
    if fte.sum() <= 0:
        raise InputError([InputIssue("reps", "a positive total fte", column="fte")])
    targets = np.outer(fte / fte.sum(), weights.sum(axis=0))

    acc_latlon = accounts[["lat", "lon"]].to_numpy(float)
    acc_weight, weight_name = _cost_weights(accounts)
    acc_current = _territory_index(accounts["current_territory"], territory_ids)
    acc_locked = _territory_index(accounts["locked_territory"], territory_ids)
    centres = _centres(dataset, territory_ids, acc_latlon, acc_current, acc_weight, notes)
    distance = distance_function(alignment.distance)
    acc_km = distance(acc_latlon[:, 0:1], acc_latlon[:, 1:2], centres[None, :, 0],
                      centres[None, :, 1])
    if dataset.travel is not None:
        acc_d = _travel_minutes(dataset, territory_ids, acc_km, notes)
        notes.append("cost uses travel minutes from the travel file instead of km")
    else:
        acc_d = acc_km
    if alignment.compactness == "travel":
        cost = _group_sum(item_of, n, acc_weight[:, None] * acc_d)
    elif alignment.compactness == "inertia":
        cost = _group_sum(item_of, n, acc_weight[:, None] * acc_d ** 2)
    else:
        cost = np.zeros((n, k))
    if alignment.compactness in ("travel", "inertia"):
        notes.append(f"compactness cost weighted by {weight_name}")
    del acc_km, acc_d
    distance_km = distance(item_latlon[:, 0:1], item_latlon[:, 1:2], centres[None, :, 0],
                           centres[None, :, 1])

    current = _item_choice(item_of, n, acc_current, level, root_rows, "current_territory")
    locked = _item_choice(item_of, n, acc_locked, level, root_rows, "locked_territory")
    if alignment.centers == "free" and (locked >= 0).any():
        # Green-field labels are new territories, so a lock to an old label cannot apply.
        notes.append(f"green-field design: {int((locked >= 0).sum())} locked item(s) not applied "
                     "(free centres create new territories)")
        locked = np.full(n, -1)
    if alignment.moved_share_metric:
        move_weight = _group_sum(item_of, n, metric_values(accounts,
                                                            alignment.moved_share_metric))
    else:
        move_weight = np.bincount(item_of, minlength=n).astype(float)
    max_moved = None
    if alignment.max_moved_share is not None:
        max_moved = float(alignment.max_moved_share * move_weight.sum())

    eligible = None
    if alignment.eligibility:
        eligible = _eligibility(dataset, alignment.eligibility, territory_ids, item_of, n)

    workload = _group_sum(item_of, n, metric_values(accounts, "workload")) \
        if "workload" in accounts.columns else None
    capacity = None
    if "capacity" in dataset.reps.columns:
        cap = pd.to_numeric(dataset.reps["capacity"], errors="coerce")
        grouped = cap.groupby(dataset.reps["territory_id"]).agg(
            lambda s: s.sum() if s.notna().all() else np.nan)
        capacity = np.array([float(grouped[t]) if t in grouped.index else np.nan
                             for t in territory_ids])
        if not np.isfinite(capacity).any():
            capacity = None

    edges = None
    if level == "unit" and dataset.adjacency is not None:
        position = {u: i for i, u in enumerate(item_ids)}
        a = np.array([position.get(u, -1) for u in dataset.adjacency["unit_id"]], dtype=np.int64)
        b = np.array([position.get(u, -1) for u in dataset.adjacency["neighbor_id"]],
                     dtype=np.int64)
        keep = (a >= 0) & (b >= 0) & (a != b)
        edges = np.column_stack([a[keep], b[keep]])

    # each territory's centre item: the one nearest its centre that is not locked elsewhere
    centre_km = distance(item_latlon[:, 0:1], item_latlon[:, 1:2], centres[None, :, 0],
                         centres[None, :, 1])
    centre_km[(locked[:, None] >= 0) & (locked[:, None] != np.arange(k)[None, :])] = np.inf
    center_items = np.argmin(centre_km, axis=0)
    item_distance_km = None
    if alignment.centers == "free" and n <= FREE_CENTRE_DISTANCE_MAX_ITEMS:
        item_distance_km = distance(item_latlon[:, 0:1], item_latlon[:, 1:2],
                                    item_latlon[None, :, 0], item_latlon[None, :, 1])

    return AlignmentProblem(
        item_ids=item_ids,
        territory_ids=territory_ids,
        metric_names=metric_names,
        weights=weights,
        targets=targets,
        tolerances=np.array([rule.tolerance for rule in alignment.balance], float),
        soft=np.array([rule.soft for rule in alignment.balance], bool),
        soft_penalty=np.array([rule.penalty for rule in alignment.balance], float),
        cost=cost,
        distance_km=distance_km,
        item_latlon=item_latlon,
        current=current,
        locked=locked,
        move_weight=move_weight,
        item_accounts=np.split(np.argsort(item_of, kind="stable"),
                               np.cumsum(np.bincount(item_of, minlength=n))[:-1]),
        eligible=eligible,
        workload=workload,
        capacity=capacity,
        max_moved=max_moved,
        move_penalty=alignment.move_penalty,
        edges=edges,
        contiguous=alignment.contiguous,
        compactness=alignment.compactness,
        centers=alignment.centers,
        center_items=center_items,
        item_distance_km=item_distance_km,
        cost_weight=_group_sum(item_of, n, acc_weight),
        levels=_levels(dataset, territory_ids, alignment, metric_names),
        notes=notes,
    )
