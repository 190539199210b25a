"""Plan-year calendar: seasonality, new-hire ramp, period splits and mid-year transfers.

The plan year is the 12 months from ``fiscal_year_start`` (the 1st of a month). Monthly
seasonal weights come from calendar-month sales columns ``sales_ly_m01`` … ``sales_ly_m12``
(re-ordered into fiscal months), else even. A ramp factor per fiscal month is the
fraction of the month the rep is employed × the ramp step reached (steps counted in
whole quarters or months since the start month; 1.0 after the schedule).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from territory_opt.errors import InputError, InputIssue
from territory_opt.quota.rounding import largest_remainder_rows, round_half_up

DEFAULT_FISCAL_YEAR_START = date(2027, 1, 1)
MONTHLY_COLUMNS = [f"sales_ly_m{m:02d}" for m in range(1, 13)]


def month_starts(fiscal_year_start: date) -> pd.DatetimeIndex:
    """The 13 month boundaries of the plan year (12 month starts + the next year's start)."""
    return pd.date_range(pd.Timestamp(fiscal_year_start), periods=13, freq="MS")


def seasonal_weights(
    monthly_sales: np.ndarray | None, n: int, fiscal_year_start: date,
) -> np.ndarray:
    """Fiscal-month weights (n × 12, rows sum to 1) from calendar-month sales (n × 12).

    Rows with no monthly sales take the pattern of all rows together; even if none.
    """
    even = np.full((n, 12), 1.0 / 12)
    if monthly_sales is None:
        return even
    shift = fiscal_year_start.month - 1
    fiscal = np.roll(np.asarray(monthly_sales, dtype=float), -shift, axis=1)
    company = fiscal.sum(axis=0)
    fallback = company / company.sum() if company.sum() > 0 else even[0]
    totals = fiscal.sum(axis=1, keepdims=True)
    return np.where(totals > 0, fiscal / np.where(totals > 0, totals, 1.0), fallback)


def ramp_factors(
    start_dates: pd.Series | np.ndarray, ramp: list[float] | None, period: str,
    fiscal_year_start: date,
) -> np.ndarray:
    """Quota factor per rep and fiscal month (n × 12) for reps starting on ``start_dates``.

    No start date (NaT) or no ramp: 1.0. Months before the start: 0; the start month is
    pro-rated by the days employed.
    """
    starts = pd.to_datetime(pd.Series(start_dates), errors="coerce").to_numpy("datetime64[D]")
    n = len(starts)
    if ramp is None or n == 0:
        return np.ones((n, 12))
    edges = month_starts(fiscal_year_start).to_numpy("datetime64[D]")
    known = ~np.isnat(starts)
    start = np.where(known, starts, edges[0] - np.timedelta64(36500, "D"))
    month_index = start.astype("datetime64[M]").astype(np.int64)
    plan_months = edges[:12].astype("datetime64[M]").astype(np.int64)
    tenure = plan_months[None, :] - month_index[:, None]  # 0 = the start month
    step = tenure // (3 if period == "quarter" else 1)
    schedule = np.append(np.asarray(ramp, dtype=float), 1.0)
    factor = np.where(tenure < 0, 0.0, schedule[np.clip(step, 0, len(ramp))])
    days = (edges[1:] - edges[:-1]).astype(np.int64)
    employed = np.clip((edges[1:][None, :] - start[:, None]).astype(np.int64), 0, days[None, :])
    return factor * employed / days[None, :]


def period_table(fiscal_year_start: date, seasonality: str) -> pd.DataFrame:
    """Periods of the plan year: period label, start_date, end_date (exclusive), months."""
    edges = month_starts(fiscal_year_start)
    size = {"none": 12, "quarter": 3, "month": 1}[seasonality]
    year = fiscal_year_start.year
    labels = {"none": lambda i: f"FY{year}", "quarter": lambda i: f"FY{year}-Q{i + 1}",
              "month": lambda i: f"FY{year}-M{i + 1:02d}"}[seasonality]
    count = 12 // size
    return pd.DataFrame({
        "period": [labels(i) for i in range(count)],
        "start_date": edges[0:12:size].date,
        "end_date": edges[size:13:size].date,
        "months": [list(range(i * size, (i + 1) * size)) for i in range(count)],
    })


def split_into_periods(
    node_ids: np.ndarray, annual_units: np.ndarray, month_weights: np.ndarray, unit: float,
    fiscal_year_start: date, seasonality: str,
) -> pd.DataFrame:
    """Per-period quotas (node_id, period, start_date, end_date, quota) summing to the annual.

    ``month_weights`` (n × 12) need not be normalised; a zero row is split evenly.
    """
    table = period_table(fiscal_year_start, seasonality)
    months = np.asarray(month_weights, dtype=float)
    per_period = np.stack([months[:, m].sum(axis=1) for m in table["months"]], axis=1)
    totals = per_period.sum(axis=1, keepdims=True)
    shares = np.where(totals > 0, per_period / np.where(totals > 0, totals, 1.0),
                      1.0 / len(table))
    units = largest_remainder_rows(shares * annual_units[:, None], annual_units)
    count = len(table)
    return pd.DataFrame({
        "node_id": np.repeat(node_ids, count),
        "period": np.tile(table["period"].to_numpy(), len(node_ids)),
        "start_date": np.tile(table["start_date"].to_numpy(), len(node_ids)),
        "end_date": np.tile(table["end_date"].to_numpy(), len(node_ids)),
        "quota": to_currency(units.ravel(), unit),
    })


def to_currency(units: np.ndarray, unit: float) -> np.ndarray:
    """Integer units back to currency, without float noise in the decimals."""
    decimals = max(0, -int(np.floor(np.log10(unit) + 1e-9))) if unit < 1 else 0
    return np.round(np.asarray(units, dtype=float) * unit, decimals)


@dataclass
class QuotaTransfer:
    """Result of a mid-year move.

    moves: account_id, from_territory, to_territory, annual_quota (the account's share
        of its old territory's annual quota), remaining_share (of the plan year's seasonal
        weight on or after the effective date), transferred (currency).
    territories: territory_id, quota_before, transferred_out, transferred_in, quota_after.
    """

    moves: pd.DataFrame
    territories: pd.DataFrame


def transfer_quota(
    accounts: pd.DataFrame,
    old_assignment: pd.Series,
    new_assignment: pd.Series,
    territory_quotas: pd.Series,
    effective_date: date | str,
    *,
    fiscal_year_start: date | str = DEFAULT_FISCAL_YEAR_START,
    weight: str = "potential",
    month_weights: np.ndarray | None = None,
    round_to: float = 0.0,
) -> QuotaTransfer:
    """Pro-rated quota transfers for accounts moving territory on ``effective_date``.

    An account's annual quota is its old territory's quota × its share of the territory's
    ``weight`` column (even by count when the territory's total weight is 0). The part of
    it falling on or after the effective date (by fiscal-month seasonal weights, even by
    default, days pro-rated within the month) moves to the new territory, rounded to
    ``round_to`` (cents when 0). Totals are conserved exactly.

    accounts: account_id and ``weight``; assignments and quotas are Series indexed by
    account_id / territory_id.
    """
    start = date.fromisoformat(str(fiscal_year_start)[:10])
    effective = pd.Timestamp(str(effective_date)[:10])
    frame = accounts.set_index(accounts["account_id"].astype(str))
    old = old_assignment.rename(index=str).reindex(frame.index)
    new = new_assignment.rename(index=str).reindex(frame.index)
    issues = [InputIssue("accounts", "an account with an old and a new territory",
                         column="account_id", value=a)
              for a in frame.index[old.isna() | new.isna()]]
    if weight not in frame:
        issues.append(InputIssue("accounts", f"a numeric column '{weight}'", column=weight))
    unknown = sorted(set(old.dropna()) - set(territory_quotas.index.astype(str)))
    issues += [InputIssue("territory_quotas", "a quota for every old territory",
                          column="territory_id", value=t) for t in unknown]
    if issues:
        raise InputError(issues)
    quotas = territory_quotas.rename(index=str).astype(float)
    w = frame[weight].astype(float).fillna(0.0).to_numpy()
    territory_weight = pd.Series(w).groupby(old.to_numpy()).transform("sum").to_numpy()
    territory_count = pd.Series(w).groupby(old.to_numpy()).transform("size").to_numpy()
    share = np.where(territory_weight > 0, w / np.where(territory_weight > 0, territory_weight, 1),
                     1.0 / territory_count)
    annual = quotas.reindex(old.to_numpy()).to_numpy() * share
    edges = month_starts(start).to_numpy("datetime64[D]").astype(np.int64)  # days
    effective_day = effective.to_datetime64().astype("datetime64[D]").astype(np.int64)
    after = np.clip((edges[1:] - np.maximum(effective_day, edges[:-1])) / np.diff(edges), 0.0, 1.0)
    season = np.full(12, 1.0 / 12) if month_weights is None else np.asarray(month_weights, float)
    remaining = float((season * after).sum() / season.sum())
    unit = round_to or 0.01
    moving = (old != new).to_numpy()
    moved_units = round_half_up(annual[moving] * remaining / unit)
    moves = pd.DataFrame({
        "account_id": frame.index[moving], "from_territory": old.to_numpy()[moving],
        "to_territory": new.to_numpy()[moving], "annual_quota": annual[moving],
        "remaining_share": remaining, "transferred": to_currency(moved_units, unit),
    })
    ids = sorted(set(quotas.index) | set(new.dropna()))
    before_units = round_half_up(quotas.reindex(ids).fillna(0.0).to_numpy() / unit)
    out_units = pd.Series(moved_units).groupby(moves["from_territory"].to_numpy()).sum()
    in_units = pd.Series(moved_units).groupby(moves["to_territory"].to_numpy()).sum()
    out_units = out_units.reindex(ids, fill_value=0).to_numpy()
    in_units = in_units.reindex(ids, fill_value=0).to_numpy()
    territories = pd.DataFrame({
        "territory_id": ids, "quota_before": to_currency(before_units, unit),
        "transferred_out": to_currency(out_units, unit),
        "transferred_in": to_currency(in_units, unit),
        "quota_after": to_currency(before_units - out_units + in_units, unit),
    })
    return QuotaTransfer(moves=moves, territories=territories)
