"""Shared fixtures: the small valid scenario and the shared benchmark data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
SHARED_DISTRICTING = REPO.parent / "shared" / "data" / "districting" / "county_2010"

# Wide, colourless rich output so assertions can read whole lines.
os.environ.setdefault("COLUMNS", "250")
os.environ.setdefault("NO_COLOR", "1")


@pytest.fixture
def county_graph():
    """Loader of the shared county dual graphs, ``county_graph("54")``; skips without them."""
    if not SHARED_DISTRICTING.is_dir():
        pytest.skip(f"county graphs not found at {SHARED_DISTRICTING} (shared/ data)")
    from territory_opt.solvers.graph_problem import load_unit_graph
    return lambda fips: load_unit_graph(SHARED_DISTRICTING / f"county{fips}.json")


@pytest.fixture
def valid_scenario() -> Path:
    return FIXTURES / "data" / "valid" / "scenario.toml"


@pytest.fixture
def ten_mistakes_scenario() -> Path:
    return FIXTURES / "data" / "ten_mistakes" / "scenario.toml"
