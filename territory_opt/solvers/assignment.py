"""Solve the Zoltners–Sinha assignment model (fixed centres, no contiguity).

Pipeline:
1. fast infeasibility pre-checks (``explain.precheck``);
2. candidate pairs: the K nearest allowed territories per item (+ current, + reach repair);
3. when those are not every allowed pair: near-optimal LP duals from the smoothed Lagrangian
   (``smoothed_dual``: L-BFGS-B over the candidates at decreasing temperatures, pricing in
   pairs over all items after each stage); its exact Lagrangian bound is valid over ALL
   pairs. At those duals most items have one clearly best territory, so the LP only keeps,
   per item, the pairs within a window of its best (``window``);
4. LP relaxation over those pairs with HiGHS (elastic: hard rows get penalised slack while
   the pairs are pruned) and column generation: pairs whose Lagrangian cost beats an item's
   best candidate are added and the LP re-solved (≤ ``PRICING_ROUNDS`` while time allows);
   each LP's duals give a bound over all pairs (``price``);
5. warm start: the LP rounded (or, without an LP plan in time, the items' Lagrangian-best
   territories, or the cheapest candidates), repaired to feasibility, improved by cost descent;
6. the MIP engine (HiGHS via MathOpt, or CP-SAT) over the LP's pairs plus the warm start's,
   from that plan, in the remaining time;
7. honest figures: objective recomputed from the plan; bound = max(global Lagrangian bound,
   the engine's bound when the candidates are complete); OPTIMAL only when the engine proved
   it over complete candidates, or the gap to the global bound is within ``relative_gap``.
Infeasible with pruned candidates is retried with every allowed pair before it is declared.

Time: the dual phase may use ``SMOOTH_SHARE`` of the limit, the LP phase up to ``LP_SHARE``,
repair and improvement up to ``REPAIR_SHARE``; a plan found before the limit is returned as
FEASIBLE with its gap. Deterministic runs budget by iterations and CP-SAT deterministic time
instead, under a wall-clock safety limit (``clock.safety_deadline``: 4 × the limit + 60 s);
a run that hits it says so in ``stats["notes"]``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

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
    lagrangian_bound,
    objective,
    price,
    relative_gap,
    select_candidates,
    smoothed_dual,
)
from territory_opt.solvers.base import Solution, SolveOptions, stops_on_ctrl_c
from territory_opt.solvers.clock import SAFETY_NOTE, interrupted, safety_deadline
from territory_opt.solvers.warm_start import greedy_start, improve, repair, violation

PRICING_ROUNDS = 4  # LP re-solves to tighten the bound once the LP needs no slack
MAX_LP_SOLVES = 12   # including re-solves that price in pairs a slack-using LP lacked
COMPLETE_MAX_PAIRS = 3_000_000  # beyond this, do not fall back to every allowed pair
SMOOTH_SHARE = 0.3  # the dual phase stops its current stage past this share of the limit
LP_SHARE = 0.6      # the LP phase starts no new LP solve expected to end past this share
REPAIR_SHARE = 0.9  # repair and improvement stop past this share
ENGINE_SHARE = 0.98  # the MIP engine's time limit ends here (building and reading take time)


@dataclass
class _Clock:
    """Deadlines (time.monotonic) for the phases. Deterministic runs are not cut by shares of
    the limit (that would make them time-dependent), only by the safety limit."""

    started: float
    options: SolveOptions

    def at(self, share: float) -> float:
        if self.options.deterministic:
            return self.safety
        return self.started + share * self.options.time_limit

    @property
    def safety(self) -> float:
        return safety_deadline(self.started, self.options.time_limit)

    def left(self, deadline: float) -> float:
        """Seconds to ``deadline``; −∞ after Ctrl-C."""
        return -np.inf if interrupted() else deadline - time.monotonic()

    def seconds(self) -> float:
        return time.monotonic() - self.started

    def past_safety(self) -> bool:
        return self.options.deterministic and time.monotonic() > self.safety


class _Reporter:
    """Progress reports: ``{"seconds", "engine", "phase"}`` plus ``"bound"`` once a bound is
    known and ``"objective"`` once a feasible plan is."""

    def __init__(self, options: SolveOptions, clock: _Clock, engine: str):
        self.callback, self.clock, self.engine = options.progress, clock, engine
        self.bound: float | None = None

    def __call__(self, phase: str, *, bound: float | None = None,
                 objective_value: float | None = None) -> None:
        if bound is not None:
            self.bound = bound if self.bound is None else max(self.bound, bound)
        if self.callback is None:
            return
        info = {"seconds": self.clock.seconds(), "engine": self.engine, "phase": phase}
        if self.bound is not None:
            info["bound"] = self.bound if objective_value is None else \
                min(self.bound, objective_value)
        if objective_value is not None:
            info["objective"] = objective_value
        self.callback(info)


def choose_engine(problem: AlignmentProblem, options: SolveOptions) -> str:
    """``auto``: CP-SAT when a deterministic plan is asked for (HiGHS has no deterministic
    time budget), HiGHS otherwise (LP-based MIP closes the gap of this LP-tight model; see
    benchmarks/results/alignment.md)."""
    if options.engine != "auto":
        return options.engine
    return "cpsat" if options.deterministic else "highs"


@dataclass
class _LpPhase:
    lp: EngineResult       # the last LP; status INFEASIBLE only if it provably needs slack
    cand: Candidates       # its pairs, with the priced-in ones
    bound: float           # best Lagrangian bound over all pairs
    multipliers: Multipliers
    solves: int
    converged: bool        # no pair priced in: the bound is the LP over all pairs


def _lp_phase(problem: AlignmentProblem, cand: Candidates, options: SolveOptions,
              clock: _Clock, deadline: float, report: _Reporter) -> _LpPhase:
    """Elastic LP relaxation with column generation: on pruned candidates, hard rows get
    heavily penalised slack (so the restricted LP is never infeasible); after each LP, pairs
    whose Lagrangian cost beats their item's best candidate join the candidates. The LP is
    re-solved while slack is used, or while another solve fits before ``deadline`` (always,
    in deterministic mode, up to the safety limit)."""
    k, m = problem.targets.shape
    best = Multipliers(np.zeros((k, m)), np.zeros((k, m)), np.zeros(k), 0.0)
    best_bound = lagrangian_bound(problem, best)[0]  # zero multipliers: Σ_i min_t cost
    elastic = None if cand.complete else elastic_penalty(problem, cand)  # exact when complete
    solves, lp, converged = 0, None, cand.complete
    for solves in range(1, MAX_LP_SOLVES + 1):
        began = time.monotonic()
        budget = min(10 * options.time_limit, clock.left(clock.safety)) \
            if options.deterministic else clock.left(deadline)
        lp = run_highs(problem, cand, integer=False, time_limit=max(budget, 0.5),
                       seed=options.seed, basis=lp.basis if lp is not None else None,
                       elastic=elastic)
        if lp.multipliers is None:
            break
        needs_slack = lp.stats.get("elastic_excess", 0.0) > 1e-7
        solved = lp.status == "OPTIMAL"
        if needs_slack:
            lp.status = "INFEASIBLE" if solved else "UNKNOWN"
        if cand.complete:
            best_bound = max(best_bound, lagrangian_bound(problem, lp.multipliers)[0])
            report("lp", bound=best_bound)
            break
        scan = price(problem, cand, lp.multipliers)
        if not needs_slack and scan.bound > best_bound:
            best_bound, best = scan.bound, lp.multipliers
        report("lp", bound=best_bound)
        if scan.cand is None:
            converged = solved and not needs_slack
            break
        if not solved:
            break  # stopped by its time limit: no time for another solve
        cand = scan.cand
        took = time.monotonic() - began
        if not needs_slack and (solves > PRICING_ROUNDS or (
                not options.deterministic and clock.left(deadline) < 1.5 * took)):
            break
        if clock.past_safety():
            break
    return _LpPhase(lp, cand, best_bound, best, solves, converged)


def _engine_run(engine: str, problem: AlignmentProblem, cand: Candidates, hint,
                options: SolveOptions, clock: _Clock, report: _Reporter) -> EngineResult:
    """The MIP engine over ``cand`` until the time limit (deterministic CP-SAT: for
    ``time_limit`` deterministic seconds, under the wall-clock safety limit)."""
    wall = max(clock.left(clock.safety if options.deterministic else clock.at(ENGINE_SHARE)),
               1.0)
    if engine == "cpsat":
        def incumbent(info: dict) -> None:  # the engine's bound is global only when complete
            report("cpsat", objective_value=info["objective"],
                   bound=info["bound"] if cand.complete else None)

        return run_cpsat(problem, cand, time_limit=options.time_limit if options.deterministic
                         else wall, wall_limit=wall, seed=options.seed,
                         deterministic=options.deterministic, workers=options.workers,
                         relative_gap=options.relative_gap, hint=hint,
                         progress=incumbent if options.progress else None)

    def figures(bound: float, best: float) -> None:  # as for CP-SAT: global only when complete
        report("highs", objective_value=best if np.isfinite(best) else None,
               bound=bound if cand.complete and np.isfinite(bound) else None)

    return run_highs(problem, cand, integer=True, time_limit=wall,
                     relative_gap=options.relative_gap, seed=options.seed, hint=hint,
                     progress=figures if options.progress else None)


def _complete(problem: AlignmentProblem) -> Candidates:
    return Candidates.from_mask(allowed_pairs(problem), True, problem.n_territories)


def _with_plan(cand: Candidates, plan: np.ndarray) -> Candidates:
    """The candidates plus each item's pair in ``plan`` (so the plan can be a hint)."""
    if cand.complete:
        return cand
    mask = cand.mask.copy()
    mask[np.arange(len(plan)), plan] = True
    return Candidates.from_mask(mask, False, cand.per_item)


