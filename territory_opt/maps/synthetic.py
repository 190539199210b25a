"""Synthetic plans on a grid of square units, for map tests and benchmarks.

Unit polygons (a ``rows × cols`` grid of squares, or any given polygons such as real
counties) are split into territories by nearest seed unit; accounts sit at random
points inside randomly chosen units. A second seed set, shifted slightly, gives the
previous plan, so accounts near borders are "moved".
Territory KPIs are computed from the accounts exactly as the Result contract states.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from territory_opt.dataset import Dataset
from territory_opt.results import Result
from territory_opt.scenarios.config import scenario_from_dict

EARTH_RADIUS_KM = 6371.0088


def _haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(a))


def _nearest_seed(cx: np.ndarray, cy: np.ndarray, seeds_x, seeds_y) -> np.ndarray:
    d = (cx[:, None] - seeds_x[None, :]) ** 2 + (cy[:, None] - seeds_y[None, :]) ** 2
    return d.argmin(axis=1)


def territory_table(
    assignments: pd.DataFrame, territories: pd.DataFrame, reps: pd.DataFrame, metrics: list[str],
) -> pd.DataFrame:
    """territories.csv layout: one row per leaf territory with totals, targets, deviations.

    target = total over all accounts / number of territories (equal shares, fte 1);
    deviation = total / target - 1; travel_km = sum of haversine km from each account
    to its rep's home (to the territory's account centroid for a vacancy).
    """
    leaf = territories[["territory_id", "name", "parent_id", "level"]].copy()
    rep = reps.drop_duplicates("territory_id").rename(columns={"name": "rep_name",
                                                              "email": "rep_email"})
    table = leaf.merge(rep[["territory_id", "rep_id", "rep_name", "rep_email", "home_lat",
                            "home_lon", "fte", "capacity"]], on="territory_id", how="left")
    grouped = assignments.groupby("territory_id")
    table["accounts"] = table["territory_id"].map(grouped.size()).fillna(0).astype(int)
    for metric in metrics:
        totals = table["territory_id"].map(grouped[metric].sum()).fillna(0.0)
        target = assignments[metric].sum() / len(table)
        table[f"{metric}_total"] = totals
        table[f"{metric}_target"] = target
        table[f"{metric}_deviation"] = totals / target - 1 if target else 0.0
    centre = grouped[["lat", "lon"]].mean()
    home_lat = table["home_lat"].fillna(table["territory_id"].map(centre["lat"]))
    home_lon = table["home_lon"].fillna(table["territory_id"].map(centre["lon"]))
    acc = assignments.merge(pd.DataFrame({"territory_id": table["territory_id"],
                                          "c_lat": home_lat, "c_lon": home_lon}),
                            on="territory_id", how="left")
    acc["km"] = _haversine_km(acc["lat"], acc["lon"], acc["c_lat"], acc["c_lon"])
    table["travel_km"] = table["territory_id"].map(acc.groupby("territory_id")["km"].sum())
    return table.fillna({"travel_km": 0.0})


def _random_points_in(geoms: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """One uniform random point inside each polygon (rejection sampling in its bounding box)."""
    bounds = shapely.bounds(geoms)
    x, y = np.empty(len(geoms)), np.empty(len(geoms))
    todo = np.arange(len(geoms))
    for _ in range(50):
        if not len(todo):
            break
        b = bounds[todo]
        cand_x = b[:, 0] + rng.uniform(0, 1, len(todo)) * (b[:, 2] - b[:, 0])
        cand_y = b[:, 1] + rng.uniform(0, 1, len(todo)) * (b[:, 3] - b[:, 1])
        ok = shapely.contains_xy(geoms[todo], cand_x, cand_y)
        x[todo[ok]], y[todo[ok]] = cand_x[ok], cand_y[ok]
        todo = todo[~ok]
    inner = shapely.point_on_surface(geoms[todo])  # slivers that rejection sampling missed
    x[todo], y[todo] = shapely.get_x(inner), shapely.get_y(inner)
    return x, y


def plan_on_units(
    units: gpd.GeoDataFrame, territories: int, accounts: int, *, seed: int = 0,
    adjacency: pd.DataFrame | None = None, names: dict[str, str] | None = None,
    level: str = "unit", with_polygons: bool = True, vacant: tuple[str, ...] = (),
    scenario_name: str = "synthetic",
) -> Result:
    """A Result on the given unit polygons (columns unit_id, geometry; EPSG:4326).

    Territories: nearest of ``territories`` random seed units (distances in degrees with
    longitude scaled by cos(latitude)); the previous plan uses seeds shifted by up to the
    median unit size. ``accounts`` are random points inside random units. ``names``
    overrides territory display names (e.g. hostile strings for escaping tests);
    ``with_polygons=False`` drops unit geometry (maps then fall back to Voronoi shapes);
    ``vacant`` lists territory ids without a rep.
    """
    rng = np.random.default_rng(seed)
    units = units.to_crs("EPSG:4326").reset_index(drop=True)
    geoms = units.geometry.values
    unit_ids = units["unit_id"].astype(str).to_numpy()
    centre = shapely.point_on_surface(geoms)
    cx, cy = shapely.get_x(centre), shapely.get_y(centre)
    scale = np.cos(np.radians(np.mean(cy)))
    picks = rng.choice(len(units), size=territories, replace=False)
    owner = _nearest_seed(cx * scale, cy, cx[picks] * scale, cy[picks])
    bounds = shapely.bounds(geoms)
    shift = 0.8 * float(np.median(bounds[:, 3] - bounds[:, 1]))
    prev_owner = _nearest_seed(cx * scale, cy,
                               (cx[picks] + rng.uniform(-shift, shift, territories)) * scale,
                               cy[picks] + rng.uniform(-shift, shift, territories))
    tids = np.array([f"T{k + 1:03d}" for k in range(territories)])

    unit_of = np.sort(rng.integers(0, len(units), accounts))
    lon, lat = _random_points_in(geoms[unit_of], rng)
    moved = owner[unit_of] != prev_owner[unit_of]
    assignments = pd.DataFrame({
        "account_id": [f"A{k:06d}" for k in range(accounts)],
        "name": [f"Account {k}" for k in range(accounts)],
        "territory_id": tids[owner[unit_of]],
        "previous_territory_id": tids[prev_owner[unit_of]],
        "moved": moved,
        "reason": np.where(moved, "balance: potential", ""),
        "unit_id": unit_ids[unit_of],
        "lat": lat, "lon": lon,
        "potential": rng.gamma(2.0, 50_000.0, accounts).round(0),
        "workload": rng.uniform(5, 40, accounts).round(1),
    })
    names = names or {}
    hierarchy = pd.DataFrame({
        "territory_id": ["ROOT", *tids],
        "parent_id": [None, *["ROOT"] * territories],
        "level": ["region", *["territory"] * territories],
        "name": ["All", *[names.get(t, f"Territory {t}") for t in tids]],
    })
    staffed = [k for k, t in enumerate(tids) if t not in vacant]
    reps = pd.DataFrame({
        "rep_id": [f"R{k + 1:03d}" for k in staffed],
        "territory_id": tids[staffed],
        "name": [f"Rep {k + 1}" for k in staffed],
        "email": [f"rep{k + 1}@example.com" for k in staffed],
        "home_lat": cy[picks][staffed], "home_lon": cx[picks][staffed],
        "capacity": np.nan, "fte": 1.0, "start_date": pd.NaT, "manager_id": None,
    })
    account_table = assignments[["account_id", "name", "lat", "lon", "unit_id", "potential",
                                 "workload"]].assign(
        sales_ly=0.0, current_territory=assignments["previous_territory_id"])
    unit_frame = gpd.GeoDataFrame({"unit_id": unit_ids, "lat": cy, "lon": cx},
                                  geometry=geoms, crs="EPSG:4326")
    if not with_polygons:
        unit_frame = pd.DataFrame({"unit_id": unit_ids, "lat": cy, "lon": cx, "geometry": None})
    dataset = Dataset(accounts=account_table, territories=hierarchy, reps=reps, units=unit_frame,
                      adjacency=adjacency, adjacency_rule="rook" if adjacency is not None else None)
    scenario = scenario_from_dict({
        "name": scenario_name,
        "data": {"accounts": "accounts.csv"},
        "alignment": {"level": level, "balance": [{"metric": "potential", "tolerance": 0.1}]},
    })
    table = territory_table(assignments, hierarchy[hierarchy["territory_id"] != "ROOT"], reps,
                            ["potential"])
    unit_table = (pd.DataFrame({"unit_id": unit_ids, "territory_id": tids[owner]})
                  if level == "unit" else None)
    metrics = {
        "status": "FEASIBLE", "objective": float(table["travel_km"].sum()), "bound": None,
        "gap": None, "solve_seconds": 0.0,
        "balance": {"potential": {
            "max_abs_deviation": float(table["potential_deviation"].abs().max())}},
        "moved_share": float(moved.mean()), "contiguous": None,
    }
    return Result(scenario=scenario, dataset=dataset, assignments=assignments,
                  territories=table, metrics=metrics, units=unit_table)


def grid_result(
    rows: int = 6, cols: int = 8, territories: int = 5, accounts: int = 150, *,
    cell_deg: float = 0.1, origin: tuple[float, float] = (-90.0, 38.0), seed: int = 0,
    **options,
) -> Result:
    """:func:`plan_on_units` on a ``rows × cols`` grid of square units with rook adjacency."""
    lon0, lat0 = origin
    ii, jj = np.divmod(np.arange(rows * cols), cols)
    unit_ids = np.array([f"U{r:04d}_{c:04d}" for r, c in zip(ii, jj)])
    xs, ys = lon0 + np.arange(cols + 1) * cell_deg, lat0 + np.arange(rows + 1) * cell_deg
    geoms = shapely.box(xs[jj], ys[ii], xs[jj + 1], ys[ii + 1])  # shared edges bit-identical
    units = gpd.GeoDataFrame({"unit_id": unit_ids}, geometry=geoms, crs="EPSG:4326")
    flat = np.arange(rows * cols)
    right, up = flat[jj < cols - 1], flat[ii < rows - 1]
    adjacency = pd.DataFrame({
        "unit_id": np.r_[unit_ids[right], unit_ids[up]],
        "neighbor_id": np.r_[unit_ids[right + 1], unit_ids[up + cols]],
    })
    return plan_on_units(units, territories, accounts, seed=seed, adjacency=adjacency,
                         scenario_name=f"grid-{rows}x{cols}-s{seed}", **options)
