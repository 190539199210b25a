"""Multi-level alignment, top-down: regions, then districts, then territories.

``problem.levels`` (top first) asks for balanced groups above the leaf territories. Solving
every level's rows in one model would need group rows in every engine, its pricing and its
repair; instead each level is solved in turn by the ordinary engines, and each stage splits
the blocks (items, leaves) of the stage before:

* a solved level: a block's items are assigned to the level's groups inside the block on an
  *aggregated* problem with one column per group: cost[i, g] = min over the group's allowed
  leaves of cost[i, l] (likewise the distance), targets and capacities summed over the leaves,
  the level's tolerances capped by those of every level below (a group of leaves each within
  ±x % of its target is itself within ±x % of the sum, so a looser group band adds nothing
  but can leave the next stage without a plan), and locks and current territories mapped to
  their group. A leaf whose centre unit lands in another group is rooted at the block's unit
  nearest its centre.
* a kept level (``keep``): items stay in their current leaf's group; items without one are
  placed by the aggregated problem with every other item locked where it is.
* the leaves: each final block is the original problem restricted to its items and leaves.

Upper stages run the engines' heuristic path (``engine = "local"``: LP rounding, repair and
descent, or the large districting engine) unless an engine is named: their plans only need
to leave the next stage room, and HiGHS's MIP presolve stalls on these few-column models.
Budgets are shared in order: an upper stage may use half of the move cap still unused and a
third of the time still left; within a stage each block gets its share by move weight (or
by size, for time), and whatever a block leaves unused passes on to the next.

Bound: any plan of the joint problem (every level's rows at once) maps onto an aggregated
problem at no more cost, moves or deviation, so the bound of the first solved stage, when it
is one block with the whole move cap, is valid for the joint problem (with a move cap, that
stage is re-solved with the whole cap for its bound). When only kept levels lie above a stage,
every item's group there was forced (a current territory or a lock) and there is no move
cap, the blocks decompose the joint problem exactly and the sum of their bounds is valid. Dropping the level rows relaxes the joint problem too, so a Lagrangian
bound of the territories-only problem (``smoothed_dual``, in the last ``DUAL_TIME_SHARE`` of
the time; valid over all pairs) is valid as well; the larger bound is reported. Top-down plans are OPTIMAL only when the
objective meets that bound.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from territory_opt.errors import InfeasibleError, NoSolutionError
from territory_opt.problem import AlignmentProblem, Level
from territory_opt.solvers.assignment_model import (
    allowed_pairs,
    loads,
    moved_weight,
    objective,
    relative_gap,
    select_candidates,
    smoothed_dual,
    soft_deviation_penalty,
)
from territory_opt.solvers.base import Solution, SolveOptions

UPPER_MOVE_SHARE = 0.5   # share of the unused move cap an upper stage may spend
UPPER_TIME_SHARE = 1 / 3  # share of the remaining time an upper stage gets
BOUND_TIME_SHARE = 0.25  # share of the first stage's time for its whole-cap bound solve
DUAL_TIME_SHARE = 0.05   # share of the time limit for the territories-only Lagrangian bound
RETRY_MIN_SECONDS = 5.0  # a block re-solved by the heuristic engine gets at least this


@dataclass
class Block:
    """Items and the leaf territories they may still go to (global indices)."""

    items: np.ndarray
    leaves: np.ndarray


def restrict(problem: AlignmentProblem, items: np.ndarray, leaves: np.ndarray,
             max_moved: float | None) -> AlignmentProblem:
    """The problem over ``items`` and ``leaves`` only: a current or locked territory outside
    ``leaves`` counts as none (the item has already moved), edges keep both ends inside."""
    local = np.full(problem.n_territories, -1)
    local[leaves] = np.arange(len(leaves))
    position = np.full(problem.n_items, -1)
    position[items] = np.arange(len(items))
    centres = _local_centres(problem, items, leaves, position)
    return replace(
        problem,
        item_ids=[problem.item_ids[i] for i in items],
        territory_ids=[problem.territory_ids[t] for t in leaves],
        weights=problem.weights[items], targets=problem.targets[leaves],
        cost=problem.cost[np.ix_(items, leaves)],
        distance_km=problem.distance_km[np.ix_(items, leaves)],
        item_latlon=problem.item_latlon[items],
        current=_mapped(problem.current[items], local), locked=_mapped(problem.locked[items], local),
        move_weight=problem.move_weight[items],
        item_accounts=[problem.item_accounts[i] for i in items],
        eligible=None if problem.eligible is None else problem.eligible[np.ix_(items, leaves)],
        workload=None if problem.workload is None else problem.workload[items],
        capacity=None if problem.capacity is None else problem.capacity[leaves],
        max_moved=max_moved, edges=_local_edges(problem.edges, position), center_items=centres,
        item_distance_km=None, levels=[], notes=[],
        cost_weight=None if problem.cost_weight is None else problem.cost_weight[items])


def aggregate(problem: AlignmentProblem, level: Level, block: Block,
              max_moved: float | None, keep_current: bool) -> tuple[AlignmentProblem, np.ndarray]:
    """The block's items against the level's groups inside the block (see the module
    docstring); returns the aggregated problem and the global group index of each column."""
    groups = np.unique(level.group_of[block.leaves])
    column_of_leaf = np.full(problem.n_territories, -1)
    column_of_leaf[block.leaves] = np.searchsorted(groups, level.group_of[block.leaves])
    sub = restrict(problem, block.items, block.leaves, max_moved)
    leaf_column = column_of_leaf[block.leaves]
    allowed = allowed_pairs(sub)
    g = len(groups)
    cost = np.full((sub.n_items, g), np.inf)
    distance = np.full((sub.n_items, g), np.inf)
    eligible = np.zeros((sub.n_items, g), bool)
    for c in range(g):
        members = leaf_column == c
        masked = np.where(allowed[:, members], sub.cost[:, members], np.inf)
        cost[:, c] = masked.min(axis=1)
        distance[:, c] = sub.distance_km[:, members].min(axis=1)
        eligible[:, c] = allowed[:, members].any(axis=1)
    cost[~eligible] = 0.0  # never used: the column is not allowed
    capacity = None
    if sub.capacity is not None:
        capacity = np.array([sub.capacity[leaf_column == c].sum() for c in range(g)])
    locked = _mapped(sub.locked, leaf_column)
    current = _mapped(sub.current, leaf_column)
    if keep_current:
        locked = np.where((locked < 0) & (current >= 0), current, locked)
    centre_items = np.array([sub.center_items[np.flatnonzero(leaf_column == c)[0]]
                             for c in range(g)])
    soft, penalty = sub.soft, sub.soft_penalty
    if keep_current:  # kept boundaries have no balance rows
        soft, penalty = np.ones_like(sub.soft), np.zeros_like(sub.soft_penalty)
    aggregated = replace(
        sub, territory_ids=[level.group_ids[x] for x in groups],
        targets=level.group_sums(problem.targets)[groups],
        tolerances=effective_tolerances(problem, level),
        soft=soft, soft_penalty=penalty,
        cost=cost, distance_km=distance, current=current, locked=locked,
        eligible=None if eligible.all() else eligible, capacity=capacity,
        center_items=centre_items)
    return aggregated, groups


def effective_tolerances(problem: AlignmentProblem, level: Level) -> np.ndarray:
    """(m,) the level's tolerances capped by those of every balanced level below it and of
    the territories."""
    below = problem.levels[[lv.name for lv in problem.levels].index(level.name):]
    return np.minimum.reduce([problem.tolerances,
                              *(lv.tolerances for lv in below if not lv.keep)])


def solve_top_down(problem: AlignmentProblem, options: SolveOptions,
                   solve_one) -> Solution:
    """Solve ``problem`` with its ``levels`` top-down (module docstring); ``solve_one`` is the
    single-level dispatcher (``territory_opt.solvers.solve``)."""
    started = time.monotonic()
    clock = _Clock(options)
    blocks = [Block(np.arange(problem.n_items), np.arange(problem.n_territories))]
    move_budget = problem.max_moved
    exact_split = True  # the blocks so far split the joint problem exactly
    bound, stats = None, []
    for level in problem.levels:
        stage_time = clock.take(UPPER_TIME_SHARE)
        stage_moves = None if move_budget is None else UPPER_MOVE_SHARE * move_budget
        whole_cap = None
        if exact_split and not level.keep and problem.max_moved is not None:
            whole_cap = _whole_cap_bound(problem, level, blocks[0], options, stage_time,
                                         solve_one) if len(blocks) == 1 else None
        stage = _run_stage(problem, blocks, options, stage_time, stage_moves, solve_one, level)
        if exact_split and not level.keep:
            bound = whole_cap if problem.max_moved is not None else stage.bound
        # kept groups split the joint problem exactly only when no item had a choice
        exact_split = exact_split and level.keep and not stage.searched \
            and problem.max_moved is None
        if move_budget is not None:
            move_budget -= stage.moved
        blocks = stage.blocks
        stats.append(stage.summary(level.name))
    leaf = _run_stage(problem, blocks, options, clock.take(1.0 - DUAL_TIME_SHARE), move_budget,
                      solve_one, None)
    stats.append(leaf.summary("territory"))
    if exact_split:
        bound = leaf.bound
    plan = leaf.plan
    value = objective(problem, plan) + level_penalty(problem, plan)
    flat = replace(problem, levels=[])
    relaxed = smoothed_dual(
        flat, select_candidates(flat, options.candidates), deadline=None
        if options.deterministic else time.monotonic() + DUAL_TIME_SHARE * options.time_limit
    ).bound
    bound = min(value, max(relaxed, -np.inf if bound is None else bound))
    gap = relative_gap(value, bound)
    route = " → ".join([lv.name + (" (kept)" if lv.keep else "") for lv in problem.levels]
                       + ["territory"])
    notes = [(f"multi-level alignment solved top-down ({route}); the bound is valid for all "
              "levels solved jointly")]
    return Solution(
        assignment=plan, status="OPTIMAL" if gap is not None and gap <= options.relative_gap
        else "FEASIBLE", objective=value, bound=bound, gap=gap,
        solve_seconds=time.monotonic() - started, engine=f"top-down ({leaf.engine})",
        log="\n".join(leaf.logs), stats={"notes": notes, "stages": stats})


class _Clock:
    """Time budgets: wall-clock time left, or (deterministic runs) the nominal time left
    after earlier budgets, so that budgets do not depend on how fast the machine is."""

    def __init__(self, options: SolveOptions):
        self.deterministic = options.deterministic
        self.deadline = time.monotonic() + options.time_limit
        self.nominal = options.time_limit

    def take(self, share: float) -> float:
        left = self.nominal if self.deterministic else self.deadline - time.monotonic()
        budget = max(share * left, 1.0)
        self.nominal = max(self.nominal - budget, 0.0)
        return budget


def level_penalty(problem: AlignmentProblem, plan: np.ndarray) -> float:
    """Σ over levels of the soft-metric penalties of their groups' deviations."""
    total = 0.0
    for level in problem.levels:
        if level.keep:
            continue
        grouped = replace(problem, targets=level.group_sums(problem.targets),
                          tolerances=level.tolerances)
        total += soft_deviation_penalty(grouped, level.group_sums(loads(problem, plan)))
    return total


