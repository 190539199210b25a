"""Peers side by side with our solver, in one run, on the county instances (issue 4).

For each chosen state (k districts, population within the published [L, U]) this runs, in the same
process and one after the other:

* ours: ``solve_districting`` on ``problem_from_graph`` (contiguity, moment of inertia);
* GerryChain: a ``recursive_tree_part`` start at ±0.5 % and ReCom with short bursts
  (``SingleMetricOptimizer.short_bursts``, bursts of 10 steps, each starting from the lowest-MOI
  plan so far) until the time limit;
* PySAL spopt: Skater, MaxP (population floor L; it picks the number of regions itself), AZP and
  RegionKMeansHeuristic (Region-K), all on projected centroid coordinates; none takes a balance
  constraint or a time limit, so each runs in a child process stopped at the time limit
  (MaxP's simulated-annealing rounds are cut from 10 to 1 to fit the budget);
* population-weighted k-means (scikit-learn) on the same coordinates.

Every plan is scored by the same independent measures: contiguity (networkx on the instance
graph), regions = k, max population deviation from P/k, every district within [L, U], MOI in the
published convention (``score_moi``, each district's best centre county), cut edges and wall
seconds; ratios are peer / ours on the same instance.

Optional benchmark deps (the ``peers`` extra): gerrychain, spopt, libpysal, scikit-learn.
Usage: nice -n 10 .venv/bin/python -m benchmarks.peers [--states AR,OK] [--time-limit 60]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import networkx as nx
import numpy as np

from benchmarks.bench_counties import DATA, T2
from territory_opt.errors import InfeasibleError, NoSolutionError
from territory_opt.solvers.base import SolveOptions
from territory_opt.solvers.districting import solve_districting
from territory_opt.solvers.graph_problem import (
    distance_matrix_km,
    graph_latlon,
    load_unit_graph,
    problem_from_graph,
    published_bounds,
    score_moi,
)

DEFAULT_STATES = "AR,IA,ID,KS,ME,NE,NM,OK,WV"
BURST_LENGTH = 10


@dataclass
class Instance:
    state: str
    graph: nx.Graph
    k: int
    pop: np.ndarray
    lower: int
    upper: int
    dist: np.ndarray        # (n, n) rounded geodesic km, for choosing each district's centre
    xy: np.ndarray          # (n, 2) equirectangular km, the peers' clustering attributes
    edges: np.ndarray       # (m, 2) node indices


def load_instance(state: str) -> Instance:
    fips, k = T2[state][0], T2[state][1]
    graph = load_unit_graph(DATA / f"county{fips}.json")
    index = {v: i for i, v in enumerate(graph.nodes)}
    pop = np.array([graph.nodes[v]["TOTPOP"] for v in graph.nodes], dtype=float)
    lower, upper = published_bounds(pop.sum(), k)
    latlon = graph_latlon(graph)
    xy = np.column_stack([latlon[:, 1] * np.cos(np.radians(latlon[:, 0].mean())) * 111.32,
                          latlon[:, 0] * 110.57])
    edges = np.array([(index[u], index[v]) for u, v in graph.edges if u != v], dtype=int)
    return Instance(state, graph, k, pop, lower, upper,
                    distance_matrix_km(latlon, "geodesic_km_rounded"), xy, edges)


def best_centres(inst: Instance, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels renumbered 0..r−1 and each district's MOI-minimising member (node index)."""
    regions, dense = np.unique(labels, return_inverse=True)
    centres = np.empty(len(regions), dtype=int)
    for t in range(len(regions)):
        members = np.flatnonzero(dense == t)
        cost = (inst.pop[members, None] * inst.dist[np.ix_(members, members)] ** 2).sum(axis=0)
        centres[t] = members[int(np.argmin(cost))]
    return dense, centres


def moi_best_centres(inst: Instance, labels: np.ndarray) -> float:
    """MOI in 10⁶ person·km² with each district's best centre (rounded geodesic km)."""
    dense, centres = best_centres(inst, labels)
    return float((inst.pop * inst.dist[np.arange(len(dense)), centres[dense]] ** 2).sum() / 1e6)


