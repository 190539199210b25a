"""The ``territory-opt`` command line: a thin shell over the Python API.

Exit codes: 0 success; 2 invalid input or usage; 3 infeasible; 4 time limit
with no feasible plan; 1 anything else (a bug).
"""

from __future__ import annotations

import os
import sys
import traceback
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from territory_opt.errors import (
    InfeasibleError,
    InputError,
    QuotaInfeasibleError,
    TerritoryOptError,
)
from territory_opt.solvers.clock import INTERRUPTED_NOTE, SAFETY_NOTE

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="Territory and quota optimisation with proven bounds.",
)
console = Console(stderr=True)
out = Console()

DEMO_SCENARIOS = ("demo-current", "demo-balanced", "demo-greenfield")


class ProgressDisplay:
    """A rich spinner line fed by the runner's (step, info) callbacks."""

    def __init__(self, progress: Progress, label: str):
        self.progress = progress
        self.task = progress.add_task(label, total=None)
        self.label = label

    def __call__(self, step: str, info: dict) -> None:
        detail = ""
        if step == "solve" and ("objective" in info or "bound" in info):
            figures = [f"{name} {info[key]:,.0f}" for key, name in
                       (("objective", "incumbent"), ("bound", "bound"))
                       if info.get(key) is not None]
            if info.get("gap") is not None:
                figures.append(f"gap {info['gap']:.2%}")
            detail = ", ".join(figures)
        elif info:
            detail = ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in info.items())
        self.progress.update(self.task, description=f"{self.label}: {step} {detail}".rstrip())


def _progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                    console=console, transient=True)


def _short_path(file: str) -> str:
    """A path relative to the working directory when it lies below it."""
    try:
        return str(Path(file).resolve().relative_to(Path.cwd()))
    except (ValueError, OSError):
        return file


def _print_issues(error: InputError) -> None:
    table = Table(title=f"{len(error.issues)} problem(s) found", show_lines=False)
    for column in ("file", "row", "column", "value", "expected"):
        table.add_column(column, overflow="fold")
    for issue in error.issues:
        table.add_row(_short_path(issue.file), "" if issue.row is None else str(issue.row), issue.column or "",
                      "" if issue.value is None else str(issue.value), issue.expected)
    console.print(table)


def _summary(name: str, metrics: dict, folder: Path) -> None:
    gap = metrics.get("gap")
    line = (f"[bold]{name}[/]: status {metrics['status']}, objective "
            f"{metrics['objective'] if metrics['objective'] is None else format(metrics['objective'], ',.0f')}, "
            f"bound {metrics['bound'] if metrics['bound'] is None else format(metrics['bound'], ',.0f')}, "
            f"gap {'n/a' if gap is None else format(gap, '.2%')}")
    balance = ", ".join(f"{m} max |dev| {v['max_abs_deviation']:.1%}" for m, v in metrics["balance"].items())
    out.print(line)
    if balance:
        out.print(f"  {balance}; moved {metrics['moved_accounts']:,} accounts ({metrics['moved_share']:.1%})")
    for level, figures in (metrics.get("levels") or {}).items():
        worst = ", ".join(f"{m} max |dev| {v['max_abs_deviation']:.1%}" for m, v in figures.items()
                          if isinstance(v, dict))
        out.print(f"  {level} ({figures['groups']}{', kept' if figures['kept'] else ''}): {worst}")
    for note in metrics.get("notes", []):  # the run ended early: say so where it is seen
        if note in (INTERRUPTED_NOTE, SAFETY_NOTE):
            out.print(f"  [yellow]{note}[/]")
    out.print(f"  results: {folder}")


def _run_one(path: Path, folder: Path, overrides: dict | None, with_map: bool):
    from territory_opt.scenarios.config import load_scenario
    from territory_opt.scenarios.runner import run_and_write

    scenario = load_scenario(path, overrides)
    target = folder / scenario.name
    try:
        with _progress() as progress:
            result = run_and_write(scenario, target, progress=ProgressDisplay(progress, scenario.name),
                                   with_map=with_map)
    except QuotaInfeasibleError as error:
        _summary(scenario.name, error.result.metrics, target)
        raise
    _summary(scenario.name, result.metrics, target)
    return result


def _overrides(seed: int | None, time_limit: float | None) -> dict | None:
    alignment = {}
    if seed is not None:
        alignment["seed"] = seed
    if time_limit is not None:
        alignment["time_limit"] = time_limit
    return {"alignment": alignment} if alignment else None


