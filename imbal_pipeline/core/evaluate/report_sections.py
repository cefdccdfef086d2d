"""The report's sections, one builder each, from the holdout's scores and the run's values
(`evaluation.build_report` puts them together)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from imbal_pipeline.core.data import data, split
from imbal_pipeline.core.monitor import monitoring
from imbal_pipeline.core.monitor.deployed import PROBABILITY_NOTE
from imbal_pipeline.core.report_model import (
    Dataset,
    Difference,
    HoldoutIntervals,
    Interval,
    Metrics,
    ThresholdChoice,
    VsBaseline,
)
from imbal_pipeline.core.settings import FOLD, LABEL, ROW_ID, SCORE, STRATEGY, Settings
from imbal_pipeline.core.stats import metrics
from imbal_pipeline.core.stats.intervals import FEW_POSITIVES
from imbal_pipeline.core.stats.intervals import METHODS as INTERVAL_METHODS
from imbal_pipeline.core.train import calibration, strategies
from imbal_pipeline.core.train import model as model_core
from imbal_pipeline.core.train import threshold as threshold_core
from imbal_pipeline.core.train.preprocess import Preprocessor
from imbal_pipeline.core.values import Bag, Comparison, Profile


@dataclass(frozen=True)
class Scored:
    """The holdout's labels and every score the report reads."""

    y: np.ndarray
    members: np.ndarray  # each bag member's scores, for the monitoring reference
    scores: np.ndarray  # the selected model's (the members' mean)
    baseline: np.ndarray  # the baseline's (`none`)
    calibrated: np.ndarray  # what predict_proba returns


def score_holdout(holdout: pd.DataFrame, final: Bag, baseline: Bag, threads: int) -> Scored:
    """Score the holdout with the final model and the baseline on `threads` threads."""
    members = model_core.member_scores(final.model, final.preprocessor, holdout, threads)
    scores = members.mean(axis=0)
    # When `none` is selected both are the same fold models (most runs): score them once.
    same = final.strategy == baseline.strategy and final.fit_info == baseline.fit_info
    base = (
        scores
        if same
        else model_core.score_rows(baseline.model, baseline.preprocessor, holdout, threads)
    )
    calibrated = calibration.apply(final.calibrator, scores)
    return Scored(holdout[LABEL].to_numpy(), members, scores, base, calibrated)


# The plots beside report.json, by name; the learning curve's joins them when it was measured.
PLOTS = {
    "pr_curve": "pr_curve.png",
    "threshold_curve": "threshold_curve.png",
    "confusion_matrix": "confusion_matrix.png",
    "reliability": "reliability.png",
    "diagnostics_pca": "diagnostics_pca.png",
}


def dataset_section(
    train: pd.DataFrame, y: np.ndarray, final: Bag, profile: Profile, settings: Settings
) -> Dataset:
    """What was trained on: the target, its classes, the imbalance tier and the holdout."""
    return Dataset(
        target=profile.target,
        positive_label=profile.positive_label,
        negative_labels=data.negative_labels_of(train, settings),
        rows=profile.rows,
        features=len(final.preprocessor["numeric"]) + len(final.preprocessor["categorical"]),
        positives=profile.positives,
        negatives=profile.negatives,
        ratio=profile.ratio,
        tier=profile.tier,
        recommendation=profile.recommendation,
        holdout_rows=int(len(y)),
        holdout_positives=int(y.sum()),
        source=settings.data_path or "generated fraud-like data",
    )


def intervals_section(intervals: dict) -> HoldoutIntervals:
    """Where each holdout figure may lie, by the method whose coverage held best (seeded);
    below `few_positives_below` holdout positives most over-cover: each figure says so."""
    return HoldoutIntervals(
        level=metrics.INTERVAL_LEVEL,
        few_positives_below=FEW_POSITIVES,
        methods=INTERVAL_METHODS,
        figures={name: Interval.from_json(found) for name, found in intervals.items()},
    )


