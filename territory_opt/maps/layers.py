"""The layers a plan map is made of, shared by the single and the side-by-side map.

Everything is drawn from GeoJSON (one Leaflet layer per collection, no per-feature
Python objects) plus a browser-side marker cluster and heat map, so 40,000 units and
20,000 accounts stay within seconds and tens of megabytes. Point layers carry their
fill colour in ``properties.style``: folium's ``style_function`` becomes a JavaScript
``switch`` over every feature id, which costs O(n²) in the browser for big layers.
No layer needs jQuery or Bootstrap (folium's ``Popup`` and ``Icon`` do, so neither
is used).

DOM hooks for tests and styling (Leaflet ``className`` on each SVG path):
``to-territory`` (one path per territory), ``to-rep`` (rep homes), ``to-moved``
(moved accounts), ``to-changed`` (A/B differences), ``to-account`` (unclustered accounts).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement
from folium.plugins import FastMarkerCluster, HeatMap
from folium.template import Template

from territory_opt.maps import offline as assets
from territory_opt.maps.labels import (
    balance_metrics,
    format_share,
    kpi_table,
    plan_summary,
    rep_label,
    safe_text,
    territory_label,
    territory_quotas,
)
from territory_opt.results import Result

UNASSIGNED_COLOUR = "#7f7f7f"
COORD_DECIMALS = 5  # ~1 m; enough for any sales map
LARGE_POINT_LAYER = 5_000  # point layers with more features start hidden (SVG gets slow)
LEGEND_OPEN_MAX = 25  # longer territory lists start folded in the legend
MAX_ZOOM = 18  # marker clustering needs a maximum zoom when there are no tiles


@dataclass
class PlanStyle:
    """Per-territory colours and display labels of one plan (all labels escaped)."""

    colours: dict[str, str]
    labels: dict[str, str]

    def colour(self, territory_id: object) -> str:
        return self.colours.get(territory_id, UNASSIGNED_COLOUR)

    def label(self, territory_id: object) -> str:
        return self.labels.get(territory_id) or safe_text(territory_id)


def plan_style(result: Result, colours: dict[str, str]) -> PlanStyle:
    """Colours plus display labels ('name' or id) for every territory of ``result``."""
    labels = {row["territory_id"]: territory_label(row) for _, row in result.territories.iterrows()}
    return PlanStyle(colours=colours, labels=labels)


def prepare_map(fmap: folium.Map, *, offline: bool) -> folium.Map:
    """Embed Leaflet (offline) and set the maximum zoom that marker clustering needs."""
    fmap.options["max_zoom"] = MAX_ZOOM
    return assets.bundle(fmap, assets.leaflet_assets(), offline)


def new_map(*, offline: bool, tiles: str | None) -> folium.Map:
    """A folium map with Leaflet embedded (offline) or linked from folium's CDN."""
    return prepare_map(folium.Map(tiles=tiles, control_scale=True), offline=offline)


def _feature_collection(features: list[dict]) -> dict:
    return {"type": "FeatureCollection", "features": features}


def _point(lon: float, lat: float) -> dict:
    return {"type": "Point", "coordinates": [round(float(lon), COORD_DECIMALS),
                                             round(float(lat), COORD_DECIMALS)]}


def _geojson_detail(fields: list[tuple[str, str]]) -> folium.GeoJsonTooltip:
    names = [f for f, _ in fields]
    aliases = [safe_text(a) for _, a in fields]
    return folium.GeoJsonTooltip(fields=names, aliases=aliases, sticky=True)


