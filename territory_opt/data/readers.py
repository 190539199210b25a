"""Read input tables (CSV, XLSX, Parquet) and unit files (GeoPackage, GeoJSON, Shapefile).

Every reader returns *text* cells: each value is a ``str`` (stripped of surrounding
whitespace) or ``None`` when empty, so identifiers such as ZIP ``"02139"`` keep their
leading zeros; numbers and dates are parsed later, column by column, where a bad cell
can be reported with its row. The frame's index is the row number as a spreadsheet
shows it (header = row 1, first data row = row 2; for Parquet and geo files, record
``i`` counted from 0 is row ``i + 2``). Blank rows are dropped but keep the numbering;
blank rows above the header are skipped (``frame.attrs["header_row"]`` is its row).

Problems that stop a file from being read at all raise :class:`InputError` with one
:class:`InputIssue` naming the file.
"""

from __future__ import annotations

import codecs
import io
import math
import re
import warnings
import zipfile
from datetime import date, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from territory_opt.errors import InputError, InputIssue

TABLE_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".parquet", ".pq")
GEO_SUFFIXES = (".gpkg", ".geojson", ".json", ".shp", ".zip")
DELIMITERS = (",", ";", "\t", "|")
WGS84 = "EPSG:4326"


class EncodingFallbackWarning(UserWarning):
    """A CSV file was not UTF-8 and was read as Windows-1252 instead."""


def cell_text(value: object) -> str | None:
    """One cell as stripped text; ``None`` for empty cells, NaN and NaT.

    Integral floats lose their ``.0`` (Excel stores ZIP 2139 as 2139.0); dates become
    ISO strings.
    """
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return None
        if math.isfinite(value) and float(value).is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(float(value))
    if isinstance(value, datetime | pd.Timestamp):
        return value.isoformat(sep=" ") if (value.hour, value.minute, value.second) != (0, 0, 0) \
            else value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    text = str(value).strip()
    return text or None


def _text_frame(rows: list[list[object]], label: str, drop_blank_rows: bool = True,
                strings: bool = False, skipped: int = 0) -> pd.DataFrame:
    """Header row + data rows -> object frame of text cells indexed by spreadsheet row.

    The header is the first row with any text (blank rows above it are skipped, keeping
    the numbering; ``skipped`` blank lines were already removed above ``rows``).
    ``strings``: every cell is already a ``str`` (CSV), only stripped.
    """
    first = next((i for i, row in enumerate(rows) if any(cell_text(v) for v in row)), None)
    if first is None:
        raise InputError([InputIssue(label, "a header row naming the columns (the file has "
                                            "no text)")])
    header = [cell_text(h) for h in rows[first]]
    width = len(header)
    first += skipped
    if strings:
        body = [[(v.strip() or None) if isinstance(v, str) else cell_text(v) for v in row]
                for row in rows[first - skipped + 1:]]
    else:
        body = [[cell_text(v) for v in row[:width]] + [None] * (width - len(row))
                for row in rows[first - skipped + 1:]]
    columns = _header_names(header, label, header_row=first + 1)
    frame = pd.DataFrame(body, columns=columns, dtype=object,
                         index=pd.RangeIndex(first + 2, first + 2 + len(body)))
    frame = frame.loc[:, [not (c.startswith("unnamed_") and frame[c].isna().all())
                          for c in frame.columns]]
    if drop_blank_rows and len(frame.columns):
        frame = frame[frame.notna().any(axis=1)]
    frame.attrs["header_row"] = first + 1
    return frame


def _header_names(header: list[str | None], label: str, header_row: int) -> list[str]:
    """Column names from a header row: blank headers become ``unnamed_<n>``; duplicates fail."""
    names = [h if h is not None else f"unnamed_{i + 1}" for i, h in enumerate(header)]
    seen: dict[str, int] = {}
    issues = []
    for position, name in enumerate(names):
        if name in seen:
            issues.append(InputIssue(label, f"unique column headers ('{name}' is also column "
                                            f"{seen[name] + 1})", row=header_row,
                                     column=name))
        seen.setdefault(name, position)
    if issues:
        raise InputError(issues)
    return names


