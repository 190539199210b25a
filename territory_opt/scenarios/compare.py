"""Side-by-side comparison of scenario results: KPIs, per-territory deltas, moved accounts.

The first result is the reference (typically the current plan or last year's design);
every other result is compared with it. Figures come from the results' tables
(``territories``, ``assignments``, ``quotas``) and fall back to ``metrics`` when a
table lacks the column, so results loaded from older folders still compare.

Definitions (per scenario, over its leaf territories):
- worst / mean |deviation| of metric m: max / mean of |total_t / target_t - 1|, with the
  scenario's own targets; for a metric the scenario did not balance, the target is the
  equal share (sum of totals / number of territories).
- CV of totals: population standard deviation / mean of the territory totals.
- travel: sum over territories of ``travel_km`` (km to the territory's centre).
- moved: accounts whose territory differs from their current territory.
- quota fairness: CV and Gini of quota / potential as the quota engine reports them (per
  rep); over leaf territories when the metrics lack them.
"""

from __future__ import annotations

import html
import os
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rich.table import Table
from rich.text import Text

from territory_opt.errors import InputError, InputIssue
from territory_opt.quota.fairness import gini
from territory_opt.results import Result

SUMMARY_METRICS = ("potential", "workload", "sales_ly")
HTML_MOVED_ROWS = 500  # rows of the moved-accounts list shown in compare.html (all are in the CSV)


# ---------------------------------------------------------------------------- figures


def balanced_metrics(result: Result) -> list[str]:
    """Metrics the scenario balanced: those in ``metrics['balance']`` or with a deviation column."""
    names = list((result.metrics.get("balance") or {}).keys())
    names += [
        c[: -len("_deviation")] for c in result.territories.columns if c.endswith("_deviation")
    ]
    return list(dict.fromkeys(names))


def kpi_metrics(results: Sequence[Result]) -> list[str]:
    """Metrics to report: every metric any result balanced, else the first's summary totals."""
    metrics = list(dict.fromkeys(m for r in results for m in balanced_metrics(r)))
    return metrics or [m for m in SUMMARY_METRICS if territory_totals(results[0], m) is not None]


def territory_totals(result: Result, metric: str) -> pd.Series | None:
    """Each territory's total of ``metric`` (index territory_id), or None when not tabulated."""
    table = result.territories
    column = f"{metric}_total"
    if column not in table and metric in ("accounts", "travel_km"):
        column = metric
    if column not in table:
        return None
    return pd.Series(table[column].to_numpy(float), index=table["territory_id"].astype(str))


def _deviations(result: Result, metric: str) -> np.ndarray | None:
    """Signed fractional deviation per territory: the scenario's own, else vs the equal share."""
    table = result.territories
    if f"{metric}_deviation" in table:
        return table[f"{metric}_deviation"].to_numpy(float)
    totals = territory_totals(result, metric)
    if totals is None or len(totals) == 0 or totals.mean() <= 0:
        return None
    return totals.to_numpy() / totals.mean() - 1.0


