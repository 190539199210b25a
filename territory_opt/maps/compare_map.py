"""Two plans side by side (A left, B right) with synchronised panning and zooming."""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from folium.plugins import DualMap

from territory_opt.maps import layers
from territory_opt.maps import offline as assets
from territory_opt.maps.shapes import (
    dissolve_units,
    territory_shapes,
    unit_polygons,
    unit_territories,
)
from territory_opt.maps.territory_map import draw_plan, plan_colours, write_html
from territory_opt.results import Result


def changed_accounts(result_a: Result, result_b: Result) -> pd.DataFrame:
    """Accounts in both plans whose territory differs: account_id, name, lat, lon, from (A), to (B).

    Location and name come from plan A; ``reason`` is B's reason when B records one.
    """
    a = result_a.assignments.drop_duplicates("account_id")
    b = result_b.assignments.drop_duplicates("account_id")
    b_cols = ["account_id", "territory_id"] + (["reason"] if "reason" in b else [])
    both = a.merge(b[b_cols], on="account_id", suffixes=("", "_b"))
    diff = both[both["territory_id"].astype(str) != both["territory_id_b"].astype(str)]
    return pd.DataFrame({
        "account_id": diff["account_id"],
        "name": diff["name"] if "name" in diff else diff["account_id"],
        "lat": diff["lat"], "lon": diff["lon"],
        "from": diff["territory_id"], "to": diff["territory_id_b"],
        "reason": diff.get("reason_b", ""),
    })


def changed_units(result_a: Result, result_b: Result) -> gpd.GeoDataFrame:
    """Areas that changed hands: units whose territory differs, dissolved per (A, B) pair.

    Columns: from (A's territory), to (B's territory), units (count), geometry (EPSG:4326,
    simplified like the territory shapes). Unit polygons come from A's dataset.
    """
    polys = unit_polygons(result_a)
    empty = gpd.GeoDataFrame({"from": [], "to": [], "units": []}, geometry=[], crs="EPSG:4326")
    if polys is None:
        return empty
    owners = pd.concat([unit_territories(result_a).rename("from"),
                        unit_territories(result_b).rename("to")], axis=1, join="inner")
    owners = owners[owners["from"].astype(str) != owners["to"].astype(str)]
    if owners.empty:
        return empty
    changed = polys.merge(owners, left_on="unit_id", right_index=True)
    pairs = changed[["from", "to"]].drop_duplicates().sort_values(["from", "to"])
    pairs["label"] = np.arange(len(pairs))
    changed = changed.merge(pairs, on=["from", "to"])
    areas = dissolve_units(changed, changed["label"].to_numpy())
    areas = areas.merge(pairs, on="label")
    areas["units"] = areas["label"].map(changed.groupby("label").size())
    return areas[["from", "to", "units", "geometry"]]


def compare_map(
    result_a: Result, result_b: Result, *, offline: bool = True,
    max_accounts: int | None = None, tiles: str | None = None,
) -> DualMap:
    """Plan A (left) and plan B (right) in one page, panning and zooming together.

    Both sides share one colouring (a territory has the same colour left and right).
    Where unit polygons exist, the units that changed territory are outlined dashed red.
    Accounts whose territory differs are red rings filled with that side's territory
    colour; they are left out when both plans are unit-level (accounts follow their units).
    """
    shapes = [territory_shapes(result_a), territory_shapes(result_b)]
    colours = plan_colours([result_a, result_b], shapes)
    accounts = changed_accounts(result_a, result_b)
    units = changed_units(result_a, result_b)
    both_unit_level = all(r.scenario.alignment.level == "unit" for r in (result_a, result_b))
    dual = DualMap(tiles=tiles, control_scale=True)
    assets.bundle(dual, assets.sync_assets(), offline)
    sides = ((dual.m1, result_a, shapes[0], "from"), (dual.m2, result_b, shapes[1], "to"))
    for fmap, result, shape, own in sides:
        layers.prepare_map(fmap, offline=offline)

        def change_layers(target, style, own=own):
            if not units.empty:
                layers.add_changed_units(
                    target, units, style,
                    name=f"Units changed A→B ({int(units['units'].sum()):,})",
                )
            if units.empty or not both_unit_level:
                layers.add_account_changes(
                    target, accounts, style, name=f"Accounts changed A→B ({len(accounts):,})",
                    css="to-changed", aliases=("In A", "In B"), colour_column=own,
                )

        draw_plan(fmap, result, shape, colours, offline=offline, max_accounts=max_accounts,
                  change_layers=change_layers)
    return dual


def write_compare_map(
    result_a: Result, result_b: Result, path: str | os.PathLike, *, offline: bool = True,
    max_accounts: int | None = None, tiles: str | None = None,
) -> Path:
    """Write :func:`compare_map` to ``path`` atomically (e.g. compare/compare.html)."""
    dual = compare_map(result_a, result_b, offline=offline, max_accounts=max_accounts, tiles=tiles)
    return write_html(dual, path)
