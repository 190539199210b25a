"""Load a scenario's input files into a validated :class:`Dataset`, reporting every problem.

:func:`collect_issues` reads every file named in ``scenario.data``, maps the user's
headers, and runs all checks (cells, references, hierarchy and family cycles, scenario
consistency), returning every :class:`InputIssue` found. :func:`load_dataset` runs the
same checks and, when there is none, builds the canonical frames documented in
:mod:`territory_opt.dataset`. Nothing is written anywhere.

Conventions (beyond ``territory_opt.dataset``):

- Blank cells in metric columns (potential, sales_ly, workload, calls_per_year,
  minutes_per_call, numeric balance metrics) count as 0.0; literal NaN/inf are errors.
- ``workload`` (hours per year) = ``calls_per_year * minutes_per_call / 60`` when no
  workload column is given, and for rows whose workload cell is blank.
- Accounts with lat/lon but no unit_id are placed in the unit polygon that contains them.
- Territories: from the territories file; else, with ``alignment.territories = k``,
  generated leaves ``T001..Tk`` (zero-padded to max(3, digits of k)) under root ``ALL``;
  else the leaves named by reps' territory_id and accounts' current_territory under ``ALL``.
- At ``level = "unit"`` without a units file, units are built from the accounts' unit_id
  (lat/lon = mean of their accounts' lat/lon, no geometry).
- Adjacency: the edge list file when given, else rook (or ``data.adjacency_rule = "queen"``)
  adjacency of the unit polygons.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from territory_opt.data.adjacency import adjacency_from_polygons, normalise_edges
from territory_opt.data.columns import METRIC, SPECS, map_headers
from territory_opt.data.readers import (
    GEO_SUFFIXES,
    WGS84,
    infer_numbers,
    read_table,
    read_units,
)
from territory_opt.data.validate import (
    check_filled,
    check_ids,
    check_references,
    find_cycles,
    parse_coordinates,
    parse_dates,
    parse_numbers,
    roots,
    text,
)
from territory_opt.dataset import (
    ACCOUNT_COLUMNS,
    ADJACENCY_COLUMNS,
    REP_COLUMNS,
    TERRITORY_COLUMNS,
    UNIT_COLUMNS,
    Dataset,
)
from territory_opt.errors import InputError, InputIssue
from territory_opt.scenarios.config import Scenario

ROOT_ID = "ALL"
MAX_VALUE = 80  # characters of an offending value quoted in an issue
POLYGONAL = ("Polygon", "MultiPolygon")


@dataclass
class _Hierarchy:
    """Territory rows (canonical columns) plus where they came from, for messages."""

    frame: pd.DataFrame
    leaves: list[str]
    origin: str  # e.g. "the territories file" or "the generated T001..T040"

    @property
    def ids(self) -> set[str]:
        return set(self.frame["territory_id"])


@dataclass
class _Units:
    frame: pd.DataFrame  # unit_id, lat, lon, geometry (+ extras), indexed by file row
    polygons: bool
    ids: set[str] = field(default_factory=set)


class _Loader:
    """One pass over a scenario's files: parsed frames plus every issue found."""

    def __init__(self, scenario: Scenario):
        self.scenario = scenario
        self.alignment = scenario.alignment
        self.scenario_label = str(scenario.source) if scenario.source else "<scenario>"
        self.issues: list[InputIssue] = []
        refs = {rule.metric for rule in self.alignment.balance}
        refs.add(self.alignment.moved_share_metric)
        self.metric_refs = frozenset(m for m in refs if m and m != "accounts")
        eligibility = {self.alignment.eligibility} if self.alignment.eligibility else set()
        self.extra_names = self.metric_refs | eligibility
        self.unreadable: set[str] = set()
        self.columns: dict[str, set[str]] = {}  # file key -> canonical/extra columns present
        self.header_rows: dict[str, int] = {}   # file key -> spreadsheet row of its header
        self.accounts = self.reps = self.adjacency = self.travel = None
        self.units: _Units | None = None
        self.hierarchy: _Hierarchy | None = None

    # ---------------------------------------------------------------- reading
    def label(self, key: str) -> str:
        """The ``key`` file's path, as the scenario gives it (issues' ``file``)."""
        return str(getattr(self.scenario.data, key))

    def name(self, key: str) -> str:
        """The ``key`` file's name, for mentions inside messages."""
        return Path(self.label(key)).name

    def sorted_issues(self) -> list[InputIssue]:
        """Issues grouped by file (data files in scenario order, then the scenario), by row."""
        order = {self.label(key): i for i, key in enumerate(SPECS)
                 if getattr(self.scenario.data, key) is not None}
        ordered = sorted(self.issues, key=lambda issue: (order.get(issue.file, len(order)),
                                                         issue.row or 0))
        return [replace(i, value=i.value[:MAX_VALUE - 3] + "...")
                if i.value is not None and len(i.value) > MAX_VALUE else i for i in ordered]

    def read(self, key: str) -> pd.DataFrame | None:
        """A file as a text table with canonical headers; None when absent or unreadable."""
        path = getattr(self.scenario.data, key)
        if path is None:
            return None
        label, spec = str(path), SPECS[key]
        sheet = self.scenario.data.sheet.get(key)
        try:
            frame = read_units(path, sheet, label=label) if key == "units" \
                else read_table(path, sheet, label=label)
        except InputError as exc:
            self.issues += exc.issues
            self.unreadable.add(key)
            return None
        self.header_rows[key] = frame.attrs.get("header_row", 1)
        mapping = getattr(self.scenario.data.columns, key)
        frame, issues = map_headers(frame, spec, mapping, label, self.scenario_label,
                                    self.extra_names)
        self.issues += issues
        if frame.empty:
            self.issues.append(InputIssue(label, "at least one data row (the file has none)"))
            self.unreadable.add(key)
            return None
        if any(c not in frame.columns for c in spec.required):
            self.unreadable.add(key)  # its other checks would only repeat this problem
            return None
        self.columns[key] = set(frame.columns)
        return frame

    def run(self) -> None:
        accounts = self.read("accounts")
        reps = self.read("reps")
        territories = self.read("territories")
        units = self.read("units")
        adjacency = self.read("adjacency")
        travel = self.read("travel")
        if accounts is not None:
            self.accounts = self.parse_accounts(accounts)
        if reps is not None:
            self.reps = self.parse_reps(reps)
        if units is not None:
            self.units = self.parse_units(units)
        self.hierarchy = self.parse_territories(territories)
        if self.accounts is not None:
            self.check_account_references()
        if self.reps is not None:
            self.check_territory_refs(self.reps["territory_id"], self.label("reps"), "territory_id")
        if adjacency is not None:
            self.adjacency = self.parse_adjacency(adjacency)
        if travel is not None:
            self.travel = self.parse_travel(travel)
        self.check_scenario()

    # ---------------------------------------------------------------- accounts
    def parse_accounts(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Account rows with canonical columns (text or float) plus extras, by file row."""
        label, present = self.label("accounts"), set(frame.columns)
        self.issues += check_ids(frame, "account_id", label)
        out = pd.DataFrame(index=frame.index)
        for column in ("account_id", "name", "unit_id", "current_territory",
                       "parent_account_id", "locked_territory", "segment"):
            out[column] = text(frame, column)
        out["name"] = out["name"].where(out["name"].notna(), out["account_id"])
        for column, rule in SPECS["accounts"].numbers.items():
            out[column], issues = parse_numbers(frame, column, rule, label)
            self.issues += issues
        out["workload"] = self.workload(frame, out)
        out["lat"], out["lon"], self.account_coordinate_rows = self.coordinates(
            frame, "lat", "lon", "accounts")
        if not {"lat", "lon", "unit_id"} & present:
            self.header_issue("accounts", "lat and lon columns, or a unit_id column (or both) "
                                          "to locate accounts")
        extras = [c for c in frame.columns if c not in SPECS["accounts"].canonical]
        for column in extras:
            if column in self.metric_refs:
                out[column], issues = parse_numbers(frame, column, METRIC, label)
                self.issues += issues
        loose = [c for c in extras if c not in self.metric_refs]
        eligibility = frozenset([self.alignment.eligibility or ""])  # compared as text with reps
        out[loose] = infer_numbers(frame[loose], skip=eligibility)
        for column in ("calls_per_year", "minutes_per_call"):
            if column not in present:
                out = out.drop(columns=column)
        return out

    def header_issue(self, key: str, expected: str, column: str | None = None) -> None:
        """A problem with the columns of the ``key`` file, reported at its header row."""
        self.issues.append(InputIssue(self.label(key), expected, row=self.header_rows.get(key, 1),
                                      column=column))

    def workload(self, frame: pd.DataFrame, out: pd.DataFrame) -> pd.Series:
        """Workload hours: the workload column, else calls_per_year * minutes_per_call / 60."""
        has_calls, has_minutes = "calls_per_year" in frame.columns, "minutes_per_call" in frame
        if has_calls != has_minutes:
            missing = "minutes_per_call" if has_calls else "calls_per_year"
            other = "calls_per_year" if has_calls else "minutes_per_call"
            self.header_issue("accounts", f"a column '{missing}' (workload = calls_per_year x "
                                          f"minutes_per_call / 60; '{other}' is given)", missing)
        if not (has_calls and has_minutes):
            return out["workload"]
        computed = out["calls_per_year"] * out["minutes_per_call"] / 60.0
        if "workload" not in frame.columns:
            return computed
        return out["workload"].where(frame["workload"].notna(), computed)

    def coordinates(self, frame: pd.DataFrame, lat: str, lon: str, key: str
                    ) -> tuple[pd.Series, pd.Series, set[int]]:
        """Checked lat/lon columns (NaN where absent or bad) and the rows with an issue."""
        nan = pd.Series(np.nan, index=frame.index, dtype=float)
        if lat not in frame.columns and lon not in frame.columns:
            return nan, nan.copy(), set()
        if (lat in frame.columns) != (lon in frame.columns):
            missing, given = (lon, lat) if lat in frame.columns else (lat, lon)
            self.header_issue(key, f"a column '{missing}' ('{given}' is given; coordinates need "
                                   "both)", missing)
            return nan, nan.copy(), set()
        lat_values, lon_values, issues = parse_coordinates(frame, lat, lon, self.label(key))
        self.issues += issues
        return lat_values, lon_values, {issue.row for issue in issues}

    def check_account_references(self) -> None:
        """Units, territories, families and locations of the accounts."""
        acc, label = self.accounts, self.label("accounts")
        if self.units is not None:
            self.issues += check_references(acc["unit_id"], self.units.ids, label, "unit_id",
                                            f"a unit_id of the units file {self.name('units')}")
            self.place_in_units()
        self.check_locations()
        self.check_territory_refs(acc["current_territory"], label, "current_territory")
        self.check_territory_refs(acc["locked_territory"], label, "locked_territory")
        self.check_families()

    def place_in_units(self) -> None:
        """Fill unit_id (from the containing polygon) and lat/lon (from the unit's point)."""
        acc, units = self.accounts, self.units
        first = units.frame.dropna(subset=["unit_id"]).drop_duplicates("unit_id")
        first = first.set_index("unit_id")
        fill = acc["unit_id"].isin(first.index) & (acc["lat"].isna() | acc["lon"].isna()) \
            & ~acc.index.isin(list(self.account_coordinate_rows))
        acc.loc[fill, "lat"] = first.loc[acc.loc[fill, "unit_id"], "lat"].to_numpy()
        acc.loc[fill, "lon"] = first.loc[acc.loc[fill, "unit_id"], "lon"].to_numpy()
        if not units.polygons:
            return
        unplaced = acc.index[acc["unit_id"].isna() & acc["lat"].notna() & acc["lon"].notna()]
        if len(unplaced):
            polygons = first[first["geometry"].notna()]
            tree = shapely.STRtree(np.array(list(polygons["geometry"]), dtype=object))
            points = shapely.points(acc.loc[unplaced, "lon"], acc.loc[unplaced, "lat"])
            hits = tree.query(points, predicate="intersects")
            order = np.lexsort((hits[1], hits[0]))
            point_pos, first_hit = np.unique(hits[0][order], return_index=True)
            acc.loc[unplaced[point_pos], "unit_id"] = \
                polygons.index.to_numpy()[hits[1][order][first_hit]]

    def check_locations(self) -> None:
        """Every account has lat/lon (given or from its unit), unless already reported."""
        acc, label = self.accounts, self.label("accounts")
        located = acc["lat"].notna() & acc["lon"].notna()
        reported = acc.index.isin(list(self.account_coordinate_rows))
        if self.units is not None or "units" in self.unreadable:
            reported |= acc["unit_id"].notna()  # unknown units are reported as such
        expected = "lat and lon, or a unit_id" + (
            " found in the units file" if self.units is not None
            else " with a units file giving its location")
        for row in acc.index[~located & ~reported]:
            unit = acc.at[row, "unit_id"]
            self.issues.append(InputIssue(label, expected, row=int(row),
                                          column="lat" if unit is None else "unit_id",
                                          value=unit))

    def check_families(self) -> None:
        """Parents exist, families have no cycles, and a family's locks agree."""
        acc, label = self.accounts, self.label("accounts")
        first = acc.dropna(subset=["account_id"]).drop_duplicates("account_id")
        ids = set(first["account_id"])
        self.issues += check_references(acc["parent_account_id"], ids, label, "parent_account_id",
                                        "an account_id of this file (or empty)")
        parent = dict(zip(first["account_id"], first["parent_account_id"], strict=True))
        rows = dict(zip(first["account_id"], first.index, strict=True))
        cycles = find_cycles(parent)
        self.issues += _cycle_issues(cycles, rows, label, "parent_account_id",
                                     "account families without cycles (a parent chain returns "
                                     "to itself)")
        top = roots(parent, {member for cycle in cycles for member in cycle})
        locks: dict[str, dict[str, str]] = {}  # family top -> member -> lock, in file order
        for account, lock in zip(first["account_id"], first["locked_territory"], strict=True):
            if lock is not None and account in top:
                locks.setdefault(top[account], {})[account] = lock
        for root, members in locks.items():
            first_lock = next(iter(members.values()))
            differing = [a for a, t in members.items() if t != first_lock]
            if differing:
                listing = ", ".join(f"{a}: {t}" for a, t in members.items())
                self.issues.append(InputIssue(
                    label, f"one locked_territory per account family (family of {root}: "
                           f"{listing})", row=rows[differing[0]], column="locked_territory",
                    value=members[differing[0]]))

    # ---------------------------------------------------------------- reps
    def parse_reps(self, frame: pd.DataFrame) -> pd.DataFrame:
        label = self.label("reps")
        self.issues += check_ids(frame, "rep_id", label) + check_filled(frame, "territory_id",
                                                                       label)
        out = pd.DataFrame(index=frame.index)
        for column in ("rep_id", "territory_id", "name", "email", "manager_id"):
            out[column] = text(frame, column)
        out["name"] = out["name"].where(out["name"].notna(), out["rep_id"])
        out["home_lat"], out["home_lon"], _ = self.coordinates(frame, "home_lat", "home_lon",
                                                               "reps")
        for column, rule in SPECS["reps"].numbers.items():
            out[column], issues = parse_numbers(frame, column, rule, label)
            self.issues += issues
        out["start_date"], issues = parse_dates(frame, "start_date", label)
        self.issues += issues
        extras = [c for c in frame.columns if c not in SPECS["reps"].canonical]
        out[extras] = frame[extras]
        return out[REP_COLUMNS + extras]

    # ---------------------------------------------------------------- territories
    def parse_territories(self, frame: pd.DataFrame | None) -> _Hierarchy | None:
        if frame is not None:
            return self.given_territories(frame)
        if "territories" in self.unreadable:
            return None
        if self.alignment.territories is not None:
            k = self.alignment.territories
            width = max(3, len(str(k)))
            leaves = [f"T{i:0{width}d}" for i in range(1, k + 1)]
            origin = (f"the generated {leaves[0]}..{leaves[-1]} (no territories file; "
                      f"alignment.territories = {k})")
        else:
            named = []
            if self.reps is not None:
                named += list(self.reps["territory_id"].dropna())
            if self.accounts is not None:
                named += list(self.accounts["current_territory"].dropna())
            leaves = list(dict.fromkeys(named))
            origin = "the territories named by reps and current_territory (no territories file)"
            if not leaves:
                self.issues.append(InputIssue(
                    self.scenario_label, "a territories file (data.territories), a territory "
                    "count (alignment.territories), or reps/current_territory naming territories",
                    column="data.territories"))
                return None
        root = ROOT_ID
        while root in leaves:
            root += "_"
        rows = [(root, None, "company", "All territories")] + \
            [(leaf, root, "territory", leaf) for leaf in leaves]
        return _Hierarchy(pd.DataFrame(rows, columns=TERRITORY_COLUMNS, dtype=object), leaves,
                          origin)

    def given_territories(self, frame: pd.DataFrame) -> _Hierarchy:
        label = self.label("territories")
        self.issues += check_ids(frame, "territory_id", label)
        first = frame.dropna(subset=["territory_id"]).drop_duplicates("territory_id")
        ids = list(first["territory_id"])
        known = set(ids)
        self.issues += check_references(text(frame, "parent_id"), known, label, "parent_id",
                                        "a territory_id of this file (or empty at the top)")
        parent = {t: (p if p in known else None)
                  for t, p in zip(ids, text(first, "parent_id"), strict=True)}
        cycles = find_cycles(parent)
        self.issues += _cycle_issues(cycles, dict(zip(ids, first.index, strict=True)), label,
                                     "parent_id", "a hierarchy without cycles (a parent chain "
                                                  "returns to itself)")
        named_parents = {p for p in parent.values() if p is not None}
        leaves = [t for t in ids if t not in named_parents]
        depth = _depths(parent, {m for c in cycles for m in c})
        levels = [lvl if lvl is not None else ("territory" if t not in named_parents
                                               else f"level_{depth.get(t, 0) + 1}")
                  for t, lvl in zip(ids, text(first, "level"), strict=True)]
        names = [n if n is not None else t for t, n in zip(ids, text(first, "name"), strict=True)]
        territories = pd.DataFrame({"territory_id": ids, "parent_id": [parent[t] for t in ids],
                                    "level": levels, "name": names}, dtype=object)
        return _Hierarchy(territories, leaves, f"the territories file {self.name('territories')}")

    def check_territory_refs(self, values: pd.Series, label: str, column: str) -> None:
        """References must name a known leaf territory (skipped when the hierarchy failed)."""
        if self.hierarchy is None:
            return
        known, leaves = self.hierarchy.ids, set(self.hierarchy.leaves)
        for row, value in values.dropna().items():
            if value not in known:
                self.issues.append(InputIssue(label, f"a territory_id of {self.hierarchy.origin}",
                                              row=int(row), column=column, value=value))
            elif value not in leaves:
                self.issues.append(InputIssue(label, f"a leaf territory ('{value}' has child "
                                                     "territories; accounts and reps go to "
                                                     "leaves)", row=int(row), column=column,
                                              value=value))

    # ---------------------------------------------------------------- units
    def parse_units(self, frame: gpd.GeoDataFrame) -> _Units:
        label = self.label("units")
        self.issues += check_ids(frame, "unit_id", label)
        geometry = frame.geometry
        tabular = Path(label).suffix.lower() not in GEO_SUFFIXES
        if tabular and not {"lat", "lon"} <= set(frame.columns):
            self.header_issue("units", "lat and lon columns (or a geo file with polygons)", "lat")
        lat, lon, bad_rows = self.coordinates(frame, "lat", "lon", "units")
        kinds = geometry.geom_type.where(geometry.notna() & ~geometry.is_empty, None)
        polygons = kinds.isin(POLYGONAL)
        points = kinds == "Point"
        for row in kinds.index[kinds.notna() & ~polygons & ~points]:
            self.issues.append(InputIssue(label, "a Polygon, MultiPolygon or Point geometry",
                                          row=int(row), column="geometry", value=kinds[row]))
        fill = lat.isna() & ~lat.index.isin(list(bad_rows))
        inside = pd.Series(shapely.point_on_surface(np.array(list(geometry), dtype=object)),
                           index=geometry.index).where(polygons | points)
        lat[fill & inside.notna()] = shapely.get_y(inside[fill & inside.notna()].to_numpy())
        lon[fill & inside.notna()] = shapely.get_x(inside[fill & inside.notna()].to_numpy())
        unlocated = lat.isna() & ~lat.index.isin(list(bad_rows)) & kinds.isna()
        if tabular and {"lat", "lon"} <= set(frame.columns):
            self.issues += [InputIssue(label, "lat and lon (the unit's location)", row=int(row),
                                       column="lat") for row in lat.index[unlocated]]
        elif not tabular:
            self.issues += [InputIssue(label, "a polygon geometry or lat/lon", row=int(row),
                                       column="geometry") for row in lat.index[unlocated]]
        out = pd.DataFrame({"unit_id": text(frame, "unit_id"), "lat": lat, "lon": lon,
                            "geometry": geometry.where(polygons, None).astype(object)},
                           index=frame.index)
        extras = [c for c in frame.columns if c not in ("unit_id", "lat", "lon", "geometry")]
        out[extras] = infer_numbers(pd.DataFrame(frame[extras]))
        return _Units(out, bool(polygons.any()), set(out["unit_id"].dropna()))

    def known_units(self) -> set[str] | None:
        if self.units is not None:
            return self.units.ids
        if "units" in self.unreadable:
            return None
        if self.accounts is not None and "unit_id" in self.columns.get("accounts", ()):
            return set(self.accounts["unit_id"].dropna())
        return None

    def parse_adjacency(self, frame: pd.DataFrame) -> pd.DataFrame:
        label = self.label("adjacency")
        known = self.known_units()
        where = f"a unit_id of the units file {self.name('units')}" if self.units is not None \
            else "a unit_id used by the accounts"
        for column in ("unit_id", "neighbor_id"):
            self.issues += check_filled(frame, column, label)
            self.issues += check_references(text(frame, column), known, label, column, where)
        return frame

    def parse_travel(self, frame: pd.DataFrame) -> pd.DataFrame:
        label = self.label("travel")
        keys = [c for c in ("account_id", "unit_id") if c in frame.columns]
        if not keys:
            self.header_issue("travel", "a column 'account_id' or 'unit_id'", "account_id")
        out = pd.DataFrame({c: text(frame, c) for c in (*keys, "territory_id")},
                           index=frame.index)
        out["minutes"], issues = parse_numbers(frame, "minutes", SPECS["travel"].numbers["minutes"],
                                               label)
        self.issues += issues
        self.issues += check_filled(frame, "territory_id", label)
        self.check_territory_refs(out["territory_id"], label, "territory_id")
        known = {"account_id": None if self.accounts is None else set(self.accounts["account_id"]
                                                                       .dropna()),
                 "unit_id": self.known_units()}
        for column in keys:
            self.issues += check_references(out[column], known[column], label, column,
                                            f"a {column} of the {column.split('_')[0]}s")
        unkeyed = out[keys].isna().all(axis=1) if keys else pd.Series(False, index=out.index)
        self.issues += [InputIssue(label, "an account_id or unit_id (the row has neither)",
                                   row=int(row), column=keys[0]) for row in out.index[unkeyed]]
        seen: dict[tuple, int] = {}
        for row, pair in zip(out.index, out[[*keys, "territory_id"]].itertuples(index=False),
                             strict=True):
            if tuple(pair) in seen and not unkeyed[row]:
                self.issues.append(InputIssue(label, f"one row per pair (also in row "
                                                     f"{seen[tuple(pair)]})", row=int(row),
                                              column="territory_id", value=pair[-1]))
            seen.setdefault(tuple(pair), int(row))
        return out

    # ---------------------------------------------------------------- scenario
    def check_scenario(self) -> None:
        """Settings that must agree with the data."""
        alignment, label = self.alignment, self.scenario_label
        for key, sheet in self.scenario.data.sheet.items():
            if key not in SPECS:
                self.issues.append(InputIssue(label, "a data file key: " + ", ".join(SPECS),
                                              column=f"data.sheet.{key}", value=sheet))
        accounts_cols = self.columns.get("accounts", set())
        if self.accounts is not None:
            numeric = {c for c in self.accounts.columns
                       if pd.api.types.is_float_dtype(self.accounts[c])} - {"lat", "lon"}
            numeric &= accounts_cols | ({"workload"} if {"calls_per_year", "minutes_per_call"}
                                        <= accounts_cols else set())
            if alignment.level == "unit" and self.units is not None:
                numeric |= {c for c in self.units.frame.columns
                            if pd.api.types.is_float_dtype(self.units.frame[c])} - {"lat", "lon"}
            rules = [(f"alignment.balance[{i}].metric", rule.metric)
                     for i, rule in enumerate(alignment.balance)]
            if alignment.moved_share_metric:
                rules.append(("alignment.moved_share_metric", alignment.moved_share_metric))
            files = "accounts or units file" if alignment.level == "unit" else "accounts file"
            for column, metric in rules:
                if metric != "accounts" and metric not in numeric:
                    self.issues.append(InputIssue(
                        label, f"a numeric column of the {files} (or 'accounts' for the count); "
                               "numeric columns: " + (", ".join(sorted(numeric)) or "none"),
                        column=column, value=metric))
        self.check_territory_count()
        self.check_unit_level()
        needs_edges = [(alignment.contiguous, "alignment.contiguous"),
                       (alignment.compactness == "cut_edges", "alignment.compactness")]
        has_edges = self.scenario.data.adjacency is not None or (
            self.units is not None and self.units.polygons) or "units" in self.unreadable
        for needed, column in needs_edges:
            if needed and not has_edges:
                self.issues.append(InputIssue(label, "units with polygons (data.units) or an "
                                                     "adjacency edge list (data.adjacency)",
                                              column=column, value=str(getattr(
                                                  alignment, column.split(".")[1])).lower()))
        self.check_eligibility()
        self.check_current_alignment(accounts_cols)

    def check_territory_count(self) -> None:
        k = self.alignment.territories
        if k is None or self.scenario.data.territories is None or self.hierarchy is None:
            return
        if len(self.hierarchy.leaves) != k:
            leaves = len(self.hierarchy.leaves)
            self.issues.append(InputIssue(
                self.scenario_label, f"the number of leaf territories in "
                                     f"{self.label('territories')} ({leaves}), or no "
                                     "alignment.territories", column="alignment.territories",
                value=str(k)))

    def check_unit_level(self) -> None:
        if self.alignment.level != "unit" or self.accounts is None:
            return
        acc, label = self.accounts, self.label("accounts")
        if self.units is None and "units" not in self.unreadable and \
                "unit_id" not in self.columns.get("accounts", ()):
            self.issues.append(InputIssue(self.scenario_label, "a units file (data.units) or a "
                                          "unit_id column in the accounts file",
                                          column="alignment.level", value="unit"))
            return
        placed_by_polygon = self.units is not None and self.units.polygons
        expected = "a unit_id, or lat/lon inside one of the units' polygons" if placed_by_polygon \
            else "a unit_id"
        reported = acc.index.isin(list(self.account_coordinate_rows))
        for row in acc.index[acc["unit_id"].isna() & ~reported]:
            self.issues.append(InputIssue(label, f"{expected} (alignment.level = 'unit')",
                                          row=int(row), column="unit_id"))

    def check_eligibility(self) -> None:
        column = self.alignment.eligibility
        if column is None:
            return
        for key in ("accounts", "reps"):
            if getattr(self.scenario.data, key) is None:
                self.issues.append(InputIssue(self.scenario_label, f"a {key} file with a column "
                                              f"'{column}' (alignment.eligibility)",
                                              column="alignment.eligibility", value=column))
            elif key in self.columns and column not in self.columns[key]:
                self.header_issue(key, f"a column '{column}' (alignment.eligibility)", column)

    def check_current_alignment(self, accounts_cols: set[str]) -> None:
        """Move caps and mode = "current" need the current alignment."""
        alignment = self.alignment
        needs = [(alignment.mode == "current", "alignment.mode", "current"),
                 (alignment.max_moved_share is not None, "alignment.max_moved_share",
                  str(alignment.max_moved_share))]
        if self.accounts is None:
            return
        for needed, column, value in needs:
            if needed and "current_territory" not in accounts_cols:
                self.header_issue("accounts", f"a column 'current_territory' ({column} = "
                                              f"{value})", "current_territory")
        if alignment.mode == "current" and "current_territory" in accounts_cols:
            blank = self.accounts["current_territory"].isna()
            self.issues += [InputIssue(self.label("accounts"), "a current_territory "
                                       "(alignment.mode = 'current')", row=int(row),
                                       column="current_territory")
                            for row in self.accounts.index[blank]]

    # ---------------------------------------------------------------- build
    def build(self) -> Dataset:
        """The canonical frames; call only when no issue was found."""
        units = self.build_units()
        accounts = _canonical(self.accounts, ACCOUNT_COLUMNS)
        reps = _canonical(self.reps, REP_COLUMNS) if self.reps is not None else \
            pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c == "start_date" else
                                       float if c in ("home_lat", "home_lon", "capacity", "fte")
                                       else object) for c in REP_COLUMNS})
        adjacency, rule = None, None
        if self.adjacency is not None:
            adjacency = normalise_edges(self.adjacency["unit_id"], self.adjacency["neighbor_id"])
            rule = "edge list"
        elif units is not None and self.units is not None and self.units.polygons:
            rule = self.scenario.data.adjacency_rule
            adjacency = adjacency_from_polygons(units, rule)
        travel = None if self.travel is None else self.travel.reset_index(drop=True)
        sources = {key: Path(getattr(self.scenario.data, key)) for key in SPECS
                   if getattr(self.scenario.data, key) is not None}
        return Dataset(accounts=accounts, territories=self.hierarchy.frame.reset_index(drop=True),
                       reps=reps, units=units,
                       adjacency=None if adjacency is None else adjacency[ADJACENCY_COLUMNS],
                       travel=travel, sources=sources, adjacency_rule=rule)

    def build_units(self) -> pd.DataFrame | None:
        if self.units is not None:
            frame = _canonical(self.units.frame, UNIT_COLUMNS)
            if self.units.polygons:
                return gpd.GeoDataFrame(frame, geometry="geometry", crs=WGS84)
            return frame
        if self.alignment.level != "unit":
            return None
        grouped = self.accounts.groupby("unit_id", sort=False)[["lat", "lon"]].mean()
        return pd.DataFrame({"unit_id": grouped.index.astype(object), "lat": grouped["lat"],
                             "lon": grouped["lon"], "geometry": None}).reset_index(drop=True)


