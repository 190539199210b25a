"""GIS layers of a plan: territories, units and accounts, as GeoPackage or GeoJSON (EPSG:4326).

territories: one (Multi)Polygon per leaf territory: the dissolved polygons of its
units when units have polygons, else the convex hull of its accounts (buffered by
about 500 m when fewer than three distinct points make no area). Geometries are
repaired with ``make_valid`` and reduced to their polygonal parts.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from territory_opt.export.csvsafe import cell_text
from territory_opt.export.folder import ExportFolder
from territory_opt.export.plan import Plan, build_plan
from territory_opt.results import Result

CRS = "EPSG:4326"
HULL_BUFFER_DEG = 0.005  # ~500 m: gives one- and two-account territories an area


def _polygonal(geometry: BaseGeometry | None) -> MultiPolygon | None:
    """The valid polygonal part of a geometry as a MultiPolygon, or None when it has no area."""
    if geometry is None or geometry.is_empty:
        return None
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry)
    parts = [g for g in shapely.get_parts(geometry) if isinstance(g, Polygon | MultiPolygon)]
    polygons = [p for g in parts for p in shapely.get_parts(g) if not p.is_empty and p.area > 0]
    return MultiPolygon(polygons) if polygons else None


def _unit_shapes(result: Result) -> gpd.GeoDataFrame | None:
    units = result.dataset.units
    if units is None or "geometry" not in units or units["geometry"].isna().all():
        return None
    shapes = gpd.GeoDataFrame(
        units[["unit_id"]].copy(),
        geometry=list(units["geometry"]),
        crs=getattr(units, "crs", None) or CRS,
    )
    shapes["unit_id"] = [cell_text(u) for u in shapes["unit_id"]]
    return shapes.to_crs(CRS)


def _text_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as text or null (GeoPackage fields need one type per column)."""
    out = frame.copy()
    for column in out.columns:
        if column != "geometry" and (
            out[column].dtype == object or pd.api.types.is_string_dtype(out[column])
        ):
            out[column] = pd.Series(
                [cell_text(v) or None for v in out[column]], index=out.index, dtype=object
            )
    return out


def _accounts_layer(plan: Plan) -> gpd.GeoDataFrame:
    a = plan.accounts
    points = [
        shapely.Point(lon, lat) if np.isfinite(lat) and np.isfinite(lon) else None
        for lat, lon in zip(a["lat"], a["lon"])
    ]
    attributes = a.drop(columns=["lat", "lon"])
    return gpd.GeoDataFrame(_text_columns(attributes), geometry=points, crs=CRS)


def _units_layer(
    plan: Plan, shapes: gpd.GeoDataFrame | None, result: Result
) -> gpd.GeoDataFrame | None:
    territory = (
        dict(zip(plan.units["unit_id"], plan.units["territory_id"]))
        if plan.units is not None
        else {}
    )
    if shapes is not None:
        layer = shapes.copy()
        layer["geometry"] = [_polygonal(g) for g in layer.geometry]
    elif result.dataset.units is not None and {"lat", "lon"} <= set(result.dataset.units.columns):
        units = result.dataset.units
        layer = gpd.GeoDataFrame(
            {"unit_id": [cell_text(u) for u in units["unit_id"]]},
            geometry=gpd.points_from_xy(units["lon"], units["lat"]),
            crs=CRS,
        )
    else:
        return None
    layer["territory_id"] = [territory.get(u) for u in layer["unit_id"]]
    return _text_columns(layer.sort_values("unit_id", kind="stable").reset_index(drop=True))


def _territory_shapes(
    plan: Plan, units: gpd.GeoDataFrame | None, accounts: gpd.GeoDataFrame
) -> tuple[dict[str, MultiPolygon | None], str]:
    if units is not None and units.geom_type.isin(["MultiPolygon", "Polygon"]).any():
        grouped = units.dropna(subset=["territory_id"]).groupby("territory_id")["geometry"]
        return (
            {
                t: _polygonal(shapely.union_all([g for g in geoms if g is not None]))
                for t, geoms in grouped
            },
            "dissolved unit polygons",
        )
    shapes = {}
    for territory, points in accounts.dropna(subset=["geometry"]).groupby("territory_id")[
        "geometry"
    ]:
        hull = shapely.MultiPoint(list(points)).convex_hull
        shapes[territory] = _polygonal(hull if hull.area > 0 else hull.buffer(HULL_BUFFER_DEG))
    return shapes, "convex hulls of the territories' accounts"


def _territories_layer(plan: Plan, result: Result, shapes: dict) -> gpd.GeoDataFrame:
    leaves = plan.hierarchy[plan.hierarchy["is_leaf"]]
    layer = pd.DataFrame(
        {
            "territory_id": leaves["territory_id"],
            "label": leaves["label"],
            "parent_id": leaves["parent_id"],
            "level": leaves["level"],
        }
    )
    kpis = result.territories.drop(columns=["name", "parent_id", "level"], errors="ignore").copy()
    kpis["territory_id"] = [cell_text(t) for t in kpis["territory_id"]]
    layer = layer.merge(kpis, on="territory_id", how="left")
    if plan.quotas is not None:
        layer["quota"] = layer["territory_id"].map(
            dict(zip(plan.quotas["node_id"], plan.quotas["quota"]))
        )
    layer = _text_columns(layer)
    return gpd.GeoDataFrame(layer, geometry=[shapes.get(t) for t in layer["territory_id"]], crs=CRS)


def plan_layers(result: Result, folder: ExportFolder | None = None) -> dict[str, gpd.GeoDataFrame]:
    """The territories, units (when the plan has units) and accounts layers, EPSG:4326."""
    plan = build_plan(result)
    accounts = _accounts_layer(plan)
    units = _units_layer(plan, _unit_shapes(result), result)
    shapes, how = _territory_shapes(plan, units, accounts)
    layers = {"territories": _territories_layer(plan, result, shapes)}
    if units is not None:
        layers["units"] = units
    layers["accounts"] = accounts
    if folder is not None:
        folder.note(
            f"Territory shapes are {how}."
            + (
                " At account level a unit is drawn in the territory holding most of its "
                "accounts; the accounts layer is exact."
                if result.scenario.alignment.level == "account" and units is not None
                else ""
            )
        )
        if units is None:
            folder.note("The plan has no geographic units, so there is no units layer.")
        folder.notes.extend(plan.notes)
    return layers


def _describe(name: str, layer: gpd.GeoDataFrame) -> str:
    return f"layer '{name}': {', '.join(sorted(set(layer.geom_type.dropna())) or ['no geometry'])}"


def write_gpkg(result: Result, folder: ExportFolder) -> None:
    """One GeoPackage ``<scenario>.gpkg`` with the layers of :func:`plan_layers`."""
    path = folder.path / f"{result.scenario.name}.gpkg"
    for name, layer in plan_layers(result, folder).items():
        layer.to_file(path, layer=name, driver="GPKG", engine="pyogrio")
        folder.add(f"{path.name}#{name}", _describe(name, layer), len(layer))


def write_geojson(result: Result, folder: ExportFolder) -> None:
    """One ``<layer>.geojson`` file per layer of :func:`plan_layers`."""
    for name, layer in plan_layers(result, folder).items():
        path = folder.path / f"{name}.geojson"
        layer.to_file(path, driver="GeoJSON", engine="pyogrio", layer_options={"RFC7946": "YES"})
        folder.add(path.name, _describe(name, layer), len(layer))
