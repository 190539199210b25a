"""Top-down quota cascade: company → hierarchy levels → territories → reps.

Per parent p with quota Q_p (integer units) and child level L:
  A_p = round(Q_p × (1 + overassign[L]))             what the children must sum to
  t_c = (A_p − Σ bottom-up children) × share_c        share_c from method[L] (a blend)
  q_c = closest allocation to t under the guardrails  (see guardrails.fit), Σ q_c = A_p
  q_c rounded by largest remainder, Σ q_c = A_p exactly.
Reps: a rep's quota is its full-year quota × its ramp factor (seasonally weighted). The
ramp relief and a vacant territory's A_p are held at the territory (vacancies = "parent")
or on a house-account node HOUSE-<territory> (vacancies = "house").
Default total (no quota.total): Σ sales_ly × 1.10.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from territory_opt.errors import InputError, InputIssue
from territory_opt.quota import guardrails as gr
from territory_opt.quota.fairness import fairness_report
from territory_opt.quota.hierarchy import GROWTH_METRIC, REP_LEVEL, Tree, build_tree
from territory_opt.quota.periods import (
    DEFAULT_FISCAL_YEAR_START,
    ramp_factors,
    seasonal_weights,
    split_into_periods,
    to_currency,
)
from territory_opt.quota.rounding import largest_remainder, round_half_up, scale_half_up
from territory_opt.quota.simulate import estimate_cv, simulate_attainment
from territory_opt.scenarios.config import QuotaConfig

SOURCE = "scenario [quota]"
DEFAULT_UPLIFT = 1.10  # default total = Σ sales_ly × 1.10
DEFAULT_CV = 0.25  # used when cv = "history" and fewer than 3 territories have history
UNATTAINABLE = 0.2  # reps whose simulated P(sales ≥ quota) is below this are flagged
HOUSE_LEVEL = "house"
_ALIASES = {"history": "sales_ly", "growth": GROWTH_METRIC}


@dataclass
class QuotaPlan:
    """A cascaded quota plan.

    quotas: one row per node (company root, hierarchy levels, reps, house accounts):
        node_id, level, parent_id, name, quota (annual, ramp-adjusted for reps),
        full_year_quota (before ramp), potential, sales_ly, blended_target (the method's
        target before guardrails and rounding), method, overassign (applied to this node's
        sibling group), guardrail_bound (the bound that moved it off target, if any),
        growth_vs_sales_ly and quota_to_potential (of the full-year quota), held (quota
        held at this node: vacancy or ramp relief), children_overassign and
        expected_children (what the children + held sum to), ramp_factor, fte, p_attain
        (simulated P(sales ≥ quota)).
    periods: node_id, period, start_date, end_date, quota (sums to the annual quota).
    reconciliation: unit, max_abs_difference_units, and per parent node: level, quota,
        overassign, expected (= round(quota × (1 + o))), children_sum, held, difference_units
        (children_sum + held − expected, in rounding units: always 0).
    fairness: see :func:`territory_opt.quota.fairness.fairness_report`.
    simulation: see :func:`territory_opt.quota.simulate.simulate_attainment` (None when off),
        plus cv, cv_source, unattainable_reps (P(sales ≥ quota) < 0.2) and rep_probability
        (rep_id -> P; left out of to_metrics).
    """

    quotas: pd.DataFrame
    periods: pd.DataFrame
    reconciliation: dict
    fairness: dict
    simulation: dict | None
    total: float = 0.0
    unit: float = 0.01
    vacant: tuple[str, ...] = ()  # leaf territories without a rep
    notes: tuple[str, ...] = ()

    def to_metrics(self) -> dict:
        """JSON-ready summary for metrics.json (per-rep arrays left out)."""
        q = self.quotas
        levels = (q.groupby("level", sort=False)
                  .agg(nodes=("node_id", "size"), quota=("quota", "sum"), held=("held", "sum"))
                  .to_dict("index"))
        bound = q.loc[q["guardrail_bound"] != "", "guardrail_bound"].value_counts().to_dict()
        simulation = None
        if self.simulation is not None:
            simulation = {k: v for k, v in self.simulation.items() if k != "rep_probability"}
        return {
            "status": "SET", "total": self.total, "unit": self.unit, "levels": levels,
            "guardrails_bound": bound, "held": float(q["held"].sum()),
            "vacancies": len(self.vacant),
            "reconciliation": self.reconciliation, "fairness": self.fairness,
            "simulation": simulation, "notes": list(self.notes),
        }


def parse_method(method: str | dict) -> dict[str, dict[str, float]]:
    """``{level or "default": {metric: weight}}`` from the config's method (see QuotaConfig)."""
    def blend(value: str | dict) -> dict[str, float]:
        return {value: 1.0} if isinstance(value, str) else {k: float(v) for k, v in value.items()}

    if isinstance(method, dict) and any(isinstance(v, str | dict) for v in method.values()):
        table = {level: blend(value) for level, value in method.items()}
    else:
        table = {"default": blend(method)}
    table.setdefault("default", {"potential": 1.0})
    return table


