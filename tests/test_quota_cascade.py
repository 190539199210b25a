"""plan_quotas: reconciliation, methods, bottom-up, guardrails, vacancies, errors.

Every property is checked from the output frame against the inputs and the config, not
against the plan's own reconciliation dict.
"""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from territory_opt.errors import InfeasibleError, InputError
from territory_opt.quota import plan_quotas
from territory_opt.scenarios.config import QuotaConfig

LEVELS = ("region", "district", "territory")


def small_tree():
    """C → R1 (D1: T1 T2, D2: T3 T4), R2 (D3: T5 T6); reps a..f; T4 and T6 vacant."""
    hierarchy = pd.DataFrame({
        "territory_id": ["C", "R1", "R2", "D1", "D2", "D3", "T1", "T2", "T3", "T4", "T5", "T6"],
        "parent_id": [None, "C", "C", "R1", "R1", "R2", "D1", "D1", "D2", "D2", "D3", "D3"],
        "level": ["company", "region", "region", "district", "district", "district",
                  *["territory"] * 6],
        "name": [f"n{i}" for i in range(12)],
    })
    leaf = pd.DataFrame({
        "territory_id": ["T1", "T2", "T3", "T4", "T5", "T6"],
        "potential": [1000.0, 2000.0, 1500.0, 500.0, 800.0, 1200.0],
        "sales_ly": [600.0, 1100.0, 900.0, 200.0, 700.0, 500.0],
        "accounts": [10.0, 30.0, 20.0, 5.0, 8.0, 12.0],
    })
    reps = pd.DataFrame({
        "rep_id": ["a", "b", "c", "d", "e", "f"],
        "territory_id": ["T1", "T2", "T2", "T3", "T5", "T5"],
        "fte": [1.0, 1.0, 0.5, 1.0, 1.0, 1.0],
        "start_date": pd.to_datetime([None, None, None, None, None, None]),
    })
    return hierarchy, leaf, reps


def rows(plan, level):
    q = plan.quotas
    return q[q["level"] == level].set_index("node_id")


def units(values, unit):
    return np.rint(np.asarray(values, dtype=float) / unit).astype(np.int64)