def _decode(raw: bytes, label: str) -> str:
    """Bytes -> text: UTF-8 (BOM or not), UTF-16 (BOM or not), else Windows-1252 with a warning.

    Text with NUL bytes that is not UTF-16 is rejected as binary.
    """
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _decoded_or_fail(raw, "utf-16", label)
    if b"\x00" in raw:
        head = raw[:400]
        if head[1::2].count(0) >= 0.9 * len(head[1::2]) and 0 not in head[::2]:
            return _decoded_or_fail(raw, "utf-16-le", label)
        if head[::2].count(0) >= 0.9 * len(head[::2]) and 0 not in head[1::2]:
            return _decoded_or_fail(raw, "utf-16-be", label)
        raise _undecodable(raw, raw.index(b"\x00"), label)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        position = exc.start
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError:
        raise _undecodable(raw, position, label) from None
    line = raw[:position].count(b"\n") + 1
    warnings.warn(
        f"{label} is not UTF-8 (byte 0x{raw[position]:02x} on line {line}); read it as "
        "Windows-1252. Save it as "
        "'CSV UTF-8' to be sure accented names are right.", EncodingFallbackWarning, stacklevel=4)
    return text


def _decoded_or_fail(raw: bytes, encoding: str, label: str) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise _undecodable(raw, exc.start, label) from None


def _undecodable(raw: bytes, position: int, label: str) -> InputError:
    return InputError([InputIssue(
        label, "text in UTF-8, UTF-16 or Windows-1252 (this looks binary or uses another "
               "encoding)", row=raw[:position].count(b"\n") + 1,
        value=f"byte 0x{raw[position]:02x} at offset {position}")])


def _delimiter(text: str) -> str:
    """The most frequent of , ; TAB | on the header line (',' when none)."""
    header = text.splitlines()[0] if text else ""
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _read_csv(path: Path, label: str) -> pd.DataFrame:
    text = _decode(path.read_bytes(), label)
    if not text.strip():
        raise InputError([InputIssue(label, "a header row and at least one data row (the file "
                                            "is empty)")])
    lines = text.splitlines(keepends=True)
    skipped = next(i for i, line in enumerate(lines) if line.strip())
    text = "".join(lines[skipped:])
    try:
        frame = pd.read_csv(io.StringIO(text), sep=_delimiter(text), header=None, dtype=str,
                            keep_default_na=False, na_filter=False, skip_blank_lines=False,
                            engine="c")
    except pd.errors.EmptyDataError:
        raise InputError([InputIssue(label, "a header row and at least one data row (the file "
                                            "has no columns)")]) from None
    except pd.errors.ParserError as exc:
        match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if match is None:
            raise InputError([InputIssue(label, f"a well-formed CSV file ({exc})")]) from None
        expected, line, seen = match.groups()
        raise InputError([InputIssue(label, f"{expected} fields on every row, like the header row",
                                     row=int(line) + skipped, value=f"{seen} fields")]) from None
    return _text_frame(frame.to_numpy(dtype=object).tolist(), label, strings=True,
                       skipped=skipped)


def _read_excel(path: Path, label: str, sheet: str | None) -> pd.DataFrame:
    try:
        book = pd.ExcelFile(path, engine="openpyxl")
    except (zipfile.BadZipFile, OSError, ValueError, KeyError) as exc:
        raise InputError([InputIssue(label, f"an Excel .xlsx workbook ({exc})")]) from None
    with book:
        if sheet is not None and sheet not in book.sheet_names:
            raise InputError([InputIssue(label, "a sheet named in data.sheet that exists: "
                                                + ", ".join(map(repr, book.sheet_names)),
                                         column="sheet", value=sheet)])
        raw = pd.read_excel(book, sheet_name=sheet if sheet is not None else 0, header=None,
                            dtype=object)
    return _text_frame(raw.to_numpy(dtype=object).tolist(), label)


def _read_parquet(path: Path, label: str) -> pd.DataFrame:
    try:
        raw = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise InputError([InputIssue(label, f"a Parquet file ({exc})")]) from None
    return _records_frame(raw, label)


def _records_frame(raw: pd.DataFrame, label: str, drop_blank_rows: bool = True) -> pd.DataFrame:
    """A typed frame (Parquet, geo attributes) as text cells, record i -> row i + 2."""
    rows = [list(raw.columns)] + raw.astype(object).to_numpy().tolist()
    return _text_frame(rows, label, drop_blank_rows)


def _existing(path: str | Path, label: str | None) -> tuple[Path, str]:
    path = Path(path)
    label = label or str(path)
    if not path.is_file():
        raise InputError([InputIssue(label, "an existing file (not found)")])
    return path, label