def score(inst: Instance, labels: np.ndarray) -> dict:
    """Independent measures of a plan (``labels[i]`` = district of the i-th node)."""
    nodes = list(inst.graph.nodes)
    dense, centres = best_centres(inst, np.asarray(labels))
    loads = np.bincount(dense, weights=inst.pop)
    contiguous = all(nx.is_connected(inst.graph.subgraph([nodes[i] for i in
                                                          np.flatnonzero(dense == t)]))
                     for t in range(len(loads)))
    within = bool(len(loads) == inst.k and np.all((loads >= inst.lower) & (loads <= inst.upper)))
    return {"regions": len(loads), "contiguous": contiguous, "within": within,
            "feasible": contiguous and within,
            "dev": float(np.max(np.abs(loads / (inst.pop.sum() / inst.k) - 1))),
            "moi": score_moi(inst.graph, dense, centres),
            "cut": int(np.sum(dense[inst.edges[:, 0]] != dense[inst.edges[:, 1]]))}


def ours(inst: Instance, seconds: float) -> np.ndarray | None:
    problem = problem_from_graph(inst.graph, inst.k)
    try:
        return solve_districting(problem, SolveOptions(time_limit=seconds)).assignment
    except (InfeasibleError, NoSolutionError):
        return None


def gerrychain_bursts(inst: Instance, seconds: float, seed: int = 0) -> np.ndarray | None:
    """Tree-partition start, then ReCom short bursts minimising MOI until ``seconds`` pass."""
    from gerrychain import Graph, Partition
    from gerrychain.constraints import within_percent_of_ideal_population
    from gerrychain.optimization import SingleMetricOptimizer
    from gerrychain.partition.initial_partition_generators import recursive_tree_part
    from gerrychain.proposals import recom
    from gerrychain.tree import bipartition_tree
    from gerrychain.updaters import Tally

    deadline = time.monotonic() + seconds
    gc_graph = Graph.from_networkx(inst.graph)
    target = inst.pop.sum() / inst.k

    def bipartition_until_deadline(*args, **kwargs):
        if time.monotonic() > deadline:
            raise TimeoutError("time limit reached while drawing spanning trees")
        return bipartition_tree(*args, **kwargs)

    start = None
    while start is None:
        try:
            start = recursive_tree_part(
                gc_graph, range(inst.k), target, "TOTPOP", 0.005, rng=seed,
                bipartition_tree_fn=partial(bipartition_until_deadline, max_attempts=1000))
        except TimeoutError:
            return None
        except RuntimeError:  # max_attempts exhausted on one split: draw fresh trees
            seed += 1
    index = {v: i for i, v in enumerate(inst.graph.nodes)}

    def labels_of(partition) -> np.ndarray:
        labels = np.zeros(len(index), dtype=int)
        for v, part in partition.assignment.items():
            labels[index[v]] = int(part)
        return labels

    initial = Partition(gc_graph, start, {"population": Tally("TOTPOP", alias="population")})
    proposal = partial(recom, pop_col="TOTPOP", pop_target=target, epsilon=0.005,
                       node_repeats=2, bipartition_tree_fn=bipartition_until_deadline)
    optimizer = SingleMetricOptimizer(
        proposal, [within_percent_of_ideal_population(initial, 0.005)], initial,
        lambda partition: moi_best_centres(inst, labels_of(partition)), maximize=False, rng=seed)
    try:
        for _ in optimizer.short_bursts(BURST_LENGTH, 10**9):
            if time.monotonic() > deadline:
                break
    except TimeoutError:  # the deadline passed inside a ReCom proposal
        pass
    except RuntimeError as err:  # ReCom found no balanced cut of a district pair: keep the best
        print(f"{inst.state}: GerryChain stopped early ({err})", file=sys.stderr)
    return labels_of(optimizer.best_part)


def _spopt_frame(inst: Instance):
    import geopandas as gpd
    import libpysal
    from shapely.geometry import Point

    index = {v: i for i, v in enumerate(inst.graph.nodes)}
    frame = gpd.GeoDataFrame({"x": inst.xy[:, 0], "y": inst.xy[:, 1], "pop": inst.pop},
                             geometry=[Point(p) for p in inst.xy])
    weights = libpysal.weights.W(
        {index[v]: [index[u] for u in inst.graph.neighbors(v) if u != v]
         for v in inst.graph.nodes}, silence_warnings=True)
    return frame, weights


