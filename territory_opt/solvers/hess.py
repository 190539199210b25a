"""Exact centre-indexed MIP with an outer contiguity cut loop (MathOpt + HiGHS).

Columns c = 0..C−1 each have a root unit r_c. Binary x_ic = 1 when unit i joins column c.

* ``free`` centres (Hess 1965): one column per candidate centre j (r_j = j); x_jj opens centre j;
  Σ_j x_jj = k; x_ij ≤ x_jj; L·x_jj ≤ Σ_i w_i x_ij ≤ U·x_jj. No label symmetry. When the
  territories' bounds differ, z_jt (centre j serves territory t) picks the bounds.
* ``fixed`` centres (Zoltners & Sinha 1983): column c = territory c, rooted at its rep's unit,
  x_{r_c,c} = 1; L_c ≤ Σ_i w_i x_ic ≤ U_c.

* ``labels`` (Validi & Buchanan 2022, cut edges with free districts): column c = territory label c,
  no fixed root. Binary r_ic marks the representative of label c (its first unit in a vertex
  ordering π, population decreasing): Σ_i r_ic = 1, r_ic ≤ x_ic, x_ic ≤ Σ_{π(u)≤π(i)} r_uc, and
  when all territories share one bound the representatives are ordered, π(rep c) < π(rep c+1)
  (with D-fixing, x_ic = 0 for c > π(i), in ``allowed``). This removes the k! label symmetry (the
  partitioning orbitope, by cumulative representative counts); r is the contiguity root.

Every unit: Σ_c x_ic = 1. Objective: Σ cost_ic x_ic (+ soft-balance and move penalties), or cut
edges in the extended form of Validi & Buchanan: Σ_e Σ_c z_ec with z_uv,c ≥ x_uc − x_vc (each edge
once; a cut edge pays 1 at its tail's column). Its LP bound, ½ Σ_c |x_uc − x_vc| per edge, is at
least that of y_uv ≥ |x_uc − x_vc|.

Contiguity (LCUT, Validi, Buchanan & Lykhovyd 2022) is imposed by an outer cut loop (MathOpt's
HiGHS takes no lazy constraints): each round solves the MIP; for each component S of a territory
that misses its root, add x_ac ≤ Σ_{b∈C} x_bc for a ∈ S, with C the minimal separator of S from
the root (labels: x_ac + Σ_{b∈R} r_bc ≤ 1 + Σ_{b∈C} x_bc, R the root's side of C). The rows are
valid for every contiguous plan, so the dual bound and an infeasibility verdict are proofs.
Labels mode with cut edges also carries Validi & Buchanan's single-commodity flow rows
(``_flow_rows``), and free or fixed centres with ``root_flow`` carry Shirabe's flow from each
root (``_root_flow_rows``); either makes every plan of the first round connected. With
``flow_after_cuts`` the loop runs without flow rows until a round's optimum is disconnected,
and the rest is one MIP with them: contiguity that rarely binds costs no flow variables.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import partial

import numpy as np
from ortools.math_opt.python import mathopt

from territory_opt.solvers import clock
from territory_opt.solvers.assignment_highs import branch_and_bound_figures
from territory_opt.solvers.contiguity import Graph, components, minimal_separator


@dataclass
class ExactInstance:
    """Everything the MIP needs; arrays indexed by unit i, column c, territory t, metric m."""

    graph: Graph
    roots: np.ndarray            # (C,) root unit of each column
    allowed: np.ndarray          # (n, C) bool: pair may be used
    cost: np.ndarray             # (n, C) objective coefficient of x_ic
    mode: str                    # "free" | "fixed" | "labels"
    k: int
    weights: np.ndarray          # (n, m)
    lower: np.ndarray            # (k, m)
    upper: np.ndarray            # (k, m)
    soft: np.ndarray             # (m,) bool
    soft_penalty: np.ndarray     # (m,) objective cost per unit of fractional deviation
    targets: np.ndarray          # (k, m)
    cut_edges: bool = False
    current: np.ndarray | None = None      # fixed mode: (n,) column index of current plan, −1 none
    move_weight: np.ndarray | None = None
    move_penalty: float = 0.0
    max_moved: float | None = None
    order: np.ndarray | None = None        # labels mode: units by position in π
    ordered_labels: bool = False           # labels mode: representatives in π order
    root_flow: bool = False                # free/fixed + contiguity: SHIR flow rows a priori
    flow_after_cuts: bool = False          # contiguity: no flow rows until a round is disconnected
    neighbourhood_rows: bool = True        # contiguity: the a-priori LCUT rows with N(a), N(r_c)

    @property
    def shared_bounds(self) -> bool:
        """Every territory has the same lower and upper bounds."""
        return bool(np.all(self.lower == self.lower[0]) and np.all(self.upper == self.upper[0]))

    @property
    def integral_objective(self) -> bool:
        """Cut edges without penalty terms: every plan's objective is a whole number."""
        return self.cut_edges and not np.any(self.soft) and (
            self.current is None or self.move_penalty == 0)


