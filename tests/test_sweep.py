"""Trade-off sweeps: grid files, point expansion, Pareto marking, outputs, dask runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from rich.console import Console

from territory_opt.errors import InputError
from territory_opt.scenarios.config import scenario_from_dict
from territory_opt.scenarios.pareto import pareto_efficient
from territory_opt.scenarios.sweep import (
    SweepResult,
    expand_grid,
    load_grid,
    mark_pareto,
    render_sweep_table,
    sweep,
    write_sweep,
)


def base_scenario(**alignment):
    return scenario_from_dict(
        {
            "name": "base",
            "data": {"accounts": "/data/accounts.csv"},
            "alignment": {"balance": [{"metric": "potential", "tolerance": 0.05}], **alignment},
        }
    )


def write_grid(tmp_path, text: str):
    path = tmp_path / "grid.toml"
    path.write_text(text)
    return path


# ------------------------------------------------------------------------------- grid


def test_grid_file_accepts_dotted_and_nested_keys(tmp_path):
    path = write_grid(
        tmp_path,
        """
[grid]
"alignment.balance.0.tolerance" = [0.03, 0.05]
"quota.overassign.territory" = [0.0, 0.03]
[grid.alignment]
max_moved_share = [0.1, 0.2, 0.3]
""",
    )
    assert load_grid(path) == {
        "alignment.balance.0.tolerance": [0.03, 0.05],
        "quota.overassign.territory": [0.0, 0.03],
        "alignment.max_moved_share": [0.1, 0.2, 0.3],
    }


def test_grid_data_paths_are_relative_to_the_grid_file(tmp_path):
    path = write_grid(tmp_path, '[grid]\n"data.accounts" = ["a.csv", "sub/b.csv"]\n')
    assert load_grid(path)["data.accounts"] == [
        str(tmp_path / "a.csv"),
        str(tmp_path / "sub" / "b.csv"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[grid]\n"alignment.tolerance" = [0.1]\n', "alignment has no 'tolerance'"),
        ('[grid]\n"alignment.balance.first.tolerance" = [0.1]\n', "0-based index"),
        ('[grid]\n"alignment.balance.0.weight" = [1]\n', "alignment.balance.0 has no 'weight'"),
        ('[grid]\n"alignment.time_limit.x" = [1]\n', "alignment.time_limit has no 'x'"),
        ('[grid]\n"colour" = [1]\n', "the scenario has no 'colour'"),
        ('[grid]\n"name" = ["a"]\n', "other than name"),
        ('[grid]\n"alignment.seed" = []\n', "non-empty list"),
        ('[grid]\n"alignment.seed" = 3\n', "non-empty list"),
        ('[grids]\n"alignment.seed" = [1]\n', "unknown key 'grids'"),
        ("[grid]\n", "non-empty [grid]"),
        ('[grid]\n"alignment.seed" = [1\n', "valid TOML"),
    ],
)
def test_grid_errors_name_the_file_and_key(tmp_path, text, message):
    path = write_grid(tmp_path, text)
    with pytest.raises(InputError) as info:
        load_grid(path)
    assert message in str(info.value)
    assert all(issue.file == str(path) for issue in info.value.issues)


def test_every_bad_key_is_reported_at_once(tmp_path):
    path = write_grid(tmp_path, '[grid]\n"alignment.x" = [1]\n"alignment.y" = [2]\n')
    with pytest.raises(InputError) as info:
        load_grid(path)
    assert {i.column for i in info.value.issues} == {"alignment.x", "alignment.y"}


def test_missing_grid_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="an existing grid file"):
        load_grid(tmp_path / "nope.toml")


# ----------------------------------------------------------------------------- points


def test_points_are_the_cartesian_product_with_overrides_applied():
    grid = {
        "alignment.balance.0.tolerance": [0.03, 0.10],
        "alignment.max_moved_share": [0.1, 0.2, 0.3],
    }
    points = expand_grid(base_scenario(), grid)
    assert [p.name for p in points] == [f"base-p{i:03d}" for i in range(1, 7)]
    seen = {
        (p.scenario.alignment.balance[0].tolerance, p.scenario.alignment.max_moved_share)
        for p in points
    }
    assert seen == {(t, m) for t in (0.03, 0.10) for m in (0.1, 0.2, 0.3)}
    for p in points:
        assert p.params == {
            "alignment.balance.0.tolerance": p.scenario.alignment.balance[0].tolerance,
            "alignment.max_moved_share": p.scenario.alignment.max_moved_share,
        }
        assert p.scenario.alignment.balance[0].metric == "potential"  # the rest of the rule is kept
        assert p.scenario.name == p.name


def test_points_create_missing_tables_and_fill_solver_threads():
    points = expand_grid(base_scenario(), {"quota.total": [1e6, 2e6]}, solver_threads=1)
    assert [p.scenario.quota.total for p in points] == [1e6, 2e6]
    assert all(p.scenario.alignment.workers == 1 for p in points)
    kept = expand_grid(base_scenario(workers=4), {"alignment.seed": [1]}, solver_threads=1)
    assert kept[0].scenario.alignment.workers == 4


def test_whole_values_can_be_swept():
    rules = [[{"metric": "potential"}], [{"metric": "workload", "tolerance": 0.2}]]
    points = expand_grid(base_scenario(), {"alignment.balance": rules})
    assert [p.scenario.alignment.balance[0].metric for p in points] == ["potential", "workload"]


def test_point_errors_are_input_errors_naming_the_grid():
    with pytest.raises(InputError, match="an index below 1"):
        expand_grid(base_scenario(), {"alignment.balance.1.tolerance": [0.1]}, "g.toml")
    with pytest.raises(InputError) as info:
        expand_grid(base_scenario(), {"alignment.balance.0.tolerance": [0.1, -1.0]}, "g.toml")
    issue = info.value.issues[0]
    assert issue.file == "g.toml" and "base-p002" in issue.expected
    with_quota = scenario_from_dict(
        {"name": "q", "data": {"accounts": "/a.csv"}, "quota": {"method": "potential"}}
    )
    with pytest.raises(InputError, match="quota.method to be a table"):
        expand_grid(with_quota, {"quota.method.potential": [1.0]}, "g.toml")


# ----------------------------------------------------------------------------- pareto


def test_pareto_marks_the_hand_made_table():
    table = pd.DataFrame(
        {
            "point": ["a", "b", "c", "d", "e", "f", "g"],
            "max_deviation": [0.05, 0.10, 0.05, 0.02, 0.01, 0.00, np.nan],
            "travel_km": [100, 90, 110, 130, 100, 10, 1],
            "moved_share": [0.2, 0.2, 0.2, 0.1, 0.2, 0.0, 0.0],
            "error": [None, None, None, None, None, "infeasible", None],
        }
    )
    # e dominates a and c; b (least travel among valid) and d (fewest moves) stay efficient;
    # f (failed) and g (no KPIs) are never efficient and dominate nothing.
    assert mark_pareto(table).tolist() == [False, True, False, True, True, False, False]


def test_identical_points_are_all_efficient():
    assert pareto_efficient(np.array([[1.0, 2.0], [1.0, 2.0], [2.0, 2.0]])).tolist() == [
        True,
        True,
        False,
    ]


def _dominates(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all(a <= b) and np.any(a < b))


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_pareto_property_no_efficient_point_is_dominated(data):
    n = data.draw(st.integers(0, 25))
    k = data.draw(st.integers(1, 3))
    values = data.draw(
        arrays(float, (n, k), elements=st.sampled_from([0.0, 1.0, 2.0, 3.0, np.nan]))
    )
    valid = data.draw(arrays(bool, n))
    efficient = pareto_efficient(values, valid)
    usable = valid & np.isfinite(values).all(axis=1)
    for i in range(n):
        dominated = any(_dominates(values[j], values[i]) for j in np.flatnonzero(usable))
        assert efficient[i] == (usable[i] and not dominated)


# ----------------------------------------------------------------------------- output


def _hand_made_sweep() -> SweepResult:
    table = pd.DataFrame(
        {
            "point": ["s-p001", "s-p002", "s-p003"],
            "alignment.max_moved_share": [0.1, 0.2, 0.3],
            "status": ["FEASIBLE", "OPTIMAL", "INFEASIBLE"],
            "max_deviation": [0.08, 0.03, np.nan],
            "travel_km": [1000.0, 1100.0, np.nan],
            "moved_share": [0.1, 0.2, np.nan],
            "error": [None, None, "infeasible: potential tolerance too tight"],
        }
    )
    table["pareto"] = mark_pareto(table)
    return SweepResult("s", ["alignment.max_moved_share"], table, seconds=1.0)


def test_write_sweep_writes_the_table_and_the_plot(tmp_path):
    result = _hand_made_sweep()
    paths = write_sweep(result, tmp_path)
    assert [p.name for p in paths] == ["sweep.csv", "sweep.png"]
    back = pd.read_csv(tmp_path / "sweep.csv")
    assert back["point"].tolist() == ["s-p001", "s-p002", "s-p003"]
    assert back["pareto"].tolist() == [True, True, False]
    assert (tmp_path / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.csv", "sweep.png"]
    assert result.failed["point"].tolist() == ["s-p003"]


def test_sweep_table_for_the_terminal_stars_efficient_points():
    console = Console(record=True, width=200)
    console.print(render_sweep_table(_hand_made_sweep()))
    lines = console.export_text().splitlines()
    row = {line.split()[1]: line for line in lines if "s-p00" in line}
    assert row["s-p001"].rstrip(" │").endswith("*") and "8.0%" in row["s-p001"]
    assert "INFEASIBLE" in row["s-p003"] and not row["s-p003"].rstrip(" │").endswith("*")


# ------------------------------------------------------------------------ dask sweeps


def tiny_scenario(folder):
    """60 accounts in four quadrants; the inherited plan overloads T1 (potential ~3x)."""
    rng = np.random.default_rng(3)
    lat, lon = 48 + rng.random(60), 11 + rng.random(60)
    quadrant = (lat >= 48.5).astype(int) * 2 + (lon >= 11.5).astype(int)
    current = np.array(["T1", "T2", "T3", "T4"])[quadrant]
    potential = np.where(current == "T1", rng.integers(200, 400, 60), rng.integers(50, 150, 60))
    accounts = pd.DataFrame(
        {
            "account_id": [f"A{i:02d}" for i in range(60)],
            "lat": lat,
            "lon": lon,
            "potential": potential.astype(float),
            "current_territory": current,
        }
    )
    accounts.to_csv(folder / "accounts.csv", index=False)
    pd.DataFrame(
        {
            "rep_id": ["R1", "R2", "R3", "R4"],
            "territory_id": ["T1", "T2", "T3", "T4"],
            "home_lat": [48.25, 48.25, 48.75, 48.75],
            "home_lon": [11.25, 11.75, 11.25, 11.75],
        }
    ).to_csv(folder / "reps.csv", index=False)
    scenario = scenario_from_dict(
        {
            "name": "tiny",
            "data": {"accounts": str(folder / "accounts.csv"), "reps": str(folder / "reps.csv")},
            "alignment": {"balance": [{"metric": "potential", "tolerance": 0.10}], "time_limit": 3},
        }
    )
    return scenario, accounts


def test_sweep_on_a_local_cluster_keeps_good_points_and_reports_the_failing_one(tmp_path):
    from dask.distributed import LocalCluster

    scenario, accounts = tiny_scenario(tmp_path)
    caps = [0.0, 0.25, 0.5, 1.0]  # no move allowed: T1 stays ~2x its target → infeasible
    grid = {"alignment.max_moved_share": caps, "alignment.balance.0.tolerance": [0.10]}
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        result = sweep(
            scenario,
            grid,
            scheduler=cluster.scheduler_address,
            progress=False,
            out_dir=tmp_path / "out",
        )

    table = result.table.set_index("point")
    assert list(table.index) == ["tiny-p001", "tiny-p002", "tiny-p003", "tiny-p004"]
    assert table["alignment.max_moved_share"].tolist() == caps
    failed = table.loc["tiny-p001"]
    assert failed["status"] in ("INFEASIBLE", "UNKNOWN") and failed["error"]
    assert not failed["pareto"]
    assert result.failed.index.tolist() == [0]

    total = accounts["potential"].sum()
    for name in ["tiny-p002", "tiny-p003", "tiny-p004"]:
        row = table.loc[name]
        assert row["error"] is None and row["status"] in ("OPTIMAL", "FEASIBLE")
        # Check the plan from its results folder, independently of the runner's figures.
        plan = pd.read_csv(
            tmp_path / "out" / "points" / name / "assignments.csv", dtype={"account_id": str}
        )
        plan = plan[["account_id", "territory_id"]].merge(accounts, on="account_id")
        moved = (plan["territory_id"] != plan["current_territory"]).mean()
        assert moved <= row["alignment.max_moved_share"] + 1e-9
        assert row["moved_share"] == pytest.approx(moved)
        deviation = (plan.groupby("territory_id")["potential"].sum() / (total / 4) - 1).abs()
        assert deviation.max() <= 0.10 + 1e-9
        assert row["max_deviation"] == pytest.approx(deviation.max())
    for path in ("sweep.csv", "sweep.png"):
        assert (tmp_path / "out" / path).is_file()

    ok = table[table["error"].isna()]
    objectives = ok[["max_deviation", "travel_km", "moved_share"]].to_numpy(float)
    for i, name in enumerate(ok.index):
        dominated = any(_dominates(objectives[j], objectives[i]) for j in range(len(ok)))
        assert ok.loc[name, "pareto"] == (not dominated)


def test_sweep_starts_its_own_cluster_by_default(tmp_path):
    scenario, _ = tiny_scenario(tmp_path)
    current = scenario.model_copy(
        update={"alignment": scenario.alignment.model_copy(update={"mode": "current"})}
    )  # evaluates the inherited plan: no solve, fast
    result = sweep(current, {"alignment.seed": [1, 2]}, n_workers=2, progress=False)
    assert result.workers == 2
    assert result.table["error"].isna().all()
    assert result.table["max_deviation"].nunique() == 1  # same plan at every point