@st.composite
def scenarios(draw):
    """A random 4-level hierarchy with reps, metrics and a quota config (no guardrails)."""
    hier = [("C", None, "company")]
    leaves = []
    for r in range(draw(st.integers(1, 3))):
        hier.append((f"R{r}", "C", "region"))
        for d in range(draw(st.integers(1, 3))):
            hier.append((f"D{r}{d}", f"R{r}", "district"))
            for t in range(draw(st.integers(1, 4))):
                leaves.append(f"T{r}{d}{t}")
                hier.append((leaves[-1], f"D{r}{d}", "territory"))
    hierarchy = pd.DataFrame(hier, columns=["territory_id", "parent_id", "level"])
    n = len(leaves)
    money = st.floats(0, 1e6, allow_nan=False).map(lambda x: round(x, 2))
    leaf = pd.DataFrame({
        "territory_id": leaves,
        "potential": draw(st.lists(money, min_size=n, max_size=n)),
        "sales_ly": draw(st.lists(money, min_size=n, max_size=n)),
    })
    rep_rows = []
    for t in leaves:
        for k in range(draw(st.integers(0, 2))):
            start = draw(st.sampled_from([None, "2026-03-01", "2027-02-10", "2027-08-01"]))
            rep_rows.append((f"{t}-r{k}", t, draw(st.sampled_from([0.5, 1.0])), start))
    reps = pd.DataFrame(rep_rows, columns=["rep_id", "territory_id", "fte", "start_date"])
    reps["start_date"] = pd.to_datetime(reps["start_date"])
    method = draw(st.sampled_from([
        "potential", "history", "even", {"potential": 0.6, "history": 0.4},
        {"default": {"potential": 0.5, "history": 0.5}, "district": "even", "rep": "even"},
    ]))
    over = st.sampled_from([0.0, 0.01, 0.03, 0.05, 0.1, 0.125])
    overassign = {lv: draw(over) for lv in (*LEVELS, "rep")}
    ramp = draw(st.sampled_from([None, [0.25, 0.5, 0.75, 1.0], [0.5]]))
    config = QuotaConfig(
        total=draw(st.one_of(st.none(), st.floats(1e3, 1e9).map(lambda x: round(x, 2)))),
        method=method, overassign=overassign, round_to=draw(st.sampled_from([0, 1, 1000, 250])),
        ramp=ramp, fiscal_year_start="2027-01-01" if ramp else None,
        vacancies=draw(st.sampled_from(["parent", "house"])),
        seasonality=draw(st.sampled_from(["none", "quarter", "month"])),
        simulation={"draws": 0},
    )
    return hierarchy, leaf, reps, config


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(case=scenarios())
def test_every_parent_reconciles_exactly_after_rounding(case):
    hierarchy, leaf, reps, config = case
    if config.total is None and leaf["sales_ly"].sum() == 0:
        with pytest.raises(InputError, match="quota.total"):
            plan_quotas(hierarchy, leaf, reps, config)
        return
    plan = plan_quotas(hierarchy, leaf, reps, config)
    q = plan.quotas
    unit = config.round_to or 0.01
    quota_units = units(q["quota"], unit)
    assert np.allclose(q["quota"] / unit, quota_units, atol=1e-6)  # multiples of the unit
    total = config.total if config.total is not None else 1.1 * leaf["sales_ly"].sum()
    assert abs(quota_units[q["node_id"] == "C"][0] - total / unit) <= 0.5 + 1e-6
    by_id = dict(zip(q["node_id"], quota_units, strict=True))
    full_year = dict(zip(q["node_id"], units(q["full_year_quota"], unit), strict=True))
    held = dict(zip(q["node_id"], units(q["held"], unit), strict=True))
    level = dict(zip(q["node_id"], q["level"], strict=True))
    children = q.groupby("parent_id")["node_id"].apply(list).to_dict()
    parents = set(hierarchy["territory_id"])
    for node in parents:
        kids = children.get(node, [])
        child_level = "rep" if level[node] == "territory" else level[kids[0]]
        o = Fraction(str(config.overassign.get(child_level, 0.0)))
        exact = Fraction(int(by_id[node])) * (1 + o)
        expected = int(exact + Fraction(1, 2)) if exact >= 0 else 0  # half up
        assert sum(int(by_id[k]) for k in kids) + held[node] == expected, node
        if level[node] == "territory":  # full-year rep quotas carry the whole expected amount
            reps_here = [k for k in kids if level[k] == "rep"]
            if reps_here:
                assert sum(int(full_year[k]) for k in reps_here) == expected
    # no guardrails here: each quota is its target rounded to a neighbouring whole unit
    body = q[q["parent_id"].notna() & (q["level"] != "house")]
    assert (np.abs(body["full_year_quota"] - body["blended_target"]) < unit * (1 + 1e-9)).all()
    rep_rows = q[q["level"] == "rep"]
    assert (rep_rows["quota"] <= rep_rows["full_year_quota"] + 1e-9).all()
    assert set(rep_rows["node_id"]) == set(reps["rep_id"])
    # periods sum to each node's annual quota exactly
    period_units = units(plan.periods["quota"], unit)
    per_node = pd.Series(period_units).groupby(plan.periods["node_id"].to_numpy()).sum()
    assert all(per_node[n] == by_id[n] for n in q["node_id"])
    assert plan.reconciliation["max_abs_difference_units"] == 0
    json.dumps(plan.to_metrics(), allow_nan=True)


@st.composite
def guarded(draw):
    hierarchy, leaf, reps, config = draw(scenarios())
    leaf["sales_ly"] = leaf["sales_ly"] + 1000.0
    ratio = draw(st.lists(st.floats(1.2, 3.0), min_size=len(leaf), max_size=len(leaf)))
    leaf["potential"] = leaf["sales_ly"] * np.array(ratio)
    rails = {"min_growth": draw(st.sampled_from([-0.5, -0.3, -0.1])),
             "max_growth": draw(st.sampled_from([0.4, 1.0, 2.0])),
             "territory": {"max_to_potential": draw(st.sampled_from([1.5, 3.0, 10.0]))},
             "rep": {"floor": 0.0}}
    data = config.model_dump()
    data.update(guardrails=rails, total=leaf["sales_ly"].sum() * draw(st.floats(0.95, 1.2)),
                round_to=draw(st.sampled_from([0, 1, 100])),
                overassign=dict.fromkeys(data["overassign"], 0.0) if draw(st.booleans())
                else data["overassign"],
                guardrail_fit=draw(st.sampled_from(["proportional", "l1"])))
    return hierarchy, leaf, reps, QuotaConfig(**data)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=guarded())
