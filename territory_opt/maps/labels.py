"""Text on the map: escaping of untrusted names and the territory KPI summaries.

CRM names and ids are untrusted. Every such value goes through :func:`safe_text`
before it reaches GeoJSON properties, tooltips or popups: HTML-escaped (so markup
is shown, never run), with the backtick and ``${`` neutralised because folium writes
tooltips inside JavaScript template literals.
"""

from __future__ import annotations

import html
import math

import pandas as pd

from territory_opt.results import Result


def safe_text(value: object) -> str:
    """``value`` as inert text for HTML and JS template literals ('' for missing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = html.escape(str(value), quote=True)
    return text.replace("`", "&#96;").replace("${", "&#36;{")


def format_number(value: object) -> str:
    """Thousands separators, no decimals above 100, two significant decimals below."""
    if value is None or pd.isna(value):
        return "–"
    number = float(value)
    if abs(number) >= 100:
        return f"{number:,.0f}"
    return f"{number:,.2f}"


def format_share(value: object) -> str:
    """A signed fraction as a percentage, e.g. 0.032 -> '+3.2%'."""
    if value is None or pd.isna(value):
        return "–"
    return f"{100 * float(value):+.1f}%"


def balance_metrics(territories: pd.DataFrame) -> list[str]:
    """Metrics with <m>_total, <m>_target and <m>_deviation columns, in column order."""
    cols = set(territories.columns)
    return [
        c[: -len("_deviation")] for c in territories.columns
        if c.endswith("_deviation")
        and {f"{c[:-len('_deviation')]}_total", f"{c[:-len('_deviation')]}_target"} <= cols
    ]


def territory_quotas(result: Result) -> pd.Series:
    """territory_id -> quota from ``result.quotas`` (empty when there are none)."""
    quotas = result.quotas
    if quotas is None or not {"node_id", "quota"} <= set(quotas.columns):
        return pd.Series(dtype=float)
    return quotas.drop_duplicates("node_id").set_index("node_id")["quota"]


def territory_label(row: pd.Series) -> str:
    """A territory's display name: its name, or its id when it has none (escaped)."""
    name = row.get("name")
    return safe_text(name if isinstance(name, str) and name.strip() else row["territory_id"])


def rep_label(row: pd.Series) -> str:
    """'Rep name (rep id)', 'Vacant' when the territory has no rep (escaped)."""
    rep_id, rep_name = row.get("rep_id"), row.get("rep_name")
    if rep_id is None or pd.isna(rep_id):
        return "Vacant"
    if isinstance(rep_name, str) and rep_name.strip():
        return f"{safe_text(rep_name)} ({safe_text(rep_id)})"
    return safe_text(rep_id)


def kpi_table(row: pd.Series, metrics: list[str], quota: float | None) -> str:
    """The territory's KPIs as an HTML table; every value inside is escaped."""
    lines = [
        ("Territory", f"{territory_label(row)} ({safe_text(row['territory_id'])})"),
        ("Rep", rep_label(row)),
        ("Accounts", format_number(row.get("accounts"))),
    ]
    for metric in metrics:
        total = format_number(row[f"{metric}_total"])
        target = format_number(row[f"{metric}_target"])
        deviation = format_share(row[f"{metric}_deviation"])
        lines.append((safe_text(metric), f"{total} / target {target} ({deviation})"))
    if "travel_km" in row:
        lines.append(("Travel", f"{format_number(row['travel_km'])} km"))
    if "capacity" in row and pd.notna(row["capacity"]):
        lines.append(("Capacity", f"{format_number(row['capacity'])} h"))
    if quota is not None and pd.notna(quota):
        lines.append(("Quota", format_number(quota)))
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in lines)
    return f'<table class="to-kpi">{body}</table>'


def plan_summary(result: Result) -> list[str]:
    """Short plan-level lines for the legend (escaped): status, gap, balance, moves."""
    metrics = result.metrics or {}
    lines = [f"Scenario: {safe_text(result.scenario.name)}"]
    status = metrics.get("status")
    if status:
        gap = metrics.get("gap")
        gap_text = f", gap {100 * float(gap):.2f}%" if isinstance(gap, (int, float)) else ""
        lines.append(f"Status: {safe_text(status)}{gap_text}")
    for metric, info in (metrics.get("balance") or {}).items():
        dev = info.get("max_abs_deviation") if isinstance(info, dict) else None
        if isinstance(dev, (int, float)):
            lines.append(f"{safe_text(metric)}: max deviation {100 * dev:.1f}%")
    moved = metrics.get("moved_share")
    if isinstance(moved, (int, float)):
        lines.append(f"Moved accounts: {100 * moved:.1f}%")
    return lines
