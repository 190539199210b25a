"""Adjacency from polygons (rook and queen) and edge-list normalisation."""

from __future__ import annotations

import itertools

import geopandas as gpd
import pytest
from shapely.geometry import Polygon, box

from territory_opt.data import adjacency_from_polygons, normalise_edges


def grid(n: int) -> gpd.GeoDataFrame:
    cells = [(i, j) for i in range(n) for j in range(n)]
    return gpd.GeoDataFrame({"unit_id": [f"{i}-{j}" for i, j in cells]},
                            geometry=[box(i, j, i + 1, j + 1) for i, j in cells])


def expected_pairs(n: int, rule: str) -> set[tuple[str, str]]:
    """Neighbours by grid arithmetic: rook = one step along an axis, queen = also diagonal."""
    pairs = set()
    for (i, j), (k, m) in itertools.combinations(itertools.product(range(n), repeat=2), 2):
        di, dj = abs(i - k), abs(j - m)
        if (di + dj == 1) if rule == "rook" else max(di, dj) == 1:
            pairs.add(tuple(sorted((f"{i}-{j}", f"{k}-{m}"))))
    return pairs


@pytest.mark.parametrize("rule,count", [("rook", 12), ("queen", 20)])
def test_three_by_three_grid(rule, count):
    edges = adjacency_from_polygons(grid(3), rule)
    assert len(edges) == count
    assert set(map(tuple, edges[["unit_id", "neighbor_id"]].to_numpy())) == expected_pairs(3, rule)
    assert (edges["unit_id"] < edges["neighbor_id"]).all()


def test_larger_grid_matches_arithmetic():
    for rule in ("rook", "queen"):
        edges = adjacency_from_polygons(grid(7), rule)
        assert set(map(tuple, edges.to_numpy())) == expected_pairs(7, rule)


def test_corner_touch_is_queen_only_and_overlap_is_rook():
    units = gpd.GeoDataFrame({"unit_id": ["a", "b", "c", "d"]}, geometry=[
        box(0, 0, 1, 1), box(1, 1, 2, 2),          # a-b meet at one point
        box(5, 5, 7, 7), box(6, 6, 8, 8)])         # c-d overlap
    assert adjacency_from_polygons(units, "rook").to_numpy().tolist() == [["c", "d"]]
    assert adjacency_from_polygons(units, "queen").to_numpy().tolist() == [["a", "b"], ["c", "d"]]


def test_shared_border_with_unmatched_vertices_is_rook():
    """Rook needs a shared segment, not shared vertices: b's edge covers part of a's edge."""
    units = gpd.GeoDataFrame({"unit_id": ["a", "b"]}, geometry=[
        box(0, 0, 1, 1), Polygon([(1, 0.25), (2, 0.25), (2, 3), (1, 3)])])
    assert adjacency_from_polygons(units, "rook").to_numpy().tolist() == [["a", "b"]]


def test_min_length_drops_short_borders():
    units = gpd.GeoDataFrame({"unit_id": ["a", "b"]}, geometry=[
        box(0, 0, 1, 1), box(1, 0.9, 2, 2)])  # shared border of length 0.1
    assert len(adjacency_from_polygons(units, "rook", min_length=0.05)) == 1
    assert len(adjacency_from_polygons(units, "rook", min_length=0.2)) == 0


def test_missing_geometry_has_no_neighbours():
    units = grid(2)
    units.loc[0, "geometry"] = None
    edges = adjacency_from_polygons(units, "queen")
    assert "0-0" not in set(edges["unit_id"]) | set(edges["neighbor_id"])
    assert len(edges) == 3


def test_unknown_rule():
    with pytest.raises(ValueError, match="rule"):
        adjacency_from_polygons(grid(2), "bishop")


def test_normalise_edges_symmetrises_and_deduplicates():
    edges = normalise_edges(["b", "a", "a", "c", "c"], ["a", "b", "b", "c", "a"])
    assert edges.to_numpy().tolist() == [["a", "b"], ["a", "c"]]
    assert list(edges.columns) == ["unit_id", "neighbor_id"]


def test_rook_ignores_float_noise_where_corners_meet():
    """Squares from naive float arithmetic overlap by ~1e-15 at some corners: still rook only."""
    n, step = 5, 0.1
    cells = [(i, j) for i in range(n) for j in range(n)]
    units = gpd.GeoDataFrame({"unit_id": [f"{i}-{j}" for i, j in cells]}, geometry=[
        box(-90 + i * step, 40 + j * step, (-90 + i * step) + step, (40 + j * step) + step)
        for i, j in cells])
    edges = adjacency_from_polygons(units, "rook")
    assert set(map(tuple, edges.to_numpy())) == expected_pairs(n, "rook")


@pytest.mark.parametrize(("rule", "edges"), [("rook", 24), ("queen", 42)])
def test_scenario_key_picks_the_rule_for_polygon_units(tmp_path, valid_scenario, rule, edges):
    """The 4×4 grid of fixture units without its edge list: 24 shared borders, 18 corners."""
    import shutil

    from territory_opt.data import load_dataset
    from territory_opt.scenarios.config import load_scenario

    folder = tmp_path / "valid"
    shutil.copytree(valid_scenario.parent, folder)
    path = folder / "scenario.toml"
    path.write_text(path.read_text().replace('adjacency = "adjacency.csv"',
                                             f'adjacency_rule = "{rule}"'))
    dataset = load_dataset(load_scenario(path))
    assert dataset.adjacency_rule == rule
    assert len(dataset.adjacency) == edges
