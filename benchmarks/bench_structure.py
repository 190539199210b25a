"""Sales-force structure acceptance run on the bundled demo (issue 5).

The same steps as ``territory-opt size demo-balanced.toml --min 30 --max 50`` followed by
``territory-opt hire demo-balanced.toml --top 10``, timed together in one process:
sizing curve (CSV + PNG), hire ranking (CSV), then the best hire re-optimised with the
scenario's own solver settings (``--reopt-time-limit`` overrides its time limit) and its
results folder written. Prints one Markdown block with wall seconds per step, peak RSS and
the answers; runs are seeded, so the tables are identical from run to run.

Run: .venv/bin/python benchmarks/bench_structure.py [--out /tmp/structure-bench]
     [--reopt-time-limit 60] [--screen 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
from datetime import UTC, datetime
from pathlib import Path

from territory_opt.data import load_dataset
from territory_opt.scenarios.config import load_scenario
from territory_opt.scenarios.runner import write_result
from territory_opt.structure import (
    capacity_per_fte,
    rank_hires,
    reoptimise,
    sizing_curve,
    sizing_runs,
    smallest_within_capacity,
    write_sizing_plot,
)

DEMO = Path(__file__).resolve().parents[1] / "territory_opt" / "demo" / "demo-balanced.toml"


def markdown(frame, digits: int) -> str:
    """A Markdown table (pandas' to_markdown needs tabulate, not a dependency)."""
    def cell(value) -> str:
        return f"{value:,.{digits}f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |"
              for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/structure-bench"))
    parser.add_argument("--min", type=int, default=30, dest="min_reps")
    parser.add_argument("--max", type=int, default=50, dest="max_reps")
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--screen", type=int, default=20)
    parser.add_argument("--reopt-time-limit", type=float, default=None,
                        help="seconds for the best hire's re-optimisation (default: the scenario's)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    times = {}
    started = time.perf_counter()
    scenario = load_scenario(DEMO)
    dataset = load_dataset(scenario)
    times["load"] = time.perf_counter() - started

    mark = time.perf_counter()
    runs = sizing_runs(scenario, range(args.min_reps, args.max_reps + 1), dataset=dataset)
    capacity = capacity_per_fte(dataset, None)
    curve = sizing_curve(runs, float(dataset.accounts["workload"].sum()), capacity)
    curve.to_csv(args.out / "sizing.csv", index=False)
    write_sizing_plot(curve, args.out / "sizing.png")
    times["size (21 headcounts)"] = time.perf_counter() - mark
    print(f"size: {times['size (21 headcounts)']:.1f} s, peak RSS {peak_rss_mb():.0f} MB", flush=True)

    mark = time.perf_counter()
    ranking = rank_hires(scenario, top=args.top, screen=args.screen, dataset=dataset)
    ranking.table.to_csv(args.out / "hire_ranking.csv", index=False)
    times[f"hire ranking ({args.screen} candidates + baseline)"] = time.perf_counter() - mark
    print(f"hire ranking: {time.perf_counter() - mark:.1f} s, peak RSS {peak_rss_mb():.0f} MB",
          flush=True)

    mark = time.perf_counter()
    best_id = str(ranking.table.at[0, "candidate_id"])
    result = reoptimise(scenario, ranking.best_dataset, f"hire-{best_id}",
                        time_limit=args.reopt_time_limit)
    write_result(result, args.out / result.scenario.name)
    times["best hire re-optimised + written"] = time.perf_counter() - mark
    total = time.perf_counter() - started

    print(f"date: {datetime.now(UTC).isoformat(timespec='seconds')}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average "
          f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}, Python {platform.python_version()}")
    print("\n| step | wall s |\n|---|---|")
    for step, seconds in times.items():
        print(f"| {step} | {seconds:.1f} |")
    print(f"| **total** | **{total:.1f}** |")
    print(f"\npeak RSS: {peak_rss_mb():.0f} MB")
    columns = ["headcount", *[c for c in curve.columns if c.startswith("max_dev_")], "travel_km",
               "over_capacity_hours", "territories_over_capacity", "uncovered_potential"]
    print(f"\nsizing curve (capacity {capacity:g} h per FTE, lower bound "
          f"{int(curve['capacity_lower_bound'].iloc[0])} reps; smallest within capacity: "
          f"{smallest_within_capacity(curve)}):\n")
    print(markdown(curve[columns], 3))
    print("\nhire ranking (baseline = current territories re-optimised the same way):\n")
    shown = ["rank", "candidate_id", "name", "score", "delta_travel_km",
             "delta_over_capacity_hours", *[c for c in ranking.table.columns
                                            if c.startswith("delta_max_dev_")]]
    print(markdown(ranking.table[shown], 4))
    metrics = result.metrics
    print(f"\nbest hire {best_id} re-optimised: status {metrics['status']}, gap {metrics['gap']}, "
          f"solve {metrics['solve_seconds']} s, engine {metrics['engine']}")


if __name__ == "__main__":
    main()
