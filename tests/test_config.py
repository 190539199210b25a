"""Scenario files: schema, extends, path resolution, unknown keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from territory_opt.errors import InputError
from territory_opt.scenarios.config import load_scenario


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_paths_resolve_relative_to_each_file_and_extends_overrides(tmp_path):
    (tmp_path / "base").mkdir()
    write(tmp_path / "base" / "base.toml", """
name = "base"
[data]
accounts = "data/accounts.csv"
[alignment]
time_limit = 30
balance = [{ metric = "potential", tolerance = 0.05 }]
""")
    child = write(tmp_path / "child.toml", """
name = "child-1"
extends = "base/base.toml"
[alignment]
seed = 7
""")
    scenario = load_scenario(child)
    assert scenario.name == "child-1"
    assert scenario.data.accounts == (tmp_path / "base" / "data" / "accounts.csv").resolve()
    assert scenario.alignment.time_limit == 30
    assert scenario.alignment.seed == 7
    assert scenario.alignment.balance[0].metric == "potential"
    assert scenario.source == child.resolve()


def test_unknown_keys_are_named_with_the_file(tmp_path):
    path = write(tmp_path / "s.toml", """
name = "s"
colour = "red"
[data]
accounts = "a.csv"
[alignment]
tolerence = 0.1
""")
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    messages = [str(issue) for issue in caught.value.issues]
    assert len(messages) == 2
    assert all(str(path) in m for m in messages)
    assert any("colour" in m for m in messages)
    assert any("alignment.tolerence" in m for m in messages)


def test_bad_values_and_missing_required_keys(tmp_path):
    path = write(tmp_path / "s.toml", """
name = "has space"
[alignment]
max_moved_share = 1.5
level = "zip"
""")
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    columns = {issue.column for issue in caught.value.issues}
    assert {"name", "data", "alignment.max_moved_share", "alignment.level"} <= columns


def test_extends_cycle_and_bad_toml(tmp_path):
    write(tmp_path / "a.toml", 'name = "a"\nextends = "b.toml"\n')
    write(tmp_path / "b.toml", 'name = "b"\nextends = "a.toml"\n')
    with pytest.raises(InputError, match="cycle"):
        load_scenario(tmp_path / "a.toml")
    write(tmp_path / "broken.toml", 'name = "x\n')
    with pytest.raises(InputError, match="valid TOML"):
        load_scenario(tmp_path / "broken.toml")
    with pytest.raises(InputError, match="existing scenario file"):
        load_scenario(tmp_path / "missing.toml")


def test_bom_and_overrides(tmp_path):
    path = tmp_path / "s.toml"
    path.write_bytes(b"\xef\xbb\xbf" + b'name = "s"\n[data]\naccounts = "a.csv"\n')
    scenario = load_scenario(path, {"alignment": {"seed": 3, "time_limit": 5}})
    assert scenario.alignment.seed == 3
    assert scenario.alignment.time_limit == 5