def test_every_node_within_its_guardrails_when_feasible(case):
    hierarchy, leaf, reps, config = case
    try:
        plan = plan_quotas(hierarchy, leaf, reps, config)
    except InfeasibleError as exc:
        event("infeasible")
        names = set(hierarchy["territory_id"]) | set(reps["rep_id"])
        assert any(f" {n}:" in reason or f" {n}'s" in reason
                   for reason in exc.reasons for n in names)
        return
    q = plan.quotas
    event("feasible, a guardrail binds" if (q["guardrail_bound"] != "").any() else "feasible")
    unit = config.round_to or 0.01
    rails = config.guardrails
    body = q[q["level"].isin([*LEVELS, "rep"])]
    for _, row in body.iterrows():
        rules = {**{k: v for k, v in rails.items() if not isinstance(v, dict)},
                 **rails.get(row["level"], {})}
        low, high = rules.get("floor", 0.0), np.inf
        if row["sales_ly"] > 0:
            low = max(low, row["sales_ly"] * (1 + rules["min_growth"]))
            high = min(high, row["sales_ly"] * (1 + rules["max_growth"]))
        if row["potential"] > 0 and "max_to_potential" in rules:
            high = min(high, row["potential"] * rules["max_to_potential"])
        value = row["full_year_quota"]
        # rounding to the unit may cross a bound by less than one unit only when it must
        assert low - unit < value < high + unit, (row["node_id"], low, value, high)


def test_binding_guardrails_hold_exactly_and_are_reported():
    hierarchy, leaf, reps = small_tree()
    config = QuotaConfig(total=4500, round_to=1, guardrails={"territory": {"max_growth": 0.2}},
                         simulation={"draws": 0})
    plan = plan_quotas(hierarchy, leaf, reps, config)
    t = rows(plan, "territory")
    assert (t["quota"] <= t["sales_ly"] * 1.2 + 1e-9).all()
    capped = t[t["guardrail_bound"] == "max_growth"]
    assert sorted(capped.index) == ["T4", "T6"]
    assert capped["quota"].tolist() == [240, 600]
    assert (capped["quota"] < capped["blended_target"]).all()
    # the district totals still hold exactly
    d = rows(plan, "district")
    assert t.groupby("parent_id")["quota"].sum().to_dict() == d["quota"].to_dict()


def test_infeasible_guardrails_name_the_node_and_the_bounds():
    hierarchy, leaf, reps = small_tree()
    config = QuotaConfig(total=2500, round_to=1, overassign={"territory": 0.05},
                         guardrails={"territory": {"min_growth": -0.10}}, simulation={"draws": 0})
    with pytest.raises(InfeasibleError) as info:
        plan_quotas(hierarchy, leaf, reps, config)
    text = str(info.value)
    # R1 = 1786, D1 = 1786 × 3/5 = 1072, × 1.05 = 1126 < 0.9 × (600 + 1100) = 1530
    assert ("district D1: children's minimum quotas sum to 1,530 (min_growth -10% over "
            "sales_ly) but D1's quota × 1.05 is 1,126") in text
    assert info.value.exit_code == 3


def test_methods_split_by_their_metric():
    hierarchy, leaf, reps = small_tree()
    base = {"total": 1_000_000, "round_to": 1, "simulation": {"draws": 0}}
    potential = plan_quotas(hierarchy, leaf, reps, QuotaConfig(**base, method="potential"))
    t = rows(potential, "territory")
    d1 = t.loc[["T1", "T2"]]
    share = d1["potential"] / d1["potential"].sum()
    assert np.all(np.abs(d1["quota"] - share * d1["quota"].sum()) <= 1)

    blend = {"potential": 0.6, "history": 0.4}
    plan = plan_quotas(hierarchy, leaf, reps, QuotaConfig(**base, method=blend))
    r = rows(plan, "region")
    pot = r["potential"] / r["potential"].sum()
    hist = r["sales_ly"] / r["sales_ly"].sum()
    assert np.all(np.abs(r["quota"] - (0.6 * pot + 0.4 * hist) * 1_000_000) <= 1)
    assert r["method"].iloc[0] == "potential 0.6 + history 0.4"

    counted = plan_quotas(hierarchy, leaf, reps, QuotaConfig(**base, method="accounts"))
    t = rows(counted, "territory").loc[["T3", "T4"]]
    assert abs(t.loc["T3", "quota"] - 4 * t.loc["T4", "quota"]) <= 5  # 20 vs 5 accounts


def test_per_level_methods_and_fte_split_of_reps():
    hierarchy, leaf, reps = small_tree()
    config = QuotaConfig(total=900_000, round_to=1, simulation={"draws": 0},
                         method={"default": "potential", "district": "even", "rep": "even"})
    plan = plan_quotas(hierarchy, leaf, reps, config)
    d = rows(plan, "district")
    assert abs(d.loc["D1", "quota"] - d.loc["D2", "quota"]) <= 1  # even within R1
    p = rows(plan, "rep")
    assert abs(p.loc["b", "quota"] - p.loc["c", "quota"]) <= 1  # even ignores fte
    by_fte = plan_quotas(hierarchy, leaf, reps, QuotaConfig(total=900_000, round_to=1,
                                                            simulation={"draws": 0}))
    p = rows(by_fte, "rep")
    assert abs(p.loc["b", "quota"] - 2 * p.loc["c", "quota"]) <= 2  # potential follows fte


