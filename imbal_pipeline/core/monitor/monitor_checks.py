"""The monitoring checks of a scored batch and, once they arrive, of its labels.

Each drift check is a test whose false-alarm rate is known at the batch's and the reference's
size (`monitor_stats`, measured by `benchmarks/statistics_monitoring.py`): it fails only when
the shift is significant, after Holm's correction for the features checked, and large enough
to matter; a batch too small to judge says so, passes, and is never a reason to retrain.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from imbal_pipeline.core import checks
from imbal_pipeline.core.gate import WARN, Gate, fail, ok
from imbal_pipeline.core.monitor.monitoring import (
    CONFIDENCE,
    FeatureReference,
    Reference,
    bin_shares,
    feature_text,
    pr_auc_interval,
    wilson_interval,
)
from imbal_pipeline.core.stats import monitor_stats as ms
from imbal_pipeline.core.stats.metrics import binary_metrics
from imbal_pipeline.core.train.calibration import apply, brier
from imbal_pipeline.core.train.preprocess import Preprocessor, category_name, known_categories

FAR_ABOVE = 2.0  # a batch rate significantly above and at this multiple of the expected fails
MISSING_WARN, MISSING_FAIL = 0.05, 0.20  # rise of a feature's missing rate, absolute
UNSEEN_WARN, UNSEEN_FAIL = 0.01, 0.10  # share of a batch's rows with a category never seen

MONITORING_CHECKS = checks.names("scored_batch")
LABELLED_CHECKS = checks.names("batch_outcomes")
# Alerts that say the model no longer fits the world.
RETRAIN_ON = tuple(check.name for check in checks.CHECKS.values() if check.retrains)
PSI_WARN = ms.PSI_FLOOR  # the PSI plot's line


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index: sum over bins of (a - e) * ln(a / e), empty bins at 1e-4."""
    return float(ms.psi(expected, actual))


def pct(x: float) -> str:
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


def too_small(name: str, what: str, n: int, needed: int, **observed) -> Gate:
    """A batch whose test could not tell: it passes, says so, and never asks for retraining."""
    seen = {"rows": n, **observed, "needed": needed, "judged": False}
    return ok(name, f"{what}: too small to judge ({n:,} rows; at least {needed:,} needed)", **seen)


@checks.gate("positive_rate")
def check_positive_rate(ref: Reference, flagged: int, n: int) -> Gate:
    """The batch's flag rate against the deployed model's expected one.

    Fails when the batch lies significantly below (the positives the model used to find are
    gone, or it no longer finds them: retrain), or significantly above at FAR_ABOVE times the
    expected rate or more (not the population it was trained for); warns when it is
    significantly above by less. Significant: Fisher's exact test against the reference's
    effective sample, and a move of RATE_FLOOR or more.
    """
    expected = ref.flag
    needed = ms.smallest_rate_batch(expected.value, expected.effective_rows)
    rate = flagged / max(1, n)
    low, high = wilson_interval(flagged, n, ref.confidence)
    exp_low, exp_high = ref.expected_interval
    said = (
        f"{flagged} of {n} flagged ({pct(rate)}, {ref.confidence:.0%} interval "
        f"{pct(low)}-{pct(high)}); expected {pct(expected.value)} ({pct(exp_low)}-"
        f"{pct(exp_high)}, from {ref.training_rows:,} training rows' out-of-fold scores)"
    )
    observed: dict[str, Any] = {
        "rate": rate,
        "interval": [low, high],
        "flagged": flagged,
        "rows": n,
        "expected": expected.value,
        "expected_interval": [exp_low, exp_high],
        "confidence": ref.confidence,
    }
    if n < needed:
        return too_small("positive_rate", f"flag rate {pct(rate)}", n, needed, **observed)
    _, significant, p = ms.rate_verdicts(flagged, n, expected)
    ratio = rate / expected.value if expected.value > 0 else math.inf
    observed |= {"p_value": float(p), "ratio": ratio, "judged": True}
    observed["evidence"] = f"{flagged} of {n} flagged vs {pct(expected.value)} (p {p:.2g})"
    said += f"; Fisher p {p:.2g}"
    if bool(significant) and bool(ms.moved(ratio)):
        if ratio < 1:
            return fail(
                "positive_rate",
                f"predicted-positive rate significantly below expected: {said}; the class "
                "distribution or the features have shifted: retrain on recent labelled data",
                **observed,
            )
        if ratio >= FAR_ABOVE:
            return fail(
                "positive_rate",
                f"predicted-positive rate far above expected: {said}; check the batch's "
                "source, then retrain if it is genuine",
                **observed,
            )
        return fail(
            "positive_rate",
            f"predicted-positive rate above expected: {said}",
            severity=WARN,
            **observed,
        )
    return ok("positive_rate", f"predicted-positive rate as expected: {said}", **observed)


