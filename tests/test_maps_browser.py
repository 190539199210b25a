"""Maps rendered in headless Chromium with every host lookup failing (truly offline).

Requires Debian's ``chromium``: these tests fail when it is missing and CI is set,
and are skipped (with the reason) otherwise.
"""

from __future__ import annotations

import re

import pytest
from browser import class_counts, rendered_dom, require_chromium, with_probe

from territory_opt.maps import compare_map, snapshot_png, write_map
from territory_opt.maps.synthetic import grid_result
from territory_opt.maps.territory_map import write_html

pytestmark = pytest.mark.browser

HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def plans():
    a = grid_result(6, 8, 5, 150, seed=0, names={"T001": HOSTILE, "T002": "Back`tick ${x}"},
                    vacant=("T004",))
    b = grid_result(6, 8, 5, 150, seed=1)
    return a, b


# Open the popup and the tooltip of the first territory, as a click and a hover would.
OPEN_FIRST_TERRITORY = """
var target = null;
for (var key in window) {
  if (key.indexOf('map_') === 0 && window[key] instanceof L.Map) {
    window[key].eachLayer(function (layer) {
      if (layer.feature && / to-t0$/.test(layer.options.className || '')) { target = layer; }
    });
  }
}
var centre = target.getBounds().getCenter();
target.fire('click', {latlng: centre}, true);
target.fire('mouseover', {latlng: centre}, true);
"""


def test_territory_map_renders_offline(plans, tmp_path):
    result = plans[0]
    page = write_map(result, tmp_path / "map.html")
    dom = rendered_dom(with_probe(page, OPEN_FIRST_TERRITORY))
    counts = class_counts(dom)
    assert counts["to-territory"] == result.territories["territory_id"].nunique() == 5
    assert counts["to-rep"] == result.territories["rep_id"].notna().sum() == 4
    assert counts["to-moved"] == int(result.assignments["moved"].sum()) > 0
    assert counts["marker-cluster"] > 0  # Leaflet.markercluster ran
    assert counts["to-legend"] == 1 and counts["leaflet-control-layers"] == 1
    assert "<img src=\"x\"" not in dom and "&lt;img src=x onerror=alert(1)&gt;" in dom
    assert "Back`tick ${x}" in dom  # shown as text in the legend, not evaluated
    # shapes are ordered by territory id: to-t0 is T001, the one with the hostile name
    first = result.territories.set_index("territory_id").loc["T001"]
    popup = re.search(r'class="leaflet-popup-content"[^>]*>(.*?)</table>', dom, re.DOTALL)[1]
    assert "&lt;img src=x onerror=alert(1)&gt; (T001)" in popup
    assert f"{first['potential_total']:,.0f} / target {first['potential_target']:,.0f}" in popup
    tooltip = re.search(r'class="leaflet-tooltip[^"]*"[^>]*>(.*?)</div>', dom, re.DOTALL)[1]
    assert "&lt;img src=x onerror=alert(1)&gt;" in tooltip and "Rep 1 (R001)" in tooltip

    png = snapshot_png(page, tmp_path / "map.png", width=900, height=600)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_compare_map_renders_both_sides_and_pans_them_together(plans, tmp_path):
    a, b = plans
    dual = compare_map(a, b)
    page = write_html(dual, tmp_path / "compare.html")
    m1, m2 = dual.m1.get_name(), dual.m2.get_name()
    probe = (
        f"{m1}.setView([38.2, -89.7], 11, {{animate: false}});"
        f"var c = {m2}.getCenter();"
        "document.body.setAttribute('data-probe', [c.lat.toFixed(3), c.lng.toFixed(3),"
        f"  {m2}.getZoom(), L.version].join(','));"
    )
    dom = rendered_dom(with_probe(page, probe), width=1400)
    counts = class_counts(dom)
    assert counts["to-territory"] == 5 + 5
    assert counts["to-rep"] == 4 + 5
    assert counts["to-changed-unit"] > 0 and counts["leaflet-control-layers"] == 2
    probe_value = re.search(r'data-probe="([^"]*)"', dom)[1]
    assert probe_value == "38.200,-89.700,11,1.9.3"  # right map followed the left one


def test_browser_helper_fails_in_ci_when_chromium_is_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("TERRITORY_OPT_CHROMIUM", str(tmp_path / "missing"))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        require_chromium()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        require_chromium()
