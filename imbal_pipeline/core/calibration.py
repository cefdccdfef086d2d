"""Calibrated probabilities from out-of-fold scores: isotonic or sigmoid, chosen by Brier score.

Class weights, resampling and the sample of negatives all shift LightGBM's scores away from
probabilities. The out-of-fold scores cover every training row at its real class balance, so a
map fitted on them undoes all three at once. Which map is chosen is itself decided out of fold:
each is fitted on all folds but one and scored (Brier) on the one left out. Decisions are not
affected: the threshold applies to the raw scores it was tuned on.
"""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

METHODS = ("isotonic", "sigmoid")
ECE_BINS = 10


def _fit(method: str, y: np.ndarray, scores: np.ndarray) -> dict:
    if method == "isotonic":
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, y)
        return {
            "method": method,
            "x": iso.X_thresholds_.tolist(),
            "y": iso.y_thresholds_.tolist(),
        }
    # Platt scaling on the log-odds of the score; C large: no shrinkage towards 0.5.
    logit = _logit(scores).reshape(-1, 1)
    lr = LogisticRegression(C=1e6, max_iter=1000).fit(logit, y)
    return {"method": method, "a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])}


def _logit(scores: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(scores, dtype=np.float64), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def apply(calibrator: dict | None, scores: np.ndarray) -> np.ndarray:
    """Calibrated probabilities for raw scores (the scores themselves without a calibrator)."""
    scores = np.asarray(scores, dtype=np.float64)
    if not calibrator:
        return scores
    if calibrator["method"] == "isotonic":
        return np.interp(scores, calibrator["x"], calibrator["y"])
    return 1.0 / (1.0 + np.exp(-(calibrator["a"] * _logit(scores) + calibrator["b"])))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((np.asarray(p, dtype=np.float64) - np.asarray(y)) ** 2))


def ece(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error over equal-width probability bins, weighted by their rows."""
    y, p = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.mean() * abs(p[mask].mean() - y[mask].mean())
    return float(total)


def reliability(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> list[dict]:
    """Per equal-width bin: rows, mean predicted and observed positive rate (for the plot)."""
    y, p = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    which = np.minimum((p * bins).astype(int), bins - 1)
    return [
        {
            "bin": b,
            "rows": int(m.sum()),
            "predicted": float(p[m].mean()),
            "observed": float(y[m].mean()),
        }
        for b in range(bins)
        if (m := which == b).any()
    ]


def fit_calibrator(y: np.ndarray, scores: np.ndarray, folds: np.ndarray) -> dict:
    """The method with the lower out-of-fold Brier score, refitted on every out-of-fold row."""
    y = np.asarray(y).astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    folds = np.asarray(folds)
    cross = {}
    for method in METHODS:
        predicted = np.empty_like(scores)
        for fold in np.unique(folds):
            held = folds == fold
            fitted = _fit(method, y[~held], scores[~held])
            predicted[held] = apply(fitted, scores[held])
        cross[method] = brier(y, predicted)
    chosen = min(METHODS, key=cross.get)
    return _fit(chosen, y, scores) | {
        "chosen_by": "out-of-fold Brier score",
        "oof_brier": cross,
        "oof_brier_raw": brier(y, scores),
        "fitted_on_rows": int(len(y)),
    }
