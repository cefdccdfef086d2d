"""Imputation, encoding and scaling, fitted on one training portion and stored as JSON."""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

MISSING = "__missing__"


def fingerprint(row_ids: np.ndarray) -> str:
    """Order-free digest of a set of row ids, to prove which rows a fit saw."""
    ids = np.sort(np.asarray(row_ids, dtype=np.int64))
    return hashlib.sha256(ids.tobytes()).hexdigest()[:16]


@dataclass
class Preprocessor:
    """Fitted state; every number here comes from the rows named by `fitted_on`."""

    numeric: list[str]
    categorical: list[str]
    medians: dict[str, float] = field(default_factory=dict)
    means: dict[str, float] = field(default_factory=dict)
    scales: dict[str, float] = field(default_factory=dict)
    indicators: list[str] = field(default_factory=list)
    categories: dict[str, list[str]] = field(default_factory=dict)
    fitted_on: dict = field(default_factory=dict)

    @property
    def output_names(self) -> list[str]:
        """Readable name of each output column, in order."""
        return (
            list(self.numeric)
            + [f"{c} (missing)" for c in self.indicators]
            + list(self.categorical)
        )

    @property
    def categorical_indices(self) -> list[int]:
        """Positions of the categorical codes in the output matrix."""
        start = len(self.numeric) + len(self.indicators)
        return list(range(start, start + len(self.categorical)))

    def transform(
        self, frame: pd.DataFrame | BatchColumns, order: Literal["C", "F"] = "C"
    ) -> np.ndarray:
        """Apply the fitted state; unseen categories become -1 (missing for LightGBM).

        Several preprocessors reading one batch share a `BatchColumns` of it, which converts
        each column once. Scoring asks for Fortran `order`: each column is then written in one
        piece, and LightGBM and the compiled trees read that order without a copy.
        """
        columns = frame if isinstance(frame, BatchColumns) else BatchColumns(frame)
        blocks: list[np.ndarray] = []
        for column in self.numeric:
            values = columns.numbers(column)
            values = np.where(np.isnan(values), self.medians[column], values)
            blocks.append((values - self.means[column]) / self.scales[column])
        for column in self.indicators:
            blocks.append(columns.missing(column))
        for column in self.categorical:
            # -1 where the category is unseen (missing for LightGBM)
            blocks.append(_codes(*columns.factors(column), self.categories[column]))
        if not blocks:
            return np.empty((len(columns.frame), 0), order=order)
        return np.stack(blocks).T if order == "F" else np.column_stack(blocks)

    def to_json(self) -> dict:
        """Plain-JSON state (never a pickle)."""
        return asdict(self)

    @classmethod
    def from_json(cls, state: dict) -> Preprocessor:
        """Rebuild from `to_json` output."""
        return cls(**state)


# A whole number as a float writer prints it: "1.0", "-3.00" (not "007.0", not "1e3").
_WHOLE_NUMBER_TEXT = re.compile(r"(-?(?:0|[1-9]\d*))\.0+")


def category_name(value) -> str:
    """A present cell's category: its text, a whole number named alike however it was stored.

    An integer column with one empty cell is read as floats, so its 1 arrives as 1.0, and a
    file written from such a column carries the text "1.0": all three are the category "1".
    Stored category names pass through it too, so a model saved before still finds its codes.
    """
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if (
        isinstance(value, (float, np.floating))
        and float(value).is_integer()
        and abs(float(value)) < 2**63
    ):
        return str(int(value))
    text = str(value)
    whole = _WHOLE_NUMBER_TEXT.fullmatch(text)
    if whole is None:
        return text
    return "0" if whole.group(1) == "-0" else whole.group(1)


def category_text(series: pd.Series, missing: str | None = MISSING) -> pd.Series:
    """Each cell's category name (`category_name`); a missing cell becomes `missing` (None:
    stays NaN).

    The one definition every stage uses, so training, holdout, scoring and monitoring name
    categories alike. Each distinct value is named once, not each row (1M rows in 0.1 s).
    """
    codes, uniques = pd.factorize(series)
    names = [category_name(v) for v in uniques]
    table = np.array([*names, np.nan if missing is None else missing], dtype=object)
    return pd.Series(table[codes], index=series.index, dtype=object)  # code -1: missing


def category_codes(series: pd.Series, categories: list[str]) -> np.ndarray:
    """Each cell's position in `categories` as float, -1.0 where the category is unseen.

    Names are compared as `category_name` gives them; where two stored names become one
    (a model saved before with both "1" and "1.0"), the first position is the category's.
    """
    codes, uniques = pd.factorize(series)
    return _codes(codes, [category_name(v) for v in uniques], categories)


def _codes(codes: np.ndarray, names: list[str], categories: list[str]) -> np.ndarray:
    """`category_codes` from a factorized column: `codes` into `names` (-1: missing)."""
    position: dict[str, int] = {}
    for i, name in enumerate(categories):
        position.setdefault(category_name(name), i)
    table = [position.get(name, -1) for name in names]
    table.append(position.get(MISSING, -1))
    return np.asarray(table, dtype=np.float64)[codes]


class BatchColumns:
    """A batch's columns as preprocessing reads them, each converted once however many
    preprocessors read it (the members of a fold bag each have their own)."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self._numbers: dict[str, np.ndarray] = {}
        self._missing: dict[str, np.ndarray] = {}
        self._factors: dict[str, tuple[np.ndarray, list[str]]] = {}

    def numbers(self, column: str) -> np.ndarray:
        """The column as floats, NaN where a value is missing or no number."""
        if column not in self._numbers:
            values = pd.to_numeric(self.frame[column], errors="coerce")
            self._numbers[column] = values.to_numpy(dtype=np.float64)
        return self._numbers[column]

    def missing(self, column: str) -> np.ndarray:
        """1.0 where the column's cell is missing, else 0.0."""
        if column not in self._missing:
            self._missing[column] = self.frame[column].isna().to_numpy(dtype=np.float64)
        return self._missing[column]

    def factors(self, column: str) -> tuple[np.ndarray, list[str]]:
        """Each cell's index into the column's distinct category names (-1: missing)."""
        if column not in self._factors:
            codes, uniques = pd.factorize(self.frame[column])
            self._factors[column] = codes, [category_name(v) for v in uniques]
        return self._factors[column]


def known_categories(categories: list[str]) -> set[str]:
    """The names of `categories` as `category_text` gives a batch's cells, for membership."""
    return {category_name(name) for name in categories}


def fit_preprocessor(
    frame: pd.DataFrame, schema: dict[str, list[str]], row_ids: np.ndarray
) -> Preprocessor:
    """Fit imputation, scaling and category codes on exactly these rows."""
    pre = Preprocessor(numeric=list(schema["numeric"]), categorical=list(schema["categorical"]))
    for column in pre.numeric:
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
        finite = values[~np.isnan(values)]
        median = float(np.median(finite)) if finite.size else 0.0
        filled = np.where(np.isnan(values), median, values)
        std = float(filled.std())
        pre.medians[column] = median
        pre.means[column] = float(filled.mean())
        # Scaling only matters for neighbour-based samplers; constant columns keep scale 1.
        pre.scales[column] = std if std > 0 else 1.0
        if np.isnan(values).any():
            pre.indicators.append(column)
    for column in pre.categorical:
        counts = category_text(frame[column]).value_counts(sort=False)
        # Most frequent first, ties by name, so codes are deterministic.
        ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        pre.categories[column] = [str(value) for value, _ in ordered]
    pre.fitted_on = {"rows": int(len(row_ids)), "row_ids_sha256": fingerprint(row_ids)}
    return pre
