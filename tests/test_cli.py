"""The command line end to end on the small valid fixture: exit codes, results folders,
constraints re-checked from the written files (not from the solver's bookkeeping)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from territory_opt.cli import ProgressDisplay, main
from territory_opt.scenarios.config import load_scenario
from territory_opt.scenarios.runner import load_result, run_scenario, write_result

SPEC_FILES = {"assignments.csv", "territories.csv", "metrics.json", "manifest.json", "map.html"}


def derived(tmp_path: Path, valid: Path, name: str, body: str) -> Path:
    """A scenario extending the valid fixture."""
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\nextends = "{valid.as_posix()}"\n{body}', encoding="utf-8")
    return path


def test_validate_reports_all_ten_mistakes_and_writes_nothing(ten_mistakes_scenario, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main(["validate", str(ten_mistakes_scenario)])
    err = capsys.readouterr().err
    assert code == 2
    assert "10 problem(s) found" in err
    for column in ["account_id", "potential", "lat", "fte", "parent_id", "current_territory",
                   "locked_territory", "parent_account_id"]:
        assert column in err
    assert list(tmp_path.iterdir()) == []


def test_validate_valid_scenario(valid_scenario, capsys):
    assert main(["validate", str(valid_scenario)]) == 0
    assert "valid: 50 accounts" in capsys.readouterr().out


def test_run_writes_the_results_folder_and_every_constraint_holds(valid_scenario, tmp_path):
    assert main(["run", str(valid_scenario), "--out", str(tmp_path)]) == 0
    folder = tmp_path / "valid-small"
    assert SPEC_FILES <= {p.name for p in folder.iterdir()}
    metrics = json.loads((folder / "metrics.json").read_text())
    for key in ("status", "objective", "bound", "gap", "solve_seconds", "moved_share", "contiguous"):
        assert key in metrics
    assert metrics["status"] in ("OPTIMAL", "FEASIBLE")
    assert metrics["bound"] <= metrics["objective"] + 1e-6

    accounts = pd.read_csv(valid_scenario.parent / "accounts.csv", dtype={"account_id": str})
    reps = pd.read_csv(valid_scenario.parent / "reps.csv")
    plan = pd.read_csv(folder / "assignments.csv", dtype=str)
    assert sorted(plan["account_id"]) == sorted(accounts["account_id"])  # each account exactly once
    moved = plan["moved"] == "True"
    assert (plan.loc[moved, "reason"].str.len() > 0).all()
    assert (plan.loc[moved, "territory_id"] != plan.loc[moved, "previous_territory_id"]).all()

    # potential within ±10 % of the FTE share, recomputed from the inputs
    joined = accounts.merge(plan[["account_id", "territory_id"]], on="account_id")
    totals = joined.groupby("territory_id")["potential"].sum()
    share = reps.groupby("territory_id")["fte"].sum() / reps["fte"].sum()
    deviation = totals / (share * accounts["potential"].sum()) - 1
    assert (deviation.abs() <= 0.10 + 1e-9).all()
    assert metrics["balance"]["potential"]["max_abs_deviation"] == pytest.approx(deviation.abs().max())

    # families move together, locks hold
    parent = dict(zip(joined["account_id"], joined["territory_id"]))
    for child, mother in accounts.dropna(subset=["parent_account_id"])[["account_id", "parent_account_id"]].values:
        assert parent[child] == parent[mother]
    for account, lock in accounts.dropna(subset=["locked_territory"])[["account_id", "locked_territory"]].values:
        assert parent[account] == lock

    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["inputs"]["accounts"]["sha256"]
    assert manifest["seed"] == 0


def test_quotas_reconcile_with_overassignment(valid_scenario, tmp_path):
    scenario = derived(tmp_path, valid_scenario, "with-quota", """
