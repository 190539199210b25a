"""Exhaustive search for k connected territories within bounds: a plan, or a proof that none exists.

A region R (a connected unit set that must hold m territories) picks a root u: the unit with
the fewest neighbours inside R, then the heaviest. Every territory of a plan of R that holds u
is a connected set S ∋ u inside R with loads within [lower, upper] for every hard metric; the
search enumerates each such S exactly once (grow S by its lowest frontier unit, or exclude that
unit for good). The rest R ∖ S must break into components that each hold a whole number of
territories, the numbers adding up to m − 1; each component is then solved the same way
(memoised by region and count). Pruning: growth stops at the upper bound, and a component of
R ∖ S that no frontier unit touches can never change again, so it must already hold a whole
number of territories.

With a territory ``price`` (e.g. its moment of inertia about its best member centre) the search
goes on past the first plan and returns the cheapest: each (region, count) memo then holds its
cheapest split, so the plan is optimal among all connected plans (a proof, like NONE).

The answer is exact (FOUND with a plan, or NONE) unless the deadline comes first (UNKNOWN).
Regions are Python integers used as bit sets (bit i = unit i). The running time grows
exponentially with the units per territory: on the US county instances it settles SC (46
units, k = 7: no plan) in under a second, but finds no plan for AL or KS in a minute.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import product

import numpy as np

from territory_opt.solvers import clock
from territory_opt.solvers.contiguity import Graph, territory_counts

CHECK_EVERY = 2_000   # stack pops between deadline checks
POP_VISITS = 2.5      # deterministic runs: unit visits per pop (measured: 83,000 pops/s on CO)


@dataclass
class PartitionSearch:
    """Outcome of ``search_partition``."""

    status: str                    # FOUND | NONE | UNKNOWN (deadline)
    labels: np.ndarray | None      # (n,) territory 0..k-1 per unit when FOUND
    cost: float | None             # with a price: the plan's total price (the cheapest plan)
    candidates: int                # connected territories enumerated
    regions: int                   # distinct (region, territory count) pairs examined
    seconds: float
    root: int | None = None        # the first region's root unit (the map's, if connected)
    root_options: int = 0          # connected territories within the bounds that hold it


class _Deadline(Exception):
    pass


def _bits(mask: int):
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


Split = tuple[float, list[int]]   # (total price, territories as bit sets)


class _Search:
    def __init__(self, graph: Graph, weights: np.ndarray, lower: np.ndarray,
                 upper: np.ndarray, deadline: float,
                 price: Callable[[np.ndarray], float] | None):
        self.nbr = [sum(1 << int(v) for v in nbrs) for nbrs in graph.nbrs]
        self.price = price
        self.weight = [tuple(float(x) for x in row) for row in weights]
        self.lower = [float(x) - 1e-9 for x in lower]
        self.upper = [float(x) + 1e-9 for x in upper]
        self.deadline = deadline
        self.memo: dict[tuple[int, int], Split | None] = {}
        self.candidates = 0
        self.pops = 0
        self.root: int | None = None
        self.root_options = 0

    def load(self, mask: int) -> tuple[float, ...]:
        total = [0.0] * len(self.lower)
        for i in _bits(mask):
            for m, w in enumerate(self.weight[i]):
                total[m] += w
        return tuple(total)

    def components(self, mask: int) -> list[int]:
        out = []
        while mask:
            comp = front = mask & -mask
            while front:
                reach = 0
                for i in _bits(front):
                    reach |= self.nbr[i]
                front = reach & mask & ~comp
                comp |= front
            out.append(comp)
            mask &= ~comp
        return out

    def counts(self, mask: int) -> tuple[int, int]:
        """Fewest and most territories the units of ``mask`` can form (at least one)."""
        lo, hi = territory_counts(self.load(mask), self.lower, self.upper)
        return max(lo, 1), hi

    def cost(self, mask: int) -> float:
        """One territory's price (0 without a price: any plan will do)."""
        if self.price is None:
            return 0.0
        members = np.fromiter(_bits(mask), dtype=int)
        clock.visits(len(members))  # deterministic runs: about a unit visit per member
        return self.price(members)

    def better(self, found: Split | None, best: Split | None) -> Split | None:
        return found if found is not None and (best is None or found[0] < best[0]) else best

    def split(self, comps: list[int], m: int) -> Split | None:
        """Territories for disjoint connected regions holding m territories in all (the
        cheapest, with a price), or None."""
        ranges = [self.counts(c) for c in comps]
        if any(lo > hi for lo, hi in ranges) or not (
                sum(lo for lo, _ in ranges) <= m <= sum(min(hi, m) for _, hi in ranges)):
            return None
        best = None
        for shares in product(*(range(lo, min(hi, m) + 1) for lo, hi in ranges)):
            if sum(shares) != m:
                continue
            plan: Split | None = (0.0, [])
            for comp, share in zip(comps, shares):
                part = self.region(comp, share)
                if part is None:
                    plan = None
                    break
                plan = (plan[0] + part[0], plan[1] + part[1])
            best = self.better(plan, best)
            if best is not None and self.price is None:
                break
        return best

    def fits(self, load: tuple[float, ...]) -> bool:
        return all(lo <= x <= up for x, lo, up in zip(load, self.lower, self.upper))

    def sealed_ok(self, region: int, taken: int, frontier: int) -> bool:
        """Every component of region ∖ taken out of the frontier's reach holds whole territories."""
        for comp in self.components(region & ~taken):
            if not comp & frontier:
                lo, hi = self.counts(comp)
                if lo > hi:
                    return False
        return True

    def region(self, region: int, m: int) -> Split | None:
        """Territories (bit sets) splitting the connected ``region`` into m (the cheapest, with
        a price), or None."""
        key = (region, m)
        if key in self.memo:
            return self.memo[key]
        if m == 1:
            found = (self.cost(region), [region]) if self.fits(self.load(region)) else None
            self.memo[key] = found
            return found
        root = min(_bits(region),
                   key=lambda i: ((self.nbr[i] & region).bit_count(),
                                  [-w for w in self.weight[i]]))
        first = self.root is None
        if first:
            self.root = root
        found = None
        stack = [(1 << root, self.weight[root], self.nbr[root] & region, 0)]
        while stack:
            self.pops += 1
            if self.pops % CHECK_EVERY == 0:
                clock.visits(POP_VISITS * CHECK_EVERY)
                if clock.now() >= self.deadline:
                    raise _Deadline
            taken, load, frontier, excluded = stack.pop()
            if self.fits(load):
                self.candidates += 1
                self.root_options += first
                rest = self.split(self.components(region & ~taken), m - 1)
                if rest is not None:
                    found = self.better((self.cost(taken) + rest[0], [taken] + rest[1]), found)
                    if self.price is None:
                        break
            if not frontier:
                continue
            unit = (frontier & -frontier).bit_length() - 1
            bit = 1 << unit
            if self.sealed_ok(region, taken, frontier & ~bit):
                stack.append((taken, load, frontier & ~bit, excluded | bit))
            grown = tuple(a + b for a, b in zip(load, self.weight[unit]))
            if all(x <= up for x, up in zip(grown, self.upper)):
                stack.append((taken | bit, grown,
                              (frontier | self.nbr[unit]) & region & ~(taken | bit) & ~excluded,
                              excluded))
        self.memo[key] = found
        return found


def search_partition(graph: Graph, weights: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                     k: int, seconds: float,
                     price: Callable[[np.ndarray], float] | None = None) -> PartitionSearch:
    """Split the units into k connected territories with every load in [lower, upper]: the
    first plan found, or with ``price`` (units of one territory → its cost, additive over
    territories) the cheapest of all.

    ``weights`` (n, m) hard metrics; ``lower``/``upper`` (m,) the bounds shared by all
    territories. Islands and other disconnected parts of the graph hold whole territories."""
    start = time.monotonic()
    search = _Search(graph, np.asarray(weights, float).reshape(graph.n, -1), lower, upper,
                     clock.now() + seconds, price)
    pieces = search.components((1 << graph.n) - 1)
    try:
        found = search.split(pieces, k)
        status = "NONE" if found is None else "FOUND"
    except _Deadline:
        found, status = None, "UNKNOWN"
    labels = None
    if found is not None:
        labels = np.full(graph.n, -1)
        for t, part in enumerate(found[1]):
            labels[list(_bits(part))] = t
    return PartitionSearch(status, labels, None if found is None or price is None else found[0],
                           search.candidates, len(search.memo),
                           time.monotonic() - start,
                           search.root if len(pieces) == 1 else None, search.root_options)