def add_territories(
    fmap: folium.Map, result: Result, shapes: gpd.GeoDataFrame, style: PlanStyle,
    *, name: str = "Territories",
) -> folium.GeoJson:
    """Territory polygons coloured by ``style``, with a KPI tooltip and popup."""
    table = result.territories.drop_duplicates("territory_id").set_index("territory_id", drop=False)
    metrics = balance_metrics(result.territories)
    quotas = territory_quotas(result)
    features = []
    for i, (tid, geom) in enumerate(zip(shapes["territory_id"], shapes.geometry)):
        row = table.loc[tid] if tid in table.index else pd.Series({"territory_id": tid})
        features.append({
            "type": "Feature",
            "id": f"t{i}",
            "geometry": geom.__geo_interface__,
            "properties": {
                "territory": style.label(tid),
                "rep": rep_label(row),
                "accounts": int(row["accounts"]) if pd.notna(row.get("accounts")) else 0,
                "kpis": kpi_table(row, metrics, quotas.get(tid)),
                "colour": style.colour(tid),
                "css": f"to-territory to-t{i}",
            },
        })
    layer = folium.GeoJson(
        _feature_collection(features),
        name=name,
        style_function=lambda f: {
            "fillColor": f["properties"]["colour"], "color": "#333333", "weight": 1,
            "fillOpacity": 0.55, "className": f["properties"]["css"],
        },
        highlight_function=lambda f: {"weight": 3, "fillOpacity": 0.75},
        tooltip=_geojson_detail([("territory", "Territory"), ("rep", "Rep"),
                                 ("accounts", "Accounts")]),
        popup=folium.GeoJsonPopup(fields=["kpis"], labels=False, max_width=420),
    )
    return layer.add_to(fmap)


def add_hierarchy_outlines(fmap: folium.Map, result: Result,
                           shapes: gpd.GeoDataFrame) -> list[folium.GeoJson]:
    """One outline layer per hierarchy level above the territories with 2+ nodes (e.g.
    Districts, Regions): the union of each node's territory shapes, drawn as a thick
    unfilled line, with the node's totals and deviations in a tooltip. Layers of levels the
    plan balanced (``metrics["levels"]``) are shown at start, the others are off."""
    hierarchy = result.hierarchy
    if hierarchy is None or shapes.empty:
        return []
    balanced = set((result.metrics.get("levels") or {}).keys())
    metrics = balance_metrics(result.territories)
    nodes = hierarchy.set_index("territory_id")
    drawn = []
    for depth, level in enumerate(_levels_above_territories(result)):
        owner = dict(zip(result.territories["territory_id"], result.territories[f"{level}_id"]))
        groups = shapes.assign(node=shapes["territory_id"].map(owner)).dropna(subset=["node"])
        features = []
        for node, part in groups.groupby("node", sort=True):
            row = nodes.loc[node] if node in nodes.index else pd.Series(dtype=object)
            detail = ", ".join(f"{m} {format_share(row.get(f'{m}_deviation'))}" for m in metrics
                               if f"{m}_deviation" in row)
            features.append({"type": "Feature",
                             "geometry": shapely.union_all(part.geometry.values).__geo_interface__,
                             "properties": {"node": safe_text(f"{level} {node}: "
                                                              f"{row.get('name', node)}"),
                                            "deviation": safe_text(detail)}})
        if len(features) < 2:
            continue
        layer = folium.GeoJson(
            _feature_collection(features), name=f"{level.capitalize()}s ({len(features)})",
            show=level in balanced,
            style_function=lambda f, w=2 + depth: {"fill": False, "color": "#111111",
                                                   "weight": w, "opacity": 0.9},
            tooltip=_geojson_detail([("node", "Node"), ("deviation", "Deviation")]))
        drawn.append(layer.add_to(fmap))
    return drawn


def _levels_above_territories(result: Result) -> list[str]:
    """Ancestor levels with a ``<level>_id`` column in territories.csv, nearest first."""
    hierarchy = result.hierarchy
    levels = [lv for lv in dict.fromkeys(hierarchy["level"].dropna())
              if f"{lv}_id" in result.territories.columns]
    return [lv for lv in levels if lv not in set(result.territories["level"].dropna())][::-1]


