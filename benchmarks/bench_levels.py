"""Multi-level alignment on the bundled demo (issue 5): what balancing districts and regions
costs, and what it buys.

Runs, in one process, the flat balanced demo (``demo-balanced``: territories only) and the
same plan with regions ±3 % and districts ±4 % solved top-down (``scenarios/demo-districts.toml``),
and for each: status, objective (Σ workload·km + penalties), bound, gap, solve seconds, the
worst deviation at every level and the moved share. Each plan is checked by
``territory_opt.verify.check_plan`` against the multi-level problem (flat plans usually break
the district rows, which is the point). Prints one Markdown block.

Run: .venv/bin/python benchmarks/bench_levels.py [--time-limit 60]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from territory_opt.data import load_dataset
from territory_opt.formulation import build_problem
from territory_opt.scenarios.config import load_scenario
from territory_opt.scenarios.tables import build_tables, hierarchy_table
from territory_opt.solvers import SolveOptions, solve
from territory_opt.verify import check_plan

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "demo-districts.toml"


def worst(hierarchy, level: str, metric: str) -> float:
    rows = hierarchy[hierarchy["level"] == level]
    return float(rows[f"{metric}_deviation"].abs().max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=60.0)
    args = parser.parse_args()
    scenario = load_scenario(SCENARIO)
    dataset = load_dataset(scenario)
    levelled = build_problem(dataset, scenario.alignment)
    flat = replace(levelled, levels=[])
    metrics = levelled.metric_names
    lines = [(f"Date {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
             f"load average {os.getloadavg()[0]:.2f}, time limit {args.time_limit:g} s, "
             f"command `.venv/bin/python benchmarks/bench_levels.py "
             f"--time-limit {args.time_limit:g}`"), "",
             ("| plan | status | objective | bound | gap | solve (s) | moved | "
              + " | ".join(f"{lv} max dev {m}" for lv in ("territory", "district", "region")
                          for m in metrics) + " | multi-level violations |"),
             "|" + "---|" * (8 + 3 * len(metrics))]
    for name, problem in (("territories only (flat)", flat), ("top-down, levels", levelled)):
        solution = solve(problem, SolveOptions(time_limit=args.time_limit, seed=0))
        _, territories, _, kpis = build_tables(dataset, problem, solution.assignment)
        hierarchy = hierarchy_table(dataset, levelled, territories)
        deviations = [worst(hierarchy, lv, m) for lv in ("territory", "district", "region")
                      for m in metrics]
        violations = len(check_plan(levelled, solution.assignment))
        lines.append(
            f"| {name} | {solution.status} | {solution.objective:,.0f} | "
            f"{solution.bound:,.0f} | {solution.gap:.2%} | {solution.solve_seconds:.1f} | "
            f"{kpis['moved_share']:.1%} | " + " | ".join(f"{d:.2%}" for d in deviations)
            + f" | {violations} |")
    lines += ["", f"Peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB"]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