def method_label(weights: dict[str, float]) -> str:
    """``potential`` or ``potential 0.6 + history 0.4``."""
    if len(weights) == 1:
        return next(iter(weights))
    total = sum(weights.values())
    return " + ".join(f"{k} {w / total:g}" for k, w in weights.items())


def _component(name: str, kids: np.ndarray, tree: Tree) -> np.ndarray:
    """Raw weights of one method component for the given child nodes."""
    if name == "even":
        return np.ones(len(kids))
    column = _ALIASES.get(name, name)
    values = tree.metrics[column].to_numpy()[kids]
    if column in tree.rep_columns:
        values = np.where(tree.is_rep[kids], tree.rep_columns[column].to_numpy()[kids], values)
    return np.nan_to_num(values.astype(float), nan=0.0)


def _shares(weights: dict[str, float], kids: np.ndarray, groups: np.ndarray, n_groups: int,
            free: np.ndarray, tree: Tree) -> np.ndarray:
    """Blended share of each free child within its sibling group (fixed children get 0)."""
    share = np.zeros(len(kids))
    total_weight = sum(weights.values())
    for name, weight in weights.items():
        raw = np.where(free, _component(name, kids, tree), 0.0)
        sums = np.bincount(groups, weights=raw, minlength=n_groups)
        count = np.bincount(groups, weights=free.astype(float), minlength=n_groups)
        part = np.where(sums[groups] > 0, raw / np.where(sums > 0, sums, 1.0)[groups],
                        free / np.maximum(count, 1.0)[groups])
        share += weight / total_weight * part
    return share


def _check_level_keys(config: QuotaConfig, methods: dict, tree: Tree, metric_names: set[str]):
    levels = set(tree.level) | {REP_LEVEL}
    known = f"a level of the hierarchy ({', '.join(sorted(levels))})"
    issues = [InputIssue(SOURCE, known, column="quota.overassign", value=k)
              for k in config.overassign if k not in levels]
    issues += [InputIssue(SOURCE, known + " or 'default'", column="quota.method", value=k)
               for k in methods if k != "default" and k not in levels]
    names = metric_names | {"even", *_ALIASES}
    issues += [InputIssue(SOURCE, f"a method name or numeric column ({', '.join(sorted(names))})",
                          column="quota.method", value=m)
               for weights in methods.values() for m in weights if m not in names]
    if issues:
        raise InputError(issues)


def _bottom_up(spec: str | dict | None, tree: Tree, leaf_metrics: pd.DataFrame) -> np.ndarray:
    """Fixed quotas per node in currency (NaN = not fixed)."""
    fixed = np.full(tree.n, np.nan)
    if spec is None:
        return fixed
    if isinstance(spec, str) and spec in leaf_metrics:
        values = pd.to_numeric(leaf_metrics[spec], errors="coerce")
        table = dict(zip(leaf_metrics["territory_id"].astype(str), values, strict=True))
        table = {k: v for k, v in table.items() if pd.notna(v)}
    elif isinstance(spec, str):
        table = _read_bottom_up_file(Path(spec))
    else:
        table = dict(spec)
    index = pd.Index(tree.ids)
    issues = [InputIssue(SOURCE, "a node id of the hierarchy or a rep id (not the root)",
                         column="quota.bottom_up", value=str(k))
              for k in table if k not in index or tree.parent[index.get_loc(k)] < 0]
    issues += [InputIssue(SOURCE, "a bottom-up quota ≥ 0", column="quota.bottom_up",
                          value=f"{k} = {v}") for k, v in table.items() if not v >= 0]
    if issues:
        raise InputError(issues)
    fixed[index.get_indexer(list(table))] = list(table.values())
    return fixed