def test_growth_method_uses_per_territory_rates():
    hierarchy, leaf, reps = small_tree()
    leaf = leaf.assign(sales_ly=1000.0, growth_rate=[0.0, 1.0, 0.0, 0.0, 0.0, 0.0])
    plan = plan_quotas(hierarchy, leaf, reps, QuotaConfig(total=6600, round_to=1, method="growth",
                                                          simulation={"draws": 0}))
    t = rows(plan, "territory")
    assert abs(t.loc["T2", "quota"] - 2 * t.loc["T1", "quota"]) <= 2


def test_default_total_is_last_year_plus_ten_percent():
    hierarchy, leaf, reps = small_tree()
    plan = plan_quotas(hierarchy, leaf, reps, QuotaConfig(round_to=1, simulation={"draws": 0}))
    assert plan.quotas.loc[plan.quotas["node_id"] == "C", "quota"].iat[0] == round(
        1.1 * leaf["sales_ly"].sum())


def test_bottom_up_quotas_are_kept_and_the_rest_redistributed():
    hierarchy, leaf, reps = small_tree()
    config = QuotaConfig(total=1_000_000, round_to=1, bottom_up={"T1": 123_456, "D2": 200_000},
                         simulation={"draws": 0})
    plan = plan_quotas(hierarchy, leaf, reps, config)
    q = plan.quotas.set_index("node_id")
    assert q.loc["T1", "quota"] == 123_456 and q.loc["T1", "guardrail_bound"] == "bottom_up"
    assert q.loc["D2", "quota"] == 200_000
    assert q.loc["D1", "quota"] == q.loc["R1", "quota"] - 200_000
    assert q.loc["T2", "quota"] == q.loc["D1", "quota"] - 123_456
    assert q.loc["R2", "quota"] + q.loc["R1", "quota"] == 1_000_000

    column = leaf.assign(request=[np.nan, np.nan, 150_000.0, np.nan, np.nan, np.nan])
    plan = plan_quotas(hierarchy, column, reps,
                       QuotaConfig(total=1_000_000, round_to=1, bottom_up="request",
                                   simulation={"draws": 0}))
    assert plan.quotas.set_index("node_id").loc["T3", "quota"] == 150_000


def test_bottom_up_file_and_conflicting_children(tmp_path):
    hierarchy, leaf, reps = small_tree()
    path = tmp_path / "requests.csv"
    pd.DataFrame({"node_id": ["T5", "T6"], "quota": [100.0, 100.0]}).to_csv(path, index=False)
    with pytest.raises(InfeasibleError, match=r"district D3: children's .* sum to 200 "
                                              r"\(bottom-up quota\)"):
        plan_quotas(hierarchy, leaf, reps, QuotaConfig(total=1_000_000, round_to=1,
                                                       bottom_up=str(path),
                                                       simulation={"draws": 0}))


def test_vacancies_held_at_parent_or_on_house_accounts():
    hierarchy, leaf, reps = small_tree()
    base = {"total": 1_000_000, "round_to": 1, "overassign": {"rep": 0.02},
            "simulation": {"draws": 0}}
    held = plan_quotas(hierarchy, leaf, reps, QuotaConfig(**base, vacancies="parent"))
    t = rows(held, "territory")
    assert t.loc["T4", "held"] == round(t.loc["T4", "quota"] * 1.02)
    assert t.loc["T1", "held"] == 0
    assert set(held.vacant) == {"T4", "T6"}
    assert not (held.quotas["level"] == "house").any()

    house = plan_quotas(hierarchy, leaf, reps, QuotaConfig(**base, vacancies="house"))
    h = rows(house, "house")
    assert set(h.index) == {"HOUSE-T4", "HOUSE-T6"}
    assert h.loc["HOUSE-T4", "parent_id"] == "T4"
    assert h.loc["HOUSE-T4", "quota"] == t.loc["T4", "held"]
    assert (rows(house, "territory")["held"] == 0).all()
    assert house.reconciliation["parents"]["T4"]["children_sum"] == h.loc["HOUSE-T4", "quota"]