@dataclass
class _Stage:
    solved: int                  # blocks this stage split or solved
    searched: bool               # an engine chose for some block (nothing was forced)
    blocks: list[Block]          # the blocks it hands to the next stage
    plan: np.ndarray             # (n,) global leaf index (leaf stage) or group index
    moved: float                 # move weight spent by this stage
    bound: float | None          # Σ block bounds, given the stages above (None if one has none)
    engine: str
    seconds: float
    logs: list[str]

    def summary(self, name: str) -> dict:
        return {"level": name, "blocks": self.solved, "moved_weight": self.moved,
                "conditional_bound": self.bound, "seconds": round(self.seconds, 3)}


def _run_stage(problem: AlignmentProblem, blocks: list[Block], options: SolveOptions,
               time_budget: float, move_budget: float | None, solve_one,
               level: Level | None) -> _Stage:
    began = time.monotonic()
    plan = np.full(problem.n_items, -1)
    next_blocks: list[Block] = []
    spent, bound, engine, logs, searched = 0.0, 0.0, "", [], False
    size_left = float(sum(len(b.items) * len(b.leaves) for b in blocks))
    weight_left = float(sum(problem.move_weight[b.items].sum() for b in blocks))
    for block in blocks:
        size = float(len(block.items) * len(block.leaves))
        weight = float(problem.move_weight[block.items].sum())
        seconds = max((began + time_budget - time.monotonic()) * size / max(size_left, 1.0), 1.0)
        cap = None if move_budget is None else \
            (move_budget - spent) * weight / max(weight_left, 1e-12)
        size_left -= size
        weight_left -= weight
        if level is None:
            sub, columns = restrict(problem, block.items, block.leaves, cap), block.leaves
        else:
            groups = np.unique(level.group_of[block.leaves])
            if len(groups) == 1:  # nothing to choose at this level inside the block
                plan[block.items] = groups[0]
                next_blocks.append(block)
                continue
            sub, columns = aggregate(problem, level, block, cap, level.keep)
        if level is not None and level.keep and (sub.locked >= 0).all():
            solution = Solution(sub.locked.copy(), "OPTIMAL", None, None, None, 0.0, "kept")
        else:
            solution = _solve_block(sub, options, seconds, solve_one,
                                    level.name if level else "territory", block, problem)
            searched = True
        chosen = columns[solution.assignment]
        plan[block.items] = chosen
        spent += moved_weight(sub, solution.assignment)
        bound = None if bound is None or solution.bound is None else bound + solution.bound
        engine = solution.engine
        logs.append(solution.log)
        if level is not None:
            leaf_group = level.group_of
            for group in columns:
                members = block.items[chosen == group]
                next_blocks.append(Block(members, block.leaves[leaf_group[block.leaves] == group]))
    return _Stage(len(blocks), searched, next_blocks, plan, spent, bound, engine,
                  time.monotonic() - began, logs)


