"""Peers side by side on the county instances: GerryChain and weighted k-means (scikit-learn).

Optional benchmark deps: gerrychain, scikit-learn. For each T2 state: a GerryChain plan from
`recursive_tree_part` (±0.5 %, random spanning trees) improved by a short ReCom chain keeping the
lowest-MOI plan, and population-weighted k-means on county centroids. Every plan is scored like
ours: MOI in the published convention with each district's best centre county, max population
deviation, contiguity, seconds.

Usage: PYTHONPATH=. .venv/bin/python -m benchmarks.peers [--steps 200] [--states AL,OK]
"""

from __future__ import annotations

import argparse
import random
import time
from functools import partial

import networkx as nx
import numpy as np

from benchmarks.bench_counties import DATA, T2
from territory_opt.solvers.graph_problem import (
    distance_matrix_km,
    graph_latlon,
    load_unit_graph,
    published_bounds,
)


def score(graph: nx.Graph, labels: np.ndarray, k: int, dist: np.ndarray) -> dict:
    nodes = list(graph.nodes)
    pop = np.array([graph.nodes[v]["TOTPOP"] for v in nodes], dtype=float)
    lower, upper = published_bounds(pop.sum(), k)
    moi, connected, worst = 0.0, True, 0.0
    for t in range(k):
        members = np.flatnonzero(labels == t)
        if len(members) == 0:
            return {"moi": float("nan"), "contiguous": False, "balanced": False, "dev": 1.0}
        cost = (pop[members, None] * dist[np.ix_(members, members)] ** 2).sum(axis=0)
        moi += cost.min() / 1e6
        connected &= nx.is_connected(graph.subgraph([nodes[i] for i in members]))
        worst = max(worst, abs(pop[members].sum() / (pop.sum() / k) - 1))
    loads = np.array([pop[labels == t].sum() for t in range(k)])
    return {"moi": moi, "contiguous": bool(connected),
            "balanced": bool(np.all((loads >= lower) & (loads <= upper))), "dev": worst}


def gerrychain_plan(graph: nx.Graph, k: int, steps: int, dist: np.ndarray, seed: int = 0):
    from gerrychain import Graph, MarkovChain, Partition
    from gerrychain.accept import always_accept
    from gerrychain.constraints import within_percent_of_ideal_population
    from gerrychain.proposals import recom
    from gerrychain.tree import recursive_tree_part
    from gerrychain.updaters import Tally

    random.seed(seed)
    gc_graph = Graph.from_networkx(graph)
    pop = sum(graph.nodes[v]["TOTPOP"] for v in graph.nodes)
    start = recursive_tree_part(gc_graph, range(k), pop / k, "TOTPOP", 0.005)
    partition = Partition(gc_graph, start, {"population": Tally("TOTPOP", alias="population")})
    proposal = partial(recom, pop_col="TOTPOP", pop_target=pop / k, epsilon=0.005,
                       node_repeats=2)
    chain = MarkovChain(proposal, [within_percent_of_ideal_population(partition, 0.005)],
                        always_accept, partition, total_steps=steps)
    index = {v: i for i, v in enumerate(graph.nodes)}
    best, best_moi = None, np.inf
    for state in chain:
        labels = np.zeros(len(index), dtype=int)
        for v, part in state.assignment.items():
            labels[index[v]] = int(part)
        moi = score(graph, labels, k, dist)["moi"]
        if moi < best_moi:
            best, best_moi = labels, moi
    return best


def kmeans_plan(graph: nx.Graph, k: int, seed: int = 0) -> np.ndarray:
    from sklearn.cluster import KMeans

    latlon = graph_latlon(graph)
    xy = np.column_stack([latlon[:, 1] * np.cos(np.radians(latlon[:, 0].mean())), latlon[:, 0]])
    pop = np.array([graph.nodes[v]["TOTPOP"] for v in graph.nodes], dtype=float)
    return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(xy, sample_weight=pop)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--states", default="")
    args = parser.parse_args()
    wanted = set(args.states.split(",")) if args.states else set(T2)
    print("| state | peer | MOI | contiguous | within ±0.5 % | max dev | s |")
    print("|---|---|---|---|---|---|---|")
    for state, (fips, k, _, contig) in T2.items():
        if state not in wanted or contig is None:
            continue
        graph = load_unit_graph(DATA / f"county{fips}.json")
        dist = distance_matrix_km(graph_latlon(graph), "geodesic_km_rounded")
        for name in ("gerrychain recom", "k-means"):
            start = time.monotonic()
            try:
                labels = (gerrychain_plan(graph, k, args.steps, dist) if name != "k-means"
                          else kmeans_plan(graph, k))
                s = score(graph, labels, k, dist)
                row = (f"{s['moi']:.2f} | {s['contiguous']} | {s['balanced']} | "
                       f"{s['dev']:.2%}")
            except (RuntimeError, ValueError) as err:  # a peer failing is a result
                row = f"failed: {type(err).__name__} | | | "
            print(f"| {state} | {name} | {row} | {time.monotonic() - start:.1f} |", flush=True)


if __name__ == "__main__":
    main()