def _coefficient_of_variation(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    if len(values) == 0 or values.mean() == 0:
        return float("nan")
    return float(values.std() / values.mean())


def _nested(mapping: dict, *keys: str):
    for key in keys:
        if not isinstance(mapping, dict) or key not in mapping:
            return None
        mapping = mapping[key]
    return mapping


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _quota_fairness(result: Result) -> tuple[float, float]:
    """(CV, Gini) of quota / potential: as the quota engine reported, else over leaf territories."""
    cv = _number(_nested(result.metrics, "quota", "fairness", "cv"))
    gi = _number(_nested(result.metrics, "quota", "fairness", "gini"))
    if np.isfinite(cv) and np.isfinite(gi):
        return cv, gi
    potential = territory_totals(result, "potential")
    if result.quotas is None or potential is None:
        return cv, gi
    quotas = result.quotas.assign(node_id=result.quotas["node_id"].astype(str))
    quota = quotas.drop_duplicates("node_id").set_index("node_id")["quota"].astype(float)
    leaves = potential.index.intersection(quota.index)
    ratio = (quota[leaves] / potential[leaves].where(potential[leaves] > 0)).to_numpy()
    ratio = ratio[np.isfinite(ratio)]
    return (
        cv if np.isfinite(cv) else _coefficient_of_variation(ratio),
        gi if np.isfinite(gi) else gini(ratio),
    )


def _moved_potential(result: Result, moved: pd.Series) -> float:
    assignments = result.assignments
    if "potential" in assignments:
        return float(assignments.loc[moved, "potential"].astype(float).sum())
    accounts = result.dataset.accounts
    if "potential" in accounts:
        value = accounts.set_index(accounts["account_id"].astype(str))["potential"]
        ids = assignments.loc[moved, "account_id"].astype(str)
        return float(value.reindex(ids).fillna(0.0).sum())
    return _number(result.metrics.get("moved_potential"))


def plan_kpis(result: Result, metrics: Sequence[str] | None = None) -> dict:
    """Flat KPI dict of one plan (keys like ``potential.max_abs_deviation``; see module doc)."""
    metrics = balanced_metrics(result) if metrics is None else list(metrics)
    m = result.metrics
    kpis: dict = {}
    for metric in metrics:
        dev = _deviations(result, metric)
        totals = territory_totals(result, metric)
        reported = _nested(m, "balance", metric) or {}
        if dev is not None and len(dev):
            kpis[f"{metric}.max_abs_deviation"] = float(np.abs(dev).max())
            kpis[f"{metric}.mean_abs_deviation"] = float(np.abs(dev).mean())
        else:
            kpis[f"{metric}.max_abs_deviation"] = _number(reported.get("max_abs_deviation"))
            kpis[f"{metric}.mean_abs_deviation"] = _number(reported.get("mean_abs_deviation"))
        kpis[f"{metric}.cv"] = (
            _coefficient_of_variation(totals.to_numpy())
            if totals is not None
            else _number(reported.get("cv"))
        )
    travel = territory_totals(result, "travel_km")
    kpis["travel_km"] = float(travel.sum()) if travel is not None else _number(m.get("travel_km"))
    assignments = result.assignments
    if "moved" in assignments and len(assignments):
        moved = assignments["moved"].astype(bool)
        kpis["moved_accounts"] = int(moved.sum())
        kpis["moved_share"] = float(moved.mean())
        kpis["moved_potential"] = _moved_potential(result, moved)
    else:
        for key in ("moved_accounts", "moved_share", "moved_potential"):
            kpis[key] = _number(m.get(key))
    kpis["contiguous"] = m.get("contiguous")
    if result.quotas is not None or isinstance(m.get("quota"), dict):
        kpis["quota.cv"], kpis["quota.gini"] = _quota_fairness(result)
        kpis["quota.share_at_quota"] = _number(_nested(m, "quota", "simulation", "share_at_quota"))
    kpis["status"] = m.get("status") or "UNKNOWN"
    kpis["gap"] = _number(m.get("gap"))
    kpis["solve_seconds"] = _number(m.get("solve_seconds"))
    return kpis


def _kpi_rows(metrics: Sequence[str], with_quota: bool) -> list[tuple[str, str, str]]:
    """(key, label, kind) of every KPI row; kind drives display formatting."""
    rows = []
    for metric in metrics:
        rows += [
            (f"{metric}.max_abs_deviation", f"{metric}: worst |deviation|", "pct"),
            (f"{metric}.mean_abs_deviation", f"{metric}: mean |deviation|", "pct"),
            (f"{metric}.cv", f"{metric}: CV of totals", "pct"),
        ]
    rows += [
        ("travel_km", "travel (km)", "km"),
        ("moved_accounts", "moved accounts", "int"),
        ("moved_share", "moved share", "pct"),
        ("moved_potential", "moved potential", "num"),
        ("contiguous", "contiguous", "bool"),
    ]
    if with_quota:
        rows += [
            ("quota.cv", "quota/potential: CV", "ratio"),
            ("quota.gini", "quota/potential: Gini", "ratio"),
            ("quota.share_at_quota", "expected share of reps at quota", "pct"),
        ]
    rows += [
        ("status", "status", "text"),
        ("gap", "gap", "pct"),
        ("solve_seconds", "solve seconds", "seconds"),
    ]
    return rows


def format_value(value, kind: str) -> str:
    """Display text of a KPI value of the given kind (pct, km, int, num, ratio, bool, ...)."""
    if kind == "text":
        return "" if value is None else str(value)
    if kind == "bool":
        return "n/a" if value is None or value is pd.NA else ("yes" if value else "no")
    x = _number(value)
    if not np.isfinite(x):
        return "n/a"
    if kind == "pct":
        return f"{x * 100:.1f}%" if abs(x) < 0.1 else f"{x * 100:.0f}%"
    if kind == "km":
        return f"{x:,.0f} km"
    if kind == "int":
        return f"{x:,.0f}"
    if kind == "ratio":
        return f"{x:.3f}"
    if kind == "seconds":
        return f"{x:,.1f} s"
    return compact_number(x)


def compact_number(x: float) -> str:
    """1234567 -> '1.23M', 45600 -> '45.6k', 12.5 -> '12.5'."""
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{suffix}"
    return f"{x:.3g}"


# ------------------------------------------------------------------------- comparison


@dataclass
class Comparison:
    """Scenarios compared with the first one.

    kpis: one row per KPI (index = label), one column per scenario (raw values).
    kinds: KPI label -> display kind (see ``format_value``).
    territory_deltas: territory_id, metric, one column per scenario (the territory's
        total), and ``Δ <name>`` = that scenario's total minus the first's.
    moved: scenario, account_id, from (territory in the first scenario), to, reason.
    values: scenario name -> flat KPI dict (``plan_kpis``).
    """

    names: list[str]
    results: list[Result]
    metrics: list[str]
    kpis: pd.DataFrame
    kinds: dict[str, str]
    territory_deltas: pd.DataFrame
    moved: pd.DataFrame
    values: dict[str, dict]
    common_accounts: dict[str, int] = field(default_factory=dict)

    def explain(self) -> list[str]:
        """A few plain-words sentences on the main differences with the first scenario."""
        return _explain(self)


def _unique_names(results: Sequence[Result], names: Sequence[str] | None) -> list[str]:
    if names is not None:
        names = [str(n) for n in names]
        if len(names) != len(results):
            raise InputError(
                [
                    InputIssue(
                        "compare", f"{len(results)} names, one per result", value=", ".join(names)
                    )
                ]
            )
        if len(set(names)) != len(names):
            raise InputError(
                [InputIssue("compare", "distinct scenario names", value=", ".join(names))]
            )
        return names
    out: list[str] = []
    for result in results:
        base, n = result.scenario.name, 1
        name = base
        while name in out:
            n += 1
            name = f"{base}-{n}"
        out.append(name)
    return out


def _territory_deltas(
    results: Sequence[Result], names: list[str], metrics: list[str]
) -> pd.DataFrame:
    frames = []
    for metric in [*metrics, "accounts", "travel_km"]:
        series = {name: territory_totals(r, metric) for name, r in zip(names, results)}
        series = {name: s for name, s in series.items() if s is not None}
        if names[0] not in series:
            continue
        frame = pd.DataFrame(series).reindex(columns=[n for n in names if n in series])
        frame.index.name = "territory_id"
        for name in frame.columns[1:]:
            frame[f"Δ {name}"] = frame[name] - frame[names[0]]
        frames.append(frame.reset_index().assign(metric=metric))
    if not frames:
        return pd.DataFrame(columns=["territory_id", "metric", *names])
    order = list(
        dict.fromkeys(t for r in results for t in r.territories["territory_id"].astype(str))
    )
    table = pd.concat(frames, ignore_index=True)
    table["_order"] = table["territory_id"].map({t: i for i, t in enumerate(order)})
    table["_metric"] = table["metric"].map(
        {m: i for i, m in enumerate([*metrics, "accounts", "travel_km"])}
    )
    table = table.sort_values(["_order", "_metric"]).drop(columns=["_order", "_metric"])
    return table[
        [
            "territory_id",
            "metric",
            *[c for c in table.columns if c not in ("territory_id", "metric")],
        ]
    ]


MOVED_COLUMNS = ["scenario", "account_id", "from", "to", "reason"]


def _moved_between(first: Result, later: Result, name: str) -> tuple[pd.DataFrame, int]:
    """Accounts whose territory differs between two plans, and the number of common accounts."""
    a = first.assignments[["account_id", "territory_id"]].astype({"account_id": str})
    cols = ["account_id", "territory_id"] + [
        c for c in ("previous_territory_id", "reason") if c in later.assignments
    ]
    b = later.assignments[cols].astype({"account_id": str})
    both = a.merge(b, on="account_id", suffixes=("_a", "_b"))
    changed = both[both["territory_id_a"].astype(str) != both["territory_id_b"].astype(str)].copy()
    reason = (
        changed["reason"].astype("string").fillna("").astype(str)
        if "reason" in changed
        else pd.Series("", index=changed.index)
    )
    if "previous_territory_id" in changed:
        stays = (reason == "") & (
            changed["previous_territory_id"].astype(str) == changed["territory_id_b"].astype(str)
        )
        reason = reason.mask(
            stays, "stays in its current territory " + changed["territory_id_b"].astype(str)
        )
    moved = pd.DataFrame(
        {
            "scenario": name,
            "account_id": changed["account_id"],
            "from": changed["territory_id_a"],
            "to": changed["territory_id_b"],
            "reason": reason,
        }
    )
    return moved.reset_index(drop=True), len(both)


def compare_results(results: list[Result], names: list[str] | None = None) -> Comparison:
    """Compare results side by side, each against the first (the reference plan)."""
    if not results:
        raise InputError([InputIssue("compare", "at least one result to compare")])
    names = _unique_names(results, names)
    metrics = kpi_metrics(results)
    values = {name: plan_kpis(r, metrics) for name, r in zip(names, results)}
    with_quota = any("quota.cv" in v for v in values.values())
    rows = _kpi_rows(metrics, with_quota)
    kpis = pd.DataFrame(
        {name: [values[name].get(key, np.nan) for key, _, _ in rows] for name in names},
        index=pd.Index([label for _, label, _ in rows], name="kpi"),
    )
    moved_frames, common = [], {}
    for name, result in zip(names[1:], results[1:]):
        frame, common[name] = _moved_between(results[0], result, name)
        moved_frames.append(frame)
    moved = (
        pd.concat(moved_frames, ignore_index=True)
        if moved_frames
        else pd.DataFrame(columns=MOVED_COLUMNS)
    )
    return Comparison(
        names=names,
        results=list(results),
        metrics=metrics,
        kpis=kpis,
        kinds={label: kind for _, label, kind in rows},
        territory_deltas=_territory_deltas(results, names, metrics),
        moved=moved,
        values=values,
        common_accounts=common,
    )


# ------------------------------------------------------------------------ explanation


def _pct(x: float) -> str:
    return format_value(x, "pct")


def _signed_pct(x: float) -> str:
    text = _pct(abs(x))
    return ("+" if x > 0 else "−") + text


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _headline_metric(comparison: Comparison) -> str | None:
    if "potential" in comparison.metrics:
        return "potential"
    return comparison.metrics[0] if comparison.metrics else None


def _balance_clause(metric: str, before: float, after: float) -> str:
    if not (np.isfinite(before) and np.isfinite(after)):
        return f"has a worst {metric} deviation of {_pct(after)}"
    if after < before - 1e-9:
        verb = "cuts"
    elif after > before + 1e-9:
        verb = "raises"
    else:
        return f"keeps the worst {metric} deviation at {_pct(after)}"
    return f"{verb} the worst {metric} deviation from {_pct(before)} to {_pct(after)}"


def _travel_clause(before: float, after: float) -> str:
    if not (np.isfinite(before) and np.isfinite(after)) or before <= 0:
        return ""
    change = after / before - 1.0
    if abs(change) < 0.0005:
        return ", travel unchanged"
    return f", travel {_signed_pct(change)}"


def _explain(c: Comparison) -> list[str]:
    metric = _headline_metric(c)
    ref_name, ref = c.names[0], c.values[c.names[0]]
    sentences = []
    if len(c.names) == 1:
        parts = (
            [f"a worst {metric} deviation of {_pct(ref[f'{metric}.max_abs_deviation'])}"]
            if metric
            else []
        )
        parts.append(f"{format_value(ref['travel_km'], 'km')} of travel")
        parts.append(
            f"{format_value(ref['moved_accounts'], 'int')} accounts moved from the current "
            f"plan ({_pct(ref['moved_share'])})"
        )
        sentences.append(f"{ref_name} has " + ", ".join(parts) + ".")
    for name in c.names[1:]:
        v = c.values[name]
        n_moved = int((c.moved["scenario"] == name).sum())
        share = n_moved / c.common_accounts[name] if c.common_accounts.get(name) else float("nan")
        head = name + " "
        if metric:
            head += _balance_clause(
                metric, ref[f"{metric}.max_abs_deviation"], v[f"{metric}.max_abs_deviation"]
            )
        else:
            head += "differs"
        moves = (
            f" by moving {_count(n_moved, 'account')} ({_pct(share)})"
            if n_moved
            else " without moving any account"
        )
        sentences.append(
            f"{head}{moves} compared with {ref_name}"
            f"{_travel_clause(ref['travel_km'], v['travel_km'])}."
        )
        others = [
            f"{m} {_pct(ref[f'{m}.max_abs_deviation'])} → {_pct(v[f'{m}.max_abs_deviation'])}"
            for m in c.metrics
            if m != metric
            and abs(_number(v[f"{m}.max_abs_deviation"]) - _number(ref[f"{m}.max_abs_deviation"]))
            > 1e-9
        ]
        if others:
            sentences.append(
                f"Worst deviation of the other metrics in {name}: " + ", ".join(others) + "."
            )
        shift = _largest_shift(c, name, metric)
        if shift:
            sentences.append(shift)
        if "quota.cv" in v and "quota.cv" in ref and np.isfinite(_number(v["quota.cv"])):
            before = format_value(ref["quota.cv"], "ratio")
            after = format_value(v["quota.cv"], "ratio")
            sentences.append(
                f"Quota fairness (CV of quota/potential) goes from {before} in {ref_name} "
                f"to {after} in {name}."
            )
        if (
            v["contiguous"] is not None
            and ref["contiguous"] is not None
            and v["contiguous"] != ref["contiguous"]
        ):
            state = "are" if v["contiguous"] else "are not"
            sentences.append(f"{name}'s territories {state} all contiguous, unlike {ref_name}'s.")
    quality = [_quality(name, c.values[name]) for name in c.names]
    sentences.append("Solution quality: " + "; ".join(quality) + ".")
    return sentences


def _largest_shift(c: Comparison, name: str, metric: str | None) -> str:
    if metric is None or f"Δ {name}" not in c.territory_deltas:
        return ""
    rows = c.territory_deltas[c.territory_deltas["metric"] == metric].dropna(subset=[f"Δ {name}"])
    if rows.empty or not (rows[f"Δ {name}"].abs() > 0).any():
        return ""
    row = rows.loc[rows[f"Δ {name}"].abs().idxmax()]
    before, after = float(row[c.names[0]]), float(row[name])
    change = f" ({_signed_pct(after / before - 1.0)})" if before > 0 else ""
    return (
        f"The largest shift in {name} is territory {row['territory_id']}: {metric} "
        f"{compact_number(before)} → {compact_number(after)}{change}."
    )


def _quality(name: str, v: dict) -> str:
    status, gap = v["status"], _number(v["gap"])
    if status == "OPTIMAL":
        return f"{name} is proven optimal"
    if status == "FEASIBLE" and np.isfinite(gap):
        return f"{name} is within {_pct(gap)} of the proven bound"
    if status == "FEASIBLE":
        return f"{name} is feasible, with no proven bound"
    return f"{name} has status {status} (no bound claimed)"


# -------------------------------------------------------------------------- renderers


def render_rich_table(comparison: Comparison) -> Table:
    """The KPI table for a terminal; every user string is shown literally (no markup)."""
    table = Table(title="Scenario comparison", title_justify="left")
    table.add_column("KPI")
    for name in comparison.names:
        table.add_column(Text(name), justify="right")
    for label, row in comparison.kpis.iterrows():
        kind = comparison.kinds[label]
        table.add_row(Text(label), *[Text(format_value(row[n], kind)) for n in comparison.names])
    return table


def write_atomically(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary sibling of ``path``, then rename it into place."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _formatted_kpis(c: Comparison) -> pd.DataFrame:
    return pd.DataFrame(
        {n: [format_value(v, c.kinds[label]) for label, v in c.kpis[n].items()] for n in c.names},
        index=c.kpis.index,
    )


def _html_table(
    frame: pd.DataFrame, *, index: bool, numeric_kind: str | None = None, css_class: str = ""
) -> str:
    """An HTML table with every cell and header escaped."""

    def cell(value) -> str:
        if (
            numeric_kind
            and isinstance(value, int | float | np.number)
            and not isinstance(value, bool)
        ):
            text = format_value(value, numeric_kind)
            cls = ' class="num neg"' if value < 0 else ' class="num"'
            return f"<td{cls}>{html.escape(text)}</td>"
        return f"<td>{html.escape('' if value is None or value is pd.NA else str(value))}</td>"

    head = ([html.escape(str(frame.index.name or ""))] if index else []) + [
        html.escape(str(c)) for c in frame.columns
    ]
    lines = [
        f'<table class="{css_class}">' if css_class else "<table>",
        "<thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead>",
        "<tbody>",
    ]
    for key, row in frame.iterrows():
        cells = ([f"<th>{html.escape(str(key))}</th>"] if index else []) + [cell(v) for v in row]
        lines.append("<tr>" + "".join(cells) + "</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#222}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left}
thead th{background:#f2f4f7;position:sticky;top:0}
td.num,table.kpis td{text-align:right;font-variant-numeric:tabular-nums}td.neg{color:#b42318}
ul.explain li{margin:.3rem 0}iframe{width:100%;height:600px;border:1px solid #ddd}
.note{color:#666;font-size:.85rem}
"""


def render_html(comparison: Comparison, *, map_file: str | None = None, map_note: str = "") -> str:
    """compare.html: self-contained report (inline CSS, no scripts, every user string escaped)."""
    c = comparison
    esc = html.escape
    title = "Scenario comparison: " + " vs ".join(c.names)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        (
            f'<p class="note">Reference: {esc(c.names[0])}. Deviations are |total / target − 1| '
            "per territory; differences (Δ) are each scenario minus the reference.</p>"
        ),
        "<h2>What changes</h2>",
        '<ul class="explain">',
        *[f"<li>{esc(s)}</li>" for s in c.explain()],
        "</ul>",
        "<h2>Key figures</h2>",
        _html_table(_formatted_kpis(c), index=True, css_class="kpis"),
    ]
    if map_file:
        parts += [
            "<h2>Map</h2>",
            f'<p><a href="{esc(map_file)}">Open the comparison map</a></p>',
            f'<iframe src="{esc(map_file)}" title="comparison map"></iframe>',
        ]
    elif map_note:
        parts += [f'<p class="note">{esc(map_note)}</p>']
    parts += [
        "<h2>Per-territory totals and differences</h2>",
        _html_table(c.territory_deltas, index=False, numeric_kind="num"),
    ]
    parts.append("<h2>Moved accounts</h2>")
    if c.moved.empty:
        parts.append("<p>No account changes territory.</p>")
    else:
        counts = c.moved.groupby("scenario", sort=False).size()
        parts.append(
            "<p>"
            + "; ".join(
                f"{esc(str(name))}: {n:,} accounts in another territory than in {esc(c.names[0])}"
                for name, n in counts.items()
            )
            + ".</p>"
        )
        shown = c.moved.head(HTML_MOVED_ROWS)
        if len(c.moved) > len(shown):
            parts.append(
                f'<p class="note">First {len(shown):,} of {len(c.moved):,} rows; '
                "all are in moved_accounts.csv.</p>"
            )
        parts.append(_html_table(shown, index=False))
    parts.append("</body></html>")
    return "\n".join(parts)


def _write_compare_map(comparison: Comparison, path: Path) -> str:
    """Write compare_map.html (first vs second scenario) when the maps package provides it.

    Returns a note for the report when the map could not be written, else "".
    """
    if len(comparison.results) < 2:
        return ""
    try:
        from territory_opt.maps import write_compare_map
    except ImportError:
        return ""
    try:
        write_atomically(
            path, lambda tmp: write_compare_map(comparison.results[0], comparison.results[1], tmp)
        )
    except Exception as exc:  # noqa: BLE001 - the report stays useful without its map
        warnings.warn(f"comparison map not written: {exc}", stacklevel=3)
        return f"The comparison map could not be written: {exc}"
    return ""


def write_comparison(comparison: Comparison, out_dir: str | Path) -> list[Path]:
    """Write compare.csv, territory_deltas.csv, moved_accounts.csv, compare.xlsx,
    compare_map.html (when available) and compare.html into ``out_dir``, each atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    c = comparison
    written = [
        write_atomically(out / "compare.csv", lambda p: c.kpis.to_csv(p)),
        write_atomically(
            out / "territory_deltas.csv", lambda p: c.territory_deltas.to_csv(p, index=False)
        ),
        write_atomically(out / "moved_accounts.csv", lambda p: c.moved.to_csv(p, index=False)),
    ]

    def excel(path: Path) -> None:
        with pd.ExcelWriter(path, engine="openpyxl") as writer:
            c.kpis.to_excel(writer, sheet_name="KPIs")
            c.territory_deltas.to_excel(writer, sheet_name="Territory deltas", index=False)
            c.moved.to_excel(writer, sheet_name="Moved accounts", index=False)

    written.append(write_atomically(out / "compare.xlsx", excel))
    map_path = out / "compare_map.html"
    map_note = _write_compare_map(c, map_path)
    has_map = map_path.is_file()
    if has_map:
        written.append(map_path)
    report = render_html(c, map_file=map_path.name if has_map else None, map_note=map_note)
    written.append(
        write_atomically(out / "compare.html", lambda p: p.write_text(report, encoding="utf-8"))
    )
    return written
