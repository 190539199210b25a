"""Export a chosen plan to CRMs (Salesforce, Dynamics 365, HubSpot, Veeva) and GIS/Excel.

``export_result(result, "salesforce", out_dir)`` writes ``out_dir/salesforce/`` whole
or not at all: every format folder also holds ``alignment.csv`` (account_id,
territory_id: the plan, for re-import) and a ``README.md`` listing the files, the
load order and what was skipped.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

from territory_opt.errors import InputError, InputIssue
from territory_opt.export.dynamics import write_dynamics
from territory_opt.export.excel import write_xlsx
from territory_opt.export.folder import ExportFolder, atomic_folder
from territory_opt.export.gis import write_geojson, write_gpkg
from territory_opt.export.hubspot import write_hubspot
from territory_opt.export.plan import alignment_frame
from territory_opt.export.salesforce import write_salesforce
from territory_opt.export.veeva import write_veeva
from territory_opt.results import Result

Writer = Callable[..., None]

# format name -> (writer, README intro)
FORMATS: dict[str, tuple[Writer, str]] = {
    "salesforce": (
        write_salesforce,
        (
            "Salesforce Enterprise Territory Management: a Metadata API "
            "package for the model and territories plus Data Loader CSVs."
        ),
    ),
    "dynamics": (write_dynamics, "Microsoft Dynamics 365 Sales import files (UTF-8 with BOM)."),
    "hubspot": (write_hubspot, "HubSpot company import: owner and territory property per company."),
    "veeva": (
        write_veeva,
        (
            "Pharma / Veeva CRM alignment bundle (territories, ZIP or unit alignment, "
            "roster, account overrides)."
        ),
    ),
    "gpkg": (write_gpkg, "GeoPackage for QGIS/ArcGIS (EPSG:4326)."),
    "geojson": (write_geojson, "GeoJSON layers (RFC 7946, WGS84 lon/lat)."),
    "xlsx": (write_xlsx, "Excel workbook for review."),
}
ALIASES = {"pharma": "veeva", "geopackage": "gpkg", "excel": "xlsx", "d365": "dynamics"}


def _check_options(fmt: str, writer: Writer, options: dict) -> None:
    accepted = [
        p.name
        for p in inspect.signature(writer).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise InputError(
            [
                InputIssue(
                    "export options",
                    f"an option of '{fmt}': {', '.join(accepted) or 'none'}",
                    column=name,
                    value=str(options[name]),
                )
                for name in unknown
            ]
        )


def export_result(result: Result, fmt: str, out_dir: str | Path, **options) -> list[Path]:
    """Write ``result`` in format ``fmt`` to ``out_dir/<fmt>/``; returns the files written, sorted.

    Options are the writer's keyword arguments (e.g. Salesforce ``users=``,
    ``current_associations=``); unknown formats or options are InputErrors.
    """
    name = ALIASES.get(fmt.lower(), fmt.lower())
    if name not in FORMATS:
        raise InputError([InputIssue("--to", f"one of {', '.join(FORMATS)}", value=fmt)])
    writer, intro = FORMATS[name]
    _check_options(name, writer, options)
    target = Path(out_dir) / name
    with atomic_folder(target) as staging:
        folder = ExportFolder(staging)
        writer(result, folder, **options)
        if options:
            folder.section(
                "Options", "\n".join(f"- `{k}` = `{v}`" for k, v in sorted(options.items()))
            )
        folder.csv(
            "alignment.csv",
            alignment_frame(result),
            "the plan: account_id, territory_id (re-import as the current alignment)",
        )
        folder.text(
            "README.md",
            folder.readme(
                f"{name} export of scenario '{result.scenario.name}'",
                f"{intro} Plan status: {result.metrics.get('status', 'unknown')}.",
            ),
        )
    return sorted(p for p in target.rglob("*") if p.is_file())


__all__ = ["FORMATS", "alignment_frame", "export_result"]