def _canonical(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Canonical columns first, then extras; text columns object with None; RangeIndex."""
    ordered = frame[columns + [c for c in frame.columns if c not in columns]]
    ordered = ordered.reset_index(drop=True)
    for column in ordered.columns:
        series = ordered[column]
        if not (pd.api.types.is_float_dtype(series) or pd.api.types.is_datetime64_any_dtype(series)
                or column == "geometry"):
            ordered[column] = series.astype(object).where(series.notna(), None)
    return ordered


def _cycle_issues(cycles: list[list[str]], rows: dict[str, int], label: str, column: str,
                  expected: str) -> list[InputIssue]:
    """One issue per cycle, at the row of its first member in the file, naming the cycle."""
    issues = []
    for cycle in cycles:
        start = min(cycle, key=lambda member: rows[member])
        at = cycle.index(start)
        ordered = cycle[at:] + cycle[:at]
        issues.append(InputIssue(label, expected, row=int(rows[start]), column=column,
                                 value=" -> ".join([*ordered, start])))
    return issues


def _depths(parent: dict[str, str | None], skip: set[str]) -> dict[str, int]:
    """Depth of each node below its top ancestor (0 at the top); cycle members left out."""
    depth: dict[str, int] = {}
    for node in parent:
        chain = []
        current: str | None = node
        while current is not None and current not in depth and current not in skip:
            chain.append(current)
            current = parent.get(current)
        base = depth.get(current, -1) if current is not None and current not in skip else -1
        for offset, member in enumerate(reversed(chain), start=1):
            depth[member] = base + offset
    return depth


def collect_issues(scenario: Scenario) -> list[InputIssue]:
    """Every problem in the scenario's input files and their fit with its settings."""
    loader = _Loader(scenario)
    loader.run()
    return loader.sorted_issues()


def load_dataset(scenario: Scenario) -> Dataset:
    """Read, check and build the scenario's Dataset; InputError lists every problem found."""
    loader = _Loader(scenario)
    loader.run()
    if loader.issues:
        raise InputError(loader.sorted_issues())
    return loader.build()
