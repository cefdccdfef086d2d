"""The contract a first run derives from a user's file, saved and checked by later runs.

It describes the file as read, before --drop: the columns, the numeric type of numeric columns
and the target's labels. A run that leaves columns out checks the rest (`leaving_out`), so
dropping a column or taking it back is no drift; a column renamed or removed in the file is.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pandas as pd

from imbal_pipeline.core.data.contracts import COLUMN_ARGUMENTS
from imbal_pipeline.core.jsonready import json_ready

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


def derive_contract(as_read: pd.Series, target: pd.Series, name: str) -> dict:
    """A default suite describing a user's file as read: its columns (`as_read`, each column's
    type, before --drop), the numeric type of its numeric columns and the target's values.

    It describes the file, not one run's settings: --drop, --id or --categorical change what a
    run uses of the file, never what the file is (see `leaving_out`).
    """
    expectations = [
        {
            "type": "expect_table_columns_to_match_set",
            "kwargs": {"column_set": [str(c) for c in as_read.index], "exact_match": True},
            "meta": {
                "why": "schema drift: the columns differ from the data the contract "
                "was derived from"
            },
        }
    ]
    for column, dtype in as_read.items():
        # A type outside the list (a Parquet 'UInt8') would fail its own contract.
        if column != target.name and str(dtype) in NUMERIC_TYPES:
            expectations.append(
                {
                    "type": "expect_column_values_to_be_in_type_list",
                    "kwargs": {"column": str(column), "type_list": NUMERIC_TYPES},
                    "meta": {"why": "schema drift: the column was numeric"},
                }
            )
    values = sorted({str(v) for v in target.dropna().unique()})
    expectations.append(
        {
            "type": "expect_column_distinct_values_to_be_in_set",
            "kwargs": {"column": str(target.name), "value_set": _target_values(target, values)},
            "meta": {"why": "the target's labels changed"},
        }
    )
    return {
        "name": name,
        "meta": {"derived_by": "imbal_pipeline", "rows": int(len(target))},
        "expectations": expectations,
    }


# Expectation arguments listing the table's columns; other lists of columns name the columns
# one expectation relates (a compound key), which without one of them says something else.
TABLE_COLUMNS = ("column_set", "column_list")
TABLE_EXPECTATIONS = (
    "expect_table_columns_to_match_set",
    "expect_table_columns_to_match_ordered_list",
)


def leaving_out(suite: dict, dropped: list[str] | tuple[str, ...]) -> dict:
    """A suite describing a file, as it applies to a run that leaves `dropped` columns of it
    out (--drop): the table's column lists without them, and no expectation on one of them.

    The run reads only the other columns, so it cannot check the values of these; their
    presence in the file is checked where they are dropped. Restoring them checks them again.
    """
    gone = set(dropped)
    if not gone:
        return suite
    kept = []
    for expectation in suite["expectations"]:
        kwargs = dict(expectation.get("kwargs", {}))
        if expectation["type"] in TABLE_EXPECTATIONS:
            for argument in TABLE_COLUMNS:
                if isinstance(kwargs.get(argument), list):
                    kwargs[argument] = [c for c in kwargs[argument] if c not in gone]
        elif {kwargs.get(a) for a in COLUMN_ARGUMENTS} & gone or gone & set(
            c for c in kwargs.get("column_list") or [] if isinstance(c, str)
        ):
            continue
        kept.append({**expectation, "kwargs": kwargs})
    return {**suite, "expectations": kept}


def _target_values(series: pd.Series, as_text: list[str]) -> list:
    if pd.api.types.is_numeric_dtype(series.dtype):
        return sorted(json_ready(v) for v in series.dropna().unique())
    return as_text
