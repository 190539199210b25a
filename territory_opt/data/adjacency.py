"""Unit adjacency: derived from polygons, or normalised from an edge list.

Rules for polygons:

- ``rook``: two units are neighbours when they share a border of positive length (the
  intersection of the two polygons is longer than ``min_length``). Touching at a single
  corner point does not count; overlapping polygons count.
- ``queen``: two units are neighbours when they touch or overlap at all (a shared corner
  point is enough).

Coordinates are first snapped to a grid of a billionth of the data's extent (about 1 cm
for a continent in degrees), so borders that differ only by floating-point noise match.
Real gaps and slivers between polygons are not closed.

Candidate pairs come from a shapely STRtree query, so only nearby polygons are
intersected: tens of thousands of polygons take seconds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import shapely

RULES = ("rook", "queen")
SNAP = 1e-9  # snapping grid as a share of the data's extent


def normalise_edges(unit_ids: Sequence[str] | np.ndarray, neighbor_ids: Sequence[str] | np.ndarray
                    ) -> pd.DataFrame:
    """Undirected edges as ``unit_id < neighbor_id`` pairs, each once, sorted; no self-pairs."""
    a = np.asarray(unit_ids, dtype=object)
    b = np.asarray(neighbor_ids, dtype=object)
    keep = a != b
    a, b = a[keep], b[keep]
    low = np.where(a < b, a, b)
    high = np.where(a < b, b, a)
    edges = pd.DataFrame({"unit_id": low, "neighbor_id": high}, dtype=object)
    edges = edges.drop_duplicates().sort_values(["unit_id", "neighbor_id"], kind="stable")
    return edges.reset_index(drop=True)


def adjacency_from_polygons(units_gdf: pd.DataFrame, rule: str = "rook", *,
                            id_column: str = "unit_id", min_length: float = 0.0) -> pd.DataFrame:
    """Neighbouring units of a (Geo)DataFrame with a polygon ``geometry`` column.

    Returns ``DataFrame[unit_id, neighbor_id]`` with ``unit_id < neighbor_id``, each pair
    once. ``min_length`` (rook only) is in the geometry's coordinate units. Rows whose
    geometry is missing or empty have no neighbours.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, not {rule!r}")
    geometry = np.asarray(units_gdf["geometry"], dtype=object)
    ids = np.asarray(units_gdf[id_column], dtype=object)
    present = np.array([g is not None for g in geometry], dtype=bool)
    present[present] = ~shapely.is_empty(geometry[present].astype(object))
    positions = np.flatnonzero(present)
    geoms = shapely.make_valid(np.array(list(geometry[positions]), dtype=object))
    if len(geoms):
        minx, miny, maxx, maxy = shapely.total_bounds(geoms)
        extent = max(maxx - minx, maxy - miny)
        if extent > 0:
            grid = SNAP * extent
            geoms = shapely.transform(geoms, lambda xy: np.round(xy / grid) * grid)
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    if rule == "rook" and len(left):
        # DE-9IM: boundaries meet along a line (position 4) or interiors overlap (position 0)
        matrix = shapely.relate(geoms[left], geoms[right])
        shared = np.array([m[4] == "1" or m[0] == "2" for m in matrix], dtype=bool)
        left, right = left[shared], right[shared]
        if min_length > 0 and len(left):
            long = shapely.length(shapely.intersection(geoms[left], geoms[right])) > min_length
            left, right = left[long], right[long]
    return normalise_edges(ids[positions[left]], ids[positions[right]])
