"""CSV hygiene shared by every writer: RFC 4180, formula-injection guard, string keys.

Rules (reference/crm-formats.md, "CSV hygiene"): UTF-8, a BOM only where a CRM needs
it; CRLF line ends and minimal quoting (RFC 4180); IDs and ZIPs written as text;
free-text cells starting with ``= + - @``, tab or CR get a leading ``'`` (OWASP CSV
injection), never numeric or ID cells.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from territory_opt.errors import InputError, InputIssue

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
SALESFORCE_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
_ZIP_DIGITS = re.compile(r"^\d{1,5}(?:\.0+)?$")


def neutralise(text: str) -> str:
    """Prefix ``'`` to a free-text value a spreadsheet would run as a formula."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def cell_text(value: object) -> str:
    """One cell as text: blank for missing, integral floats without '.0', booleans lower case."""
    if value is None or value is pd.NaT:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    if hasattr(value, "item"):  # numpy scalar
        return cell_text(value.item())
    return str(value)


def text_values(series: pd.Series, strip: bool = True) -> list[str]:
    """A column as text (see :func:`cell_text`), trimmed unless ``strip`` is False.

    Vectorised when the column holds only text.
    """
    if pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty"):
        text = series.astype(object).where(series.notna(), "").astype(str)
        return (text.str.strip() if strip else text).tolist()
    return [cell_text(v).strip() if strip else cell_text(v) for v in series]


def zip5(value: object) -> str | None:
    """A US ZIP as 5-character zero-padded text ('2139' and 2139 -> '02139'), else None."""
    text = cell_text(value).strip()
    if not _ZIP_DIGITS.match(text):
        return None
    return text.split(".")[0].zfill(5)


def write_csv(
    path: Path, frame: pd.DataFrame, *, text_columns: Iterable[str] = (), bom: bool = False
) -> int:
    """Write ``frame`` as RFC 4180 CSV (CRLF, minimal quoting); returns the data row count.

    ``text_columns`` are free-text columns (names, descriptions, reasons) that get
    the formula-injection guard; every other cell is written verbatim as text.
    """
    guarded = set(text_columns)
    cells = [
        [neutralise(v) for v in text_values(frame.iloc[:, i], strip=False)]
        if column in guarded
        else text_values(frame.iloc[:, i], strip=False)
        for i, column in enumerate(frame.columns)
    ]
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(frame.columns)
        writer.writerows(zip(*cells))
    return len(frame)


def read_key_csv(
    path: str | Path,
    option: str,
    key_columns: Iterable[str],
    value_column: str,
    value_pattern: re.Pattern[str] = SALESFORCE_ID,
    value_expected: str = "a 15- or 18-character Salesforce Id",
) -> pd.DataFrame:
    """Read a user-supplied mapping CSV (all cells text); returns columns ``key``, ``value``.

    The key column is the first of ``key_columns`` present (case-insensitive). Missing
    file or columns, blank or duplicate keys and values not matching ``value_pattern``
    are InputErrors naming the file, row and column.
    """
    key_columns = list(key_columns)
    path = Path(path)
    if not path.is_file():
        raise InputError([InputIssue(str(path), f"an existing CSV file (option {option})")])
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    lower = {c.strip().lower(): c for c in raw.columns}
    keys = [lower[k.lower()] for k in key_columns if k.lower() in lower]
    issues = []
    if not keys:
        issues.append(
            InputIssue(
                str(path),
                f"a key column, one of {key_columns}",
                column="<header>",
                value=", ".join(raw.columns),
            )
        )
    if value_column.lower() not in lower:
        issues.append(
            InputIssue(
                str(path),
                f"a '{value_column}' column",
                column="<header>",
                value=", ".join(raw.columns),
            )
        )
    if issues:
        raise InputError(issues)
    key, value = keys[0], lower[value_column.lower()]
    table = pd.DataFrame({"key": raw[key].str.strip(), "value": raw[value].str.strip()})
    for row, (k, v) in enumerate(zip(table["key"], table["value"]), start=2):
        if not k:
            issues.append(InputIssue(str(path), "a non-blank key", row=row, column=key))
        if not value_pattern.match(v):
            issues.append(InputIssue(str(path), value_expected, row=row, column=value, value=v))
    duplicated = table["key"].str.lower().duplicated(keep="first")
    for row in duplicated[duplicated].index + 2:
        issues.append(
            InputIssue(
                str(path), "each key once", row=int(row), column=key, value=table.at[row - 2, "key"]
            )
        )
    if issues:
        raise InputError(issues)
    return table


def lookup(table: pd.DataFrame, keys: Iterable[str], path: str | Path, what: str) -> list[str]:
    """Map each key (case-insensitive) through a mapping from :func:`read_key_csv`.

    Every key must be present: a partial load is worse than none, so each missing key
    is an InputIssue naming the mapping file.
    """
    index = {k.lower(): v for k, v in zip(table["key"], table["value"])}
    keys = list(keys)
    missing = sorted({k for k in keys if k.lower() not in index})
    if missing:
        raise InputError(
            [InputIssue(str(path), f"a row for {what} {k!r}", value=k) for k in missing]
        )
    return [index[k.lower()] for k in keys]
