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
    # unit neighbours from polygons (when no adjacency file is given): "rook" = a shared border
    # of positive length, "queen" = any touch, a shared corner included
    adjacency_rule: Literal["rook", "queen"] = "rook"
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


class LevelRule(_Strict):
    """Balance a hierarchy level above the territories (``[[alignment.levels]]``).

    ``level`` names a value of the territories file's ``level`` column (e.g. "district").
    Each node of that level is balanced on the same metrics as the territories, within
    ``tolerance``: one fraction for every metric, or a table per metric
    (``{ potential = 0.02, workload = 0.05 }``; unlisted metrics keep the territory
    tolerance). ``keep_boundaries = true`` keeps every account in its current node of this
    level (no balance rows there); only the levels below are redrawn.
    """

    level: str
    tolerance: float | dict[str, float] | None = None
    keep_boundaries: bool = False

    @field_validator("tolerance")
    @classmethod
    def _fractions(cls, value: float | dict[str, float] | None):
        values = value.values() if isinstance(value, dict) else [value]
        if any(v is not None and not 0.0 <= v <= 10.0 for v in values):
            raise ValueError("tolerance must be a fraction in [0, 10]")
        return value


class AlignmentConfig(_Strict):
    mode: Literal["optimize", "current"] = "optimize"  # "current": evaluate the inherited plan
    level: Literal["account", "unit"] = "account"
    territories: int | None = Field(None, ge=1)
    balance: list[BalanceRule] = Field(default_factory=list)
    levels: list[LevelRule] = Field(default_factory=list)  # balanced levels above territories
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
    """The ``[quota]`` table: cascade a company total down the hierarchy to every rep.

    Levels are the hierarchy's ``level`` names plus ``rep`` (the reps under each leaf
    territory). Every per-level key is keyed by the CHILD level being allocated.

    total: company plan (currency). Default: Σ sales_ly × 1.10.
    method: how a parent's quota is split among its children (target shares):
        ``"potential"``, ``"history"`` (= ``"sales_ly"``), ``"even"``, ``"growth"``
        (sales_ly × (1 + growth_rate), ``growth_rate`` a leaf column if present, else the
        scalar ``growth_rate`` below) or any numeric column (leaf metric, or a rep column at
        the rep level). A blend gives weights: ``{ potential = 0.6, history = 0.4 }``
        (target share = Σ weight × share, weights normalised). Per level: a table whose
        values are names or blends, with ``default`` for the other levels, e.g.
        ``{ default = { potential = 0.6, history = 0.4 }, district = "even" }``. A table
        whose values are all numbers is a blend; any text or table value makes it per-level.
        Siblings with zero total of a metric split that component evenly.
    overassign: ``{ district = 0.05, territory = 0.03 }``: a district's territories sum
        to the district's quota × 1.03 (fraction ≥ 0; default 0).
    round_to: rounding unit (currency); 0 rounds to cents (0.01). Sums stay exact.
    bottom_up: fixed quotas kept as given, remainder split among the siblings: a leaf
        metric column name (NaN = not fixed), a table ``{ node_id = quota }``, or a
        .csv/.xlsx/.parquet file with columns node_id, quota.
    guardrails: bounds on each node's full-year quota. Keys ``min_growth``/``max_growth``
        (fraction vs sales_ly; only for nodes with sales_ly > 0), ``min_to_potential``/
        ``max_to_potential`` (quota ÷ potential; only for nodes with potential > 0),
        ``floor``/``cap`` (currency). Top-level keys apply to every level; a sub-table named
        after a level overrides them for that level (``territory = { max_growth = 0.3 }``);
        ``nodes = { T017 = { floor = 0 } }`` overrides per node. Bounds hold to the rounding
        unit: a quota crosses one by less than a unit only when whole units leave no choice.
        Guardrails that cannot all hold raise InfeasibleError naming the node and bounds.
    guardrail_fit: when guardrails bind, the allocation closest to the targets under all
        bounds and the exact sum: ``"proportional"`` minimises Σ (q − t)² / t (every free
        sibling scaled by one common factor; exact water-filling) or ``"l1"`` minimises
        Σ |q − t| / t (LP, OR-Tools GLOP).
    ramp: new-hire quota factors per ``ramp_period`` since start_date, e.g.
        ``[0.25, 0.5, 0.75, 1.0]`` by quarter; 1.0 after the schedule, 0 before the start.
        The ramp relief (and a vacancy's whole quota) is held at the territory
        (``vacancies = "parent"``) or on a house-account node ``HOUSE-<territory>``
        (``vacancies = "house"``).
    seasonality: ``"none"`` (one annual period), ``"quarter"`` or ``"month"``; the pattern
        is each node's Σ of leaf columns ``sales_ly_m01`` … ``sales_ly_m12`` (calendar
        months) when present, else even.
    fiscal_year_start: first day of the plan year (1st of a month); required with ramp,
        else default 2027-01-01. Periods are labelled FY<start year>-Q<n> / -M<nn>.
    simulation: Monte Carlo of next year's sales per rep (``draws = 0`` turns it off).

    Example::

        [quota]
        total = 250_000_000
        method = { default = { potential = 0.6, history = 0.4 }, district = "even" }
        overassign = { district = 0.05, territory = 0.03, rep = 0.02 }
        round_to = 1000
        guardrails = { min_growth = -0.10, max_growth = 0.25, rep = { max_to_potential = 1.2 } }
        ramp = [0.25, 0.5, 0.75, 1.0]
        fiscal_year_start = 2027-01-01
        vacancies = "house"
        seasonality = "quarter"
        simulation = { draws = 10000, cv = 0.3, target_probability = 0.9 }
    """

    class Simulation(_Strict):
        """Lognormal sales per rep around a potential-based expectation.

        cv: coefficient of variation of a rep's annual sales, or ``"history"``: the CV of
        sales_ly ÷ (potential share × Σ sales_ly) across leaf territories.
        correlation: share of log-variance common to all reps (a company-wide shock).
        expected_total: expected company sales (default: the plan total).
        target_probability: company-level probability of making the plan for which the
        required over-assignment is reported.
        """

        draws: int = Field(2000, ge=0)
        cv: float | Literal["history"] = "history"
        correlation: float = Field(0.0, ge=0.0, le=1.0)
        expected_total: float | None = Field(None, gt=0)
        target_probability: float = Field(0.9, gt=0.0, lt=1.0)

        @field_validator("cv")
        @classmethod
        def _positive_cv(cls, value: float | str) -> float | str:
            if not isinstance(value, str) and not value > 0:
                raise ValueError("cv must be > 0 or 'history'")
            return value

    total: float | None = Field(None, ge=0)
    method: dict[str, Any] | str = "potential"
    growth_rate: float = Field(0.0, gt=-1.0)
    overassign: dict[str, float] = Field(default_factory=dict)
    round_to: float = Field(0, ge=0)
    bottom_up: dict[str, float] | str | None = None
    guardrails: dict[str, Any] = Field(default_factory=dict)
    guardrail_fit: Literal["proportional", "l1"] = "proportional"
    ramp: list[float] | None = None
    ramp_period: Literal["quarter", "month"] = "quarter"
    vacancies: Literal["parent", "house"] = "parent"
    seasonality: Literal["none", "quarter", "month"] = "none"
    fiscal_year_start: str | None = Field(None, validate_default=True)
    simulation: Simulation = Field(default_factory=Simulation)

    @field_validator("method")
    @classmethod
    def _method_shape(cls, value: dict[str, Any] | str) -> dict[str, Any] | str:
        def check_blend(blend: Any, where: str) -> None:
            if isinstance(blend, str):
                return
            if not isinstance(blend, dict) or not blend:
                raise ValueError(f"{where}: a method name or a table of weights")
            for name, weight in blend.items():
                if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
                    raise ValueError(f"{where}.{name}: weight must be a number ≥ 0")
            if sum(blend.values()) <= 0:
                raise ValueError(f"{where}: weights must not all be 0")

        if isinstance(value, dict) and any(isinstance(v, str | dict) for v in value.values()):
            for level, blend in value.items():
                check_blend(blend, f"method.{level}")
        else:
            check_blend(value, "method")
        return value

    @field_validator("overassign")
    @classmethod
    def _overassign_range(cls, value: dict[str, float]) -> dict[str, float]:
        for level, fraction in value.items():
            if not -1.0 < fraction <= 10.0:
                raise ValueError(f"overassign.{level} must be in (-1, 10]")
        return value

    @field_validator("guardrails")
    @classmethod
    def _guardrail_shape(cls, value: dict[str, Any]) -> dict[str, Any]:
        known = ("min_growth", "max_growth", "min_to_potential", "max_to_potential", "floor",
                 "cap")

        def check_bounds(bounds: Any, where: str) -> None:
            if not isinstance(bounds, dict):
                raise ValueError(f"{where}: a table of {', '.join(known)}")  # noqa: TRY004
            for key, number in bounds.items():
                if key not in known:
                    raise ValueError(f"unknown guardrail '{where}.{key}' "
                                     f"(known: {', '.join(known)})")
                if isinstance(number, bool) or not isinstance(number, int | float):
                    raise ValueError(f"{where}.{key} must be a number")  # noqa: TRY004

        for key, item in value.items():
            if key == "nodes":
                if not isinstance(item, dict):
                    raise ValueError("guardrails.nodes: a table node_id -> bounds")
                for node, bounds in item.items():
                    check_bounds(bounds, f"guardrails.nodes.{node}")
            elif isinstance(item, dict):
                check_bounds(item, f"guardrails.{key}")
            else:
                check_bounds({key: item}, "guardrails")
        return value

    @field_validator("ramp")
    @classmethod
    def _ramp_factors(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and (not value or any(not 0.0 <= f <= 1.0 for f in value)):
            raise ValueError("ramp: a non-empty list of factors in [0, 1]")
        return value

    @field_validator("fiscal_year_start", mode="before")
    @classmethod
    def _plan_year(cls, value: Any, info: Any) -> str | None:
        from datetime import date

        if value is None:
            if info.data.get("ramp") is not None:
                raise ValueError("fiscal_year_start is required when ramp is given")
            return None
        try:
            start = date.fromisoformat(str(value)[:10])
        except ValueError:
            raise ValueError("fiscal_year_start must be a date YYYY-MM-DD") from None
        if start.day != 1:
            raise ValueError("fiscal_year_start must be the first day of a month")
        return start.isoformat()


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
            if key in DataConfig.model_fields and key not in ("columns", "sheet",
                                                               "adjacency_rule") \
                    and isinstance(value, str):
                data[key] = str((path.parent / value).resolve())
    quota = raw.get("quota")
    if isinstance(quota, dict) and isinstance(quota.get("bottom_up"), str) \
            and quota["bottom_up"].lower().endswith((".csv", ".xlsx", ".parquet")):
        quota["bottom_up"] = str((path.parent / quota["bottom_up"]).resolve())
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
