"""Stage 3: per-fold models with out-of-fold scores, the strategy comparison, and the deployed
model and baseline made of the fold models."""

import dagster as dg
import pandas as pd
from dagster import AssetExecutionContext

from imbal_pipeline.core import settings as settings_core
from imbal_pipeline.core.affects import MODELS, SAMPLES
from imbal_pipeline.core.data import contracts, data, split
from imbal_pipeline.core.settings import LADDER, ROW_ID, Settings
from imbal_pipeline.core.train import gates, selection, strategies, training
from imbal_pipeline.core.values import Comparison, FoldModels, FoldSets
from imbal_pipeline.defs.assets.common import gated, md_table, stage_asset
from imbal_pipeline.defs.assets.folds import fold_group, fold_training_key
from imbal_pipeline.defs.assets.reuse import fit_or_reuse
from imbal_pipeline.defs.resources import FitCache, PipelineConfig
from imbal_pipeline.store.storage import RECIPE_KEY

COMPARISON_COLUMNS = ["pr_auc_mean", "pr_auc_std", "f1_mean", "mcc_mean", "folds", "skipped"]
# The settings that change what a fit produces, as each declares; anything else (objective,
# output paths, thresholds) can change without a refit.
MODEL_FIELDS = settings_core.affecting(SAMPLES, MODELS)


def _oof_checks(oof: pd.DataFrame, suite: str, row_ids, what: str) -> list:
    return [
        gates.from_contract("contract", contracts.validate(oof, contracts.builtin_suite(suite))),
        gates.oof_coverage(oof, row_ids, what),
    ]


# Each fold's models are fitted in two steps, so that the steps pack both cores (see
# `strategies.SYNTHETIC`): the rungs fitted on real rows only, and the SMOTE family.
PARTS = {
    "models": tuple(s for s in LADDER if s not in strategies.SYNTHETIC),
    "smote_models": strategies.SYNTHETIC,
}


def fold_models_key(fold: int, part: str = "models") -> dg.AssetKey:
    """Asset key of one part of one fold's models."""
    return dg.AssetKey(f"fold_{fold}_{part}")


def make_fold_models(fold: int, part: str = "models") -> dg.AssetsDefinition:
    """LightGBM per strategy of one part for one fold, plus scores on its validation rows."""
    rungs = PARTS[part]

    @stage_asset(
        "fold_models",
        key=fold_models_key(fold, part),
        group_name=fold_group(fold),
        ins={"training_sets": dg.AssetIn(key=fold_training_key(fold))},
        kinds={"lightgbm"},
        description=(
            f"Fold {fold}: one LightGBM per strategy of {', '.join(rungs)} (those in the run) "
            "and its out-of-fold scores."
        ),
    )
    def _asset(
        context: AssetExecutionContext,
        pipeline: PipelineConfig,
        fit_cache: FitCache,
        training_sets: FoldSets,
    ):
        s = pipeline.settings()
        fitted, key, reused = fit_or_reuse(
            context,
            fit_cache,
            {"training_sets": training_sets},
            s,
            MODEL_FIELDS,
            lambda: training.fit_fold_models(training_sets, s, rungs),
        )
        info = pd.DataFrame.from_dict(fitted.fit_info, orient="index").reindex(
            columns=["rows", "positives", "synthetic_rows"]
        )
        checks = _oof_checks(
            fitted.oof, "fold_models", training_sets.validation[ROW_ID], "validation"
        )
        unscored = training.unscored_reason(fitted)
        if unscored is not None:  # the contract holds for no scores; say why there are none
            checks[1] = gates.ok("oof_coverage", unscored)
        yield from gated(
            context,
            fitted,
            {
                "fold": fold,
                "fits": dg.MetadataValue.md(info.to_markdown()),
                "skipped": dg.MetadataValue.json(fitted.skipped),
                "oof_rows": dg.MetadataValue.int(fitted.oof[ROW_ID].nunique()),
                RECIPE_KEY: key,
                "reused_without_refit": reused,
            },
            checks,
        )

    return _asset


