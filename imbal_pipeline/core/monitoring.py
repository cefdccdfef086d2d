"""Watching a deployed model: the reference statistics taken at training time.

The reference is taken once, when the model is trained, and travels with it (model.json):

- the predicted-positive rate the model is expected to produce at its tuned threshold, with a
  Wilson interval, from the final model's scores on the holdout (and, for comparison, from the
  out-of-fold scores the threshold was tuned on);
- the score distribution on the holdout, as shares of reference-quantile bins;
- per feature of the training split: quantile bins (numeric) or category shares, and the
  missing rate.

Each batch is compared with it by the checks in `monitor_checks`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from imbal_pipeline.core.calibration import brier
from imbal_pipeline.core.metrics import binary_metrics, bootstrap_intervals
from imbal_pipeline.core.preprocess import Preprocessor, category_text

CONFIDENCE = 0.99  # of the predicted-positive-rate intervals: a false alarm about 1 batch in 100
MAX_CATEGORIES = 50  # categories kept by name in a reference; the rest share one bin
BINS = 10
OTHER = "(other)"
UNSEEN = "(unseen)"


def wilson_interval(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion k/n."""
    if n <= 0:
        return 0.0, 1.0
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p = k / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, center - half), min(1.0, center + half)


def quantile_edges(values: np.ndarray, bins: int = BINS) -> list[float]:
    """Interior bin edges at the quantiles of the finite values, duplicates merged."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return []
    edges = np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1])
    return [float(e) for e in np.unique(edges)]


def bin_shares(values: np.ndarray, edges: list[float]) -> np.ndarray:
    """Share of the finite values in each bin (len(edges) + 1 bins; a bin includes its top)."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    counts = np.bincount(
        np.searchsorted(np.asarray(edges), finite, side="left"), minlength=len(edges) + 1
    )
    return counts / max(1, finite.size)


@dataclass
class FeatureReference:
    """One raw feature's distribution on the training split."""

    name: str
    kind: str  # "numeric" or "categorical"
    missing_rate: float
    edges: list[float] = field(default_factory=list)  # numeric: interior quantile edges
    categories: list[str] = field(default_factory=list)  # categorical: named bins, then OTHER
    shares: list[float] = field(default_factory=list)


@dataclass
class Reference:
    """What the model is expected to see and produce; taken at training time."""

    threshold: float
    expected_rate: float  # holdout predicted-positive rate of the final model
    expected_interval: tuple[float, float]
    holdout_rows: int
    oof_rate: float  # out-of-fold predicted-positive rate of the selected strategy
    oof_rows: int
    score_edges: list[float]
    score_shares: list[float]
    features: list[FeatureReference]
    holdout_metrics: dict = field(default_factory=dict)  # with their intervals, for labels
    confidence: float = CONFIDENCE

    def to_json(self) -> dict:
        """Plain JSON (travels in model.json)."""
        out = asdict(self)
        out["expected_interval"] = list(self.expected_interval)
        return out

    @classmethod
    def from_json(cls, state: dict) -> Reference:
        """Rebuild from `to_json` output."""
        state = dict(state)
        state["expected_interval"] = tuple(state["expected_interval"])
        state["features"] = [FeatureReference(**f) for f in state["features"]]
        return cls(**state)

    def feature(self, name: str) -> FeatureReference:
        return next(f for f in self.features if f.name == name)


def feature_text(series: pd.Series) -> pd.Series:
    return category_text(series, missing=None)


def feature_reference(frame: pd.DataFrame, pre: Preprocessor) -> list[FeatureReference]:
    """Quantile bins or category shares, and missing rates, of every raw feature."""
    out = []
    for name in pre.numeric:
        values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64)
        edges = quantile_edges(values)
        out.append(
            FeatureReference(
                name,
                "numeric",
                float(np.mean(np.isnan(values))) if len(values) else 0.0,
                edges=edges,
                shares=bin_shares(values, edges).tolist(),
            )
        )
    for name in pre.categorical:
        text = feature_text(frame[name]).dropna()
        counts = text.value_counts()
        named = [str(c) for c in counts.index[:MAX_CATEGORIES]]
        shares = (counts.iloc[:MAX_CATEGORIES] / max(1, len(text))).tolist()
        rest = float(counts.iloc[MAX_CATEGORIES:].sum() / max(1, len(text)))
        out.append(
            FeatureReference(
                name,
                "categorical",
                float(frame[name].isna().mean()) if len(frame) else 0.0,
                categories=[*named, OTHER],
                shares=[*map(float, shares), rest],
            )
        )
    return out


def pr_auc_interval(y, scores, threshold: float, beta: float) -> list:
    """PR-AUC's 95 % interval from the report's stratified bootstrap; [None, None] without it."""
    ci = bootstrap_intervals(y, scores, threshold, beta).get("pr_auc")
    return [ci["ci_low"], ci["ci_high"]] if ci else [None, None]


def holdout_metrics(
    y: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    beta: float,
    probabilities: np.ndarray | None = None,
) -> dict:
    """The holdout's PR-AUC, precision, recall and Brier score, with intervals, for labels. The
    Brier score is of `probabilities` (what `predict_proba` returns), the raw scores without."""
    y = np.asarray(y).astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    m = binary_metrics(y, scores, threshold, beta)
    tp = int(np.sum((scores >= threshold) & (y == 1)))
    return {
        "pr_auc": m["pr_auc"],
        "pr_auc_interval": pr_auc_interval(y, scores, threshold, beta),
        "precision": m["precision"],
        "recall": m["recall"],
        "recall_interval": list(wilson_interval(tp, int(y.sum()))),
        "brier": brier(y, scores if probabilities is None else probabilities),
    }


def build_reference(
    train: pd.DataFrame,
    pre: Preprocessor,
    holdout_y: np.ndarray,
    holdout_scores: np.ndarray,
    oof_scores: np.ndarray,
    threshold: float,
    beta: float,
    holdout_probabilities: np.ndarray | None = None,
) -> Reference:
    """The reference of a model with threshold `threshold`, from its training data and scores
    (and the holdout's probabilities from `predict_proba`, for the Brier score)."""
    holdout_scores = np.asarray(holdout_scores, dtype=np.float64)
    flagged = int(np.sum(holdout_scores >= threshold))
    n = int(holdout_scores.size)
    oof = np.asarray(oof_scores, dtype=np.float64)
    edges = quantile_edges(holdout_scores)
    return Reference(
        threshold=float(threshold),
        expected_rate=flagged / max(1, n),
        expected_interval=wilson_interval(flagged, n),
        holdout_rows=n,
        oof_rate=float(np.mean(oof >= threshold)) if oof.size else float("nan"),
        oof_rows=int(oof.size),
        score_edges=edges,
        score_shares=bin_shares(holdout_scores, edges).tolist(),
        features=feature_reference(train, pre),
        holdout_metrics=holdout_metrics(
            holdout_y, holdout_scores, threshold, beta, holdout_probabilities
        ),
    )
