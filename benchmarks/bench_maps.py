"""Map size and build time at scale: synthetic grid plans and (if present) the demo counties.

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

from territory_opt.maps import snapshot_png, write_compare_map, write_map
from territory_opt.maps.shapes import territory_shapes
from territory_opt.maps.synthetic import grid_result

CASES = [
    # (label, rows, cols, territories, accounts)
    ("grid 50x80 units, 4,000 accounts, 40 territories", 50, 80, 40, 4_000),
    ("grid 200x200 = 40,000 units, 20,000 accounts, 200 territories", 200, 200, 200, 20_000),
]
QUICK_CASES = CASES[:1]


def measure(label: str, rows: int, cols: int, territories: int, accounts: int, *,
            out: Path, render: bool) -> list[str]:
    """One table row per map kind: build + write seconds and HTML megabytes."""
    start = time.perf_counter()
    result_a = grid_result(rows, cols, territories, accounts, cell_deg=0.02, seed=1)
    result_b = grid_result(rows, cols, territories, accounts, cell_deg=0.02, seed=2)
    data_s = time.perf_counter() - start

    start = time.perf_counter()
    shapes = territory_shapes(result_a)
    shapes_s = time.perf_counter() - start

    rows_out = []
    start = time.perf_counter()
    page = write_map(result_a, out / "map.html")
    map_s = time.perf_counter() - start
    rows_out.append((label, "territory map", map_s, page.stat().st_size))

    start = time.perf_counter()
    page_c = write_compare_map(result_a, result_b, out / "compare.html")
    cmp_s = time.perf_counter() - start
    rows_out.append((label, "compare map", cmp_s, page_c.stat().st_size))

    lines = []
    for case, kind, secs, size in rows_out:
        png = ""
        if render:
            start = time.perf_counter()
            snapshot_png(out / ("map.html" if kind == "territory map" else "compare.html"),
                         out / f"{kind.replace(' ', '_')}.png", budget_ms=20000)
            png = f"{time.perf_counter() - start:.1f}"
        lines.append(f"| {case} | {kind} | {secs:.1f} | {size / 1e6:.1f} | {png or '–'} |")
    print(f"  (synthetic data {data_s:.1f} s, dissolve+simplify alone {shapes_s:.1f} s, "
          f"{len(shapes)} shapes)", flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small case only")
    parser.add_argument("--render", action="store_true", help="also time a headless PNG")
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, python {platform.python_version()}")
    print("| case | map | build + write (s) | HTML (MB) | PNG render (s) |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for case in QUICK_CASES if args.quick else CASES:
            for line in measure(*case, out=Path(tmp), render=args.render):
                print(line, flush=True)


if __name__ == "__main__":
    main()
