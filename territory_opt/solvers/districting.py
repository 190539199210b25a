"""Unit-level territory design: contiguity, green-field centres, cut-edge compactness.

Entry point ``solve_districting(problem, options)``; the dispatcher calls it whenever
``problem.contiguous``, ``problem.centers == "free"`` or ``problem.compactness == "cut_edges"``.

* Small instances (free centres: n ≤ ``EXACT_MAX_UNITS``; fixed centres: n·k ≤
  ``EXACT_MAX_PAIRS``) go to the exact MIP in ``hess.py`` (Hess model for free centres,
  Zoltners–Sinha for fixed rep units, and for cut edges with free centres the labelling model of
  Validi & Buchanan with ordered representatives) with exact L-fixing, a start plan
  (spanning-tree bisection + local search, then location–allocation for inertia/travel or
  recombination short bursts for cut edges), Lagrangian reduced-cost fixing with
  contiguity-aware path costs (contiguous free centres), LP reduced-cost fixing, the
  incumbent as HiGHS's objective bound, and contiguity by Shirabe flow rows (up to
  ``ROOT_FLOW_MAX_ARCS`` flow arcs) or else an LCUT cut loop; the contiguous free-centre MIP
  after Lagrangian fixing runs the loop first and adds the flow rows only once a round's optimum
  is disconnected. For contiguous free centres,
  recombination short bursts priced by each territory's best-centre cost run in a second
  thread while HiGHS solves, restarting from fresh quick plans when a walk stalls (the better
  plan is kept); likewise for cut edges on a connected unit graph, priced by perimeter.
  Under contiguity, when the quick plan finds nothing, an exhaustive search over connected
  territories (``partition_search.py``; it proves SC infeasible in a second) and then the flow
  model without objective look for any plan first, or prove that none exists. Before all of
  this, for free centres or cut edges with shared bounds and no soft metrics, the same search
  priced by territory tries to enumerate every contiguous plan (``ENUMERATE_SHARE`` of the
  time); when it finishes, its cheapest plan is proved optimal (Maine in 0.01 s).
* Larger ones go to the heuristic engine in ``local_search.py`` (spanning-tree bisection or
  region growing, balance and compactness local search, LNS) with a valid lower bound.

Free-centre objective (``centers == "free"``): with w = ``problem.free_centre_weight`` (the
accounts' compactness weights, as for fixed centres; the first balance metric without them) and
d = ``item_distance_km`` (filled with haversine km from ``item_latlon`` when None), inertia is
Σ_i w_i·d(i, c(i))² and travel Σ_i w_i·d(i, c(i)), c(i) = the centre unit of i's territory.
Fixed centres use ``problem.cost``. ``cut_edges`` minimises the number of adjacent unit pairs in
different territories.

Deterministic runs (``SolveOptions.deterministic``) count work instead of wall time
(``clock.py``): search steps at nominal rates, HiGHS node limits, and the recombination walks
before the MIP instead of beside it, so the same inputs and seed give the same plan anywhere.

Ctrl-C stops the run's clock (``clock.stopping_on_interrupt``): every phase ends at its next
check and the best plan so far is returned, with a note.

Islands (units without neighbours) are never bridged: under contiguity an island must be a whole
territory by itself (its own centre); the overt checks say so when its weight does not fit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
from scipy.optimize import linear_sum_assignment

from territory_opt.errors import InfeasibleError, InputError, InputIssue, NoSolutionError
from territory_opt.problem import AlignmentProblem
from territory_opt.solvers import clock
from territory_opt.solvers.assignment_model import loads, soft_penalty_matrix
from territory_opt.solvers.base import Solution, SolveOptions, stops_on_ctrl_c
from territory_opt.solvers.contiguity import Graph, components, overt_infeasibility
from territory_opt.solvers.fixing import l_fixing, lagrangian_fixing, pairwise_separated
from territory_opt.solvers.graph_problem import distance_matrix_km
from territory_opt.solvers.hess import ExactInstance, ExactResult, integer_bounds, solve_exact
from territory_opt.solvers.local_search import quick_plan, solve_large
from territory_opt.solvers.partition_search import PartitionSearch, search_partition
from territory_opt.solvers.recom import perimeter_price, recombine_restarting

EXACT_MAX_UNITS = 400       # free centres: n² candidate pairs before fixing
EXACT_MAX_PAIRS = 60_000    # fixed centres: n·k pairs
# Contiguity by a priori flow rows (one MIP) instead of the LCUT loop while the flow model has at
# most this many arc variables (Σ_c arcs between units that may join column c). Measured on the
# county instances with the HiGHS objective bound (60 s): flow proves OK (28,756 arcs) in 40 s,
# which the loop does not, and ME (1,088); the loop proves KS (55,138) in 42 s, flow does not;
# IA, NE, MS, AR, WV are proved either way. The free-centre MIP after Lagrangian fixing uses
# them only once the loop meets a disconnected optimum (``flow_after_cuts``): from the same
# captured start plans the loop alone proves LA in 31 s against 67 s with flow, KS 3.9 against
# 11.5 s, while OK needs flow (15.9 s against 31.6 s); loop-then-flow proves LA within 60 s
# and keeps OK (benchmarks/results/districting.md §1n).
ROOT_FLOW_MAX_ARCS = 30_000
# Share of the time limit for the free-centre start plan (location–allocation); the MIP gets
# the rest. Measured on the county instances (60 s): 0.25 proves LA and WV and reaches OK's
# optimum, which 0.4 did not; 0.15–0.2 leave OK's start plan 10 % worse.
START_SHARE = 0.25
# Seconds without improvement after which a recombination walk (beside the MIP, or the
# cut-edge start's polish) restarts from a fresh quick plan. Measured on AL and LA: walks settle
# within 3 s; 1.5 s walks end worse (LA cut edges 51 at best instead of 49).
RESTART_STALL = 3.0
# Cut edges: shares of the time limit for the start plan's repeated quick plans and its
# recombination polish before the labelling MIP starts (the walks go on beside the MIP).
# Measured on the 12 T1 states (60 s, 2026-11-23): 0.05 + 0.05 instead of 0.15 + 0.1 proves
# ID, ME and NM in 8–10 s instead of 17–19 s, and NE (50 s), which the later start did not;
# the cut edges reached are the same up to seed noise (KS 32–34 either way).
CUT_QUICK_SHARE = 0.05
CUT_POLISH_SHARE = 0.05
# Share of the time limit for enumerating every contiguous plan first (free centres or cut
# edges, shared bounds, no soft metrics): it proves ME's optimum (16 units, k = 2) in 0.01 s,
# where the MIP needs 22 s; NM, ID and WV have too many plans (not done in 20 s).
ENUMERATE_SHARE = 0.02
# Share of the time limit for the exhaustive partition search when no quick plan exists (0: skip
# it). It proves SC (46 units, k = 7) infeasible in 1 s, OR in 2.6 s and NH at once; CO it
# cannot settle in minutes, the flow feasibility model does in about a second.
PROBE_SHARE = 0.05
# Share of the time limit for the plain Hess LP behind Lagrangian reduced-cost fixing
# (contiguous free centres, once a plan is known). It takes 0.25–1.6 s on the county instances.
FIXING_SHARE = 0.05
# Deterministic runs only (no second thread): share of the MIP's time that recombination short
# bursts get before the MIP starts (contiguous free centres; cut edges). Measured on the free
# centres (60 work s, 0.25 → 0.1): the runs take 4 s less (OK 43.5 → 39.3 s), OK stays
# unproved (bound 21445 → 21458), LA ends at 17472.74 instead of 17445.54, AL at 17485.74.
RECOMBINE_SHARE = 0.1
OBJECTIVES = ("travel", "inertia", "cut_edges", "none")


def _validate(problem: AlignmentProblem) -> None:
    issues = []
    if problem.compactness not in OBJECTIVES:
        issues.append(InputIssue("scenario", f"compactness in {OBJECTIVES}",
                                 column="compactness", value=problem.compactness))
    if problem.centers not in ("reps", "free"):
        issues.append(InputIssue("scenario", "centers 'reps' or 'free'", column="centers",
                                 value=problem.centers))
    if (problem.contiguous or problem.compactness == "cut_edges") and problem.edges is None:
        issues.append(InputIssue("units", "unit adjacency (polygons or an edge list) when "
                                 "contiguity or cut edges are requested", column="edges"))
    if problem.n_items < problem.n_territories:
        issues.append(InputIssue("units", f"at least {problem.n_territories} units for "
                                 f"{problem.n_territories} territories",
                                 value=str(problem.n_items)))
    if problem.edges is not None:
        edges = np.asarray(problem.edges)
        if edges.size and (edges.min() < 0 or edges.max() >= problem.n_items):
            issues.append(InputIssue("units", "edge endpoints are item indices 0..n-1",
                                     column="edges", value=str(edges.max())))
    if issues:
        raise InputError(issues)


def hard_bounds(problem: AlignmentProblem) -> tuple[np.ndarray, np.ndarray]:
    """(k, m) lower/upper balance bounds, rounded inward for integer-valued hard metrics; a soft
    metric keeps its exact band, since its penalty is measured from it."""
    lower, upper = integer_bounds(np.asarray(problem.weights, float), problem.lower, problem.upper)
    soft = np.asarray(problem.soft, bool)
    lower[:, soft], upper[:, soft] = problem.lower[:, soft], problem.upper[:, soft]
    return lower, upper


def free_centre_distances(problem: AlignmentProblem) -> np.ndarray:
    """(n, n) unit–unit km: ``item_distance_km`` if given, else haversine from ``item_latlon``."""
    if problem.item_distance_km is not None:
        return np.asarray(problem.item_distance_km, dtype=float)
    return distance_matrix_km(np.asarray(problem.item_latlon, float), "haversine_km")


def free_centre_cost(problem: AlignmentProblem, dist: np.ndarray) -> np.ndarray:
    """(n, n) cost of unit i served by centre j: w_i·d_ij² (inertia), w_i·d_ij (travel) or 0."""
    w = problem.free_centre_weight[:, None]
    if problem.compactness == "inertia":
        return w * dist**2
    if problem.compactness == "travel":
        return w * dist
    return np.zeros_like(dist)


def fixed_roots(problem: AlignmentProblem) -> tuple[np.ndarray, list[str]]:
    """Root unit of each territory for fixed centres: ``center_items`` or the nearest unit."""
    if problem.center_items is not None:
        return np.asarray(problem.center_items, dtype=int), []
    roots = np.argmin(np.asarray(problem.distance_km, float), axis=0)
    if len(set(roots.tolist())) < len(roots):
        raise InputError([InputIssue("territories", "reps whose nearest units are distinct "
                                     "(contiguity needs one root unit per territory)",
                                     column="center_items")])
    return roots, ["contiguity roots: each territory's unit nearest its rep home"]


def _labels_for_columns(problem: AlignmentProblem, column_of: np.ndarray,
                        lower: np.ndarray, upper: np.ndarray,
                        extra_cost: np.ndarray | None = None) -> dict[int, int]:
    """Territory index per open column: loads must fit the territory bounds; among those, keep
    as much move weight (accounts) as possible in its current territory (each kept unit of move
    weight is worth 1 against ``extra_cost[a, t]``, the a-th open column as territory t)."""
    cols = np.unique(column_of)
    k = problem.n_territories
    weights = np.asarray(problem.weights, float)
    hard = ~np.asarray(problem.soft, bool)
    cost = np.zeros((len(cols), k)) if extra_cost is None else extra_cost.astype(float).copy()
    move_weight = np.asarray(problem.move_weight, float)
    unfit = 1e9 + 2 * k * np.abs(cost).max() + move_weight.sum()  # above any plan that fits
    for a, c in enumerate(cols):
        load = weights[column_of == c].sum(axis=0)
        fits = np.all((load[None, hard] >= lower[:, hard] - 1e-6)
                      & (load[None, hard] <= upper[:, hard] + 1e-6), axis=1)
        cost[a] += np.where(fits, 0.0, unfit)
        current = np.asarray(problem.current)[column_of == c]
        kept = current >= 0
        cost[a] -= np.bincount(current[kept], weights=move_weight[column_of == c][kept],
                               minlength=k)[:k]
    rows, ts = linear_sum_assignment(cost)
    return {int(cols[r]): int(t) for r, t in zip(rows, ts)}


def flow_arcs(graph: Graph, allowed: np.ndarray) -> int:
    """Arc variables of the root flow rows: Σ_c 2·|{edges uv : u and v may join column c}|."""
    tails, heads = graph.arcs()
    return int(np.sum(allowed[tails] & allowed[heads]))


def _best_centres(inst: ExactInstance, column_of: np.ndarray, roots: np.ndarray) -> np.ndarray:
    """Per territory (labels = positions in ``roots``), the member unit that minimises the
    territory's cost as its centre (``inst.cost`` columns are centres in free mode)."""
    centres = roots.copy()
    for t in range(len(roots)):
        members = np.flatnonzero(column_of == t)
        sub = inst.cost[np.ix_(members, members)]
        feasible = inst.allowed[np.ix_(members, members)].all(axis=0)
        totals = np.where(feasible, sub.sum(axis=0), np.inf)
        if np.isfinite(totals).any():
            centres[t] = members[int(np.argmin(totals))]
    return centres


