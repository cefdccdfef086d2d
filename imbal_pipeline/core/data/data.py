"""Loading a user's table, stable row ids, the binary label and the feature schema."""

from __future__ import annotations

import difflib
import math
import zlib

import numpy as np
import pandas as pd

# Reading files lives in `reading`; its names stay importable from here, where the stages and
# tests have always found them.
from imbal_pipeline.core.data.reading import (  # noqa: F401
    DamagedFileError,
    DataError,
    ReadOptions,
    columns_of,
    file_problem,
    read_table,
    read_table_hashed,
    rows_up_to,
)
from imbal_pipeline.core.settings import (
    IN_PROCESS_ROWS,
    LABEL,
    NARROW_CELLS,
    NARROW_ROWS,
    RESERVED,
    ROW_ID,
    Settings,
)


def data_size(s: Settings, limit: int | None = None) -> tuple[int, int] | None:
    """Rows and columns of the data a run reads, cheaply (a text file's rows are counted only
    past `limit`, when given); None when the file cannot be read here (the raw_data step says
    why)."""
    if s.data_path is None:
        from imbal_pipeline.core.data.synthetic import COLUMNS

        return s.generated_rows, COLUMNS
    try:
        rows = rows_up_to(s.data_path, limit if limit is not None else 2**62)
        return rows, columns_of(s.data_path, s.read_options)
    except (OSError, ValueError, EOFError, zlib.error):
        return None


def executor_of(s: Settings) -> str:
    """The executor a run uses: the one named, or for `auto` in_process on small data (at most
    IN_PROCESS_ROWS rows, or NARROW_ROWS rows of at most NARROW_CELLS cells) and multiprocess
    above."""
    if s.executor != "auto":
        return s.executor
    size = data_size(s, NARROW_ROWS)
    if size is None:
        return "multiprocess"
    rows, columns = size
    small = rows <= IN_PROCESS_ROWS or (rows <= NARROW_ROWS and rows * columns <= NARROW_CELLS)
    return "in_process" if small else "multiprocess"


# A message lists this many of a table's columns; of more, it says how many it left out.
SHOWN_COLUMNS = 12


def close_name(asked: str, names: list[str]) -> str | None:
    """The name a user most likely meant by `asked`: one differing only in case, else the
    closest by difflib; None when none is close."""
    same = [n for n in names if n.casefold() == asked.casefold()]
    if same:
        return same[0]
    close = difflib.get_close_matches(asked, names, n=1)
    return close[0] if close else None


def columns_text(names: list) -> str:
    """A table's columns for a one-line message: all of a few; of many, the first ones, how
    many are left out, and the last (where a label column usually is)."""
    names = [str(n) for n in names]
    if len(names) <= SHOWN_COLUMNS:
        return ", ".join(names)
    left_out = len(names) - SHOWN_COLUMNS
    return f"{', '.join(names[: SHOWN_COLUMNS - 1])}, ... and {left_out} more ..., {names[-1]}"


def missing_column(role: str, asked: str, names: list, flag: str) -> str:
    """The message for a column named by `flag` that the data lacks: the column the user most
    likely meant first, then the columns there are, then the fix."""
    close = close_name(asked, [str(n) for n in names])
    hint = f": did you mean {close!r}?" if close is not None else ""
    return (
        f"{role} column {asked!r} not in the data{hint} ({len(names)} columns: "
        f"{columns_text(names)}); fix {flag}"
    )


def _stable_row_ids(frame: pd.DataFrame, id_column: str | None, salt: int) -> np.ndarray:
    """Row ids from content (or the id column), so the same file gives the same ids."""
    if id_column is not None:
        ids = frame[id_column].astype(str)
        hashed = pd.util.hash_pandas_object(ids, index=False).to_numpy(dtype=np.uint64)
    else:
        hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype=np.uint64)
        # Identical rows get the same content hash; their occurrence number tells them apart.
        ordinal = pd.Series(hashed).groupby(hashed).cumcount().to_numpy(dtype=np.uint64)
        hashed = hashed ^ (ordinal * np.uint64(0x9E3779B97F4A7C15))
    hashed = hashed ^ np.uint64(salt)
    return (hashed >> np.uint64(1)).astype(np.int64)


def label_key(value) -> str:
    """A target value as every stage compares it: numbers by their value (1, 1.0 and "1" are
    "1"; 0.5 and "0.50" are "0.5"), other values by their text (True and "True" are "True")."""
    text = str(value)
    try:
        number = float(text)
    except ValueError:
        return text
    if not math.isfinite(number):
        return text  # "nan" or "inf" as a class name stays what it says
    return str(int(number)) if number.is_integer() else repr(number)


