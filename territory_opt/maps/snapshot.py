"""Headless Chromium (Debian's ``chromium`` package): PNG snapshots and rendered DOM.

Each run gets a fresh ``--user-data-dir`` and ``--host-resolver-rules`` that make every
host lookup fail, so a page that renders here needs no network. ``--virtual-time-budget``
lets the page's scripts finish before the screenshot or DOM dump is taken.
Set ``TERRITORY_OPT_CHROMIUM`` to use another Chromium binary.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM_ENV = "TERRITORY_OPT_CHROMIUM"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DEBIAN_CHROMIUM = Path("/usr/bin/chromium")
FLAT_LEAFLET = "<script>L_DISABLE_3D = true;</script>"  # read by Leaflet when it loads
NO_NETWORK_RULE = "MAP * ~NOTFOUND, EXCLUDE localhost"


class ChromiumNotFoundError(RuntimeError):
    """No Chromium binary to render with."""


def find_chromium() -> str:
    """Path of the Chromium binary: $TERRITORY_OPT_CHROMIUM, else on PATH, else Debian's."""
    configured = os.environ.get(CHROMIUM_ENV)
    if configured:
        if Path(configured).is_file() and os.access(configured, os.X_OK):
            return configured
        raise ChromiumNotFoundError(f"{CHROMIUM_ENV}={configured} is not an executable file")
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    if DEBIAN_CHROMIUM.is_file():
        return str(DEBIAN_CHROMIUM)
    raise ChromiumNotFoundError(
        "Chromium is needed to render maps headless but was not found. Install Debian's "
        "package: `sudo apt-get install -y chromium` (or set TERRITORY_OPT_CHROMIUM)."
    )


def run_headless(
    html_path: str | os.PathLike, *args: str, width: int = 1200, height: int = 800,
    budget_ms: int = 5000, timeout_s: float = 120.0,
) -> subprocess.CompletedProcess:
    """Open the local file ``html_path`` in headless Chromium with no network; extra ``args``."""
    page = Path(html_path).resolve()
    if not page.is_file():
        raise FileNotFoundError(f"no such page: {page}")
    binary = find_chromium()
    with tempfile.TemporaryDirectory(prefix="territory-opt-chromium-") as profile:
        command = [
            binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-quic", "--no-first-run", "--hide-scrollbars", "--mute-audio",
            "--run-all-compositor-stages-before-draw",
            f"--user-data-dir={profile}", f"--host-resolver-rules={NO_NETWORK_RULE}",
            f"--window-size={width},{height}", f"--virtual-time-budget={budget_ms}",
            *args, page.as_uri(),
        ]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout_s,
                              check=False, stdin=subprocess.DEVNULL)


def snapshot_png(
    html_path: str | os.PathLike, png_path: str | os.PathLike, *, width: int = 1200,
    height: int = 800, budget_ms: int = 5000,
) -> Path:
    """Render ``html_path`` to the PNG ``png_path`` (width × height pixels), offline.

    The page is rendered from a temporary copy that sets ``L_DISABLE_3D``: with software
    compositing, headless Chromium leaves large 3D-transformed Leaflet layers (the SVG
    overlay of a national map) partly unpainted; 2D positioning paints them whole.
    The page itself keeps 3D transforms for smooth panning in a real browser.
    """
    page = Path(html_path).resolve()
    if not page.is_file():
        raise FileNotFoundError(f"no such page: {page}")
    png_path = Path(png_path).resolve()
    png_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = png_path.with_name(f".{png_path.name}.tmp.png")
    with tempfile.TemporaryDirectory(prefix="territory-opt-snapshot-") as folder:
        copy = Path(folder) / page.name
        html = page.read_text(encoding="utf-8")
        copy.write_text(html.replace("<head>", f"<head>{FLAT_LEAFLET}", 1), encoding="utf-8")
        proc = run_headless(copy, f"--screenshot={tmp}", width=width, height=height,
                            budget_ms=budget_ms)
    if proc.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"chromium could not render {html_path}: exit {proc.returncode}\n"
                           f"{proc.stderr[-2000:]}")
    os.replace(tmp, png_path)
    return png_path


def dump_dom(html_path: str | os.PathLike, *, width: int = 1200, height: int = 800,
             budget_ms: int = 5000) -> str:
    """The page's DOM after its scripts ran (serialised HTML), rendered offline."""
    proc = run_headless(html_path, "--dump-dom", width=width, height=height, budget_ms=budget_ms)
    if proc.returncode != 0:
        raise RuntimeError(f"chromium could not load {html_path}: exit {proc.returncode}\n"
                           f"{proc.stderr[-2000:]}")
    return proc.stdout
