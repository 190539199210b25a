"""The map of one plan: territories, reps, accounts, moves and potential, as one HTML page."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import folium
from branca.element import Element

from territory_opt.maps import layers
from territory_opt.maps.colouring import colour_territories, shape_adjacency, unit_adjacency
from territory_opt.maps.shapes import territory_shapes, unit_territories
from territory_opt.results import Result


def plan_colours(results: list[Result], shapes: list) -> dict[str, str]:
    """One colouring for all given plans: territories adjacent in any plan differ."""
    ids, edges = [], []
    for result, shape in zip(results, shapes):
        ids += list(result.territories["territory_id"]) + list(shape["territory_id"])
        edges += shape_adjacency(shape)
        edges += unit_adjacency(result.dataset.adjacency, unit_territories(result))
    return colour_territories(ids, edges)


def draw_plan(
    fmap: folium.Map, result: Result, shapes, colours: dict[str, str], *,
    offline: bool, max_accounts: int | None,
    change_layers: Callable[[folium.Map, layers.PlanStyle], None] | None = None,
) -> None:
    """Add every layer of one plan to ``fmap``, then a legend and a layer control.

    ``change_layers(fmap, style)`` replaces the plan's own moved-accounts layer, e.g. with
    the accounts and units that differ between two plans.
    """
    style = layers.plan_style(result, colours)
    accounts, total = layers.account_points(result, max_accounts)
    layers.add_territories(fmap, result, shapes, style)
    layers.add_hierarchy_outlines(fmap, result, shapes)
    if not accounts.empty:
        layers.add_account_cluster(fmap, accounts, style, offline=offline)
    if change_layers is None:
        moved = layers.moved_accounts(result)
        layers.add_account_changes(fmap, moved, style, name=f"Moved accounts ({len(moved):,})",
                                   css="to-moved")
    else:
        change_layers(fmap, style)
    layers.add_heat(fmap, accounts, offline=offline)
    layers.add_reps(fmap, result, style)
    notes = [] if len(accounts) == total else [f"Accounts layer: {len(accounts):,} of {total:,}"]
    layers.Legend(layers.legend_html(result, style, shapes, notes)).add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    layers.fit_to(fmap, shapes, accounts)


def territory_map(
    result: Result, *, offline: bool = True, max_accounts: int | None = None,
    tiles: str | None = None,
) -> folium.Map:
    """A folium map of ``result``.

    Layers: territories (coloured so neighbours differ; KPI tooltip/popup), outlines of
    the districts/regions above them (shown when the plan balanced that level), accounts
    (clustered), moved accounts, potential heat map (off at start), rep homes; a legend.
    ``offline=True`` embeds every script and stylesheet; ``tiles`` (e.g. "OpenStreetMap")
    adds a base map that needs network; ``max_accounts`` caps the account points drawn.
    """
    shapes = territory_shapes(result)
    colours = plan_colours([result], [shapes])
    fmap = layers.new_map(offline=offline, tiles=tiles)
    draw_plan(fmap, result, shapes, colours, offline=offline, max_accounts=max_accounts)
    return fmap


def write_html(element: Element, path: str | os.PathLike) -> Path:
    """Render a folium map (or DualMap) to ``path`` atomically (temp file + os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    html = element.get_root().render()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # temp files are 0600; a map is an ordinary file
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(html)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_map(
    result: Result, path: str | os.PathLike, *, offline: bool = True,
    max_accounts: int | None = None, tiles: str | None = None,
) -> Path:
    """Write :func:`territory_map` of ``result`` to ``path`` (e.g. results/x/map.html)."""
    fmap = territory_map(result, offline=offline, max_accounts=max_accounts, tiles=tiles)
    return write_html(fmap, path)