def _shift_gate(name: str, what: str, p: float, shift: float, **observed) -> Gate:
    observed |= {"p_value": p, "psi": shift, "judged": True}
    observed["evidence"] = f"PSI {shift:.3f} (p {p:.2g})"
    said = f"PSI {shift:.3f}, chi-square p {p:.2g}"
    if p <= ms.ALPHA and shift >= ms.PSI_FLOOR:
        return fail(
            name,
            f"{what} shifted: {said}; compare the batch with the training data and retrain "
            "if the shift is real",
            **observed,
        )
    if p <= ms.ALPHA:
        return fail(
            name, f"{what} moving, slightly: {said} (below {ms.PSI_FLOOR})", WARN, **observed
        )
    return ok(name, f"{what} stable: {said}", **observed)


@checks.gate("score_psi")
def check_score_psi(ref: Reference, scores: np.ndarray) -> Gate:
    """The batch's score distribution against the deployed model's expected one."""
    scores = np.asarray(scores, dtype=np.float64)
    counts = bin_shares(scores, ref.score_edges) * scores.size
    p, shift, groups = ms.binned_test(ref.score_shares, ref.score_rows, counts, scores.size, True)
    if groups < 2:
        needed = ms.smallest_batch(np.asarray(ref.score_shares))
        return too_small("score_psi", "score distribution", int(scores.size), needed)
    return _shift_gate("score_psi", "score distribution", float(p), float(shift), bins=groups)


def feature_counts(ref: FeatureReference, column: pd.Series) -> np.ndarray:
    """Rows of one raw column in each of its reference's bins (missing values left out)."""
    if ref.kind == "numeric":
        values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
        finite = values[np.isfinite(values)]
        return np.bincount(
            np.searchsorted(np.asarray(ref.edges), finite, side="left"),
            minlength=len(ref.edges) + 1,
        ).astype(np.float64)
    text = feature_text(column).dropna()
    named = [category_name(c) for c in ref.categories[:-1]]
    counts = text.value_counts()
    actual = [float(counts.get(c, 0)) for c in named]
    # Categories outside the named ones fall in OTHER here; unseen ones are counted separately.
    actual.append(float(len(text) - sum(actual)))
    return np.asarray(actual)


def feature_psi(ref: FeatureReference, column: pd.Series) -> float:
    """PSI of one raw column against its reference (non-missing values, unmerged bins)."""
    counts = feature_counts(ref, column)
    return psi(np.asarray(ref.shares), counts / max(1.0, counts.sum()))


@checks.gate("feature_psi")
def check_feature_psi(ref: Reference, frame: pd.DataFrame) -> Gate:
    """Every feature's distribution against the training split's, Holm-corrected."""
    n = len(frame)
    names = [f.name for f in ref.features]
    p, shift, needed = np.full(len(names), np.nan), np.full(len(names), np.nan), {}
    for i, f in enumerate(ref.features):
        expected_rows = n * (1 - f.missing_rate)
        ordered = f.kind == "numeric"
        counts = feature_counts(f, frame[f.name])
        p[i], shift[i], groups = ms.binned_test(
            f.shares, max(f.rows, 1), counts, expected_rows, ordered
        )
        if groups < 2:
            smallest = ms.smallest_batch(np.asarray(f.shares), ordered)
            needed[f.name] = math.ceil(smallest / max(1e-9, 1 - f.missing_rate))
    judged = [name for name in names if name not in needed]
    if not judged:
        return too_small("feature_psi", "feature distributions", n, min(needed.values(), default=1))
    significant, alarmed = ms.drift_verdicts(p, shift)
    values = {k: round(float(v), 4) for k, v in zip(names, shift, strict=True) if k in judged}
    observed: dict[str, Any] = {
        "psi": values,
        "p_value": {k: float(v) for k, v in zip(names, p, strict=True) if k in judged},
        "judged": len(judged),
        "too_small": needed,
        # A pass ends an alarm only when every feature was judged: the one that shifted may be
        # among those too small to judge at this size.
        "ends_alarm": not needed,
    }
    pool = alarmed if alarmed.any() else significant if significant.any() else ~np.isnan(p)
    worst = max((i for i in range(len(names)) if pool[i]), key=lambda i: shift[i])
    observed |= {"worst": names[worst], "largest_psi": values.get(names[worst], 0.0)}
    said = (
        f"PSI {shift[worst]:.3f} on {names[worst]} (chi-square p {p[worst]:.2g}, Holm's "
        f"correction over {len(judged)} features)"
    )
    said += f"; {len(judged)} of {len(names)} features judged"
    if needed:
        said += f" ({len(needed)} too small to judge at {n:,} rows)"
    if alarmed.any():
        shifted = [names[i] for i in np.flatnonzero(alarmed)]
        observed["shifted"] = shifted
        observed["evidence"] = f"{', '.join(shifted[:3])} shifted; {said.split(';')[0]}"
        return fail(
            "feature_psi",
            f"feature distribution shifted: {said}; compare the batch with the training data "
            "and retrain if the shift is real",
            **observed,
        )
    if significant.any():
        return fail(
            "feature_psi",
            f"feature distribution moving, slightly: {said} (below {ms.PSI_FLOOR})",
            severity=WARN,
            **observed,
        )
    return ok("feature_psi", f"feature distribution stable: largest {said}", **observed)


