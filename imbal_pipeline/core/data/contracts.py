"""Great Expectations 1.x suites from `data_contracts/`, run on in-memory frames."""

from __future__ import annotations

import functools
import importlib.resources
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from imbal_pipeline.core import budget
from imbal_pipeline.core.data.contract_rules import MAX_DEPTH, ContractError, check_suite
from imbal_pipeline.core.data.data import close_name, columns_text, file_problem
from imbal_pipeline.core.jsonready import json_ready
from imbal_pipeline.core.settings import LABEL, ROW_ID

# The product's own suites: data_contracts/ in the repository, versioned with the code, shipped
# inside the package (see pyproject.toml) so any install has them.
BUILTIN = "imbal_pipeline.data_contracts"


@dataclass
class ContractResult:
    """Outcome of one suite on one frame."""

    suite: str
    success: bool
    evaluated: int
    failures: list[dict] = field(default_factory=list)

    def summary(self) -> str:
        """One line: what failed, with observed values."""
        if self.success:
            return f"{self.suite}: all {self.evaluated} expectations met"
        # A column the column set already names as missing is not said again by each
        # expectation on it (all failures stay in the gate's metadata).
        gone = {c for f in self.failures for c in (f.get("mismatched") or {}).get("missing", [])}
        said = [
            f
            for f in self.failures
            if f.get("error") != "missing column" or f["column"] not in gone
        ]
        parts = [_describe(f) for f in said[:3]]
        more = f" (+{len(said) - 3} more)" if len(said) > 3 else ""
        return f"{self.suite}: " + "; ".join(parts) + more


def _describe(failure: dict) -> str:
    if failure.get("error") == "over budget":
        return (
            f"validation stopped after its budget of {failure['budget_seconds']} s (a regex "
            "with nested repeats, such as '(a+)+', can backtrack for hours on a long value); "
            "simplify the contract's regexes"
        )
    if failure.get("error") == "missing column":
        return (
            f"{failure['expectation']} names column {failure['column']!r}, which is not in "
            f"the data ({failure['why'].split('(', 1)[1]}; fix the contract or the data"
        )
    what = failure["expectation"].removeprefix("expect_").replace("_", " ")
    column = f"{failure['column']!r} " if failure.get("column") else ""
    seen = _mismatched(failure.get("mismatched") or {})
    if failure.get("unexpected_count"):
        seen.append(f"{failure['unexpected_count']} rows")
    if failure.get("examples"):
        seen.append(f"e.g. {failure['examples'][:3]}")
    if failure.get("observed") is not None and not seen:
        seen.append(f"observed {failure['observed']}")
    why = f" ({failure['why']})" if failure.get("why") else ""
    return f"{column}{what} failed: {', '.join(seen) or 'not met'}{why}"


def _mismatched(mismatched: dict) -> list[str]:
    """A column set's difference, a few names of each side: the whole observed list of a wide
    table would bury it."""
    seen = []
    for side, said in (("missing", "missing"), ("unexpected", "not expected")):
        names = [repr(str(c)) for c in mismatched.get(side) or []]
        if names:
            more = f" and {len(names) - 3} more" if len(names) > 3 else ""
            seen.append(f"{', '.join(names[:3])}{more} {said}")
    return seen


# A contract is a page of rules: the derived contract of a 50,000-column table is about 20 MB.
# A larger file is refused before it is read, so the up-front check stays fast.
MAX_CONTRACT_BYTES = 32 * 2**20
# Validation's time budget: a base, plus time per row and expectation (GX's pandas engine takes
# about 0.5 us per row and expectation here; ten times that leaves room for slower machines).
# Legitimate data stays far inside it; a catastrophic regex never ends, and is stopped.
BUDGET_SECONDS = 120.0
BUDGET_PER_ROW_CHECK = 5e-6


@functools.cache
def _builtin_text(name: str) -> dict:
    return json.loads((importlib.resources.files(BUILTIN) / f"{name}.json").read_text())


@functools.cache
def builtin_suite(name: str, **parameters: int) -> dict:
    """One of the product's own suites in data_contracts/, by name, with its parameters
    written in as literal values; then checked like any other suite, so that every suite
    Great Expectations sees is literal."""
    unused = set(parameters)
    suite = _substitute(_builtin_text(name), parameters, unused, name)
    if unused:
        raise ValueError(f"builtin suite {name} takes no parameter {sorted(unused)[0]!r}")
    check_suite(suite, f"{name}.json")
    return suite


def _substitute(node, parameters: dict, unused: set, name: str):
    if isinstance(node, dict):
        if set(node) == {"$PARAMETER"}:
            key = node["$PARAMETER"]
            if key not in parameters:
                raise ValueError(f"builtin suite {name} needs the parameter {key!r}")
            unused.discard(key)
            return parameters[key]
        return {k: _substitute(v, parameters, unused, name) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, parameters, unused, name) for v in node]
    return node


def load_suite(path: str | Path) -> dict:
    """A suite file, read as given and checked to be data only (see `check_suite`)."""
    path = Path(path)
    problem = file_problem(path, "contract")
    if problem is not None:
        raise ContractError(problem)
    try:
        size = path.stat().st_size
        if size > MAX_CONTRACT_BYTES:
            raise ContractError(
                f"contract {path} is {size / 2**20:.0f} MB, more than the "
                f"{MAX_CONTRACT_BYTES // 2**20} MB a contract may be (it holds rules, not data); "
                "shorten it"
            )
        suite = json.loads(path.read_text())
    except ContractError:
        raise
    except FileNotFoundError as exc:
        raise ContractError(f"contract not found: {path}; check the path") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ContractError(f"contract {path} cannot be read ({exc}); fix the file") from exc
    except json.JSONDecodeError as exc:
        raise ContractError(f"contract {path} is not valid JSON ({exc.msg}); fix the file") from exc
    except RecursionError as exc:  # json.loads recurses once per level
        raise ContractError(
            f"contract {path} nests deeper than {MAX_DEPTH} levels; a GX suite needs about 7, "
            "flatten it"
        ) from exc
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise ContractError(f"contract {path} is not valid JSON ({exc}); fix the file") from exc
    check_suite(suite, str(path))
    return suite