def read_table(path: str | Path, sheet: str | None = None, *, label: str | None = None,
               infer: bool = False) -> pd.DataFrame:
    """Read a CSV (``,`` ``;`` TAB or ``|`` separated), XLSX or Parquet table as text cells.

    CSV text may be UTF-8 with or without BOM, UTF-16 with BOM, or Windows-1252 (read with
    an :class:`EncodingFallbackWarning`); anything else is an InputError. ``sheet`` picks
    an XLSX sheet (default: the first). ``label`` is the file name used in messages.
    With ``infer=True`` columns whose every cell is a plain number (and none looks like a
    zero-padded code such as ``02139``) become float64.
    """
    path, label = _existing(path, label)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        frame = _read_csv(path, label)
    elif suffix in (".xlsx", ".xlsm"):
        frame = _read_excel(path, label, sheet)
    elif suffix in (".parquet", ".pq"):
        frame = _read_parquet(path, label)
    else:
        raise InputError([InputIssue(label, "a table file: " + ", ".join(TABLE_SUFFIXES),
                                     value=path.suffix)])
    return infer_numbers(frame) if infer else frame


NUMBER_PATTERN = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_PADDED_CODE = r"0\d+"
_ID_HEADER = re.compile(r"(^|[^A-Za-z])[iI][dD]$|[a-z](Id|ID)$")


def infer_numbers(frame: pd.DataFrame, skip: frozenset[str] = frozenset()) -> pd.DataFrame:
    """Text columns whose every cell is a plain number become float64 (blanks NaN).

    Kept as text: columns in ``skip``, columns holding a zero-padded code (``02139``), and
    identifier columns (header ``id``, ``..._id``, ``... ID``, ``StoreId``).
    """
    out = frame.copy()
    for column in frame.columns:
        if column in skip or _ID_HEADER.search(str(column)):
            continue
        values = frame[column].dropna()
        if values.empty:
            continue
        if values.str.fullmatch(NUMBER_PATTERN).all() and \
                not values.str.fullmatch(_PADDED_CODE).any():
            out[column] = frame[column].astype(float)
    return out


def read_units(path: str | Path, sheet: str | None = None, *,
               label: str | None = None) -> gpd.GeoDataFrame:
    """Read geographic units as a GeoDataFrame in EPSG:4326 with text attribute cells.

    Geo files (GeoPackage, GeoJSON, Shapefile or a zipped Shapefile) are read with pyogrio;
    ``sheet`` names the GeoPackage layer (default: the first). Another CRS is reprojected
    to EPSG:4326; a file without a CRS is taken to be in EPSG:4326; coordinates outside
    [-180, 180] x [-90, 90] after that are rejected (metres without a CRS, or a GeoJSON
    wrongly holding projected coordinates). Tables (CSV, XLSX, Parquet) carry ``lat`` and
    ``lon`` columns and get an empty geometry column.
    """
    path, label = _existing(path, label)
    suffix = path.suffix.lower()
    if suffix not in GEO_SUFFIXES:
        table = read_table(path, sheet, label=label)
        return gpd.GeoDataFrame(table, geometry=gpd.GeoSeries([None] * len(table),
                                                              index=table.index, crs=WGS84))
    try:
        raw = pyogrio.read_dataframe(path, layer=sheet)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError,
            ValueError) as exc:
        raise InputError([InputIssue(label, f"a readable GeoPackage, GeoJSON or Shapefile "
                                            f"({exc})".replace("\n", " "))]) from None
    geometry = raw.geometry
    if geometry.crs is None:
        geometry = geometry.set_crs(WGS84)
    elif not geometry.crs.equals(WGS84):
        geometry = geometry.to_crs(WGS84)
    minx, miny, maxx, maxy = geometry.total_bounds if geometry.notna().any() else (0, 0, 0, 0)
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        declared = raw.geometry.crs.to_string() if raw.geometry.crs else "none"
        raise InputError([InputIssue(
            label, "coordinates in degrees, or a coordinate reference system that says what they "
                   f"are (the file's CRS: {declared}; its bounds: {minx:.6g}, {miny:.6g}, "
                   f"{maxx:.6g}, {maxy:.6g})", column="geometry")])
    rows = pd.RangeIndex(2, len(raw) + 2)
    attributes = _records_frame(pd.DataFrame(raw.drop(columns=raw.geometry.name)), label,
                                drop_blank_rows=False) if len(raw.columns) > 1 \
        else pd.DataFrame(index=rows)
    geometry = gpd.GeoSeries(geometry.to_numpy(), index=rows, crs=WGS84)
    return gpd.GeoDataFrame(attributes, geometry=geometry, crs=WGS84)
