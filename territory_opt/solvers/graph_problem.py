"""Build districting problems from unit graphs, and score plans in the published convention.

The published county benchmarks (Validi, Buchanan & Lykhovyd 2022; Validi & Buchanan 2022) split a
state's counties into k districts with population in [L, U], L = ceil(0.995·P/k),
U = floor(1.005·P/k). Their moment of inertia (MOI) is Σ_i p_i·d(i, c(i))² in 10⁶ person·km², with
d = WGS-84 geodesic distance between unit centroids (C_Y, C_X) rounded to whole km.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import networkx as nx
import numpy as np
from networkx.readwrite import json_graph
from pyproj import Geod

from territory_opt.errors import InputError, InputIssue
from territory_opt.problem import AlignmentProblem

EARTH_RADIUS_KM = 6371.0088
DISTANCES = ("geodesic_km_rounded", "geodesic_km", "haversine_km")
OBJECTIVES = ("inertia", "travel", "cut_edges")


def load_unit_graph(path: str | Path) -> nx.Graph:
    """Read a networkx adjacency-JSON unit graph (the DeFord county files)."""
    with open(path, encoding="utf-8") as f:
        return json_graph.adjacency_graph(json.load(f))


def graph_latlon(graph: nx.Graph) -> np.ndarray:
    """(n, 2) lat/lon per node (``graph.nodes`` order): centroid C_Y/C_X, else internal point."""
    rows = []
    for node, data in graph.nodes(data=True):
        if data.get("C_Y") is not None and data.get("C_X") is not None:
            rows.append((float(data["C_Y"]), float(data["C_X"])))
        elif data.get("INTPTLAT10") is not None:
            rows.append((float(data["INTPTLAT10"]), float(data["INTPTLON10"])))
        else:
            raise InputError([InputIssue("unit graph", "C_Y/C_X or INTPTLAT10/INTPTLON10",
                                         column="C_Y", value=str(node))])
    return np.asarray(rows, dtype=float)


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in km (broadcasting numpy arrays of degrees)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def distance_matrix_km(latlon: np.ndarray, distance: str = "haversine_km") -> np.ndarray:
    """(n, n) unit-to-unit distances in km under one of ``DISTANCES``."""
    if distance not in DISTANCES:
        raise InputError([InputIssue("options", f"distance in {DISTANCES}", value=distance)])
    lat, lon = latlon[:, 0], latlon[:, 1]
    if distance == "haversine_km":
        return haversine_km(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
    n = len(latlon)
    ii, jj = np.triu_indices(n, k=1)
    _, _, metres = Geod(ellps="WGS84").inv(lon[ii], lat[ii], lon[jj], lat[jj])
    dist = np.zeros((n, n))
    km = np.asarray(metres) / 1000.0
    if distance == "geodesic_km_rounded":
        km = np.floor(km + 0.5)  # round half up, as the published convention
    dist[ii, jj] = km
    dist[jj, ii] = km
    return dist


def published_bounds(total: float, k: int, tolerance: float = 0.005) -> tuple[int, int]:
    """L = ceil((1−τ)·P/k), U = floor((1+τ)·P/k), the published integer bounds."""
    mean = total / k
    return math.ceil((1 - tolerance) * mean - 1e-9), math.floor((1 + tolerance) * mean + 1e-9)


def bounds_to_target_tolerance(lower: float, upper: float) -> tuple[float, float]:
    """Target and tolerance whose ``target·(1 ∓ tol)`` are exactly ``lower``/``upper``.

    With target = (L+U)/2 and tol = (U−L)/(L+U), target·(1−tol) = L and target·(1+tol) = U up to
    floating-point rounding; the exact solver rounds its bounds inward to integers when the weights
    are integers (see ``hess.integer_bounds``), which restores L and U exactly.
    """
    return (lower + upper) / 2.0, (upper - lower) / (upper + lower)


def problem_from_graph(
    graph: nx.Graph,
    k: int,
    population_attr: str = "TOTPOP",
    tolerance: float = 0.005,
    objective: str = "inertia",
    distance: str = "geodesic_km_rounded",
    contiguous: bool = True,
) -> AlignmentProblem:
    """The published instance: n units, k free-centre territories, population within [L, U].

    Items follow ``graph.nodes`` order. ``item_distance_km`` holds unit–unit distances under
    ``distance``; the inertia objective uses population·km².
    """
    if objective not in OBJECTIVES:
        raise InputError([InputIssue("options", f"objective in {OBJECTIVES}", value=objective)])
    if k < 1:
        raise InputError([InputIssue("options", "k >= 1", value=str(k))])
    nodes = list(graph.nodes)
    index = {v: i for i, v in enumerate(nodes)}
    pop = np.array([float(graph.nodes[v][population_attr]) for v in nodes])
    lower, upper = published_bounds(pop.sum(), k, tolerance)
    target, tol = bounds_to_target_tolerance(lower, upper)
    latlon = graph_latlon(graph)
    dist = distance_matrix_km(latlon, distance)
    edges = np.array([(index[u], index[v]) for u, v in graph.edges if u != v], dtype=int)
    n = len(nodes)
    return AlignmentProblem(
        item_ids=[str(v) for v in nodes],
        territory_ids=[f"D{t + 1}" for t in range(k)],
        metric_names=[population_attr],
        weights=pop[:, None],
        targets=np.full((k, 1), target),
        tolerances=np.array([tol]),
        soft=np.array([False]),
        soft_penalty=np.array([0.0]),
        cost=np.zeros((n, k)),
        distance_km=np.zeros((n, k)),
        item_latlon=latlon,
        current=np.full(n, -1),
        locked=np.full(n, -1),
        move_weight=np.zeros(n),
        item_accounts=[np.array([i]) for i in range(n)],
        edges=edges.reshape(-1, 2),
        contiguous=contiguous,
        compactness=objective,
        centers="free",
        item_distance_km=dist,
        notes=[f"population bounds L={lower}, U={upper} (±{tolerance:.1%}, published rounding)",
               f"distances: {distance}"],
    )


def score_moi(
    graph: nx.Graph,
    assignment: np.ndarray,
    centers: np.ndarray,
    population_attr: str = "TOTPOP",
) -> float:
    """MOI in 10⁶ person·km², published convention (rounded WGS-84 geodesic km, squared).

    ``assignment[i]`` is the territory of the i-th node (``graph.nodes`` order); ``centers[t]`` the
    node index of territory t's centre.
    """
    latlon = graph_latlon(graph)
    nodes = list(graph.nodes)
    pop = np.array([float(graph.nodes[v][population_attr]) for v in nodes])
    centre_of = np.asarray(centers)[np.asarray(assignment)]
    lat, lon = latlon[:, 0], latlon[:, 1]
    _, _, metres = Geod(ellps="WGS84").inv(lon, lat, lon[centre_of], lat[centre_of])
    km = np.floor(np.asarray(metres) / 1000.0 + 0.5)
    return float(np.sum(pop * km**2) / 1e6)


def cut_edge_count(edges: np.ndarray, assignment: np.ndarray) -> int:
    """Number of adjacency edges whose ends lie in different territories."""
    edges = np.asarray(edges).reshape(-1, 2)
    return int(np.sum(assignment[edges[:, 0]] != assignment[edges[:, 1]]))
