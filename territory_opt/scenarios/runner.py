"""Run a scenario end to end and write or read its results folder.

Pipeline: scenario → dataset (validated) → problem → solver → independent check
(``verify.check_plan``: a plan that breaks a hard rule is no plan, exit 4) → tables → quotas.
A results folder is written whole or not at all: everything goes into a hidden
temporary sibling that is renamed into place at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from territory_opt.data import load_dataset
from territory_opt.dataset import Dataset
from territory_opt.errors import (
    InfeasibleError,
    InputError,
    InputIssue,
    NoSolutionError,
    QuotaInfeasibleError,
)
from territory_opt.formulation import build_problem
from territory_opt.problem import AlignmentProblem
from territory_opt.results import Result
from territory_opt.scenarios.config import Scenario, load_scenario, scenario_from_dict
from territory_opt.scenarios.tables import build_tables, hierarchy_table
from territory_opt.solvers import solve
from territory_opt.solvers.base import Solution, SolveOptions
from territory_opt.verify import check_plan

Progress = Callable[[str, dict], None]


def _evaluate_current(problem: AlignmentProblem) -> Solution:
    """The inherited plan as a Solution: nothing is optimised, so no bound is claimed."""
    if (problem.current < 0).any():
        missing = [problem.item_ids[i] for i in np.flatnonzero(problem.current < 0)[:5]]
        raise InputError([InputIssue(
            "accounts", "a current_territory for every account when alignment.mode = 'current'",
            column="current_territory", value=", ".join(missing),
        )])
    assignment = problem.current.copy()
    objective = float(problem.cost[np.arange(problem.n_items), assignment].sum())
    return Solution(assignment, "UNKNOWN", objective, None, None, 0.0, "none (current plan evaluated)")


def _leaf_metrics(dataset: Dataset, assignments: pd.DataFrame, leaves: list[str]) -> pd.DataFrame:
    """Per leaf territory, the plan's total of every numeric account column (potential,
    sales_ly, workload, monthly sales_ly_mNN for seasonality, user metrics)."""
    numeric = dataset.accounts.select_dtypes("number").drop(columns=["lat", "lon"], errors="ignore")
    totals = numeric.groupby(assignments["territory_id"].to_numpy()).sum()
    frame = totals.reindex(leaves, fill_value=0.0).rename_axis("territory_id").reset_index()
    return frame


def run_scenario(scenario: Scenario, *, dataset: Dataset | None = None,
                 progress: Progress | None = None) -> Result:
    """Load, validate, solve and tabulate one scenario (nothing is written).

    ``dataset`` replaces the scenario's files (e.g. a variant with a planned hire).
    """
    say = progress or (lambda step, info: None)
    started = time.perf_counter()
    say("load", {"scenario": scenario.name})
    dataset = dataset if dataset is not None else load_dataset(scenario)
    say("build", {"accounts": len(dataset.accounts)})
    problem = build_problem(dataset, scenario.alignment)
    if scenario.alignment.mode == "current":
        solution = _evaluate_current(problem)
    else:
        a = scenario.alignment
        options = SolveOptions(
            time_limit=a.time_limit, seed=a.seed, deterministic=a.deterministic, engine=a.engine,
            workers=a.workers, candidates=a.candidates, progress=lambda info: say("solve", info),
        )
        say("solve", {"items": problem.n_items, "territories": problem.n_territories})
        solution = solve(problem, options)
    centers = solution.centers if problem.centers == "free" else None
    violations = check_plan(problem, solution.assignment, centers)
    if violations and scenario.alignment.mode != "current":
        raise NoSolutionError(
            f"the best plan found breaks {len(violations)} hard rule(s), so no feasible plan "
            f"was found within {scenario.alignment.time_limit:g} s: " + "; ".join(violations[:5])
            + ("; …" if len(violations) > 5 else "")
            + ". Raise the time limit, loosen tolerances, or drop contiguity or locks")
    say("tables", {})
    assignments, territories, units, kpis = build_tables(
        dataset, problem, solution.assignment, centers)
    hierarchy = hierarchy_table(dataset, problem, territories)
    metrics = {
        "scenario": scenario.name,
        "mode": scenario.alignment.mode,
        "level": scenario.alignment.level,
        "status": solution.status,
        "objective": solution.objective,
        "bound": solution.bound,
        "gap": solution.gap,
        "solve_seconds": round(solution.solve_seconds, 3),
        "engine": solution.engine,
        "seed": scenario.alignment.seed,
        "deterministic": scenario.alignment.deterministic,
        **kpis,
        "levels": _level_kpis(problem, hierarchy),
        "hard_rule_violations": violations,  # the inherited plan's, when mode = "current"
        # unit-level solvers carry the problem's notes on: each note once, in order
        "notes": list(dict.fromkeys([*problem.notes, *solution.stats.get("notes", [])])),
        "solver_stats": {k: v for k, v in solution.stats.items() if k != "notes"},
    }
    quotas, extras, quota_conflict = None, {}, None
    if scenario.quota is not None:
        from territory_opt.quota import plan_quotas

        say("quota", {})
        try:
            plan = plan_quotas(
                dataset.territories, _leaf_metrics(dataset, assignments, list(territories["territory_id"])),
                dataset.reps, scenario.quota, seed=scenario.alignment.seed,
            )
        except InfeasibleError as error:
            quota_conflict = error.reasons
            metrics["quota"] = {"status": "INFEASIBLE", "reasons": quota_conflict}
        else:
            quotas = plan.quotas
            extras["quota_periods"] = plan.periods
            metrics["quota"] = plan.to_metrics()
    metrics["total_seconds"] = round(time.perf_counter() - started, 3)
    result = Result(
        scenario=scenario, dataset=dataset, assignments=assignments, territories=territories,
        metrics=_jsonable(metrics), units=units, quotas=quotas, hierarchy=hierarchy,
        extras={**extras, "solver_log": solution.log},
    )
    if quota_conflict is not None:
        raise QuotaInfeasibleError(quota_conflict, result)
    return result


def _level_kpis(problem: AlignmentProblem, hierarchy: pd.DataFrame) -> dict:
    """Per balanced hierarchy level and metric: the worst |deviation| and the tolerance."""
    out = {}
    for level in problem.levels:
        rows = hierarchy[hierarchy["level"] == level.name]
        out[level.name] = {"kept": level.keep, "groups": len(rows), **{
            metric: {"max_abs_deviation": float(rows[f"{metric}_deviation"].abs().max()),
                     "tolerance": None if level.keep else float(level.tolerances[m])}
            for m, metric in enumerate(problem.metric_names)}}
    return out


def _jsonable(value):
    """Plain JSON types (numpy scalars → Python, NaN → None)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _versions() -> dict:
    names = ["territory-opt", "ortools", "numpy", "pandas", "geopandas", "shapely", "networkx", "folium"]
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def build_manifest(result: Result) -> dict:
    """Input hashes, package versions, seed and options: enough to reproduce the run."""
    return {
        "scenario": result.scenario.name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "inputs": {
            key: {"path": str(path), "sha256": _sha256(Path(path))}
            for key, path in result.dataset.sources.items() if path and Path(path).is_file()
        },
        "versions": _versions(),
        "seed": result.scenario.alignment.seed,
        "deterministic": result.scenario.alignment.deterministic,
        "options": result.scenario.model_dump(mode="json"),
        "files": {},
    }


