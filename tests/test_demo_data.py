"""The bundled demo data: shipped files, their documented properties, scenarios, determinism."""

from __future__ import annotations

import hashlib
import importlib.util
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.stats import spearmanr

from territory_opt.demo import generate
from territory_opt.scenarios.config import load_scenario

DEMO = Path(generate.__file__).parent
DATA = DEMO / "data"
REPO = DEMO.parent.parent
IDS = {c: str for c in ("account_id", "unit_id", "neighbor_id", "current_territory",
                        "parent_account_id", "locked_territory", "rep_id", "territory_id",
                        "parent_id", "manager_id")}
SCENARIOS = ["base", "demo-current", "demo-balanced", "demo-greenfield"]


@pytest.fixture(scope="module")
def counties() -> gpd.GeoDataFrame:
    return gpd.read_file(DATA / "counties.gpkg")


@pytest.fixture(scope="module")
def accounts() -> pd.DataFrame:
    return pd.read_csv(DATA / "accounts.csv", dtype=IDS)


@pytest.fixture(scope="module")
def reps() -> pd.DataFrame:
    return pd.read_csv(DATA / "reps.csv", dtype=IDS)


@pytest.fixture(scope="module")
def territories() -> pd.DataFrame:
    return pd.read_csv(DATA / "territories.csv", dtype=IDS)


@pytest.fixture(scope="module")
def adjacency() -> pd.DataFrame:
    return pd.read_csv(DATA / "adjacency.csv", dtype=IDS)


def leaves_of(territories: pd.DataFrame) -> list[str]:
    parents = set(territories["parent_id"].dropna())
    return [t for t in territories["territory_id"] if t not in parents]


def fte_targets(accounts, reps, leaves, metric) -> pd.Series:
    """Each leaf's FTE share of the metric total (a vacancy counts 1 FTE)."""
    fte = reps.groupby("territory_id")["fte"].sum().reindex(leaves).fillna(1.0)
    return accounts[metric].sum() * fte / fte.sum()


def ferry_edges() -> set[tuple[str, str]]:
    text = (DEMO / "DATA.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\s*\| (\d{5}) \| (\d{5}) \| [\d.]+ \|", text, flags=re.MULTILINE))


def test_counties_are_conus_with_population_and_points_inside(counties):
    assert list(counties.columns) == ["unit_id", "name", "state", "population", "lat", "lon",
                                      "geometry"]
    assert len(counties) == 3108 and counties["unit_id"].is_unique
    assert counties["unit_id"].str.fullmatch(r"\d{5}").all()
    assert counties.crs.to_epsg() == 4326
    assert not counties["state"].isin(["AK", "HI", "PR"]).any()
    assert counties["state"].nunique() == 49  # 48 states + DC
    assert (counties["population"] > 0).all()
    assert 2.8e8 < counties["population"].sum() < 3.1e8
    assert counties.loc[counties["unit_id"] == "06037", "name"].item() == "Los Angeles County"
    assert counties.loc[counties["unit_id"] == "46102", "population"].item() > 0  # patched
    assert shapely.is_valid(counties.geometry.to_numpy()).all()
    assert shapely.contains_xy(counties.geometry.to_numpy(), counties["lon"], counties["lat"]).all()


def test_accounts_columns_ids_and_units(accounts, counties, territories):
    assert list(accounts.columns) == generate.ACCOUNT_ORDER
    assert len(accounts) == 20_000
    assert accounts["account_id"].is_unique and accounts["name"].is_unique
    assert accounts["account_id"].str.fullmatch(r"A\d{6}").all()
    assert accounts["unit_id"].isin(counties["unit_id"]).all()
    assert accounts["current_territory"].isin(leaves_of(territories)).all()
    assert set(accounts["segment"]) == {"Enterprise", "Mid-Market", "SMB"}


