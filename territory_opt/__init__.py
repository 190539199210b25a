"""territory_opt: territory and quota optimisation with proven bounds.

``import territory_opt as to`` gives the whole pipeline: ``to.load_scenario`` →
``to.run_scenario`` → ``to.write_result``; ``to.load_result`` re-opens a results
folder. Heavier pieces (maps, exports, quotas) live in their subpackages and are
imported on first use, so ``import territory_opt`` stays cheap.
"""

from territory_opt.errors import (
    InfeasibleError,
    InputError,
    InputIssue,
    NoSolutionError,
    QuotaInfeasibleError,
)
from territory_opt.scenarios.config import Scenario, load_scenario

__version__ = "0.1.0"

_RUNNER = ("load_result", "run_and_write", "run_file", "run_scenario", "write_result")

__all__ = [
    "InfeasibleError",
    "InputError",
    "InputIssue",
    "NoSolutionError",
    "QuotaInfeasibleError",
    "Result",
    "Scenario",
    "__version__",
    "load_result",
    "load_scenario",
    "run_and_write",
    "run_file",
    "run_scenario",
    "write_result",
]


def __getattr__(name: str):
    if name in _RUNNER:
        from territory_opt.scenarios import runner

        return getattr(runner, name)
    if name == "Result":
        from territory_opt.results import Result

        return Result
    raise AttributeError(f"module 'territory_opt' has no attribute {name!r}")