[quota]
total = 1_000_000
method = { potential = 0.6, history = 0.4 }
overassign = { district = 0.05, territory = 0.03 }
round_to = 1000
""")
    assert main(["run", str(scenario), "--out", str(tmp_path / "out"), "--no-map"]) == 0
    quotas = pd.read_csv(tmp_path / "out" / "with-quota" / "quotas.csv", dtype={"node_id": str, "parent_id": str})
    quota = dict(zip(quotas["node_id"], quotas["quota"]))
    level = dict(zip(quotas["node_id"], quotas["level"]))
    checked = 0
    for parent, children in quotas.dropna(subset=["parent_id"]).groupby("parent_id"):
        over = {"district": 0.05, "territory": 0.03}.get(level[children["node_id"].iloc[0]], 0.0)
        assert children["quota"].sum() == pytest.approx(quota[parent] * (1 + over), abs=1000)
        checked += 1
    assert checked >= 3
    assert (quotas["quota"] % 1000 == 0).all()
    assert json.loads((tmp_path / "out" / "with-quota" / "metrics.json").read_text())["quota"]["status"] == "SET"


def test_quotas_outside_their_guardrails_keep_the_alignment_and_exit_3(valid_scenario, tmp_path, capsys):
    """No alignment can grow 3,183 of sales to a 1,000,000 quota by at most 25 %: the run
    exits 3 with the conflict, and the alignment is written (whole, without quotas.csv)."""
    scenario = derived(tmp_path, valid_scenario, "quota-conflict", """
[quota]
total = 1_000_000
guardrails = { max_growth = 0.25 }
""")
    code = main(["run", str(scenario), "--out", str(tmp_path / "out"), "--no-map"])
    said = " ".join(capsys.readouterr().err.split())
    assert code == 3
    assert "cannot meet their guardrails" in said and "max_growth" in said
    folder = tmp_path / "out" / "quota-conflict"
    assert "written to" in said and "without quotas.csv" in said and "[quota] guardrails" in said
    names = {p.name for p in folder.iterdir()}
    assert {"assignments.csv", "territories.csv", "metrics.json", "manifest.json"} <= names
    assert "quotas.csv" not in names
    manifest = json.loads((folder / "manifest.json").read_text())
    assert set(manifest["files"]) == names - {"manifest.json"}
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["status"] in ("OPTIMAL", "FEASIBLE")
    assert metrics["quota"]["status"] == "INFEASIBLE"
    assert any("max_growth" in reason for reason in metrics["quota"]["reasons"])
    plan = pd.read_csv(folder / "assignments.csv", dtype=str)
    accounts = pd.read_csv(valid_scenario.parent / "accounts.csv", dtype={"account_id": str})
    assert sorted(plan["account_id"]) == sorted(accounts["account_id"])

    assert main(["export", str(folder), "--to", "salesforce", "--out", str(tmp_path / "crm")]) == 0
    assert "has no quotas" in " ".join(capsys.readouterr().out.split())


def test_infeasible_plan_exits_3_with_reason_and_writes_nothing(valid_scenario, tmp_path, capsys):
    scenario = derived(tmp_path, valid_scenario, "too-tight", """
