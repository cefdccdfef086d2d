"""Numbers, amounts, dates and durations in disguise: written as text, or stored as a type no
model here reads as a number.

A training column of them would become a category with a level per value, so training refuses
it with the fix; a batch whose numeric feature holds them is refused the same way. None is
parsed on the user's behalf: the training file, the holdout file and every batch are read by
one rule (the read options), and a guess made for one file would not be made for another.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

# ASCII: `\d` means 0-9 here (Python's own matches any script's digits, which no reader
# reads as a number); a look-alike is named by `plain_characters`.
_A = re.ASCII
_I = re.IGNORECASE | _A
_TIME = r"([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*([ap]\.?m\.?)?)?(\s*(Z|UTC|GMT|[+-]\d{2}:?\d{2}))?"
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_WEEKDAY = r"((mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+)?"

# Each pattern is a way a number, an amount, a date or a duration is commonly written as text;
# where two fit, the earlier names the value.
PATTERNS = (
    ("decimal comma", re.compile(r"[+-]?(\d{1,3}(\.\d{3})+|\d+),\d+([eE][+-]?\d+)?", _A)),
    ("thousands comma", re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?", _A)),
    ("thousands space", re.compile(r"[+-]?\d{1,3}([ \u00a0\u202f']\d{3})+([.,]\d+)?", _A)),
    (
        "currency",
        re.compile(
            r"[+-]?\s*[$€£¥₹]\s*[\d.,' ]+"
            r"|[+-]?[\d.,' ]+\s*([$€£¥₹]|EUR|USD|GBP|CHF|JPY)",
            _A,
        ),
    ),
    ("percent", re.compile(r"[+-]?\d[\d.,]*\s*%", _A)),
    # Accounting writes a negative amount in parentheses, some ledgers with a trailing minus.
    ("accounting negative", re.compile(r"\(\s*[$€£¥₹]?\s*\d[\d.,' ]*\)|\d[\d.,' ]*-", _A)),
    (
        "date",
        re.compile(
            rf"\d{{4}}[-/.]\d{{1,2}}[-/.]\d{{1,2}}{_TIME}"  # 2020-01-04, 2020/01/04 05:00
            rf"|\d{{1,2}}[/.-]\d{{1,2}}[/.-]\d{{2,4}}{_TIME}"  # 04/01/2020, 4.1.20
            rf"|{_WEEKDAY}\d{{1,2}}[- ]{_MONTH}[- ,]*\d{{2,4}}{_TIME}"  # 02-Feb-2021
            rf"|{_WEEKDAY}{_MONTH}\s+\d{{1,2}}(st|nd|rd|th)?,?\s+\d{{4}}{_TIME}"  # Jun 11, 2020
            rf"|{_MONTH}\s+\d{{4}}|\d{{4}}-?Q[1-4]"  # Jan 2007, 2020-Q4
            r"|\d{1,2}:\d{2}(:\d{2})?\s*([ap]\.?m\.?)?",  # 05:00, 12:47 PM
            _I,
        ),
    ),
    (
        "duration",
        re.compile(
            r"[+-]?\d+ days?,?( \d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?"  # 3 days 02:00:00
            r"|P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?",  # PT5M
            _I,
        ),
    ),
    # After the durations, which name "3 days" first: a number, a space and a short unit.
    ("unit", re.compile(r"[+-]?(\d[\d.,]*|[.,]\d+)\s+[^\W\d_]{1,5}(/[^\W\d_]{1,5})?[²³]?", _A)),
)
# Wrappers a spreadsheet puts around a value to keep it as text: ="0.58", =0.58 and '0.58.
WRAPPERS = (
    ("formula", re.compile(r'="(.*)"|=(.*)', _A)),
    ("text mark", re.compile(r"'(.*)", _A)),
)
_PLAIN = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", _A)
# Characters no one sees: zero-width spaces and joiners, and the byte-order mark an editor
# leaves at the start of a value it exported on its own.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))
# Minus signs that are not '-' (NFKC keeps them): the mathematical minus, dashes.
_MINUS = dict.fromkeys(map(ord, "\u2212\u2012\u2013\u2014\u2015\ufe63"), "-")

# Beyond this magnitude a value is a missing value in disguise (a sentinel: 1e300 for
# "unknown") or a corrupt read, not a measurement: no quantity measured in a table comes near
# it. Refused, in training and in every batch alike, rather than handled: the scaling, the
# samplers' distances and the monitoring statistics square such values, which overflows past
# about 1e154, and a tree model gains nothing from them that a missing value would not give.
LARGEST = 1e100
LARGEST_TEXT = f"{LARGEST:.0e}".replace("e+", "e")  # as messages write it: 1e100


def beyond_largest(values: np.ndarray) -> np.ndarray:
    """Which values are finite and beyond LARGEST in size."""
    return np.isfinite(values) & (np.abs(values) > LARGEST)


# A column is read as disguised when at most this share of its values fits no pattern and is
# no plain number either (a few "n/a"-like markers are allowed).
STRAY_SHARE = 0.1

DESCRIPTIONS = {
    "decimal comma": "numbers with a decimal comma",
    "thousands comma": "numbers with ',' thousands separators",
    "thousands space": "numbers with thousands separators",
    "currency": "amounts with a currency sign",
    "percent": "percentages",
    "date": "dates or times",
    "duration": "durations",
    "formula": "numbers wrapped in spreadsheet formulas",
    "text mark": "numbers marked as text by a leading apostrophe",
    "padded": "numbers padded with invisible spaces or characters",
    "look-alike": "numbers in look-alike characters (a Unicode minus, fullwidth or "
    "other scripts' digits)",
    "accounting negative": "negative numbers in parentheses or with a trailing minus",
    "unit": "numbers with a unit",
    "numbers in text": "text with a number in nearly every value",
}


def _named(text: str) -> str | None:
    if _PLAIN.fullmatch(text):
        return "number"
    return next((kind for kind, pattern in PATTERNS if pattern.fullmatch(text)), None)


def plain_characters(text: str) -> str:
    """`text` with look-alikes replaced by what they stand for: NFKC (fullwidth digits and
    marks, thin and no-break spaces), other scripts' decimal digits as 0-9, Unicode minus
    signs as '-', and no invisible characters."""
    text = unicodedata.normalize("NFKC", text.translate(_INVISIBLE)).translate(_MINUS)
    return "".join(
        str(unicodedata.decimal(c)) if not c.isascii() and c.isdecimal() else c for c in text
    )


def kind_of(value: str) -> str | None:
    """How one text value disguises a number, an amount, a date or a duration; None if not.

    A wrapper names the value before what it wraps (`="1,234"` is a formula); a number is
    `padded` when it is nothing else once its spaces (any Unicode space) and invisible
    characters are gone, and `look-alike` when it is one once its characters are plain.
    """
    text = value.strip()
    for kind, wrapper in WRAPPERS:
        match = wrapper.fullmatch(text)
        if match is not None:
            inner = next(g for g in match.groups() if g is not None).strip()
            if _named(inner):
                return kind
    named = _named(text)
    if named == "number":
        return "padded" if text != value else None
    if named is not None:
        return named
    if _named(value.translate(_INVISIBLE).strip()) == "number":
        return "padded"
    plain = plain_characters(value).strip()
    if plain == text:
        return None
    named = _named(plain)
    return "look-alike" if named == "number" else named


def typed_kind(series: pd.Series) -> str | None:
    """`date` or `duration` for a column stored as datetimes, periods or time deltas."""
    dtype = series.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype) or isinstance(dtype, pd.PeriodDtype):
        return "date"
    if pd.api.types.is_timedelta64_dtype(dtype):
        return "duration"
    return None


def misread_as_numbers(values: pd.Series, trained: str) -> str | None:
    """What a column read as a numeric feature holds that a cast would misread, and the fix,
    as a clause ("holds True/False where <trained> numbers; ..."); None if nothing.

    A feature is numeric only when its training column held numbers (True/False, dates and
    durations become categories there), and a cast makes True 1 and a duration its
    nanoseconds; infinities and values beyond LARGEST training refuses.
    """
    is_object = values.dtype == object
    if pd.api.types.is_bool_dtype(values.dtype) or (
        is_object and values.dropna().map(type).isin((bool, np.bool_)).any()
    ):
        return f"holds True/False where {trained} numbers; write the numbers the training file had"
    kind = typed_kind(values)
    if kind is not None:
        return f"is stored as {DESCRIPTIONS[kind]} where {trained} numbers; {batch_fix(kind)}"
    as_number = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    infinite = int(np.isinf(as_number).sum())
    if infinite:
        return (
            f"has {infinite} infinite values where {trained} finite numbers; replace them with "
            "empty values or finite numbers"
        )
    beyond = beyond_largest(as_number)
    if beyond.any():
        return (
            f"has {int(beyond.sum())} values beyond {LARGEST_TEXT} in size (e.g. "
            f"{as_number[beyond][0]:.3g}) where {trained} numbers within it: sentinels or "
            "corrupt values; leave those cells empty (missing)"
        )
    return None


def disguised_columns(frame: pd.DataFrame, skip: set) -> dict[str, dict]:
    """Columns (outside `skip`) of numbers, amounts, dates or durations in disguise: kind, an
    example, the share of distinct values in disguise, and whether the type says it (`typed`:
    a Parquet datetime or duration column) rather than text."""
    found = {}
    for column in frame.columns:
        series = frame[column]
        if column in skip or pd.api.types.is_bool_dtype(series.dtype):
            continue
        typed = typed_kind(series)
        if typed is not None and series.notna().any():
            example = str(series.dropna().iloc[0])
            found[str(column)] = {"kind": typed, "example": example, "share": 1.0, "typed": True}
            continue
        if pd.api.types.is_numeric_dtype(series.dtype):
            continue
        given = series.dropna().astype(str)
        distinct = pd.Series(given.unique())
        if distinct.empty:
            continue
        counts = len(distinct), len(given)
        values = distinct.sample(n=min(len(distinct), 5000), random_state=0)
        plain = pd.to_numeric(values, errors="coerce").notna()
        kinds = values.map(kind_of).where(~plain)
        disguised = kinds.notna()
        if not disguised.any() or (~disguised & ~plain).mean() > STRAY_SHARE:
            net = None if plain.mean() >= 0.5 else category_per_value(values, *counts)
            if net is not None:
                found[str(column)] = net
            continue
        kind = kinds[disguised].value_counts().index[0]
        found[str(column)] = {
            "kind": kind,
            "example": str(values[kinds == kind].iloc[0]),
            "share": round(float(disguised.mean()), 4),
            "typed": False,
        }
    return found


# The net under the patterns: a text column whose distinct values nearly all hold a digit, and
# are so many that the average value occurs fewer than twice, holds numbers written some way
# no pattern knows (or ids); as a category it would be one level per value, most levels seen
# once. Categorical codes repeat (a product code, a postcode in a table of many rows per
# code); a column of at most MIN_LEVELS values is a category whatever it holds, and one of
# mostly plain numbers with some text is `data_gates.no_mixed_types`'s to name.
DIGIT_SHARE = 0.9
LEVEL_SHARE = 0.5
MIN_LEVELS = 50
_DIGIT = re.compile(r"\d")


def category_per_value(values: pd.Series, levels: int, rows: int) -> dict | None:
    """The net's finding on a text column, or None: `values` are its distinct values (or a
    sample of them), `levels` how many there are, `rows` its non-missing values."""
    if levels <= MIN_LEVELS or levels < LEVEL_SHARE * rows:
        return None
    digits = values.map(lambda v: bool(_DIGIT.search(plain_characters(v))))
    if digits.mean() < DIGIT_SHARE:
        return None
    return {
        "kind": "numbers in text",
        "example": str(values[digits].iloc[0]),
        "share": round(float(digits.mean()), 4),
        "typed": False,
        "levels": levels,
        "rows": rows,
    }


def fix_for(kind: str, column: str, example: str, sep: str = ",") -> str:
    """What to do about a training column of `kind` in a file whose fields `sep` separates."""
    if kind == "numbers in text":
        return (
            f"write plain numbers; if it is an id, pass --id {column} or --drop {column}; if it "
            f"is truly categorical, pass --categorical {column}"
        )
    if kind == "unit":
        return (
            f"write plain numbers, the unit in the column's name ({column}_km, say); if it is "
            f"a category, pass --categorical {column}"
        )
    if kind == "decimal comma":
        marks = "--decimal ','" + (" --thousands '.'" if "." in example else "")
        if sep == ",":  # --decimal may not be --sep: an unquoted 8,5 would be two fields
            return f"save the file with ';' as its separator and pass --sep ';' {marks}"
        return f"pass {marks}"
    if kind == "thousands comma":
        return "pass --thousands ','"
    if kind == "date":
        return (
            "a raw timestamp does not carry over to new periods: derive features from it "
            f"(hour, weekday, age) or leave it out with --drop {column}"
        )
    if kind == "duration":
        return (
            "write it as a number of seconds (or minutes, days) in a plain number column, "
            f"or leave it out with --drop {column}"
        )
    return batch_fix(kind)


def batch_fix(kind: str) -> str:
    """What to do about a batch whose numeric feature holds `kind` (no option helps there:
    a batch is read with the training file's options)."""
    if kind == "formula":
        return "export the values, not the formulas (paste as values before saving)"
    if kind == "text mark":
        return "remove the leading apostrophes and write plain numbers"
    if kind == "padded":
        return (
            "remove the invisible characters around the numbers (non-breaking or zero-width "
            "spaces, a byte-order mark)"
        )
    if kind == "look-alike":
        return "write the numbers with the digits 0-9, '.' and '-' (plain ASCII)"
    if kind == "accounting negative":
        return "write negative numbers with a leading minus (-47.87)"
    if kind == "thousands space":
        return "write the numbers without thousands separators"
    if kind in ("currency", "percent"):
        return f"write plain numbers without the {kind} sign (keep units in their own column)"
    return "write the numbers as the training file had them"
