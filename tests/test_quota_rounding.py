"""Largest-remainder rounding: exact group sums, one-unit closeness, bounds where possible."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from territory_opt.quota.rounding import (
    largest_remainder,
    largest_remainder_rows,
    round_half_up,
    scale_half_up,
)

amounts = st.lists(st.one_of(st.just(0.0), st.floats(1e-3, 1e7)), min_size=1, max_size=30)


@settings(max_examples=200, deadline=None)
@given(values=amounts, unit=st.sampled_from([1.0, 0.01, 1000.0, 250.0]), extra=st.integers(-3, 3))
def test_group_sum_exact_and_each_value_within_one_unit(values, unit, extra):
    raw = np.array(values) / unit
    total = int(np.floor(raw.sum())) + 0  # any integer reachable from floors/ceils
    total = int(np.clip(total + extra, np.floor(raw).sum(), np.ceil(raw).sum()))
    scaled = raw * (total / raw.sum()) if raw.sum() > 0 else np.full(len(raw), total / len(raw))
    rounded = largest_remainder(scaled, np.zeros(len(raw), dtype=int), np.array([total]))
    assert rounded.dtype.kind == "i"
    assert rounded.sum() == total
    assert np.all(np.abs(rounded - scaled) < 1.0 + 1e-9)
    money = rounded * unit  # each value a multiple of the unit
    assert np.allclose(np.round(money / unit), money / unit)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), groups=st.integers(1, 5))
def test_integer_bounds_are_respected_when_the_continuous_values_respect_them(data, groups):
    sizes = data.draw(st.lists(st.integers(1, 8), min_size=groups, max_size=groups))
    group = np.repeat(np.arange(groups), sizes)
    lower = np.array(data.draw(st.lists(st.integers(0, 50), min_size=len(group),
                                        max_size=len(group))), dtype=float)
    width = np.array(data.draw(st.lists(st.integers(0, 50), min_size=len(group),
                                        max_size=len(group))), dtype=float)
    upper = lower + width
    position = np.array(data.draw(st.lists(st.floats(0, 1), min_size=len(group),
                                           max_size=len(group))))
    values = lower + position * width
    sums = np.bincount(group, weights=values)
    # shift each group's values inside the bounds so that the group sum is an integer
    totals = np.floor(sums).astype(np.int64)
    room = np.bincount(group, weights=values - lower)
    factor = np.where(room > 0, (room - (sums - totals)) / np.where(room > 0, room, 1), 1.0)
    values = lower + (values - lower) * factor[group]
    rounded = largest_remainder(values, group, totals, lower, upper)
    assert np.array_equal(np.bincount(group, weights=rounded).astype(np.int64), totals)
    assert np.all(rounded >= lower) and np.all(rounded <= upper)
    assert np.all(np.abs(rounded - values) < 1.0 + 1e-9)


def test_largest_fractions_get_the_extra_units():
    rounded = largest_remainder(np.array([1.2, 1.7, 2.1]), np.zeros(3, dtype=int), np.array([5]))
    assert rounded.tolist() == [1, 2, 2]


def test_lower_bound_takes_priority_over_a_larger_fraction():
    # 1.3 must round up to reach its bound 1.2 → 2; 2.7 then stays at 2
    rounded = largest_remainder(np.array([1.3, 2.7]), np.zeros(2, dtype=int), np.array([4]),
                                lower=np.array([1.2, 0.0]))
    assert rounded.tolist() == [2, 2]


def test_rows_each_sum_to_their_total():
    values = np.array([[0.5, 0.5, 1.0], [3.3, 3.3, 3.4]])
    rounded = largest_remainder_rows(values, np.array([2, 10]))
    assert rounded.sum(axis=1).tolist() == [2, 10]


def test_unreachable_total_is_an_error():
    with pytest.raises(ValueError, match="cannot round"):
        largest_remainder(np.array([1.0, 1.0]), np.zeros(2, dtype=int), np.array([5]))


def test_round_half_up_snaps_float_noise():
    assert round_half_up(np.array([0.5, 1.5, 2.4999, -0.5])).tolist() == [1, 2, 2, 0]
    assert round_half_up(np.array([114.5 * (1 + 1e-16), 1.15 * 100 - 0.5])).tolist() == [115, 115]


def test_scale_half_up_is_exact_decimal_arithmetic():
    units = np.array([12_345, 35_750_575_857, 10, 5])
    fraction = np.array([0.03, 0.0, 0.05, 0.1])  # 10 × 1.05 = 10.5 and 5 × 1.1 = 5.5 round up
    assert scale_half_up(units, fraction).tolist() == [12_715, 35_750_575_857, 11, 6]
    assert scale_half_up(np.array([99_999_999_999]), np.array([0.125])).tolist() == [
        112_499_999_999]  # 112,499,999,998.875 rounded
