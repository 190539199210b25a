"""County-level districting benchmark (VBL 2022 T2 / Validi & Buchanan 2022 T1 instances).

Usage: .venv/bin/python benchmarks/bench_counties.py [--time-limit 60] [--objective inertia]
       [--states 23,35] [--no-contiguity] [--overt]
Reads ../shared/data/districting/county_2010 (beside the repository). Prints one markdown row
per state: status, MOI in the published convention (10^6 person·km²), bound, gap, seconds,
published value. ``--objective cut_edges`` runs the 12 T1 states (Validi & Buchanan 2022) and
prints cut edges (counted on the plan), the proven bound, gap and whether the published optimum
was reached and proved.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import networkx as nx
import numpy as np

from territory_opt.errors import InfeasibleError, NoSolutionError
from territory_opt.solvers.base import SolveOptions
from territory_opt.solvers.districting import solve_districting
from territory_opt.solvers.graph_problem import (
    cut_edge_count,
    load_unit_graph,
    problem_from_graph,
    published_bounds,
    score_moi,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "districting" / "county_2010"
# state: (FIPS, k, published MOI without contiguity, with contiguity or None = infeasible;
# for SC None means that no contiguous plan was found in 3,600 s: neither found nor disproved)
T2 = {
    "AL": ("01", 7, 15519.54, 16627.25), "AR": ("05", 4, 16525.07, 16543.15),
    "CO": ("08", 7, 35466.64, None), "IA": ("19", 4, 17748.05, 17748.05),
    "ID": ("16", 2, 61232.58, 61232.58), "KS": ("20", 4, 23736.89, 23736.89),
    "LA": ("22", 6, 17239.16, 17272.65), "ME": ("23", 2, 10789.07, 19093.26),
    "MS": ("28", 4, 16142.04, 16142.04), "NE": ("31", 3, 22112.00, 22193.01),
    "NH": ("33", 2, 3641.24, None), "NM": ("35", 3, 32847.05, 32944.25),
    "OK": ("40", 5, 21527.57, 21756.50), "OR": ("41", 5, 31424.49, None),
    "SC": ("45", 7, 12479.94, None), "WV": ("54", 3, 11844.76, 12000.62),
}
# T1 (Validi & Buchanan 2022): state -> (min cut edges without contiguity, with contiguity)
T1 = {"AL": (51, 55), "AR": (32, 33), "IA": (33, 33), "ID": (10, 10), "KS": (31, 32),
      "LA": (44, 49), "ME": (8, 16), "MS": (32, 34), "NE": (19, 19), "NM": (17, 17),
      "OK": (39, 40), "WV": (20, 23)}
SEATS = {"06": 53, "48": 36, "12": 27, "36": 27, "17": 18, "42": 18, "39": 16, "13": 14,
         "26": 14, "37": 13, "34": 12, "51": 11, "53": 10, "04": 9, "18": 9, "25": 9, "47": 9,
         "24": 8, "27": 8, "29": 8, "55": 8, "21": 6, "09": 5, "49": 4, "32": 4, "15": 2,
         "44": 2}


def plan_is_valid(graph: nx.Graph, assignment: np.ndarray, k: int, contiguous: bool) -> bool:
    """Independent check with networkx: k non-empty districts, population within the published
    [L, U], each district connected when contiguity is required."""
    nodes = list(graph.nodes)
    pop = np.array([graph.nodes[v]["TOTPOP"] for v in nodes], dtype=float)
    lower, upper = published_bounds(pop.sum(), k)
    for t in range(k):
        members = [nodes[i] for i in np.flatnonzero(assignment == t)]
        load = sum(graph.nodes[v]["TOTPOP"] for v in members)
        if not members or not lower <= load <= upper:
            return False
        if contiguous and not nx.is_connected(graph.subgraph(members)):
            return False
    return True


def run(fips: str, k: int, args) -> tuple[str, str, float, int | None]:
    """(status, value or reason, seconds, cut edges of the plan or None)."""
    graph = load_unit_graph(DATA / f"county{fips}.json")
    problem = problem_from_graph(graph, k, objective=args.objective,
                                 contiguous=not args.no_contiguity)
    start = time.monotonic()
    try:
        sol = solve_districting(problem, SolveOptions(time_limit=args.time_limit, seed=args.seed,
                                                      deterministic=args.deterministic))
    except InfeasibleError as err:
        return "INFEASIBLE", err.reasons[0], time.monotonic() - start, None
    except NoSolutionError:
        return "NO PLAN", "", time.monotonic() - start, None
    seconds = time.monotonic() - start
    if args.objective == "cut_edges":
        cut = cut_edge_count(problem.edges, sol.assignment)
        valid = plan_is_valid(graph, sol.assignment, k, problem.contiguous)
        value = f"{cut} | {sol.bound:.0f} | {(cut - sol.bound) / cut:.1%} | {'yes' if valid else 'NO'}"
        return sol.status, value, seconds, cut
    value = (f"{score_moi(graph, sol.assignment, sol.centers):.2f} "
             f"(bound {sol.bound / 1e6:.2f}, gap {sol.gap:.2%})")
    return sol.status, value, seconds, None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--objective", default="inertia")
    parser.add_argument("--states", default="")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-contiguity", action="store_true")
    parser.add_argument("--deterministic", action="store_true",
                        help="budget in work seconds (same plan on every run)")
    parser.add_argument("--overt", action="store_true", help="the 27 overtly infeasible states")
    args = parser.parse_args()
    if args.overt:
        print("| FIPS | k | result | reason | s |\n|---|---|---|---|---|")
        for fips, k in SEATS.items():
            status, reason, seconds, _ = run(fips, k, args)
            print(f"| {fips} | {k} | {status} | {reason} | {seconds:.2f} |", flush=True)
        return
    wanted = set(args.states.split(",")) if args.states else None
    reasons = []
    if args.objective == "cut_edges":
        print("| state | n | k | status | cut edges | bound | gap | plan valid | published | reached "
              "| proved | s |\n|---|---|---|---|---|---|---|---|---|---|---|---|")
    else:
        print("| state | n | k | status | ours | published | s |\n|---|---|---|---|---|---|---|")
    for state, (fips, k, free, contig) in T2.items():
        if wanted and state not in wanted and fips not in wanted:
            continue
        if args.objective == "cut_edges":
            if state not in T1:
                continue
            free, contig = T1[state]
        published = free if args.no_contiguity else contig
        status, value, seconds, cut = run(fips, k, args)
        if status == "INFEASIBLE":
            reasons.append(f"- {state}: {value}")
            value = value.partition(": ")[0] + " (reason below)"
        n = load_unit_graph(DATA / f"county{fips}.json").number_of_nodes()
        pub = (f"{published:.2f}" if published is not None else
               "none in 3,600 s" if state == "SC" else "infeasible")
        if args.objective == "cut_edges":
            reached = "yes" if cut == published else ("no" if cut is not None else "–")
            print(f"| {state} | {n} | {k} | {status} | {value if cut is not None else ' | | | '} | {published} | "
                  f"{reached} | {'yes' if status == 'OPTIMAL' else 'no'} | {seconds:.1f} |",
                  flush=True)
            continue
        print(f"| {state} | {n} | {k} | {status} | {value} | {pub} | {seconds:.1f} |", flush=True)
    if reasons:
        print("\nReasons given for the infeasible instances:\n" + "\n".join(reasons))


if __name__ == "__main__":
    main()