def baseline_tuned_section(comparison: Comparison, s: Scored, settings: Settings) -> Metrics:
    """The baseline at its own threshold, tuned the same way on its out-of-fold scores, so the
    comparison separates "handling imbalance" from "tuning the threshold"."""
    oof = comparison.oof
    base_oof = oof[oof[STRATEGY] == "none"]
    tuned = threshold_core.tune_per_fold(
        base_oof[LABEL], base_oof[SCORE], base_oof[FOLD], base_oof[ROW_ID], settings
    )
    found = metrics.binary_metrics(s.y, s.baseline, tuned["value"], settings.beta)
    return Metrics.from_json(found | {"fallback": tuned["fallback"]})


def versus_section(s: Scored, threshold: float, selected: str, settings: Settings) -> VsBaseline:
    """The selected model at its threshold minus `none` at 0.5, on the same resampled rows,
    so the difference's interval is the paired one."""
    priced = threshold_core.objective_of(settings).priced
    versus = metrics.paired_bootstrap(
        s.y,
        s.scores,
        s.baseline,
        threshold,
        0.5,
        settings.beta,
        costs=(settings.fp_cost, settings.fn_cost) if priced else None,
        seed=settings.seed,
    )
    return VsBaseline(
        baseline="none @ 0.5",
        same_model=selected == "none",
        level=metrics.INTERVAL_LEVEL,
        figures={name: Difference.from_json(found) for name, found in versus.items()},
    )


def subgroups_section(
    holdout: pd.DataFrame, s: Scored, threshold: float, settings: Settings
) -> dict[str, dict]:
    """The figures per value of each subgroup column the holdout holds."""
    return {
        column: metrics.subgroup_metrics(
            s.y, s.scores, metrics.subgroup_labels(holdout[column]), threshold, seed=settings.seed
        )
        for column in settings.subgroup_columns
        if column in holdout.columns
    }


def notes_section(
    final: Bag,
    comparison: Comparison,
    profile: Profile,
    holdout: Metrics,
    threshold: ThresholdChoice,
) -> list[str]:
    """What a reader must know to read the figures: what the probabilities are, what the
    baseline is, strategies that made nothing, departures from the tier's start, the CV
    estimate beside the holdout's, and sampled negatives."""
    selected = comparison.selected
    notes = [PROBABILITY_NOTE]
    if selected != "none":
        notes.append(
            f"The baseline column is the no-handling model (`none`) at 0.5, the naive default; "
            f"the selected `{selected}` is evaluated at "
            f"{threshold.named(tuned='its tuned threshold')}."
        )
    notes += strategies.made_nothing_notes(comparison.audits)
    departure = split.tier_departure(profile, selected, comparison.reason)
    if departure:
        notes.append(departure)
    best_cv = comparison.table[selected]["pr_auc_mean"]
    if holdout.pr_auc is not None and best_cv is not None:
        notes.append(f"CV estimate of PR-AUC {best_cv:.3f} vs holdout {holdout.pr_auc:.3f}.")
    sample = final.audit.get("fitting_rows") or {}
    sampled = split.describe_fitting_rows(sample)
    if sampled:
        notes.append(
            f"Negatives were sampled: {sampled}. That multiplies scores' odds by about "
            f"{1 / sample['fraction_kept']:.2f} on top of any strategy's shift; multiply the odds "
            f"by {sample['fraction_kept']:.4f} to undo it before comparing rates."
        )
    return notes


def reference_section(
    train: pd.DataFrame,
    s: Scored,
    final: Bag,
    comparison: Comparison,
    threshold: float,
    beta: float,
) -> dict:
    """What the deployed model is expected to see and produce, from the training rows' features
    and the selected strategy's out-of-fold scores, and the holdout's; scored batches are checked
    against it (see `monitoring`)."""
    oof = comparison.oof
    chosen = oof[oof[STRATEGY] == comparison.selected]
    reference = monitoring.build_reference(
        train,
        Preprocessor.from_json(final.preprocessor),
        s.y,
        s.members,
        chosen[SCORE].to_numpy(),
        threshold,
        beta,
        final.calibrator,
    )
    return reference.to_json()
