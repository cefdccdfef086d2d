"""Stage 5: the evaluation report, on the holdout only."""

from pathlib import Path

import dagster as dg
import pandas as pd
from dagster import AssetExecutionContext

from imbal_pipeline.core import settings as settings_core
from imbal_pipeline.core.affects import HOLDOUT, MODELS, SAMPLES
from imbal_pipeline.core.data import data, split
from imbal_pipeline.core.evaluate import evaluation, leak, release
from imbal_pipeline.core.evaluate.quality import counterfactual_sane
from imbal_pipeline.core.monitor.deployed import Model
from imbal_pipeline.core.report_model import CheckRow, Promotion, Release, Report
from imbal_pipeline.core.settings import Settings, threads_alone
from imbal_pipeline.core.train.content import without_recipe
from imbal_pipeline.core.values import Bag, Comparison, Decision, Profile
from imbal_pipeline.defs.assets.common import (
    LABELLED_KEY,
    OFF_CRITICAL_PATH,
    gated,
    md_table,
    png,
    stage_asset,
)
from imbal_pipeline.defs.assets.reuse import fit_or_reuse
from imbal_pipeline.defs.lineage import check_evaluation, pinned_check, pinned_record
from imbal_pipeline.defs.resources import FitCache, PipelineConfig
from imbal_pipeline.store.challenge import challenge
from imbal_pipeline.store.champion import Champions
from imbal_pipeline.store.models import from_store_value
from imbal_pipeline.store.storage import RECIPE_KEY, AssetStore, content_hash, storage_dir

HEADLINE = ("pr_auc", "roc_auc", "f1", "fbeta", "mcc", "precision", "recall", "balanced_accuracy")
# The leak panel resamples and fits as the folds do, then holds out a share as the split does.
LEAK_FIELDS = settings_core.affecting(SAMPLES, MODELS, HOLDOUT)


def _upstream_checks(context: AssetExecutionContext, keys: list) -> list[CheckRow]:
    """The verdict of every upstream check in the graph that this run read, for the report."""
    out = []
    for key in sorted(keys, key=lambda k: (k.asset_key.to_user_string(), k.name)):
        evaluation_ = check_evaluation(pinned_check(context.instance, context.run.run_id, key))
        if evaluation_ is None:
            continue
        message = evaluation_.metadata.get("message")
        observed = evaluation_.metadata.get("observed")
        out.append(
            CheckRow(
                asset=key.asset_key.to_user_string(),
                check=key.name,
                passed=bool(evaluation_.passed),
                severity=evaluation_.severity.value.lower(),
                message=getattr(message, "value", message),
                observed=getattr(observed, "value", observed),
            )
        )
    return out


@stage_asset(
    "leak_panel",
    group_name="evaluation",
    op_tags=OFF_CRITICAL_PATH,
    kinds={"lightgbm"},
)
def leak_panel(
    context: AssetExecutionContext,
    pipeline: PipelineConfig,
    fit_cache: FitCache,
    holdout_split: pd.DataFrame,
):
    """Counterfactual: what SMOTE before the split would have claimed on the same data.

    Its fits see holdout rows on purpose and feed nothing but the report's leak panel.
    """
    s = pipeline.settings()
    claim, key, reused = fit_or_reuse(
        context,
        fit_cache,
        {"holdout_split": holdout_split},
        s,
        LEAK_FIELDS,
        lambda: leak.leaky_claim(holdout_split, data.feature_schema(holdout_split, s), s),
    )
    shown = {k: dg.MetadataValue.float(claim[k]) for k in ("pr_auc", "f1_at_0_5") if k in claim}
    yield from gated(
        context,
        claim,
        {
            **shown,
            "skipped": claim["skipped"] or "no",
            RECIPE_KEY: key,
            "reused_without_refit": reused,
        },
        [counterfactual_sane(claim)],
    )


def _challenge(s, model, rows, holdout_split: pd.DataFrame) -> dict:
    """Record the challenger's training rows in the store and compare it with the champion."""
    store = AssetStore(storage_dir(s))
    Champions(store).save_trained_rows(rows)
    return challenge(store, s, model, rows, split.holdout_part(holdout_split))


def _labelled_batches(context: AssetExecutionContext, s) -> list[dict] | None:
    """The labelled inbox batches this run's raw_data added to the training file (file, labels
    file, rows, positives), when the run trains on them: a retraining names what it added."""
    if not s.labelled_batches:
        return None
    record = pinned_record(context.instance, context.run.run_id, dg.AssetKey("raw_data"))
    mat = record.asset_materialization if record is not None else None
    added = mat.metadata.get(LABELLED_KEY) if mat is not None else None
    return list(getattr(added, "value", None) or [])


