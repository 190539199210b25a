"""Trade-off sweeps: run a scenario over a grid of settings on dask.distributed.

Grid file (TOML). Each key of ``[grid]`` is a dotted path into the scenario, each value
the list of values to try; the sweep runs the cartesian product of all lists::

    [grid]
    "alignment.balance.0.tolerance" = [0.03, 0.05, 0.10]   # list index: 0 = first rule
    "alignment.max_moved_share" = [0.1, 0.2, 0.3]
    "alignment.move_penalty" = [0.0, 5.0]
    "alignment.territories" = [38, 40, 42]
    "quota.overassign.territory" = [0.0, 0.03]              # table keys are free-form

Nested tables mean the same (``[grid.alignment]`` then ``max_moved_share = [...]``).
A path must name a setting of the scenario schema (unknown keys are an InputError naming
the key); a list index must exist in the scenario being swept. Whole values may be swept
too, e.g. ``"alignment.balance" = [[{metric = "potential"}], [{metric = "workload"}]]``.
Relative ``data.*`` paths are resolved against the grid file's folder.

Point i (1-based) is the scenario with that combination applied and named
``<scenario>-p001``, ``-p002``, ... Each point runs ``run_scenario`` in its own worker
process; a point that fails (infeasible, no plan in time, any error) is reported with its
message and the other points are kept. Pareto-efficient points minimise, together,
the worst balance deviation (max over balanced metrics), travel (km) and moved share.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin

import numpy as np
import pandas as pd
from pydantic import BaseModel

from territory_opt.errors import InputError, InputIssue, TerritoryOptError
from territory_opt.results import Result
from territory_opt.scenarios.compare import kpi_metrics, plan_kpis, write_atomically
from territory_opt.scenarios.config import DataConfig, Scenario, scenario_from_dict
from territory_opt.scenarios.pareto import pareto_efficient

PARETO_OBJECTIVES = ("max_deviation", "travel_km", "moved_share")
RESERVED_PATHS = ("name", "source")  # set by the sweep itself
_NO_SETTING = object()


# ------------------------------------------------------------------------------- grid


def _flatten(table: dict, prefix: str = "") -> dict[str, Any]:
    """{"alignment": {"seed": [1, 2]}} -> {"alignment.seed": [1, 2]}; stops at non-tables."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def _descend(annotation: Any, segment: str) -> Any:
    """The schema type of ``segment`` inside ``annotation``, or _NO_SETTING."""
    if annotation is Any:
        return Any
    origin = get_origin(annotation)
    if origin in (Union, UnionType):
        for member in get_args(annotation):
            found = _descend(member, segment) if member is not type(None) else _NO_SETTING
            if found is not _NO_SETTING:
                return found
        return _NO_SETTING
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        info = annotation.model_fields.get(segment)
        return _NO_SETTING if info is None else info.annotation
    if origin is list:
        return get_args(annotation)[0] if segment.isdigit() else _NO_SETTING
    if origin is dict:
        return get_args(annotation)[1]
    return _NO_SETTING


