"""Pareto efficiency of trade-off points (every objective minimised)."""

from __future__ import annotations

import numpy as np


def pareto_efficient(objectives: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of the points no other valid point dominates.

    ``objectives`` is (n points, k objectives), all minimised. Point j dominates i when
    j is no worse on every objective and strictly better on at least one. Invalid points
    (``valid`` False, or any objective NaN) are never efficient and dominate nothing.
    Identical valid points are all efficient. O(n² k) time, O(n k) memory.
    """
    values = np.asarray(objectives, dtype=float)
    if values.ndim != 2:
        raise ValueError("objectives must be a 2-D array (points x objectives)")
    ok = np.isfinite(values).all(axis=1)
    if valid is not None:
        ok &= np.asarray(valid, dtype=bool)
    candidates = values[ok]
    efficient = np.zeros(len(values), dtype=bool)
    for i in np.flatnonzero(ok):
        no_worse = (candidates <= values[i]).all(axis=1)
        better = (candidates < values[i]).any(axis=1)
        efficient[i] = not (no_worse & better).any()
    return efficient
