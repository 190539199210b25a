"""Guardrails: per-node quota bounds, feasibility diagnostics and the closest allocation.

For one parent with allocation ``A`` and children with targets ``t`` and bounds
``[lo, hi]`` the allocation solves

* ``"proportional"``: min Σ (q − t)² / t  s.t. Σ q = A, lo ≤ q ≤ hi. The KKT conditions
  give q = clip(s · t, lo, hi) with one scale s per parent (the multiplier of the sum
  row), and Σ clip(s · t, lo, hi) is nondecreasing in s, so bisection on s followed by an
  exact solve for s on the free children is the optimum (water-filling).
* ``"l1"``: min Σ |q − t| / t  s.t. the same rows, an LP solved by OR-Tools GLOP.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from territory_opt.errors import InfeasibleError, InputError, InputIssue
from territory_opt.quota.rounding import snap_tolerance

LOWER_KEYS = ("min_growth", "min_to_potential", "floor")
UPPER_KEYS = ("max_growth", "max_to_potential", "cap")
_TOL = 1e-9
_MAX_REASONS = 20


@dataclass
class Bounds:
    """Per-node bounds in currency, with the guardrail that sets each one."""

    lower: np.ndarray  # ≥ 0
    upper: np.ndarray  # inf when none
    lower_reason: np.ndarray  # object: guardrail key or ""
    upper_reason: np.ndarray
    settings: dict[str, np.ndarray]  # key -> per-node setting (NaN = not set)


def resolve_bounds(
    node_ids: np.ndarray, levels: np.ndarray, potential: np.ndarray, sales_ly: np.ndarray,
    guardrails: dict, known_levels: set[str], source: str = "scenario [quota]",
) -> Bounds:
    """Bounds of every node from ``guardrails`` (defaults < level table < ``nodes`` table).

    Growth bounds apply to nodes with sales_ly > 0, quota-to-potential bounds to nodes
    with potential > 0.
    """
    defaults = {k: v for k, v in guardrails.items() if not isinstance(v, dict)}
    per_level = {k: v for k, v in guardrails.items() if isinstance(v, dict) and k != "nodes"}
    per_node = guardrails.get("nodes", {})
    issues = [InputIssue(source, f"a level of the hierarchy ({', '.join(sorted(known_levels))})",
                         column="quota.guardrails", value=level)
              for level in per_level if level not in known_levels]
    known_ids = set(node_ids)
    issues += [InputIssue(source, "a node id of the hierarchy or a rep id",
                          column="quota.guardrails.nodes", value=node)
               for node in per_node if node not in known_ids]
    if issues:
        raise InputError(issues)
    ids = pd.Index(node_ids)
    lvl = pd.Series(levels)
    settings = {}
    for key in (*LOWER_KEYS, *UPPER_KEYS):
        value = np.full(len(ids), float(defaults.get(key, np.nan)))
        level_value = lvl.map({lv: t[key] for lv, t in per_level.items() if key in t})
        value = np.where(level_value.notna(), level_value.to_numpy(dtype=float), value)
        for node, table in per_node.items():
            if key in table:
                value[ids.get_loc(node)] = float(table[key])
        settings[key] = value
    with np.errstate(invalid="ignore"):
        has_ly, has_pot = sales_ly > 0, potential > 0
        lower_candidates = {
            "min_growth": np.where(has_ly, sales_ly * (1 + settings["min_growth"]), np.nan),
            "min_to_potential": np.where(has_pot, potential * settings["min_to_potential"], np.nan),
            "floor": settings["floor"],
        }
        upper_candidates = {
            "max_growth": np.where(has_ly, sales_ly * (1 + settings["max_growth"]), np.nan),
            "max_to_potential": np.where(has_pot, potential * settings["max_to_potential"], np.nan),
            "cap": settings["cap"],
        }
    lower, lower_reason = _tightest(lower_candidates, np.fmax, 0.0)
    upper, upper_reason = _tightest(upper_candidates, np.fmin, np.inf)
    return Bounds(np.maximum(lower, 0.0), upper, lower_reason, upper_reason, settings)


def _tightest(candidates: dict[str, np.ndarray], pick, start: float):
    bound = np.full(len(next(iter(candidates.values()))), start)
    reason = np.full(len(bound), "", dtype=object)
    for key, value in candidates.items():
        tighter = ~np.isnan(value) & (pick(bound, value) != bound)
        bound = np.where(tighter, value, bound)
        reason[tighter] = key
    return bound, reason


def describe(key: str, setting: float) -> str:
    """Plain words for one guardrail setting, e.g. ``min_growth -10% over sales_ly``."""
    if key in ("min_growth", "max_growth"):
        return f"{key} {setting:+.0%} over sales_ly"
    if key in ("min_to_potential", "max_to_potential"):
        return f"{key} {setting:g} × potential"
    if key == "bottom_up":
        return "bottom-up quota"
    return f"{key} {money(setting)}"


def money(value: float) -> str:
    """Short currency text: 41.2M, 380.5K, 950."""
    if abs(value) >= 1e6:
        return f"{value / 1e6:,.1f}M"
    if abs(value) >= 1e4:
        return f"{value / 1e3:,.1f}K"
    return f"{value:,.0f}" if value == round(value) else f"{value:,.2f}"


def _money_pair(a: float, b: float) -> tuple[str, str]:
    """Two amounts in words that do not print the same when they differ."""
    x, y = money(a), money(b)
    for digits in (3, 5):
        if x != y or a == b:
            return x, y
        scale, suffix = (1e6, "M") if max(abs(a), abs(b)) >= 1e6 else (1e3, "K")
        x, y = f"{a / scale:,.{digits}f}{suffix}", f"{b / scale:,.{digits}f}{suffix}"
    return (x, y) if x != y else (f"{a:,.2f}", f"{b:,.2f}")


def _reasons_text(keys: np.ndarray, settings: dict[str, np.ndarray], idx: np.ndarray) -> str:
    parts = []
    for key in pd.unique(keys[idx]):
        if not key:
            continue
        members = idx[keys[idx] == key]
        values = pd.unique(settings[key][members]) if key in settings else [np.nan]
        text = describe(key, float(values[0])) if len(values) == 1 else f"{key} (various)"
        parts.append(f"{text} on {len(members)} of {len(idx)}" if len(members) < len(idx)
                     else text)
    return "; ".join(parts) or "no guardrail"


def check_feasible(
    parent_label: np.ndarray, child_label: np.ndarray, groups: np.ndarray, allocation: np.ndarray,
    allocation_text: np.ndarray, lower: np.ndarray, upper: np.ndarray,
    lower_reason: np.ndarray, upper_reason: np.ndarray, settings: dict[str, np.ndarray],
    unit: float = 0.0,
) -> None:
    """Raise InfeasibleError naming every node whose bounds conflict.

    ``groups`` index the parents (``parent_label``, ``allocation`` = what the children must
    sum to, in currency, ``allocation_text`` e.g. "D3's quota × 1.05"); per child arrays
    are in currency. With a rounding ``unit`` the bounds hold to the unit (a quota may cross
    a guardrail by less than one unit, see :func:`unit_grid_bounds`); messages quote the
    exact bounds.
    """
    if unit > 0:
        decide_lower = np.floor(lower / unit + snap_tolerance(lower / unit)) * unit
        decide_upper = np.ceil(upper / unit - snap_tolerance(upper / unit)) * unit
    else:
        decide_lower, decide_upper = lower, upper
    reasons = []
    slack = _TOL * np.maximum(1.0, np.abs(lower))
    for i in np.flatnonzero(decide_lower > decide_upper + slack):
        low, high = _money_pair(lower[i], upper[i])
        reasons.append(
            f"{child_label[i]}: {_reasons_text(lower_reason, settings, np.array([i]))} requires "
            f"at least {low} but {_reasons_text(upper_reason, settings, np.array([i]))} "
            f"allows at most {high}")
    n = len(parent_label)

    def total(values: np.ndarray) -> np.ndarray:
        return np.bincount(groups, weights=np.where(np.isinf(values), 0, values), minlength=n)

    unbounded = np.bincount(groups, weights=np.isinf(upper), minlength=n) > 0
    tol = _TOL * np.maximum(1.0, allocation)
    for g in np.flatnonzero(total(decide_lower) > allocation + tol):
        idx = np.flatnonzero(groups == g)
        low, alloc = _money_pair(total(lower)[g], allocation[g])
        reasons.append(
            f"{parent_label[g]}: children's minimum quotas sum to {low} "
            f"({_reasons_text(lower_reason, settings, idx)}) but {allocation_text[g]} is {alloc}")
    for g in np.flatnonzero(~unbounded & (total(decide_upper) < allocation - tol)):
        idx = np.flatnonzero(groups == g)
        high, alloc = _money_pair(total(upper)[g], allocation[g])
        reasons.append(
            f"{parent_label[g]}: children's maximum quotas sum to {high} "
            f"({_reasons_text(upper_reason, settings, idx)}) but {allocation_text[g]} is {alloc}")
    if reasons:
        shown = reasons[:_MAX_REASONS]
        if len(reasons) > len(shown):
            shown.append(f"... and {len(reasons) - len(shown)} more conflicts of the same kind")
        raise InfeasibleError(shown)


def unit_grid_bounds(
    lower: np.ndarray, upper: np.ndarray, groups: np.ndarray, allocation: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds (in rounding units) snapped to whole units, per sibling group.

    Inner bounds (⌈lower⌉, ⌊upper⌋) keep every rounded quota within its guardrail. A group
    whose inner bounds cannot sum to its allocation uses the outer bounds (⌊lower⌋,
    ⌈upper⌉): some quota then crosses its guardrail by less than one unit, which rounding
    to whole units cannot avoid (e.g. a parent already rounded up past the same bound).
    """
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    inner_lower = np.ceil(lower - snap_tolerance(lower))
    inner_upper = np.floor(upper + snap_tolerance(upper))
    outer_lower = np.floor(lower + snap_tolerance(lower))
    outer_upper = np.ceil(upper - snap_tolerance(upper))
    n = len(allocation)
    reachable = ((np.bincount(groups, weights=inner_lower, minlength=n) <= allocation)
                 & (np.bincount(groups, weights=inner_upper, minlength=n) >= allocation)
                 & (np.bincount(groups, weights=inner_lower > inner_upper, minlength=n) == 0))
    inner = reachable[groups]
    return np.where(inner, inner_lower, outer_lower), np.where(inner, inner_upper, outer_upper)


