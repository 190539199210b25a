"""Scenario files (TOML): schema, ``extends`` inheritance and path resolution.

A scenario names its input files (paths relative to the scenario file) and the
alignment and quota options. Unknown keys are an error naming the key and file.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from territory_opt.errors import InputError, InputIssue

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnMaps(_Strict):
    """Per-file header mapping: canonical column name -> the user's header."""

    accounts: dict[str, str] = Field(default_factory=dict)
    reps: dict[str, str] = Field(default_factory=dict)
    territories: dict[str, str] = Field(default_factory=dict)
    units: dict[str, str] = Field(default_factory=dict)
    adjacency: dict[str, str] = Field(default_factory=dict)
    travel: dict[str, str] = Field(default_factory=dict)


class DataConfig(_Strict):
    """Input files, as absolute paths after loading (relative in the TOML file)."""

    accounts: Path
    reps: Path | None = None
    territories: Path | None = None
    units: Path | None = None
    adjacency: Path | None = None
    travel: Path | None = None  # travel.csv: account_id or unit_id, territory_id, minutes
    sheet: dict[str, str] = Field(default_factory=dict)  # XLSX sheet per file key
    columns: ColumnMaps = Field(default_factory=ColumnMaps)


class BalanceRule(_Strict):
    """Keep each territory's total of ``metric`` within ±tolerance of its target.

    ``metric`` is a numeric account column (e.g. potential, workload, sales_ly) or
    ``accounts`` (the account count). ``soft = true`` turns the hard bound into a
    penalised deviation (``penalty`` per unit of fractional deviation beyond tolerance).
    """

    metric: str
    tolerance: float = Field(0.05, ge=0.0, le=10.0)
    soft: bool = False
    penalty: float = Field(1000.0, ge=0.0)


class AlignmentConfig(_Strict):
    mode: Literal["optimize", "current"] = "optimize"  # "current": evaluate the inherited plan
    level: Literal["account", "unit"] = "account"
    territories: int | None = Field(None, ge=1)
    balance: list[BalanceRule] = Field(default_factory=list)
    compactness: Literal["travel", "inertia", "cut_edges", "none"] = "travel"
    distance: Literal["haversine", "geodesic_km_rounded"] = "haversine"
    centers: Literal["reps", "free"] = "reps"
    contiguous: bool = False
    max_moved_share: float | None = Field(None, ge=0.0, le=1.0)
    moved_share_metric: str | None = None  # cap moves by this metric's share instead of count
    move_penalty: float = Field(0.0, ge=0.0)  # objective cost per moved account
    eligibility: str | None = None  # account column that must match the rep's column of that name
    vacancy_fte: float = Field(1.0, ge=0.0)
    candidates: int = Field(12, ge=1)  # nearest territories kept per account/unit
    engine: Literal["auto", "cpsat", "highs", "local"] = "auto"
    time_limit: float = Field(60.0, gt=0)
    seed: int = 0
    deterministic: bool = False
    workers: int | None = Field(None, ge=1)


class QuotaConfig(_Strict):
    total: float | None = Field(None, ge=0)
    method: dict[str, float] | str = "potential"
    overassign: dict[str, float] = Field(default_factory=dict)
    round_to: float = Field(0, ge=0)
    guardrails: dict[str, Any] = Field(default_factory=dict)
    ramp: list[float] | None = None
    vacancies: Literal["parent", "house"] = "parent"
    seasonality: Literal["none", "quarter", "month"] = "none"
    fiscal_year_start: str | None = None
    simulation: dict[str, Any] = Field(default_factory=dict)


class Scenario(_Strict):
    name: str
    description: str = ""
    data: DataConfig
    alignment: AlignmentConfig = Field(default_factory=AlignmentConfig)
    quota: QuotaConfig | None = None
    source: Path | None = None  # the scenario file this was read from

    @field_validator("name")
    @classmethod
    def _folder_safe(cls, value: str) -> str:
        if not NAME_PATTERN.match(value):
            raise ValueError("must be folder-safe: letters, digits, '-' and '_' only")
        return value


def _deep_merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_toml(path: Path, chain: tuple[Path, ...]) -> dict:
    """Read one TOML file, resolve its data paths against its folder, apply ``extends``."""
    if path in chain:
        cycle = " -> ".join(str(p) for p in (*chain, path))
        raise InputError([InputIssue(str(path), f"no cycle in 'extends' ({cycle})", column="extends")])
    if not path.is_file():
        raise InputError([InputIssue(str(path), "an existing scenario file")])
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError([InputIssue(str(path), f"valid TOML ({exc})")]) from None
    data = raw.get("data")
    if isinstance(data, dict):
        for key, value in data.items():
            if key in DataConfig.model_fields and key not in ("columns", "sheet") and isinstance(value, str):
                data[key] = str((path.parent / value).resolve())
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    if not isinstance(parent, str):
        raise InputError([InputIssue(str(path), "a file path string", column="extends", value=str(parent))])
    return _deep_merge(_read_toml((path.parent / parent).resolve(), (*chain, path)), raw)


def scenario_from_dict(raw: dict, source: Path | str = "<scenario>") -> Scenario:
    """Validate a scenario dictionary; every schema problem becomes an InputIssue."""
    try:
        return Scenario.model_validate({**raw, "source": raw.get("source", source)})
    except ValidationError as exc:
        issues = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                expected = f"a known key (unknown key '{key}')"
            elif err["type"] == "missing":
                expected = f"the required key '{key}'"
            else:
                expected = f"{key}: {err['msg']}"
            value = None if err["type"] == "missing" else str(err.get("input"))[:80]
            issues.append(InputIssue(str(source), expected, column=key, value=value))
        raise InputError(issues) from None


def load_scenario(path: str | Path, overrides: dict | None = None) -> Scenario:
    """Load a scenario TOML file (following ``extends``), optionally overriding keys.

    ``overrides`` is a nested dict merged on top, e.g. ``{"alignment": {"seed": 3}}``.
    """
    path = Path(path).resolve()
    raw = _read_toml(path, ())
    if overrides:
        raw = _deep_merge(raw, overrides)
    raw["source"] = str(path)
    return scenario_from_dict(raw, path)
