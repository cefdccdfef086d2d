"""Holdout and cross-validation metrics; accuracy is computed but never the headline."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    fbeta_score,
    matthews_corrcoef,
    precision_score,
    recall_score,
    roc_auc_score,
)


def _safe(fn, *args, **kwargs) -> float | None:
    try:
        value = float(fn(*args, **kwargs))
    except ValueError:
        return None
    return None if np.isnan(value) else value


def binary_metrics(y: np.ndarray, scores: np.ndarray, threshold: float, beta: float) -> dict:
    """All report metrics at one threshold (score >= threshold is positive)."""
    y = np.asarray(y).astype(int)
    pred = (np.asarray(scores) >= threshold).astype(int)
    cm = confusion_matrix(y, pred, labels=[0, 1])
    both = len(np.unique(y)) == 2
    return {
        "threshold": float(threshold),
        "pr_auc": _safe(average_precision_score, y, scores) if both else None,
        "roc_auc": _safe(roc_auc_score, y, scores) if both else None,
        "f1": float(f1_score(y, pred, zero_division=0)),
        "fbeta": float(fbeta_score(y, pred, beta=beta, zero_division=0)),
        "beta": float(beta),
        "mcc": float(matthews_corrcoef(y, pred)),
        "balanced_accuracy": _safe(balanced_accuracy_score, y, pred) if both else None,
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "accuracy": float((pred == y).mean()),
        "confusion_matrix": cm.astype(int).tolist(),
    }


# A numeric subgroup column with more distinct values than this is reported in quartile bins.
MAX_SUBGROUP_LEVELS = 20


def subgroup_labels(values) -> np.ndarray:
    """Group label per row: the value itself, or its quartile bin for a continuous column."""
    import pandas as pd

    series = pd.Series(values)
    numeric = pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
        series.dtype
    )
    if not numeric or series.nunique() <= MAX_SUBGROUP_LEVELS:
        return series.astype(object).where(series.notna(), "missing").astype(str).to_numpy()
    edges = np.unique(np.nanquantile(series.to_numpy(dtype=float), [0, 0.25, 0.5, 0.75, 1]))
    codes = np.clip(np.searchsorted(edges, series.to_numpy(dtype=float), side="right") - 1, 0, None)
    codes = np.minimum(codes, len(edges) - 2)
    names = [
        f"{edges[i]:.4g} to {edges[i + 1]:.4g}" + (" (incl.)" if i == len(edges) - 2 else "")
        for i in range(len(edges) - 1)
    ]
    labels = np.array([f"q{c + 1}: {names[c]}" for c in codes], dtype=object)
    labels[series.isna().to_numpy()] = "missing"
    return labels


def subgroup_metrics(
    y: np.ndarray, scores: np.ndarray, groups: np.ndarray, threshold: float
) -> dict[str, dict]:
    """Confusion matrix, precision, recall and F1 per subgroup value."""
    y = np.asarray(y).astype(int)
    pred = (np.asarray(scores) >= threshold).astype(int)
    groups = np.asarray(groups, dtype=object).astype(str)
    out = {}
    for value in np.unique(groups):
        mask = groups == value
        yt, yp = y[mask], pred[mask]
        out[str(value)] = {
            "n": int(mask.sum()),
            "positives": int(yt.sum()),
            "precision": float(precision_score(yt, yp, zero_division=0)),
            "recall": float(recall_score(yt, yp, zero_division=0)),
            "f1": float(f1_score(yt, yp, zero_division=0)),
            "confusion_matrix": confusion_matrix(yt, yp, labels=[0, 1]).astype(int).tolist(),
        }
    return out


def pr_auc_interval(
    y: np.ndarray, scores: np.ndarray, *, n_boot: int = 200, seed: int = 0, level: float = 0.95
) -> tuple[float, float] | tuple[None, None]:
    """Percentile bootstrap interval of PR-AUC, resampling positives and negatives separately.

    Stratified, so every resample keeps the batch's positive count and PR-AUC is defined.
    """
    y = np.asarray(y).astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    if pos.size == 0 or neg.size == 0:
        return None, None
    rng = np.random.default_rng(seed)
    values = np.empty(n_boot)
    for b in range(n_boot):
        idx = np.concatenate([rng.choice(pos, pos.size), rng.choice(neg, neg.size)])
        values[b] = average_precision_score(y[idx], scores[idx])
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)
