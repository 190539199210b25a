"""Guardrail bounds, feasibility messages, and the two closest-allocation solvers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from territory_opt.errors import InfeasibleError, InputError
from territory_opt.quota import guardrails as gr


@st.composite
def bounded_groups(draw):
    """Groups with positive targets and bounds whose sums bracket each group's allocation."""
    groups = draw(st.integers(1, 4))
    sizes = draw(st.lists(st.integers(2, 7), min_size=groups, max_size=groups))
    group = np.repeat(np.arange(groups), sizes)
    n = len(group)
    floats = st.floats(1.0, 100.0, allow_nan=False)
    target = np.array(draw(st.lists(floats, min_size=n, max_size=n)))
    low_frac = np.array(draw(st.lists(st.floats(0.0, 1.2), min_size=n, max_size=n)))
    high_frac = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n)))
    lower = target * low_frac
    upper = np.maximum(lower, target * (0.8 + high_frac))
    position = draw(st.floats(0.05, 1.0))  # allocation > 0
    allocation = (np.bincount(group, weights=lower) * (1 - position)
                  + np.bincount(group, weights=upper) * position)
    target = target * (allocation / np.bincount(group, weights=target))[group]
    return target, lower, upper, group, allocation


@settings(max_examples=150, deadline=None)
@given(case=bounded_groups())
def test_water_fill_meets_bounds_sum_and_kkt(case):
    target, lower, upper, group, allocation = case
    q = gr.fit(target, lower, upper, group, allocation, "proportional")
    scale = 1e-7 * max(1.0, allocation.max())
    assert np.all(q >= lower - scale) and np.all(q <= upper + scale)
    assert np.allclose(np.bincount(group, weights=q), allocation, rtol=1e-9, atol=1e-7)
    # KKT of min Σ (q − t)²/t: free children share one ratio q/t per group; a child held at
    # its lower bound would want less (t·s ≤ lo), one at its upper bound more (t·s ≥ hi)
    for g in range(len(allocation)):
        m = group == g
        free = m & (q > lower + scale) & (q < upper - scale)
        if not free.any():
            continue
        ratios = q[free] / target[free]
        s = ratios.mean()
        assert np.allclose(ratios, s, rtol=1e-6)
        pinned = upper - lower <= scale  # lower = upper: any multiplier is fine
        at_low = m & ~free & ~pinned & (np.abs(q - lower) <= scale)
        at_high = m & ~free & ~pinned & ~at_low
        slack = 2 * scale + 1e-6 * (1 + np.abs(q))
        assert np.all(target[at_low] * s <= lower[at_low] + slack[at_low])
        assert np.all(target[at_high] * s >= upper[at_high] - slack[at_high])


@settings(max_examples=40, deadline=None)
@given(case=bounded_groups())
def test_l1_lp_is_feasible_and_no_worse_than_water_fill_on_its_own_objective(case):
    target, lower, upper, group, allocation = case
    l1 = gr.fit(target, lower, upper, group, allocation, "l1")
    wf = gr.fit(target, lower, upper, group, allocation, "proportional")
    tol = 1e-6 * max(1.0, allocation.max())
    assert np.all(l1 >= lower - tol) and np.all(l1 <= upper + tol)
    assert np.allclose(np.bincount(group, weights=l1), allocation, rtol=1e-7, atol=1e-5)

    def l1_cost(q):
        return np.sum(np.abs(q - target) / target)

    def l2_cost(q):
        return np.sum((q - target) ** 2 / target)

    assert l1_cost(l1) <= l1_cost(wf) + 1e-6 * (1 + l1_cost(wf))
    assert l2_cost(wf) <= l2_cost(l1) + 1e-6 * (1 + l2_cost(l1))


def test_targets_inside_bounds_are_kept():
    target = np.array([10.0, 20.0, 30.0])
    q = gr.fit(target, np.zeros(3), np.full(3, np.inf), np.zeros(3, dtype=int), np.array([60.0]))
    assert q.tolist() == target.tolist()


def test_capped_child_passes_the_excess_to_siblings_in_proportion():
    q = gr.fit(np.array([50.0, 30.0, 20.0]), np.zeros(3), np.array([40.0, np.inf, np.inf]),
               np.zeros(3, dtype=int), np.array([100.0]))
    assert q == pytest.approx([40.0, 36.0, 24.0])


def test_resolve_bounds_layers_defaults_levels_and_nodes():
    ids = np.array(["D1", "T1", "T2"], dtype=object)
    levels = np.array(["district", "territory", "territory"], dtype=object)
    potential = np.array([300.0, 100.0, 0.0])
    sales = np.array([200.0, 100.0, 100.0])
    rails = {"max_growth": 0.2, "territory": {"max_growth": 0.1, "max_to_potential": 1.05},
             "nodes": {"T2": {"floor": 90.0}}}
    b = gr.resolve_bounds(ids, levels, potential, sales, rails, set(levels))
    assert b.upper.tolist() == pytest.approx([240.0, 105.0, 110.0])
    assert b.upper_reason.tolist() == ["max_growth", "max_to_potential", "max_growth"]
    assert b.lower.tolist() == [0.0, 0.0, 90.0] and b.lower_reason[2] == "floor"


def test_growth_bounds_skip_nodes_without_history():
    b = gr.resolve_bounds(np.array(["T1"], dtype=object), np.array(["territory"], dtype=object),
                          np.array([10.0]), np.array([0.0]), {"max_growth": 0.1}, {"territory"})
    assert np.isinf(b.upper[0])


def test_unknown_level_or_node_is_an_input_error():
    with pytest.raises(InputError, match="distrct"):
        gr.resolve_bounds(np.array(["T1"], dtype=object), np.array(["territory"], dtype=object),
                          np.array([1.0]), np.array([1.0]), {"distrct": {"cap": 1}}, {"territory"})
    with pytest.raises(InputError, match="T9"):
        gr.resolve_bounds(np.array(["T1"], dtype=object), np.array(["territory"], dtype=object),
                          np.array([1.0]), np.array([1.0]), {"nodes": {"T9": {"cap": 1}}},
                          {"territory"})


def test_infeasible_sum_names_parent_bounds_and_amounts():
    settings_ = {"min_growth": np.full(2, -0.1)}
    with pytest.raises(InfeasibleError) as info:
        gr.check_feasible(
            parent_label=np.array(["district D3"]), child_label=np.array(["territory T1", "T2"]),
            groups=np.array([0, 0]), allocation=np.array([38.0e6]),
            allocation_text=np.array(["D3's quota × 1.05"]), lower=np.array([20.6e6, 20.6e6]),
            upper=np.full(2, np.inf), lower_reason=np.array(["min_growth", "min_growth"]),
            upper_reason=np.array(["", ""]), settings=settings_)
    message = str(info.value)
    assert "district D3: children's minimum quotas sum to 41.2M (min_growth -10% over sales_ly)" \
        in message
    assert "D3's quota × 1.05 is 38.0M" in message


def test_conflicting_bounds_on_one_node_name_both_guardrails():
    with pytest.raises(InfeasibleError, match=r"territory T1: floor 500 requires at least 500 but "
                                              r"cap 400 allows at most 400"):
        gr.check_feasible(
            parent_label=np.array(["district D1"]), child_label=np.array(["territory T1"]),
            groups=np.array([0]), allocation=np.array([450.0]),
            allocation_text=np.array(["D1's quota"]), lower=np.array([500.0]),
            upper=np.array([400.0]), lower_reason=np.array(["floor"]),
            upper_reason=np.array(["cap"]),
            settings={"floor": np.array([500.0]), "cap": np.array([400.0])})
