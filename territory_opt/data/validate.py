"""Cell- and column-level checks on text tables, each returning every issue it finds.

Tables are frames of text cells (``str`` or ``None``) indexed by spreadsheet row, as
returned by :mod:`territory_opt.data.readers`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from territory_opt.data.columns import NumberRule
from territory_opt.data.readers import NUMBER_PATTERN
from territory_opt.errors import InputIssue

_NUMBER = re.compile(NUMBER_PATTERN)
NOT_FINITE = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}


def text(frame: pd.DataFrame, column: str) -> pd.Series:
    """A text column, or all-None when the file has no such column."""
    if column in frame.columns:
        return frame[column]
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


def to_numbers(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Text cells -> (float64 values with NaN where not a plain finite number, bad mask).

    ``bad`` marks non-empty cells that are not plain decimal numbers ("1,5", "n/a", "inf").
    """
    numbers = np.full(len(values), np.nan)
    bad = np.zeros(len(values), dtype=bool)
    for position, raw in enumerate(values.to_numpy(dtype=object)):
        if raw is None:
            continue
        if _NUMBER.fullmatch(raw):
            number = float(raw)
            if math.isfinite(number):
                numbers[position] = number
                continue
        bad[position] = True
    return pd.Series(numbers, index=values.index), pd.Series(bad, index=values.index)


def parse_numbers(frame: pd.DataFrame, column: str, rule: NumberRule, label: str
                  ) -> tuple[pd.Series, list[InputIssue]]:
    """A numeric column checked against ``rule``; blanks get ``rule.default``."""
    values = text(frame, column)
    numbers, bad = to_numbers(values)
    issues = []
    for row in values.index[bad]:
        raw = values[row]
        kind = "a finite number" if raw.lower() in NOT_FINITE or _overflows(raw) \
            else "a number (digits, '.' as decimal point, no thousands separators)"
        issues.append(InputIssue(label, kind, row=int(row), column=column, value=raw))
    low = numbers <= rule.minimum if rule.exclusive else numbers < rule.minimum
    out_of_range = low | (numbers > rule.maximum if rule.maximum is not None else False)
    for row in numbers.index[out_of_range.fillna(False).astype(bool)]:
        issues.append(InputIssue(label, rule.expected, row=int(row), column=column,
                                 value=values[row]))
    blank = values.isna()
    if rule.default is None:
        issues += [InputIssue(label, rule.expected, row=int(row), column=column)
                   for row in values.index[blank]]
    else:
        numbers[blank] = rule.default
    return numbers, issues


def _overflows(raw: str) -> bool:
    try:
        return not math.isfinite(float(raw))
    except ValueError:
        return False


def parse_coordinates(frame: pd.DataFrame, lat_column: str, lon_column: str, label: str
                      ) -> tuple[pd.Series, pd.Series, list[InputIssue]]:
    """WGS84 lat/lon columns: numbers, lat in [-90, 90], lon in [-180, 180], both or neither.

    A row whose lat is outside ±90 while its lon is within ±90 and swapping makes both
    valid is reported once as "lat/lon look swapped". Rows with any issue get NaN.
    """
    lat_text, lon_text = text(frame, lat_column), text(frame, lon_column)
    lat, lat_bad = to_numbers(lat_text)
    lon, lon_bad = to_numbers(lon_text)
    suspect = lat_bad | lon_bad | (lat_text.isna() != lon_text.isna()) | (lat.abs() > 90) \
        | (lon.abs() > 180)
    issues = []
    for row in frame.index[suspect.to_numpy()]:
        found = _coordinate_issues(label, int(row), (lat_column, lat_text[row], lat[row],
                                                     lat_bad[row]),
                                   (lon_column, lon_text[row], lon[row], lon_bad[row]))
        issues += found
        lat[row] = lon[row] = np.nan
    return lat, lon, issues


