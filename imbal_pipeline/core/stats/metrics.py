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

# The intervals live in `intervals` and `paired`; callers have long read them from here.
from imbal_pipeline.core.stats.intervals import INTERVAL_LEVEL as INTERVAL_LEVEL
from imbal_pipeline.core.stats.intervals import holdout_intervals
from imbal_pipeline.core.stats.paired import paired_bootstrap as paired_bootstrap

# How each figure is named wherever a person reads it, in the order a report lists them.
LABELS = {
    "pr_auc": "PR-AUC",
    "roc_auc": "ROC-AUC",
    "f1": "F1",
    "fbeta": "F-beta",
    "f2": "F2",
    "mcc": "MCC",
    "balanced_accuracy": "Balanced accuracy",
    "precision": "Precision",
    "recall": "Recall",
    "specificity": "Specificity",
    "flag_rate": "Flag rate",
    "saving_per_1000": "saving per 1,000 rows",
}


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
        "f2": float(fbeta_score(y, pred, beta=2.0, zero_division=0)),
        "mcc": float(matthews_corrcoef(y, pred)),
        "balanced_accuracy": _safe(balanced_accuracy_score, y, pred) if both else None,
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        # Share of negatives left unflagged, and of all rows flagged (what a deployment sees).
        "specificity": float(cm[0, 0] / cm[0].sum()) if cm[0].sum() else None,
        "flag_rate": float(pred.mean()) if len(pred) else None,
        "accuracy": float((pred == y).mean()),
        "confusion_matrix": cm.astype(int).tolist(),
    }


# The name callers know; only PR-AUC's interval is bootstrapped now (see `intervals`).
bootstrap_intervals = holdout_intervals

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
    y: np.ndarray, scores: np.ndarray, groups: np.ndarray, threshold: float, seed: int = 0
) -> dict[str, dict]:
    """Confusion matrix, precision, recall and F1 per subgroup value, with their intervals
    (`few_positives` when the group has fewer positives than the intervals hold at)."""
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
            # Empty when the group lacks a class: no interval can be drawn then.
            "ci": {
                k: v
                for k, v in holdout_intervals(
                    yt, np.asarray(scores)[mask], threshold, 1.0, seed=seed
                ).items()
                if k in ("precision", "recall", "f1")
            },
        }
    return out