def _solve_block(sub: AlignmentProblem, options: SolveOptions, seconds: float, solve_one,
                 level_name: str, block: Block, problem: AlignmentProblem) -> Solution:
    """One block with the single-level engines. Upper stages use the heuristic path; a block
    whose exact solve ends without a plan (small contiguous blocks go to the exact MIP) is
    re-solved once by the heuristic engine with a quarter of its time (at least
    ``RETRY_MIN_SECONDS``)."""
    progress = options.progress
    upper = level_name != "territory" and options.engine == "auto"
    staged = replace(options, time_limit=seconds, engine="local" if upper else options.engine,
                     progress=None if progress is None else
                     (lambda info: progress({**info, "stage": level_name})))
    try:
        try:
            return solve_one(sub, staged)
        except NoSolutionError:
            if staged.engine == "local":
                raise
            solution = solve_one(sub, replace(staged, engine="local", time_limit=max(
                seconds / 4, RETRY_MIN_SECONDS)))
            solution.stats.setdefault("notes", []).append(
                f"{level_name} block: the exact engine found no plan in {seconds:.0f} s; "
                "the heuristic engine's plan is used")
            return solution
    except InfeasibleError as error:
        where = ", ".join(problem.territory_ids[t] for t in block.leaves[:6])
        more = " …" if len(block.leaves) > 6 else ""
        advice = ("the levels above were fixed first (kept boundaries, or an earlier stage's "
                  "plan); loosen their tolerances or this level's, drop keep_boundaries, or "
                  "raise max_moved_share")
        raise InfeasibleError([f"top-down stage '{level_name}' (territories {where}{more}): "
                               f"{reason}" for reason in error.reasons] + [advice]) from None


