"""The monitoring checks of a scored batch and, once they arrive, of its labels."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from imbal_pipeline.core.calibration import apply, brier
from imbal_pipeline.core.gates import WARN, Gate, fail, ok
from imbal_pipeline.core.metrics import binary_metrics
from imbal_pipeline.core.monitoring import (
    CONFIDENCE,
    FeatureReference,
    Reference,
    bin_shares,
    feature_text,
    pr_auc_interval,
    wilson_interval,
)
from imbal_pipeline.core.preprocess import Preprocessor, category_name, known_categories

# PSI uses the reference's own quantile bins and an epsilon for empty bins; 0.1 and 0.25 are the
# customary "look at it" and "it has shifted" levels.
PSI_WARN, PSI_FAIL = 0.1, 0.25
PSI_EPSILON = 1e-4  # share given to an empty bin, so that PSI stays finite
FAR_ABOVE = 2.0  # a batch rate significantly above and at this multiple of the expected fails
MISSING_WARN, MISSING_FAIL = 0.05, 0.20  # rise of a feature's missing rate, absolute
UNSEEN_WARN, UNSEEN_FAIL = 0.01, 0.10  # share of a batch's rows with a category never seen

MONITORING_CHECKS = (
    "positive_rate",
    "score_psi",
    "feature_psi",
    "missing_and_unseen",
)
LABELLED_CHECKS = ("labelled_performance",)
DESCRIPTIONS = {
    "positive_rate": "The batch's predicted-positive rate against the rate the model produced on "
    "the holdout (Newcombe's interval of the difference, from two 99% Wilson intervals): "
    "significantly below means retrain.",
    "score_psi": "PSI of the batch's scores against the holdout's (0.1 warn, 0.25 fail).",
    "feature_psi": "PSI of every feature against the training split (0.1 warn, 0.25 fail).",
    "missing_and_unseen": "Rises in missing rates and categories never seen in training.",
    "labelled_performance": "Realized PR-AUC, precision, recall and Brier score once labels "
    "arrive, against the holdout's intervals.",
}
# Alerts that say the model no longer fits the world; a degraded feed is fixed at its source.
RETRAIN_ON = ("positive_rate", "score_psi", "feature_psi", "labelled_performance")


def psi(expected: np.ndarray, actual: np.ndarray, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index: sum over bins of (a - e) * ln(a / e), empty bins at epsilon."""
    e = np.clip(np.asarray(expected, dtype=np.float64), epsilon, None)
    a = np.clip(np.asarray(actual, dtype=np.float64), epsilon, None)
    return float(np.sum((a - e) * np.log(a / e)))


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def difference_interval(
    k1: int, n1: int, k2: int, n2: int, confidence: float = CONFIDENCE
) -> tuple[float, float]:
    """Interval of p1 - p2 from the two Wilson intervals (Newcombe 1998, method 10)."""
    p1, p2 = k1 / max(1, n1), k2 / max(1, n2)
    l1, u1 = wilson_interval(k1, n1, confidence)
    l2, u2 = wilson_interval(k2, n2, confidence)
    diff = p1 - p2
    return (
        diff - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
        diff + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2),
    )


def check_positive_rate(ref: Reference, flagged: int, n: int) -> Gate:
    """The batch's predicted-positive rate against the rate the model produced on the holdout.

    Both are samples, so the test is on their difference (Newcombe's interval from the two
    Wilson intervals). Fails when the batch lies significantly below (the positives the model
    used to find are gone, or it no longer finds them: retrain), or significantly above at
    FAR_ABOVE times the expected rate or more (not the population it was trained for); warns
    when it is significantly above by less.
    """
    expected_flagged = round(ref.expected_rate * ref.holdout_rows)
    low, high = wilson_interval(flagged, n, ref.confidence)
    diff_low, diff_high = difference_interval(
        flagged, n, expected_flagged, ref.holdout_rows, ref.confidence
    )
    rate = flagged / max(1, n)
    exp_low, exp_high = ref.expected_interval
    observed = {
        "rate": rate,
        "interval": [low, high],
        "flagged": flagged,
        "rows": n,
        "expected": ref.expected_rate,
        "expected_interval": [exp_low, exp_high],
        "difference_interval": [diff_low, diff_high],
        "confidence": ref.confidence,
    }
    said = (
        f"{flagged} of {n} flagged ({_pct(rate)}, {ref.confidence:.0%} interval "
        f"{_pct(low)}-{_pct(high)}); expected {_pct(ref.expected_rate)} "
        f"({_pct(exp_low)}-{_pct(exp_high)}, from {ref.holdout_rows} holdout rows); "
        f"difference {_pct(diff_low)} to {_pct(diff_high)}"
    )
    if diff_high < 0:
        return fail(
            "positive_rate",
            f"predicted-positive rate significantly below expected: {said}; the class "
            "distribution or the features have shifted: retrain on recent labelled data",
            **observed,
        )
    if diff_low > 0 and rate >= FAR_ABOVE * ref.expected_rate:
        return fail(
            "positive_rate",
            f"predicted-positive rate far above expected: {said}; check the batch's source, "
            "then retrain if it is genuine",
            **observed,
        )
    if diff_low > 0:
        return fail(
            "positive_rate",
            f"predicted-positive rate above expected: {said}",
            severity=WARN,
            **observed,
        )
    return ok("positive_rate", f"predicted-positive rate as expected: {said}", **observed)


