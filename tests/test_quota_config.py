"""The [quota] table of a scenario file: shapes accepted and errors that name the key."""

from __future__ import annotations

import pytest

from territory_opt.errors import InputError
from territory_opt.scenarios.config import load_scenario

HEAD = 'name = "q"\n[data]\naccounts = "accounts.csv"\n'


def load(tmp_path, quota_toml: str):
    path = tmp_path / "scenario.toml"
    path.write_text(HEAD + quota_toml, encoding="utf-8")
    return load_scenario(path)


def test_full_quota_table_loads(tmp_path):
    scenario = load(tmp_path, """
[quota]
total = 250_000_000
method = { default = { potential = 0.6, history = 0.4 }, district = "even" }
overassign = { district = 0.05, territory = 0.03 }
round_to = 1000
bottom_up = { T017 = 1_200_000 }
ramp = [0.25, 0.5, 0.75, 1.0]
fiscal_year_start = 2026-07-01
vacancies = "house"
seasonality = "month"
guardrail_fit = "l1"
[quota.guardrails]
max_growth = 0.25
min_growth = -0.10
territory = { max_to_potential = 1.5 }
nodes = { T017 = { floor = 0 } }
[quota.simulation]
draws = 5000
cv = 0.3
correlation = 0.2
target_probability = 0.85
""")
    q = scenario.quota
    assert q.fiscal_year_start == "2026-07-01"  # a TOML date is accepted
    assert q.method["district"] == "even" and q.guardrails["territory"]["max_to_potential"] == 1.5
    assert q.simulation.draws == 5000 and q.simulation.cv == 0.3


def test_spec_example_still_loads(tmp_path):
    q = load(tmp_path, """
[quota]
total = 250_000_000
method = { potential = 0.6, history = 0.4 }
overassign = { district = 0.05, territory = 0.03 }
round_to = 1000
guardrails = { max_growth = 0.25, min_growth = -0.10 }
""").quota
    assert q.method == {"potential": 0.6, "history": 0.4} and q.simulation.cv == "history"


@pytest.mark.parametrize(("quota_toml", "needle"), [
    ('[quota]\nguardrails = { max_grwoth = 0.2 }\n', "max_grwoth"),
    ('[quota]\nguardrails = { territory = { celing = 1 } }\n', "celing"),
    ('[quota]\nramp = [0.5, 1.0]\n', "fiscal_year_start is required"),
    ('[quota]\nfiscal_year_start = "2027-01-15"\n', "first day of a month"),
    ('[quota]\nmethod = { potential = -1 }\n', "weight must be a number"),
    ('[quota]\nsimulation = { draw = 10 }\n', "quota.simulation.draw"),
    ('[quota]\noverassign = { rep = -2 }\n', "overassign.rep"),
])
def test_bad_quota_settings_name_the_key(tmp_path, quota_toml, needle):
    with pytest.raises(InputError, match=needle) as info:
        load(tmp_path, quota_toml)
    assert info.value.exit_code == 2
