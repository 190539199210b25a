"""territory_opt: territory and quota optimisation with proven bounds."""

from territory_opt.errors import InfeasibleError, InputError, InputIssue, NoSolutionError
from territory_opt.scenarios.config import Scenario, load_scenario

__version__ = "0.1.0"

__all__ = [
    "InfeasibleError", "InputError", "InputIssue", "NoSolutionError", "Scenario", "load_scenario",
    "__version__",
]