@dataclass
class ExactResult:
    status: str                  # OPTIMAL | FEASIBLE | INFEASIBLE | UNKNOWN
    column_of: np.ndarray | None  # (n,) column per unit of the best contiguous plan found
    objective: float | None
    bound: float | None
    seconds: float
    log: list[str] = field(default_factory=list)
    rounds: int = 1
    cuts: int = 0


def integer_bounds(weights: np.ndarray, lower: np.ndarray, upper: np.ndarray):
    """Round bounds inward to integers for metrics whose weights are all integers.

    Loads of integer weights are integers, so this changes no feasible plan and undoes the
    floating-point noise of ``target·(1 ∓ tolerance)``.
    """
    lower, upper = lower.astype(float).copy(), upper.astype(float).copy()
    for m in range(weights.shape[1]):
        if np.all(np.abs(weights[:, m] - np.round(weights[:, m])) < 1e-9):
            lower[:, m] = np.ceil(lower[:, m] - 1e-6)
            upper[:, m] = np.floor(upper[:, m] + 1e-6)
    return lower, upper


class _Model:
    """The MathOpt model of an ExactInstance, with methods to add cuts and read plans."""

    def __init__(self, inst: ExactInstance, contiguous: bool):
        self.inst = inst
        self.model = mathopt.Model(name="districting")
        n, n_cols = inst.allowed.shape
        self.x: dict[tuple[int, int], mathopt.Variable] = {}
        for i, c in zip(*np.nonzero(inst.allowed)):
            i, c = int(i), int(c)
            self.x[i, c] = self.model.add_binary_variable(name=f"x_{i}_{c}")
        self.by_unit: list[list[tuple[int, mathopt.Variable]]] = [[] for _ in range(n)]
        self.by_col: list[list[tuple[int, mathopt.Variable]]] = [[] for _ in range(n_cols)]
        for (i, c), var in self.x.items():
            self.by_unit[i].append((c, var))
            self.by_col[c].append((i, var))
        self.r = self._representatives() if inst.mode == "labels" else {}
        for i in range(n):
            self.model.add_linear_constraint(mathopt.fast_sum(v for _, v in self.by_unit[i]) == 1)
        objective = [self._balance_rows()]
        self.cut: dict[tuple[int, int], mathopt.LinearExpression] = {}  # cut edges: u < v
        if inst.cut_edges:
            objective.append(self._cut_edge_terms())
        else:
            objective.append(mathopt.fast_sum(float(inst.cost[i, c]) * v
                                              for (i, c), v in self.x.items()))
        objective.append(self._move_terms())
        self.objective = mathopt.fast_sum(objective)
        self.model.minimize(self.objective)
        # HiGHS compares its objective_bound with the presolved objective, which leaves out any
        # offset; with no offset and no negative cost that comparison can only prune less
        self.cutoff_safe = self.model.objective.offset == 0 and all(
            term.coefficient >= 0 for term in self.model.objective.linear_terms())
        self.a_priori_rows = (self._neighbourhood_rows()
                              if contiguous and inst.neighbourhood_rows else 0)
        self.plans_connected = not contiguous  # every plan of the MIP is a valid plan
        if contiguous and inst.mode == "labels" and inst.cut_edges:
            self.a_priori_rows += self._flow_rows()
            self.plans_connected = True
        elif contiguous and inst.mode != "labels" and inst.root_flow:
            self.a_priori_rows += self._root_flow_rows()
            self.plans_connected = True

    def _representatives(self) -> dict[tuple[int, int], mathopt.Variable]:
        """Labels mode: r_ic with Σ_i r_ic = 1, r_ic ≤ x_ic and x_ic ≤ w_{π(i),c}, where
        w_pc = Σ_{q≤p} r_{π_q,c} counts label c's representatives among the first p+1 units of π;
        with ``ordered_labels`` also w_pc ≤ w_{p−1,c−1} (rep of c−1 comes before rep of c)."""
        inst, model = self.inst, self.model
        r = {key: model.add_binary_variable(name=f"r_{key[0]}_{key[1]}") for key in self.x}
        for key, var in r.items():
            model.add_linear_constraint(var - self.x[key] <= 0)
        k = len(self.by_col)
        previous: list = [0.0] * k
        for p, i in enumerate(np.asarray(inst.order).tolist()):
            current = []
            for c in range(k):
                w = model.add_variable(lb=0.0, ub=1.0, name=f"w_{p}_{c}")
                model.add_linear_constraint(w - previous[c] - r.get((i, c), 0.0) == 0)
                if (i, c) in self.x:
                    model.add_linear_constraint(self.x[i, c] - w <= 0)
                if inst.ordered_labels and c > 0:
                    model.add_linear_constraint(w - previous[c - 1] <= 0)
                current.append(w)
            previous = current
        for c in range(k):
            model.add_linear_constraint(previous[c] == 1)
        return r

    def representatives(self, column_of: np.ndarray) -> dict[int, int]:
        """Labels mode: the first unit of each label in π (the root of a connected plan)."""
        first: dict[int, int] = {}
        for i in np.asarray(self.inst.order).tolist():
            first.setdefault(int(column_of[i]), i)
        return first

    def _neighbourhood_rows(self) -> int:
        """A priori LCUT rows with the separators N(a) and N(r_c): for a ∉ N[r_c],
        x_ac ≤ Σ_{b∈N(a)} x_bc and x_ac ≤ Σ_{b∈N(r_c)} x_bc. Labels mode (roots unknown):
        x_ac ≤ r_ac + Σ_{b∈N(a)} x_bc. Returns the number of rows."""
        inst, rows = self.inst, 0
        if inst.mode == "labels":
            for (a, c), var in self.x.items():
                rhs = [self.x[b, c] for b in inst.graph.nbrs[a].tolist() if (b, c) in self.x]
                self.model.add_linear_constraint(var - self.r[a, c] - mathopt.fast_sum(rhs) <= 0)
                rows += 1
            return rows
        for c, col in enumerate(self.by_col):
            root = int(inst.roots[c])
            root_nbrs = set(inst.graph.nbrs[root].tolist())
            for a, var in col:
                if a == root or a in root_nbrs:
                    continue
                for sep in (inst.graph.nbrs[a], inst.graph.nbrs[root]):
                    rhs = [self.x[b, c] for b in sep.tolist() if (b, c) in self.x]
                    self.model.add_linear_constraint(var - mathopt.fast_sum(rhs) <= 0)
                    rows += 1
        return rows

    def _open(self, c: int):
        root = int(self.inst.roots[c])
        return self.x.get((root, c))

    def _balance_rows(self):
        inst, model = self.inst, self.model
        penalty_terms = []
        uniform = inst.shared_bounds
        if inst.mode == "free":
            opens = {c: self._open(c) for c in range(len(inst.roots))}
            opens = {c: v for c, v in opens.items() if v is not None}
            model.add_linear_constraint(mathopt.fast_sum(opens.values()) == inst.k)
            for c, col in enumerate(self.by_col):
                if c not in opens:
                    continue
                for i, v in col:
                    if i != int(inst.roots[c]):
                        model.add_linear_constraint(v <= opens[c])
            if uniform:
                lo_of = {c: inst.lower[0] * v for c, v in opens.items()}
                hi_of = {c: inst.upper[0] * v for c, v in opens.items()}
            else:
                z = {(c, t): model.add_binary_variable(name=f"z_{c}_{t}")
                     for c in opens for t in range(inst.k)}
                for c, v in opens.items():
                    model.add_linear_constraint(
                        mathopt.fast_sum(z[c, t] for t in range(inst.k)) == v)
                for t in range(inst.k):
                    model.add_linear_constraint(mathopt.fast_sum(z[c, t] for c in opens) == 1)
                lo_of = {c: [mathopt.fast_sum(inst.lower[t, m] * z[c, t] for t in range(inst.k))
                             for m in range(inst.weights.shape[1])] for c in opens}
                hi_of = {c: [mathopt.fast_sum(inst.upper[t, m] * z[c, t] for t in range(inst.k))
                             for m in range(inst.weights.shape[1])] for c in opens}
            columns = list(opens)
        else:
            columns = list(range(len(self.by_col)))
            lo_of = {c: inst.lower[c] for c in columns}
            hi_of = {c: inst.upper[c] for c in columns}
            for c in columns:
                root_var = self._open(c) if inst.mode == "fixed" else None
                if root_var is not None:
                    root_var.lower_bound = 1.0
        for c in columns:
            for m in range(inst.weights.shape[1]):
                load = mathopt.fast_sum(float(inst.weights[i, m]) * v
                                        for i, v in self.by_col[c] if inst.weights[i, m] != 0)
                if not inst.soft[m]:
                    model.add_linear_constraint(load - lo_of[c][m] >= 0)
                    model.add_linear_constraint(load - hi_of[c][m] <= 0)
                    continue
                over = model.add_variable(lb=0.0, name=f"over_{c}_{m}")
                under = model.add_variable(lb=0.0, name=f"under_{c}_{m}")
                model.add_linear_constraint(load - hi_of[c][m] - over <= 0)
                model.add_linear_constraint(load - lo_of[c][m] + under >= 0)
                # a fraction of the column's territory's target (free centres: all alike, or
                # their mean when territories differ, as a centre's territory is a variable)
                target = inst.targets[c, m] if inst.mode != "free" else np.mean(inst.targets[:, m])
                scale = float(inst.soft_penalty[m]) / max(float(target), 1e-9)
                penalty_terms.append(scale * (over + under))
        return mathopt.fast_sum(penalty_terms)

    def _cut_edge_terms(self):
        """Σ_{u<v adjacent} Σ_c z_uv,c with binary z_uv,c ≥ x_uc − x_vc (extended objective)."""
        inst, model = self.inst, self.model
        for u, nbrs in enumerate(inst.graph.nbrs):
            for v in nbrs[nbrs > u].tolist():
                terms = []
                for c in range(inst.allowed.shape[1]):
                    xu = self.x.get((u, c))
                    if xu is None:
                        continue
                    z = model.add_binary_variable(name=f"z_{u}_{v}_{c}")
                    xv = self.x.get((v, c))
                    model.add_linear_constraint(z - xu + (xv if xv is not None else 0.0) >= 0)
                    terms.append(z)
                self.cut[u, v] = mathopt.fast_sum(terms)
        return mathopt.fast_sum(self.cut.values())

    def _flow_rows(self) -> int:
        """Labels mode, single-commodity flow (Validi & Buchanan's SCF): arcs carry f ≥ 0 only
        along uncut edges, f_uv + f_vu ≤ (M−1)(1 − cut_uv), and every unit that is no label's
        representative absorbs one unit, Σ_u (f_uv − f_vu) ≥ 1 − M Σ_c r_vc. M = the most units
        a territory can hold within the upper bound. Each territory then has one representative
        and a path of its own units from every member to it. Returns the number of rows."""
        inst, model = self.inst, self.model
        most = self._most_units()
        flow = {}
        for (u, v), cut in self.cut.items():
            flow[u, v] = model.add_variable(lb=0.0, name=f"f_{u}_{v}")
            flow[v, u] = model.add_variable(lb=0.0, name=f"f_{v}_{u}")
            model.add_linear_constraint(flow[u, v] + flow[v, u] + (most - 1) * cut <= most - 1)
        for v in range(inst.graph.n):
            net_in = mathopt.fast_sum(flow[u, v] - flow[v, u] for u in inst.graph.nbrs[v].tolist())
            roots = mathopt.fast_sum(var for (i, _), var in self.r.items() if i == v)
            model.add_linear_constraint(net_in + most * roots >= 1)
        return len(self.cut) + inst.graph.n

    def _root_flow_rows(self) -> int:
        """Free and fixed centres, Shirabe's flow (SHIR): column c ships one unit of its own
        commodity from its root to every member, on arcs between units that may join c:
        Σ_u (f_uic − f_iuc) = x_ic and Σ_u f_uic ≤ (M_c − 1)·x_ic for i ≠ r_c, nothing enters
        r_c. M_c = the most units column c can hold. Every plan of the MIP is then connected,
        so the cut loop needs one round. Returns the number of rows."""
        inst, model, rows = self.inst, self.model, 0
        most = self._most_units()
        for c, col in enumerate(self.by_col):
            root = int(inst.roots[c])
            members = dict(col)
            if root not in members:
                continue
            cap = min(most, len(members)) - 1
            inflow = {i: [] for i in members}
            outflow = {i: [] for i in members}
            for u in members:
                for v in inst.graph.nbrs[u].tolist():
                    if v in members and v != root:
                        f = model.add_variable(lb=0.0, ub=float(cap), name=f"g_{u}_{v}_{c}")
                        outflow[u].append(f)
                        inflow[v].append(f)
            for i, var in members.items():
                if i == root:
                    continue
                into = mathopt.fast_sum(inflow[i])
                model.add_linear_constraint(into - mathopt.fast_sum(outflow[i]) - var == 0)
                model.add_linear_constraint(into - cap * var <= 0)
                rows += 2
        return rows

    def _most_units(self) -> int:
        """The most units one territory can hold within the hard upper bounds."""
        inst, most = self.inst, self.inst.graph.n
        for m in np.flatnonzero(~inst.soft):
            cumulative = np.cumsum(np.sort(np.maximum(inst.weights[:, m], 0.0)))
            most = min(most, int(np.sum(cumulative <= inst.upper[:, m].max() + 1e-9)))
        return most

    def _move_terms(self):
        inst = self.inst
        if inst.mode != "fixed" or inst.current is None:
            return mathopt.fast_sum([])
        stays = [(float(inst.move_weight[i]), self.x.get((i, int(c))))
                 for i, c in enumerate(inst.current) if c >= 0]
        moved = mathopt.fast_sum(w * (1 - v) if v is not None else w for w, v in stays)
        if inst.max_moved is not None:
            self.model.add_linear_constraint(moved <= float(inst.max_moved))
        return inst.move_penalty * moved

    def add_contiguity_cuts(self, column_of: np.ndarray) -> int:
        """Add LCUT rows x_aj ≤ Σ_{b∈C} x_bj for every component S of a territory that misses its
        root: a ∈ S, C the minimal separator of S from the root, and j every candidate root on
        the root's side of C (all valid; the territory's own column is the violated one).
        Returns the number of rows added."""
        if self.inst.mode == "labels":
            return self._label_contiguity_cuts(column_of)
        inst, added = self.inst, 0
        root_column = {int(r): c for c, r in enumerate(inst.roots)}
        for c in np.unique(column_of):
            members = np.flatnonzero(column_of == c)
            root = int(inst.roots[c])
            for comp in components(inst.graph, members):
                if root in comp:
                    continue
                sep, side = minimal_separator(inst.graph, comp, root)
                targets = [root_column[r] for r in side if r in root_column]
                for j in targets:
                    rhs = mathopt.fast_sum(self.x[b, j] for b in sep if (b, j) in self.x)
                    for a in comp:
                        if (a, j) in self.x:
                            self.model.add_linear_constraint(self.x[a, j] - rhs <= 0)
                            added += 1
        return added

    def _label_contiguity_cuts(self, column_of: np.ndarray) -> int:
        """Labels mode: for each component S of label c that misses c's representative ρ, with
        C, R = the minimal separator of S from ρ and ρ's side, add for every label j and a ∈ S:
        x_aj + Σ_{b∈R} r_bj ≤ 1 + Σ_{b∈C} x_bj (a unit of S joins j only if j's representative
        lies beyond C or j crosses C). Returns the number of rows added."""
        inst, added = self.inst, 0
        for c, root in self.representatives(column_of).items():
            for comp in components(inst.graph, np.flatnonzero(column_of == c)):
                if root in comp:
                    continue
                sep, side = minimal_separator(inst.graph, comp, root)
                for j in range(len(self.by_col)):
                    crossing = mathopt.fast_sum(self.x[b, j] for b in sep if (b, j) in self.x)
                    rooted = mathopt.fast_sum(self.r[b, j] for b in side if (b, j) in self.r)
                    for a in comp:
                        if (a, j) in self.x:
                            self.model.add_linear_constraint(
                                self.x[a, j] + rooted - crossing <= 1)
                            added += 1
        return added

    def reduced_cost_fixing(self, cutoff: float, seconds: float) -> tuple[int, float | None]:
        """LP reduced-cost fixing: x = 0 in the LP optimum and LP + reduced cost > cutoff ⇒ x = 0
        in every plan better than ``cutoff``. Returns (number fixed, LP bound)."""
        variables = [var for var in self.model.variables() if var.integer]
        if not clock.fits(len(variables), seconds):
            return 0, None
        for var in variables:
            var.integer = False
        try:
            params = highs_parameters(seconds)
            result = clock.wait_for(partial(mathopt.solve, self.model, mathopt.SolverType.HIGHS,
                                            params=params),
                                    limit=params.time_limit.total_seconds())
        except (AttributeError, RuntimeError):  # a failed LP only means no fixing
            result = None
        else:
            charge(result, len(variables))
        for var in variables:
            var.integer = True
        if result is None:
            return 0, None
        if result.termination.reason != mathopt.TerminationReason.OPTIMAL:
            return 0, None
        lp = float(result.objective_value())
        if not result.has_dual_feasible_solution():  # HiGHS may return no duals: no fixing
            return 0, lp
        values, reduced = result.variable_values(), result.reduced_costs()
        fixed = 0
        for var in variables:
            if var.upper_bound > 0 and values[var] < 1e-9 and lp + reduced[var] > cutoff + 1e-6:
                var.upper_bound = 0.0
                fixed += 1
        return fixed, lp

    def hint(self, column_of: np.ndarray) -> mathopt.ModelSolveParameters:
        values = {var: float(column_of[i] == c) for (i, c), var in self.x.items()}
        if self.r:
            reps = self.representatives(column_of)
            values.update({var: float(reps.get(c) == i) for (i, c), var in self.r.items()})
        return mathopt.ModelSolveParameters(
            solution_hints=[mathopt.SolutionHint(variable_values=values)])

    def column_of(self, values) -> np.ndarray:
        column_of = np.full(len(self.by_unit), -1)
        for (i, c), var in self.x.items():
            if values[var] > 0.5:
                column_of[i] = c
        return column_of