def label_text(values: pd.Series) -> pd.Series:
    """`label_key` of each value (missing stays missing): the one way training, an explicit
    holdout, a labels file and the monitoring tell which rows hold which class, so that a file
    another tool wrote with 1.0 for 1 means the same class."""
    present = values.dropna()
    if pd.api.types.is_object_dtype(present.dtype):
        present = present.astype(str)  # as Python objects 1 and True would be one key
    keys = {value: label_key(value) for value in present.unique()}
    return present.map(keys).reindex(values.index)


def is_label(values, label):
    """Whether `values` are the class `label`: the one place that decides it, for training,
    an explicit holdout, a labels file, the monitoring and the promotion.

    By `label_key`: 1, 1.0, "1" and "1.0" are one class; True is "True", not 1; "Yes" is not
    "yes"; a missing value is no class. A Series gives one bool per row, one value a bool.
    """
    wanted = label_key(label)
    if isinstance(values, pd.Series):
        return (label_text(values) == wanted).to_numpy(dtype=bool)
    return not pd.isna(values) and label_key(values) == wanted


def _positive_mask(target: pd.Series, positive_label: str | None) -> tuple[np.ndarray, str]:
    """Boolean positive mask and the label value (its `label_key`) taken as positive."""
    text = label_text(target)
    as_text = set(text.dropna())
    if positive_label is not None:
        mask = is_label(target, positive_label)
        if not mask.any():
            shown = ", ".join(sorted(as_text)[:10])
            raise DataError(
                f"positive label {positive_label!r} not found in the target (values: {shown}); "
                "fix --positive-label"
            )
        return mask, label_key(positive_label)
    if len(as_text) > 2:
        raise DataError(
            f"target has {len(as_text)} classes; multi-class is not yet supported: "
            "name the positive class with --positive-label to train one-vs-rest"
        )
    counts = text.value_counts()
    if len(counts) == 2 and counts.iloc[0] == counts.iloc[1]:
        a, b = sorted(counts.index)
        raise DataError(
            f"the target's classes {a!r} and {b!r} are equally frequent, so neither is a rare "
            "class; name the positive class with --positive-label"
        )
    positive = next(
        (p for n, p in (("0", "1"), ("False", "True")) if as_text <= {n, p}),
        # Two arbitrary labels: the rarer one is what a user of this product cares about.
        str(counts.index[-1]),
    )
    share = float(counts.get(positive, 0)) / len(text)
    if len(counts) == 2 and share > 0.5:
        other = next(v for v in counts.index if v != positive)
        raise DataError(
            f"the positive class {positive!r} is the majority ({share:.1%} of rows) but this "
            f"product models a rare positive class: pass --positive-label {other} if {other!r} "
            f"is the rare class, or --positive-label {positive} to confirm"
        )
    return is_label(target, positive), positive


def prepare_frame(frame: pd.DataFrame, settings: Settings, *, salt: int = 0) -> pd.DataFrame:
    """Validate the target, add the binary label and stable row ids."""
    positive = check_frame(frame, settings)
    out = frame.copy()
    out.insert(0, ROW_ID, _stable_row_ids(frame, settings.id_column, salt))
    out[LABEL] = positive.astype(np.int8)
    return out


def check_frame(frame: pd.DataFrame, settings: Settings) -> np.ndarray:
    """What `prepare_frame` refuses (a reserved column name; a target, group or id column it
    lacks; an id that repeats; labels that give no binary label), and else the positive mask."""
    clash = [c for c in frame.columns if c in RESERVED]
    if clash:
        raise DataError(f"column {clash[0]!r} is reserved by imbal_pipeline; rename it")
    problem = key_columns_problem(list(frame.columns), settings)
    if problem is not None:
        raise DataError(problem)
    if settings.id_column is not None and frame[settings.id_column].duplicated().any():
        raise DataError(
            f"id column {settings.id_column!r} has duplicate values; give a unique id or drop --id"
        )
    return binary_label(frame[settings.target], settings)[0]


def key_columns_problem(names: list, settings: Settings) -> str | None:
    """The target, group or id column missing from `names`, said with the fix; or None."""
    if settings.target not in names:
        return missing_column("target", settings.target, names, "--target")
    if settings.group is not None and settings.group not in names:
        return f"group column {settings.group!r} not in the data; fix --group"
    if settings.id_column is not None and settings.id_column not in names:
        return f"id column {settings.id_column!r} not in the data; fix --id"
    return None


