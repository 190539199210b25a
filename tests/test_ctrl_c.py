"""Ctrl-C during an account-level solve: real SIGINTs, sent to this process by a timer.

The first Ctrl-C ends the search and the best plan so far comes back with a note; a second one
aborts; and no solver library keeps the signal for itself. (Unit-level runs:
``test_districting.test_ctrl_c_returns_the_best_plan_so_far``.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from alignment_instances import random_problem

from territory_opt.solvers import SolveOptions, clock, solve
from territory_opt.verify import check_plan

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def ctrl_c_at(*seconds: float):
    """Send SIGINT to this process ``seconds`` after entering the block."""
    timers = [threading.Timer(s, os.kill, args=(os.getpid(), signal.SIGINT)) for s in seconds]
    outside = signal.signal(signal.SIGINT, lambda signum, frame: None)  # a late one: no abort
    for timer in timers:
        timer.start()
    try:
        yield
    finally:
        for timer in timers:
            timer.cancel()
            timer.join()
        signal.signal(signal.SIGINT, outside)


def _problem():
    return random_problem(2000, 40, seed=21, tolerances=(0.05, 0.10))


def test_ctrl_c_stops_cp_sat_and_returns_its_best_plan(capfd):
    problem = _problem()
    began = time.monotonic()
    with ctrl_c_at(4.0):
        solution = solve(problem, SolveOptions(time_limit=60, engine="cpsat"))
    assert time.monotonic() - began < 30  # stopped, not run to the limit
    assert clock.INTERRUPTED_NOTE in solution.stats["notes"]
    assert solution.status in ("OPTIMAL", "FEASIBLE")
    assert check_plan(problem, solution.assignment) == []
    assert solution.bound <= solution.objective
    assert clock.STOPPING_MESSAGE in capfd.readouterr().err


def test_ctrl_c_during_highs_returns_the_plan_after_its_call(capfd):
    """HiGHS ignores interrupters: its call ends by its own limit, and the user is told so."""
    problem = _problem()
    with ctrl_c_at(5.0):
        solution = solve(problem, SolveOptions(time_limit=12, engine="highs"))
    assert clock.INTERRUPTED_NOTE in solution.stats["notes"]
    assert check_plan(problem, solution.assignment) == []
    assert solution.bound <= solution.objective
    assert clock.STOPPING_MESSAGE in capfd.readouterr().err


def test_a_second_ctrl_c_aborts_at_once():
    began = time.monotonic()
    with ctrl_c_at(3.0, 3.5), pytest.raises(KeyboardInterrupt):
        solve(_problem(), SolveOptions(time_limit=15, engine="highs"))
    assert time.monotonic() - began < 10  # did not wait for the HiGHS call under way
    after = solve(random_problem(200, 5, seed=1), SolveOptions(time_limit=2))
    assert clock.INTERRUPTED_NOTE not in after.stats["notes"]  # the next solve starts afresh


def test_cp_sat_leaves_ctrl_c_to_python():
    """CP-SAT's own SIGINT handler would reset SIGINT to its default after a solve, so a later
    Ctrl-C killed the process outright; ours turns it off."""
    script = (
        "import os, signal\n"
        "from alignment_instances import random_problem\n"
        "from territory_opt.solvers import SolveOptions, solve\n"
        "solve(random_problem(200, 5, seed=1), SolveOptions(time_limit=2, engine='cpsat'))\n"
        "try:\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    for _ in range(10**8): pass\n"
        "except KeyboardInterrupt:\n"
        "    print('KeyboardInterrupt')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False,
                          cwd=Path(__file__).parent, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "KeyboardInterrupt"


@pytest.mark.parametrize("presses", [1, 2])
def test_cli_keeps_the_plan_on_one_ctrl_c_and_aborts_on_two(tmp_path, presses):
    """The demo's main job, cut short: one Ctrl-C writes the results folder with the note and
    exits 0; two abort with exit code 130 and write nothing."""
    env = dict(os.environ, COLUMNS="250", NO_COLOR="1")
    run = subprocess.Popen(
        [sys.executable, "-m", "territory_opt.cli", "run", "scenarios/demo-balanced.toml",
         "--time-limit", "20", "--no-map", "--out", str(tmp_path)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for _ in range(presses):
        time.sleep(8.0)
        run.send_signal(signal.SIGINT)
    output, _ = run.communicate(timeout=300)
    folder = tmp_path / "demo-balanced"
    if presses == 1:
        assert run.returncode == 0, output
        notes = json.loads((folder / "metrics.json").read_text())["notes"]
        assert clock.INTERRUPTED_NOTE in notes
        assert clock.INTERRUPTED_NOTE in " ".join(output.split())
    else:
        assert run.returncode == 130, output
        assert "aborted (Ctrl-C)" in output
        assert not folder.exists()
