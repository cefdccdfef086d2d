"""Stage 4: the decision threshold, tuned on out-of-fold scores only."""

import dagster as dg

from imbal_pipeline.core import method
from imbal_pipeline.core.settings import ROW_ID
from imbal_pipeline.core.train import gates
from imbal_pipeline.core.values import Comparison
from imbal_pipeline.defs.assets.common import gated, md_table, stage_asset
from imbal_pipeline.defs.resources import PipelineConfig


@stage_asset(
    "decision_threshold",
    group_name="decision",
)
def decision_threshold(
    context: dg.AssetExecutionContext, pipeline: PipelineConfig, strategy_comparison: Comparison
):
    """The objective's threshold and a calibrator, from the selected strategy's OOF scores."""
    s = pipeline.settings()
    tuned = method.decide(strategy_comparison, s)
    training_rows = strategy_comparison.oof[ROW_ID].nunique()
    yield from gated(
        context,
        tuned,
        {
            "threshold": dg.MetadataValue.float(tuned.value),
            "objective": tuned.objective,
            "params": dg.MetadataValue.json(tuned.params),
            "rule": tuned.rule,
            "per_fold": dg.MetadataValue.json({str(k): v for k, v in tuned.fold_values.items()}),
            # None under the recall objective, which 0.5 does not aim at.
            "versus_0_5": dg.MetadataValue.json(tuned.versus_default or {}),
            "at_threshold": dg.MetadataValue.json(tuned.at_threshold),
            "calibration": tuned.calibrator["sentence"],
            "oof_brier": dg.MetadataValue.json(tuned.calibrator["oof_brier"]),
            "curve (every 20th point)": md_table(tuned.curve.iloc[::20]),
        },
        [gates.threshold_valid(tuned, training_rows)],
    )
