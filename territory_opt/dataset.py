"""The canonical, validated input data of one scenario.

Loaders (``territory_opt.data``) map user headers onto the canonical names below,
check every rule, and only then build a :class:`Dataset`. Downstream code may rely
on these columns and dtypes without re-checking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

# accounts: one row per account. Strings are Python str or None (object dtype);
# numbers are float64. lat/lon are WGS84 degrees, filled from the unit's point when
# only unit_id was given. workload is hours per year (calls_per_year * minutes_per_call / 60
# when only those were given). Missing optional metric columns are 0.0.
ACCOUNT_COLUMNS = [
    "account_id", "name", "lat", "lon", "unit_id", "potential", "sales_ly", "workload",
    "current_territory", "parent_account_id", "locked_territory", "segment",
]
# reps: capacity is workload hours (NaN = equal share); fte defaults to 1.0;
# start_date is datetime64 (NaT when absent).
REP_COLUMNS = [
    "rep_id", "territory_id", "name", "email", "home_lat", "home_lon", "capacity", "fte",
    "start_date", "manager_id",
]
# territories: the hierarchy; parent_id is None at the top. Leaves get accounts.
TERRITORY_COLUMNS = ["territory_id", "parent_id", "level", "name"]
# units: unit_id, lat, lon (representative point, WGS84) and geometry (EPSG:4326,
# may be None when an adjacency edge list was given) plus numeric unit columns.
UNIT_COLUMNS = ["unit_id", "lat", "lon", "geometry"]
# adjacency: undirected edges between unit ids, each pair once (unit_id < neighbor_id).
ADJACENCY_COLUMNS = ["unit_id", "neighbor_id"]


@dataclass
class Dataset:
    """Validated accounts, reps, hierarchy, units and adjacency of one scenario.

    ``territories`` always exists: given, or generated for a green-field design
    (leaf ids T001..Tk under one root). ``sources`` maps a file key ("accounts",
    "reps", ...) to the file read, for the manifest's hashes.
    """

    accounts: pd.DataFrame
    territories: pd.DataFrame
    reps: pd.DataFrame
    units: pd.DataFrame | None = None  # a GeoDataFrame when polygons were given
    adjacency: pd.DataFrame | None = None
    travel: pd.DataFrame | None = None  # (account_id or unit_id), territory_id, minutes
    sources: dict[str, Path] = field(default_factory=dict)
    adjacency_rule: str | None = None  # "rook" | "queen" | "edge list"

    @property
    def leaf_territories(self) -> list[str]:
        """Leaf territory ids (those no other territory names as parent), in file order."""
        parents = set(self.territories["parent_id"].dropna())
        return [t for t in self.territories["territory_id"] if t not in parents]

    def rep_of(self, territory_id: str) -> pd.Series | None:
        """The first rep of a territory, or None for a vacancy."""
        rows = self.reps[self.reps["territory_id"] == territory_id]
        return None if rows.empty else rows.iloc[0]
