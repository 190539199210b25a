"""Map colours: neighbouring territories never share a colour.

Territories are the nodes of an adjacency graph (their shapes touch, or two of their
units are neighbours in the dataset's adjacency). The graph is coloured greedily with
networkx's DSATUR strategy (``saturation_largest_first``, at most 6 colours on planar
maps in practice) and colour classes map onto a qualitative palette; when a graph needs
more classes than the palette has, further distinct hues are generated.
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterable

import geopandas as gpd
import networkx as nx
import pandas as pd
import shapely

# Tableau 10 (a qualitative palette readable at 55 % fill opacity).
PALETTE = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
]


def shape_adjacency(shapes: gpd.GeoDataFrame) -> list[tuple[str, str]]:
    """Pairs of territory ids whose shapes touch or overlap (sharing a point counts)."""
    geoms = shapes.geometry.values
    ids = shapes["territory_id"].to_numpy()
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    return [(ids[i], ids[j]) for i, j in zip(left, right) if i < j and ids[i] != ids[j]]


def unit_adjacency(adjacency: pd.DataFrame | None, owner: pd.Series) -> list[tuple[str, str]]:
    """Pairs of territories holding two neighbouring units (``owner``: unit_id -> territory)."""
    if adjacency is None or adjacency.empty or owner.empty:
        return []
    a = owner.reindex(adjacency["unit_id"]).to_numpy()
    b = owner.reindex(adjacency["neighbor_id"]).to_numpy()
    edges = pd.DataFrame({"a": a, "b": b}).dropna()
    edges = edges[edges["a"] != edges["b"]].drop_duplicates()
    return list(edges.itertuples(index=False, name=None))


def _extra_colour(k: int) -> str:
    """The k-th generated colour beyond the palette: golden-angle hues, mid lightness."""
    hue = (0.11 + 0.618034 * k) % 1.0
    r, g, b = colorsys.hls_to_rgb(hue, 0.55, 0.6)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def colour_territories(
    territory_ids: Iterable[str], edges: Iterable[tuple[str, str]]
) -> dict[str, str]:
    """territory_id -> hex colour, different for every pair in ``edges``."""
    graph = nx.Graph()
    graph.add_nodes_from(sorted(set(territory_ids), key=str))
    graph.add_edges_from(edges)
    classes = nx.greedy_color(graph, strategy="saturation_largest_first")
    n_classes = max(classes.values(), default=-1) + 1
    colours = PALETTE[:n_classes] + [_extra_colour(k) for k in range(n_classes - len(PALETTE))]
    return {node: colours[c] for node, c in classes.items()}