def test_every_account_lies_in_its_county(accounts, counties):
    polygon = counties.set_index("unit_id").geometry.reindex(accounts["unit_id"]).to_numpy()
    assert shapely.contains_xy(polygon, accounts["lon"], accounts["lat"]).all()


def test_account_density_follows_population(accounts, counties):
    per_county = accounts["unit_id"].value_counts().reindex(counties["unit_id"]).fillna(0)
    rho = spearmanr(per_county.to_numpy(), counties["population"].to_numpy()).statistic
    assert rho > 0.5
    top = counties.nlargest(20, "population")["unit_id"]
    expected = counties.set_index("unit_id")["population"][top] / counties["population"].sum()
    observed = per_county[top] / len(accounts)
    assert np.allclose(observed, expected, rtol=0.25)


def test_segments_have_different_value_scales(accounts):
    median = accounts.groupby("segment")[["potential", "workload"]].median()
    for column in ("potential", "workload"):
        assert median.loc["Enterprise", column] > median.loc["Mid-Market", column] > \
            median.loc["SMB", column]
    potential = accounts["potential"]
    assert potential.min() > 0 and potential.max() > 20 * potential.median()  # heavy tail
    assert (accounts["sales_ly"] >= 0).all() and (accounts["sales_ly"] <= potential).all()
    assert 0.05 < (accounts["sales_ly"] == 0).mean() < 0.4
    assert spearmanr(accounts["sales_ly"], potential).statistic > 0.5
    assert (accounts["workload"] > 0).all()


def test_families_and_locks(accounts):
    children = accounts[accounts["parent_account_id"].notna()]
    assert 0.02 < len(children) / len(accounts) < 0.04
    by_id = accounts.set_index("account_id")
    parents = by_id.loc[children["parent_account_id"]]
    assert parents["parent_account_id"].isna().all()  # one level deep, no cycles
    assert (parents["current_territory"].to_numpy() == children["current_territory"]).all()
    locked = accounts[accounts["locked_territory"].notna()]
    assert 0.003 < len(locked) / len(accounts) < 0.01
    assert (locked["locked_territory"] == locked["current_territory"]).all()
    in_family = set(children["account_id"]) | set(children["parent_account_id"])
    assert not set(locked["account_id"]) & in_family
    assert (locked.groupby("unit_id")["locked_territory"].nunique() == 1).all()  # unit level


def test_locked_accounts_sit_in_their_reps_home_county(accounts, reps, counties):
    locked = accounts[accounts["locked_territory"].notna()]
    home = reps.merge(counties, left_on=["home_lat", "home_lon"], right_on=["lat", "lon"])
    home_unit = dict(zip(home["territory_id"], home["unit_id"]))
    assert len(home_unit) == len(reps)
    assert (locked["unit_id"] == locked["locked_territory"].map(home_unit)).all()


def test_hierarchy_has_three_levels_under_one_root(territories):
    assert list(territories.columns) == ["territory_id", "parent_id", "level", "name"]
    assert territories["territory_id"].is_unique
    roots = territories[territories["parent_id"].isna()]
    assert len(roots) == 1
    parent = dict(zip(territories["territory_id"], territories["parent_id"]))
    level = dict(zip(territories["territory_id"], territories["level"]))
    leaves = leaves_of(territories)
    assert leaves == [f"T{i:02d}" for i in range(1, 41)]
    for leaf in leaves:
        chain = [leaf]
        while isinstance(parent[chain[-1]], str):
            chain.append(parent[chain[-1]])
        assert [level[t] for t in chain] == ["territory", "district", "region", "company"]
    counts = territories["level"].value_counts()
    assert counts["region"] == 4 and 8 <= counts["district"] <= 10