def _psi_gate(name: str, what: str, values: dict[str, float]) -> Gate:
    worst = max(values, key=values.get) if values else None
    top = values.get(worst, 0.0) if worst else 0.0
    observed = {
        "psi": {k: round(v, 4) for k, v in values.items()},
        "worst": worst,
        "largest_psi": round(top, 4),
    }
    if top >= PSI_FAIL:
        return fail(
            name,
            f"{what} shifted: PSI {top:.3f} on {worst} (>= {PSI_FAIL}); compare the batch with "
            "the training data and retrain if the shift is real",
            **observed,
        )
    if top >= PSI_WARN:
        return fail(name, f"{what} moving: PSI {top:.3f} on {worst}", severity=WARN, **observed)
    said = f"{what} stable: largest PSI {top:.3f}" + (f" ({worst})" if worst else "")
    return ok(name, said, **observed)


def feature_psi(ref: FeatureReference, column: pd.Series) -> float:
    """PSI of one raw column against its reference (non-missing values)."""
    if ref.kind == "numeric":
        values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
        return psi(np.asarray(ref.shares), bin_shares(values, ref.edges))
    text = feature_text(column).dropna()
    named = [category_name(c) for c in ref.categories[:-1]]
    counts = text.value_counts()
    actual = [float(counts.get(c, 0)) for c in named]
    # Categories outside the named ones fall in OTHER here; unseen ones are counted separately.
    actual.append(float(len(text) - sum(actual)))
    return psi(np.asarray(ref.shares), np.asarray(actual) / max(1, len(text)))


def check_score_psi(ref: Reference, scores: np.ndarray) -> Gate:
    """The batch's score distribution against the holdout's."""
    shares = bin_shares(np.asarray(scores, dtype=np.float64), ref.score_edges)
    return _psi_gate("score_psi", "score distribution", {"score": psi(ref.score_shares, shares)})


def check_feature_psi(ref: Reference, frame: pd.DataFrame) -> Gate:
    """Every feature's distribution against the training split's."""
    values = {f.name: feature_psi(f, frame[f.name]) for f in ref.features}
    return _psi_gate("feature_psi", "feature distribution", values)


def unseen_share(ref: FeatureReference, categories: list[str], column: pd.Series) -> float:
    """Share of rows whose category was never seen in training."""
    text = feature_text(column)
    present = text.notna()
    return float((present & ~text.isin(known_categories(categories))).mean()) if len(text) else 0.0


