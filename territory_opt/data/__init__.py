"""Reading and validating input data: files -> a checked :class:`~territory_opt.dataset.Dataset`.

``load_dataset(scenario)`` raises :class:`~territory_opt.errors.InputError` listing every
problem; ``collect_issues(scenario)`` returns that list instead (empty when valid).
"""

from territory_opt.data.adjacency import adjacency_from_polygons, normalise_edges
from territory_opt.data.load import collect_issues, load_dataset
from territory_opt.data.readers import EncodingFallbackWarning, read_table, read_units

__all__ = [
    "EncodingFallbackWarning", "adjacency_from_polygons", "collect_issues", "load_dataset",
    "normalise_edges", "read_table", "read_units",
]
