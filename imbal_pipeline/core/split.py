"""Holdout split, imbalance profile and cross-validation folds: all decided before any fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

from imbal_pipeline.core.data import DataError, positive_label_of
from imbal_pipeline.core.settings import FOLD, LABEL, ROW_ID, SPLIT, Settings

TRAIN, HOLDOUT = "train", "holdout"

# (upper bound of neg/pos, tier, where to start) — the tiers of the product brief.
_TIERS = (
    (5.0, "balanced", "no imbalance handling needed; tune the threshold if costs are asymmetric"),
    (20.0, "mild", "class weights (scale_pos_weight) with a tuned threshold"),
    (100.0, "moderate", "class weights first, then try SMOTE-family resampling inside folds"),
    (
        float("inf"),
        "severe",
        "class weights and a tuned threshold; resampling rarely helps at this "
        "ratio and must beat weights beyond noise",
    ),
)


def split_holdout(frame: pd.DataFrame, fraction: float, seed: int) -> pd.DataFrame:
    """Mark a stratified holdout; returns the frame with a split column."""
    positives = int(frame[LABEL].sum())
    if positives < 2:
        raise DataError(
            f"only {positives} positive row(s); a stratified holdout needs at least 2 "
            "(give more data or an explicit --test-data file)"
        )
    train_idx, _ = train_test_split(
        np.arange(len(frame)), test_size=fraction, stratify=frame[LABEL], random_state=seed
    )
    split = np.full(len(frame), HOLDOUT, dtype=object)
    split[train_idx] = TRAIN
    out = frame.copy()
    out[SPLIT] = pd.Series(split, index=frame.index, dtype="string")
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


def imbalance_profile(train: pd.DataFrame, settings: Settings) -> dict:
    """Which class is positive, per-class counts, ratio, tier and the recommended start.

    Measured on the training split.
    """
    positives = int(train[LABEL].sum())
    negatives = int(len(train) - positives)
    ratio = negatives / positives if positives else float("inf")
    tier, advice = next((t, a) for bound, t, a in _TIERS if ratio < bound)
    return {
        "target": settings.target,
        "positive_label": positive_label_of(train, settings),
        "rows": int(len(train)),
        "positives": positives,
        "negatives": negatives,
        "ratio": round(ratio, 3),
        "ratio_text": f"1:{ratio:.1f}",
        "prevalence": positives / len(train),
        "tier": tier,
        "recommendation": advice,
    }


def make_folds(train: pd.DataFrame, n_folds: int, seed: int) -> pd.DataFrame:
    """StratifiedKFold over the training split: one row per training row id."""
    positives = int(train[LABEL].sum())
    if positives < n_folds:
        raise DataError(
            f"only {positives} positives in the training split for {n_folds} folds; "
            f"lower --folds to at most {max(2, positives)} or give more data"
        )
    folds = np.empty(len(train), dtype=np.int16)
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for k, (_, val_idx) in enumerate(splitter.split(np.zeros(len(train)), train[LABEL])):
        folds[val_idx] = k
    return pd.DataFrame({ROW_ID: train[ROW_ID].to_numpy(), FOLD: folds})


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


def describe_fitting_rows(info: dict) -> str | None:
    """One line for reports and audits when negatives were sampled; None otherwise."""
    if not info.get("sampled"):
        return None
    return (
        f"fits used every positive and {info['negatives_kept']:,} of {info['negatives']:,} "
        f"negatives ({info['fraction_kept']:.1%}, seeded uniform sample, seed {info['seed']}) "
        f"because the training split has more than --max-negatives {info['max_negatives']:,}; "
        "validation and holdout rows were all scored"
    )
