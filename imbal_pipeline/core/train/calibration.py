"""Calibrated probabilities from out-of-fold scores, applied only where they earn their place.

Class weights, resampling and the sample of negatives all shift LightGBM's scores away from
probabilities. The out-of-fold scores cover every training row at its real class balance, so a
map fitted on them can undo all three at once. Both candidate maps (isotonic, sigmoid) are
cross-fitted: fitted on all folds but one and applied to the one left out, so every row is
scored by a map that did not see it. The better one is applied only when it beats the identity
(the raw scores) on those rows beyond noise: the upper end of the paired 95 % interval of the
Brier difference lies below 0. Otherwise the raw scores are kept, and the report says so.
Decisions are not affected: the threshold applies to the raw scores it was tuned on.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
from scipy import stats
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

METHODS = ("isotonic", "sigmoid")
ECE_BINS = 10
LEVEL = 0.95
# Draws of labels from the probabilities themselves, for the ECE a perfectly calibrated model
# would show on the same rows (capped at about 2e7 label draws in all).
NULL_DRAWS = 200


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
    """Calibrated probabilities for raw scores; the scores themselves when no map was applied
    (no calibrator, or one that did not beat the identity: `method` None)."""
    scores = np.asarray(scores, dtype=np.float64)
    if not calibrator or not calibrator.get("method"):
        return scores
    if calibrator["method"] == "isotonic":
        return np.interp(scores, calibrator["x"], calibrator["y"])
    return 1.0 / (1.0 + np.exp(-(calibrator["a"] * _logit(scores) + calibrator["b"])))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((np.asarray(p, dtype=np.float64) - np.asarray(y)) ** 2))


def mean_interval(values: np.ndarray, level: float = LEVEL) -> dict:
    """The mean of per-row `values` with its normal 95 % interval, rows drawn independently.
    Not stratified by class: a Brier score moves with the share of positives a holdout drew,
    and an interval that holds the class counts fixed leaves that out (it covered the
    population Brier about a fifth of the time, benchmarks/statistics_calibration.py)."""
    values = np.asarray(values, dtype=np.float64)
    se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0
    mean, half = float(values.mean()), float(stats.norm.ppf(0.5 + level / 2) * se)
    return {"value": mean, "ci_low": mean - half, "ci_high": mean + half, "level": level}


def brier_with_interval(y: np.ndarray, p: np.ndarray) -> dict:
    """The Brier score and its 95 % interval, normal on the log scale: a few positives carry
    most of the score, so its spread is skewed to the right, and the plain normal interval
    missed the population Brier on its upper side (covered 92 % at 10 positives, 95 % so)."""
    out = mean_interval((np.asarray(p, dtype=np.float64) - np.asarray(y)) ** 2)
    value, half = out["value"], out["ci_high"] - out["value"]
    if value > 0:
        spread = float(np.exp(half / value))
        out |= {"ci_low": value / spread, "ci_high": value * spread}
    return out


def brier_difference(y: np.ndarray, p: np.ndarray, q: np.ndarray) -> dict:
    """Brier of `p` minus Brier of `q` on the same rows, with its paired 95 % interval
    (negative: `p` is better)."""
    y = np.asarray(y, dtype=np.float64)
    loss = (np.asarray(p, dtype=np.float64) - y) ** 2 - (np.asarray(q, dtype=np.float64) - y) ** 2
    out = mean_interval(loss)
    return {"diff": out.pop("value"), **out}


def difference_text(d: Mapping) -> str:
    """A Brier difference and its interval, signed, with enough decimals to show the interval
    (four, more when it is narrower than 0.001: at 1 % positives it can be 0.0001 wide)."""
    width = abs(d["ci_high"] - d["ci_low"])
    places = max(4, 1 - int(np.floor(np.log10(width)))) if width > 0 else 4
    return f"{d['diff']:+.{places}f} [{d['ci_low']:+.{places}f}, {d['ci_high']:+.{places}f}]"


def frequency_bins(p: np.ndarray, bins: int = ECE_BINS) -> np.ndarray:
    """Each row's bin among `bins` equal-frequency bins of `p` (ranked, ties in row order): at
    2 % prevalence equal-width bins put nearly every row in the first one."""
    p = np.asarray(p, dtype=np.float64)
    which = np.empty(len(p), dtype=int)
    which[np.argsort(p, kind="stable")] = np.arange(len(p)) * bins // max(1, len(p))
    return which


def ece(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error over equal-frequency bins, weighted by their rows."""
    y, p = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    which = frequency_bins(p, bins)
    gap = np.bincount(which, weights=p - y, minlength=bins)
    return float(np.abs(gap).sum() / max(1, len(p)))


