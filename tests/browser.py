"""Headless Chromium for browser tests: required in CI, skipped (with the reason) elsewhere."""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

import pytest

from territory_opt.maps.snapshot import ChromiumNotFoundError, dump_dom, find_chromium

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
    """The DOM of ``page`` after its scripts ran in headless Chromium without network."""
    require_chromium()
    return dump_dom(page, **kwargs)


def class_counts(dom: str) -> Counter:
    """How many elements carry each class token (``class="a b"`` counts a and b once)."""
    counts: Counter = Counter()
    for attr in CLASS_ATTR.findall(dom):
        counts.update(set(attr.split()))
    return counts