def test_reps_vacancies_fte_and_managers(reps, territories, counties):
    leaves = leaves_of(territories)
    assert reps["rep_id"].is_unique and reps["territory_id"].is_unique
    assert reps["territory_id"].isin(leaves).all()
    assert len(set(leaves) - set(reps["territory_id"])) in (1, 2)  # vacancies
    assert (reps["fte"] == 0.5).sum() in (2, 3) and reps["fte"].isin([0.5, 1.0]).all()
    assert reps["email"].is_unique
    assert reps["email"].str.fullmatch(r"[a-z]+\.[a-z]+@example\.com").all()
    start = pd.to_datetime(reps["start_date"], format="%Y-%m-%d")
    assert (start.dt.year == generate.CURRENT_YEAR).sum() >= 2
    district = territories.set_index("territory_id")["parent_id"]
    assert (reps["manager_id"] == "DM" + district[reps["territory_id"]].str[1:].to_numpy()).all()
    # a rep lives at the point of the county the territory is named after
    home = counties.set_index(["lat", "lon"])[["name", "state"]]
    names = territories.set_index("territory_id")["name"]
    for rep in reps.itertuples():
        county = home.loc[(rep.home_lat, rep.home_lon)]
        assert names[rep.territory_id] == f"{county['name']}, {county['state']}"


def test_regions_hold_reps(reps, territories):
    parent = territories.set_index("territory_id")["parent_id"]
    region = parent[parent[reps["territory_id"]].to_numpy()]
    assert region.value_counts().min() >= 5


def test_current_alignment_is_unbalanced(accounts, reps, territories):
    leaves = leaves_of(territories)
    for metric in ("potential", "workload"):
        totals = accounts.groupby("current_territory")[metric].sum().reindex(leaves).fillna(0)
        deviation = totals / fte_targets(accounts, reps, leaves, metric) - 1.0
        assert deviation.abs().max() > 0.30
        assert deviation.min() < -0.3 and deviation.max() > 0.5
    potential = accounts.groupby("current_territory")["potential"].sum().reindex(leaves)
    ratio = potential / fte_targets(accounts, reps, leaves, "potential")
    assert 0.4 < ratio.min() < 0.65 and 1.6 < ratio.max() < 2.1  # documented: ~0.5x to ~1.8x


def test_adjacency_is_rook_of_shipped_shapes_plus_ferries(adjacency, counties):
    assert list(adjacency.columns) == ["unit_id", "neighbor_id"]
    assert (adjacency["unit_id"] < adjacency["neighbor_id"]).all()
    assert not adjacency.duplicated().any()
    ids = counties["unit_id"].to_numpy()
    index = {u: i for i, u in enumerate(ids)}
    left = adjacency["unit_id"].map(index).to_numpy()
    right = adjacency["neighbor_id"].map(index).to_numpy()
    graph = coo_matrix((np.ones(len(left)), (left, right)), shape=(len(ids), len(ids)))
    assert connected_components(graph, directed=False)[0] == 1

    # independent rook check: shared boundary length > 0 between the simplified shapes
    geoms = counties.to_crs(5070).geometry.to_numpy()
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    a, b = a[a < b], b[a < b]
    shared = shapely.length(shapely.intersection(shapely.boundary(geoms[a]),
                                                 shapely.boundary(geoms[b]))) > 0
    rook = set(zip(ids[a[shared]], ids[b[shared]]))
    ferries = ferry_edges()
    assert len(ferries) == 3 and not ferries & rook
    assert set(zip(adjacency["unit_id"], adjacency["neighbor_id"])) == rook | ferries


