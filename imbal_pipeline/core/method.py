"""The method on one table without Dagster: each stage as the asset graph runs it, and all of
them in order (`fit_and_evaluate`) for scripts, notebooks and the benchmarks' plain side.

The graph adds what a pipeline needs around the same calls: gates and contracts between the
stages, versions and lineage, reuse of unchanged fits, and the assets that feed only the report
(learning curve, leak panel, data diagnostics).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from imbal_pipeline.core import inputs
from imbal_pipeline.core.data import data, split
from imbal_pipeline.core.evaluate import diagnostics, evaluation, leak, learning, release
from imbal_pipeline.core.report_model import Report
from imbal_pipeline.core.settings import (
    FOLD,
    LABEL,
    ROW_ID,
    SCORE,
    STRATEGY,
    Settings,
    threads_alone,
)
from imbal_pipeline.core.train import calibration, selection, threshold, training
from imbal_pipeline.core.values import Bag, Comparison, Decision


def decide(comparison: Comparison, settings: Settings) -> Decision:
    """The selected strategy's threshold, tuned on its out-of-fold scores, with the curve it was
    read from and a calibrator fitted on the same scores."""
    oof = comparison.oof
    chosen = oof[oof[STRATEGY] == comparison.selected]
    tuned = threshold.tune_per_fold(
        chosen[LABEL], chosen[SCORE], chosen[FOLD], chosen[ROW_ID], settings
    )
    return Decision(
        strategy=comparison.selected,
        curve=threshold.threshold_curve(chosen[LABEL], chosen[SCORE], settings),
        # Probabilities for the deployed model, from the same out-of-fold scores; the
        # threshold stays on the raw scores it was tuned on.
        calibrator=calibration.fit_calibrator(chosen[LABEL], chosen[SCORE], chosen[FOLD]),
        **tuned,
    )


@dataclass(frozen=True)
class Outcome:
    """What one pass of the method made, stage by stage."""

    marked: pd.DataFrame  # every row, marked train or holdout
    comparison: Comparison
    decision: Decision
    final: Bag  # the selected strategy's fold models, bagged, without the threshold
    baseline: Bag
    typed: Report  # the report; `report` is its report.json
    arrays: dict

    @property
    def report(self) -> dict:
        """report.json's content."""
        return self.typed.to_json()


def fit_and_evaluate(
    settings: Settings, phase: Callable[[str], None] = lambda name: None
) -> Outcome:
    """Read, split, fit every strategy per fold, compare, decide, bag and evaluate on the holdout.

    `phase` is called with each stage's name as it ends (data, fold_training_sets, fold_models,
    comparison_threshold, final_baseline), for timing.
    """
    raw, _ = inputs.load_raw(settings)
    marked, _, _ = inputs.split_raw(raw, settings)
    train = split.training_part(marked)
    profile = split.imbalance_profile(train, settings)
    folds = split.make_folds(train, settings.n_folds, settings.seed)
    schema = data.feature_schema(train, settings)
    phase("data")
    sets = [
        training.build_fold_training_sets(train, folds, fold, schema, settings)
        for fold in range(settings.n_folds)
    ]
    phase("fold_training_sets")
    fold_models = [training.fit_fold_models(fold_sets, settings) for fold_sets in sets]
    phase("fold_models")
    comparison = selection.compare_folds(fold_models, settings)
    decision = decide(comparison, settings)
    phase("comparison_threshold")
    final = training.fold_bag(fold_models, comparison.selected, train, schema, settings)
    baseline = training.fold_bag(fold_models, "none", train, schema, settings)
    phase("final_baseline")
    report, arrays = evaluation.build_report(
        train,
        split.holdout_part(marked),
        final,
        baseline,
        comparison,
        decision,
        profile,
        settings,
        threads=threads_alone(settings.lgbm_threads),  # as the report step: it runs alone
    )
    return Outcome(marked, comparison, decision, final, baseline, report, arrays)


def add_evidence(outcome: Outcome, settings: Settings) -> pd.DataFrame:
    """What the graph's report-only assets add to the report, by the same core calls:
    the data diagnostics, the learning curve (its fits), the leak panel (its counterfactual
    fits), then the quality gate's verdict and the one recommendation drawn from all of them.
    Returns the diagnostics' projection, which the report plots."""
    marked, comparison = outcome.marked, outcome.comparison
    train = split.training_part(marked)
    schema = data.feature_schema(train, settings)
    tier = outcome.typed.dataset.tier
    found, arrays = diagnostics.diagnose(
        train, schema, tier, settings.seed, threads=settings.lgbm_threads
    )
    folds = split.make_folds(train, settings.n_folds, settings.seed)
    selected = comparison.selected
    full = comparison.table[selected]["pr_auc_folds"]
    curve = learning.learning_curve(train, folds, schema, selected, full, settings)
    claim = leak.leaky_claim(marked, data.feature_schema(marked, settings), settings)
    release.add_evidence(outcome.typed, marked, claim, curve, found, settings)
    release.advise(outcome.typed, release.judge(outcome.typed, []))
    points, y = arrays["points"], arrays["y"]
    return pd.DataFrame({"pc1": points[:, 0], "pc2": points[:, 1], "label": y})
