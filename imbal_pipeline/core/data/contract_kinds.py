"""Kinds of contract argument: each says what is wrong with a value, or None when it fits.

Every value is literal JSON already (see `contract_rules`); a kind checks its shape and range.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeGuard

# `mostly` is the share of rows that must meet a row-wise expectation. Below one half, most rows
# may break it and it states the opposite of what it says (`mostly: 0` passes data that fails
# every row); a share of rows is said with expect_column_proportion_of_non_null_values_to_be_
# between, or with the opposite expectation.
MOSTLY_RANGE = (0.5, 1.0)

# A kind: the problem with a value (completing "argument X ..."), or None.
Kind = Callable[[object], str | None]


def is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def column(value) -> str | None:
    return None if isinstance(value, str) and value else "must be a column name"


def columns(value) -> str | None:
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return None
    return "must be a list of column names"


def text(value) -> str | None:
    return None if isinstance(value, str) and value else "must be text"


def texts(value) -> str | None:
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return None
    return "must be a list of text values"


def flag(value) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def number(value) -> str | None:
    return None if is_number(value) else "must be a number"


def positive(value) -> str | None:
    return None if is_number(value) and value > 0 else "must be a number above 0"


def bound(value) -> str | None:
    return None if value is None or is_number(value) else "must be a number or null"


def count(value) -> str | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return None
    return "must be a whole number from 0, or null"


def scalar(value) -> bool:
    return value is None or isinstance(value, str | bool) or is_number(value)


def values(value) -> str | None:
    if isinstance(value, list) and all(scalar(v) for v in value):
        return None
    return "must be a list of values (text, numbers, true/false or null)"


def pairs(value) -> str | None:
    if isinstance(value, list) and all(
        isinstance(p, list) and len(p) == 2 and all(scalar(v) for v in p) for p in value
    ):
        return None
    return "must be a list of [A, B] value pairs"


def regex(value) -> str | None:
    if not isinstance(value, str):
        return "must be a regular expression (text)"
    try:
        re.compile(value)
    except (re.error, RecursionError, OverflowError) as exc:
        return f"is not a regular expression Python can compile ({exc})"
    return None


def regexes(value) -> str | None:
    if not isinstance(value, list) or not value:
        return "must be a list of regular expressions"
    return next((p for p in map(regex, value) if p), None)


def mostly(value) -> str | None:
    low, high = MOSTLY_RANGE
    if is_number(value) and low <= value <= high:
        return None
    return (
        f"must be a share of rows from {low} to {high} (below one half most rows may break "
        f"the expectation), not {value!r}"
    )


def quantiles(value) -> str | None:
    shape = (
        'must be {"quantiles": [q, ...], "value_ranges": [[low, high], ...]} with one range '
        "per quantile in [0, 1]"
    )
    if not isinstance(value, dict) or set(value) != {"quantiles", "value_ranges"}:
        return shape
    quantiles, ranges = value["quantiles"], value["value_ranges"]
    if not (isinstance(quantiles, list) and isinstance(ranges, list)):
        return shape
    if not quantiles or len(quantiles) != len(ranges):
        return shape
    if not all(is_number(q) and 0 <= q <= 1 for q in quantiles):
        return shape
    if not all(isinstance(r, list) and len(r) == 2 and all(map(is_bound, r)) for r in ranges):
        return shape
    empty = next((r for r in ranges if None not in r and r[0] > r[1]), None)
    if empty is not None:
        return f"has the range {empty}, whose low end is above its high end; swap them"
    return None


def is_bound(value) -> bool:
    return bound(value) is None


# --- the keys of an expectation beside its type and kwargs -------------------------------------


def mapping(value) -> str | None:
    return None if isinstance(value, dict) else "must be an object ({...})"


def notes(value) -> str | None:
    if isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(v, str) for v in value)
    ):
        return None
    return "must be text or a list of text"


def display(value) -> str | None:
    # What Great Expectations' renderers write for display: a contract states rules, and GX
    # refuses any content but its own renderers' (a traceback, once the run has begun).
    if value is None or value == []:
        return None
    return "is Great Expectations' display output, not a rule; remove it"


def one_of(*choices: str) -> Kind:
    def kind(value) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}"

    return kind
