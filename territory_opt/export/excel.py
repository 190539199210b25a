"""An Excel workbook for reviewing a plan (openpyxl).

Sheets: Territories (per-territory KPIs), Moved accounts (with reason), Quotas (and
Quota periods when per-period quotas exist), Summary (metrics.json key figures).
Every sheet has a bold frozen header row, a filter and fitted column widths. Text
cells are stored as strings (never formulas); free-text columns also get the
formula-injection guard.
"""

from __future__ import annotations

import json
import math

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from territory_opt.export.csvsafe import cell_text, neutralise
from territory_opt.export.folder import ExportFolder
from territory_opt.export.plan import build_plan
from territory_opt.results import Result

HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="305496")
FREE_TEXT = {"name", "rep_name", "label", "reason", "description", "level", "key"}
MAX_WIDTH = 60


def _number_format(column: str) -> str:
    if column.endswith(("_deviation", "_share")) or column == "gap":
        return "0.0%"
    if (
        column.endswith(("_total", "_target"))
        or "quota" in column
        or column in ("potential", "sales_ly")
    ):
        return "#,##0"
    return "#,##0.00"


def _value(value: object) -> object:
    """A cell value: numbers and booleans as such, everything else as text (blank for missing)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return None if isinstance(value, float) and math.isnan(value) else value
    if hasattr(value, "item") and not isinstance(value, str):
        return _value(value.item())
    return cell_text(value) or None


def _sheet(book: Workbook, title: str, frame: pd.DataFrame) -> Worksheet:
    sheet = book.create_sheet(title)
    columns = [str(c) for c in frame.columns]
    sheet.append(columns)
    for cell in sheet[1]:
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
        cell.alignment = Alignment(vertical="center")
    widths = [len(c) for c in columns]
    for values in frame.itertuples(index=False, name=None):
        row = []
        for i, (column, raw) in enumerate(zip(columns, values)):
            value = _value(raw)
            if isinstance(value, str) and column in FREE_TEXT:
                value = neutralise(value)
            row.append(value)
            widths[i] = max(widths[i], len(cell_text(value)))
        sheet.append(row)
    for i, column in enumerate(columns, start=1):
        letter = get_column_letter(i)
        sheet.column_dimensions[letter].width = min(widths[i - 1] + 2, MAX_WIDTH)
        for (cell,) in sheet.iter_rows(min_row=2, min_col=i, max_col=i):
            if isinstance(cell.value, str):
                cell.data_type = "s"  # never a formula, whatever the text starts with
            elif isinstance(cell.value, float):
                cell.number_format = _number_format(column)
    sheet.freeze_panes = "A2"
    if frame.shape[1]:
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{max(len(frame) + 1, 1)}"
    return sheet


def _flatten(metrics: dict, prefix: str = "") -> list[tuple[str, object]]:
    rows = []
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += _flatten(value, f"{name}.")
        elif isinstance(value, list | tuple):
            rows.append((name, json.dumps(value, default=str)))
        else:
            rows.append((name, value))
    return rows


def write_xlsx(result: Result, folder: ExportFolder) -> None:
    """Write ``<scenario>.xlsx`` with the Territories, Moved accounts, Quotas and Summary sheets."""
    plan = build_plan(result)
    book = Workbook()
    book.remove(book.active)
    territories = result.territories.copy()
    _sheet(book, "Territories", territories)
    a = plan.accounts
    moved = a[a["moved"]][
        ["account_id", "name", "previous_territory_id", "territory_id", "reason", "unit_id"]
    ]
    _sheet(book, "Moved accounts", moved)
    if result.quotas is not None:
        _sheet(book, "Quotas", result.quotas)
    else:
        _sheet(book, "Quotas", pd.DataFrame({"note": ["No quotas in this result."]}))
        folder.note("No quotas in this result: the Quotas sheet only says so.")
    if plan.quota_periods is not None:
        _sheet(book, "Quota periods", plan.quota_periods)
    summary = [
        ("scenario", result.scenario.name),
        ("accounts", len(a)),
        ("moved accounts", len(moved)),
        ("territories", int(plan.hierarchy["is_leaf"].sum())),
        *_flatten(result.metrics),
    ]
    _sheet(book, "Summary", pd.DataFrame(summary, columns=["key", "value"]))
    path = folder.path / f"{result.scenario.name}.xlsx"
    book.save(path)
    folder.add(path.name, "sheets: " + ", ".join(book.sheetnames))
    folder.notes.extend(plan.notes)
