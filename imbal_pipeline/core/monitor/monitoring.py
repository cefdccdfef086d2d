"""Watching a deployed model: the reference statistics taken at training time.

The reference is taken once, when the model is trained, and travels with it (model.json):

- the predicted-positive (flag) rate and the score distribution the deployed bag is expected to
  produce, from the out-of-fold scores of its members on every training row, corrected by the
  holdout's paired difference between the bag and its members (an out-of-fold score comes from
  one member, the bag averages K: averaging shrinks the spread, so the two distributions
  differ); the holdout's own flag rate confirms it;
- the expected positives per row (the members' calibrated probabilities, averaged), which the
  prevalence rule across batches watches;
- per feature of the training split: quantile bins (numeric) or category shares, the missing
  rate, and the chance of a category never seen (Good-Turing).

Each batch is compared with it by the checks in `monitor_checks`, with the tests of
`monitor_stats`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from imbal_pipeline.core.stats import monitor_stats as ms
from imbal_pipeline.core.stats.metrics import binary_metrics, bootstrap_intervals
from imbal_pipeline.core.train import calibration
from imbal_pipeline.core.train.calibration import brier
from imbal_pipeline.core.train.preprocess import Preprocessor, category_text, known_categories

CONFIDENCE = 0.99  # of the intervals shown beside the rates
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
    rows: int = 0  # training rows with a value: the size of the reference's sample
    unseen_rate: float = 0.0  # categorical: chance a new row's category was never seen


@dataclass
class Reference:
    """What the model is expected to see and produce; taken at training time."""

    threshold: float
    expected_rate: float  # the deployed bag's flag rate on a new row (paired estimate)
    expected_interval: tuple[float, float]
    flag: ms.Expectation  # the same, with what the tests need
    positives: ms.Expectation  # the members' calibrated probability, averaged, per row
    training_rows: int  # rows of the training split (out-of-fold scores and features)
    holdout_rows: int
    holdout_rate: float  # the bag's flag rate on the holdout, which confirms the expected one
    holdout_interval: tuple[float, float]
    holdout_agreement: dict  # the members' holdout rate minus their out-of-fold rate
    oof_rate: float  # out-of-fold flag rate (one member per row)
    score_edges: list[float]  # quantiles of the out-of-fold scores
    score_shares: list[float]  # the bag's expected share in each (paired estimate)
    score_rows: float  # the score shares' effective sample size
    features: list[FeatureReference]
    holdout_metrics: dict = field(default_factory=dict)  # with their intervals, for labels
    confidence: float = CONFIDENCE

    def to_json(self) -> dict:
        """Plain JSON (travels in model.json)."""
        out = asdict(self)
        out["expected_interval"] = list(self.expected_interval)
        out["holdout_interval"] = list(self.holdout_interval)
        return out

    @classmethod
    def from_json(cls, state: dict) -> Reference:
        """Rebuild from `to_json` output."""
        if "flag" not in state:
            raise ValueError(
                "the model's monitoring reference predates the out-of-fold reference (made by "
                "an older release); retrain the model to monitor batches with it"
            )
        state = dict(state)
        for key in ("expected_interval", "holdout_interval"):
            state[key] = tuple(state[key])
        for key in ("flag", "positives"):
            state[key] = ms.Expectation(**state[key])
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
                rows=int(np.sum(np.isfinite(values))),
            )
        )
    for name in pre.categorical:
        text = feature_text(frame[name]).dropna()
        counts = text.value_counts()
        named = [str(c) for c in counts.index[:MAX_CATEGORIES]]
        shares = (counts.iloc[:MAX_CATEGORIES] / max(1, len(text))).tolist()
        rest = float(counts.iloc[MAX_CATEGORIES:].sum() / max(1, len(text)))
        # Good-Turing: a new row brings a category never seen about as often as the training
        # rows held one seen once; rows the model's categories lack (a sample of negatives
        # left them out) are as new to it.
        known = known_categories(pre.categories.get(name, []))
        novel = int((counts == 1).sum()) + int(counts[~counts.index.isin(known)].sum())
        out.append(
            FeatureReference(
                name,
                "categorical",
                float(frame[name].isna().mean()) if len(frame) else 0.0,
                categories=[*named, OTHER],
                shares=[*map(float, shares), rest],
                rows=int(len(text)),
                unseen_rate=ms.unseen_rate(novel, len(text)),
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


def score_columns(scores: np.ndarray, threshold: float, edges: list[float]) -> np.ndarray:
    """Per row: flagged (0/1), then 0/1 for each score bin."""
    scores = np.asarray(scores, dtype=np.float64)
    bins = np.searchsorted(np.asarray(edges), scores, side="left")
    onehot = bins[:, None] == np.arange(len(edges) + 1)
    return np.column_stack([scores >= threshold, onehot]).astype(np.float64)


def _interval(e: ms.Expectation, confidence: float = CONFIDENCE) -> tuple[float, float]:
    half = float(stats.norm.ppf(0.5 + confidence / 2)) * math.sqrt(max(e.variance, 0.0))
    return max(0.0, e.value - half), min(1.0, e.value + half)


def holdout_agreement(member_flags: np.ndarray, oof_flags: np.ndarray) -> dict:
    """The members' flag rate on the holdout against theirs out of fold: the same scorers on
    disjoint rows, so an interval of the difference that excludes 0 says the holdout and the
    training rows differ (then the expected rate describes the training rows)."""
    m, o = ms.Moments.of(member_flags), ms.Moments.of(oof_flags)
    z = float(stats.norm.ppf(0.5 + CONFIDENCE / 2))
    diff = float(m.mean[0] - o.mean[0])
    half = z * math.sqrt(m.variance[0] / max(1, m.rows) + o.variance[0] / max(1, o.rows))
    return {
        "difference": diff,
        "interval": [diff - half, diff + half],
        "consistent": bool(diff - half <= 0 <= diff + half),
    }


def build_reference(
    train: pd.DataFrame,
    pre: Preprocessor,
    holdout_y: np.ndarray,
    holdout_members: np.ndarray,
    oof_scores: np.ndarray,
    threshold: float,
    beta: float,
    calibrator: dict | None = None,
) -> Reference:
    """The reference of a bag with threshold `threshold`: `holdout_members` holds each member's
    holdout scores (members x rows; the bag averages them), `oof_scores` the members' scores of
    every training row in the fold that left it out."""
    members = np.atleast_2d(np.asarray(holdout_members, dtype=np.float64))
    bag = members.mean(axis=0)
    oof = np.asarray(oof_scores, dtype=np.float64)
    edges = quantile_edges(oof)
    member_columns = np.mean([score_columns(m, threshold, edges) for m in members], axis=0)
    found = ms.paired_estimate(
        ms.Moments.of(score_columns(oof, threshold, edges)),
        score_columns(bag, threshold, edges),
        member_columns,
    )
    flag, bins = found[0], found[1:]
    shares = np.clip([b.value for b in bins], 0.0, None)
    positives = ms.members_estimate(
        calibration.apply(calibrator, oof),
        np.mean([calibration.apply(calibrator, m) for m in members], axis=0),
    )
    flagged, n = int(np.sum(bag >= threshold)), int(bag.size)
    return Reference(
        threshold=float(threshold),
        expected_rate=flag.value,
        expected_interval=_interval(flag),
        flag=flag,
        positives=positives,
        training_rows=int(len(train)),
        holdout_rows=n,
        holdout_rate=flagged / max(1, n),
        holdout_interval=wilson_interval(flagged, n),
        holdout_agreement=holdout_agreement(member_columns[:, 0], (oof >= threshold) * 1.0),
        oof_rate=float(np.mean(oof >= threshold)) if oof.size else float("nan"),
        score_edges=edges,
        score_shares=(shares / max(shares.sum(), 1e-12)).tolist(),
        score_rows=min((b.effective_rows for b in bins if b.value > 0), default=float(oof.size)),
        features=feature_reference(train, pre),
        holdout_metrics=holdout_metrics(
            holdout_y, bag, threshold, beta, calibration.apply(calibrator, bag)
        ),
    )