def make_evaluation_report(upstream_checks: list[dg.AssetCheckKey]) -> dg.AssetsDefinition:
    """The report asset; it summarizes the verdicts of `upstream_checks`."""

    @stage_asset("evaluation_report", group_name="evaluation")
    def evaluation_report(
        context: AssetExecutionContext,
        pipeline: PipelineConfig,
        holdout_split: pd.DataFrame,
        imbalance_profile: Profile,
        strategy_comparison: Comparison,
        decision_threshold: Decision,
        final_model: Bag,
        baseline_model: Bag,
        data_diagnostics: dict,
        leak_panel: dict,
        learning_curve: dict,
    ):
        """Holdout metrics at the tuned threshold and 0.5, the baseline, subgroups and plots.

        The quality gate runs here; a model that fails it gets its report but is not exported.
        """
        s = pipeline.settings()
        report, arrays = evaluation.build_report(
            split.training_part(holdout_split),
            split.holdout_part(holdout_split),
            final_model,
            baseline_model,
            strategy_comparison,
            decision_threshold,
            imbalance_profile,
            s,
            # Every other step of the run is upstream or downstream of this one: it runs alone,
            # so its scoring may use the threads the concurrent steps share.
            threads=threads_alone(s.lgbm_threads),
        )
        report.run_id = context.run.run_id
        report.dataset.labelled_batches = _labelled_batches(context, s)
        projection = release.add_evidence(
            report, holdout_split, without_recipe(leak_panel), learning_curve, data_diagnostics, s
        )
        quality = release.judge(report, _upstream_checks(context, upstream_checks))
        model = _release(report, holdout_split, final_model, decision_threshold, s)
        release.advise(report, quality)  # after the release: it says what promotion decided
        stored = report.to_json()  # the asset's value, and report.json
        path = evaluation.publish(
            stored,
            arrays,
            decision_threshold.curve,
            s.output_dir,
            model=model,
            projection=projection,
        )
        yield from gated(context, stored, _report_metadata(report, path, model), quality)

    return evaluation_report


def _release(
    report: Report, holdout_split: pd.DataFrame, final_model: Bag, decision: Decision, s: Settings
) -> Model | None:
    """The model released when the quality gate passed, recorded in `report` with the rows it
    trained on and its comparison with the champion; None when the gate failed."""
    rows = None
    if report.passed:  # the model's record of what it trained on
        rows = release.trained_rows(holdout_split, final_model)
        report.trained_rows = rows.record()
    deployable = release.released(report, final_model, decision, s)
    threads = threads_alone(s.lgbm_threads)
    model = from_store_value(deployable, content_hash(deployable), threads) if deployable else None
    # The challenger against the champion in service, on rows neither trained on.
    promotion = _challenge(s, model, rows, holdout_split) if model else None
    report.release = Release(
        model_version=model.version if model else None,
        promotion=Promotion.from_json(promotion) if promotion else None,
    )
    return model


def headline_table(report: Report) -> pd.DataFrame:
    """The headline figures of the selected model and the baseline, each at its threshold and
    at 0.5; a fallback threshold is never called tuned, here as in the report."""
    chosen = "fallback" if report.threshold.fallback else "tuned"
    its = "fallback" if report.baseline_holdout_tuned.fallback else "tuned"
    return (
        pd.DataFrame(
            {
                f"selected @ {chosen}": report.holdout.to_json(),
                "selected @ 0.5": report.holdout_at_0_5.to_json(),
                "baseline @ 0.5": report.baseline_holdout.to_json(),
                f"baseline @ its {its}": report.baseline_holdout_tuned.to_json(),
            }
        )
        .loc[list(HEADLINE)]
        .astype(float)
    )


def _report_metadata(report: Report, path: Path, model) -> dict:
    """What the report's materialization shows: the page to open, the model, the headline
    figures beside the baseline's, and the plots."""
    out = path.parent
    model_meta = (
        {
            "model": dg.MetadataValue.path(str(out / "model.txt")),
            "model_version": model.version,
            "expected_positive_rate": dg.MetadataValue.float(model.reference.expected_rate),
        }
        if model
        else {}
    )
    table = headline_table(report)
    holdout = report.holdout
    promotion = report.release.promotion if report.release else None
    advice = report.evidence.diagnostics["advice"] if report.evidence else []
    return {
        # The page a person opens first; its plots are the PNGs below, in one place.
        "report": dg.MetadataValue.path(str(path.with_name("report.html").resolve())),
        "report_json": dg.MetadataValue.path(str(path.resolve())),
        **model_meta,
        "promotion": promotion.line if promotion else "no challenger: gate failed",
        "selected_strategy": report.selected_strategy,
        "threshold": dg.MetadataValue.float(report.threshold.value),
        "holdout_pr_auc": dg.MetadataValue.float(holdout.pr_auc or float("nan")),
        "holdout_f1": dg.MetadataValue.float(holdout.f1),
        "holdout_mcc": dg.MetadataValue.float(holdout.mcc),
        "holdout": md_table(table),
        "confusion_matrix": dg.MetadataValue.json(holdout.confusion_matrix),
        "pr_curve": png(out / "pr_curve.png"),
        "threshold_curve": png(out / "threshold_curve.png"),
        "confusion_matrix_plot": png(out / "confusion_matrix.png"),
        "diagnostics_advice": dg.MetadataValue.md("\n".join(f"- {a}" for a in advice)),
    }