@app.command()
def validate(scenario: Annotated[Path, typer.Argument(help="Scenario TOML file")]) -> None:
    """Check a scenario's inputs and print every problem found (exit 2 if any)."""
    from territory_opt.data import load_dataset
    from territory_opt.scenarios.config import load_scenario

    dataset = load_dataset(load_scenario(scenario))
    out.print(f"[green]valid[/]: {len(dataset.accounts):,} accounts, {len(dataset.reps):,} reps, "
              f"{len(dataset.leaf_territories):,} leaf territories"
              + (f", {len(dataset.units):,} units" if dataset.units is not None else ""))


@app.command()
def run(
    scenarios: Annotated[list[Path], typer.Argument(help="Scenario TOML file(s)")],
    out_dir: Annotated[Path, typer.Option("--out", help="Results root; one folder per scenario")] = Path("results"),
    seed: Annotated[int | None, typer.Option(help="Override alignment.seed")] = None,
    time_limit: Annotated[float | None, typer.Option(help="Override alignment.time_limit (s)")] = None,
    no_map: Annotated[bool, typer.Option("--no-map", help="Skip map.html")] = False,
) -> None:
    """Solve alignment and quotas for each scenario and write its results folder."""
    for path in scenarios:
        _run_one(path, out_dir, _overrides(seed, time_limit), not no_map)


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Where to write the demo results")] = Path("results/demo"),
    time_limit: Annotated[float | None, typer.Option(help="Override each scenario's time limit (s)")] = None,
) -> None:
    """Run the whole pipeline on the bundled demo data (real US counties, synthetic accounts)."""
    folder = resources.files("territory_opt.demo")
    results = []
    for name in DEMO_SCENARIOS:
        path = Path(str(folder / f"{name}.toml"))
        if path.is_file():
            results.append(_run_one(path, out_dir, _overrides(None, time_limit), True))
    if len(results) > 1:
        _compare(results, out_dir / "compare")
    chosen = next((r for r in results if r.scenario.name == "demo-balanced"), None)
    if chosen is not None:
        from territory_opt.export import FORMATS, export_result

        target = out_dir / chosen.scenario.name / "export"
        with _progress() as progress:
            show = ProgressDisplay(progress, "export")
            for fmt in FORMATS:
                show(fmt, {})
                export_result(chosen, fmt, target)
        out.print(f"  exports ({', '.join(FORMATS)}): {target.resolve()}")
    out.print(f"[bold green]Demo finished.[/] Results in {out_dir.resolve()}")


def _compare(results, folder: Path) -> None:
    from territory_opt.scenarios.compare import compare_results, render_rich_table, write_comparison

    comparison = compare_results(results)
    out.print(render_rich_table(comparison))
    for sentence in comparison.explain():
        out.print(f"• {sentence}", markup=False)
    write_comparison(comparison, folder)
    out.print(f"  comparison: {folder.resolve()}")


@app.command()
def compare(
    result_dirs: Annotated[list[Path], typer.Argument(help="Two or more results folders")],
    out_dir: Annotated[Path, typer.Option("--out", help="Where to write the report")] = Path("results/compare"),
) -> None:
    """Side-by-side KPIs, per-territory deltas and moved accounts of several plans."""
    from territory_opt.scenarios.runner import load_result

    if len(result_dirs) < 2:
        raise typer.BadParameter("compare needs at least two results folders")
    _compare([load_result(d) for d in result_dirs], out_dir)


@app.command("map")
def map_command(
    result_dir: Annotated[Path, typer.Argument(help="A results folder")],
    png: Annotated[bool, typer.Option(help="Also write map.png (needs chromium)")] = False,
    online: Annotated[bool, typer.Option(help="Load Leaflet from a CDN instead of inlining it")] = False,
) -> None:
    """(Re)write map.html for a results folder."""
    from territory_opt.maps import snapshot_png, write_map
    from territory_opt.scenarios.runner import load_result

    path = write_map(load_result(result_dir), result_dir / "map.html", offline=not online)
    out.print(f"map: {path}")
    if png:
        out.print(f"snapshot: {snapshot_png(path, result_dir / 'map.png')}")


