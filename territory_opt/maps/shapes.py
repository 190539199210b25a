"""Territory polygons for maps.

Three sources, best first:

1. Unit polygons (``dataset.units`` has geometry): each unit goes to its territory
   (``result.units``, or the majority territory of its accounts; a unit without any
   takes the territory of the nearest unit that has one) and units are dissolved per
   territory.
2. No polygons: a Voronoi diagram of the account locations, each cell labelled with
   the territory of its account(s), clipped to the accounts' convex hull buffered by
   5 % of the extent, dissolved per territory.

Geometry work happens in a Lambert azimuthal equal-area projection centred on the
data (metres, valid anywhere on Earth). The dissolved territories are simplified as a
coverage (shared borders stay shared, no slivers) with a tolerance of 1/2000 of the
extent's diagonal by default, returned to EPSG:4326 and snapped to a 1e-5 degree
grid (about 1 m), which keeps the GeoJSON small.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from territory_opt.results import Result

WGS84 = "EPSG:4326"
COORD_GRID_DEG = 1e-5  # output coordinate rounding, degrees (~1.1 m)
HULL_BUFFER_SHARE = 0.05  # Voronoi clip: hull buffered by this share of the extent
DEFAULT_TOLERANCE_SHARE = 1 / 2000  # simplification tolerance as a share of the diagonal


def local_crs(lon: np.ndarray, lat: np.ndarray) -> str:
    """A metre-based equal-area projection centred on the given WGS84 points."""
    lon0 = float(np.nanmean([np.nanmin(lon), np.nanmax(lon)]))
    lat0 = float(np.nanmean([np.nanmin(lat), np.nanmax(lat)]))
    return f"+proj=laea +lat_0={lat0:.4f} +lon_0={lon0:.4f} +datum=WGS84 +units=m +no_defs"


def unit_territories(result: Result) -> pd.Series:
    """unit_id -> territory_id: ``result.units`` when given, else the majority of accounts.

    Ties go to the territory id that sorts first, so the answer is deterministic.
    """
    if result.units is not None and {"unit_id", "territory_id"} <= set(result.units.columns):
        units = result.units.dropna(subset=["unit_id", "territory_id"])
        return units.drop_duplicates("unit_id").set_index("unit_id")["territory_id"]
    if "unit_id" not in result.assignments:
        return pd.Series(dtype=object, name="territory_id")
    accounts = result.assignments.dropna(subset=["unit_id", "territory_id"])
    if accounts.empty:
        return pd.Series(dtype=object, name="territory_id")
    counts = accounts.groupby(["unit_id", "territory_id"]).size().rename("n").reset_index()
    counts = counts.sort_values(["unit_id", "n", "territory_id"], ascending=[True, False, True])
    return counts.drop_duplicates("unit_id").set_index("unit_id")["territory_id"]


def nearest_owner(polys: gpd.GeoDataFrame, owner: pd.Series) -> np.ndarray:
    """Territory of each unit polygon; a unit with none takes that of the nearest owned unit.

    Units without accounts (account-level plans) would otherwise leave holes in the map.
    Distance: between representative points in the local projection (metres).
    """
    labels = owner.reindex(polys["unit_id"]).to_numpy()
    missing = pd.isna(labels)
    if missing.any():
        centres = shapely.point_on_surface(polys.geometry.values)
        x, y = shapely.get_x(centres), shapely.get_y(centres)
        xy = gpd.GeoSeries(centres, crs=WGS84).to_crs(local_crs(x, y)).get_coordinates().to_numpy()
        _, nearest = cKDTree(xy[~missing]).query(xy[missing])
        labels[missing] = labels[~missing][nearest]
    return labels


def unit_polygons(result: Result) -> gpd.GeoDataFrame | None:
    """The dataset's unit polygons (unit_id, geometry) in EPSG:4326, or None if there are none."""
    units = result.dataset.units
    if not isinstance(units, gpd.GeoDataFrame) or "geometry" not in units:
        return None
    polys = units[["unit_id", "geometry"]].copy()
    polys = polys[polys.geometry.notna() & ~polys.geometry.is_empty]
    if polys.empty:
        return None
    if polys.crs is None:
        polys = polys.set_crs(WGS84)
    return polys.to_crs(WGS84)


def _dissolve(geoms: np.ndarray, labels: np.ndarray) -> tuple[list, list]:
    order = np.argsort(labels, kind="stable")
    labels_sorted, geoms_sorted = labels[order], geoms[order]
    cuts = np.flatnonzero(labels_sorted[1:] != labels_sorted[:-1]) + 1
    ids, parts = [], []
    for start, stop in zip(np.r_[0, cuts], np.r_[cuts, len(labels_sorted)]):
        ids.append(labels_sorted[start])
        parts.append(shapely.union_all(geoms_sorted[start:stop]))
    return ids, parts


