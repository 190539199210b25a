"""Integer rounding that keeps group sums exact (largest remainder).

All quota arithmetic runs in integer *units* (``round_to``, or cents when it is 0), so
"children sum to parent × (1 + o)" holds exactly, not up to floating-point error.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

_SNAP_ABS, _SNAP_REL = 1e-9, 1e-12  # float noise: values this close to an integer are it


def snap_tolerance(values: np.ndarray) -> np.ndarray:
    """How far a value may sit from an integer and still count as it (float noise)."""
    values = np.asarray(values, dtype=float)
    return np.where(np.isfinite(values), _SNAP_ABS + _SNAP_REL * np.abs(values), 0.0)


def round_half_up(values: np.ndarray | float) -> np.ndarray:
    """Nearest integer, halves rounded up (int64); tiny float noise snapped first."""
    values = np.asarray(values, dtype=float)
    return np.floor(values + 0.5 + snap_tolerance(values)).astype(np.int64)


def scale_half_up(units: np.ndarray, fraction: np.ndarray) -> np.ndarray:
    """round_half_up(units × (1 + fraction)) in exact integer arithmetic (int64).

    ``fraction`` is read as the decimal it prints as (0.03 is 3/100), so a parent of 12,345
    units with 3 % over-assignment gets exactly 12,715 (12,715.35 rounded), never a value
    nudged by binary floating point.
    """
    factors = {f: 1 + Fraction(repr(f)) for f in set(np.asarray(fraction, float).tolist())}
    pairs = zip(np.asarray(units, dtype=np.int64).tolist(),
                np.broadcast_to(np.asarray(fraction, float), np.shape(units)).tolist(), strict=True)
    return np.array([(q * factors[f].numerator + factors[f].denominator // 2)
                     // factors[f].denominator for q, f in pairs], dtype=np.int64)


def largest_remainder(
    values: np.ndarray,
    groups: np.ndarray,
    totals: np.ndarray,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
) -> np.ndarray:
    """Round ``values`` (float units) to integers whose sum per group is ``totals`` exactly.

    Each result is ``floor(v)`` or ``floor(v) + 1``, so within one unit of ``v``. The
    +1s go first to values below their integer lower bound ``ceil(lower)``, then to the
    largest fractional parts among values whose ``floor(v) + 1`` stays within
    ``floor(upper)``, and only when that is not enough to values that cross ``upper``.
    ``groups`` are integer group indices (0..G-1), ``totals`` the integer sum of each group;
    ``Σ values`` per group must be within a fraction of a unit of its total.
    """
    values = np.asarray(values, dtype=float)
    groups = np.asarray(groups, dtype=np.int64)
    totals = np.asarray(totals, dtype=np.int64)
    snapped = np.rint(values)
    near = np.abs(values - snapped) <= snap_tolerance(values)
    values = np.where(near, snapped, values)
    base = np.floor(values).astype(np.int64)
    fraction = values - base
    need = totals - np.bincount(groups, weights=base, minlength=len(totals)).astype(np.int64)
    size = np.bincount(groups, minlength=len(totals))
    if np.any(need < 0) or np.any(need > size):
        bad = int(np.flatnonzero((need < 0) | (need > size))[0])
        raise ValueError(f"group {bad}: values sum to {base[groups == bad].sum()} + fractions, "
                         f"which cannot round to {totals[bad]}")
    priority = fraction.copy()
    if lower is not None:
        lower = np.asarray(lower, dtype=float)
        forced = base < np.ceil(lower - snap_tolerance(lower))
        priority += 2.0 * forced
    if upper is not None:
        upper = np.asarray(upper, dtype=float)
        blocked = base + 1 > np.floor(upper + snap_tolerance(upper))
        priority -= 2.0 * blocked
    order = np.lexsort((-priority, groups))
    starts = np.concatenate([[0], np.cumsum(size)[:-1]])
    rank = np.empty(len(values), dtype=np.int64)
    rank[order] = np.arange(len(values)) - starts[groups[order]]
    return base + (rank < need[groups])


def largest_remainder_rows(values: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Row-wise :func:`largest_remainder` of a 2-D array: each row sums to its total."""
    values = np.asarray(values, dtype=float)
    rows, cols = values.shape
    groups = np.repeat(np.arange(rows), cols)
    return largest_remainder(values.ravel(), groups, totals).reshape(rows, cols)