def _whole_cap_bound(problem: AlignmentProblem, level: Level, block: Block,
                     options: SolveOptions, stage_time: float, solve_one) -> float | None:
    """Bound of the first solved stage with the whole move cap (a relaxation of the joint
    problem); None when that solve ends without one."""
    aggregated, _ = aggregate(problem, level, block, problem.max_moved, level.keep)
    try:
        return _solve_block(aggregated, replace(options, progress=None),
                            BOUND_TIME_SHARE * stage_time, solve_one, level.name, block,
                            problem).bound
    except NoSolutionError:  # no plan in time: the trivial bound stands
        return None


def _mapped(index: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``table[index]`` where index ≥ 0, else -1 (index -1 means none)."""
    out = np.full(len(index), -1)
    known = index >= 0
    out[known] = table[index[known]]
    return out


def _local_edges(edges: np.ndarray | None, position: np.ndarray) -> np.ndarray | None:
    if edges is None:
        return None
    a, b = position[edges[:, 0]], position[edges[:, 1]]
    keep = (a >= 0) & (b >= 0)
    return np.column_stack([a[keep], b[keep]])


def _local_centres(problem: AlignmentProblem, items: np.ndarray, leaves: np.ndarray,
                   position: np.ndarray) -> np.ndarray:
    """Each leaf's centre item inside ``items``: its own when present, else the nearest
    unused one not locked to another territory."""
    centres = np.full(len(leaves), -1)
    own = problem.center_items[leaves] if problem.center_items is not None else \
        np.full(len(leaves), -1)
    used = set()
    for j, item in enumerate(own):
        if item >= 0 and position[item] >= 0 and position[item] not in used:
            centres[j] = position[item]
            used.add(int(position[item]))
    locked = problem.locked[items]
    for j in np.flatnonzero(centres < 0):
        order = np.argsort(problem.distance_km[items, leaves[j]], kind="stable")
        free = [int(i) for i in order if locked[i] in (-1, leaves[j])] or order.tolist()
        centres[j] = next(i for i in free if i not in used)
        used.add(int(centres[j]))
    return centres
