"""Solve the Zoltners–Sinha assignment model (fixed centres, no contiguity).

Pipeline:
1. fast infeasibility pre-checks (``explain.precheck``);
2. candidate pairs: the K nearest allowed territories per item (+ current, + reach repair);
3. LP relaxation with HiGHS and column generation: pairs whose Lagrangian cost beats an
   item's best candidate are added and the LP re-solved (≤ ``PRICING_ROUNDS``, while time
   allows); the LP duals give a lower bound valid over ALL allowed pairs
   (``lagrangian_bound``);
4. warm start: the LP rounded, repaired to feasibility, then improved by cost descent; a
   subgradient ascent from the LP duals toward that plan's cost then raises the bound;
5. the MIP engine (HiGHS via MathOpt, or CP-SAT) from that plan, in the remaining time;
6. honest figures: objective recomputed from the plan; bound = max(global Lagrangian bound,
   the engine's bound when the candidates are complete); OPTIMAL only when the engine proved
   it over complete candidates, or the gap to the global bound is within ``relative_gap``.
Infeasible with pruned candidates is retried with every allowed pair before it is declared.
"""

from __future__ import annotations

import time

import numpy as np

from territory_opt.errors import InfeasibleError, NoSolutionError
from territory_opt.problem import AlignmentProblem
from territory_opt.solvers import explain
from territory_opt.solvers.assignment_cpsat import run_cpsat
from territory_opt.solvers.assignment_highs import EngineResult, elastic_penalty, run_highs
from territory_opt.solvers.assignment_model import (
    DEFAULT_CANDIDATES,
    Candidates,
    Multipliers,
    allowed_pairs,
    dual_ascent,
    lagrangian_bound,
    objective,
    price_pairs,
    relative_gap,
    select_candidates,
)
from territory_opt.solvers.base import Solution, SolveOptions
from territory_opt.solvers.warm_start import greedy_start, improve, repair, violation

PRICING_ROUNDS = 4  # LP re-solves to tighten the bound once the LP needs no slack
MAX_LP_SOLVES = 12   # including re-solves that price in pairs a slack-using LP lacked
COMPLETE_MAX_PAIRS = 3_000_000  # beyond this, do not fall back to every allowed pair
LP_SHARE = 0.6      # the LP phase starts no new LP solve expected to end past this share
DUAL_SHARE = 0.1    # share of the time limit for the subgradient bound improvement
DUAL_ITERATIONS = 200


def choose_engine(problem: AlignmentProblem, options: SolveOptions) -> str:
    """``auto``: CP-SAT when a deterministic plan is asked for (HiGHS has no deterministic
    time budget), HiGHS otherwise (LP-based MIP closes the gap of this LP-tight model; see
    benchmarks/results/alignment.md)."""
    if options.engine != "auto":
        return options.engine
    return "cpsat" if options.deterministic else "highs"


def _lp_phase(problem: AlignmentProblem, cand: Candidates, options: SolveOptions,
              deadline: float) -> tuple[EngineResult, Candidates, float, Multipliers, int]:
    """Elastic LP relaxation with column generation: on pruned candidates, hard rows get
    heavily penalised slack (so the restricted LP is never infeasible); after each LP, pairs whose Lagrangian cost
    beats their item's best candidate join the candidates. The LP is re-solved while slack is
    used, or while another solve fits before ``deadline`` (always, in deterministic mode).
    Returns the last LP (status INFEASIBLE if it still needs slack), the candidates, the best
    global bound and its multipliers, and the number of LP solves."""
    k, m = problem.targets.shape
    best = Multipliers(np.zeros((k, m)), np.zeros((k, m)), np.zeros(k), 0.0)
    best_bound = lagrangian_bound(problem, best)[0]  # zero multipliers: Σ_i min_t cost
    elastic = None if cand.complete else elastic_penalty(problem, cand)  # exact when complete
    rounds, lp = 0, None
    for rounds in range(1, MAX_LP_SOLVES + 1):
        began = time.monotonic()
        budget = 10 * options.time_limit if options.deterministic else \
            max(deadline - began, 0.5)
        lp = run_highs(problem, cand, integer=False, time_limit=budget, seed=options.seed,
                       basis=lp.basis if lp is not None else None, elastic=elastic)
        if lp.multipliers is None:
            break
        needs_slack = lp.stats.get("elastic_excess", 0.0) > 1e-7
        if needs_slack:
            lp.status = "INFEASIBLE"
        else:
            bound, _ = lagrangian_bound(problem, lp.multipliers)
            if bound > best_bound:
                best_bound, best = bound, lp.multipliers
        if cand.complete or lp.multipliers is None:
            break
        priced = price_pairs(problem, cand, lp.multipliers)
        if priced is None:
            break
        cand = priced
        took = time.monotonic() - began
        if not needs_slack and (rounds > PRICING_ROUNDS or (
                not options.deterministic and time.monotonic() + 1.5 * took > deadline)):
            break
    return lp, cand, best_bound, best, rounds


def _engine_run(engine: str, problem: AlignmentProblem, cand: Candidates, hint, options,
                time_limit: float) -> EngineResult:
    if engine == "cpsat":
        budget = options.time_limit if options.deterministic else time_limit
        return run_cpsat(problem, cand, time_limit=budget, seed=options.seed,
                         deterministic=options.deterministic, workers=options.workers,
                         relative_gap=options.relative_gap, hint=hint,
                         progress=options.progress)
    return run_highs(problem, cand, integer=True, time_limit=time_limit,
                     relative_gap=options.relative_gap, seed=options.seed, hint=hint)