def _voronoi_territories(accounts: pd.DataFrame, crs: str) -> tuple[list, list]:
    """Voronoi cells of the distinct account locations, dissolved per territory (metres)."""
    pts = gpd.GeoSeries(gpd.points_from_xy(accounts["lon"], accounts["lat"]), crs=WGS84)
    xy = shapely.get_coordinates(pts.to_crs(crs).values)
    frame = pd.DataFrame({"x": xy[:, 0].round(1), "y": xy[:, 1].round(1),
                          "territory_id": accounts["territory_id"].to_numpy()})
    counts = frame.groupby(["x", "y", "territory_id"]).size().rename("n").reset_index()
    counts = counts.sort_values(["x", "y", "n", "territory_id"],
                                ascending=[True, True, False, True])
    sites = counts.drop_duplicates(["x", "y"])
    points = shapely.points(sites[["x", "y"]].to_numpy())
    hull = shapely.convex_hull(shapely.multipoints(points))
    minx, miny, maxx, maxy = shapely.bounds(hull)
    margin = max(HULL_BUFFER_SHARE * max(maxx - minx, maxy - miny), 1000.0)
    clip = shapely.buffer(hull, margin)
    if len(points) == 1:
        cells = np.array([clip])
    else:
        diagram = shapely.voronoi_polygons(shapely.multipoints(points), extend_to=clip,
                                           ordered=True)
        cells = shapely.intersection(np.asarray(shapely.get_parts(diagram)), clip)
    return _dissolve(cells, sites["territory_id"].to_numpy())


def _simplify_coverage(geoms: list, tolerance: float) -> np.ndarray:
    """Simplify the territory coverage keeping shared borders; per-shape fallback if invalid."""
    arr = np.asarray(geoms, dtype=object)
    if tolerance <= 0:
        return arr
    simplified = shapely.coverage_simplify(arr, tolerance)
    if not shapely.is_valid(simplified).all() or shapely.is_empty(simplified).any():
        simplified = shapely.simplify(arr, tolerance, preserve_topology=True)
    return shapely.make_valid(simplified)


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """Only the polygon parts of ``geom`` (one path per territory in the browser)."""
    if geom is None or geom.is_empty:
        return shapely.MultiPolygon()
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.MultiPolygon()


def _finish(ids: list, parts: list, crs: str, tolerance_m: float | None) -> gpd.GeoDataFrame:
    """Simplify the dissolved coverage (metres), return to WGS84, snap, keep polygons only."""
    if tolerance_m is None:
        minx, miny, maxx, maxy = shapely.total_bounds(np.asarray(parts, dtype=object))
        tolerance_m = DEFAULT_TOLERANCE_SHARE * float(np.hypot(maxx - minx, maxy - miny))
    simplified = _simplify_coverage(parts, tolerance_m)
    shapes = gpd.GeoDataFrame({"label": ids}, geometry=simplified, crs=crs).to_crs(WGS84)
    snapped = shapely.set_precision(shapes.geometry.values, COORD_GRID_DEG)
    shapes["geometry"] = [_polygonal(g) for g in snapped]
    return shapes[~shapes.geometry.is_empty].reset_index(drop=True)


def dissolve_units(
    polys: gpd.GeoDataFrame, labels: np.ndarray, *, tolerance_m: float | None = None,
) -> gpd.GeoDataFrame:
    """Unit polygons dissolved per label, simplified as a coverage: columns label, geometry."""
    centres = shapely.point_on_surface(polys.geometry.values)
    crs = local_crs(shapely.get_x(centres), shapely.get_y(centres))
    ids, parts = _dissolve(polys.to_crs(crs).geometry.values, np.asarray(labels))
    return _finish(ids, parts, crs, tolerance_m)


def territory_shapes(result: Result, *, tolerance_m: float | None = None) -> gpd.GeoDataFrame:
    """One (Multi)Polygon per territory with accounts or units, in EPSG:4326.

    Columns: territory_id, geometry, source ("units" or "voronoi"). ``tolerance_m`` is the
    simplification tolerance in metres (default: 1/2000 of the data's diagonal; 0 = none).
    Territories without accounts or units have no area and are left out.
    """
    accounts = result.assignments.dropna(subset=["lat", "lon", "territory_id"])
    polys = unit_polygons(result)
    owner = unit_territories(result)
    if polys is not None and not owner.empty and polys["unit_id"].isin(owner.index).any():
        labels = nearest_owner(polys, owner)
        shapes, source = dissolve_units(polys, labels, tolerance_m=tolerance_m), "units"
    elif not accounts.empty:
        crs = local_crs(accounts["lon"].to_numpy(), accounts["lat"].to_numpy())
        ids, parts = _voronoi_territories(accounts, crs)
        shapes, source = _finish(ids, parts, crs, tolerance_m), "voronoi"
    else:
        return gpd.GeoDataFrame({"territory_id": [], "source": []}, geometry=[], crs=WGS84)
    shapes = shapes.rename(columns={"label": "territory_id"})
    shapes["source"] = source
    return shapes[["territory_id", "source", "geometry"]]