def fit(
    target: np.ndarray, lower: np.ndarray, upper: np.ndarray, groups: np.ndarray,
    allocation: np.ndarray, objective: str = "proportional",
) -> np.ndarray:
    """Allocation closest to ``target`` with lower ≤ q ≤ upper and Σ q = allocation per group.

    Groups whose targets already satisfy the bounds keep them unchanged (both objectives
    are 0 there). Feasibility must have been checked (:func:`check_feasible`).
    """
    result = np.asarray(target, dtype=float).copy()
    outside = (target < lower - _TOL * np.maximum(1.0, lower)) | (target > upper + _TOL * target)
    active_groups = np.unique(groups[outside])
    if len(active_groups) == 0:
        return result
    members = np.isin(groups, active_groups)
    local = np.searchsorted(active_groups, groups[members])
    args = (target[members], lower[members], upper[members], local, allocation[active_groups])
    result[members] = water_fill(*args) if objective == "proportional" else l1_fit(*args)
    return result


def _positive_targets(target: np.ndarray, groups: np.ndarray, allocation: np.ndarray) -> np.ndarray:
    """Targets with zeros lifted to a negligible positive amount (so 1/t stays finite)."""
    size = np.bincount(groups, minlength=len(allocation))
    tiny = 1e-12 * np.maximum(allocation, 1.0) / np.maximum(size, 1)
    return np.maximum(target, tiny[groups])