def _fold_ins(n_folds: int, parts=tuple(PARTS)) -> dict[str, dg.AssetIn]:
    return {
        "holdout_split": dg.AssetIn(),
        **{
            f"fold_{k}_{part}": dg.AssetIn(key=fold_models_key(k, part))
            for k in range(n_folds)
            for part in parts
        },
    }


def make_strategy_comparison(n_folds: int) -> dg.AssetsDefinition:
    """Compares strategies over all fold assets and selects one."""

    @stage_asset(
        "strategy_comparison",
        group_name="decision",
        ins=_fold_ins(n_folds),
    )
    def strategy_comparison(
        context: AssetExecutionContext,
        pipeline: PipelineConfig,
        holdout_split: pd.DataFrame,
        **fold_models: FoldModels,
    ):
        """Per-strategy PR-AUC, F1, MCC over folds; the most complex strategy that beats every
        simpler one by more than a paired SE."""
        s = pipeline.settings()
        comparison = selection.compare_folds(fold_models.values(), s)
        table = pd.DataFrame(comparison.table).T[COMPARISON_COLUMNS]
        train_ids = split.training_part(holdout_split)[ROW_ID]
        yield from gated(
            context,
            comparison,
            {
                "selected": comparison.selected,
                "reason": comparison.reason,
                "comparison": md_table(table),
            },
            _oof_checks(comparison.oof, "strategy_comparison", train_ids, "training"),
        )

    return strategy_comparison


def _bagged(
    context: AssetExecutionContext,
    s: Settings,
    holdout_split: pd.DataFrame,
    fold_models: dict[str, FoldModels],
    strategy: str,
):
    """A strategy's fold models, bagged and checked: the final model and the baseline alike."""
    train = split.training_part(holdout_split)
    parts = training.parts_with(list(fold_models.values()), strategy)
    fitted = training.fold_bag(parts, strategy, train, data.feature_schema(train, s), s)
    metadata = {
        "strategy": fitted.strategy,
        "members": dg.MetadataValue.int(len(fitted.fit_info["members"])),
        "trees": dg.MetadataValue.int(fitted.fit_info["num_trees"]),
        "audit": dg.MetadataValue.json(fitted.audit),
    }
    yield from gated(context, fitted, metadata, [gates.model_sane(fitted, train, s)])


def make_final_model(n_folds: int) -> dg.AssetsDefinition:
    """The deployed model: the selected strategy's fold models, bagged."""

    @stage_asset(
        "final_model",
        group_name="training",
        kinds={"lightgbm"},
        ins={**_fold_ins(n_folds), "strategy_comparison": dg.AssetIn()},
    )
    def final_model(
        context: AssetExecutionContext,
        pipeline: PipelineConfig,
        holdout_split: pd.DataFrame,
        strategy_comparison: Comparison,
        **fold_models: FoldModels,
    ):
        """The selected strategy's fold models, bagged; nothing is refitted.

        The threshold tuned on their scores is attached at export (`Bag.with_decision`), so a
        threshold-only change leaves this asset as it was.
        """
        s = pipeline.settings()
        yield from _bagged(context, s, holdout_split, fold_models, strategy_comparison.selected)

    return final_model


def make_baseline_model(n_folds: int) -> dg.AssetsDefinition:
    """The no-handling baseline, deployed the same way as the final model."""

    @stage_asset(
        "baseline_model",
        group_name="training",
        kinds={"lightgbm"},
        # `none` is fitted in the first part: the baseline need not wait for the SMOTE family.
        ins=_fold_ins(n_folds, ("models",)),
    )
    def baseline_model(
        context: AssetExecutionContext,
        pipeline: PipelineConfig,
        holdout_split: pd.DataFrame,
        **fold_models: FoldModels,
    ):
        """The no-handling baseline (`none`): its fold models, bagged like the final model's."""
        yield from _bagged(context, pipeline.settings(), holdout_split, fold_models, "none")

    return baseline_model