def test_scenarios_parse_and_point_at_the_shipped_data():
    for name in SCENARIOS:
        package = load_scenario(DEMO / f"{name}.toml")
        copy = load_scenario(REPO / "scenarios" / f"{'demo-base' if name == 'base' else name}.toml")
        assert package.name == copy.name == ("demo-base" if name == "base" else name)
        assert package.model_dump(exclude={"source"}) == copy.model_dump(exclude={"source"})
        for key in ("accounts", "reps", "territories", "units", "adjacency"):
            assert getattr(package.data, key) == DATA / Path(getattr(package.data, key)).name
            assert getattr(package.data, key).is_file()
    current = load_scenario(DEMO / "demo-current.toml").alignment
    assert current.mode == "current"
    balanced = load_scenario(DEMO / "demo-balanced.toml").alignment
    assert (balanced.level, balanced.compactness, balanced.max_moved_share) == \
        ("account", "travel", 0.20)
    assert not balanced.deterministic and balanced.time_limit == 60 and balanced.seed == 0
    assert [(r.metric, r.tolerance, r.soft) for r in balanced.balance] == \
        [("potential", 0.05, False), ("workload", 0.10, False)]
    greenfield = load_scenario(DEMO / "demo-greenfield.toml").alignment
    assert (greenfield.level, greenfield.centers, greenfield.contiguous,
            greenfield.territories, greenfield.compactness) == ("unit", "free", True, 40, "inertia")
    assert [(r.metric, r.tolerance) for r in greenfield.balance] == \
        [("potential", 0.05), ("workload", 0.10)]


def test_quota_total_is_110_percent_of_last_year(accounts):
    quota = load_scenario(DEMO / "base.toml").quota
    assert quota.total == pytest.approx(1.1 * accounts["sales_ly"].sum(), abs=500_000)
    assert quota.method == {"potential": 0.6, "history": 0.4}
    assert quota.overassign == {"district": 0.05, "territory": 0.03}
    assert quota.round_to == 1000
    assert quota.guardrails == {"max_growth": 0.25, "min_growth": -0.10}


def test_shipped_data_is_small():
    assert sum(p.stat().st_size for p in DATA.iterdir()) < 6e6
    assert sorted(p.name for p in DATA.iterdir()) == sorted(generate.DATA_FILES)


def test_shipped_files_match_the_checksums_in_data_md():
    recorded = generate.recorded_checksums()
    assert set(recorded) == set(generate.DATA_FILES)
    for name, digest in recorded.items():
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest, name


def test_synthesis_is_deterministic_in_the_seed(counties):
    east = counties[counties["state"].isin(["NY", "NJ", "PA", "CT", "MA", "MD", "DE"])]
    first = generate.synthesize(east, n_accounts=1500, n_territories=8, seed=5)
    again = generate.synthesize(east, n_accounts=1500, n_territories=8, seed=5)
    other = generate.synthesize(east, n_accounts=1500, n_territories=8, seed=6)
    for name in ("accounts", "reps", "territories"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(again, name))
    assert not first.accounts.equals(other.accounts)
    assert len(first.accounts) == 1500 and first.accounts["unit_id"].isin(east["unit_id"]).all()
    assert len(leaves_of(first.territories)) == 8


NUMERIC_LIBRARIES = ("numpy", "pandas", "scipy", "shapely", "GEOS", "pyproj")


@pytest.mark.skipif(
    any(generate.tool_versions()[k] != generate.recorded_versions().get(k)
        for k in NUMERIC_LIBRARIES),
    reason="numeric libraries differ from those recorded in DATA.md (random streams and "
           "projections may change between versions)",
)
def test_shipped_synthetic_files_regenerate_from_shipped_counties(counties):
    frames = generate.synthesize(counties)
    for name, frame in (("accounts.csv", frames.accounts[generate.ACCOUNT_ORDER]),
                        ("reps.csv", frames.reps), ("territories.csv", frames.territories)):
        assert frame.to_csv(index=False) == (DATA / name).read_text(encoding="utf-8"), name


@pytest.mark.skipif(
    importlib.util.find_spec("_plotly_geo") is None
    or importlib.util.find_spec("cohort_compare") is None,
    reason="generation-time extra demo-data (plotly-geo, cohort-compare) not installed",
)
def test_real_sources_match_shipped_counties(counties):
    full = generate.load_counties()
    shipped = counties.drop(columns=["geometry", "lat", "lon"])
    pd.testing.assert_frame_equal(full.drop(columns="geometry"), shipped, check_dtype=False)
