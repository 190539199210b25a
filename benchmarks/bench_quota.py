"""Quota planning benchmark: cascade and attainment simulation at acceptance scale.

Instance: company → 10 regions → 100 districts → 4,000 territories → 5,000 reps
(200 vacant territories, 1,200 territories with two reps, 10 % new hires), 200,000
accounts with potential, sales_ly and 12 monthly sales columns. The cascade timing
includes aggregating the accounts to leaf metrics. Guardrails bind on many nodes.

Run: .venv/bin/python benchmarks/bench_quota.py [--repeat 3] [--fit proportional|l1]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from territory_opt.quota import plan_quotas, simulate_attainment
from territory_opt.quota.periods import MONTHLY_COLUMNS
from territory_opt.scenarios.config import QuotaConfig

REGIONS, DISTRICTS, TERRITORIES, REPS, ACCOUNTS = 10, 100, 4_000, 5_000, 200_000


def build_instance(seed: int = 0):
    """Hierarchy, accounts and reps of the acceptance-scale instance."""
    rng = np.random.default_rng(seed)
    regions = [f"R{i:02d}" for i in range(REGIONS)]
    districts = [f"D{i:03d}" for i in range(DISTRICTS)]
    territories = [f"T{i:04d}" for i in range(TERRITORIES)]
    hierarchy = pd.DataFrame({
        "territory_id": ["CO", *regions, *districts, *territories],
        "parent_id": [None, *["CO"] * REGIONS,
                      *[regions[i * REGIONS // DISTRICTS] for i in range(DISTRICTS)],
                      *[districts[i * DISTRICTS // TERRITORIES] for i in range(TERRITORIES)]],
        "level": ["company", *["region"] * REGIONS, *["district"] * DISTRICTS,
                  *["territory"] * TERRITORIES],
    })
    hierarchy["name"] = hierarchy["territory_id"]
    accounts = pd.DataFrame({
        "territory_id": np.array(territories)[rng.integers(0, TERRITORIES, ACCOUNTS)],
        "potential": rng.lognormal(10, 1, ACCOUNTS),
    })
    accounts["sales_ly"] = accounts["potential"] * rng.uniform(0.3, 0.9, ACCOUNTS)
    season = 1 + 0.3 * np.sin(np.arange(12) / 12 * 2 * np.pi)
    monthly = accounts["sales_ly"].to_numpy()[:, None] * season / season.sum()
    accounts[MONTHLY_COLUMNS] = monthly * rng.uniform(0.8, 1.2, (ACCOUNTS, 12))
    staffed = np.array(territories)[200:]  # the first 200 territories are vacant
    two_reps = staffed[: REPS - len(staffed)]
    rep_territory = np.concatenate([staffed, two_reps])
    reps = pd.DataFrame({
        "rep_id": [f"P{i:05d}" for i in range(len(rep_territory))],
        "territory_id": rep_territory,
        "fte": np.where(rng.uniform(size=len(rep_territory)) < 0.1, 0.5, 1.0),
        "start_date": pd.to_datetime(np.where(
            rng.uniform(size=len(rep_territory)) < 0.1, "2026-10-01", None)),
    })
    return hierarchy, accounts, reps


def config(fit: str, draws: int) -> QuotaConfig:
    return QuotaConfig(
        method={"default": {"potential": 0.6, "history": 0.4}, "district": "even"},
        overassign={"district": 0.05, "territory": 0.03, "rep": 0.02}, round_to=1000,
        guardrails={"min_growth": -0.10, "max_to_potential": 1.2,
                    "territory": {"max_growth": 0.35}, "rep": {"max_growth": 0.45}},
        guardrail_fit=fit, ramp=[0.25, 0.5, 0.75, 1.0], fiscal_year_start="2027-01-01",
        seasonality="month", simulation={"draws": draws, "cv": 0.3},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--fit", default="proportional", choices=["proportional", "l1"])
    args = parser.parse_args()
    hierarchy, accounts, reps = build_instance()
    cascade_times = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        leaf = accounts.groupby("territory_id", sort=False).sum(numeric_only=True).reset_index()
        plan = plan_quotas(hierarchy, leaf, reps, config(args.fit, draws=0))
        cascade_times.append(time.perf_counter() - started)
    q = plan.quotas
    rep_rows = q[(q["level"] == "rep") & (q["quota"] > 0)]
    expected = rep_rows["potential"].to_numpy() / q["potential"].iat[0] * plan.total
    sim_times = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        # reps carry their expected share of the plan (as plan_quotas does); 20 % common shock
        sim = simulate_attainment(rep_rows["quota"].to_numpy(), expected, 0.3, 10_000, seed=1,
                                  correlation=0.2, plan_total=expected.sum(),
                                  target_probability=0.9)
        sim_times.append(time.perf_counter() - started)
    bound = int((q["guardrail_bound"] != "").sum())
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{platform.system()} {platform.release()}, python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"nodes: {len(q)} ({len(rep_rows)} reps with quota), periods rows: {len(plan.periods)}, "
          f"guardrail-bound nodes: {bound}, fit: {args.fit}")
    print(f"reconciliation max |difference| (units): "
          f"{plan.reconciliation['max_abs_difference_units']}")
    print(f"cascade (200k accounts aggregated + plan) seconds: min {min(cascade_times):.3f} "
          f"median {np.median(cascade_times):.3f}")
    print(f"simulation 10,000 draws x {len(rep_rows)} reps seconds: min {min(sim_times):.3f} "
          f"median {np.median(sim_times):.3f}")
    print(f"share at quota {sim['share_at_quota']:.3f}, P(make plan) {sim['p_make_plan']:.3f}, "
          f"current cumulative overassign {sim['current_overassign']:.4f}, "
          f"overassign for P=0.9: {sim['overassign_for_probability']:.4f}")


if __name__ == "__main__":
    main()
