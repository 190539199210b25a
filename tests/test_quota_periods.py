"""Plan-year calendar: ramp factors, seasonality, period splits and mid-year transfers."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from territory_opt.errors import InputError
from territory_opt.quota import plan_quotas, transfer_quota
from territory_opt.quota.periods import (
    MONTHLY_COLUMNS,
    ramp_factors,
    seasonal_weights,
    split_into_periods,
)
from territory_opt.scenarios.config import QuotaConfig

JAN = date(2027, 1, 1)
QUARTERLY = [0.25, 0.5, 0.75, 1.0]


def test_ramp_by_quarter_since_start():
    starts = pd.to_datetime(["2027-04-01", "2025-01-01", None, "2026-12-01", "2028-02-01"])
    f = ramp_factors(starts, QUARTERLY, "quarter", JAN)
    assert f[0].tolist() == [0, 0, 0, 0.25, 0.25, 0.25, 0.5, 0.5, 0.5, 0.75, 0.75, 0.75]
    assert f[1].tolist() == [1.0] * 12 and f[2].tolist() == [1.0] * 12
    # started in December: Jan-Feb are months 1-2 of the first quarter, March starts the second
    assert f[3][:4].tolist() == [0.25, 0.25, 0.5, 0.5] and f[3][-1] == 1.0
    assert f[4].tolist() == [0.0] * 12  # starts after the plan year


def test_ramp_pro_rates_the_start_month_and_supports_monthly_steps():
    f = ramp_factors(pd.to_datetime(["2027-04-16"]), [0.5, 1.0], "month", JAN)[0]
    assert f[3] == pytest.approx(0.5 * 15 / 30)
    assert f[4] == 1.0 and f[:3].tolist() == [0, 0, 0]


def test_seasonal_weights_follow_monthly_sales_in_fiscal_order():
    monthly = np.array([[1.0] * 9 + [3.0] * 3, [0.0] * 12])  # Q4-heavy; second row has none
    w = seasonal_weights(monthly, 2, date(2026, 10, 1))  # fiscal year starts in October
    assert w.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert w[0][:3] == pytest.approx([3 / 18] * 3)  # October–December come first
    assert w[1] == pytest.approx(w[0])  # falls back to the pattern of all rows


@settings(max_examples=100, deadline=None)
@given(annual=st.lists(st.integers(0, 10**9), min_size=1, max_size=20),
       kind=st.sampled_from(["none", "quarter", "month"]), seed=st.integers(0, 2**16))
def test_periods_sum_exactly_to_the_annual_quota(annual, kind, seed):
    weights = np.random.default_rng(seed).uniform(0, 1, (len(annual), 12))
    weights[0] = 0.0  # a node without pattern is split evenly
    frame = split_into_periods(np.array([f"n{i}" for i in range(len(annual))]),
                               np.array(annual, dtype=np.int64), weights, 1000.0, JAN, kind)
    per_node = frame.groupby("node_id", sort=False)["quota"].sum()
    assert per_node.tolist() == [a * 1000.0 for a in annual]
    assert (frame["quota"] % 1000 == 0).all()
    assert frame.groupby("node_id").size().iat[0] == {"none": 1, "quarter": 4, "month": 12}[kind]


def test_plan_periods_use_monthly_sales_and_ramp():
    hierarchy = pd.DataFrame({"territory_id": ["C", "T1", "T2"], "parent_id": [None, "C", "C"],
                              "level": ["company", "territory", "territory"]})
    leaf = pd.DataFrame({"territory_id": ["T1", "T2"], "potential": [1.0, 1.0],
                         "sales_ly": [120.0, 120.0]})
    leaf[MONTHLY_COLUMNS] = [[10.0] * 12, [5.0] * 9 + [25.0] * 3]
    reps = pd.DataFrame({"rep_id": ["a", "b"], "territory_id": ["T1", "T2"],
                         "start_date": pd.to_datetime(["2027-07-01", None])})
    config = QuotaConfig(total=2_400_000, round_to=1000, seasonality="quarter", ramp=QUARTERLY,
                         fiscal_year_start="2027-01-01", simulation={"draws": 0})
    plan = plan_quotas(hierarchy, leaf, reps, config)
    p = plan.periods.pivot(index="node_id", columns="period", values="quota")
    assert p.loc["T2"].tolist() == [150_000, 150_000, 150_000, 750_000]  # 15:15:15:75
    assert p.loc["T1"].tolist() == [300_000] * 4
    assert p.loc["a"].tolist()[:2] == [0, 0] and p.loc["a"].iat[2] < p.loc["a"].iat[3]
    q = plan.quotas.set_index("node_id")
    assert p.sum(axis=1).to_dict() == q.loc[p.index, "quota"].to_dict()
    assert set(plan.periods["period"]) == {"FY2027-Q1", "FY2027-Q2", "FY2027-Q3", "FY2027-Q4"}


def accounts_and_quotas():
    accounts = pd.DataFrame({"account_id": ["A1", "A2", "A3", "A4"],
                             "potential": [100.0, 300.0, 50.0, 50.0]})
    old = pd.Series({"A1": "T1", "A2": "T1", "A3": "T2", "A4": "T2"})
    quotas = pd.Series({"T1": 400_000.0, "T2": 100_000.0})
    return accounts, old, quotas


def test_transfer_moves_the_remaining_pro_rated_share():
    accounts, old, quotas = accounts_and_quotas()
    new = old.copy()
    new["A2"] = "T2"
    moved = transfer_quota(accounts, old, new, quotas, "2027-07-01", fiscal_year_start=JAN)
    assert moved.moves["annual_quota"].tolist() == [300_000.0]
    assert moved.moves["transferred"].tolist() == [150_000.0]  # half the year remains
    t = moved.territories.set_index("territory_id")
    assert t.loc["T1", "quota_after"] == 250_000.0 and t.loc["T2", "quota_after"] == 250_000.0


def test_transfer_before_and_after_the_year_and_with_seasonality():
    accounts, old, quotas = accounts_and_quotas()
    new = old.replace({"T2": "T3"})
    early = transfer_quota(accounts, old, new, quotas, "2026-11-01", fiscal_year_start=JAN)
    assert early.moves["transferred"].sum() == 100_000.0
    late = transfer_quota(accounts, old, new, quotas, "2028-03-01", fiscal_year_start=JAN)
    assert late.moves["transferred"].sum() == 0.0
    q4_heavy = np.array([1.0] * 9 + [3.0] * 3)
    seasonal = transfer_quota(accounts, old, new, quotas, "2027-10-01", fiscal_year_start=JAN,
                              month_weights=q4_heavy)
    assert seasonal.moves["transferred"].sum() == 50_000.0  # Q4 carries 9 of 18 weight units


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_transfer_conserves_the_total_exactly(data):
    n = data.draw(st.integers(1, 25))
    territories = ["T1", "T2", "T3"]
    accounts = pd.DataFrame({
        "account_id": [f"A{i}" for i in range(n)],
        "potential": data.draw(st.lists(st.floats(0, 1e6), min_size=n, max_size=n)),
    })
    pick = st.lists(st.sampled_from(territories), min_size=n, max_size=n)
    old = pd.Series(data.draw(pick), index=accounts["account_id"])
    new = pd.Series(data.draw(pick), index=accounts["account_id"])
    quotas = pd.Series(data.draw(st.lists(st.floats(0, 1e8).map(lambda x: round(x, 2)),
                                          min_size=3, max_size=3)), index=territories)
    effective = data.draw(st.dates(date(2026, 12, 1), date(2028, 1, 31)))
    unit = data.draw(st.sampled_from([0.0, 1.0, 1000.0]))
    moved = transfer_quota(accounts, old, new, quotas, effective, fiscal_year_start=JAN,
                           round_to=unit)
    t = moved.territories
    scale = unit or 0.01
    before = np.rint(t["quota_before"] / scale).astype(np.int64)
    after = np.rint(t["quota_after"] / scale).astype(np.int64)
    assert before.sum() == after.sum()
    assert len(moved.moves) == int((old != new).sum())
    assert (moved.moves["remaining_share"].between(0, 1)).all()


def test_transfer_rejects_unknown_accounts():
    accounts, old, quotas = accounts_and_quotas()
    with pytest.raises(InputError, match="A4"):
        transfer_quota(accounts, old, old.drop("A4"), quotas, "2027-07-01")