def _read_bottom_up_file(path: Path) -> dict[str, float]:
    readers = {".csv": pd.read_csv, ".xlsx": pd.read_excel, ".parquet": pd.read_parquet}
    if path.suffix.lower() not in readers or not path.is_file():
        raise InputError([InputIssue(SOURCE, "a leaf metric column, or an existing .csv/.xlsx/"
                                     ".parquet file with node_id, quota", column="quota.bottom_up",
                                     value=str(path))])
    frame = readers[path.suffix.lower()](path)
    missing = [c for c in ("node_id", "quota") if c not in frame]
    if missing:
        raise InputError([InputIssue(str(path), f"a column '{c}'", column=c) for c in missing])
    quota = pd.to_numeric(frame["quota"], errors="coerce")
    bad = np.flatnonzero(quota.isna().to_numpy())
    if len(bad):
        raise InputError([InputIssue(str(path), "a number", row=int(i) + 2, column="quota",
                                     value=str(frame["quota"].iloc[i])) for i in bad])
    return dict(zip(frame["node_id"].astype(str), quota, strict=True))


def plan_quotas(
    hierarchy: pd.DataFrame,
    leaf_metrics: pd.DataFrame,
    reps: pd.DataFrame,
    config: QuotaConfig,
    *,
    seed: int = 0,
) -> QuotaPlan:
    """Cascade ``config.total`` to every node and rep (see module docstring and QuotaConfig).

    hierarchy: territory_id, parent_id, level, name (several roots get a common
    ``COMPANY`` root); leaf_metrics: one row per leaf territory with potential, sales_ly
    and any numeric columns; reps: rep_id, territory_id, fte, start_date (Dataset.reps).
    Raises InputError for bad inputs or settings, InfeasibleError when guardrails conflict.
    """
    tree = build_tree(hierarchy, leaf_metrics, reps, config.growth_rate)
    methods = parse_method(config.method)
    metric_names = set(tree.metrics.columns) | set(tree.rep_columns.columns)
    _check_level_keys(config, methods, tree, metric_names)
    unit = float(config.round_to) or 0.01
    potential = tree.metrics["potential"].to_numpy()
    sales_ly = tree.metrics["sales_ly"].to_numpy()
    root = int(np.flatnonzero(tree.parent < 0)[0])
    total = config.total if config.total is not None else DEFAULT_UPLIFT * sales_ly[root]
    if total <= 0 and config.total is None:
        raise InputError([InputIssue(SOURCE, "quota.total (no sales_ly to derive it from)",
                                     column="quota.total")])
    fixed = _bottom_up(config.bottom_up, tree, leaf_metrics)
    bounds = gr.resolve_bounds(tree.ids, tree.level, potential, sales_ly, config.guardrails,
                               set(tree.level) | {REP_LEVEL})
    overassign = pd.Series(tree.level).map(config.overassign).fillna(0.0).to_numpy(copy=True)
    labels = {lv: method_label(methods.get(lv, methods["default"])) for lv in set(tree.level)}
    method_text = pd.Series(tree.level).map(labels).to_numpy(dtype=object)
    method_text[root] = "total"
    overassign[root] = 0.0

    quota = np.zeros(tree.n, dtype=np.int64)
    quota[root] = round_half_up(total / unit)
    target = np.zeros(tree.n)
    target[root] = total / unit
    expected = np.zeros(tree.n, dtype=np.int64)  # what each node's children must sum to
    children_o = np.zeros(tree.n)  # the over-assignment applied to each node's children
    bound_by = np.full(tree.n, "", dtype=object)
    for depth in range(int(tree.depth.max())):
        kids = np.flatnonzero(tree.depth == depth + 1)
        _allocate_level(tree, kids, quota, target, expected, children_o, bound_by, fixed, bounds,
                        overassign, method_text, methods, unit, config.guardrail_fit)

    # leaf territories: reps' full-year quotas already sum to expected; vacancies hold it all
    leaves = np.flatnonzero(tree.is_leaf)
    rep_overassign = config.overassign.get(REP_LEVEL, 0.0)
    expected[leaves] = scale_half_up(quota[leaves], np.full(len(leaves), rep_overassign))
    children_o[leaves] = rep_overassign
    start = date.fromisoformat(config.fiscal_year_start) if config.fiscal_year_start \
        else DEFAULT_FISCAL_YEAR_START
    season = seasonal_weights(tree.monthly, tree.n, start)
    reps = np.flatnonzero(tree.is_rep)
    ramp = ramp_factors(tree.start_date.to_numpy()[reps], config.ramp, config.ramp_period, start)
    month_weights = season.copy()
    month_weights[reps] = season[reps] * ramp
    ramp_factor = np.ones(tree.n)
    ramp_factor[reps] = month_weights[reps].sum(axis=1)
    full_year = quota.copy()
    quota[reps] = round_half_up(full_year[reps] * ramp_factor[reps])
    held = np.zeros(tree.n, dtype=np.int64)
    held[leaves] = expected[leaves] - np.bincount(tree.parent[reps], weights=quota[reps],
                                                  minlength=tree.n)[leaves].astype(np.int64)

    frame = _quota_frame(tree, quota, full_year, target, expected, children_o, held, bound_by,
                         method_text, overassign, ramp_factor, unit)
    if config.vacancies == "house":
        frame, month_weights = _house_accounts(frame, tree, held, month_weights, season, unit)
    periods = split_into_periods(
        frame["node_id"].to_numpy(), round_half_up(frame["quota"].to_numpy() / unit),
        month_weights, unit, start, config.seasonality)
    reconciliation = _reconcile(frame, unit)
    rep_rows = frame["level"].to_numpy() == REP_LEVEL
    fairness = fairness_report(frame["full_year_quota"].to_numpy()[rep_rows],
                               frame["potential"].to_numpy()[rep_rows],
                               frame["sales_ly"].to_numpy()[rep_rows])
    notes = []
    simulation = None
    if config.simulation.draws > 0:
        simulation, note = _simulate(frame, tree, config, total, potential[root], seed)
        notes += [note] if note else []
    return QuotaPlan(quotas=frame, periods=periods, reconciliation=reconciliation,
                     fairness=fairness, simulation=simulation, total=float(total), unit=unit,
                     vacant=tuple(tree.ids[leaves[np.bincount(tree.parent[reps], minlength=tree.n)
                                                  [leaves] == 0]]),
                     notes=tuple(notes))


