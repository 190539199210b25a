"""A solved (or evaluated) scenario: tables, quality figures, and the results folder.

Results folder (SPEC): assignments.csv, territories.csv, metrics.json, quotas.csv,
map.html, manifest.json, plus scenario.toml (the resolved scenario, absolute data
paths) so that ``load_result`` can re-open the inputs for maps and exports.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from territory_opt.dataset import Dataset
from territory_opt.scenarios.config import Scenario


@dataclass
class Result:
    """Everything downstream code (maps, exports, compare) needs about one plan.

    assignments: account_id, name, territory_id, previous_territory_id, moved (bool),
        reason (plain words; empty when not moved), unit_id, lat, lon, and one column
        per balanced metric (the account's value).
    territories: one row per leaf territory: territory_id, name, parent_id, level,
        rep_id, rep_name, rep_email, home_lat, home_lon, fte, accounts (count),
        for each balanced metric <m>_total, <m>_target, <m>_deviation (signed
        fraction), travel_km (sum over accounts of distance to the centre, km),
        capacity (workload hours, NaN = none).
    units: unit level or when units exist: unit_id, territory_id (the unit's
        territory; at account level the territory holding most of its accounts).
    metrics: the metrics.json dict (status, objective, bound, gap, solve_seconds,
        balance.{metric}.max_abs_deviation, moved_share, contiguous, ...).
    quotas: quotas.csv frame (node_id, level, parent_id, quota, ...) or None.
    hierarchy: hierarchy.csv: every node of the territories file (territory_id, parent_id,
        level, name) with the plan's accounts and per balanced metric <m>_total, <m>_target,
        <m>_deviation (and <m>_tolerance for balanced levels); a valid territories file.
    """

    scenario: Scenario
    dataset: Dataset
    assignments: pd.DataFrame
    territories: pd.DataFrame
    metrics: dict
    units: pd.DataFrame | None = None
    quotas: pd.DataFrame | None = None
    hierarchy: pd.DataFrame | None = None
    manifest: dict = field(default_factory=dict)
    extras: dict = field(default_factory=dict)  # further tables, e.g. quota periods