@app.command()
def export(
    result_dir: Annotated[Path, typer.Argument(help="A results folder")],
    to: Annotated[str, typer.Option("--to", help="salesforce|dynamics|hubspot|veeva|gpkg|geojson|xlsx")],
    out_dir: Annotated[Path | None, typer.Option("--out", help="Export root (default RESULT_DIR/export)")] = None,
    option: Annotated[list[str] | None, typer.Option(
        "--option", "-o", help="Writer option KEY=VALUE (repeatable), e.g. currency=EUR, users=users.csv")] = None,
) -> None:
    """Export a plan to a CRM or GIS format (options: see the README)."""
    from territory_opt.export import export_result
    from territory_opt.scenarios.runner import load_result

    options = {}
    for item in option or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--option")
        options[key.strip()] = value.strip()
    result = load_result(result_dir)
    quota = result.metrics.get("quota")
    if isinstance(quota, dict) and quota.get("status") == "INFEASIBLE":
        out.print(f"[yellow]{result_dir} has no quotas[/] (they could not meet their guardrails); "
                  "the export carries the alignment only")
    paths = export_result(result, to, out_dir or result_dir / "export", **options)
    for path in paths:
        out.print(str(path))


@app.command()
def sweep(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML file")],
    grid: Annotated[Path, typer.Option(help="Grid TOML file of parameter values")],
    scheduler: Annotated[str | None, typer.Option(help="tcp://HOST:PORT of a dask scheduler")] = None,
    workers: Annotated[int, typer.Option(help="LocalCluster workers when no scheduler is given")] = 2,
    out_dir: Annotated[Path, typer.Option("--out")] = Path("results/sweep"),
) -> None:
    """Run a grid of scenario variants on dask and mark the Pareto-efficient ones."""
    from territory_opt.scenarios.config import load_scenario
    from territory_opt.scenarios.sweep import load_grid, render_sweep_table
    from territory_opt.scenarios.sweep import sweep as run_sweep

    result = run_sweep(load_scenario(scenario), load_grid(grid), scheduler=scheduler,
                       n_workers=workers, out_dir=out_dir, grid_source=str(grid))
    out.print(render_sweep_table(result))
    out.print(f"results: {out_dir.resolve()} (sweep.csv, sweep.png, points/)")
    if not any(status in ("OPTIMAL", "FEASIBLE") for status in result.table["status"]):
        raise TerritoryOptError("no point of the sweep produced a plan")


@app.command()
def quota(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML file with a [quota] section")],
    out_dir: Annotated[Path, typer.Option("--out")] = Path("results"),
) -> None:
    """Cascade quotas on the scenario's current alignment and write a results folder."""
    _run_one(scenario, out_dir, {"alignment": {"mode": "current"}}, False)