def _union(first: Candidates, second: Candidates) -> Candidates:
    if first.complete or second.complete:
        return first if first.complete else second
    return Candidates.from_mask(first.mask | second.mask, False, first.per_item)


def _check_complete_fits(problem: AlignmentProblem, per_item: int) -> None:
    """Refuse (NoSolutionError) to build a model over every pair when it would be too large."""
    pairs = int(allowed_pairs(problem).sum())
    if pairs > COMPLETE_MAX_PAIRS:
        raise NoSolutionError(
            f"no feasible plan among each item's {per_item} nearest territories (plus priced-in "
            f"pairs), and the model over all {pairs:,} allowed pairs is too large to prove "
            f"infeasibility; raise alignment.candidates or loosen tolerances")


def _infeasible(problem: AlignmentProblem, clock: _Clock) -> InfeasibleError:
    return InfeasibleError(explain.explain_infeasibility(
        problem, time_limit=max(clock.left(clock.at(1.0)), 5.0)))


@stops_on_ctrl_c
def solve_assignment(problem: AlignmentProblem, options: SolveOptions) -> Solution:
    """Solve the fixed-centre assignment model (see the module docstring)."""
    clock = _Clock(time.monotonic(), options)
    reasons = explain.precheck(problem)
    if reasons:
        raise InfeasibleError(reasons)
    engine = choose_engine(problem, options)
    report = _Reporter(options, clock, engine)
    notes: list[str] = []
    per_item = options.candidates or DEFAULT_CANDIDATES
    cand = select_candidates(problem, per_item)
    dual = None
    if not cand.complete:
        dual = smoothed_dual(problem, cand, deadline=clock.at(SMOOTH_SHARE),
                             report=lambda bound: report("dual", bound=bound))
        cand = dual.cand
    phase = _lp_phase(problem, dual.window if dual else cand, options, clock,
                      clock.at(LP_SHARE), report)
    if phase.lp.status == "INFEASIBLE" and not phase.cand.complete:
        _check_complete_fits(problem, per_item)
        notes.append("the nearest-candidate model was infeasible; retried with every pair")
        cand = _complete(problem)
        phase = _lp_phase(problem, cand, options, clock, clock.at(1.0), report)
    if phase.lp.status == "INFEASIBLE":
        raise _infeasible(problem, clock)
    global_bound = max(phase.bound, dual.bound if dual else -np.inf)
    lp_seconds = clock.seconds()
    if phase.lp.assignment is not None:
        start, start_source = phase.lp.assignment, "LP rounding"
    elif dual is not None:
        start, start_source = dual.plan, "Lagrangian plan"
    else:
        start, start_source = greedy_start(problem, cand), "cheapest candidates"
    moves = _union(cand, phase.cand)
    # step-bounded, so deterministic runs let them finish even past the safety limit
    stop = None if options.deterministic else clock.at(REPAIR_SHARE)
    start = repair(problem, moves, start, deadline=stop)
    start_feasible = violation(problem, start) <= 1e-9
    if start_feasible:
        start = improve(problem, moves, start, deadline=stop)
        report("warm start", objective_value=objective(problem, start))
    else:
        notes.append(f"the repair of the {start_source} did not reach a feasible plan")
    result = EngineResult("UNKNOWN", None, None)
    warm_seconds = clock.seconds() - lp_seconds
    engine_cand = _with_plan(phase.cand, start)
    if engine != "local" and not clock.past_safety() and not interrupted():
        result = _engine_run(engine, problem, engine_cand, start, options, clock, report)
        if result.status == "INFEASIBLE" and not engine_cand.complete:
            _check_complete_fits(problem, per_item)
            notes.append("the nearest-candidate model was infeasible; retried with every pair")
            engine_cand = _complete(problem)
            result = _engine_run(engine, problem, engine_cand, start if start_feasible else None,
                                 options, clock, report)
        if result.status == "INFEASIBLE":
            raise _infeasible(problem, clock)

    plans = [(objective(problem, result.assignment), result.assignment, engine)] \
        if result.assignment is not None else []
    if start_feasible:
        plans.append((objective(problem, start), start, "warm start"))
    if not plans:
        raise NoSolutionError(f"no feasible plan found within {options.time_limit:g} s "
                              f"({engine}); raise the time limit or loosen tolerances")
    value, assignment, source = min(plans, key=lambda plan: plan[0])
    bounds = [b for b in (global_bound, result.bound if engine_cand.complete else None)
              if b is not None]
    bound = min(max(bounds), value) if bounds else None
    gap = relative_gap(value, bound)
    proved = result.status == "OPTIMAL" and engine_cand.complete and source == engine
    status = "OPTIMAL" if proved or (gap is not None and gap <= options.relative_gap) \
        else "FEASIBLE"
    if dual is not None:
        notes.append(
            f"candidates: {cand.size} item-territory pairs ({per_item} nearest per item, priced "
            f"by {dual.evaluations} smoothed-dual evaluations); the LP kept {phase.cand.size} "
            f"near-best pairs after {phase.solves} solve(s)"
            f"{'' if phase.converged else ' without converging'}; the bound covers all pairs")
    if engine != "local" and source == "warm start":
        notes.append(f"{engine} did not improve on the {start_source} warm start")
    if clock.past_safety() or result.stats.get("wall_stopped"):
        notes.append(SAFETY_NOTE)
    report("done", bound=bound, objective_value=value)
    return Solution(
        assignment=np.asarray(assignment, np.int64), status=status, objective=value,
        bound=bound, gap=gap, solve_seconds=clock.seconds(), engine=engine,
        log=result.log,
        stats={"notes": notes, "candidate_pairs": cand.size, "lp_pairs": phase.cand.size,
               "candidates_complete": cand.complete, "engine_status": result.status,
               "plan_source": source, "lp_bound": global_bound, "engine_bound": result.bound,
               "lp_converged": phase.converged, "lp_seconds": lp_seconds,
               "warm_start_seconds": warm_seconds, **result.stats})