def _allocate_level(tree, kids, quota, target, expected, children_o, bound_by, fixed, bounds,
                    overassign, method_text, methods, unit, objective) -> None:
    """Split the quota of every parent of ``kids`` among them (arrays updated in place)."""
    parents, groups = np.unique(tree.parent[kids], return_inverse=True)
    first = np.zeros(len(parents), dtype=np.int64)
    first[groups[::-1]] = kids[::-1]
    mixed = (overassign[kids] != overassign[first][groups]) | \
        (method_text[kids] != method_text[first][groups])
    if mixed.any():
        raise InputError([InputIssue(
            "territories", "children of one parent at levels with the same method and overassign",
            column="level", value=f"{tree.ids[p]}: {sorted(set(tree.level[kids[groups == g]]))}")
            for g, p in enumerate(parents) if mixed[groups == g].any()])
    o = overassign[first]
    allocation = scale_half_up(quota[parents], o)
    expected[parents] = allocation
    children_o[parents] = o
    is_fixed = ~np.isnan(fixed[kids])
    fixed_units = np.where(is_fixed, round_half_up(np.nan_to_num(fixed[kids]) / unit), 0)
    free_total = allocation - np.bincount(groups, weights=fixed_units, minlength=len(parents))
    t = np.zeros(len(kids))
    for level in pd.unique(tree.level[kids]):
        at = tree.level[kids] == level
        weights = methods.get(level, methods["default"])
        share = _shares(weights, kids[at], groups[at], len(parents), ~is_fixed[at], tree)
        t[at] = share * free_total[groups[at]]
    t = np.where(is_fixed, fixed_units, t)
    exact_lower = np.where(is_fixed, fixed_units * unit, bounds.lower[kids])
    exact_upper = np.where(is_fixed, fixed_units * unit, bounds.upper[kids])
    lower_reason = np.where(is_fixed, "bottom_up", bounds.lower_reason[kids])
    upper_reason = np.where(is_fixed, "bottom_up", bounds.upper_reason[kids])
    settings = {k: v[kids] for k, v in bounds.settings.items()}
    gr.check_feasible(
        parent_label=np.array([f"{tree.level[p]} {tree.ids[p]}" for p in parents]),
        child_label=np.array([f"{tree.level[k]} {tree.ids[k]}" for k in kids]), groups=groups,
        allocation=allocation * unit,
        allocation_text=np.array([f"{tree.ids[p]}'s quota" + (f" × {1 + x:.4g}" if x else "")
                                  for p, x in zip(parents, o, strict=True)]),
        lower=exact_lower, upper=exact_upper, lower_reason=lower_reason,
        upper_reason=upper_reason, settings=settings, unit=unit)
    lower, upper = gr.unit_grid_bounds(exact_lower / unit, exact_upper / unit, groups, allocation)
    fitted = gr.fit(t, lower, upper, groups, allocation, objective)
    quota[kids] = largest_remainder(fitted, groups, allocation, lower, upper)
    target[kids] = t
    moved = np.abs(fitted - t) > 1e-6 * np.maximum(1.0, t)
    at_lower = fitted <= lower + 1e-6 * np.maximum(1.0, lower)
    bound_by[kids] = np.where(is_fixed, "bottom_up", np.where(
        moved & at_lower, lower_reason, np.where(moved & (fitted >= upper - 1e-6 * fitted),
                                                 upper_reason, "")))


