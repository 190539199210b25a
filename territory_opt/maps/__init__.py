"""Maps of plans: one plan (``map.html``), two plans side by side, and PNG snapshots.

Pages work offline by default: Leaflet and its plugins are embedded in the HTML.
"""

from __future__ import annotations

from territory_opt.maps.colouring import colour_territories
from territory_opt.maps.compare_map import compare_map, write_compare_map
from territory_opt.maps.offline import remote_references
from territory_opt.maps.shapes import territory_shapes
from territory_opt.maps.snapshot import ChromiumNotFoundError, find_chromium, snapshot_png
from territory_opt.maps.territory_map import territory_map, write_map

__all__ = [
    "ChromiumNotFoundError",
    "colour_territories",
    "compare_map",
    "find_chromium",
    "remote_references",
    "snapshot_png",
    "territory_map",
    "territory_shapes",
    "write_compare_map",
    "write_map",
]