def ece_noise(p: np.ndarray, seed: int, bins: int = ECE_BINS, level: float = LEVEL) -> float:
    """The ECE a perfectly calibrated model would show on these rows at `level`: labels drawn
    from `p` itself, the ECE's `level` quantile over the draws. An ECE above it is
    miscalibration beyond what the labels' noise makes."""
    p = np.asarray(p, dtype=np.float64)
    which = frequency_bins(p, bins)
    draws = int(np.clip(2e7 // max(1, len(p)), 20, NULL_DRAWS))
    rng = np.random.default_rng(seed)
    null = np.empty(draws)
    for d in range(draws):
        gap = np.bincount(which, weights=p - (rng.random(len(p)) < p), minlength=bins)
        null[d] = np.abs(gap).sum() / max(1, len(p))
    return float(np.quantile(null, level))


def reliability(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> list[dict]:
    """Per equal-frequency bin: rows, mean predicted and observed positive rate (the plot)."""
    y, p = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    which = frequency_bins(p, bins)
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


def cross_fitted(method: str, y: np.ndarray, scores: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Every row's calibrated probability from a map fitted on the other folds' rows."""
    predicted = np.empty_like(scores)
    for fold in np.unique(folds):
        held = folds == fold
        predicted[held] = apply(_fit(method, y[~held], scores[~held]), scores[held])
    return predicted


def fit_calibrator(y: npt.ArrayLike, scores: npt.ArrayLike, folds: npt.ArrayLike) -> dict:
    """The better cross-fitted map, refitted on every out-of-fold row, when it beats the
    identity beyond noise; else a record with `method` None (the raw scores are kept)."""
    y = np.asarray(y).astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    folds = np.asarray(folds)
    # Eleven two-parameter fits gain nothing from BLAS threads; on a busy machine their
    # spinning made them ten times slower (0.5 s instead of 0.04 s at 333 rows).
    with threadpool_limits(limits=1):
        return _fit_calibrator(y, scores, folds)


def _fit_calibrator(y: np.ndarray, scores: np.ndarray, folds: np.ndarray) -> dict:
    cross = {method: cross_fitted(method, y, scores, folds) for method in METHODS}
    oof_brier = {method: brier(y, p) for method, p in cross.items()}
    candidate = min(METHODS, key=oof_brier.__getitem__)
    versus = brier_difference(y, cross[candidate], scores)
    applied = versus["ci_high"] < 0
    said = difference_text(versus)
    record = {
        "applied": applied,
        "candidate": candidate,
        "chosen_by": "out-of-fold Brier score, against the raw scores beyond noise",
        "oof_brier": oof_brier,
        "oof_brier_raw": brier(y, scores),
        "oof_brier_difference": versus,
        "fitted_on_rows": int(len(y)),
        "sentence": (
            f"calibration: {candidate} applied, it beat the raw scores on out-of-fold Brier: {said}"
            if applied
            else "calibration: not applied, it did not beat the raw scores on out-of-fold "
            f"Brier: {said}"
        ),
    }
    if not applied:
        return {"method": None, **record}
    return _fit(candidate, y, scores) | record


def holdout_summary(calibrator: dict | None, y, raw, calibrated, seed: int) -> dict:
    """Whether the map was applied and why, and on the holdout the Brier score (with its
    interval) and the ECE (equal-frequency bins, beside what noise alone makes) of the raw
    scores and, when applied, of the calibrated probabilities and their paired difference."""
    if not calibrator:
        return {}
    fitted = ("x", "y", "a", "b")  # the map itself travels with the model, not the report
    summary = {k: v for k, v in calibrator.items() if k not in fitted}
    summary.setdefault("applied", bool(calibrator.get("method")))  # models before the rule
    holdout = {
        "brier_raw": brier_with_interval(y, raw),
        "ece_raw": {"value": ece(y, raw), "noise": ece_noise(raw, seed)},
    }
    bins = {"raw": reliability(y, raw)}
    if summary["applied"]:
        holdout |= {
            "brier_calibrated": brier_with_interval(y, calibrated),
            "ece_calibrated": {
                "value": ece(y, calibrated),
                "noise": ece_noise(calibrated, seed),
            },
            "brier_difference": brier_difference(y, calibrated, raw),
        }
        bins["calibrated"] = reliability(y, calibrated)
    return summary | {"holdout": holdout, "ece_bins": ECE_BINS, "reliability": bins}