def _complete(problem: AlignmentProblem) -> Candidates:
    return Candidates.from_mask(allowed_pairs(problem), True, problem.n_territories)


def _check_complete_fits(problem: AlignmentProblem, per_item: int) -> None:
    """Refuse (NoSolutionError) to build a model over every pair when it would be too large."""
    pairs = int(allowed_pairs(problem).sum())
    if pairs > COMPLETE_MAX_PAIRS:
        raise NoSolutionError(
            f"no feasible plan among each item's {per_item} nearest territories (plus priced-in "
            f"pairs), and the model over all {pairs:,} allowed pairs is too large to prove "
            f"infeasibility; raise alignment.candidates or loosen tolerances")


def _infeasible(problem: AlignmentProblem, deadline: float) -> InfeasibleError:
    return InfeasibleError(explain.explain_infeasibility(
        problem, time_limit=max(deadline - time.monotonic(), 5.0)))


def solve_assignment(problem: AlignmentProblem, options: SolveOptions) -> Solution:
    """Solve the fixed-centre assignment model (see the module docstring)."""
    started = time.monotonic()
    deadline = started + options.time_limit
    reasons = explain.precheck(problem)
    if reasons:
        raise InfeasibleError(reasons)
    engine = choose_engine(problem, options)
    notes: list[str] = []
    per_item = options.candidates or DEFAULT_CANDIDATES
    cand = select_candidates(problem, per_item)
    lp, cand, global_bound, multipliers, rounds = _lp_phase(
        problem, cand, options, started + LP_SHARE * options.time_limit)
    if lp.status == "INFEASIBLE" and not cand.complete:
        _check_complete_fits(problem, per_item)
        notes.append("the nearest-candidate model was infeasible; retried with every pair")
        cand = _complete(problem)
        lp, cand, global_bound, multipliers, rounds = _lp_phase(problem, cand, options, deadline)
    if lp.status == "INFEASIBLE":
        raise _infeasible(problem, deadline)
    lp_seconds = time.monotonic() - started
    start = lp.assignment if lp.assignment is not None else greedy_start(problem, cand)
    # deterministic runs cap work by steps only; others stop at 90 % of the time limit
    stop = None if options.deterministic else started + 0.9 * options.time_limit
    start = repair(problem, cand, start, deadline=stop)
    start_feasible = violation(problem, start) <= 1e-9
    if start_feasible:
        start = improve(problem, cand, start, deadline=stop)
        ascent = dual_ascent(problem, upper_bound=objective(problem, start), start=multipliers,
                             iterations=DUAL_ITERATIONS, deadline=None if options.deterministic
                             else time.monotonic() + DUAL_SHARE * options.time_limit)
        global_bound = max(global_bound, ascent.bound)
        if options.progress:
            options.progress({"objective": objective(problem, start), "bound": global_bound,
                              "seconds": time.monotonic() - started, "engine": "warm start"})
    result = EngineResult("UNKNOWN", None, None)
    warm_seconds = time.monotonic() - started - lp_seconds
    if engine != "local":
        remaining = max(deadline - time.monotonic(), 1.0)
        result = _engine_run(engine, problem, cand, start, options, remaining)
        if result.status == "INFEASIBLE" and not cand.complete:
            _check_complete_fits(problem, per_item)
            notes.append("the nearest-candidate model was infeasible; retried with every pair")
            cand = _complete(problem)
            result = _engine_run(engine, problem, cand, start if start_feasible else None,
                                 options, max(deadline - time.monotonic(), 1.0))
        if result.status == "INFEASIBLE":
            raise _infeasible(problem, deadline)

    plans = [(objective(problem, result.assignment), result.assignment, engine)] \
        if result.assignment is not None else []
    if start_feasible:
        plans.append((objective(problem, start), start, "warm start"))
    if not plans:
        raise NoSolutionError(f"no feasible plan found within {options.time_limit:g} s "
                              f"({engine}); raise the time limit or loosen tolerances")
    value, assignment, source = min(plans, key=lambda plan: plan[0])
    bounds = [b for b in (global_bound, result.bound if cand.complete else None) if b is not None]
    bound = min(max(bounds), value) if bounds else None
    gap = relative_gap(value, bound)
    proved = result.status == "OPTIMAL" and cand.complete and source == engine
    status = "OPTIMAL" if proved or (gap is not None and gap <= options.relative_gap) \
        else "FEASIBLE"
    if not cand.complete:
        notes.append(f"candidates: {cand.size} item-territory pairs ({per_item} nearest per "
                     f"item, priced after each of {rounds} LP solve(s)); the bound covers all "
                     f"pairs")
    if engine != "local" and source == "warm start":
        notes.append(f"{engine} did not improve on the LP-rounding warm start")
    if options.progress:
        options.progress({"objective": value, "bound": bound,
                          "seconds": time.monotonic() - started, "engine": engine})
    return Solution(
        assignment=np.asarray(assignment, np.int64), status=status, objective=value,
        bound=bound, gap=gap, solve_seconds=time.monotonic() - started, engine=engine,
        log=result.log,
        stats={"notes": notes, "candidate_pairs": cand.size, "candidates_complete":
               cand.complete, "engine_status": result.status, "plan_source": source,
               "lp_bound": global_bound, "engine_bound": result.bound,
               "lp_seconds": lp_seconds, "warm_start_seconds": warm_seconds, **result.stats})
