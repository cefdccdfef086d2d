"""Stage 4: the decision threshold, tuned on out-of-fold scores only."""

import dagster as dg

from imbal_pipeline.assets.common import (
    CODE_VERSION,
    SOURCE_DEPS,
    described_checks,
    gated,
    md_table,
)
from imbal_pipeline.core import calibration, gates, threshold
from imbal_pipeline.core.settings import FOLD, LABEL, ROW_ID, STRATEGY
from imbal_pipeline.core.training import SCORE
from imbal_pipeline.resources import PipelineConfig


@dg.asset(
    deps=SOURCE_DEPS,
    group_name="decision",
    code_version=CODE_VERSION,
    check_specs=described_checks("decision_threshold", ("threshold_valid",)),
)
def decision_threshold(
    context: dg.AssetExecutionContext, pipeline: PipelineConfig, strategy_comparison: dict
):
    """The objective's threshold and a calibrator, from the selected strategy's OOF scores."""
    s = pipeline.settings()
    oof = strategy_comparison["oof"]
    chosen = oof[oof[STRATEGY] == strategy_comparison["selected"]]
    tuned = threshold.tune_per_fold(chosen[LABEL], chosen[SCORE], chosen[FOLD], chosen[ROW_ID], s)
    curve = threshold.threshold_curve(chosen[LABEL], chosen[SCORE], s)
    tuned["strategy"] = strategy_comparison["selected"]
    tuned["curve"] = curve
    # Probabilities for the deployed model, from the same out-of-fold scores; the threshold
    # stays on the raw scores it was tuned on.
    tuned["calibrator"] = calibration.fit_calibrator(chosen[LABEL], chosen[SCORE], chosen[FOLD])
    training_rows = strategy_comparison["oof"][ROW_ID].nunique()
    yield from gated(
        context,
        tuned,
        {
            "threshold": dg.MetadataValue.float(tuned["value"]),
            "objective": tuned["objective"],
            "params": dg.MetadataValue.json(tuned["params"]),
            "rule": tuned["rule"],
            "per_fold": dg.MetadataValue.json(tuned["fold_values"]),
            # None under the recall objective, which 0.5 does not aim at.
            "versus_0_5": dg.MetadataValue.json(tuned["versus_default"] or {}),
            "at_threshold": dg.MetadataValue.json(tuned["at_threshold"]),
            "calibration": tuned["calibrator"]["method"],
            "oof_brier": dg.MetadataValue.json(tuned["calibrator"]["oof_brier"]),
            "curve (every 20th point)": md_table(curve.iloc[::20]),
        },
        [gates.threshold_valid(tuned, training_rows)],
    )
