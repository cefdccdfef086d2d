"""The rows a champion and a challenger are compared on: rows neither of them trained on.

Every deployed model records the rows of its training split as a set of row keys: a hash of the
row's features (the model's own, by name, numbers as numbers and categories as their names) and
its label. Row keys, unlike the pipeline's row ids, do not depend on the file a row came from
(an explicit holdout file salts its ids) or on its place among identical rows, so a row a model
trained on is known by its content wherever it turns up again: in a later holdout, in a
labelled batch, or as a duplicate. A candidate row is left out when its key under the
champion's features is in the champion's set, or its key under the challenger's features is in
the challenger's. A row is compared once: one a source offers again after an earlier source
compared it (a labelled batch merged into the challenger's data with `--labelled-batches` has
its untrained rows in the holdout too) is left out of the later source, matched by its keys under
both models, as many times as the earlier sources compared it. Within one source every row
counts, repeats included: identical rows in one file are separate observations (the keys cannot
tell a copy from a repeat, so a source matches against earlier ones copy for copy, and a row
repeated more often than the earlier sources compared it keeps its extra copies). Only the
rows left are scored, by both models.

The candidates: the challenger's holdout rows, and the labelled inbox batches that arrived after
the champion was trained. A source one of the two models cannot score (a feature added or
removed since) is not comparable, and the comparison says so and goes on with the others.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from imbal_pipeline.core.data.data import DataError
from imbal_pipeline.core.train.preprocess import category_text

HOLDOUT, BATCH = "holdout", "batch"
_KEY = np.dtype("<u8")


def row_keys(frame: pd.DataFrame, schema: dict, y) -> np.ndarray:
    """One key per row: the hash of the features in `schema` (numeric and categorical, by
    name) and the 0/1 label `y`."""
    parts = {}
    for column in sorted(schema["numeric"]):
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
        parts[column] = values + 0.0  # -0.0 and 0.0 are one number
    for column in sorted(schema["categorical"]):
        parts[column] = category_text(frame[column], missing=None).to_numpy()
    parts["__label"] = np.asarray(y, dtype=np.int8)
    table = pd.DataFrame(parts, index=range(len(frame)))
    return pd.util.hash_pandas_object(table, index=False).to_numpy(dtype=np.uint64)


@dataclass(frozen=True)
class TrainedRows:
    """The keys of the rows a model trained on (sorted, unique) and how many there were."""

    keys: np.ndarray
    rows: int
    positives: int

    @classmethod
    def of(cls, frame: pd.DataFrame, schema: dict, y) -> TrainedRows:
        y = np.asarray(y)
        keys = np.unique(row_keys(frame, schema, y))
        return cls(keys, len(frame), int(y.sum()))

    def to_bytes(self) -> bytes:
        return self.keys.astype(_KEY).tobytes()

    def record(self) -> dict:
        """What the model's JSON half keeps: the counts and the digest of `to_bytes`."""
        digest = hashlib.sha256(self.to_bytes()).hexdigest()
        return {"rows": self.rows, "positives": self.positives, "sha256": digest}

    def to_frame(self) -> pd.DataFrame:
        """The keys as a one-column table, as the store keeps them (Parquet)."""
        return pd.DataFrame({"row_key": self.keys.astype(np.uint64)})

    @classmethod
    def verified(cls, keys, record: dict) -> TrainedRows:
        """The keys stored for a model; refused unless they are the ones it recorded."""
        keys = np.asarray(keys, dtype=np.uint64)
        if hashlib.sha256(keys.astype(_KEY).tobytes()).hexdigest() != record["sha256"]:
            raise DataError("its training rows' keys do not match the digest the model records")
        return cls(keys, record["rows"], record["positives"])


@dataclass(frozen=True)
class Source:
    """Candidate rows with their labels (0/1): a holdout, or one labelled batch."""

    name: str
    kind: str
    frame: pd.DataFrame
    y: np.ndarray
    note: str | None = None  # why its rows cannot be compared (its labels are unreadable)


@dataclass(frozen=True)
class Used:
    """What became of one source: its rows, those left out as trained on or as compared in an
    earlier source, and those compared."""

    name: str
    kind: str
    rows: int
    positives: int
    champion_trained: int = 0  # rows left out: the champion trained on them
    challenger_trained: int = 0
    # rows left out: an earlier source (by name) already compared them
    compared_before: dict[str, int] = field(default_factory=dict)
    compared: int = 0
    compared_positives: int = 0
    not_comparable: str | None = None  # why neither of its rows was compared

    def to_json(self) -> dict:
        return asdict(self)


def _unscorable(model, frame: pd.DataFrame) -> str | None:
    """Why `model` cannot score `frame`, or None."""
    try:
        model.check(frame)
    except DataError as exc:
        return str(exc)
    return None


def _identity(champion_keys: np.ndarray, challenger_keys: np.ndarray) -> np.ndarray:
    """One key per row as both models see it: its key under each model's features."""
    table = pd.DataFrame({"a": champion_keys, "b": challenger_keys})
    return pd.util.hash_pandas_object(table, index=False).to_numpy(dtype=np.uint64)


