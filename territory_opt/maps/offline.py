"""Self-contained map pages: every script and stylesheet embedded as a ``data:`` URI.

folium links Leaflet, its plugins and their stylesheets from CDNs, so a saved map is
blank without network access. Here each element that links assets gets its own
``default_js``/``default_css`` lists on the *instance* (the class-level lists are shared
by every map in the process and are never touched). Asset sources, all installed
with the package:

- Leaflet 1.9.3 (BSD-2-Clause): PyPI ``xstatic-leaflet`` (folium pins the same version).
  The images that ``leaflet.css`` references (layer-control icon, default marker) are
  inlined into the stylesheet as ``data:image/png`` URIs.
- Leaflet.markercluster 1.4.1 (MIT): PyPI ``xstatic-leaflet-markercluster``.
- Leaflet.heat (BSD-2-Clause, with simpleheat): the copy folium itself ships in
  ``folium/templates/leaflet_heat.min.js``.
- Leaflet.Sync 0.2.4 (BSD-3-Clause): vendored from the npm registry in
  ``territory_opt/maps/static/L.Map.Sync.js`` with its licence beside it.

``offline=False`` keeps folium's CDN links (smaller HTML, needs network).
"""

from __future__ import annotations

import base64
import re
from functools import cache
from pathlib import Path

import folium
import xstatic.pkg.leaflet as xs_leaflet
import xstatic.pkg.leaflet_markercluster as xs_markercluster
from branca.element import Element

STATIC_DIR = Path(__file__).with_name("static")
LEAFLET_DIR = Path(xs_leaflet.BASE_DIR)
MARKERCLUSTER_DIR = Path(xs_markercluster.BASE_DIR)
LEAFLET_HEAT_JS = Path(folium.__file__).parent / "templates" / "leaflet_heat.min.js"
LEAFLET_SYNC_JS = STATIC_DIR / "L.Map.Sync.js"

# A remote script or stylesheet reference in saved HTML (the offline guard).
REMOTE_ASSET = re.compile(r"""(src|href)\s*=\s*["']?https?://""", re.IGNORECASE)


def _data_uri(mime: str, payload: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


def _read_asset(path: Path) -> bytes:
    if not path.is_file():
        raise FileNotFoundError(f"map asset missing: {path} (reinstall territory-opt)")
    return path.read_bytes()


@cache
def js_uri(path: Path) -> str:
    """The JavaScript file at ``path`` as a ``data:text/javascript`` URI."""
    return _data_uri("text/javascript", _read_asset(path))


@cache
def css_uri(path: Path) -> str:
    """The stylesheet at ``path`` as a ``data:text/css`` URI, its relative PNGs inlined."""
    css = _read_asset(path).decode("utf-8")

    def inline(match: re.Match) -> str:
        image = path.parent / match.group(1)
        return f"url({_data_uri('image/png', _read_asset(image))})"

    css = re.sub(r"url\(\s*['\"]?([\w./-]+\.png)['\"]?\s*\)", inline, css)
    return _data_uri("text/css", css.encode("utf-8"))


def leaflet_assets() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(default_js, default_css) for a ``folium.Map``: Leaflet only, no jQuery/Bootstrap."""
    return (
        [("leaflet", js_uri(LEAFLET_DIR / "leaflet.js"))],
        [("leaflet_css", css_uri(LEAFLET_DIR / "leaflet.css"))],
    )


def markercluster_assets() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(default_js, default_css) for MarkerCluster / FastMarkerCluster."""
    return (
        [("markerclusterjs", js_uri(MARKERCLUSTER_DIR / "leaflet.markercluster.js"))],
        [
            ("markerclustercss", css_uri(MARKERCLUSTER_DIR / "MarkerCluster.css")),
            ("markerclusterdefaultcss", css_uri(MARKERCLUSTER_DIR / "MarkerCluster.Default.css")),
        ],
    )


def heat_assets() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(default_js, default_css) for ``folium.plugins.HeatMap``."""
    return [("leaflet-heat.js", js_uri(LEAFLET_HEAT_JS))], []


def sync_assets() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(default_js, default_css) for ``folium.plugins.DualMap`` (Leaflet.Sync)."""
    return [("Leaflet.Sync", js_uri(LEAFLET_SYNC_JS))], []


def bundle(element: Element, assets: tuple[list, list], offline: bool) -> Element:
    """Point ``element``'s own asset lists at embedded copies when ``offline``.

    Copies are set on the instance, so folium's class-level lists stay untouched.
    With ``offline=False`` the element keeps folium's CDN links.
    """
    if offline:
        js, css = assets
        element.default_js = list(js)
        element.default_css = list(css)
    return element


def remote_references(html: str) -> list[str]:
    """Every ``src=``/``href=`` in ``html`` that points at http(s); empty when offline."""
    return [html[m.start(): m.start() + 80] for m in REMOTE_ASSET.finditer(html)]
