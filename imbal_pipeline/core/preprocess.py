"""Imputation, encoding and scaling, fitted on one training portion and stored as JSON."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

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

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Apply the fitted state; unseen categories become -1 (missing for LightGBM)."""
        blocks = []
        for column in self.numeric:
            values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
            values = np.where(np.isnan(values), self.medians[column], values)
            blocks.append((values - self.means[column]) / self.scales[column])
        for column in self.indicators:
            blocks.append(frame[column].isna().to_numpy(dtype=np.float64))
        for column in self.categorical:
            text = category_text(frame[column])
            codes = pd.Categorical(text, categories=self.categories[column]).codes
            blocks.append(codes.astype(np.float64))  # -1 where the category is unseen
        if not blocks:
            return np.empty((len(frame), 0))
        return np.column_stack(blocks)

    def to_json(self) -> dict:
        """Plain-JSON state (never a pickle)."""
        return asdict(self)

    @classmethod
    def from_json(cls, state: dict) -> Preprocessor:
        """Rebuild from `to_json` output."""
        return cls(**state)


def category_text(series: pd.Series, missing: str | None = MISSING) -> pd.Series:
    """Each value's category name (its str); a missing value becomes `missing` (None: stays NaN).

    The one definition every stage uses, so training, scoring and monitoring name categories
    alike. Text columns skip the round trip through Python objects (seconds at 1M rows).
    """
    if isinstance(series.dtype, pd.StringDtype):
        return series if missing is None else series.fillna(missing)
    present = series.notna()
    text = series[present].astype(object).astype(str).reindex(series.index)
    return text if missing is None else text.fillna(missing)


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
        pre.categories[column] = [value for value, _ in ordered]
    pre.fitted_on = {"rows": int(len(row_ids)), "row_ids_sha256": fingerprint(row_ids)}
    return pre
