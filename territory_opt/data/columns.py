"""Canonical columns of each input file, and mapping of the user's headers onto them.

A scenario maps canonical names to the user's headers per file
(``[data.columns.accounts] account_id = "Account ID"``). Without a mapping, a header
matches a canonical name exactly, or else ignoring case, surrounding spaces and
spaces/hyphens versus underscores ("Account ID" -> ``account_id``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from territory_opt.errors import InputIssue


@dataclass(frozen=True)
class NumberRule:
    """A numeric column's range: ``minimum <= x`` (``<`` when ``exclusive``), ``x <= maximum``.

    ``default`` fills blank cells; ``None`` makes a blank cell an issue.
    """

    minimum: float = 0.0
    maximum: float | None = None
    exclusive: bool = False
    default: float | None = 0.0

    @property
    def expected(self) -> str:
        if self.maximum is not None:
            low = "(" if self.exclusive else "["
            return f"a number in {low}{self.minimum:g}, {self.maximum:g}]"
        return "a positive number" if self.exclusive else "a non-negative number"


METRIC = NumberRule()


@dataclass(frozen=True)
class FileSpec:
    """The canonical columns of one input file.

    ``numbers`` are the numeric metric columns with their rules; coordinates (lat/lon,
    home_lat/home_lon) and dates are parsed by the loader; every other column is text.
    """

    key: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    numbers: dict[str, NumberRule] = field(default_factory=dict)

    @property
    def canonical(self) -> tuple[str, ...]:
        return self.required + self.optional


ACCOUNTS = FileSpec(
    "accounts", ("account_id",),
    ("name", "lat", "lon", "unit_id", "potential", "sales_ly", "workload", "calls_per_year",
     "minutes_per_call", "current_territory", "parent_account_id", "locked_territory", "segment"),
    numbers={name: METRIC for name in ("potential", "sales_ly", "workload", "calls_per_year",
                                       "minutes_per_call")})
REPS = FileSpec(
    "reps", ("rep_id", "territory_id"),
    ("name", "email", "home_lat", "home_lon", "capacity", "fte", "start_date", "manager_id"),
    numbers={"capacity": NumberRule(default=float("nan")),
             "fte": NumberRule(maximum=1.0, exclusive=True, default=1.0)})
TERRITORIES = FileSpec("territories", ("territory_id",), ("parent_id", "level", "name"))
UNITS = FileSpec("units", ("unit_id",), ("lat", "lon"))
ADJACENCY = FileSpec("adjacency", ("unit_id", "neighbor_id"), ())
TRAVEL = FileSpec("travel", ("territory_id", "minutes"), ("account_id", "unit_id"),
                  numbers={"minutes": NumberRule(default=None)})
SPECS = {spec.key: spec for spec in (ACCOUNTS, REPS, TERRITORIES, UNITS, ADJACENCY, TRAVEL)}


def _loose(header: str) -> str:
    return re.sub(r"[\s\-]+", "_", header.strip().lower())


def map_headers(frame: pd.DataFrame, spec: FileSpec, mapping: dict[str, str], label: str,
                scenario_label: str, extra_names: frozenset[str] = frozenset()
                ) -> tuple[pd.DataFrame, list[InputIssue]]:
    """Rename the user's headers to canonical names; report bad mappings and missing columns.

    ``mapping`` is canonical name -> user header. Its keys must be canonical columns of
    the file or ``extra_names`` (metric/eligibility columns the scenario refers to). A
    file column that already has a mapped canonical name but is not the mapped one is
    dropped (the mapping wins).
    """
    issues: list[InputIssue] = []
    headers = list(frame.columns)
    header_row = frame.attrs.get("header_row", 1)
    renames: dict[str, str] = {}
    for canonical, header in mapping.items():
        if canonical not in spec.canonical and canonical not in extra_names:
            issues.append(InputIssue(
                scenario_label, f"a column of the {spec.key} file: " + ", ".join(spec.canonical),
                column=f"data.columns.{spec.key}", value=canonical))
        elif header not in headers:
            issues.append(InputIssue(
                label, f"a column headed '{header}' (data.columns.{spec.key}.{canonical}); the "
                       f"file has: " + ", ".join(headers), row=header_row, column=header))
        elif header in renames:
            issues.append(InputIssue(
                scenario_label, f"one canonical column per header ('{header}' is already "
                                f"mapped to {renames[header]})",
                column=f"data.columns.{spec.key}.{canonical}", value=header))
        else:
            renames[header] = canonical
    mapped = set(renames.values()) | set(mapping)
    for canonical in spec.canonical:
        if canonical in mapped or canonical in headers:
            continue
        loose = [h for h in headers if h not in renames and _loose(h) == canonical]
        if loose:
            renames[loose[0]] = canonical
    dropped = [h for h in headers if h in mapped and h not in renames]
    out = frame.drop(columns=dropped).rename(columns=renames)
    for canonical in spec.required:
        if canonical not in out.columns and canonical not in mapping:
            issues.append(InputIssue(label, f"a column '{canonical}' (or map your header to it "
                                            f"in [data.columns.{spec.key}])", row=header_row,
                                     column=canonical))
    return out, issues
