"""A check's verdict, `Gate`: passed or not, a one-line message naming the fix, what was seen."""

from __future__ import annotations

from dataclasses import dataclass, field

from imbal_pipeline.core import checks

ERROR, WARN = "error", "warn"


@dataclass
class Gate:
    """One check's verdict: a one-line message naming the problem and the fix, and what was seen.

    `name` is a check declared in `checks.CHECKS`; a failure of a warn-only check is a warning.
    """

    name: str
    passed: bool
    message: str
    severity: str = ERROR
    observed: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        check = checks.CHECKS.get(self.name)
        if check is None:  # a name is declared once, in core/checks.py, with its description
            raise KeyError(f"gate {self.name!r} is no declared check; declare it in checks.py")
        if check.warn_only and not self.passed:
            self.severity = WARN

    @property
    def blocks(self) -> bool:
        """A failed error-severity gate stops everything downstream."""
        return not self.passed and self.severity == ERROR


def ends_alarm(gate: Gate) -> bool:
    """A pass that could have been a failure: the batch was large enough to judge (a check's
    `ends_alarm`, else its `judged`; a check that says neither judged it). Only such a pass
    ends a monitoring alarm, after which a new failure may ask for retraining again."""
    seen = gate.observed
    return seen.get("ends_alarm", seen.get("judged", True)) not in (False, 0)


def ok(name: str, message: str, **observed) -> Gate:
    """A passing gate."""
    return Gate(name, True, message, ERROR, observed)


def fail(name: str, message: str, severity: str = ERROR, **observed) -> Gate:
    """A failing gate (blocking unless severity is warn)."""
    return Gate(name, False, message, severity, observed)