def check_missing_and_unseen(ref: Reference, frame: pd.DataFrame, pre: Preprocessor) -> Gate:
    """Rises in missing rates, and categories the model never saw (scored as missing)."""
    rises, unseen = {}, {}
    n = len(frame)
    for f in ref.features:
        missing = int(frame[f.name].isna().sum())
        low, _ = wilson_interval(missing, n)
        # Significant (the interval clears the reference) and large enough to matter.
        if low > f.missing_rate and missing / max(1, n) - f.missing_rate >= MISSING_WARN:
            rises[f.name] = round(missing / max(1, n) - f.missing_rate, 4)
        if f.kind == "categorical":
            share = unseen_share(f, pre.categories[f.name], frame[f.name])
            if share > 0:
                unseen[f.name] = round(share, 4)
    observed = {"missing_rate_rise": rises, "unseen_category_share": unseen}
    worst_missing = max(rises.values(), default=0.0)
    worst_unseen = max(unseen.values(), default=0.0)
    parts = [f"{k} missing +{_pct(v)}" for k, v in rises.items()]
    parts += [f"{k} {_pct(v)} unseen categories" for k, v in unseen.items()]
    said = "; ".join(parts)
    if worst_missing >= MISSING_FAIL or worst_unseen >= UNSEEN_FAIL:
        return fail(
            "missing_and_unseen",
            f"inputs degraded: {said}; fix the feed (unseen categories and missing values are "
            "scored as missing)",
            **observed,
        )
    if worst_missing >= MISSING_WARN or worst_unseen >= UNSEEN_WARN:
        return fail("missing_and_unseen", f"inputs changing: {said}", severity=WARN, **observed)
    if unseen:
        return ok("missing_and_unseen", f"few unseen categories: {said}", **observed)
    return ok("missing_and_unseen", "missing rates as in training; no unseen categories")


def check_batch(ref: Reference, pre: Preprocessor, frame: pd.DataFrame, scores) -> list[Gate]:
    """All monitoring checks of one scored batch (no labels needed)."""
    scores = np.asarray(scores, dtype=np.float64)
    flagged = int(np.sum(scores >= ref.threshold))
    return [
        check_positive_rate(ref, flagged, len(scores)),
        check_score_psi(ref, scores),
        check_feature_psi(ref, frame),
        check_missing_and_unseen(ref, frame, pre),
    ]


def check_labelled(
    ref: Reference,
    y: np.ndarray,
    scores: np.ndarray,
    beta: float,
    calibrator: dict | None = None,
) -> Gate:
    """Realized PR-AUC, precision, recall and Brier score once a batch's labels arrive; the
    Brier score is of what `predict_proba` returns (the raw `scores` through `calibrator`).

    Fails when the batch's PR-AUC or recall lies below the holdout's interval by more than the
    batch's own sampling noise (a Wilson interval for recall; a bootstrap for PR-AUC).
    """
    y = np.asarray(y).astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    realized = binary_metrics(y, scores, ref.threshold, beta)
    realized["brier"] = brier(y, apply(calibrator, scores))
    positives = int(y.sum())
    tp = int(np.sum((scores >= ref.threshold) & (y == 1)))
    recall_ci = wilson_interval(tp, positives)
    pr_ci = pr_auc_interval(y, scores, ref.threshold, beta)
    held = ref.holdout_metrics
    observed = {
        "realized": realized,
        "recall_interval": list(recall_ci),
        "pr_auc_interval": list(pr_ci),
        "holdout": held,
        "positives": positives,
        "rows": int(len(y)),
    }
    if positives == 0:
        return fail(
            "labelled_performance",
            "the labelled batch has no positives: recall and PR-AUC cannot be measured",
            severity=WARN,
            **observed,
        )
    worse = []
    held_recall = held.get("recall_interval")
    if held_recall and recall_ci[1] < held_recall[0]:
        worse.append(f"recall {realized['recall']:.3f} (holdout {held['recall']:.3f})")
    held_pr = held.get("pr_auc_interval")
    if held_pr and pr_ci[1] is not None and pr_ci[1] < held_pr[0]:
        worse.append(f"PR-AUC {realized['pr_auc']:.3f} (holdout {held['pr_auc']:.3f})")
    said = (
        f"PR-AUC {realized['pr_auc']:.3f}, precision {realized['precision']:.3f}, recall "
        f"{realized['recall']:.3f}, Brier {realized['brier']:.4f} on {len(y)} labelled rows"
    )
    if worse:
        return fail(
            "labelled_performance",
            f"worse than on the holdout beyond noise: {', '.join(worse)}; retrain",
            **observed,
        )
    return ok("labelled_performance", f"as on the holdout: {said}", **observed)


def matches_export(version: str, exported: str | None, output_dir: str) -> Gate:
    """The deployed model is the one the evaluation exported, by content version."""
    if version == exported:
        return ok("matches_export", f"version {version} is the model exported to {output_dir}")
    return fail(
        "matches_export",
        f"version {version} differs from the exported model's {exported}; rerun the "
        "evaluation so the exported model and the deployed one are the same",
    )
