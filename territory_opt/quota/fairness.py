"""Fairness audit of rep quotas: dispersion of quota ÷ potential and a last-year back-test."""

from __future__ import annotations

import numpy as np

from territory_opt.quota.simulate import HEALTHY_BAND


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values (0 = all equal; NaN when empty or all 0)."""
    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    if n == 0 or x.sum() <= 0:
        return float("nan")
    return float((2.0 * np.arange(1, n + 1) - n - 1) @ x / (n * x.sum()))


def fairness_report(quota: np.ndarray, potential: np.ndarray, sales_ly: np.ndarray) -> dict:
    """Dispersion of quota/potential over reps with potential > 0, and the back-test.

    cv (population std ÷ mean), gini, min/mean/max of the ratio, max_abs_deviation
    (largest |ratio ÷ mean − 1|), backtest_share_at_quota: the share of reps whose sales_ly
    reach their quota scaled to last year's total (quota × Σ sales_ly ÷ Σ quota), i.e.
    whether the quota split would have matched last year's results; flagged outside the
    healthy 60–70 % band.
    """
    quota, potential, sales = (np.asarray(a, dtype=float) for a in (quota, potential, sales_ly))
    usable = potential > 0
    ratio = quota[usable] / potential[usable]
    report: dict = {"reps": len(quota), "reps_with_potential": int(usable.sum())}
    if usable.any():
        mean = float(ratio.mean())
        report.update({
            "quota_to_potential_mean": mean,
            "quota_to_potential_min": float(ratio.min()),
            "quota_to_potential_max": float(ratio.max()),
            "cv": float(ratio.std() / mean) if mean > 0 else float("nan"),
            "gini": gini(ratio),
            "max_abs_deviation": (float(np.abs(ratio / mean - 1.0).max()) if mean > 0
                                  else float("nan")),
        })
    scored = quota > 0
    if scored.any() and sales[scored].sum() > 0:
        last_year_quota = quota[scored] * sales[scored].sum() / quota[scored].sum()
        share = float((sales[scored] >= last_year_quota).mean())
        low, high = HEALTHY_BAND
        report["backtest_share_at_quota"] = share
        report["backtest_flag"] = ("below healthy band" if share < low
                                   else "above healthy band" if share > high else None)
    return report