def _centre_columns(inst: ExactInstance, labels: np.ndarray) -> np.ndarray:
    """A plan given as territory labels 0..k−1, as columns: each unit's territory's best member
    centre (free mode)."""
    firsts = np.array([np.flatnonzero(labels == t)[0] for t in range(inst.k)])
    return _best_centres(inst, labels, firsts)[labels]


def _start_plan(problem: AlignmentProblem, inst: ExactInstance, options: SolveOptions,
                notes: list[str]) -> ExactResult | None:
    """A first plan (column per unit) for free centres, or a proof that none exists.

    The large engine's quick plan (spanning-tree bisection + local search, 10 % of the time);
    when it finds none under contiguity, the exhaustive partition search (``_partition_probe``)
    and then the exact model without objective (feasibility only, 15 %): it finds a plan, proves
    that no plan exists, or neither."""
    seconds = 0.1 * options.time_limit
    quick = quick_plan(problem, inst.graph, inst.lower, inst.upper, seconds, options.seed)
    if quick is not None:
        return ExactResult("FEASIBLE", quick[1][quick[0]], None, None, seconds)
    if not problem.contiguous:
        return None
    found = _partition_probe(problem, inst, PROBE_SHARE * options.time_limit, notes)
    if found is not None and found.labels is not None:
        return ExactResult("FEASIBLE", _centre_columns(inst, found.labels), None, None, seconds)
    probe = solve_exact(replace(inst, cost=np.zeros_like(inst.cost), root_flow=True), True,
                        0.15 * options.time_limit, options.relative_gap)
    notes.append(f"no quick plan; the feasibility model ended {probe.status} "
                 f"in {probe.seconds:.1f} s")
    return probe if probe.status in ("INFEASIBLE", "OPTIMAL", "FEASIBLE") else None