def highs_parameters(seconds: float, model: mathopt.Model | None = None,
                     relative_gap: float | None = None) -> mathopt.SolveParameters:
    """HiGHS parameters for a budget of ``seconds`` on the run's clock: a time limit, or in a
    deterministic run a node limit for the MIP ``model`` (an LP, ``model`` None: a simplex
    iteration limit) under the wall-clock safety limit."""
    params = mathopt.SolveParameters(enable_output=False, relative_gap_tolerance=relative_gap)
    run = clock.current()
    if run.deterministic:
        params.time_limit = timedelta(seconds=run.wall_left())
        if model is not None:
            params.node_limit = clock.node_limit(
                seconds, model.get_num_variables() + model.get_num_linear_constraints())
        else:
            params.iteration_limit = max(1, int(seconds * clock.ITERATIONS_PER_SECOND))
    else:
        params.time_limit = timedelta(seconds=max(0.05, seconds))
    return params


def charge(result: mathopt.SolveResult, variables: int) -> None:
    """Count a HiGHS solve's work on the run's clock by its simplex iterations (at least one
    per variable); flag a deterministic run stopped by its safety limit."""
    run = clock.current()
    if not run.deterministic:
        return
    iterations = max(result.solve_stats.simplex_iterations, variables)
    run.spend(iterations / clock.ITERATIONS_PER_SECOND)
    if result.termination.limit == mathopt.Limit.TIME:
        run.safety_hit = True