def _coordinate_issues(label: str, row: int, lat: tuple, lon: tuple) -> list[InputIssue]:
    (lat_col, lat_raw, lat_val, lat_bad), (lon_col, lon_raw, lon_val, lon_bad) = lat, lon
    issues = []
    for column, raw, bad in ((lat_col, lat_raw, lat_bad), (lon_col, lon_raw, lon_bad)):
        if bad:
            issues.append(InputIssue(label, "a number in decimal degrees", row=row,
                                     column=column, value=raw))
    if issues:
        return issues
    if (lat_raw is None) != (lon_raw is None):
        missing, other = (lat_col, lon_col) if lat_raw is None else (lon_col, lat_col)
        return [InputIssue(label, f"a value ({other} is given; give both or neither)", row=row,
                           column=missing)]
    if lat_raw is None:
        return []
    if abs(lat_val) > 90 and abs(lon_val) <= 90 and abs(lat_val) <= 180:
        return [InputIssue(label, f"a latitude in [-90, 90]; lat/lon look swapped ({lon_col} "
                                  f"{lon_raw} would be a valid latitude)", row=row,
                           column=lat_col, value=lat_raw)]
    if abs(lat_val) > 90:
        issues.append(InputIssue(label, "a latitude in [-90, 90]", row=row, column=lat_col,
                                 value=lat_raw))
    if abs(lon_val) > 180:
        issues.append(InputIssue(label, "a longitude in [-180, 180]", row=row, column=lon_col,
                                 value=lon_raw))
    return issues


def parse_dates(frame: pd.DataFrame, column: str, label: str
                ) -> tuple[pd.Series, list[InputIssue]]:
    """A date column (ISO 2027-01-15 preferred); blanks are NaT."""
    values = text(frame, column)
    dates = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    issues = []
    for row, raw in values.dropna().items():
        try:
            dates[row] = pd.Timestamp(raw)
        except (ValueError, TypeError, OverflowError):
            issues.append(InputIssue(label, "a date such as 2027-01-15", row=int(row),
                                     column=column, value=raw))
    return dates, issues


def check_filled(frame: pd.DataFrame, column: str, label: str) -> list[InputIssue]:
    """Every row has a value in ``column`` (skipped when the file has no such column)."""
    if column not in frame.columns:
        return []
    values = frame[column]
    return [InputIssue(label, f"a {column} (the cell is empty)", row=int(row), column=column)
            for row in values.index[values.isna()]]


def check_ids(frame: pd.DataFrame, column: str, label: str) -> list[InputIssue]:
    """Every row has a value in ``column`` and no value repeats (each repeat is reported)."""
    if column not in frame.columns:
        return []
    values = frame[column]
    issues = check_filled(frame, column, label)
    first_row: dict[str, int] = {}
    for row, value in values.dropna().items():
        if value in first_row:
            issues.append(InputIssue(label, f"a unique {column} (also in row {first_row[value]})",
                                     row=int(row), column=column, value=value))
        else:
            first_row[value] = int(row)
    return issues


def check_references(values: pd.Series, known: Iterable[str] | None, label: str, column: str,
                     what: str) -> list[InputIssue]:
    """Non-empty ``values`` must be in ``known`` (skipped when ``known`` is None)."""
    if known is None:
        return []
    known = set(known)
    return [InputIssue(label, what, row=int(row), column=column, value=value)
            for row, value in values.dropna().items() if value not in known]


def find_cycles(parent: Mapping[str, str | None]) -> list[list[str]]:
    """Cycles of a parent map, each as the list of its members from its first-seen member.

    ``{"a": "b", "b": "a"}`` gives ``[["a", "b"]]``; a self-parent gives a one-member cycle.
    """
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles = []
    for start in parent:
        path: list[str] = []
        node: str | None = start
        while node is not None and node in parent and state.get(node) is None:
            state[node] = 1
            path.append(node)
            node = parent[node]
        if node is not None and state.get(node) == 1:
            cycles.append(path[path.index(node):])
        for member in path:
            state[member] = 2
    return cycles


def roots(parent: Mapping[str, str | None], skip: set[str]) -> dict[str, str]:
    """The top ancestor of each node, leaving out ``skip`` (cycles) and nodes below them.

    A node whose parent is unknown (not a key) counts as a top node.
    """
    skip = set(skip)
    top: dict[str, str] = {}
    for start in parent:
        if start in skip:
            continue
        path = []
        node = start
        while node not in top and parent.get(node) in parent and node not in skip:
            path.append(node)
            node = parent[node]
        if node in skip:
            skip.update(path)
            continue
        root = top.get(node, node)
        for member in [*path, node]:
            top[member] = root
    return top
