"""The geometry-free optimisation problem handed to the solvers.

Items are the things that move as one: account families at ``level = "account"``
(a parent and all its descendants form one item), units at ``level = "unit"``
(accounts follow their unit). All arrays are numpy; no pandas, no geometry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Level:
    """A hierarchy level above the leaf territories (e.g. district), balanced as a whole.

    Group g's total of metric m must lie within ``targets[g, m] * (1 ± tolerances[m])`` where
    the group target is the sum of its leaves' targets (hard, or penalised like the leaf
    metric when that metric is soft). ``keep``: every item with a current territory stays in
    that territory's group (existing boundaries are kept; no balance rows at this level).
    With contiguity, every group is one connected piece.
    """

    name: str
    group_ids: list[str]                # g groups
    group_of: np.ndarray                # (k,) group index of each leaf territory
    tolerances: np.ndarray              # (m,)
    keep: bool = False

    def group_sums(self, per_leaf: np.ndarray) -> np.ndarray:
        """(g, m) sums of the member leaves' rows of a (k, m) array (targets, loads)."""
        out = np.zeros((len(self.group_ids), per_leaf.shape[1]))
        np.add.at(out, self.group_of, per_leaf)
        return out


@dataclass
class AlignmentProblem:
    """Assign each of n items to exactly one of k territories.

    Balance: for every territory t and balanced metric m,
    ``lower[t, m] <= sum_i weights[i, m] * x[i, t] <= upper[t, m]`` (hard), or the
    excess beyond those bounds is penalised at ``soft_penalty[m]`` per unit of
    fractional deviation (``soft[m]``). ``lower``/``upper`` are
    ``targets * (1 -/+ tolerances)``.

    Objective: ``sum_i cost[i, assigned t]`` + ``move_penalty`` per moved account
    (+ soft-balance penalties). ``cost`` is already the compactness cost in
    consistent units: travel = weight·km, inertia = weight·km². ``distance_km`` is
    the plain item→territory-centre distance, for reporting travel.
    """

    item_ids: list[str]                 # n
    territory_ids: list[str]            # k (leaf territories)
    metric_names: list[str]             # m balanced metrics
    weights: np.ndarray                 # (n, m) item totals of each balanced metric
    targets: np.ndarray                 # (k, m) target totals
    tolerances: np.ndarray              # (m,)
    soft: np.ndarray                    # (m,) bool
    soft_penalty: np.ndarray            # (m,)
    cost: np.ndarray                    # (n, k) objective cost of item i in territory t
    distance_km: np.ndarray             # (n, k) item -> territory centre distance
    item_latlon: np.ndarray             # (n, 2) representative point (lat, lon)
    current: np.ndarray                 # (n,) int territory index, -1 = none
    locked: np.ndarray                  # (n,) int territory index, -1 = free
    move_weight: np.ndarray             # (n,) what a move of item i counts against the cap
    item_accounts: list[np.ndarray]     # per item, row indices into Dataset.accounts
    eligible: np.ndarray | None = None  # (n, k) bool; None = all allowed
    workload: np.ndarray | None = None  # (n,) workload hours, for capacity
    capacity: np.ndarray | None = None  # (k,) workload cap, NaN = none
    max_moved: float | None = None      # cap on sum(move_weight) over moved items
    move_penalty: float = 0.0           # objective cost per unit of move_weight moved
    edges: np.ndarray | None = None     # (e, 2) item index pairs adjacent (unit level)
    contiguous: bool = False
    compactness: str = "travel"         # travel | inertia | cut_edges | none
    centers: str = "reps"               # reps | free (solver picks centre items)
    center_items: np.ndarray | None = None  # (k,) item index of each fixed centre, if any
    item_distance_km: np.ndarray | None = None  # (n, n) item-item distances (free centres)
    cost_weight: np.ndarray | None = None  # (n,) compactness weight (free centres); None = weights[:, 0]
    levels: list[Level] = field(default_factory=list)  # balanced levels above leaves, top first
    notes: list[str] = field(default_factory=list)  # modelling decisions worth reporting

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_territories(self) -> int:
        return len(self.territory_ids)

    @property
    def free_centre_weight(self) -> np.ndarray:
        """(n,) weight w_i of the free-centre compactness cost w_i·d(i, centre)^p."""
        if self.cost_weight is not None:
            return np.asarray(self.cost_weight, float)
        return np.asarray(self.weights, float)[:, 0]

    @property
    def lower(self) -> np.ndarray:
        return self.targets * (1.0 - self.tolerances)

    @property
    def upper(self) -> np.ndarray:
        return self.targets * (1.0 + self.tolerances)