def test_ramp_relief_is_held_and_rep_quota_scaled():
    hierarchy, leaf, reps = small_tree()
    reps.loc[reps["rep_id"] == "a", "start_date"] = pd.Timestamp("2027-04-01")
    config = QuotaConfig(total=1_000_000, round_to=1, ramp=[0.25, 0.5, 0.75, 1.0],
                         fiscal_year_start="2027-01-01", simulation={"draws": 0})
    plan = plan_quotas(hierarchy, leaf, reps, config)
    a = rows(plan, "rep").loc["a"]
    assert a["ramp_factor"] == pytest.approx((3 * 0.25 + 3 * 0.5 + 3 * 0.75) / 12)
    assert a["quota"] == round(a["full_year_quota"] * a["ramp_factor"])
    t1 = rows(plan, "territory").loc["T1"]
    assert t1["held"] == t1["quota"] - a["quota"]


def test_several_roots_get_a_company_node():
    hierarchy, leaf, reps = small_tree()
    hierarchy = hierarchy[hierarchy["territory_id"] != "C"].copy()
    hierarchy.loc[hierarchy["parent_id"] == "C", "parent_id"] = None
    plan = plan_quotas(hierarchy, leaf, reps, QuotaConfig(total=5000, round_to=1,
                                                          simulation={"draws": 0}))
    root = plan.quotas[plan.quotas["parent_id"].isna()]
    assert root["node_id"].tolist() == ["COMPANY"] and root["quota"].iat[0] == 5000


@pytest.mark.parametrize(("change", "match"), [
    ({"overassign": {"distrct": 0.05}}, "distrct"),
    ({"method": "margin"}, "margin"),
    ({"method": {"default": "potential", "zone": "even"}}, "zone"),
    ({"bottom_up": {"T99": 5.0}}, "T99"),
])
def test_bad_settings_are_input_errors(change, match):
    hierarchy, leaf, reps = small_tree()
    with pytest.raises(InputError, match=match) as info:
        plan_quotas(hierarchy, leaf, reps, QuotaConfig(total=1.0, **change))
    assert info.value.exit_code == 2


def test_bad_frames_are_input_errors_with_rows():
    hierarchy, leaf, reps = small_tree()
    bad_reps = reps.assign(territory_id=["T1", "D1", "T2", "T3", "T5", "T5"])
    with pytest.raises(InputError) as info:
        plan_quotas(hierarchy, leaf, bad_reps, QuotaConfig())
    assert info.value.issues[0].row == 3 and info.value.issues[0].value == "D1"
    with pytest.raises(InputError, match="one row per leaf territory"):
        plan_quotas(hierarchy, leaf.iloc[1:], reps, QuotaConfig())
    cyclic = hierarchy.assign(parent_id=hierarchy["parent_id"].replace({None: "T1"}))
    with pytest.raises(InputError, match="cycles|parent_id"):
        plan_quotas(cyclic, leaf, reps, QuotaConfig())


def test_rounding_may_cross_a_guardrail_by_less_than_one_unit_only_when_it_must():
    hierarchy = pd.DataFrame({"territory_id": ["C", "T1", "T2"], "parent_id": [None, "C", "C"],
                              "level": ["company", "territory", "territory"]})
    leaf = pd.DataFrame({"territory_id": ["T1", "T2"], "potential": [1.0, 1.0],
                         "sales_ly": [100_100.0, 100_100.0]})
    team = pd.DataFrame({"rep_id": ["a", "b"], "territory_id": ["T1", "T2"]})
    rails = {"max_growth": 0.25}  # each node ≤ 125,125: not a multiple of the 1,000 unit
    fits = plan_quotas(hierarchy, leaf, team, QuotaConfig(
        total=250_000, round_to=1000, guardrails=rails, simulation={"draws": 0}))
    assert (fits.quotas.loc[fits.quotas["level"] != "company", "quota"] <= 125_125).all()
    # 251,000 to split under two caps of 125,125: one node must take 126,000
    forced = plan_quotas(hierarchy, leaf, team, QuotaConfig(
        total=250_600, round_to=1000, guardrails=rails, simulation={"draws": 0}))
    q = forced.quotas.set_index("node_id")
    assert sorted(q.loc[["T1", "T2"], "quota"]) == [125_000, 126_000]
    assert q.loc[["a", "b"], "quota"].sum() == 251_000
    # bounds hold to the unit: 2 × 126,000 is the most whole units allow
    with pytest.raises(InfeasibleError, match="company C: children's maximum quotas sum to "
                                              "250.2K .* but C's quota is 253.0K"):
        plan_quotas(hierarchy, leaf, team, QuotaConfig(
            total=253_000, round_to=1000, guardrails=rails, simulation={"draws": 0}))