def _compared_before(
    keys: np.ndarray, open_rows: np.ndarray, earlier: list[tuple[str, pd.Series]]
) -> tuple[np.ndarray, dict[str, int]]:
    """Which of the `open_rows` an earlier source already compared, and how many per source:
    of each key, as many rows as that source compared (`earlier`: name, compared rows per key)."""
    again, where = np.zeros(len(keys), dtype=bool), {}
    for name, counts in earlier:
        at = np.flatnonzero(open_rows & ~again)
        candidates = pd.Series(keys[at])
        nth = candidates.groupby(candidates.to_numpy()).cumcount().to_numpy()
        hit = at[nth < candidates.map(counts).fillna(0).to_numpy()]
        if len(hit):
            again[hit] = True
            where[name] = len(hit)
    return again, where


def shared_rows(champion, challenger, champion_rows, challenger_rows, sources):
    """The rows of `sources` neither model trained on, each scored once, by both.

    `champion` and `challenger` are `deployed.Model`s (anything with `feature_schema`, `check`
    and `scores`); `*_rows` their `TrainedRows` (None: not recorded, so no row is known to be
    unseen by that model). Returns the labels, the champion's and the challenger's scores,
    and one `Used` per source.
    """
    ys, a_parts, b_parts, used, earlier = [], [], [], [], []
    for source in sources:
        entry = Used(source.name, source.kind, len(source.frame), int(np.sum(source.y)))
        if source.note is not None:
            problem = source.note
        elif champion_rows is None:
            problem = (
                "the champion's record of the rows it trained on is missing (or it was "
                "deployed by an older release, which kept none)"
            )
        else:
            problem = _unscorable(champion, source.frame) or _unscorable(challenger, source.frame)
        if problem is not None:
            used.append(Used(**{**entry.to_json(), "not_comparable": problem}))
            continue
        y = np.asarray(source.y)
        keys_a = row_keys(source.frame, champion.feature_schema, y)
        keys_b = row_keys(source.frame, challenger.feature_schema, y)
        seen_a, seen_b = np.isin(keys_a, champion_rows.keys), np.isin(keys_b, challenger_rows.keys)
        identity = _identity(keys_a, keys_b)
        again, where = _compared_before(identity, ~seen_a & ~seen_b, earlier)
        keep = ~seen_a & ~seen_b & ~again
        earlier.append((source.name, pd.Series(identity[keep]).value_counts()))
        counts = {
            "champion_trained": int(seen_a.sum()),
            "challenger_trained": int((seen_b & ~seen_a).sum()),
            "compared_before": where,
            "compared": int(keep.sum()),
            "compared_positives": int(y[keep].sum()),
        }
        used.append(Used(**{**entry.to_json(), **counts}))
        if keep.any():
            rows = source.frame[keep].reset_index(drop=True)  # only these are ever scored
            ys.append(y[keep])
            a_parts.append(champion.scores(rows))
            b_parts.append(challenger.scores(rows))
    if not ys:
        return np.zeros(0, int), np.zeros(0), np.zeros(0), used
    return np.concatenate(ys), np.concatenate(a_parts), np.concatenate(b_parts), used


def schema_change(champion_schema: dict, challenger_schema: dict) -> dict[str, list[str]]:
    """Features the challenger added and removed, by name."""
    old = {*champion_schema["numeric"], *champion_schema["categorical"]}
    new = {*challenger_schema["numeric"], *challenger_schema["categorical"]}
    return {"added": sorted(new - old), "removed": sorted(old - new)}


def compared_before_text(used: list[Used]) -> str:
    """How many of these sources' rows were left out as compared in an earlier source, and
    where: ", 200 already compared in holdout", or "" when none."""
    where: dict[str, int] = {}
    for u in used:
        for name, rows in u.compared_before.items():
            where[name] = where.get(name, 0) + rows
    if not where:
        return ""
    return f", {sum(where.values()):,} already compared in {', '.join(where)}"


def rows_text(used: list[Used]) -> str:
    """Which rows were compared, and which sources could not be."""
    parts, batches = [], [u for u in used if u.kind == BATCH and u.not_comparable is None]
    for u in used:
        if u.kind == HOLDOUT and u.not_comparable is None:
            left = u.champion_trained + u.challenger_trained
            parts.append(
                f"{u.compared:,} holdout rows neither model trained on ({left:,} left out"
                f"{compared_before_text([u])})"
            )
    if batches:
        rows = sum(u.compared for u in batches)
        left = sum(u.champion_trained + u.challenger_trained for u in batches)
        parts.append(
            f"{rows:,} rows of {len(batches)} labelled batch{'es' if len(batches) > 1 else ''} "
            f"that arrived since the champion ({left:,} left out as trained on"
            f"{compared_before_text(batches)})"
        )
    text = " + ".join(parts) or "no rows"
    missing = [u for u in used if u.not_comparable is not None]
    if missing:
        what = "old batches" if all(u.kind == BATCH for u in missing) else missing[0].name
        text += f"; not comparable on {what} ({missing[0].not_comparable})"
    return text
