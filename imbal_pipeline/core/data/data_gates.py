"""Gates on the raw table before anything is split: empty, infinite, mixed-type and constant
columns, and enough positives for the holdout and every fold."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from imbal_pipeline.core import checks
from imbal_pipeline.core.data.disguises import LARGEST_TEXT, beyond_largest
from imbal_pipeline.core.gate import WARN, Gate, fail, ok
from imbal_pipeline.core.settings import LABEL, RESERVED, Settings


def _user_columns(frame: pd.DataFrame) -> list:
    return [c for c in frame.columns if c not in RESERVED]


@checks.gate("no_empty_columns")
def no_empty_columns(frame: pd.DataFrame) -> Gate:
    """No column may be entirely null."""
    empty = [c for c in _user_columns(frame) if frame[c].isna().all()]
    if empty:
        return fail(
            "no_empty_columns",
            f"column {empty[0]!r} is entirely empty; drop it or fill it",
            columns=[str(c) for c in empty],
        )
    return ok("no_empty_columns", "no column is entirely empty")


@checks.gate("no_infinities")
def no_infinities(frame: pd.DataFrame) -> Gate:
    """Numeric columns hold no +-inf and nothing beyond LARGEST in size (LightGBM and the
    samplers would misread them; squaring them overflows)."""
    infinite, huge = {}, {}
    for column in _user_columns(frame):
        if not pd.api.types.is_float_dtype(frame[column].dtype):
            continue
        values = frame[column].to_numpy(dtype=float)
        count = int(np.isinf(values).sum())
        if count:
            infinite[str(column)] = count
        beyond = beyond_largest(values)
        if beyond.any():
            huge[str(column)] = {"values": int(beyond.sum()), "example": float(values[beyond][0])}
    if infinite:
        column, count = next(iter(infinite.items()))
        return fail(
            "no_infinities",
            f"column {column!r} has {count} infinite values; replace them with NaN "
            "or finite values",
            columns=infinite,
        )
    if huge:
        column, info = next(iter(huge.items()))
        return fail(
            "no_infinities",
            f"column {column!r} has {info['values']} values beyond {LARGEST_TEXT} in size (e.g. "
            f"{info['example']:.3g}): sentinels or corrupt values, whose squares overflow; "
            "leave those cells empty (missing) or rescale the column",
            columns=huge,
        )
    return ok("no_infinities", "no infinite or out-of-range values")


# A text column with at most this many distinct values is a category even when most of its
# values look like numbers (doors: 2, 3, 4, "5more"); above it, stray text in a column of
# numbers ("1,234", "n/a") is an error to fix at the source.
CATEGORY_LEVELS = 20


@checks.gate("no_mixed_types")
def no_mixed_types(frame: pd.DataFrame, settings: Settings) -> Gate:
    """A text column of many numbers with some text is a data error, not a category."""
    mixed, as_category = {}, {}
    for column in _user_columns(frame):
        if column in settings.categorical or column in (settings.target, settings.id_column):
            continue
        series = frame[column]
        if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
            continue
        values = series.dropna()
        if values.empty:
            continue
        numeric = pd.to_numeric(values.astype(str), errors="coerce")
        share = float(numeric.notna().mean())
        if 0.5 <= share < 1.0:
            example = str(values[numeric.isna()].iloc[0])
            info = {"numeric_share": round(share, 4), "example": example}
            if values.nunique() <= CATEGORY_LEVELS:
                as_category[str(column)] = info
            else:
                mixed[str(column)] = info
    if mixed:
        column, info = next(iter(mixed.items()))
        return fail(
            "no_mixed_types",
            f"column {column!r} mixes numbers and text (e.g. {info['example']!r}); "
            "clean it, or list it in --categorical if it is a category",
            columns=mixed,
            treated_as_categorical=as_category,
        )
    if as_category:
        names = ", ".join(repr(c) for c in as_category)
        return fail(
            "no_mixed_types",
            f"column(s) {names} mix numbers and text with at most {CATEGORY_LEVELS} distinct "
            "values and are treated as categorical; list them in --categorical to silence this",
            severity=WARN,
            treated_as_categorical=as_category,
        )
    return ok("no_mixed_types", "no column mixes numbers and text")


@checks.gate("enough_positives")
def enough_positives(frame: pd.DataFrame, settings: Settings) -> Gate:
    """Enough positives for a holdout and the configured folds."""
    positives = int(frame[LABEL].sum())
    if settings.test_data_path is None:
        needed = math.ceil(settings.n_folds / (1 - settings.holdout_fraction)) + 1
    else:
        needed = settings.n_folds
    if positives < needed:
        return fail(
            "enough_positives",
            f"only {positives} positives; {settings.n_folds} folds and a holdout need at "
            f"least {needed}: lower --folds or give more data",
            positives=positives,
            needed=needed,
        )
    return ok(
        "enough_positives",
        f"{positives} positives (>= {needed} needed)",
        positives=positives,
        needed=needed,
    )


def is_constant(values: pd.Series) -> bool:
    """One value in every row, a missing value counting as one; `nunique(dropna=False) <= 1`
    without hashing the column (at 1M rows, 3.5 s for 30 columns on the run's first step)."""
    missing = values.isna().to_numpy()
    if missing.all():  # an empty column too
        return True
    return not missing.any() and bool((values == values.iloc[0]).all())


@checks.gate("constant_columns")
def constant_columns(frame: pd.DataFrame, settings: Settings) -> Gate:
    """Constant columns carry no signal (warning only)."""
    constant = [
        str(c) for c in _user_columns(frame) if c != settings.target and is_constant(frame[c])
    ]
    if constant:
        return fail(
            "constant_columns",
            f"column {constant[0]!r} is constant and carries no signal; consider dropping it",
            severity=WARN,
            columns=constant,
        )
    return ok("constant_columns", "no constant column")