def add_reps(fmap: folium.Map, result: Result, style: PlanStyle) -> folium.GeoJson | None:
    """One circle per territory rep with a home location, filled with its territory colour."""
    table = result.territories
    if not {"home_lat", "home_lon", "rep_id"} <= set(table.columns):
        return None
    reps = table[table["rep_id"].notna() & table["home_lat"].notna() & table["home_lon"].notna()]
    if reps.empty:
        return None
    metrics = balance_metrics(table)
    quotas = territory_quotas(result)
    features = [
        {
            "type": "Feature",
            "id": f"r{i}",
            "geometry": _point(row["home_lon"], row["home_lat"]),
            "properties": {
                "rep": rep_label(row),
                "territory": style.label(row["territory_id"]),
                "kpis": kpi_table(row, metrics, quotas.get(row["territory_id"])),
                "style": {"fillColor": style.colour(row["territory_id"])},
            },
        }
        for i, (_, row) in enumerate(reps.iterrows())
    ]
    layer = folium.GeoJson(
        _feature_collection(features),
        name="Rep homes",
        marker=folium.CircleMarker(radius=7, weight=2, color="#000000", fill=True,
                                   fill_opacity=1.0, className="to-rep"),
        tooltip=_geojson_detail([("rep", "Rep"), ("territory", "Territory")]),
        popup=folium.GeoJsonPopup(fields=["kpis"], labels=False, max_width=420),
    )
    return layer.add_to(fmap)


def account_points(result: Result, max_accounts: int | None) -> tuple[pd.DataFrame, int]:
    """Accounts with a location (at most ``max_accounts``, a seeded sample) and their total."""
    accounts = result.assignments.dropna(subset=["lat", "lon"])
    total = len(accounts)
    if max_accounts is not None and total > max_accounts:
        accounts = accounts.sample(n=max_accounts, random_state=0).sort_index()
    return accounts, total


# Grey cluster bubbles, so that cluster colours never read as territory colours.
NEUTRAL_CLUSTER_ICON = """
function (cluster) {
    return L.divIcon({html: '<div><span>' + cluster.getChildCount() + '</span></div>',
                      className: 'marker-cluster to-cluster', iconSize: L.point(40, 40)});
}"""


def add_account_cluster(
    fmap: folium.Map, accounts: pd.DataFrame, style: PlanStyle, *, offline: bool,
) -> FastMarkerCluster:
    """Accounts as territory-coloured dots, clustered in the browser (Leaflet.markercluster)."""
    ids = list(style.colours)
    index = {tid: i for i, tid in enumerate(ids)}
    colours = [style.colours[t] for t in ids] + [UNASSIGNED_COLOUR]
    labels = [style.label(t) for t in ids] + ["Unassigned"]
    tidx = accounts["territory_id"].map(index).fillna(len(ids)).astype(int).to_numpy()
    names = accounts["name"] if "name" in accounts else accounts["account_id"]
    names = [safe_text(n if isinstance(n, str) and n else a)
             for n, a in zip(names, accounts["account_id"])]
    data = [
        [la, lo, int(t), n]
        for la, lo, t, n in zip(accounts["lat"].round(COORD_DECIMALS).tolist(),
                                accounts["lon"].round(COORD_DECIMALS).tolist(), tidx, names)
    ]
    callback = (
        "(function () {\n"
        f"  var colours = {_js_json(colours)};\n"
        f"  var labels = {_js_json(labels)};\n"
        "  return function (row) {\n"
        "    var marker = L.circleMarker(new L.LatLng(row[0], row[1]), {radius: 5,"
        " color: '#222222', weight: 1, fillColor: colours[row[2]], fillOpacity: 0.9,"
        " className: 'to-account'});\n"
        "    marker.bindTooltip(row[3] + '<br>' + labels[row[2]]);\n"
        "    return marker;\n"
        "  };\n"
        "})()"
    )
    cluster = FastMarkerCluster(data, callback=callback, name="Accounts", chunked_loading=True,
                                icon_create_function=NEUTRAL_CLUSTER_ICON)
    assets.bundle(cluster, assets.markercluster_assets(), offline)
    return cluster.add_to(fmap)