def binary_label(target: pd.Series, settings: Settings) -> tuple[np.ndarray, str]:
    """The positive mask of a target column and the positive label: every label present, the
    positive class named or chosen (see `_positive_mask`), and both classes present."""
    if target.isna().any():
        raise DataError(
            f"target column {settings.target!r} has {int(target.isna().sum())} missing labels; "
            "drop or label those rows"
        )
    positive, label = _positive_mask(target, settings.positive_label)
    if positive.all() or not positive.any():
        raise DataError(
            f"target column {settings.target!r} has only one class; "
            "both a positive and a negative class are needed"
        )
    return positive, label


def positive_label_of(frame: pd.DataFrame, settings: Settings) -> str:
    """The target value taken as the positive class."""
    return _positive_mask(frame[settings.target], settings.positive_label)[1]


def negative_labels_of(frame: pd.DataFrame, settings: Settings) -> list[str]:
    """The target values taken as negative (one, or several for one-vs-rest), spelled as the
    positive label is (`label_key`: a float target's 0.0 is "0")."""
    return sorted(set(label_text(frame.loc[frame[LABEL] == 0, settings.target]).dropna()))


def stray_labels(values: pd.Series, classes: list[str]) -> list[str]:
    """Label values that are none of `classes`, compared by `label_key`: the training file's
    1 may come back as 1.0, but "Yes" is not "yes" and "unknown" is no class."""
    known = np.zeros(len(values), dtype=bool)
    for c in classes:
        known |= is_label(values, c)
    return sorted(set(label_text(values[~known]).dropna()))


def refuse_stray_labels(
    values: pd.Series, classes: list[str], where: str, positive: str | None = None
) -> None:
    """One line naming the label values that are none of `classes`, and the classes there are
    (`positive` marked as such)."""
    stray = stray_labels(values, classes)
    if stray:
        shown = ", ".join(repr(v) for v in stray[:3])
        named = [
            f"{c!r}" + (" (positive)" if positive is not None and is_label(c, positive) else "")
            for c in classes
        ]
        listed = ", ".join(named[:6]) + (", ..." if len(named) > 6 else "")
        raise DataError(
            f"{where} has label values that are no class the model learns (e.g. {shown}); "
            f"the classes are {listed}: correct those labels or drop their rows"
        )


def one_label_per_id(ids: pd.Series, labels: pd.Series, where: str) -> pd.Series:
    """The labels by id (ids as text, missing labels left out), one per id.

    An id repeated with the same label (by `label_key`: 1 and 1.0 agree) counts once; repeated
    with different labels it is refused, since no rule can tell which one is right (taking the
    last would silently decide it).
    """
    given = pd.DataFrame(
        {"id": ids.astype(str).to_numpy(), "key": label_text(labels).to_numpy(), "label": labels}
    ).dropna(subset=["key"])
    keys = given.groupby("id", sort=False)["key"].nunique()
    conflicting = keys[keys > 1]
    if len(conflicting):
        first = conflicting.index[0]
        shown = given.loc[given["id"] == first].drop_duplicates("key")["label"].iloc[:2].tolist()
        raise DataError(
            f"{where} repeats ids with different labels ({len(conflicting)} id(s), e.g. id "
            f"{first!r}: {shown[0]!r} and {shown[1]!r}); keep the one right label of each id"
        )
    return given.drop_duplicates("id").set_index("id")["label"]


def feature_schema(frame: pd.DataFrame, settings: Settings) -> dict[str, list[str]]:
    """Split the feature columns into numeric and categorical."""
    excluded = {settings.target, settings.id_column, settings.group, *RESERVED}
    numeric, categorical = [], []
    for column in frame.columns:
        if column in excluded:
            continue
        dtype = frame[column].dtype
        if column in settings.categorical or not (
            pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        ):
            categorical.append(column)
        else:
            numeric.append(column)
    missing = [c for c in settings.categorical if c not in frame.columns]
    if missing:
        raise DataError(f"categorical column {missing[0]!r} not in the data; fix --categorical")
    missing = [c for c in settings.subgroup_columns if c not in frame.columns]
    if missing:
        raise DataError(f"subgroup column {missing[0]!r} not in the data; fix --subgroup")
    if not numeric and not categorical:
        raise DataError("the data has no feature columns besides the target and id")
    return {"numeric": numeric, "categorical": categorical}