def _no_plan(problem: AlignmentProblem, lower: np.ndarray, upper: np.ndarray) -> str:
    """'no plan with k (contiguous) territories and <hard bounds> exists'."""
    what = "contiguous territories" if problem.contiguous else "territories"
    bounds = "; ".join(f"{problem.metric_names[m]} within [{lower[:, m].min():g}, "
                       f"{upper[:, m].max():g}]"
                       for m in np.flatnonzero(~np.asarray(problem.soft, bool)))
    return f"no plan with {problem.n_territories} {what} and {bounds} exists"


def _partition_probe(problem: AlignmentProblem, inst: ExactInstance, seconds: float,
                     notes: list[str], price: Callable[[np.ndarray], float] | None = None
                     ) -> PartitionSearch | None:
    """Exhaustive search for contiguous territories sharing their bounds: the first plan it
    meets or, with ``price``, the cheapest (``partition_search``; labels = territory per unit);
    None when it does not apply. Raises InfeasibleError, with the reason, when it proves that
    no plan exists."""
    if not (seconds > 0 and problem.contiguous and inst.shared_bounds):
        return None
    hard = ~inst.soft
    found = search_partition(inst.graph, inst.weights[:, hard], inst.lower[0, hard],
                             inst.upper[0, hard], inst.k, seconds, price)
    notes.append(f"the exhaustive partition search ({'cheapest' if price else 'any'} plan) "
                 f"ended {found.status} after {found.candidates} candidate territories in "
                 f"{found.seconds:.1f} s")
    if found.status != "NONE":
        return found
    searched = (f"exhaustive search of {found.candidates} candidate territories in "
                f"{found.regions} sub-regions, {found.seconds:.1f} s")
    no_plan = _no_plan(problem, inst.lower, inst.upper)
    reason = f"{no_plan} ({searched})"
    unit = None if found.root is None else problem.item_ids[found.root]
    if unit is not None and found.root_options == 0:
        reason = (f"{no_plan}: no connected territory within the bounds can hold unit {unit} "
                  f"({searched})")
    elif unit is not None:
        which = ("the only connected territory" if found.root_options == 1 else
                 f"each of the {found.root_options} connected territories")
        others = ("the other territory" if inst.k == 2 else
                  f"the other {inst.k - 1} connected territories")
        reason = (f"{no_plan}: {which} within the bounds that could hold unit {unit} leaves "
                  f"units that cannot form {others} ({searched})")
    raise InfeasibleError([reason])