def unseen_share(ref: FeatureReference, categories: list[str], column: pd.Series) -> float:
    """Share of rows whose category was never seen in training."""
    text = feature_text(column)
    present = text.notna()
    return float((present & ~text.isin(known_categories(categories))).mean()) if len(text) else 0.0


@checks.gate("missing_and_unseen")
def check_missing_and_unseen(ref: Reference, frame: pd.DataFrame, pre: Preprocessor) -> Gate:
    """Rises in missing rates, and categories the model never saw (scored as missing).

    A feature's rise counts when it is significant (Fisher's exact test against the training
    split, Holm's correction over every test here) and at least MISSING_WARN; unseen
    categories when more rows bring one than Good-Turing expects and at least UNSEEN_WARN.
    """
    n = len(frame)
    tests, unseen = [], {}
    for f in ref.features:
        missing = int(frame[f.name].isna().sum())
        ref_missing = f.missing_rate * ref.training_rows
        p = float(ms.rate_test(missing, n, ref_missing, ref.training_rows))
        tests.append(("missing", f.name, p, missing / max(1, n) - f.missing_rate))
        if f.kind == "categorical":
            share = unseen_share(f, pre.categories[f.name], frame[f.name])
            if share > 0:
                unseen[f.name] = round(share, 4)
                count = round(share * n)
                tests.append(
                    ("unseen", f.name, float(ms.unseen_test(count, n, f.unseen_rate)), share)
                )
    significant = ms.holm(np.array([t[2] for t in tests])) if tests else np.array([], dtype=bool)
    rises = {
        name: round(size, 4)
        for (kind, name, _, size), sig in zip(tests, significant, strict=True)
        if kind == "missing" and sig and size >= MISSING_WARN
    }
    new = {
        name: size
        for (kind, name, _, size), sig in zip(tests, significant, strict=True)
        if kind == "unseen" and sig and size >= UNSEEN_WARN
    }
    observed: dict[str, Any] = {"missing_rate_rise": rises, "unseen_category_share": unseen}
    parts = [f"{k} missing +{pct(v)}" for k, v in rises.items()]
    parts += [f"{k} {pct(v)} unseen categories" for k, v in new.items()]
    said = "; ".join(parts)
    if (
        max(rises.values(), default=0) >= MISSING_FAIL
        or max(new.values(), default=0) >= UNSEEN_FAIL
    ):
        return fail(
            "missing_and_unseen",
            f"inputs degraded: {said}; fix the feed (unseen categories and missing values are "
            "scored as missing)",
            **observed,
        )
    if rises or new:
        return fail("missing_and_unseen", f"inputs changing: {said}", severity=WARN, **observed)
    if unseen:
        seen = "; ".join(f"{k} {pct(v)}" for k, v in unseen.items())
        return ok("missing_and_unseen", f"few unseen categories, as expected: {seen}", **observed)
    return ok("missing_and_unseen", "missing rates as in training; no unseen categories")


@checks.gate("labelled_performance")
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
    observed: dict[str, Any] = {
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
    # Only a batch that could have failed ends an alarm: with 0 of its positives caught, the
    # recall interval's top must fall below the holdout's floor (2 positives cannot show it).
    observed["ends_alarm"] = (
        held_recall is not None and wilson_interval(0, positives)[1] < held_recall[0]
    )
    if held_recall and recall_ci[1] < held_recall[0]:
        worse.append(f"recall {realized['recall']:.3f} (holdout {held['recall']:.3f})")
    held_pr = held.get("pr_auc_interval")
    if held_pr and pr_ci[1] is not None and pr_ci[1] < held_pr[0]:
        worse.append(f"PR-AUC {realized['pr_auc']:.3f} (holdout {held['pr_auc']:.3f})")
    if worse:
        return fail(
            "labelled_performance",
            f"worse than on the holdout beyond noise: {', '.join(worse)}; retrain",
            **observed,
        )
    # A pass says only that no drop exceeds the batch's noise: the figures may differ a lot.
    said = ", ".join(
        f"{label} {_beside(realized[key], held.get(key), digits)}"
        for label, key, digits in _FIGURES
    )
    return ok(
        "labelled_performance",
        f"not worse than on the holdout beyond this batch's noise ({positives} positives): "
        f"{said} on {len(y)} labelled rows",
        **observed,
    )


# The figures a labelled batch reports: name, metric key and decimals.
_FIGURES = (
    ("PR-AUC", "pr_auc", 3),
    ("precision", "precision", 3),
    ("recall", "recall", 3),
    ("Brier", "brier", 4),
)


def _beside(batch: float, holdout: float | None, digits: int) -> str:
    """A batch's figure with the holdout's beside it, when the reference holds one."""
    if holdout is None:
        return f"{batch:.{digits}f}"
    return f"{batch:.{digits}f} (holdout {holdout:.{digits}f})"


@checks.gate("matches_export")
def matches_export(version: str, exported: str | None, output_dir: str) -> Gate:
    """The deployed model is the one the evaluation exported, by content version."""
    if version == exported:
        return ok("matches_export", f"version {version} is the model exported to {output_dir}")
    return fail(
        "matches_export",
        f"version {version} differs from the exported model's {exported}; rerun the "
        "evaluation so the exported model and the deployed one are the same",
    )