def add_heat(fmap: folium.Map, accounts: pd.DataFrame, *, offline: bool) -> HeatMap | None:
    """Heat map of account potential (account density when there is no potential)."""
    if accounts.empty:
        return None
    weights = accounts["potential"].fillna(0.0).clip(lower=0.0) if "potential" in accounts else None
    if weights is None or float(weights.max()) <= 0:
        weights, name = pd.Series(1.0, index=accounts.index), "Account density (heat)"
    else:
        weights, name = weights / float(weights.max()), "Potential (heat)"
    data = np.column_stack([accounts["lat"].round(COORD_DECIMALS),
                            accounts["lon"].round(COORD_DECIMALS), weights.round(4)])
    heat = HeatMap(data.tolist(), name=name, show=False, radius=14, blur=18, min_opacity=0.3)
    assets.bundle(heat, assets.heat_assets(), offline)
    return heat.add_to(fmap)


def add_account_changes(
    fmap: folium.Map, changes: pd.DataFrame, style: PlanStyle, *, name: str, css: str,
    aliases: tuple[str, str] = ("From", "To"), colour_column: str = "to",
) -> folium.GeoJson | None:
    """Accounts whose territory differs (columns account_id, name, lat, lon, from, to, reason).

    Each is a red ring filled with the colour of its territory in ``colour_column``.
    Layers above ``LARGE_POINT_LAYER`` rings start switched off (one SVG element each).
    """
    changes = changes.dropna(subset=["lat", "lon"])
    if changes.empty:
        return None
    features = [
        {
            "type": "Feature",
            "id": f"c{i}",
            "geometry": _point(lon, lat),
            "properties": {
                "account": safe_text(acc_name if isinstance(acc_name, str) and acc_name else acc),
                "from": style.label(src) if pd.notna(src) else "(none)",
                "to": style.label(dst) if pd.notna(dst) else "(none)",
                "reason": safe_text(reason),
                "style": {"fillColor": style.colour(own)},
            },
        }
        for i, (acc, acc_name, lat, lon, src, dst, reason, own) in enumerate(zip(
            changes["account_id"], changes["name"], changes["lat"], changes["lon"],
            changes["from"], changes["to"], changes["reason"], changes[colour_column],
        ))
    ]
    layer = folium.GeoJson(
        _feature_collection(features),
        name=name,
        show=len(features) <= LARGE_POINT_LAYER,
        marker=folium.CircleMarker(radius=6, weight=3, color="#d62728", fill=True,
                                   fill_opacity=0.9, className=css),
        tooltip=_geojson_detail([("account", "Account"), ("from", aliases[0]),
                                 ("to", aliases[1]), ("reason", "Reason")]),
    )
    return layer.add_to(fmap)


def add_changed_units(
    fmap: folium.Map, areas: gpd.GeoDataFrame, style: PlanStyle, *, name: str,
) -> folium.GeoJson | None:
    """Areas that changed territory (columns from, to, units, geometry): dashed red outlines."""
    if areas.empty:
        return None
    features = [
        {
            "type": "Feature",
            "id": f"u{i}",
            "geometry": geom.__geo_interface__,
            "properties": {"from": style.label(src), "to": style.label(dst), "units": int(n)},
        }
        for i, (src, dst, n, geom) in enumerate(zip(
            areas["from"], areas["to"], areas["units"], areas.geometry))
    ]
    layer = folium.GeoJson(
        _feature_collection(features),
        name=name,
        style_function=lambda f: {"color": "#d62728", "weight": 2.5, "dashArray": "5 4",
                                  "fill": False, "className": "to-changed-unit"},
        tooltip=_geojson_detail([("from", "In A"), ("to", "In B"), ("units", "Units")]),
    )
    return layer.add_to(fmap)