def _gx_check(expectations: list[dict], name: str) -> None:
    """Build each expectation as Great Expectations will, so that a value it would refuse is
    named here (it would drop the expectation with a traceback and report the rest as met)."""
    from great_expectations.compatibility import pydantic
    from great_expectations.expectations.registry import get_expectation_impl

    for number, expectation in enumerate(expectations, start=1):
        kind = expectation["type"]
        try:
            get_expectation_impl(kind)(**expectation.get("kwargs", {}))
        except pydantic.ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            raise ContractError(
                f"contract {name}: expectation {number} ({kind}): argument {where!r}: "
                f"{error['msg']}; fix the contract"
            ) from exc


@functools.cache
def _batch_definition():
    """One ephemeral context per process: each new one leaves a temp docs folder behind."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx  # ~3 s to import: only where a suite runs
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return (
        context.data_sources.add_pandas("frames")
        .add_dataframe_asset("frame")
        .add_batch_definition_whole_dataframe("whole")
    )


# Expectation arguments that name a column of the validated frame.
COLUMN_ARGUMENTS = ("column", "column_A", "column_B")


def _missing_column(frame: pd.DataFrame, expectation: dict) -> str | None:
    """The first column an expectation names that the frame does not have, or None."""
    present = {str(c) for c in frame.columns}
    kwargs = expectation.get("kwargs", {})
    named = [kwargs[a] for a in COLUMN_ARGUMENTS if isinstance(kwargs.get(a), str)]
    named += [c for c in kwargs.get("column_list") or [] if isinstance(c, str)]
    return next((c for c in named if c not in present), None)


def validation_budget(rows: int, expectations: int) -> float:
    """Seconds a suite's validation may take on a frame of `rows` rows."""
    return BUDGET_SECONDS + BUDGET_PER_ROW_CHECK * rows * max(expectations, 1)


def validate(frame: pd.DataFrame, suite: dict) -> ContractResult:
    """Validate a frame against a suite with an ephemeral GX context, within a time budget.

    The suite is checked again here (it costs microseconds), so nothing but a literal suite
    ever reaches Great Expectations. An expectation naming a column the frame lacks is a
    failure said plainly (GX would bury it in an exception); the others run as usual.
    """
    name = suite.get("name", "suite") if isinstance(suite, dict) else "suite"
    check_suite(suite, name)
    runnable, missing = [], []
    for expectation in suite["expectations"]:
        column = _missing_column(frame, expectation)
        if column is None:
            runnable.append(expectation)
            continue
        present = sorted({str(c) for c in frame.columns} - {ROW_ID, LABEL})
        close = close_name(column, present)
        hint = f"did you mean {close!r}? " if close is not None else ""
        missing.append(
            {
                "expectation": expectation["type"],
                "column": column,
                "observed": None,
                "unexpected_count": None,
                "examples": [],
                "why": f"the column is not in the data ({hint}columns: {columns_text(present)})",
                "error": "missing column",
            }
        )
    success, failures = True, list[dict]()
    if runnable:
        seconds = validation_budget(len(frame), len(runnable))
        _batch_definition()  # importing GX takes seconds, which are not the contract's
        try:
            success, failures = budget.run_within(
                seconds, functools.partial(_run, frame, runnable, name)
            )
        except budget.BudgetExceeded:
            success, failures = False, [_over_budget(seconds)]
    return ContractResult(
        name, success and not missing, len(suite["expectations"]), failures + missing
    )


def _run(frame: pd.DataFrame, expectations: list[dict], name: str) -> tuple[bool, list[dict]]:
    """GX's verdict on the frame: success, and each failed expectation as plain data."""
    import great_expectations as gx

    _gx_check(expectations, name)
    gx_suite = gx.ExpectationSuite(name=name, expectations=expectations)
    if len(gx_suite.expectations) != len(expectations):
        # _gx_check refuses what GX would drop; this only guards against that drifting.
        raise ContractError(
            f"contract {name}: Great Expectations built {len(gx_suite.expectations)} of "
            f"{len(expectations)} expectations; fix the contract"
        )
    batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(gx_suite)
    failures = []
    for item in result.results:
        if item.success:
            continue
        config = item.expectation_config
        details = item.result or {}
        failures.append(
            {
                "expectation": config.type,
                "column": config.kwargs.get("column"),
                "observed": json_ready(details.get("observed_value")),
                "unexpected_count": details.get("unexpected_count"),
                "examples": json_ready(details.get("partial_unexpected_list", [])[:5]),
                "why": (config.meta or {}).get("why"),
                "error": (item.exception_info or {}).get("exception_message"),
                # A column set's difference: {"missing": [...], "unexpected": [...]}.
                "mismatched": json_ready((details.get("details") or {}).get("mismatched")),
            }
        )
    return bool(result.success), failures


def _over_budget(seconds: float) -> dict:
    return {
        "expectation": "validation",
        "column": None,
        "observed": None,
        "unexpected_count": None,
        "examples": [],
        "why": None,
        "error": "over budget",
        "budget_seconds": round(seconds),
    }
