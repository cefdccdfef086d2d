"""Great Expectations 1.x suites from `data_contracts/`, run on in-memory frames."""

from __future__ import annotations

import difflib
import functools
import hashlib
import importlib.resources
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from imbal_pipeline.core.jsonready import json_ready

# The product's own suites: data_contracts/ in the repository, versioned with the code, shipped
# inside the package (see pyproject.toml) so any install has them.
BUILTIN = "imbal_pipeline.data_contracts"
NUMERIC_TYPES = [
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
    "Int64",
    "Float64",
]


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
        parts = [_describe(f) for f in self.failures[:3]]
        more = f" (+{len(self.failures) - 3} more)" if len(self.failures) > 3 else ""
        return f"{self.suite}: " + "; ".join(parts) + more


def _describe(failure: dict) -> str:
    if failure.get("error") == "missing column":
        return (
            f"{failure['expectation']} names column {failure['column']!r}, which is not in "
            f"the data ({failure['why'].split('(', 1)[1]}; fix the contract or the data"
        )
    what = failure["expectation"].removeprefix("expect_").replace("_", " ")
    column = f"{failure['column']!r} " if failure.get("column") else ""
    seen = []
    if failure.get("unexpected_count"):
        seen.append(f"{failure['unexpected_count']} rows")
    if failure.get("examples"):
        seen.append(f"e.g. {failure['examples'][:3]}")
    if failure.get("observed") is not None and not seen:
        seen.append(f"observed {failure['observed']}")
    why = f" ({failure['why']})" if failure.get("why") else ""
    return f"{column}{what} failed: {', '.join(seen) or 'not met'}{why}"


class ContractError(ValueError):
    """A suite that cannot be used as a contract; the message names the expectation and the fix."""


# Expectation arguments Great Expectations hands to pandas' DataFrame.query (every form of
# row_condition ends there, and query resolves `@name` references, so it can run code) or to
# a SQL engine. A contract is data: it may not carry any of them.
CODE_ARGUMENTS = ("row_condition", "condition_parser", "unexpected_rows_query")
EXPECTATION_KEYS = {"type", "kwargs", "meta", "id", "notes", "description", "rendered_content"}


@functools.cache
def builtin_suite(name: str) -> dict:
    """One of the product's own suites in data_contracts/, by name (checked like any other)."""
    suite = json.loads((importlib.resources.files(BUILTIN) / f"{name}.json").read_text())
    check_suite(suite, f"{name}.json")
    return suite


def load_suite(path: str | Path) -> dict:
    """A suite file, read as given and checked to be data only (see `check_suite`)."""
    path = Path(path)
    try:
        suite = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ContractError(f"contract not found: {path}; check the path") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ContractError(f"contract {path} cannot be read ({exc}); fix the file") from exc
    except json.JSONDecodeError as exc:
        raise ContractError(f"contract {path} is not valid JSON ({exc.msg}); fix the file") from exc
    check_suite(suite, str(path))
    return suite


def check_suite(suite, source: str) -> None:
    """Refuse a suite that would check nothing, name an unknown expectation, or run code.

    Great Expectations drops an expectation it cannot build with a traceback on stderr and
    then reports the rest as met, so an unknown type or argument would turn the gate off:
    each is refused here, before any data is validated.
    """
    if not isinstance(suite, dict) or not isinstance(suite.get("expectations"), list):
        raise ContractError(
            f"contract {source} is not a GX suite (no 'expectations' list); fix the file"
        )
    if not suite["expectations"]:
        raise ContractError(
            f"contract {source} has no expectations, so it would pass any data; "
            "add at least one expectation"
        )
    for number, expectation in enumerate(suite["expectations"], start=1):
        _check_expectation(expectation, f"contract {source}: expectation {number}")