def _structure_out(name: str, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir / name


def _write_best(scenario, dataset, folder: Path, label: str, time_limit: float | None) -> None:
    """Re-optimise the chosen option at the scenario's own settings and write it."""
    from territory_opt.scenarios.runner import write_result
    from territory_opt.structure import reoptimise

    with _progress() as progress:
        result = reoptimise(scenario, dataset, label, time_limit=time_limit,
                            progress=ProgressDisplay(progress, f"{scenario.name}-{label}"))
        write_result(result, folder / result.scenario.name)
    _summary(result.scenario.name, result.metrics, folder / result.scenario.name)


def _report_ranking(scenario, ranking, out_dir: Path, kind: str, key: str, time_limit: float | None) -> None:
    """Print and save a hire/retire ranking, then re-optimise and write its best option."""
    out_dir.mkdir(parents=True, exist_ok=True)
    out.print(ranking.table.to_string(index=False, float_format=lambda v: f"{v:,.3f}"))
    out.print(str(_atomic_csv(ranking.table, out_dir / f"{kind}_ranking.csv")))
    if ranking.best_dataset is not None:
        label = f"{kind}-{ranking.table.at[0, key]}"
        _write_best(scenario, ranking.best_dataset, out_dir, label, time_limit)


def _atomic_csv(frame, path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(path)
    return path


@app.command()
def size(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML file")],
    min_reps: Annotated[int, typer.Option("--min", help="Smallest headcount")],
    max_reps: Annotated[int, typer.Option("--max", help="Largest headcount")],
    step: Annotated[int, typer.Option(help="Headcount step")] = 1,
    capacity: Annotated[float | None, typer.Option(help="Workload hours per FTE (default: reps' median capacity, else 1600)")] = None,
    out_dir: Annotated[Path, typer.Option("--out")] = Path("results/sizing"),
) -> None:
    """Sizing curve: KPIs of the optimised plan for each headcount; smallest within capacity."""
    from territory_opt.scenarios.config import load_scenario
    from territory_opt.structure import size_headcount, smallest_within_capacity, write_sizing_plot

    if min_reps < 1 or max_reps < min_reps or step < 1:
        raise typer.BadParameter("need 1 <= --min <= --max and --step >= 1")
    with _progress() as progress:
        curve = size_headcount(load_scenario(scenario), range(min_reps, max_reps + 1, step),
                               capacity_hours=capacity, progress=ProgressDisplay(progress, "sizing"))
    out_dir.mkdir(parents=True, exist_ok=True)
    out.print(curve.to_string(index=False, float_format=lambda v: f"{v:,.3f}"))
    best = smallest_within_capacity(curve)
    out.print(f"smallest headcount within capacity: {best if best is not None else 'none in range'}")
    out.print(str(_atomic_csv(curve, out_dir / "sizing.csv")))
    out.print(str(write_sizing_plot(curve, out_dir / "sizing.png")))


@app.command()
def hire(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML file")],
    candidates: Annotated[Path | None, typer.Option(help="CSV of candidate_id, lat, lon[, name]")] = None,
    top: Annotated[int, typer.Option(help="How many to list")] = 10,
    screen: Annotated[int, typer.Option(help="Population centres screened when no file is given")] = 20,
    spacing_km: Annotated[float, typer.Option(help="Minimum km between default candidates and rep homes")] = 50.0,
    reopt_time_limit: Annotated[float | None, typer.Option(help="Time limit (s) of the best option's re-optimisation")] = None,
    out_dir: Annotated[Path, typer.Option("--out")] = Path("results/hire"),
) -> None:
    """Rank candidate home bases by the marginal value of one more rep; re-optimise the best."""
    from territory_opt.data import read_table
    from territory_opt.scenarios.config import load_scenario
    from territory_opt.structure import rank_hires

    loaded = load_scenario(scenario)
    table = None if candidates is None else read_table(candidates, infer=True, label=str(candidates))
    with _progress() as progress:
        ranking = rank_hires(loaded, candidates=table, top=top, screen=screen, spacing_km=spacing_km,
                             progress=ProgressDisplay(progress, "hire"))
    _report_ranking(loaded, ranking, out_dir, "hire", "candidate_id", reopt_time_limit)


@app.command()
def retire(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML file")],
    reopt_time_limit: Annotated[float | None, typer.Option(help="Time limit (s) of the best option's re-optimisation")] = None,
    out_dir: Annotated[Path, typer.Option("--out")] = Path("results/retire"),
) -> None:
    """Rank territories by the harm of absorbing them (attrition); re-optimise the least harmful."""
    from territory_opt.scenarios.config import load_scenario
    from territory_opt.structure import rank_retirements

    loaded = load_scenario(scenario)
    with _progress() as progress:
        ranking = rank_retirements(loaded, progress=ProgressDisplay(progress, "retire"))
    _report_ranking(loaded, ranking, out_dir, "retire", "territory_id", reopt_time_limit)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code; user errors never show a traceback.

    Usage errors are reported by Typer itself (exit 2); the library's errors map to
    their own exit codes; anything else is a bug (exit 1).
    """
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="territory-opt", standalone_mode=True)
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        if code == 130:  # click's code for KeyboardInterrupt: a second Ctrl-C during a solve
            console.print("aborted (Ctrl-C)")
        return code
    except InputError as error:
        _print_issues(error)
        return error.exit_code
    except InfeasibleError as error:
        console.print(f"[bold red]Infeasible[/]: {error.headline}:")
        for reason in error.reasons:
            console.print(f"  - {reason}", markup=False, highlight=False)
        return error.exit_code
    except TerritoryOptError as error:
        console.print(f"[bold red]Error[/]: {error}")
        return error.exit_code
    except KeyboardInterrupt:
        console.print("interrupted")
        return 130
    except Exception:  # noqa: BLE001 - a bug: say so plainly, keep the details for the report
        console.print("[bold red]Internal error[/] (please report it):")
        console.print(traceback.format_exc(), markup=False, highlight=False)
        return 1
    return 0


def entry() -> None:
    """Console-script entry point. After an abort (a second Ctrl-C) a HiGHS call may still run
    in its worker thread (``solvers.clock.wait_for``), and tearing the interpreter down under
    it can crash the process (SIGABRT), so the process ends at once."""
    code = main()
    if code == 130:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
