"""Green-field demo over seeds: the `demo-greenfield` scenario's solve (3,108 counties → 40
contiguous territories, free centres, soft balance), one row per seed.

Usage: .venv/bin/python benchmarks/bench_greenfield.py [--seeds 0 1 2 3 4 5] [--time-limit 60]
Columns: objective (workload-weighted km² + soft-balance penalty), bound, gap, the penalty
beyond the share no plan avoids (`soft_penalty_floor`), and the worst deviations.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from territory_opt.data import load_dataset
from territory_opt.formulation import build_problem
from territory_opt.scenarios.config import load_scenario
from territory_opt.solvers import SolveOptions, solve
from territory_opt.solvers.assignment_model import loads, soft_deviation_penalty, soft_penalty_floor
from territory_opt.verify import check_plan

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "demo-greenfield.toml"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    parser.add_argument("--time-limit", type=float, default=60.0)
    args = parser.parse_args()
    scenario = load_scenario(SCENARIO)
    problem = build_problem(load_dataset(scenario), scenario.alignment)
    floor = float(soft_penalty_floor(problem).sum())
    print("| seed | objective | bound | gap | avoidable penalty | worst deviation (potential, workload) | s |")
    print("|---|---|---|---|---|---|---|")
    gaps = []
    for seed in args.seeds:
        start = time.monotonic()
        solution = solve(problem, SolveOptions(time_limit=args.time_limit, seed=seed))
        seconds = time.monotonic() - start
        assert check_plan(problem, solution.assignment, solution.centers) == []
        plan_loads = loads(problem, solution.assignment)
        avoidable = soft_deviation_penalty(problem, plan_loads) - floor
        worst = np.abs(plan_loads / problem.targets - 1).max(axis=0)
        gaps.append(solution.gap)
        print(f"| {seed} | {solution.objective:.4g} | {solution.bound:.4g} | {solution.gap:.1%} | "
              f"{avoidable:.3g} | {worst[0]:.1%}, {worst[1]:.1%} | {seconds:.1f} |", flush=True)
    print(f"mean gap {np.mean(gaps):.1%}, worst {np.max(gaps):.1%}")


if __name__ == "__main__":
    main()