def _location_allocation_start(inst: ExactInstance, options: SolveOptions, notes: list[str],
                               problem: AlignmentProblem,
                               first: np.ndarray | None) -> tuple[np.ndarray, float] | None:
    """A start plan by location–allocation: centres of ``first`` (a plan, column per unit) or,
    without one, of the non-contiguous Hess plan (15 % of the time), then alternately the
    fixed-centre (Zoltners–Sinha) model (with contiguity when required) and re-centring on each
    territory's best member until the centres repeat, restarted from population-weighted random
    centres (until ``START_SHARE`` of the time is used).
    """
    start = clock.now()
    rng = np.random.default_rng(options.seed)
    weight = np.maximum(inst.weights[:, 0], 1e-9)
    if first is not None:
        best = (first, float(inst.cost[np.arange(len(first)), first].sum()))
        centres, origin = np.unique(first), "the quick plan's"
    else:
        relaxed = solve_exact(inst, False, 0.15 * options.time_limit, options.relative_gap)
        best, origin = None, f"the non-contiguous plan's ({relaxed.status})"
        centres = (np.unique(relaxed.column_of) if relaxed.column_of is not None
                   else np.sort(rng.choice(len(weight), size=inst.k, replace=False,
                                           p=weight / weight.sum())))
    seen, starts = set(), 0
    while clock.now() - start < START_SHARE * options.time_limit:
        if tuple(centres) in seen:  # converged: restart from population-weighted random centres
            starts += 1
            if starts > 50:
                break
            centres = np.sort(rng.choice(len(weight), size=inst.k, replace=False,
                                         p=weight / weight.sum()))
            continue
        seen.add(tuple(centres))
        fixed = replace(inst, roots=inst.roots[centres], allowed=inst.allowed[:, centres],
                        cost=inst.cost[:, centres], mode="fixed",
                        lower=np.repeat(inst.lower[:1], len(centres), axis=0),
                        upper=np.repeat(inst.upper[:1], len(centres), axis=0),
                        targets=np.repeat(inst.targets[:1], len(centres), axis=0))
        budget = min(START_SHARE * options.time_limit - (clock.now() - start),
                     max(0.5, 0.05 * options.time_limit))  # infeasible centre sets prove slowly
        try:
            result = solve_exact(fixed, problem.contiguous, budget, options.relative_gap)
        except InputError:
            result = None
        if result is None or result.column_of is None:
            continue
        if best is None or result.objective < best[1]:
            best = (centres[result.column_of], float(result.objective))
        centres = np.sort(_best_centres(inst, result.column_of, centres))
    notes.append(f"start plan: location–allocation from {origin} centres over {len(seen)} "
                 f"centre sets: {best[1] if best else 'none'}")
    return best


def _fresh_plans(problem: AlignmentProblem, inst: ExactInstance,
                 first_seed: int) -> Callable[[], np.ndarray | None]:
    """Restart plans for recombination: each call a quick plan (labels) with the next seed."""
    seeds = iter(range(first_seed, 2**31))

    def fresh() -> np.ndarray | None:
        quick = quick_plan(problem, inst.graph, inst.lower, inst.upper, 1.0, next(seeds))
        return None if quick is None else quick[0]
    return fresh


def _plan_of_labels(inst: ExactInstance, labels: np.ndarray) -> tuple[np.ndarray, float]:
    """A plan given as territory labels 0..k−1, in the exact model's terms: labels mode →
    (labels in π order when ordered, cut edges); free centres → (each unit's territory's best
    member centre, the plan's cost)."""
    if inst.mode == "labels":
        labels = order_labels(labels, inst.order) if inst.ordered_labels else labels
        edges = inst.graph.edge_array()
        return labels, float(np.sum(labels[edges[:, 0]] != labels[edges[:, 1]]))
    column_of = _centre_columns(inst, labels)
    return column_of, float(inst.cost[np.arange(len(column_of)), column_of].sum())