def write_result(result: Result, out_dir: str | Path, *, with_map: bool = True) -> Path:
    """Write the results folder atomically; an existing folder is replaced only on success."""
    out_dir = Path(out_dir).resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        result.assignments.to_csv(staging / "assignments.csv", index=False)
        result.territories.to_csv(staging / "territories.csv", index=False)
        if result.units is not None:
            result.units.to_csv(staging / "units.csv", index=False)
        if result.hierarchy is not None:
            result.hierarchy.to_csv(staging / "hierarchy.csv", index=False)
        if result.quotas is not None:
            result.quotas.to_csv(staging / "quotas.csv", index=False)
            periods = result.extras.get("quota_periods")
            if periods is not None and len(periods):
                periods.to_csv(staging / "quota_periods.csv", index=False)
        (staging / "metrics.json").write_text(json.dumps(result.metrics, indent=2))
        (staging / "scenario.json").write_text(json.dumps(result.scenario.model_dump(mode="json"), indent=2))
        (staging / "solver.log").write_text(result.extras.get("solver_log") or "")
        if with_map:
            from territory_opt.maps import write_map

            write_map(result, staging / "map.html")
        manifest = result.manifest or build_manifest(result)
        manifest["files"] = {
            p.name: _sha256(p) for p in sorted(staging.iterdir()) if p.is_file()
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
        result.manifest = manifest
        _publishable(staging)
        _replace_dir(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


def _publishable(folder: Path) -> None:
    """Give a staged folder the permissions of a normally created one (temp files are 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(folder, 0o777 & ~umask)
    for path in folder.rglob("*"):
        os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~umask)


def _replace_dir(new: Path, target: Path) -> None:
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
        os.replace(new, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, target)


ID_COLUMNS = {
    "account_id": str, "territory_id": str, "previous_territory_id": str, "unit_id": str,
    "rep_id": str, "parent_id": str, "node_id": str,
}


def load_result(path: str | Path) -> Result:
    """Re-open a results folder (and the inputs it names) as a Result."""
    path = Path(path)
    required = ["assignments.csv", "territories.csv", "metrics.json", "scenario.json"]
    missing = [name for name in required if not (path / name).is_file()]
    if missing:
        raise InputError([InputIssue(str(path), f"a results folder containing {', '.join(missing)}")])
    scenario = scenario_from_dict(json.loads((path / "scenario.json").read_text()), path / "scenario.json")
    dataset = load_dataset(scenario)
    assignments = pd.read_csv(path / "assignments.csv", dtype={**{k: str for k in ID_COLUMNS}, "reason": str})
    assignments["moved"] = assignments["moved"].astype(bool)
    assignments["reason"] = assignments["reason"].fillna("")
    territories = pd.read_csv(path / "territories.csv", dtype={k: str for k in ID_COLUMNS})
    units = pd.read_csv(path / "units.csv", dtype=str) if (path / "units.csv").is_file() else None
    quotas = pd.read_csv(path / "quotas.csv", dtype={k: str for k in ID_COLUMNS}) if (path / "quotas.csv").is_file() else None
    hierarchy = pd.read_csv(path / "hierarchy.csv", dtype={k: str for k in ID_COLUMNS}) \
        if (path / "hierarchy.csv").is_file() else None
    extras = {}
    if (path / "quota_periods.csv").is_file():
        extras["quota_periods"] = pd.read_csv(path / "quota_periods.csv", dtype={"node_id": str, "period": str})
    manifest = json.loads((path / "manifest.json").read_text()) if (path / "manifest.json").is_file() else {}
    return Result(
        scenario=scenario, dataset=dataset, assignments=assignments, territories=territories,
        metrics=json.loads((path / "metrics.json").read_text()), units=units, quotas=quotas,
        hierarchy=hierarchy, manifest=manifest, extras=extras,
    )


def run_and_write(scenario: Scenario, out_dir: str | Path, *, progress: Progress | None = None,
                  with_map: bool = True) -> Result:
    """Run a scenario and write its results folder to ``out_dir``.

    When the quotas cannot meet their guardrails the alignment is still written (without
    quotas.csv; metrics.json says why) and the QuotaInfeasibleError is raised after it.
    """
    try:
        result, conflict = run_scenario(scenario, progress=progress), None
    except QuotaInfeasibleError as error:
        result, conflict = error.result, error
    if progress is not None:
        progress("write", {})
    write_result(result, out_dir, with_map=with_map)
    if conflict is not None:
        raise QuotaInfeasibleError([*conflict.reasons, (
            f"the alignment is written to {out_dir} without quotas.csv; loosen the [quota] "
            "guardrails or total, or change the alignment, and run again")], result) from None
    return result


def run_file(path: str | Path, out_dir: str | Path, *, overrides: dict | None = None,
             progress: Progress | None = None, with_map: bool = True) -> Result:
    """Load a scenario file, run it and write its results folder to ``out_dir`` (see
    :func:`run_and_write`)."""
    return run_and_write(load_scenario(path, overrides), out_dir, progress=progress, with_map=with_map)