def _quota_frame(tree, quota, full_year, target, expected, children_o, held, bound_by,
                 method_text, overassign, ramp_factor, unit) -> pd.DataFrame:
    potential = tree.metrics["potential"].to_numpy()
    sales_ly = tree.metrics["sales_ly"].to_numpy()
    money = to_currency(quota, unit)
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = np.where(sales_ly > 0, to_currency(full_year, unit) / sales_ly - 1.0, np.nan)
        to_potential = np.where(potential > 0, to_currency(full_year, unit) / potential, np.nan)
    fte = tree.rep_columns["fte"].to_numpy() if "fte" in tree.rep_columns else np.nan
    return pd.DataFrame({
        "node_id": tree.ids, "level": tree.level,
        "parent_id": np.where(tree.parent >= 0, tree.ids[np.maximum(tree.parent, 0)], None),
        "name": tree.name, "quota": money, "full_year_quota": to_currency(full_year, unit),
        "potential": potential, "sales_ly": sales_ly, "blended_target": target * unit,
        "method": method_text, "overassign": overassign, "guardrail_bound": bound_by,
        "growth_vs_sales_ly": growth, "quota_to_potential": to_potential,
        "held": to_currency(held, unit), "children_overassign": children_o,
        "expected_children": to_currency(expected, unit),
        "ramp_factor": np.where(tree.is_rep, ramp_factor, np.nan), "fte": fte, "p_attain": np.nan,
    })


