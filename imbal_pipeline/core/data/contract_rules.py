"""What a contract may say: an allow-list of GX 1.x expectations and their literal arguments.

A contract is data. Great Expectations also lets a suite evaluate expressions (`$PARAMETER`),
resolve references to files and URLs (`$ref` in a JSON schema), hand a condition to pandas'
`DataFrame.query` or run SQL; none of that may reach it from a contract. So an expectation is
accepted only when its type is listed here and every argument it sets is listed for that type
and holds a literal value of the declared kind. The check is pure Python and imports no Great
Expectations (~3 s), so it runs before every run at no cost.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from imbal_pipeline.core.data import contract_kinds as k


class ContractError(ValueError):
    """A suite that cannot be used as a contract; the message names the expectation and the fix."""


# A GX suite needs seven levels (suite, list, expectation, kwargs, quantile_ranges, ranges, a
# range); twenty leave room for notes under "meta" and stay far below the recursion limit that
# Great Expectations' copying (and json.loads) would hit on a deeper document.
MAX_DEPTH = 20
# A list of more values than this is a lookup table, not a rule; it also bounds the time of
# this check (it runs before every run) and of GX, which copies each list several times.
MAX_ITEMS = 100_000
# An expectation's keys besides "type" and "kwargs", and the kind of value each holds (Great
# Expectations refuses another kind with a pydantic traceback once the run has begun).
EXPECTATION_KEYS: dict[str, k.Kind] = {
    "meta": k.mapping,
    "id": k.text,
    "notes": k.notes,
    "description": k.text,
    "rendered_content": k.display,
}


@dataclass(frozen=True)
class Signature:
    """The arguments an expectation type takes here: those it needs and those it may take."""

    required: Mapping[str, k.Kind]
    optional: Mapping[str, k.Kind] = field(default_factory=dict)
    # At least one of these must be set, or the expectation checks nothing.
    one_of: tuple[str, ...] = ()
    # A rule across arguments: what is wrong with the kwargs together, or None.
    rule: Callable[[dict], str | None] | None = None

    @property
    def arguments(self) -> dict[str, k.Kind]:
        return {**self.required, **self.optional}


STRICT = {"strict_min": k.flag, "strict_max": k.flag}
BETWEEN = {"min_value": k.bound, "max_value": k.bound, **STRICT}
COUNT_BETWEEN = {"min_value": k.count, "max_value": k.count, **STRICT}
BOUNDS = ("min_value", "max_value")
COLUMN = {"column": k.column}
ROWS = {"mostly": k.mostly}  # a row-wise (map) expectation
PAIR = {
    "column_A": k.column,
    "column_B": k.column,
}
PAIR_OPTIONS = {
    **ROWS,
    "ignore_row_if": k.one_of("both_values_are_missing", "either_value_is_missing", "neither"),
}
MULTI_OPTIONS = {
    **ROWS,
    "ignore_row_if": k.one_of("all_values_are_missing", "any_value_is_missing", "never"),
}


def _two_sided(kwargs: dict) -> str | None:
    """A two-sided z-score bound below 0 holds for no value (GX then passes every row)."""
    threshold = kwargs.get("threshold")
    if kwargs.get("double_sided") and k.is_number(threshold) and threshold <= 0:
        return (
            f"argument 'threshold' is {threshold} with double_sided true, and no |z| is below "
            "it; give a positive threshold"
        )
    return None


def _stat() -> Signature:
    """min, max, mean, median, stdev, sum and proportions: a statistic within bounds."""
    return Signature(COLUMN, BETWEEN, BOUNDS)


# The expectations that run on an in-memory pandas frame of a tabular dataset, with GX 1.x's
# pandas engine (tests/test_contracts.py runs each one and compares each signature with GX's).
ALLOWED: dict[str, Signature] = {
    # the table
    "expect_table_row_count_to_be_between": Signature({}, COUNT_BETWEEN, BOUNDS),
    "expect_table_row_count_to_equal": Signature({"value": k.count}),
    "expect_table_column_count_to_be_between": Signature(
        {}, {"min_value": k.count, "max_value": k.count}, BOUNDS
    ),
    "expect_table_column_count_to_equal": Signature({"value": k.count}),
    "expect_table_columns_to_match_set": Signature(
        {"column_set": k.columns}, {"exact_match": k.flag}
    ),
    "expect_table_columns_to_match_ordered_list": Signature({"column_list": k.columns}),
    "expect_column_to_exist": Signature(COLUMN, {"column_index": k.count}),
    # types
    "expect_column_values_to_be_in_type_list": Signature({**COLUMN, "type_list": k.texts}, ROWS),
    "expect_column_values_to_be_of_type": Signature({**COLUMN, "type_": k.text}, ROWS),
    "expect_column_type_to_be": Signature({**COLUMN, "type_": k.text}),
    # missing values
    "expect_column_values_to_not_be_null": Signature(COLUMN, ROWS),
    "expect_column_values_to_be_null": Signature(COLUMN, ROWS),
    "expect_column_proportion_of_non_null_values_to_be_between": _stat(),
    # sets
    "expect_column_values_to_be_in_set": Signature({**COLUMN, "value_set": k.values}, ROWS),
    "expect_column_values_to_not_be_in_set": Signature({**COLUMN, "value_set": k.values}, ROWS),
    "expect_column_distinct_values_to_be_in_set": Signature({**COLUMN, "value_set": k.values}),
    "expect_column_distinct_values_to_contain_set": Signature({**COLUMN, "value_set": k.values}),
    "expect_column_distinct_values_to_equal_set": Signature({**COLUMN, "value_set": k.values}),
    "expect_column_most_common_value_to_be_in_set": Signature(
        {**COLUMN, "value_set": k.values}, {"ties_okay": k.flag}
    ),
    # values within bounds, text lengths and patterns
    "expect_column_values_to_be_between": Signature(COLUMN, {**BETWEEN, **ROWS}, BOUNDS),
    "expect_column_value_lengths_to_be_between": Signature(
        COLUMN, {**COUNT_BETWEEN, **ROWS}, BOUNDS
    ),
    "expect_column_value_lengths_to_equal": Signature({**COLUMN, "value": k.count}, ROWS),
    "expect_column_values_to_match_regex": Signature({**COLUMN, "regex": k.regex}, ROWS),
    "expect_column_values_to_not_match_regex": Signature({**COLUMN, "regex": k.regex}, ROWS),
    "expect_column_values_to_match_regex_list": Signature(
        {**COLUMN, "regex_list": k.regexes}, {**ROWS, "match_on": k.one_of("any", "all")}
    ),
    "expect_column_values_to_not_match_regex_list": Signature(
        {**COLUMN, "regex_list": k.regexes}, ROWS
    ),
    # uniqueness
    "expect_column_values_to_be_unique": Signature(COLUMN, ROWS),
    "expect_compound_columns_to_be_unique": Signature({"column_list": k.columns}, MULTI_OPTIONS),
    "expect_select_column_values_to_be_unique_within_record": Signature(
        {"column_list": k.columns}, MULTI_OPTIONS
    ),
    "expect_column_proportion_of_unique_values_to_be_between": _stat(),
    "expect_column_unique_value_count_to_be_between": Signature(COLUMN, COUNT_BETWEEN, BOUNDS),
    # statistics
    "expect_column_min_to_be_between": _stat(),
    "expect_column_max_to_be_between": _stat(),
    "expect_column_mean_to_be_between": _stat(),
    "expect_column_median_to_be_between": _stat(),
    "expect_column_stdev_to_be_between": _stat(),
    "expect_column_sum_to_be_between": _stat(),
    "expect_column_quantile_values_to_be_between": Signature(
        {**COLUMN, "quantile_ranges": k.quantiles}
    ),
    "expect_column_values_to_be_increasing": Signature(COLUMN, {**ROWS, "strictly": k.flag}),
    "expect_column_values_to_be_decreasing": Signature(COLUMN, {**ROWS, "strictly": k.flag}),
    "expect_column_value_z_scores_to_be_less_than": Signature(
        {**COLUMN, "threshold": k.number, "double_sided": k.flag}, ROWS, rule=_two_sided
    ),
    "expect_column_values_to_not_be_outliers": Signature(
        COLUMN, {**ROWS, "method": k.one_of("iqr", "std"), "multiplier": k.positive}
    ),
    # pairs and several columns
    "expect_column_pair_values_a_to_be_greater_than_b": Signature(
        PAIR, {**PAIR_OPTIONS, "or_equal": k.flag}
    ),
    "expect_column_pair_values_to_be_equal": Signature(PAIR, PAIR_OPTIONS),
    "expect_column_pair_values_to_be_in_set": Signature(
        {**PAIR, "value_pairs_set": k.pairs}, PAIR_OPTIONS
    ),
    "expect_multicolumn_sum_to_equal": Signature(
        {"column_list": k.columns, "sum_total": k.number}, MULTI_OPTIONS
    ),
    "expect_multicolumn_values_to_be_equal": Signature({"column_list": k.columns}, MULTI_OPTIONS),
}

_REGEX_INSTEAD = "check the text with expect_column_values_to_match_regex instead"
_SQL = "runs SQL against a database, and a contract here checks a table in memory; remove it"
# Expectations Great Expectations 1.x registers that a contract may not use: why, and the fix.
REFUSED: dict[str, str] = {
    "expect_column_values_to_match_json_schema": (
        "resolves '$ref' in its JSON schema by reading local files and fetching URLs, once "
        f"per row; {_REGEX_INSTEAD}, or remove it"
    ),
    "expect_column_values_to_match_like_pattern": f"is SQL only (LIKE); {_REGEX_INSTEAD}",
    "expect_column_values_to_match_like_pattern_list": f"is SQL only (LIKE); {_REGEX_INSTEAD}",
    "expect_column_values_to_not_match_like_pattern": (
        "is SQL only (LIKE); use expect_column_values_to_not_match_regex instead"
    ),
    "expect_column_values_to_not_match_like_pattern_list": (
        "is SQL only (LIKE); use expect_column_values_to_not_match_regex_list instead"
    ),
    "expect_query_results_to_match_comparison": _SQL,
    "unexpected_rows_expectation": _SQL,
    "expect_table_row_count_to_equal_other_table": (
        "compares with another table of a database; use expect_table_row_count_to_be_between"
    ),
    "expect_column_kl_divergence_to_be_less_than": (
        "compares with a histogram this pipeline does not check; bound the column's quantiles, "
        "mean or stdev instead"
    ),
    "expect_column_values_to_be_dateutil_parseable": (
        "checks dates written as text, and a date column is not a feature here (derive "
        "numbers from it or --drop it); remove it"
    ),
    "expect_column_values_to_match_strftime_format": (
        "checks dates written as text, and a date column is not a feature here (derive "
        "numbers from it or --drop it); remove it"
    ),
    "expect_column_values_to_be_json_parseable": (
        "checks JSON held as text, which is not a feature here; remove it"
    ),
}

# Arguments GX takes that a contract may not set: why.
FORBIDDEN_ARGUMENTS: dict[str, str] = {
    **dict.fromkeys(
        ("row_condition", "condition_parser", "unexpected_rows_query"),
        "Great Expectations evaluates it with pandas DataFrame.query, which can run code, "
        "so a contract may not carry it",
    ),
    **dict.fromkeys(
        ("result_format", "catch_exceptions", "severity"),
        "the pipeline decides how results are collected and every expectation blocks",
    ),
    **dict.fromkeys(
        ("windows", "batch_id", "library_metadata", "allow_relative_error"),
        "it serves GX Cloud or SQL engines, not a table in memory",
    ),
}

# What a key starting with "$" would make Great Expectations do.
_DOLLAR = {
    "$PARAMETER": (
        "is a suite parameter ($PARAMETER), which Great Expectations evaluates as an "
        "expression at validation time; write the value itself"
    ),
    "$ref": (
        "holds a '$ref', which Great Expectations would resolve by reading a file or "
        "fetching a URL; write the value itself"
    ),
}


def check_suite(suite, source: str) -> None:
    """Refuse a suite that would check nothing, name an expectation or argument not allowed
    here, or hold anything but literal values (see the module's docstring).

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
    if not isinstance(suite.get("name", ""), str):
        raise ContractError(f"contract {source}: 'name' must be text; fix the file")
    rest = {k: v for k, v in suite.items() if k != "expectations"}
    found = _not_literal(rest, "", 1)
    if found:
        raise ContractError(f"contract {source}: {_where(found[0])} {found[1]}")
    for number, expectation in enumerate(suite["expectations"], start=1):
        check_expectation(expectation, f"contract {source}: expectation {number}")


def check_expectation(expectation, where: str) -> None:
    """One expectation: an allowed type, allowed arguments, literal values of the right kind."""
    if not isinstance(expectation, dict) or not isinstance(expectation.get("type"), str):
        raise ContractError(f"{where} has no 'type'; give each expectation a type and kwargs")
    kind = expectation["type"]
    extra = sorted(set(expectation) - {"type", "kwargs", *EXPECTATION_KEYS})
    if extra:
        raise ContractError(f"{where} ({kind}) has an unknown key {extra[0]!r}; remove it")
    if kind in REFUSED:
        raise ContractError(f"{where} ({kind}) may not be used in a contract: it {REFUSED[kind]}")
    signature = ALLOWED.get(kind)
    if signature is None:
        close = difflib.get_close_matches(kind, list(ALLOWED), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ContractError(
            f"{where} has unknown type {kind!r}{hint}; fix the type, or use one of the "
            "expectations the README lists under 'Data contracts'"
        )
    # Depth, '$' keys, sizes and numbers first: nothing below may recurse into a hostile value.
    found = _not_literal(expectation, "", 3)
    if found:
        raise ContractError(f"{where} ({kind}): {_where(found[0])} {found[1]}")
    for key, value_kind in EXPECTATION_KEYS.items():
        problem = value_kind(expectation[key]) if key in expectation else None
        if problem:
            raise ContractError(f"{where} ({kind}): {key!r} {problem}; fix the contract")
    kwargs = expectation.get("kwargs", {})
    if not isinstance(kwargs, dict):
        raise ContractError(f"{where} ({kind}): 'kwargs' must be an object; fix the contract")
    _check_arguments(kwargs, signature, f"{where} ({kind})")


def _check_arguments(kwargs: dict, signature: Signature, where: str) -> None:
    arguments = signature.arguments
    for name, value in kwargs.items():
        if name in FORBIDDEN_ARGUMENTS:
            raise ContractError(f"{where} sets {name!r}: {FORBIDDEN_ARGUMENTS[name]}; remove it")
        if name not in arguments:
            close = difflib.get_close_matches(name, list(arguments), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ContractError(
                f"{where}: unknown argument {name!r} ({hint}it takes "
                f"{', '.join(arguments)}); fix the contract"
            )
        problem = arguments[name](value)
        if problem:
            raise ContractError(f"{where}: argument {name!r} {problem}; fix the contract")
    missing = [name for name in signature.required if name not in kwargs]
    if missing:
        raise ContractError(f"{where}: argument {missing[0]!r} is missing; add it")
    if signature.one_of and all(kwargs.get(name) is None for name in signature.one_of):
        raise ContractError(
            f"{where} gives no {' or '.join(signature.one_of)}, so it checks nothing; "
            "give at least one"
        )
    problem = _empty_range(kwargs) or (signature.rule and signature.rule(kwargs))
    if problem:
        raise ContractError(f"{where}: {problem}")


def _empty_range(kwargs: dict) -> str | None:
    """Bounds no value can lie within: a minimum above the maximum, or equal ones with a
    strict end. Such an expectation fails on any data, which a contract never means."""
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if not (k.is_number(low) and k.is_number(high)):
        return None
    if low > high:
        return f"argument 'min_value' ({low}) is above 'max_value' ({high}); swap them"
    if low == high and (kwargs.get("strict_min") or kwargs.get("strict_max")):
        return (
            f"'min_value' and 'max_value' are both {low} with a strict bound, so no value lies "
            "between; drop strict_min and strict_max"
        )
    return None


def _not_literal(value, path: str, depth: int) -> tuple[str, str] | None:
    """(where, what is wrong) for the first value that is not plain literal JSON, or None.

    Recursion stops at MAX_DEPTH, so a hostile document cannot exhaust the stack here.
    """
    if depth > MAX_DEPTH:
        return path, f"nests deeper than {MAX_DEPTH} levels; a GX suite needs about 7, flatten it"
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return path, f"has a key {key!r} that is not text; fix the contract"
            if key.startswith("$"):
                return path, _DOLLAR.get(
                    key, f"holds the key {key!r}; a contract holds literal values only, remove it"
                )
            found = _not_literal(item, f"{path}.{key}" if path else key, depth + 1)
            if found:
                return found
    elif isinstance(value, list | tuple):
        if len(value) > MAX_ITEMS:
            return path, (
                f"lists {len(value):,} values, more than the {MAX_ITEMS:,} a contract may list; "
                "check a rule, not a lookup table"
            )
        for index, item in enumerate(value):
            found = _not_literal(item, f"{path}[{index}]", depth + 1)
            if found:
                return found
    elif isinstance(value, float) and not math.isfinite(value):
        return path, f"is {value}; write a finite number"
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63:
        return path, "is a number too large for a column to hold; write a smaller one"
    elif not k.scalar(value):
        return path, f"holds a {type(value).__name__}, not a JSON value; fix the contract"
    return None


def _where(path: str) -> str:
    """`kwargs.min_value` -> "argument 'min_value'"; other places by their path."""
    if len(path) > 60:  # a deep path: its start says where
        path = path[:57] + "..."
    if path.startswith("kwargs."):
        return f"argument {path.removeprefix('kwargs.')!r}"
    return repr(path) if path else "the suite"
