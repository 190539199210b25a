"""National ZIP benchmark: ≥ 30,000 units, 300 contiguous territories, two metrics within ±5 %.

Usage: .venv/bin/python benchmarks/make_national_instance.py   (once)
       .venv/bin/python benchmarks/bench_national.py [--time-limit 540] [--k 300] [--seed 0]
Components other than the largest are joined by one "ferry" edge from their unit nearest the
rest of the map (reported). Objective: inertia by the first metric (accounts), free centres.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import networkx as nx
import numpy as np
from scipy.spatial import cKDTree

from territory_opt.problem import AlignmentProblem
from territory_opt.solvers.base import SolveOptions
from territory_opt.solvers.districting import solve_districting
from territory_opt.solvers.local_search import unit_vectors
from territory_opt.verify import check_plan

DATA = Path(__file__).resolve().parent / "data" / "national_zip.npz"


def ferry_edges(n: int, edges: np.ndarray, latlon: np.ndarray) -> list[tuple[int, int]]:
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(map(tuple, edges))
    comps = sorted(nx.connected_components(graph), key=len, reverse=True)
    main = np.fromiter(comps[0], dtype=int)
    tree = cKDTree(unit_vectors(latlon[main]))
    ferries = []
    for comp in comps[1:]:
        units = np.fromiter(comp, dtype=int)
        dist, idx = tree.query(unit_vectors(latlon[units]))
        best = int(np.argmin(dist))
        ferries.append((int(units[best]), int(main[idx[best]])))
    return ferries


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--time-limit", type=float, default=540.0)
    parser.add_argument("--k", type=int, default=300)
    parser.add_argument("--tolerance", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--deterministic", action="store_true",
                        help="budget in work seconds (same plan on every run)")
    args = parser.parse_args()
    data = np.load(DATA)
    latlon, weights, edges = data["latlon"], data["weights"], data["edges"]
    n, k = len(latlon), args.k
    ferries = ferry_edges(n, edges, latlon)
    edges = np.vstack([edges, np.array(ferries, dtype=int).reshape(-1, 2)])
    problem = AlignmentProblem(
        item_ids=[str(z) for z in data["zip"]], territory_ids=[f"T{t}" for t in range(k)],
        metric_names=["accounts", "potential"], weights=weights,
        targets=np.tile(weights.sum(axis=0) / k, (k, 1)),
        tolerances=np.full(2, args.tolerance), soft=np.zeros(2, bool), soft_penalty=np.zeros(2),
        cost=np.zeros((n, 0)), distance_km=np.zeros((n, 0)), item_latlon=latlon,
        current=np.full(n, -1), locked=np.full(n, -1), move_weight=np.ones(n),
        item_accounts=[np.array([i]) for i in range(n)], edges=edges, contiguous=True,
        compactness="inertia", centers="free",
        notes=[f"{len(ferries)} ferry edges join detached parts: {ferries}"])
    start = time.monotonic()
    solution = solve_districting(problem, SolveOptions(
        time_limit=args.time_limit, engine="local", seed=args.seed,
        deterministic=args.deterministic,
        progress=lambda p: print(f"  {p['seconds']:7.1f} s {p.get('stage', '')} "
                                 f"objective {p['objective']:.6g}", flush=True)))
    seconds = time.monotonic() - start
    violations = check_plan(problem, solution.assignment, solution.centers)
    loads = np.array([weights[solution.assignment == t].sum(axis=0) for t in range(k)])
    spread = loads / (weights.sum(axis=0) / k) - 1
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(f"n={n} k={k} status={solution.status} objective={solution.objective:.6g} "
          f"bound={solution.bound:.6g} gap={solution.gap:.2%} seconds={seconds:.1f} "
          f"work_seconds={solution.stats.get('work_seconds')} "
          f"peak_rss={rss_gb:.2f} GB violations={len(violations)} "
          f"load deviation min/max={spread.min(axis=0)}/{spread.max(axis=0)}")
    print(solution.log)


if __name__ == "__main__":
    main()