def _house_accounts(frame, tree, held, month_weights, season, unit):
    """Move held quota from leaf territories onto house-account child nodes."""
    holders = np.flatnonzero(held > 0)
    house = pd.DataFrame({
        "node_id": [f"HOUSE-{tree.ids[i]}" for i in holders], "level": HOUSE_LEVEL,
        "parent_id": tree.ids[holders], "name": "house account",
        "quota": to_currency(held[holders], unit),
        "full_year_quota": to_currency(held[holders], unit),
        "potential": 0.0, "sales_ly": 0.0, "blended_target": np.nan, "method": "held",
        "overassign": 0.0, "guardrail_bound": "",
        "growth_vs_sales_ly": np.nan, "quota_to_potential": np.nan, "held": 0.0,
        "children_overassign": 0.0, "expected_children": 0.0, "ramp_factor": np.nan,
        "fte": np.nan, "p_attain": np.nan,
    })
    frame = frame.copy()
    frame.loc[holders, "held"] = 0.0
    return (pd.concat([frame, house], ignore_index=True),
            np.vstack([month_weights, season[holders]]))


def _reconcile(frame: pd.DataFrame, unit: float) -> dict:
    """Per parent: quota, overassign, expected, children_sum, held, difference (units)."""
    ids = frame["node_id"].to_numpy(dtype=object)
    parent = pd.Index(ids).get_indexer(frame["parent_id"].to_numpy(dtype=object))
    units = round_half_up(frame["quota"].to_numpy() / unit)
    child = parent >= 0
    children = np.zeros(len(ids), dtype=np.int64)
    np.add.at(children, parent[child], units[child])
    has_children = np.bincount(parent[child], minlength=len(ids)) > 0
    expected = round_half_up(frame["expected_children"].to_numpy() / unit)
    held = round_half_up(frame["held"].to_numpy() / unit)
    difference = children + held - expected
    listed = np.flatnonzero((expected > 0) | (held > 0) | has_children)
    columns = zip(ids[listed], frame["level"].to_numpy()[listed],
                  frame["quota"].to_numpy()[listed].tolist(),
                  frame["children_overassign"].to_numpy()[listed].tolist(),
                  (expected[listed] * unit).tolist(), (children[listed] * unit).tolist(),
                  (held[listed] * unit).tolist(), difference[listed].tolist(), strict=True)
    keys = ("level", "quota", "overassign", "expected", "children_sum", "held",
            "difference_units")
    rows = {node: dict(zip(keys, values, strict=True)) for node, *values in columns}
    worst = int(np.abs(difference[listed]).max()) if len(listed) else 0
    return {"unit": unit, "max_abs_difference_units": worst, "parents": rows}


def _simulate(frame, tree, config, total, root_potential, seed):
    """Attainment Monte Carlo for reps with quota and potential > 0 (p_attain filled in)."""
    sim = config.simulation
    reps = np.flatnonzero((frame["level"].to_numpy() == REP_LEVEL)
                          & (frame["quota"].to_numpy() > 0) & (frame["potential"].to_numpy() > 0))
    if len(reps) == 0 or root_potential <= 0:
        return None, "simulation skipped: no rep with quota and potential"
    expected_total = sim.expected_total or total
    expected = (expected_total * frame["potential"].to_numpy()[reps] / root_potential
                * frame["ramp_factor"].to_numpy()[reps])
    note = None
    cv = sim.cv
    if cv == "history":
        leaves = tree.is_leaf
        cv = estimate_cv(tree.metrics["potential"].to_numpy()[leaves],
                         tree.metrics["sales_ly"].to_numpy()[leaves])
        if cv is None:
            cv, note = DEFAULT_CV, f"cv: too little history, used {DEFAULT_CV}"
    # sales outside these reps (vacancies, ramp gaps) are taken at their expectation
    plan_for_reps = total - (expected_total - expected.sum())
    result = simulate_attainment(
        frame["quota"].to_numpy()[reps], expected, cv, sim.draws, seed,
        correlation=sim.correlation, plan_total=plan_for_reps,
        target_probability=sim.target_probability)
    result["cv"] = float(cv)
    result["cv_source"] = "stated" if sim.cv != "history" else ("history" if note is None
                                                                 else "default")
    frame.loc[reps, "p_attain"] = result["rep_probability"]
    rep_ids = frame["node_id"].to_numpy()[reps]
    result["unattainable_reps"] = rep_ids[result["rep_probability"] < UNATTAINABLE].tolist()
    result["rep_probability"] = dict(zip(rep_ids, result["rep_probability"], strict=True))
    return result, note