[alignment]
balance = [ { metric = "potential", tolerance = 0.0001 } ]
max_moved_share = 0.02
""")
    code = main(["run", str(scenario), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 3
    assert "Infeasible" in err and "potential" in err
    assert not (tmp_path / "out" / "too-tight").exists()


def test_unknown_key_exits_2(valid_scenario, tmp_path, capsys):
    scenario = derived(tmp_path, valid_scenario, "typo", "[alignment]\ntolerence = 0.1\n")
    assert main(["run", str(scenario), "--out", str(tmp_path)]) == 2
    assert "tolerence" in capsys.readouterr().err


@pytest.mark.parametrize("alignment", [
    "", 'level = "unit"\ncenters = "free"\ncontiguous = true\ncompactness = "inertia"\n'])
def test_deterministic_runs_are_identical(valid_scenario, tmp_path, alignment):
    scenario = derived(tmp_path, valid_scenario, "det",
                       f"[alignment]\n{alignment}deterministic = true\nseed = 4\n")
    first = run_scenario(load_scenario(scenario)).assignments
    second = run_scenario(load_scenario(scenario)).assignments
    pd.testing.assert_frame_equal(first, second)


def test_results_folder_is_atomic_and_round_trips(valid_scenario, tmp_path, monkeypatch):
    result = run_scenario(load_scenario(valid_scenario))
    folder = write_result(result, tmp_path / "plan", with_map=False)
    reopened = load_result(folder)
    pd.testing.assert_frame_equal(
        reopened.assignments[["account_id", "territory_id"]].reset_index(drop=True),
        result.assignments[["account_id", "territory_id"]].reset_index(drop=True),
        check_dtype=False,
    )
    before = (folder / "assignments.csv").read_bytes()

    def broken_map(*args, **kwargs):
        raise RuntimeError("disk full")

    import territory_opt.maps

    monkeypatch.setattr(territory_opt.maps, "write_map", broken_map)
    with pytest.raises(RuntimeError):
        write_result(result, folder, with_map=True)
    assert (folder / "assignments.csv").read_bytes() == before  # old folder intact
    assert [p.name for p in tmp_path.iterdir()] == ["plan"]     # no half-written sibling


def test_compare_and_export_from_results_folders(valid_scenario, tmp_path):
    current = derived(tmp_path, valid_scenario, "current", '[alignment]\nmode = "current"\n')
    assert main(["run", str(current), str(valid_scenario), "--out", str(tmp_path / "r")]) == 0
    assert main(["compare", str(tmp_path / "r" / "current"), str(tmp_path / "r" / "valid-small"),
                 "--out", str(tmp_path / "cmp")]) == 0
    assert (tmp_path / "cmp" / "compare.html").is_file()
    assert main(["export", str(tmp_path / "r" / "valid-small"), "--to", "xlsx",
                 "--out", str(tmp_path / "x")]) == 0
    assert any(p.suffix == ".xlsx" for p in (tmp_path / "x").rglob("*"))
    assert main(["export", str(tmp_path / "r" / "valid-small"), "--to", "nonsense"]) == 2


def test_console_script_exit_codes(ten_mistakes_scenario):
    """The installed entry point, in a real process."""
    done = subprocess.run([sys.executable, "-m", "territory_opt.cli", "validate", str(ten_mistakes_scenario)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    usage = subprocess.run([sys.executable, "-m", "territory_opt.cli", "run"], capture_output=True, text=True, check=False)
    assert usage.returncode == 2


def test_sweep_command_runs_a_grid_on_dask(valid_scenario, tmp_path, capsys):
    grid = tmp_path / "grid.toml"
    grid.write_text('[grid]\n"alignment.balance.0.tolerance" = [0.05, 0.10]\n"alignment.time_limit" = [5]\n')
    assert main(["sweep", str(valid_scenario), "--grid", str(grid), "--out", str(tmp_path / "sw")]) == 0
    table = pd.read_csv(tmp_path / "sw" / "sweep.csv")
    assert len(table) == 2 and set(table["status"]) <= {"OPTIMAL", "FEASIBLE"}
    assert (tmp_path / "sw" / "sweep.png").is_file()
    bad = tmp_path / "bad.toml"
    bad.write_text('[grid]\n"alignment.no_such_key" = [1]\n')
    assert main(["sweep", str(valid_scenario), "--grid", str(bad)]) == 2


def test_structure_commands_write_rankings_and_the_best_plan(valid_scenario, tmp_path):
    assert main(["size", str(valid_scenario), "--min", "2", "--max", "4", "--out", str(tmp_path / "s")]) == 0
    curve = pd.read_csv(tmp_path / "s" / "sizing.csv")
    assert list(curve["headcount"]) == [2, 3, 4]
    assert (tmp_path / "s" / "sizing.png").is_file()
    assert main(["hire", str(valid_scenario), "--top", "2", "--spacing-km", "5", "--out", str(tmp_path / "h")]) == 0
    ranking = pd.read_csv(tmp_path / "h" / "hire_ranking.csv", dtype={"candidate_id": str})
    assert list(ranking["rank"]) == list(range(1, len(ranking) + 1)) and len(ranking) <= 2
    assert (tmp_path / "h" / f"valid-small-hire-{ranking.at[0, 'candidate_id']}" / "assignments.csv").is_file()
    assert main(["retire", str(valid_scenario), "--out", str(tmp_path / "r")]) == 0
    retire = pd.read_csv(tmp_path / "r" / "retire_ranking.csv", dtype={"territory_id": str})
    assert sorted(retire["territory_id"]) == ["T1", "T2", "T3", "T4"]
    assert main(["size", str(valid_scenario), "--min", "5", "--max", "2"]) == 2


def test_unit_level_contiguous_plan_is_reported_connected(valid_scenario, tmp_path):
    scenario = derived(tmp_path, valid_scenario, "units", """