def _territory_price(inst: ExactInstance) -> Callable[[np.ndarray], float]:
    """One territory's cost (units → cost), additive over a plan: its perimeter in edges in
    labels mode (cut edges; a plan's total is twice its cut edges), else its cost at its best
    member centre, min_j Σ_i cost_ij over allowed pairs."""
    if inst.mode == "labels":
        return perimeter_price(inst.graph.edge_array(), inst.graph.n)
    cost = np.where(inst.allowed, inst.cost, np.inf)

    def price(members: np.ndarray) -> float:
        return float(cost[np.ix_(members, members)].sum(axis=0).min())
    return price


def _enumerate_plans(problem: AlignmentProblem, inst: ExactInstance, seconds: float,
                     notes: list[str]) -> ExactResult | None:
    """Small contiguous instances: the cheapest of all contiguous plans by exhaustive
    enumeration (``partition_search`` priced by ``_territory_price``; a proof of optimality or,
    raised as InfeasibleError, of infeasibility), or None when it does not finish in ``seconds``
    or does not apply (territories with their own bounds, soft metrics, fixed centres)."""
    if inst.mode == "fixed" or inst.soft.any() or not (problem.contiguous and inst.shared_bounds):
        return None
    started = time.monotonic()
    found = _partition_probe(problem, inst, seconds, notes, _territory_price(inst))
    if found is None or found.labels is None or not np.isfinite(found.cost):
        return None
    column_of, objective = _plan_of_labels(inst, found.labels)
    return ExactResult("OPTIMAL", column_of, objective, objective,
                       time.monotonic() - started,
                       [(f"every contiguous plan enumerated: {found.candidates} candidate "
                         "territories; the cheapest is optimal")], rounds=0)


def _recombine(inst: ExactInstance, plan: tuple[np.ndarray, float], deadline: float,
               rng: np.random.Generator, stop: threading.Event | None,
               fresh: Callable[[], np.ndarray | None]) -> tuple[np.ndarray, float]:
    """Recombination short bursts from ``plan`` (the exact model's columns and objective),
    each territory priced by ``_territory_price``; walks restart from ``fresh()`` after
    ``RESTART_STALL`` seconds without improvement. Returns the better of ``plan`` and the
    walks' best."""
    hard = ~inst.soft
    _, label = np.unique(plan[0], return_inverse=True)
    label, _ = recombine_restarting(inst.graph, inst.weights[:, hard], inst.lower[0, hard],
                                    inst.upper[0, hard], _territory_price(inst), label,
                                    deadline, rng, fresh, RESTART_STALL, stop)
    walked = _plan_of_labels(inst, label)
    return walked if walked[1] < plan[1] else plan


def _solve_beside_recombination(problem: AlignmentProblem, inst: ExactInstance,
                                mip_inst: ExactInstance, incumbent: tuple[np.ndarray, float],
                                seconds: float, options: SolveOptions,
                                notes: list[str]) -> ExactResult:
    """The MIP (``mip_inst``: ``inst`` after any fixing), with recombination short
    bursts from the same incumbent in a second thread (HiGHS releases the GIL, so the two
    share the machine's cores): free centres priced by moment of inertia, labels (cut edges)
    by perimeter. The better plan wins; the MIP's bound stays valid for it.
    Deterministic runs cannot race two threads: the walks get ``RECOMBINE_SHARE`` of the time
    first (all of it when the MIP would not fit in the rest), and the MIP starts from their
    plan."""
    fresh = _fresh_plans(replace(problem, contiguous=True), inst, options.seed + 1)
    if clock.deterministic():
        began = clock.now()
        mip_fits = clock.fits(int(mip_inst.allowed.sum()), (1 - RECOMBINE_SHARE) * seconds,
                              building=True)
        share = RECOMBINE_SHARE if mip_fits else 1.0
        walked = _recombine(inst, incumbent, began + share * seconds,
                           np.random.default_rng(options.seed), threading.Event(), fresh)
        if walked[1] < incumbent[1]:
            notes.append(f"recombination before the MIP found {walked[1]:.10g}")
        return solve_exact(mip_inst, problem.contiguous, seconds - (clock.now() - began),
                           options.relative_gap, progress=options.progress, incumbent=walked)
    deadline = time.monotonic() + 0.95 * seconds
    stop, found = threading.Event(), []
    worker = threading.Thread(target=lambda: found.append(_recombine(
        inst, incumbent, deadline, np.random.default_rng(options.seed), stop, fresh)),
        daemon=True)
    worker.start()
    try:
        result = solve_exact(mip_inst, problem.contiguous, seconds, options.relative_gap,
                             progress=options.progress, incumbent=incumbent)
    finally:
        stop.set()
        worker.join()
    if found and (result.objective is None or found[0][1] < result.objective):
        column_of, objective = found[0]
        notes.append(f"recombination beside the MIP found {objective:.10g}")
        bound = None if result.bound is None else min(result.bound, objective)
        result = replace(result, column_of=column_of, objective=objective, bound=bound,
                         status=result.status if result.status == "OPTIMAL" else "FEASIBLE")
    return result