def moved_accounts(result: Result) -> pd.DataFrame:
    """The plan's moved accounts in the layout :func:`add_account_changes` takes."""
    a = result.assignments
    moved = a[a["moved"].fillna(False).astype(bool)] if "moved" in a else a.iloc[0:0]
    return pd.DataFrame({
        "account_id": moved["account_id"],
        "name": moved["name"] if "name" in moved else moved["account_id"],
        "lat": moved["lat"], "lon": moved["lon"],
        "from": moved.get("previous_territory_id", pd.Series(None, index=moved.index)),
        "to": moved["territory_id"],
        "reason": moved.get("reason", pd.Series("", index=moved.index)),
    })


def _js_json(value: object) -> str:
    """JSON for an inline script: '</' cannot close the script element."""
    return json.dumps(value).replace("</", "<\\/")


class Legend(MacroElement):
    """A Leaflet control (bottom left) holding pre-escaped legend HTML."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>
          .to-legend { background: rgba(255,255,255,0.92); padding: 6px 9px; font: 12px/1.35
            sans-serif; border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,0.35);
            max-height: 45vh; max-width: 300px; overflow-y: auto; }
          .to-legend h4 { margin: 0 0 4px; font-size: 13px; }
          .to-legend i { display: inline-block; width: 12px; height: 12px; margin-right: 5px;
            vertical-align: -2px; border: 1px solid #555; }
          .to-legend i.to-dot { border-radius: 50%; }
          .to-kpi th { text-align: left; padding-right: 8px; font-weight: 600; }
          .marker-cluster.to-cluster { background-color: rgba(60, 60, 60, 0.3); }
          .marker-cluster.to-cluster div { background-color: rgba(35, 35, 35, 0.8); color: #fff;
            font: 11px sans-serif; }
        </style>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        (function () {
            var legend = L.control({position: {{ this.position|tojson }}});
            legend.onAdd = function () {
                var div = L.DomUtil.create('div', 'to-legend');
                div.innerHTML = {{ this.body_json }};
                L.DomEvent.disableClickPropagation(div);
                L.DomEvent.disableScrollPropagation(div);
                return div;
            };
            legend.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}
        """
    )

    def __init__(self, body_html: str, position: str = "bottomleft"):
        super().__init__()
        self._name = "Legend"
        self.body_json = _js_json(body_html)
        self.position = position


def legend_html(result: Result, style: PlanStyle, shapes: gpd.GeoDataFrame,
                notes: list[str]) -> str:
    """Plan summary, symbol key and one colour swatch per territory (escaped HTML)."""
    lines = plan_summary(result)
    drawn = set(shapes["territory_id"])
    swatches = []
    for _, row in result.territories.iterrows():
        tid = row["territory_id"]
        area = "" if tid in drawn else " <em>(no area)</em>"
        swatches.append(f'<div><i style="background:{style.colour(tid)}"></i>'
                        f"{style.label(tid)} – {rep_label(row)}{area}</div>")
    key = ('<div><i class="to-dot" style="background:#fff;border:2px solid #000"></i>rep home</div>'
           '<div><i class="to-dot" style="background:#fff;border:2px solid #d62728"></i>'
           "moved / changed account</div>")
    opened = " open" if len(swatches) <= LEGEND_OPEN_MAX else ""
    return (f"<h4>{lines[0]}</h4>" + "".join(f"<div>{x}</div>" for x in lines[1:] + notes)
            + "<hr>" + key + f"<details{opened}><summary>Territories ({len(swatches)})</summary>"
            + "".join(swatches) + "</details>")


def fit_to(fmap: folium.Map, shapes: gpd.GeoDataFrame, accounts: pd.DataFrame) -> None:
    """Zoom the map to the territories (or the accounts when no shape exists)."""
    if not shapes.empty:
        minx, miny, maxx, maxy = shapes.total_bounds
    elif not accounts.empty:
        minx, maxx = accounts["lon"].min(), accounts["lon"].max()
        miny, maxy = accounts["lat"].min(), accounts["lat"].max()
    else:
        return
    fmap.fit_bounds([[float(miny), float(minx)], [float(maxy), float(maxx)]])