[alignment]
level = "unit"
contiguous = true
balance = [ { metric = "potential", tolerance = 0.35 } ]
""")
    assert main(["run", str(scenario), "--out", str(tmp_path / "out"), "--no-map"]) == 0
    folder = tmp_path / "out" / "units"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["contiguous"] is True
    # recheck: each territory's units are connected in the fixture's adjacency
    import networkx as nx

    units = pd.read_csv(folder / "units.csv", dtype=str)
    edges = pd.read_csv(valid_scenario.parent / "adjacency.csv", dtype=str)
    label = dict(zip(units["unit_id"], units["territory_id"]))
    for territory, members in units.groupby("territory_id")["unit_id"]:
        graph = nx.Graph()
        graph.add_nodes_from(members)
        graph.add_edges_from((a, b) for a, b in edges.iloc[:, :2].values
                             if label.get(a) == territory and label.get(b) == territory)
        assert nx.is_connected(graph)


def test_green_field_plan_measures_travel_to_the_chosen_centres(valid_scenario, tmp_path):
    scenario = derived(tmp_path, valid_scenario, "green", """
[alignment]
level = "unit"
centers = "free"
contiguous = true
compactness = "inertia"
balance = [ { metric = "potential", tolerance = 0.35 } ]
""")
    assert main(["run", str(scenario), "--out", str(tmp_path / "out"), "--no-map"]) == 0
    folder = tmp_path / "out" / "green"
    territories = pd.read_csv(folder / "territories.csv", dtype={"center_unit_id": str})
    plan = pd.read_csv(folder / "assignments.csv", dtype={"unit_id": str})
    units = json.loads((valid_scenario.parent / "units.geojson").read_text())
    # every centre is a unit of its own territory (units.csv lists every unit's territory)
    unit_territory = dict(pd.read_csv(folder / "units.csv", dtype=str)[["unit_id", "territory_id"]].values)
    for row in territories.itertuples():
        assert unit_territory[row.center_unit_id] == row.territory_id
    assert len({f["properties"]["unit_id"] for f in units["features"]}) == 16
    moved = plan[plan["moved"]]
    assert moved["reason"].str.contains("green-field design").all()
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["contiguous"] is True
    assert metrics["balance"]["potential"]["max_abs_deviation"] <= 0.35 + 1e-9
    assert any("locked item(s) not applied" in note for note in metrics["notes"])
    assert len(metrics["notes"]) == len(set(metrics["notes"]))  # each note once
    # travel recomputed: haversine from each account's unit point to its territory's centre
    from territory_opt.data import load_dataset
    from territory_opt.formulation import haversine_km
    from territory_opt.scenarios.config import load_scenario as load

    dataset = load_dataset(load(scenario))
    point = dataset.units.set_index("unit_id")[["lat", "lon"]]
    centre = territories.set_index("territory_id")[["center_lat", "center_lon"]]
    expected = haversine_km(point.loc[plan["unit_id"], "lat"].to_numpy(), point.loc[plan["unit_id"], "lon"].to_numpy(),
                            centre.loc[plan["territory_id"], "center_lat"].to_numpy(),
                            centre.loc[plan["territory_id"], "center_lon"].to_numpy())
    assert plan["distance_km"].to_numpy() == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize("info, shown", [
    ({"objective": 1234.5, "bound": 1000.0, "gap": 0.19}, "solve incumbent 1,234, bound 1,000, gap 19.00%"),
    ({"objective": None, "bound": 1000.0, "seconds": 3.0}, "solve bound 1,000"),  # before any plan
    ({"objective": 1234.5, "bound": None}, "solve incumbent 1,234"),
])
def test_progress_line_shows_the_figures_known_so_far(info, shown):
    from rich.progress import Progress

    with Progress() as progress:
        display = ProgressDisplay(progress, "demo")
        display("solve", info)
        assert progress.tasks[0].description == f"demo: {shown}"
