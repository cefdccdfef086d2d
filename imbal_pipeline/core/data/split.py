"""Holdout split, imbalance profile and cross-validation folds: all decided before any fit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeGuard

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

from imbal_pipeline.core.data.data import DataError, feature_schema, positive_label_of
from imbal_pipeline.core.settings import FOLD, GROUP, LABEL, ROW_ID, SPLIT, Settings
from imbal_pipeline.core.values import Profile

TRAIN, HOLDOUT = "train", "holdout"

# (upper bound of neg/pos, tier, where the practice starts, the strategies it names) — the tiers
# of the product brief. The ladder still starts simple: a tier says where to look, the paired
# selection decides, and the report says so when the data chose otherwise.
_TIERS = (
    (
        5.0,
        "balanced",
        "no imbalance handling needed; tune the threshold if costs differ",
        ("none",),
    ),
    (20.0, "mild", "class weighting (scale_pos_weight) with a tuned threshold", ("class_weight",)),
    (
        100.0,
        "moderate",
        "class weighting, then SMOTE variants inside the folds",
        ("class_weight", "smote", "borderline_smote", "smoteenn"),
    ),
    (
        float("inf"),
        "severe",
        "SMOTE variants and balanced bagging (an ensemble) inside the folds, measured against "
        "class weighting; or collect more positives",
        ("smote", "borderline_smote", "smoteenn", "balanced_bagging"),
    ),
)


def grouping_basis(settings: Settings) -> str | None:
    """What makes rows a group, in words; None when every row stands alone."""
    if settings.group is not None:
        return f"column {settings.group!r}"
    return "identical feature values" if settings.duplicates_together else None


def row_groups(frame: pd.DataFrame, settings: Settings) -> tuple[np.ndarray, str | None]:
    """A group key per row, and what formed the groups (None: every row is its own group).

    Rows of one group are near-copies as far as evaluation goes (one patient's visits, one
    transaction exported twice), so they must never be split between fitting and scoring.
    Keys are hashes of the values, so they do not depend on the order of the rows.
    """
    if settings.group is not None:
        values = frame[settings.group]
        keys = np.array(pd.util.hash_pandas_object(values.astype("string"), index=False))
        # A missing group says nothing about belonging together: each such row stands alone.
        alone = values.isna().to_numpy()
        keys[alone] = pd.util.hash_pandas_object(frame.loc[alone, ROW_ID], index=False)
        return keys, grouping_basis(settings)
    if settings.duplicates_together:
        schema = feature_schema(frame, settings)
        columns = schema["numeric"] + schema["categorical"]
        keys = pd.util.hash_pandas_object(frame[columns], index=False).to_numpy()
        return keys, grouping_basis(settings)
    return pd.util.hash_pandas_object(frame[ROW_ID], index=False).to_numpy(), None


def _has_shared_groups(groups: np.ndarray | None) -> TypeGuard[np.ndarray]:
    return groups is not None and len(np.unique(groups)) < len(groups)


def assign_groups(y: npt.ArrayLike, groups: np.ndarray, shares, seed: int) -> np.ndarray:
    """Part index per row: whole groups to parts of the given shares, stratified by class.

    Groups of several rows are placed first, largest first, each in the part with the most room
    left (relative to its targets) for the group's positives and negatives; single rows then
    fill every part to its
    target, class by class, in a seeded random order. Unlike StratifiedGroupKFold, whose greedy
    search visits every group (84 s for 200k rows here), the cost is a sort plus one step per
    shared group.
    """
    y = np.asarray(y).astype(np.int64)
    shares = np.asarray(shares, dtype=float)
    keys, inverse = np.unique(groups, return_inverse=True)
    size = np.bincount(inverse)
    pos = np.bincount(inverse, weights=y).astype(np.int64)
    targets = np.stack([shares * (len(y) - y.sum()), shares * y.sum()])  # [class, part]
    fill = np.zeros_like(targets)
    part = np.full(len(keys), -1, dtype=np.int64)
    rng = np.random.default_rng(seed)
    shared = np.flatnonzero(size > 1)
    shared = shared[rng.permutation(len(shared))]
    shared = shared[np.argsort(-size[shared], kind="stable")]  # the biggest are hardest to place
    for g in shared:
        add = np.array([[size[g] - pos[g]], [pos[g]]])
        room = add * (1 - fill / np.maximum(targets, 1e-9))  # rows x relative room left
        k = int(np.argmax(room.sum(axis=0)))
        part[g] = k
        fill[:, k] += add[:, 0]
    for cls in (0, 1):
        single = np.flatnonzero((size == 1) & (pos == cls))
        single = single[rng.permutation(len(single))]
        counts = _allocate(len(single), np.clip(targets[cls] - fill[cls], 0, None), shares)
        part[single] = np.repeat(np.arange(len(shares)), counts)
    return part[inverse]


def _allocate(total: int, need: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """`total` split in proportion to `need` (or the shares), rounded by largest remainder."""
    weights = need if need.sum() > 0 else shares
    exact = weights / weights.sum() * total
    counts = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: total - counts.sum()]] += 1
    return counts


def split_holdout(
    frame: pd.DataFrame, fraction: float, seed: int, groups: np.ndarray | None = None
) -> pd.DataFrame:
    """Mark a stratified holdout, whole groups at a time; returns the frame with a split column.

    Without shared groups this is scikit-learn's stratified split, row by row.
    """
    positives = int(frame[LABEL].sum())
    if positives < 2:
        raise DataError(
            f"only {positives} positive row(s); a stratified holdout needs at least 2 "
            "(give more data or an explicit --test-data file)"
        )
    if _has_shared_groups(groups):
        in_holdout = assign_groups(frame[LABEL], groups, [1 - fraction, fraction], seed) == 1
    else:
        _, test_idx = train_test_split(
            np.arange(len(frame)), test_size=fraction, stratify=frame[LABEL], random_state=seed
        )
        in_holdout = np.zeros(len(frame), dtype=bool)
        in_holdout[test_idx] = True
    out = frame.copy()
    out[SPLIT] = pd.Series(np.where(in_holdout, HOLDOUT, TRAIN), index=frame.index, dtype="string")
    if groups is not None:
        out[GROUP] = groups
    return out


def join_explicit_holdout(train: pd.DataFrame, holdout: pd.DataFrame) -> pd.DataFrame:
    """Stack a training frame and an explicit holdout frame (e.g. out-of-time)."""
    if set(train.columns) != set(holdout.columns):
        extra = sorted(set(holdout.columns) ^ set(train.columns), key=str)
        raise DataError(
            f"the holdout file's columns differ from the training file's ({extra[0]!r}); "
            "give both files the same columns"
        )
    if np.intersect1d(train[ROW_ID], holdout[ROW_ID]).size:
        raise DataError("row ids collide between training and holdout files; check --id")
    both = pd.concat(
        [train.assign(**{SPLIT: TRAIN}), holdout[train.columns].assign(**{SPLIT: HOLDOUT})],
        ignore_index=True,
    )
    both[SPLIT] = both[SPLIT].astype("string")
    return both


def training_part(frame: pd.DataFrame) -> pd.DataFrame:
    """The training split (the only rows any fit may see)."""
    return frame[frame[SPLIT] == TRAIN].reset_index(drop=True)


def holdout_part(frame: pd.DataFrame) -> pd.DataFrame:
    """The holdout split (evaluation only)."""
    return frame[frame[SPLIT] == HOLDOUT].reset_index(drop=True)


def imbalance_profile(train: pd.DataFrame, settings: Settings) -> Profile:
    """Which class is positive, per-class counts, ratio, tier and the recommended start.

    Measured on the training split.
    """
    positives = int(train[LABEL].sum())
    negatives = int(len(train) - positives)
    ratio = negatives / positives if positives else float("inf")
    tier, advice, named = next((t, a, n) for bound, t, a, n in _TIERS if ratio < bound)
    return Profile(
        target=settings.target,
        positive_label=positive_label_of(train, settings),
        rows=int(len(train)),
        positives=positives,
        negatives=negatives,
        ratio=round(ratio, 3),
        ratio_text=f"1:{ratio:.1f}",
        prevalence=positives / len(train),
        tier=tier,
        recommendation=advice,
        tier_strategies=list(named),
    )


def tier_departure(profile: Profile, selected: str, reason: str) -> str | None:
    """A sentence when the selected strategy is not one the tier names; None otherwise."""
    if not profile.tier_strategies or selected in profile.tier_strategies:
        return None
    return (
        f"The {profile.tier} tier ({profile.ratio_text}) usually starts from "
        f"{profile.recommendation}; the folds chose `{selected}` instead, because {reason}."
    )


def make_folds(train: pd.DataFrame, n_folds: int, seed: int) -> pd.DataFrame:
    """Stratified folds over the training split, whole groups at a time: one row per row id.

    Without shared groups (see `row_groups`) this is StratifiedKFold.
    """
    positives = int(train[LABEL].sum())
    if positives < n_folds:
        raise DataError(
            f"only {positives} positives in the training split for {n_folds} folds; "
            f"lower --folds to at most {max(2, positives)} or give more data"
        )
    groups = train[GROUP].to_numpy() if GROUP in train.columns else None
    if _has_shared_groups(groups):
        folds = assign_groups(train[LABEL], groups, np.full(n_folds, 1 / n_folds), seed)
        folds = folds.astype(np.int16)
    else:
        folds = np.empty(len(train), dtype=np.int16)
        splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        for k, (_, val_idx) in enumerate(splitter.split(np.zeros(len(train)), train[LABEL])):
            folds[val_idx] = k
    return pd.DataFrame({ROW_ID: train[ROW_ID].to_numpy(), FOLD: folds})


def grouping_summary(marked: pd.DataFrame, settings: Settings) -> dict:
    """What kept rows together, and how many rows a plain stratified split would have parted."""
    how = grouping_basis(settings)
    if how is None or GROUP not in marked.columns:
        return {"by": None}
    groups = marked[GROUP].to_numpy()
    _, inverse, size = np.unique(groups, return_inverse=True, return_counts=True)
    shared = size[inverse] > 1
    out = {
        "by": how,
        "groups": int(len(size)),
        "shared_groups": int(np.sum(size > 1)),
        "rows_in_shared_groups": int(shared.sum()),
        "largest_group": int(size.max()),
    }
    if settings.test_data_path is None and shared.any():
        plain = split_holdout(marked[[ROW_ID, LABEL]], settings.holdout_fraction, settings.seed)
        sides = pd.Series(plain[SPLIT].to_numpy()).groupby(inverse).nunique()
        parted = sides.to_numpy()[inverse] > 1
        out["rows_a_plain_split_would_part"] = int(parted.sum())
    return out


def describe_grouping(summary: dict) -> str | None:
    """One sentence for reports; None when every row stood alone."""
    if not summary.get("by"):
        return None
    if not summary["shared_groups"]:
        return f"No two rows share {summary['by']}, so the split is row by row."
    text = (
        f"Rows sharing {summary['by']} were kept on one side of the holdout and within one "
        f"fold: {summary['rows_in_shared_groups']:,} rows in {summary['shared_groups']:,} "
        f"shared groups (largest {summary['largest_group']:,})"
    )
    parted = summary.get("rows_a_plain_split_would_part")
    if parted is not None:
        text += f"; a plain stratified split would have parted {parted:,} of them"
    return text + "."


def fitting_rows(train: pd.DataFrame, max_negatives: int, seed: int) -> tuple[np.ndarray, dict]:
    """Mask of the training rows fits may use, and what was kept.

    Above `max_negatives` negatives, every positive and a seeded uniform sample of negatives are
    kept. Folds and the final refit take their fit rows from this one sample, so the fold models'
    out-of-fold scores, and the threshold tuned on them, share the final model's class balance.
    Validation and holdout rows are scored whether sampled or not.
    """
    y = train[LABEL].to_numpy()
    negatives = np.flatnonzero(y == 0)
    info = {
        "negatives": int(len(negatives)),
        "negatives_kept": int(len(negatives)),
        "fraction_kept": 1.0,
        "max_negatives": int(max_negatives),
        "seed": int(seed),
        "sampled": False,
    }
    if not max_negatives or len(negatives) <= max_negatives:
        return np.ones(len(train), dtype=bool), info
    # Draw in row-id order, so the sample depends on the rows, not on how the frame is sorted.
    ordered = negatives[np.argsort(train[ROW_ID].to_numpy()[negatives], kind="stable")]
    chosen = np.random.default_rng(seed).choice(ordered, size=max_negatives, replace=False)
    mask = y == 1
    mask[chosen] = True
    info |= {
        "negatives_kept": int(max_negatives),
        "fraction_kept": max_negatives / len(negatives),
        "sampled": True,
    }
    return mask, info


def describe_fitting_rows(info: Mapping) -> str | None:
    """One line for reports and audits when negatives were sampled; None otherwise."""
    if not info.get("sampled"):
        return None
    return (
        f"fits used every positive and {info['negatives_kept']:,} of {info['negatives']:,} "
        f"negatives ({info['fraction_kept']:.1%}, seeded uniform sample, seed {info['seed']}) "
        f"because the training split has more than --max-negatives {info['max_negatives']:,}; "
        "validation and holdout rows were all scored"
    )
