"""territory_opt: territory and quota optimisation with proven bounds.

``import territory_opt as to`` gives the whole pipeline: ``to.load_scenario`` →
``to.run_scenario`` → ``to.write_result``; ``to.load_result`` re-opens a results
folder. Heavier pieces (maps, exports, quotas) live in their subpackages.
"""

from territory_opt.errors import InfeasibleError, InputError, InputIssue, NoSolutionError
from territory_opt.results import Result
from territory_opt.scenarios.config import Scenario, load_scenario
from territory_opt.scenarios.runner import load_result, run_file, run_scenario, write_result

__version__ = "0.1.0"

__all__ = [
    "InfeasibleError", "InputError", "InputIssue", "NoSolutionError", "Result", "Scenario",
    "load_result", "load_scenario", "run_file", "run_scenario", "write_result", "__version__",
]