def _known_keys(annotation: Any) -> list[str]:
    if get_origin(annotation) in (Union, UnionType):
        return [k for member in get_args(annotation) for k in _known_keys(member)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [k for k in annotation.model_fields if k not in RESERVED_PATHS]
    return []


def _path_issue(path: str, source: str) -> InputIssue | None:
    """Why ``path`` is not a setting of the Scenario schema, or None when it is."""
    segments = path.split(".")
    if any(s == "" for s in segments):
        return InputIssue(source, "a dotted path like 'alignment.max_moved_share'", column=path)
    if segments[0] in RESERVED_PATHS:
        return InputIssue(
            source,
            f"a setting other than {' / '.join(RESERVED_PATHS)} "
            "(points are named <scenario>-p001, ...)",
            column=path,
        )
    annotation: Any = Scenario
    for depth, segment in enumerate(segments):
        inner = _descend(annotation, segment)
        if inner is _NO_SETTING:
            where = ".".join(segments[:depth]) or "the scenario"
            known = _known_keys(annotation)
            hint = f" (known: {', '.join(known)})" if known else ""
            if get_origin(annotation) is list:
                hint = " (a list: use a 0-based index)"
            return InputIssue(
                source, f"a scenario setting: {where} has no '{segment}'{hint}", column=path
            )
        annotation = inner
    return None


def check_grid(grid: dict, source: str = "grid") -> dict[str, list]:
    """Validate a grid (nested or dotted keys) and return it with dotted keys.

    Every key must be a Scenario setting and every value a non-empty list.
    """
    if not isinstance(grid, dict) or not grid:
        raise InputError([InputIssue(source, "a non-empty [grid] table of setting = [values]")])
    flat = _flatten(grid)
    issues = []
    for path, values in flat.items():
        issue = _path_issue(path, source)
        if issue is not None:
            issues.append(issue)
        elif not isinstance(values, list) or not values:
            issues.append(
                InputIssue(
                    source, "a non-empty list of values to try", column=path, value=str(values)[:80]
                )
            )
    if issues:
        raise InputError(issues)
    return flat


def load_grid(path: str | Path) -> dict[str, list]:
    """Read a grid TOML file (see module doc) into {dotted path: [values]}."""
    path = Path(path).resolve()
    if not path.is_file():
        raise InputError([InputIssue(str(path), "an existing grid file")])
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError([InputIssue(str(path), f"valid TOML ({exc})")]) from None
    unknown = [key for key in raw if key != "grid"]
    if unknown:
        raise InputError(
            [
                InputIssue(str(path), f"only a [grid] table (unknown key '{key}')", column=key)
                for key in unknown
            ]
        )
    grid = check_grid(raw.get("grid"), str(path))
    for key, values in grid.items():
        parts = key.split(".")
        if len(parts) == 2 and parts[0] == "data" and parts[1] in DataConfig.model_fields:
            grid[key] = [
                str((path.parent / v).resolve()) if isinstance(v, str) else v for v in values
            ]
    return grid


@dataclass(frozen=True)
class SweepPoint:
    name: str
    params: dict[str, Any]
    scenario: Scenario


def _set_path(raw: dict, path: str, value: Any, source: str) -> None:
    """Set the dotted ``path`` in a scenario dict; missing tables are created."""
    node: Any = raw
    segments = path.split(".")
    for depth, segment in enumerate(segments):
        last = depth == len(segments) - 1
        if isinstance(node, list):
            index = int(segment)
            if index >= len(node):
                prefix = ".".join(segments[:depth])
                raise InputError(
                    [
                        InputIssue(
                            source,
                            f"an index below {len(node)}: the scenario's "
                            f"{prefix} has {len(node)} item(s)",
                            column=path,
                        )
                    ]
                )
            if last:
                node[index] = value
            else:
                node = node[index]
        elif isinstance(node, dict):
            if last:
                node[segment] = value
            else:
                if node.get(segment) is None:
                    node[segment] = {}
                node = node[segment]
        else:
            prefix = ".".join(segments[:depth])
            raise InputError(
                [
                    InputIssue(
                        source,
                        f"{prefix} to be a table in this scenario",
                        column=path,
                        value=str(node)[:80],
                    )
                ]
            )


def expand_grid(
    scenario: Scenario, grid: dict, source: str = "grid", solver_threads: int | None = None
) -> list[SweepPoint]:
    """The cartesian product of the grid as validated scenarios named <scenario>-pNNN.

    ``solver_threads`` fills ``alignment.workers`` where the scenario leaves it unset.
    """
    grid = check_grid(grid, source)
    keys = list(grid)
    base = scenario.model_dump()
    if solver_threads is not None and base["alignment"].get("workers") is None:
        base["alignment"]["workers"] = solver_threads
    points = []
    for i, combo in enumerate(itertools.product(*(grid[k] for k in keys)), start=1):
        name = f"{scenario.name}-p{i:03d}"
        raw = copy.deepcopy(base)
        raw["name"] = name
        for key, value in zip(keys, combo):
            _set_path(raw, key, copy.deepcopy(value), source)
        try:
            point = scenario_from_dict(raw, scenario.source or "<scenario>")
        except InputError as exc:
            where = ", ".join(f"{k} = {v!r}" for k, v in zip(keys, combo))
            raise InputError(
                [
                    InputIssue(
                        source,
                        f"values valid for the scenario at point {name} ({where}): "
                        f"{issue.expected}",
                        column=issue.column,
                        value=issue.value,
                    )
                    for issue in exc.issues
                ]
            ) from None
        points.append(SweepPoint(name, dict(zip(keys, combo)), point))
    return points


# ----------------------------------------------------------------------------- points


def point_kpis(result: Result) -> dict:
    """The sweep's KPIs of one plan: worst deviation per metric and overall, travel, moves."""
    metrics = kpi_metrics([result])
    kpis = plan_kpis(result, metrics)
    row = {f"{m}_max_deviation": kpis[f"{m}.max_abs_deviation"] for m in metrics}
    devs = [v for v in row.values() if np.isfinite(v)]
    row["max_deviation"] = max(devs) if devs else float("nan")
    for key in ("travel_km", "moved_share", "moved_accounts", "status", "gap", "solve_seconds"):
        row[key] = kpis[key]
    row["objective"] = result.metrics.get("objective")
    return row


def run_point(scenario: Scenario, out_dir: str | None = None) -> dict:
    """Run one point (in a worker process) and return a small picklable dict of KPIs.

    Failures are returned, not raised: ``error`` holds the message, ``status`` is
    INFEASIBLE for an infeasible point, UNKNOWN when no plan was found in time, ERROR
    otherwise. With ``out_dir`` the point's results folder is written to out_dir/<name>.
    ``seconds`` is the point's wall time, ``cpu_seconds`` the CPU time of its process.
    """
    from territory_opt.errors import InfeasibleError, NoSolutionError
    from territory_opt.scenarios.runner import run_scenario, write_result

    started, cpu_started = time.perf_counter(), time.process_time()
    row: dict[str, Any] = {"point": scenario.name, "error": None, "results": None}
    try:
        result = run_scenario(scenario)
        row.update(point_kpis(result))
        if out_dir is not None:
            row["results"] = str(write_result(result, Path(out_dir) / scenario.name))
    except InfeasibleError as exc:
        row.update(status="INFEASIBLE", error=str(exc))
    except NoSolutionError as exc:
        row.update(status="UNKNOWN", error=str(exc))
    except Exception as exc:  # noqa: BLE001 - reported with the point; the sweep goes on
        message = str(exc) if isinstance(exc, TerritoryOptError) else f"{type(exc).__name__}: {exc}"
        row.update(status="ERROR", error=message)
    row["seconds"] = round(time.perf_counter() - started, 3)
    row["cpu_seconds"] = round(time.process_time() - cpu_started, 3)  # every thread of the process
    return row


# ------------------------------------------------------------------------------ sweep


@dataclass
class SweepResult:
    """table: one row per point: point, the swept settings, status, KPIs, error, pareto."""

    scenario: str
    parameters: list[str]
    table: pd.DataFrame
    seconds: float
    workers: int | None = None

    @property
    def failed(self) -> pd.DataFrame:
        return self.table[self.table["error"].notna()]

    @property
    def efficient(self) -> pd.DataFrame:
        return self.table[self.table["pareto"]]


def mark_pareto(table: pd.DataFrame, objectives=PARETO_OBJECTIVES) -> pd.Series:
    """True for points with no error that no other such point dominates (all minimised)."""
    ok = table["error"].isna() if "error" in table else pd.Series(True, index=table.index)
    values = table.reindex(columns=list(objectives)).apply(pd.to_numeric, errors="coerce")
    return pd.Series(pareto_efficient(values.to_numpy(float), ok.to_numpy()), index=table.index)


def _cell(value: Any) -> Any:
    """Scalar grid values stay as they are; lists and tables become JSON text."""
    return json.dumps(value, default=str) if isinstance(value, list | dict) else value


def _sweep_table(points: list[SweepPoint], rows: dict[str, dict]) -> pd.DataFrame:
    records = []
    for point in points:
        row = rows[point.name]
        records.append(
            {
                "point": point.name,
                **{k: _cell(v) for k, v in point.params.items()},
                **{k: v for k, v in row.items() if k != "point"},
            }
        )
    table = pd.DataFrame.from_records(records)
    for column in ("error", "results"):
        table[column] = table[column].astype(object).where(table[column].notna(), None)
    table["pareto"] = mark_pareto(table)
    leading = ["point", *points[0].params, "status", "max_deviation"]
    trailing = ["gap", "solve_seconds", "seconds", "cpu_seconds", "pareto", "error", "results"]
    middle = [c for c in table.columns if c not in leading and c not in trailing]
    return table[[c for c in [*leading, *middle, *trailing] if c in table.columns]]


def _shorten(message: str, limit: int = 300) -> str:
    """The start of a long message for the console (the table keeps it whole)."""
    return message if len(message) <= limit else message[: limit - 1] + "…"


def _open_client(scheduler: str | None, n_workers: int):
    """(client, cluster or None): a local process cluster, or a client of ``scheduler``."""
    import dask
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout="15s"), None
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(
                [InputIssue("--scheduler", f"a reachable dask scheduler ({exc})", value=scheduler)]
            ) from None
    # No dashboard, so no use for the workers' statistical profiler: it samples every
    # 10 ms and costs CPU (measured ~10% per point on a busy machine).
    with dask.config.set({"distributed.worker.profile.enabled": False}):
        cluster = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
    return Client(cluster), cluster


