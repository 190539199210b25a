"""Errors the user can act on, each with its command-line exit code.

Exit codes (SPEC): 0 success; 2 invalid input or usage; 3 infeasible;
4 time limit reached with no feasible plan; 1 anything else (a bug).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InputIssue:
    """One problem found in the inputs.

    ``row`` is the row number as a spreadsheet shows it (header = row 1, first data
    row = row 2); ``None`` when the issue concerns a whole file or a setting.
    """

    file: str
    expected: str
    row: int | None = None
    column: str | None = None
    value: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column:
            where += f", column '{self.column}'"
        got = f": got {self.value!r}" if self.value is not None else ""
        return f"{where}{got}; expected {self.expected}"


class TerritoryOptError(Exception):
    """Base class of every error the tool reports to the user."""

    exit_code = 1


class InputError(TerritoryOptError):
    """The inputs are invalid; carries every issue found, not just the first."""

    exit_code = 2

    def __init__(self, issues: list[InputIssue]):
        self.issues = list(issues)
        lines = [str(i) for i in self.issues[:20]]
        more = len(self.issues) - len(lines)
        if more > 0:
            lines.append(f"... and {more} more")
        super().__init__(f"{len(self.issues)} input problem(s):\n" + "\n".join(lines))


class InfeasibleError(TerritoryOptError):
    """The hard constraints cannot all hold; ``reasons`` say which conflict, in plain words."""

    exit_code = 3
    headline = "the hard constraints cannot all hold"

    def __init__(self, reasons: list[str]):
        self.reasons = list(reasons) or [self.headline]
        super().__init__("infeasible:\n" + "\n".join(f"- {r}" for r in self.reasons))


class QuotaInfeasibleError(InfeasibleError):
    """The alignment holds but its quotas cannot meet the guardrails; ``result`` carries the
    alignment without quotas (``metrics["quota"]["status"] == "INFEASIBLE"``), so it is not lost."""

    headline = "the quotas cannot meet their guardrails on this alignment"

    def __init__(self, reasons: list[str], result):
        super().__init__(reasons)
        self.result = result


class NoSolutionError(TerritoryOptError):
    """The time limit was reached before any feasible plan was found."""

    exit_code = 4
