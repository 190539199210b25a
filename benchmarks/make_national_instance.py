"""Build the national ZIP-level instance (benchmark only; extras: zipcodes, plotly-geo, libpysal).

Recipe of shared/reference/data-sources.md: active STANDARD and UNIQUE ZIPs of CONUS + DC from
`zipcodes`, de-duplicated by coordinate; Voronoi cells in EPSG:5070 clipped by the plotly-geo 2016
CONUS counties and dissolved per ZIP; rook adjacency with libpysal. Two balance metrics:
`accounts` = 1 per ZIP and `potential` = a SYNTHETIC lognormal draw (seeded) — no offline
package has ZIP population. Writes benchmarks/data/national_zip.npz (not committed).

Usage: .venv/bin/python benchmarks/make_national_instance.py
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import _plotly_geo
import geopandas as gpd
import numpy as np
import shapely
import zipcodes
from libpysal.weights import Rook

OUT = Path(__file__).resolve().parent / "data" / "national_zip.npz"
NON_CONUS = {"AK", "HI", "PR", "VI", "GU", "AS", "MP", "FM", "MH", "PW", "AA", "AE", "AP"}
NON_CONUS_FIPS = {"02", "15", "60", "66", "69", "72", "78"}


def main() -> None:
    start = time.monotonic()
    rows = [z for z in zipcodes.list_all()
            if z["active"] and z["zip_code_type"] in ("STANDARD", "UNIQUE")
            and z["state"] not in NON_CONUS]
    points = gpd.GeoDataFrame(
        {"zip": [z["zip_code"] for z in rows]},
        geometry=gpd.points_from_xy([float(z["long"]) for z in rows],
                                    [float(z["lat"]) for z in rows]), crs=4326)
    points = points.drop_duplicates(subset="geometry").to_crs(5070).reset_index(drop=True)
    folder = os.path.join(os.path.dirname(_plotly_geo.__file__), "package_data")
    counties = gpd.read_file(os.path.join(folder, "cb_2016_us_county_500k.shp")).set_crs(
        4269, allow_override=True)
    counties = counties[~counties["STATEFP"].isin(NON_CONUS_FIPS)].to_crs(5070)
    points = points[points.within(counties.union_all().buffer(2000))].reset_index(drop=True)
    cells = shapely.voronoi_polygons(shapely.MultiPoint(points.geometry.values),
                                     extend_to=counties.union_all().envelope)
    cells = gpd.GeoDataFrame(geometry=list(cells.geoms), crs=5070)
    cells = gpd.sjoin(cells, points, predicate="contains").drop(columns="index_right")
    pieces = gpd.overlay(cells, counties[["GEOID", "geometry"]], how="intersection")
    zips = pieces.dissolve(by="zip").reset_index()
    zips = zips[~zips.geometry.is_empty].reset_index(drop=True)
    rook = Rook.from_dataframe(zips, use_index=False, silence_warnings=True)
    edges = np.array([(i, j) for i, nbrs in rook.neighbors.items() for j in nbrs if i < j])
    centroids = zips.geometry.representative_point().to_crs(4326)
    rng = np.random.default_rng(2026)
    weights = np.column_stack([np.ones(len(zips)),
                               np.round(rng.lognormal(mean=4.0, sigma=0.8, size=len(zips)))])
    OUT.parent.mkdir(exist_ok=True)
    np.savez_compressed(OUT, zip=zips["zip"].to_numpy(dtype=str), edges=edges,
                        latlon=np.column_stack([centroids.y, centroids.x]), weights=weights)
    print(f"{len(zips)} ZIP units, {len(edges)} edges, {time.monotonic() - start:.1f} s -> {OUT}")


if __name__ == "__main__":
    main()
