"""Stage 5: the evaluation report, on the holdout only."""

from pathlib import Path

import dagster as dg
import pandas as pd
from dagster import AssetExecutionContext

from imbal_pipeline.assets.common import CODE_VERSION, md_table, png
from imbal_pipeline.core import evaluation, split
from imbal_pipeline.resources import PipelineConfig

HEADLINE = ("pr_auc", "roc_auc", "f1", "fbeta", "mcc", "precision", "recall", "balanced_accuracy")


@dg.asset(group_name="evaluation", code_version=CODE_VERSION)
def evaluation_report(
    context: AssetExecutionContext,
    pipeline: PipelineConfig,
    holdout_split: pd.DataFrame,
    imbalance_profile: dict,
    strategy_comparison: dict,
    decision_threshold: dict,
    final_model: dict,
    baseline_model: dict,
) -> dg.Output[dict]:
    """Holdout metrics at the tuned threshold and 0.5, the baseline, subgroups and plots."""
    s = pipeline.settings()
    report, arrays = evaluation.build_report(
        split.holdout_part(holdout_split),
        final_model,
        baseline_model,
        strategy_comparison,
        decision_threshold,
        imbalance_profile,
        s,
    )
    report["run_id"] = context.run_id
    path = evaluation.write_report(report, arrays, decision_threshold["curve"], s.output_dir)
    exported = evaluation.export_model(final_model, s.output_dir)
    out = Path(path).parent
    table = (
        pd.DataFrame(
            {
                "selected @ tuned": report["holdout"],
                "selected @ 0.5": report["holdout_at_0_5"],
                "baseline @ 0.5": report["baseline_holdout"],
                "baseline @ its tuned": report["baseline_holdout_tuned"],
            }
        )
        .loc[list(HEADLINE)]
        .astype(float)
    )
    holdout = report["holdout"]
    return dg.Output(
        report,
        metadata={
            "report": dg.MetadataValue.path(str(path.resolve())),
            "model": dg.MetadataValue.path(str(exported["model"].resolve())),
            "selected_strategy": report["selected_strategy"],
            "threshold": dg.MetadataValue.float(report["threshold"]["value"]),
            "holdout_pr_auc": dg.MetadataValue.float(holdout["pr_auc"] or float("nan")),
            "holdout_f1": dg.MetadataValue.float(holdout["f1"]),
            "holdout_mcc": dg.MetadataValue.float(holdout["mcc"]),
            "holdout": md_table(table),
            "confusion_matrix": dg.MetadataValue.json(holdout["confusion_matrix"]),
            "pr_curve": png(out / "pr_curve.png"),
            "threshold_curve": png(out / "threshold_curve.png"),
            "confusion_matrix_plot": png(out / "confusion_matrix.png"),
        },
    )