def spopt_plan(method: str, inst: Instance, seed: int = 0) -> np.ndarray:
    from spopt.region import AZP, MaxPHeuristic, RegionKMeansHeuristic, Skater

    frame, weights = _spopt_frame(inst)
    if method == "skater":
        model = Skater(frame, weights, ["x", "y"], n_clusters=inst.k)
    elif method == "maxp":
        model = MaxPHeuristic(frame, weights, ["x", "y"], "pop", inst.lower,
                              max_iterations_sa=1)
    elif method == "azp":
        model = AZP(frame, weights, ["x", "y"], n_clusters=inst.k, random_state=seed)
    else:
        model = RegionKMeansHeuristic(inst.xy, inst.k, weights, seed=seed)
    model.solve()
    return np.asarray(model.labels_, dtype=int)


def _child(method: str, inst: Instance, sender) -> None:
    sender.send(spopt_plan(method, inst))


def spopt_within(method: str, seconds: float, inst: Instance) -> np.ndarray | None:
    """``spopt_plan`` in a forked child process; None if it has not finished after ``seconds``."""
    import spopt.region  # noqa: F401  (imported before the fork: the child's time is the solve)

    receiver, sender = multiprocessing.get_context("fork").Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(target=_child,
                                                        args=(method, inst, sender))
    child.start()
    labels = receiver.recv() if receiver.poll(seconds) else None
    if child.is_alive():
        child.terminate()
    child.join()
    return labels


def kmeans_plan(inst: Instance, seed: int = 0) -> np.ndarray:
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=inst.k, n_init=10, random_state=seed).fit_predict(
        inst.xy, sample_weight=inst.pop)


def methods(seconds: float) -> dict[str, Callable[[Instance], np.ndarray | None]]:
    return {
        "ours": lambda inst: ours(inst, seconds),
        "GerryChain ReCom bursts": lambda inst: gerrychain_bursts(inst, seconds),
        "spopt Skater": partial(spopt_within, "skater", seconds),
        "spopt MaxP (floor L)": partial(spopt_within, "maxp", seconds),
        "spopt AZP": partial(spopt_within, "azp", seconds),
        "spopt Region-K": partial(spopt_within, "regionk", seconds),
        "k-means (weighted)": kmeans_plan,
    }


def ratio(value: float, base: float, digits: str = ".3f") -> str:
    return f"{value / base:{digits}}" if base > 0 else "–"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--states", default=DEFAULT_STATES)
    parser.add_argument("--time-limit", type=float, default=60.0)
    args = parser.parse_args()
    print("| state | method | feasible | regions | contiguous | within [L, U] | max dev | "
          "MOI | MOI ratio | cut edges | s | time ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for state in args.states.split(","):
        inst = load_instance(state)
        base = None
        for name, run in methods(args.time_limit).items():
            start = time.monotonic()
            try:
                labels = run(inst)
                failure = None if labels is not None else "no plan in time"
            except (RuntimeError, ValueError) as err:  # a peer failing is a result
                labels, failure = None, f"failed: {type(err).__name__}"
            seconds = time.monotonic() - start
            if labels is None:
                print(f"| {state} | {name} | {failure} | | | | | | | | {seconds:.1f} | |",
                      flush=True)
                continue
            s = score(inst, labels)
            if name == "ours":
                base = {**s, "seconds": seconds}
            ratios = ((ratio(s["moi"], base["moi"]), ratio(seconds, base["seconds"], ".2g"))
                      if base else ("–", "–"))
            print(f"| {state} | {name} | {'yes' if s['feasible'] else 'no'} | {s['regions']} | "
                  f"{s['contiguous']} | {s['within']} | {s['dev']:.2%} | {s['moi']:.2f} | "
                  f"{ratios[0]} | {s['cut']} | {seconds:.1f} | {ratios[1]} |", flush=True)


if __name__ == "__main__":
    main()
