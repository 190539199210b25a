"""Monte Carlo of next year's attainment per rep.

Sales of rep i are lognormal with mean ``expected_sales[i]`` and coefficient of
variation ``cv``: log S_i = μ_i + σ (√ρ Z₀ + √(1 − ρ) Z_i) with σ² = ln(1 + cv²),
μ_i = ln E_i − σ²/2, Z standard normal, Z₀ one company-wide shock per draw
(``correlation`` ρ).

Over-assignment for a company-level probability p: reps are assumed to sell in proportion
to the quota they carry (attainment S_i / q_i does not depend on the over-assignment, the
premise of over-assigning), so scaling every rep quota by k scales company sales by k and
P(Σ S ≥ plan) = p needs k = plan / Q_{1−p}(Σ S). The result is stated as the cumulative
over-assignment Σ q / plan − 1.
"""

from __future__ import annotations

import numpy as np

HEALTHY_BAND = (0.60, 0.70)  # share of reps at or above quota (Alexander Group norm)


def estimate_cv(potential: np.ndarray, sales_ly: np.ndarray) -> float | None:
    """CV of last year's sales ÷ their potential-based expectation across territories.

    Expectation = potential share × Σ sales_ly. None with fewer than 3 usable territories.
    """
    potential, sales = np.asarray(potential, float), np.asarray(sales_ly, float)
    usable = (potential > 0) & (sales > 0)
    if usable.sum() < 3:
        return None
    ratio = sales[usable] / (potential[usable] * sales[usable].sum() / potential[usable].sum())
    return float(ratio.std(ddof=1) / ratio.mean())


def simulate_attainment(
    quotas: np.ndarray,
    expected_sales: np.ndarray,
    cv: float | np.ndarray,
    draws: int,
    seed: int | None = 0,
    *,
    correlation: float = 0.0,
    plan_total: float | None = None,
    target_probability: float | None = None,
    chunk: int = 500,
) -> dict:
    """Attainment statistics over ``draws`` simulated years for reps with quota > 0.

    Returns share_at_quota (mean over draws of the share of reps with sales ≥ quota; and
    its 10th/90th percentiles), share_below_50 / share_above_150 (attainment < 50 %,
    > 150 %), rep_probability (ndarray: each rep's P(sales ≥ quota)), healthy_band and
    flag ("below healthy band", "above healthy band" or None). With ``plan_total``:
    p_make_plan = P(Σ sales ≥ plan_total), current_overassign = Σ quota / plan − 1 and,
    with ``target_probability``, overassign_for_probability (see module docstring).
    """
    quotas = np.asarray(quotas, dtype=float)
    expected = np.asarray(expected_sales, dtype=float)
    if quotas.shape != expected.shape or np.any(quotas <= 0) or np.any(expected <= 0):
        raise ValueError("quotas and expected_sales must be positive arrays of the same shape")
    if draws < 1:
        raise ValueError("draws must be ≥ 1")
    sigma = np.sqrt(np.log1p(np.broadcast_to(np.asarray(cv, dtype=float), quotas.shape) ** 2))
    mu = np.log(expected) - 0.5 * sigma**2
    # attainment S/q ≥ x  ⇔  standardised shock w ≥ (ln(x q) − μ) / σ; float32 for speed
    def threshold(x: float) -> np.ndarray:
        return ((np.log(x * quotas) - mu) / sigma).astype(np.float32)

    at_quota, half, one_and_half = threshold(1.0), threshold(0.5), threshold(1.5)
    mu32, sigma32 = mu.astype(np.float32), sigma.astype(np.float32)
    rng = np.random.default_rng(seed)
    common, own = np.sqrt(correlation), np.float32(np.sqrt(1.0 - correlation))
    hits = np.zeros(len(quotas))
    share, below, above, company = (np.empty(draws) for _ in range(4))
    for first in range(0, draws, chunk):
        rows = min(chunk, draws - first)
        w = rng.standard_normal((rows, len(quotas)), dtype=np.float32)
        if correlation > 0:
            w *= own
            w += (common * rng.standard_normal((rows, 1))).astype(np.float32)
        made = w >= at_quota
        hits += made.sum(axis=0)
        block = slice(first, first + rows)
        share[block] = made.mean(axis=1)
        below[block] = (w < half).mean(axis=1)
        above[block] = (w > one_and_half).mean(axis=1)
        w *= sigma32
        w += mu32
        company[block] = np.exp(w).sum(axis=1, dtype=np.float64)
    mean_share = float(share.mean())
    low, high = HEALTHY_BAND
    result = {
        "draws": draws, "seed": seed, "reps": len(quotas), "correlation": correlation,
        "share_at_quota": mean_share,
        "share_at_quota_p10": float(np.quantile(share, 0.1)),
        "share_at_quota_p90": float(np.quantile(share, 0.9)),
        "share_below_50": float(below.mean()), "share_above_150": float(above.mean()),
        "rep_probability": hits / draws,
        "healthy_band": list(HEALTHY_BAND),
        "flag": ("below healthy band" if mean_share < low
                 else "above healthy band" if mean_share > high else None),
        "expected_company_sales": float(company.mean()),
    }
    if plan_total is not None:
        result["plan_total"] = float(plan_total)
        result["p_make_plan"] = float((company >= plan_total).mean())
        current = quotas.sum() / plan_total - 1.0
        result["current_overassign"] = float(current)
        if target_probability is not None:
            needed = plan_total / np.quantile(company, 1.0 - target_probability)
            result["target_probability"] = target_probability
            result["overassign_for_probability"] = float((1.0 + current) * needed - 1.0)
    return result
