"""Headless Chromium for browser tests: required in CI, skipped (with the reason) elsewhere."""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

import pytest

from territory_opt.maps.snapshot import ChromiumNotFoundError, find_chromium, run_headless

CLASS_ATTR = re.compile(r'class="([^"]*)"')


def require_chromium() -> str:
    """The Chromium binary; a failure when CI is set and it is missing, else a skip."""
    try:
        return find_chromium()
    except ChromiumNotFoundError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and the browser tests cannot run: {exc}")
        pytest.skip(str(exc))


def rendered_dom(page: Path, **kwargs) -> str:
    """The DOM of ``page`` after its scripts ran in headless Chromium without network.

    Fails the test when the page logged an uncaught JavaScript error.
    """
    require_chromium()
    proc = run_headless(page, "--dump-dom", "--enable-logging=stderr", "--v=0", **kwargs)
    assert proc.returncode == 0, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if "CONSOLE" in line and "Uncaught" in line]
    assert errors == [], f"JavaScript errors in {page.name}: {errors}"
    return proc.stdout


def with_probe(page: Path, script: str) -> Path:
    """A copy of ``page`` that runs ``script`` once loaded (next to it, ``probe-<name>``)."""
    probe = f"<script>window.addEventListener('load', function () {{ {script} }});</script>"
    copy = page.with_name(f"probe-{page.name}")
    copy.write_text(page.read_text(encoding="utf-8").replace("</html>", probe + "</html>"),
                    encoding="utf-8")
    return copy


def class_counts(dom: str) -> Counter:
    """How many elements carry each class token (``class="a b"`` counts a and b once)."""
    counts: Counter = Counter()
    for attr in CLASS_ATTR.findall(dom):
        counts.update(set(attr.split()))
    return counts