def sweep(
    scenario: Scenario,
    grid: dict,
    *,
    scheduler: str | None = None,
    n_workers: int = 2,
    progress: bool = True,
    out_dir: str | Path | None = None,
    solver_threads: int | None = 1,
    grid_source: str = "grid",
) -> SweepResult:
    """Run every grid point of ``scenario`` on dask.distributed and tabulate the trade-offs.

    scheduler: address of a running scheduler (``tcp://HOST:PORT``); default: a
    LocalCluster of ``n_workers`` single-threaded worker processes. solver_threads:
    solver threads per point when the scenario leaves ``alignment.workers`` unset (1 =
    one point per core). out_dir: also write each point's results folder to
    out_dir/points/<name> and sweep.csv + sweep.png to out_dir (remote workers need
    out_dir on a shared file system). grid_source: the grid's file name, for error
    messages. Worker processes are spawned, so a script calling
    this must do so under ``if __name__ == "__main__":``.
    """
    from dask.distributed import as_completed
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if scheduler is None and n_workers < 1:
        raise InputError([InputIssue("--workers", "at least 1 worker", value=str(n_workers))])
    points = expand_grid(scenario, grid, grid_source, solver_threads)
    points_dir = None if out_dir is None else str(Path(out_dir).resolve() / "points")
    started = time.perf_counter()
    rows: dict[str, dict] = {}
    client, cluster = _open_client(scheduler, n_workers)
    bar = Progress(
        TextColumn("[bold]sweep[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not progress,
    )
    try:
        workers = len(client.scheduler_info().get("workers", {}))
        futures = {client.submit(run_point, p.scenario, points_dir, pure=False): p for p in points}
        with bar:
            task = bar.add_task(escape(scenario.name), total=len(points))
            for future in as_completed(futures):
                point = futures[future]
                if future.status == "error":  # the worker itself failed (e.g. it died)
                    exc = future.exception()
                    row = {
                        "point": point.name,
                        "status": "ERROR",
                        "error": f"{type(exc).__name__}: {exc}",
                        "results": None,
                    }
                else:
                    row = future.result()
                rows[point.name] = row
                if row["error"] and progress:
                    bar.console.print(
                        f"[red]{escape(point.name)} failed[/]: {escape(_shorten(row['error']))}"
                    )
                bar.update(task, advance=1, description=escape(f"{point.name} {row['status']}"))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    result = SweepResult(
        scenario.name,
        list(points[0].params),
        _sweep_table(points, rows),
        time.perf_counter() - started,
        workers,
    )
    if out_dir is not None:
        write_sweep(result, out_dir)
    return result


# ----------------------------------------------------------------------------- output


def _plot(result: SweepResult, path: Path) -> None:
    """Balance vs travel, coloured by moved share; Pareto points ringed and labelled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = result.table
    ok = table[table["error"].isna()]
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    if ok.empty:
        ax.text(
            0.5, 0.5, "no point produced a plan", ha="center", va="center", transform=ax.transAxes
        )
    else:
        x = ok["travel_km"].astype(float)
        y = ok["max_deviation"].astype(float) * 100
        share = ok["moved_share"].astype(float) * 100
        dots = ax.scatter(x, y, c=share, cmap="viridis", s=40, zorder=2)
        fig.colorbar(dots, ax=ax, label="moved share (%)")
        front = ok[ok["pareto"]]
        ax.scatter(
            front["travel_km"].astype(float),
            front["max_deviation"].astype(float) * 100,
            s=160,
            facecolors="none",
            edgecolors="crimson",
            linewidths=1.6,
            zorder=3,
            label="Pareto-efficient (balance, travel, moves)",
        )
        labels = front.assign(label=front["point"].astype(str).str.rsplit("-", n=1).str[-1])
        for (travel, deviation), group in labels.groupby(["travel_km", "max_deviation"]):
            ax.annotate(
                ", ".join(group["label"]),  # points with the same figures share one label
                (float(travel), float(deviation) * 100),
                textcoords="offset points",
                xytext=(6, 6),
                fontsize=8,
                color="crimson",
            )
        ax.legend(loc="best", fontsize=8)
    failed = len(table) - len(ok)
    title = f"{result.scenario}: {len(table)} points"
    ax.set_title(title + (f", {failed} failed" if failed else ""))
    ax.margins(0.12)  # room for the labels
    ax.set_xlabel("travel (km)")
    ax.set_ylabel("worst balance deviation (%)")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def render_sweep_table(result: SweepResult):
    """The sweep table for a terminal (rich), Pareto-efficient points starred."""
    from rich.table import Table
    from rich.text import Text

    from territory_opt.scenarios.compare import format_value

    table = Table(
        title=f"Sweep of {result.scenario}: {len(result.table)} points, "
        f"{int(result.table['pareto'].sum())} Pareto-efficient",
        title_justify="left",
    )
    columns = [
        ("point", "text"),
        *[(p, "text") for p in result.parameters],
        ("status", "text"),
        ("max_deviation", "pct"),
        ("travel_km", "km"),
        ("moved_share", "pct"),
        ("gap", "pct"),
        ("seconds", "seconds"),
    ]
    columns = [(c, kind) for c, kind in columns if c in result.table]
    for column, kind in columns:
        table.add_column(Text(column), justify="left" if kind == "text" else "right")
    table.add_column("Pareto")
    for _, row in result.table.iterrows():
        cells = [Text(format_value(row[c], kind)) for c, kind in columns]
        table.add_row(*cells, Text("*" if row["pareto"] else ""))
    return table


def write_sweep(result: SweepResult, out_dir: str | Path) -> list[Path]:
    """Write sweep.csv (the table) and sweep.png (the trade-off plot) atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [
        write_atomically(out / "sweep.csv", lambda p: result.table.to_csv(p, index=False)),
        write_atomically(out / "sweep.png", lambda p: _plot(result, p)),
    ]
