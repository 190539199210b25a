"""Quota planning: top-down cascade with guardrails, exact rounding, ramp, seasonality,
vacancies, mid-year transfers, attainment simulation and fairness audit."""

from territory_opt.quota.cascade import QuotaPlan, plan_quotas
from territory_opt.quota.fairness import fairness_report, gini
from territory_opt.quota.periods import QuotaTransfer, transfer_quota
from territory_opt.quota.simulate import estimate_cv, simulate_attainment

__all__ = [
    "QuotaPlan", "QuotaTransfer", "estimate_cv", "fairness_report", "gini", "plan_quotas",
    "simulate_attainment", "transfer_quota",
]
