"""Great Expectations 1.x suites from `data_contracts/`, run on in-memory frames."""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

# The suites live beside the code (repository root), versioned with it.
CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "data_contracts"
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


def load_suite(name_or_path: str | Path) -> dict:
    """A suite as a dict, by name from data_contracts/ or from a path."""
    path = Path(name_or_path)
    if path.suffix != ".json":
        path = CONTRACTS_DIR / f"{name_or_path}.json"
    try:
        suite = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ValueError(f"contract not found: {path}; check the path") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"contract {path} is not valid JSON ({exc.msg}); fix the file") from exc
    if not isinstance(suite, dict) or "expectations" not in suite:
        raise ValueError(f"contract {path} is not a GX suite (no 'expectations'); fix the file")
    return suite


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


def validate(frame: pd.DataFrame, suite: dict, parameters: dict | None = None) -> ContractResult:
    """Validate a frame against a suite with an ephemeral GX context."""
    import great_expectations as gx

    batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
    gx_suite = gx.ExpectationSuite(
        name=suite.get("name", "suite"), expectations=suite["expectations"]
    )
    result = batch.validate(gx_suite, expectation_parameters=parameters or {})
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
                "observed": _plain(details.get("observed_value")),
                "unexpected_count": details.get("unexpected_count"),
                "examples": _plain(details.get("partial_unexpected_list", [])[:5]),
                "why": (config.meta or {}).get("why"),
                "error": (item.exception_info or {}).get("exception_message"),
            }
        )
    return ContractResult(
        suite.get("name", "suite"), bool(result.success), len(result.results), failures
    )


def _plain(value):
    """JSON-ready observed values (numpy scalars, nested lists)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "item"):
        return value.item()
    return value


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
        return sorted(_plain(v) for v in series.dropna().unique())
    return as_text