def solve_exact(inst: ExactInstance, contiguous: bool, time_limit: float, relative_gap: float,
                progress=None, incumbent: tuple[np.ndarray, float] | None = None) -> ExactResult:
    """Solve the MIP by HiGHS (MathOpt), adding LCUT rows until the optimum is connected.

    Each round's MIP relaxes the contiguous problem: its dual bound is valid, its infeasibility is
    a proof, and a connected optimum is optimal. ``incumbent`` (column_of, objective), a known
    contiguous plan, and later the best connected plan found, is the fallback, the cutoff for LP
    reduced-cost fixing, and each round's hint and HiGHS ``objective_bound`` (nodes that cannot
    beat it are pruned; an objective row instead would make the hint infeasible and send HiGHS
    into its primal heuristics). Without a plan, the previous round's plan is the hint.
    ``time_limit`` is in seconds of the run's clock (work seconds when deterministic); a
    deterministic run that cannot fit the model and its root LP (``clock.fits``) keeps the
    incumbent, with bound 0. With ``inst.flow_after_cuts``, the first disconnected optimum hands
    the rest of the time to the same MIP with Shirabe's flow rows (``root_flow``).
    """
    start, wall_start = clock.now(), time.monotonic()
    pairs = int(inst.allowed.sum())
    if not clock.fits(pairs, time_limit, building=True):  # keep the incumbent
        log = [(f"model not built: {pairs} assignment variables and their root LP do not fit "
                f"in {time_limit:.2f} work seconds")]
        found = incumbent is not None
        return ExactResult("FEASIBLE" if found else "UNKNOWN", incumbent[0] if found else None,
                           incumbent[1] if found else None, 0.0 if found else None,
                           time.monotonic() - wall_start, log, rounds=0)
    model = _Model(inst, contiguous)
    clock.built(model.model.get_num_variables(), model.model.get_num_linear_constraints())
    log = [(f"model: {len(model.x)} assignment variables, {len(inst.roots)} columns, "
            f"{model.a_priori_rows} a-priori contiguity rows")]
    bound, best_plan, best_obj, rounds, cuts, hint = None, None, None, 0, 0, None
    status = "UNKNOWN"
    integral = inst.integral_objective  # whole cut-edge counts: bounds round up

    def raise_bound(value: float) -> None:
        nonlocal bound
        if np.isfinite(value):
            value = float(np.ceil(value - 1e-6)) if integral else float(value)
            bound = value if bound is None else max(bound, value)

    if incumbent is not None:
        best_plan, best_obj = incumbent
        status = "FEASIBLE"
    while True:
        remaining = time_limit - (clock.now() - start)
        if not remaining > 0.05:  # also NaN: the clock stopped at +inf (Ctrl-C)
            break
        if best_obj is not None:
            fixed, lp = model.reduced_cost_fixing(best_obj, 0.5 * remaining)
            if lp is not None:  # the LP is a relaxation: a valid bound (capped by the incumbent)
                raise_bound(lp)
            log.append(f"round {rounds + 1}: incumbent {best_obj:.10g}, LP {lp}, "
                       f"reduced-cost fixing removed {fixed} pairs")
        remaining = time_limit - (clock.now() - start)
        if not remaining > 0.05:  # also NaN: the clock stopped at +inf (Ctrl-C)
            break
        if not clock.fits(len(model.x), remaining):
            log.append(f"round {rounds + 1}: the MIP's root LP would not fit in the "
                       f"{remaining:.2f} work seconds left")
            break
        # HiGHS can overrun its limit in the root phase (KS, 11k binaries: 5 s over 45 s)
        params = highs_parameters(0.9 * remaining, model.model, relative_gap)
        cutoff = best_obj if model.cutoff_safe else None
        if cutoff is not None:
            params.highs.double_options["objective_bound"] = cutoff
        hint = best_plan if best_plan is not None else hint
        read_log = None if progress is None else partial(
            _report_log, progress, wall_start, best_obj, bound, cutoff, model.plans_connected)
        try:
            hinted = model.hint(hint) if hint is not None else None
            result = clock.wait_for(partial(mathopt.solve, model.model, mathopt.SolverType.HIGHS,
                                            params=params, model_params=hinted,
                                            msg_cb=read_log),
                                    limit=params.time_limit.total_seconds())
        except (AttributeError, RuntimeError) as err:  # MathOpt hides the message in __context__
            log.append(f"round {rounds + 1}: HiGHS failed ({err.__context__ or err}); stopping")
            break
        charge(result, len(model.x))
        rounds += 1
        reason = result.termination.reason
        infeasible = reason in (mathopt.TerminationReason.INFEASIBLE,
                                mathopt.TerminationReason.INFEASIBLE_OR_UNBOUNDED)
        if infeasible and cutoff is not None:
            log.append(f"round {rounds}: nothing better than the incumbent (objective bound)")
            status = "OPTIMAL"
            raise_bound(cutoff)
            break
        if infeasible:
            log.append(f"round {rounds}: infeasible after {cuts} cuts")
            return ExactResult("INFEASIBLE", None, None, None, time.monotonic() - wall_start, log,
                               rounds, cuts)
        # HiGHS reports its incumbent as the dual bound when the cutoff empties the tree, so
        # with a cutoff only min(dual, cutoff) is proved
        dual = result.termination.objective_bounds.dual_bound
        raise_bound(dual if cutoff is None else min(dual, cutoff))
        if not result.has_primal_feasible_solution():
            log.append(f"round {rounds}: no plan ({reason.name})")
            break
        plan, objective = model.column_of(result.variable_values()), float(result.objective_value())
        if integral:  # whole cut-edge counts, without the MIP tolerance noise
            objective = float(round(objective))
        proved = reason == mathopt.TerminationReason.OPTIMAL
        if not contiguous or plan_is_contiguous(inst.graph, plan):
            if best_obj is None or objective < best_obj:
                best_plan, best_obj = plan, objective
            status = "OPTIMAL" if proved else "FEASIBLE"
            break
        if proved and best_obj is not None and bound is not None \
                and bound >= best_obj * (1 - relative_gap) - 1e-9:
            log.append(f"round {rounds}: the relaxation's bound proves the incumbent")
            status = "OPTIMAL"
            break
        if inst.flow_after_cuts and proved:
            log.append(f"round {rounds}: disconnected; the rest with flow rows")
            rest = solve_exact(replace(inst, root_flow=True, flow_after_cuts=False), contiguous,
                               time_limit - (clock.now() - start), relative_gap, progress,
                               None if best_obj is None else (best_plan, best_obj))
            log.extend(rest.log)
            if rest.status == "INFEASIBLE":
                return replace(rest, seconds=time.monotonic() - wall_start,
                               rounds=rounds + rest.rounds, cuts=cuts, log=log)
            if rest.bound is not None:
                raise_bound(rest.bound)
            if rest.objective is not None:
                best_plan, best_obj, status = rest.column_of, rest.objective, rest.status
            rounds += rest.rounds
            break
        added = model.add_contiguity_cuts(plan)
        cuts += added
        hint = plan
        if progress is not None:
            progress({"objective": None, "bound": bound,
                      "seconds": time.monotonic() - wall_start})
        if not proved:
            log.append(f"round {rounds}: time limit inside a round")
            break
    seconds = time.monotonic() - wall_start
    log.append(f"{rounds} HiGHS rounds, {cuts} LCUT rows, {seconds:.2f} s")
    if best_obj is not None:
        bound = 0.0 if bound is None else min(bound, best_obj)
    return ExactResult(status, best_plan, best_obj, bound, seconds, log, rounds, cuts)


def _report_log(progress, wall_start: float, incumbent: float | None, bound: float | None,
                cutoff: float | None, plans_connected: bool, lines: list[str]) -> None:
    """``progress`` with HiGHS's figures from its MIP log: its bound (valid: the round's MIP
    relaxes the problem; with a cutoff only up to it) and its incumbent when every MIP plan
    is a valid plan, else the best plan known before the round."""
    for live_bound, live_best in filter(None, map(branch_and_bound_figures, lines)):
        if cutoff is not None:
            live_bound = min(live_bound, cutoff)
        bounds = [b for b in (bound, live_bound) if b is not None and np.isfinite(b)]
        plans = [v for v in (incumbent, live_best if plans_connected else None)
                 if v is not None and np.isfinite(v)]
        progress({"objective": min(plans) if plans else None,
                  "bound": max(bounds) if bounds else None,
                  "seconds": time.monotonic() - wall_start})


def plan_is_contiguous(graph: Graph, column_of: np.ndarray) -> bool:
    return all(len(components(graph, np.flatnonzero(column_of == c))) == 1
               for c in np.unique(column_of))