def water_fill(
    target: np.ndarray, lower: np.ndarray, upper: np.ndarray, groups: np.ndarray,
    allocation: np.ndarray, iterations: int = 200,
) -> np.ndarray:
    """Exact minimiser of Σ (q − t)² / t per group under bounds and the sum row (vectorised)."""
    t = _positive_targets(target, groups, allocation)
    n_groups = len(allocation)
    finite_upper = np.where(np.isinf(upper), 0.0, upper)
    high = np.zeros(n_groups)
    np.maximum.at(high, groups, np.maximum(lower, finite_upper) / t)
    min_t = np.full(n_groups, np.inf)
    np.minimum.at(min_t, groups, t)
    high = np.maximum(high, allocation / min_t) + 1.0  # every child at its upper bound or ≥ A
    low = np.zeros(n_groups)
    for _ in range(iterations):
        mid = 0.5 * (low + high)
        total = np.bincount(groups, weights=np.clip(t * mid[groups], lower, upper),
                            minlength=n_groups)
        too_much = total >= allocation
        high = np.where(too_much, mid, high)
        low = np.where(too_much, low, mid)
    scale = 0.5 * (low + high)
    q = np.clip(t * scale[groups], lower, upper)
    free = (q > lower) & (q < upper)
    free_t = np.bincount(groups, weights=np.where(free, t, 0.0), minlength=n_groups)
    fixed_sum = np.bincount(groups, weights=np.where(free, 0.0, q), minlength=n_groups)
    exact = np.where(free_t > 0, (allocation - fixed_sum) / np.where(free_t > 0, free_t, 1), scale)
    return np.where(free, np.clip(t * exact[groups], lower, upper), q)


def l1_fit(
    target: np.ndarray, lower: np.ndarray, upper: np.ndarray, groups: np.ndarray,
    allocation: np.ndarray,
) -> np.ndarray:
    """Minimiser of Σ |q − t| / t per group under bounds and the sum row: an LP (GLOP)."""
    from ortools.math_opt.python import mathopt

    t = _positive_targets(target, groups, allocation)
    model = mathopt.Model(name="quota_l1")
    q = [model.add_variable(lb=float(lo), ub=float(hi)) for lo, hi in zip(lower, upper)]
    dev = [model.add_variable(lb=0.0) for _ in q]
    for qi, di, ti in zip(q, dev, t):
        model.add_linear_constraint(di - qi >= -float(ti))
        model.add_linear_constraint(di + qi >= float(ti))
    order = np.argsort(groups, kind="stable")
    bounds = np.searchsorted(groups[order], np.arange(len(allocation) + 1))
    for g, total in enumerate(allocation):
        members = order[bounds[g]:bounds[g + 1]]
        model.add_linear_constraint(mathopt.fast_sum(q[i] for i in members) == float(total))
    model.minimize(mathopt.fast_sum(d / float(ti) for d, ti in zip(dev, t)))
    result = mathopt.solve(model, mathopt.SolverType.GLOP)
    if result.termination.reason != mathopt.TerminationReason.OPTIMAL:
        raise InfeasibleError([(f"quota guardrail LP ended {result.termination.reason.name}: "
                               f"{result.termination.detail}")])
    values = result.variable_values()
    return np.clip(np.array([values[v] for v in q]), lower, upper)
