"""Map size and build time at scale: synthetic grid plans and real US county polygons.

Run: .venv/bin/python benchmarks/bench_maps.py [--quick] [--render]
Writes a Markdown table to stdout; copy it into benchmarks/results/maps.md.
Budget from the issue: 40,000 units and 20,000 accounts -> HTML <= 30 MB in <= 30 s.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import geopandas as gpd

from territory_opt.maps import snapshot_png, write_compare_map, write_map
from territory_opt.maps.shapes import territory_shapes
from territory_opt.maps.synthetic import grid_result, plan_on_units
from territory_opt.results import Result

DEMO_COUNTIES = Path(__file__).resolve().parents[1] / "territory_opt/demo/data/counties.gpkg"
NON_CONUS = {"02", "15", "60", "66", "69", "72", "78"}


def real_counties() -> tuple[str, gpd.GeoDataFrame] | None:
    """US county polygons (source, frame): Census 500k from plotly-geo, else the demo file."""
    try:
        import _plotly_geo
    except ImportError:
        _plotly_geo = None
    if _plotly_geo is not None:
        shp = Path(_plotly_geo.__file__).parent / "package_data" / "cb_2016_us_county_500k.shp"
        counties = gpd.read_file(shp).set_crs("EPSG:4269")  # Census files are NAD83; no .prj
        counties = counties[~counties["STATEFP"].isin(NON_CONUS)]
        return ("Census 2016 500k, full resolution",
                counties.rename(columns={"GEOID": "unit_id"})[["unit_id", "geometry"]])
    if DEMO_COUNTIES.is_file():
        return "demo counties.gpkg", gpd.read_file(DEMO_COUNTIES)[["unit_id", "geometry"]]
    return None


def grid_case(rows: int, cols: int, territories: int, accounts: int, **options):
    def build(seed: int) -> Result:
        return grid_result(rows, cols, territories, accounts, cell_deg=0.02, seed=seed, **options)
    return build


def county_case(territories: int, accounts: int):
    found = real_counties()
    if found is None:
        return None
    source, counties = found

    def build(seed: int) -> Result:
        return plan_on_units(counties, territories, accounts, seed=seed,
                             scenario_name=f"counties-s{seed}")
    build.source = source
    return build


CASES = [
    ("grid 50x80 = 4,000 units, 4,000 accounts, 40 territories", grid_case(50, 80, 40, 4_000)),
    ("grid 200x200 = 40,000 units, 20,000 accounts, 200 territories",
     grid_case(200, 200, 200, 20_000)),
    ("account level, no polygons (Voronoi), 20,000 accounts, 200 territories",
     grid_case(100, 100, 200, 20_000, level="account", with_polygons=False)),
    ("real US counties (CONUS), 20,000 accounts, 40 territories", county_case(40, 20_000)),
]


def measure(label: str, build, *, out: Path, render: bool) -> list[str]:
    """Table rows (territory map, compare map): build + write seconds, HTML megabytes."""
    start = time.perf_counter()
    result_a, result_b = build(1), build(2)
    data_s = time.perf_counter() - start

    start = time.perf_counter()
    shapes = territory_shapes(result_a)
    shapes_s = time.perf_counter() - start

    timings = []
    for kind, page, writer in (
        ("territory map", out / "map.html", lambda p: write_map(result_a, p)),
        ("compare map", out / "compare.html", lambda p: write_compare_map(result_a, result_b, p)),
    ):
        start, cpu = time.perf_counter(), time.process_time()
        writer(page)
        timings.append((kind, page, time.perf_counter() - start, time.process_time() - cpu))

    lines = []
    for kind, page, secs, cpu_secs in timings:
        png = "–"
        if render:
            start = time.perf_counter()
            snapshot_png(page, out / f"{page.stem}.png", budget_ms=20_000)
            png = f"{time.perf_counter() - start:.1f}"
        size = page.stat().st_size / 1e6
        lines.append(f"| {label} | {kind} | {secs:.1f} | {cpu_secs:.1f} | {size:.1f} | {png} |")
    print(f"  (building two synthetic plans {data_s:.1f} s; dissolve + simplify alone "
          f"{shapes_s:.1f} s for {len(shapes)} territory shapes)", flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small case only")
    parser.add_argument("--render", action="store_true", help="also time a headless PNG")
    parser.add_argument("--only", default="", help="run the cases whose label contains this")
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, python {platform.python_version()}")
    print("| case | map | build + write, wall (s) | CPU (s) | HTML (MB) | PNG render (s) |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        cases = [c for c in (CASES[:1] if args.quick else CASES) if args.only in c[0]]
        for label, build in cases:
            if build is not None and hasattr(build, "source"):
                label = f"{label} ({build.source})"
            if build is None:
                print(f"| {label} | skipped: no county polygons installed | | | | |")
                continue
            for line in measure(label, build, out=Path(tmp), render=args.render):
                print(line, flush=True)


if __name__ == "__main__":
    main()