def _fix_by_lagrangian(inst: ExactInstance, cutoff: float, seconds: float,
                       notes: list[str]) -> ExactInstance:
    """``inst`` without the unit–centre pairs that no contiguous plan costing at most
    ``cutoff`` uses (``fixing.lagrangian_fixing``; free centres sharing one bound)."""
    hard = ~inst.soft
    fixing = lagrangian_fixing(inst.graph, inst.cost, inst.weights[:, hard],
                               inst.lower[0, hard], inst.upper[0, hard], inst.k, inst.allowed,
                               cutoff, True, seconds)
    if fixing is None:
        notes.append(f"Lagrangian fixing skipped: the Hess LP did not fit in {seconds:.1f} s")
        return inst
    notes.append(f"Lagrangian fixing (bound {fixing.bound:.10g}, cutoff {cutoff:.10g}) removed "
                 f"{fixing.removed} of {int(inst.allowed.sum())} unit–centre pairs")
    return replace(inst, allowed=fixing.allowed)


def order_labels(column_of: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Relabel a plan so that label c's first unit in ``order`` precedes label c+1's."""
    first: dict[int, int] = {}
    for i in np.asarray(order).tolist():
        first.setdefault(int(column_of[i]), len(first))
    return np.array([first[int(c)] for c in column_of])


def _cut_edge_start(problem: AlignmentProblem, inst: ExactInstance, connected: bool,
                    seconds: float, probe: float, polish: float, seed: int,
                    notes: list[str]) -> tuple[np.ndarray, float] | None:
    """Labels mode start plan: the fewest cut edges over repeated quick plans (spanning-tree
    bisection, balancing and cut-edge local search) within ``seconds`` (none found: the
    exhaustive partition search, ``probe`` seconds, which may prove there is none), then, when the
    territories share their bounds, ``polish`` seconds of recombination short bursts restarting
    from fresh quick plans. The quick plans keep territories connected whenever the unit graph
    is (``connected``; they balance far better)."""
    deadline = clock.now() + seconds
    required = problem
    if connected:
        problem = replace(problem, contiguous=True)
    best, tries = None, 0
    while clock.now() < deadline:
        quick = quick_plan(problem, inst.graph, inst.lower, inst.upper,
                           deadline - clock.now(), seed + tries)
        tries += 1
        if quick is None:
            continue
        plan = _plan_of_labels(inst, quick[0])
        if best is None or plan[1] < best[1]:
            best = plan
    notes.append(f"start plan: fewest cut edges over {tries} quick plans: "
                 f"{best[1] if best else 'none'}")
    found = None if best is not None else _partition_probe(required, inst, probe, notes)
    if found is not None and found.labels is not None:
        best = _plan_of_labels(inst, found.labels)
    if best is not None and problem.contiguous and inst.shared_bounds:
        best = _recombine(inst, best, clock.now() + polish, np.random.default_rng(seed), None,
                          _fresh_plans(problem, inst, seed + tries))
        notes.append(f"recombination short bursts with restarts: {best[1]:g} cut edges")
    return best


def _label_order(problem: AlignmentProblem, graph: Graph, lower: np.ndarray, upper: np.ndarray,
                 uniform: bool, notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Labels mode: the vertex ordering π and the allowed (n, k) unit–label pairs.

    π starts with a set B of units no two of which fit one contiguous territory (contiguity
    only), then the rest by decreasing first hard metric (Validi & Buchanan). With one shared
    bound: D-fixing (the unit at position p takes labels ≤ p); under contiguity B's p-th unit is
    the representative of label p (it conflicts with the earlier ones), and label p keeps only
    units within the upper bound's vertex-weighted reach of it (L-fixing).
    """
    n, k = problem.n_items, problem.n_territories
    weights = np.asarray(problem.weights, float)
    hard = ~np.asarray(problem.soft, bool)
    separated = (pairwise_separated(graph, weights[:, hard], upper[0, hard], k)
                 if problem.contiguous and uniform and hard.any() else [])
    rest = np.argsort(-weights[:, int(np.argmax(hard))], kind="stable")
    order = np.concatenate([separated, [i for i in rest if i not in set(separated)]]).astype(int)
    allowed = np.ones((n, k), dtype=bool)
    if uniform:
        position = np.empty(n, dtype=int)
        position[order] = np.arange(n)
        allowed &= np.arange(k)[None, :] <= position[:, None]
        if separated:
            reach = l_fixing(graph, weights[:, hard], lower[0, hard], upper[0, hard],
                             np.asarray(separated))
            allowed[:, :len(separated)] &= reach.T
            allowed[separated] = False
            allowed[separated, np.arange(len(separated))] = True
    notes.append(f"labels: {len(separated)} pairwise separated units fix their labels; "
                 f"{int(allowed.sum())} of {n * k} unit–label pairs kept")
    return order, allowed


def _exact(problem: AlignmentProblem, options: SolveOptions, graph: Graph,
           lower: np.ndarray, upper: np.ndarray, notes: list[str]) -> Solution:
    start = clock.now()
    n, k = problem.n_items, problem.n_territories
    weights = np.asarray(problem.weights, float)
    hard = ~np.asarray(problem.soft, bool)
    cut_edges = problem.compactness == "cut_edges"
    uniform = bool(np.all(lower == lower[0]) and np.all(upper == upper[0]))
    order = None
    if problem.centers == "free" and (np.any(np.asarray(problem.locked) >= 0)
                                      or problem.eligible is not None):
        notes.append("free centres: locked items and eligibility refer to territory labels "
                     "and are not enforced by the centre-indexed or ordered-label model")
    if problem.centers == "free" and cut_edges:
        roots, cost, mode = np.full(k, -1), np.zeros((n, k)), "labels"
        order, allowed = _label_order(problem, graph, lower, upper, uniform, notes)
    elif problem.centers == "free":
        roots = np.arange(n)
        dist = free_centre_distances(problem)
        cost = free_centre_cost(problem, dist)
        allowed = np.ones((n, n), dtype=bool)
        mode = "free"
    else:
        roots, root_notes = fixed_roots(problem)
        notes.extend(root_notes)
        cost = np.asarray(problem.cost, float).copy()
        allowed = np.ones((n, k), dtype=bool) if problem.eligible is None \
            else np.asarray(problem.eligible, bool).copy()
        locked = np.asarray(problem.locked)
        for i in np.flatnonzero(locked >= 0):
            allowed[i] = False
            allowed[i, locked[i]] = True
        allowed[roots, np.arange(k)] = True
        mode = "fixed"
    before = int(allowed.sum())
    if problem.contiguous and np.any(hard) and mode != "labels":
        loose_lo, loose_hi = lower[:, hard].min(axis=0), upper[:, hard].max(axis=0)
        reach = l_fixing(graph, weights[:, hard], loose_lo, loose_hi, roots)
        allowed &= reach.T
        if mode == "fixed":
            allowed[roots, np.arange(k)] = True
    if mode != "labels":
        notes.append(f"L-fixing kept {int(allowed.sum())} of {before} unit–centre pairs")
    inst = ExactInstance(
        graph=graph, roots=roots, allowed=allowed, cost=cost, mode=mode, k=k,
        weights=weights, lower=lower, upper=upper, soft=np.asarray(problem.soft, bool),
        soft_penalty=np.asarray(problem.soft_penalty, float),
        targets=np.asarray(problem.targets, float), cut_edges=cut_edges,
        current=np.asarray(problem.current) if mode == "fixed" else None,
        move_weight=np.asarray(problem.move_weight, float),
        move_penalty=float(problem.move_penalty), max_moved=problem.max_moved,
        order=order, ordered_labels=mode == "labels" and uniform,
        root_flow=(problem.contiguous and mode != "labels"
                   and flow_arcs(graph, allowed) <= ROOT_FLOW_MAX_ARCS))
    incumbent, first = None, None
    connected = mode == "labels" and len(components(graph, range(n))) == 1
    enumerated = _enumerate_plans(problem, inst, ENUMERATE_SHARE * options.time_limit, notes)
    if enumerated is None and mode == "labels":
        incumbent = _cut_edge_start(problem, inst, connected,
                                    CUT_QUICK_SHARE * options.time_limit,
                                    PROBE_SHARE * options.time_limit,
                                    CUT_POLISH_SHARE * options.time_limit, options.seed, notes)
    elif enumerated is None and mode == "free" and not cut_edges and uniform:
        # The location-allocation start assumes every territory has the same bounds; with
        # unequal targets (e.g. part-time reps) the exact model's label variables decide.
        first = _start_plan(problem, inst, options, notes)
        if first is None or first.status != "INFEASIBLE":
            incumbent = _location_allocation_start(
                inst, options, notes, problem, None if first is None else first.column_of)
    mip_inst = inst
    if enumerated is not None:
        result = enumerated
    elif first is not None and first.status == "INFEASIBLE":
        result = first
    elif mode == "free" and problem.contiguous and incumbent is not None:
        # only under contiguity: without it the fixing repeats the MIP's own LP reduced-cost
        # fixing (benchmarks/results/districting.md §3)
        mip_inst = _fix_by_lagrangian(inst, incumbent[1], FIXING_SHARE * options.time_limit,
                                      notes)
        mip_inst = replace(mip_inst, root_flow=False, flow_after_cuts=flow_arcs(
            graph, mip_inst.allowed) <= ROOT_FLOW_MAX_ARCS)
        result = _solve_beside_recombination(
            problem, inst, mip_inst, incumbent,
            options.time_limit - (clock.now() - start), options, notes)
    elif mode == "labels" and incumbent is not None and inst.shared_bounds and connected:
        # the walks keep territories connected
        result = _solve_beside_recombination(
            problem, inst, inst, incumbent,
            options.time_limit - (clock.now() - start), options, notes)
    else:
        result = solve_exact(inst, problem.contiguous,
                             options.time_limit - (clock.now() - start),
                             options.relative_gap, progress=options.progress,
                             incumbent=incumbent)
    model_name = ("enumeration" if enumerated is not None else
                  {"free": "hess", "fixed": "zoltners-sinha", "labels": "labelling"}[mode])
    stats = {"model": model_name,
             "contiguity": ("none" if not problem.contiguous else
                            "scf+lcut-loop" if mode == "labels" else
                            "shir-flow" if mip_inst.root_flow else
                            "lcut-loop, then shir-flow" if mip_inst.flow_after_cuts else
                            "lcut-loop"),
             "rounds": result.rounds, "contiguity_cuts": result.cuts,
             "pairs": int(mip_inst.allowed.sum()), "notes": notes}
    if result.status == "INFEASIBLE":
        proof = (f"the exact model proved it in {result.seconds:.1f} s ({result.rounds} "
                 f"round{'s' * (result.rounds != 1)}, {result.cuts} contiguity cuts)")
        raise InfeasibleError([f"{_no_plan(problem, lower, upper)}: {proof}"])
    if result.column_of is None:
        raise NoSolutionError(f"no feasible plan found within {options.time_limit:g} s")
    if mode == "free":
        label_of = _labels_for_columns(problem, result.column_of, lower, upper)
        assignment = np.array([label_of[int(c)] for c in result.column_of])
        centers = np.full(k, -1)
        for c, t in label_of.items():
            centers[t] = roots[c]
    elif mode == "labels":  # no centres: each territory's first unit in π stands for it
        assignment = result.column_of.copy()
        centers = np.array([int(order[np.flatnonzero(assignment[order] == t)[0]])
                            for t in range(k)])
    else:
        assignment, centers = result.column_of.copy(), roots.copy()
    gap = None
    if result.objective is not None and result.bound is not None:
        gap = max(0.0, (result.objective - result.bound) / max(abs(result.objective), 1e-9))
    return Solution(assignment=assignment, status=result.status, objective=result.objective,
                    bound=result.bound, gap=gap, solve_seconds=result.seconds,
                    engine="highs-mip+lcut" if problem.contiguous else "highs-mip",
                    centers=centers, log="\n".join(result.log), stats=stats)


@stops_on_ctrl_c
def solve_districting(problem: AlignmentProblem, options: SolveOptions) -> Solution:
    """Solve a unit-level design problem; raises InfeasibleError / NoSolutionError / InputError.
    Deterministic runs (``options.deterministic``) are budgeted in work seconds (``clock``).
    Ctrl-C ends the search and returns the best plan found so far (a second one aborts)."""
    run = clock.Clock(options.deterministic, options.time_limit)
    with clock.running(run):
        solution = _solve_districting(problem, options)
    if run.deterministic:
        solution.stats["work_seconds"] = round(run.work, 3)
    if run.safety_hit:
        solution.stats.setdefault("notes", []).append(clock.SAFETY_NOTE)
    return solution


def _solve_districting(problem: AlignmentProblem, options: SolveOptions) -> Solution:
    start = time.monotonic()
    _validate(problem)
    n, k = problem.n_items, problem.n_territories
    graph = Graph.from_edges(n, problem.edges)
    lower, upper = hard_bounds(problem)
    hard = ~np.asarray(problem.soft, bool)
    notes = list(problem.notes)
    islands = [problem.item_ids[i] for i in range(n) if len(graph.nbrs[i]) == 0]
    if problem.contiguous and islands:
        notes.append(f"{len(islands)} island unit(s) without neighbours (e.g. {islands[0]}): "
                     f"each must form a territory by itself")
    reasons = overt_infeasibility(
        graph, np.asarray(problem.weights, float)[:, hard], lower[:, hard].min(axis=0),
        upper[:, hard].max(axis=0), k, problem.item_ids,
        [problem.metric_names[m] for m in np.flatnonzero(hard)], problem.contiguous)
    if reasons:
        raise InfeasibleError(reasons)
    small = (n <= EXACT_MAX_UNITS) if problem.centers == "free" else (n * k <= EXACT_MAX_PAIRS)
    if options.engine != "local" and small:
        solution = _exact(problem, options, graph, lower, upper, notes)
    else:
        solution = solve_large(problem, options, graph, lower, upper, notes)
        if problem.centers == "free":
            _keep_current_labels(problem, solution, lower, upper)
    solution.solve_seconds = time.monotonic() - start
    return solution


def _keep_current_labels(problem: AlignmentProblem, solution: Solution, lower: np.ndarray,
                         upper: np.ndarray) -> None:
    """Free centres leave territory labels arbitrary: permute them (in place) so that as much
    move weight (accounts) as possible stays in its current territory, each territory's hard
    bounds still met.

    With soft metrics a label also sets the territory's band, hence its penalty: each kept unit
    of move weight is then worth 10⁻⁶·objective/Σ move weight of penalty, so the objective
    (recomputed here: the compactness cost does not depend on labels) rises by at most 10⁻⁶ of
    itself, and usually falls."""
    if not np.any(np.asarray(problem.current) >= 0):
        return
    plan_loads = loads(problem, solution.assignment)
    penalty = soft_penalty_matrix(problem, plan_loads) if np.any(problem.soft) else None
    unit = max(1e-6 * abs(solution.objective) / max(float(np.sum(problem.move_weight)), 1e-12),
               1e-12)
    label_of = _labels_for_columns(problem, solution.assignment, lower, upper,
                                   None if penalty is None else penalty / unit)
    relabel = np.array([label_of[t] for t in range(problem.n_territories)])
    solution.assignment = relabel[solution.assignment]
    centers = np.empty_like(solution.centers)
    centers[relabel] = solution.centers
    solution.centers = centers
    if penalty is not None:
        change = float(penalty[np.arange(len(relabel)), relabel].sum() - np.trace(penalty))
        solution.objective += change
        solution.bound = min(solution.bound, solution.objective)
        solution.gap = max(0.0, (solution.objective - solution.bound)
                           / max(abs(solution.objective), 1e-9))