def _check_expectation(expectation, where: str) -> None:
    from great_expectations.compatibility import pydantic  # what GX 1.x builds expectations with

    if not isinstance(expectation, dict) or not isinstance(expectation.get("type"), str):
        raise ContractError(f"{where} has no 'type'; give each expectation a type and kwargs")
    kind = expectation["type"]
    extra = sorted(set(expectation) - EXPECTATION_KEYS)
    if extra:
        raise ContractError(f"{where} ({kind}) has an unknown key {extra[0]!r}; remove it")
    implementation = _known_expectations().get(kind)
    if implementation is None:
        close = difflib.get_close_matches(kind, list(_known_expectations()), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ContractError(f"{where} has unknown type {kind!r}{hint}; fix the type")
    kwargs = expectation.get("kwargs", {})
    if not isinstance(kwargs, dict):
        raise ContractError(f"{where} ({kind}): 'kwargs' must be an object; fix the contract")
    code = [name for name in CODE_ARGUMENTS if name in kwargs]
    if code:
        raise ContractError(
            f"{where} ({kind}) sets {code[0]!r}: Great Expectations evaluates it with pandas "
            "DataFrame.query, which can run code, so a contract may not carry it; remove it"
        )
    try:
        implementation(**kwargs)
    except pydantic.ValidationError as exc:
        errors = exc.errors()
        # A misspelt argument also shows up as the real one missing: name the misspelling.
        unknown = [e for e in errors if e["type"] == "value_error.extra"]
        error = (unknown or errors)[0]
        name = ".".join(str(part) for part in error["loc"])
        problem = f"unknown argument {name!r}" if unknown else f"argument {name!r}: {error['msg']}"
        raise ContractError(f"{where} ({kind}): {problem}; fix the contract") from exc


@functools.cache
def _known_expectations() -> dict:
    """Every expectation type GX 1.x registers, by name."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    from great_expectations.expectations.registry import (
        get_expectation_impl,
        list_registered_expectation_implementations,
    )

    return {
        name: get_expectation_impl(name) for name in list_registered_expectation_implementations()
    }


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


def validate(frame: pd.DataFrame, suite: dict, parameters: dict | None = None) -> ContractResult:
    """Validate a frame against a checked suite with an ephemeral GX context.

    An expectation naming a column the frame lacks is a failure said plainly (GX would bury
    it in an exception); the others run as usual.
    """
    import great_expectations as gx

    name = suite.get("name", "suite")
    runnable, missing = [], []
    for expectation in suite["expectations"]:
        column = _missing_column(frame, expectation)
        if column is None:
            runnable.append(expectation)
            continue
        shown = ", ".join(sorted({str(c) for c in frame.columns} - {"__row_id", "__label"})[:12])
        missing.append(
            {
                "expectation": expectation["type"],
                "column": column,
                "observed": None,
                "unexpected_count": None,
                "examples": [],
                "why": f"the column is not in the data (columns: {shown})",
                "error": "missing column",
            }
        )
    failures: list[dict] = []
    success = True
    if runnable:
        gx_suite = gx.ExpectationSuite(name=name, expectations=runnable)
        if len(gx_suite.expectations) != len(runnable):
            # check_suite refuses what GX would drop; this only guards against that drifting.
            raise ContractError(
                f"contract {name}: Great Expectations built {len(gx_suite.expectations)} of "
                f"{len(runnable)} expectations; fix the contract"
            )
        batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(gx_suite, expectation_parameters=parameters or {})
        success = bool(result.success)
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
                }
            )
    return ContractResult(
        name, success and not missing, len(suite["expectations"]), failures + missing
    )


def derived_contract_name(data_path: str | None, target: str) -> str:
    """File name of the contract derived for a data file and target; never a path.

    Two files may share a name in different folders, so a hash of the full path tells them
    apart; names are reduced to safe characters so a target like `../../x` stays a name.
    """
    if data_path is None:
        stem = "generated"
    else:
        where = hashlib.sha256(str(Path(data_path).resolve()).encode()).hexdigest()[:8]
        stem = f"{_safe(Path(data_path).name.split('.')[0])}__{where}"
    return f"{stem}__{_safe(target)}.json"


def _safe(name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", name)[:60]
    if safe != name:  # keep names that differ only in replaced characters apart
        safe += "_" + hashlib.sha256(name.encode()).hexdigest()[:6]
    return safe


def derive_contract(frame: pd.DataFrame, schema: dict, target: str, name: str) -> dict:
    """A default suite for a user's raw data: its columns, numeric types and target values."""
    expectations = [
        {
            "type": "expect_table_columns_to_match_set",
            "kwargs": {"column_set": [str(c) for c in frame.columns], "exact_match": True},
            "meta": {
                "why": "schema drift: the columns differ from the data the contract "
                "was derived from"
            },
        }
    ]
    for column in schema["numeric"]:
        expectations.append(
            {
                "type": "expect_column_values_to_be_in_type_list",
                "kwargs": {"column": column, "type_list": NUMERIC_TYPES},
                "meta": {"why": "schema drift: the column was numeric"},
            }
        )
    values = sorted({str(v) for v in frame[target].dropna().unique()})
    expectations.append(
        {
            "type": "expect_column_distinct_values_to_be_in_set",
            "kwargs": {"column": target, "value_set": _target_values(frame[target], values)},
            "meta": {"why": "the target's labels changed"},
        }
    )
    return {
        "name": name,
        "meta": {"derived_by": "imbal_pipeline", "rows": int(len(frame))},
        "expectations": expectations,
    }


def _target_values(series: pd.Series, as_text: list[str]) -> list:
    if pd.api.types.is_numeric_dtype(series.dtype):
        return sorted(json_ready(v) for v in series.dropna().unique())
    return as_text
