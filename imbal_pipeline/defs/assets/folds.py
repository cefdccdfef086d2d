"""Stage 2: cross-validation folds and, per fold, the preprocessed and resampled training sets."""

import dagster as dg
import pandas as pd
from dagster import AssetExecutionContext

from imbal_pipeline.core import settings as settings_core
from imbal_pipeline.core.affects import SAMPLES
from imbal_pipeline.core.data import contracts, data, split
from imbal_pipeline.core.settings import FOLD, LABEL, ROW_ID
from imbal_pipeline.core.train import gates, training
from imbal_pipeline.defs.assets.common import gated, md_table, stage_asset
from imbal_pipeline.defs.assets.reuse import fit_or_reuse
from imbal_pipeline.defs.resources import FitCache, PipelineConfig
from imbal_pipeline.store.storage import RECIPE_KEY


def fold_training_key(fold: int) -> dg.AssetKey:
    """Asset key of one fold's training sets."""
    return dg.AssetKey(f"fold_{fold}_training_sets")


def fold_group(fold: int) -> str:
    """The UI group of one fold's assets: its box in the lineage is named after the fold, where
    the nodes' long names are cut short (`fol…_training_sets`)."""
    return f"fold_{fold}"


# The settings that change a fold's preprocessing and resampling, as each declares.
SAMPLING_FIELDS = settings_core.affecting(SAMPLES)


def make_cv_folds(n_folds: int) -> dg.AssetsDefinition:
    """The fold assignment asset for a graph built with `n_folds` fold assets."""

    @stage_asset(
        "cv_folds",
        group_name="folds",
        kinds={"pandas"},
    )
    def cv_folds(
        context: AssetExecutionContext, pipeline: PipelineConfig, holdout_split: pd.DataFrame
    ):
        """StratifiedKFold over the training split only (seeded)."""
        s = pipeline.settings()
        train = split.training_part(holdout_split)
        folds = split.make_folds(train, s.n_folds, s.seed)
        table = folds.merge(train[[ROW_ID, LABEL]], on=ROW_ID).groupby(FOLD)
        summary = table.agg(validation_rows=(LABEL, "size"), validation_positives=(LABEL, "sum"))
        checks = [
            gates.from_contract(
                "contract",
                contracts.validate(
                    folds,
                    contracts.builtin_suite("cv_folds", max_fold=n_folds - 1, n_folds=n_folds),
                ),
            ),
            gates.folds_partition(folds, train, n_folds),
        ]
        yield from gated(context, folds, {"folds": md_table(summary), "seed": s.seed}, checks)

    return cv_folds


def make_fold_training_sets(fold: int) -> dg.AssetsDefinition:
    """One fold's training sets: one asset per fold, so each has its own lineage and rerun."""

    @stage_asset(
        "fold_training_sets",
        key=fold_training_key(fold),
        group_name=fold_group(fold),
        ins={"holdout_split": dg.AssetIn(), "cv_folds": dg.AssetIn()},
        description=(
            f"Fold {fold}: preprocessing fitted on the fold's training rows, each strategy's "
            "resampled training portion, and the untouched validation portion."
        ),
    )
    def _asset(
        context: AssetExecutionContext,
        pipeline: PipelineConfig,
        fit_cache: FitCache,
        holdout_split: pd.DataFrame,
        cv_folds: pd.DataFrame,
    ):
        s = pipeline.settings()
        train = split.training_part(holdout_split)
        schema = data.feature_schema(train, s)
        sets, key, reused = fit_or_reuse(
            context,
            fit_cache,
            {"holdout_split": holdout_split, "cv_folds": cv_folds},
            s,
            SAMPLING_FIELDS,
            lambda: training.build_fold_training_sets(train, cv_folds, fold, schema, s),
        )
        rows = pd.DataFrame(
            {
                name: {
                    "rows_before_0": a["rows_before"]["0"],
                    "rows_before_1": a["rows_before"]["1"],
                    "rows_after_0": a["rows_after"]["0"],
                    "rows_after_1": a["rows_after"]["1"],
                    "synthetic": a["synthetic_rows"],
                    "skipped": a["skipped"] or "",
                    "note": a["note"] or "",
                }
                for name, a in sets.audits.items()
            }
        ).T
        checks = [
            gates.from_contract(
                "contract",
                contracts.validate(
                    sets.validation[[ROW_ID, LABEL]],
                    contracts.builtin_suite("fold_training_sets"),
                ),
            ),
            gates.fold_sets_hygiene(sets, train, cv_folds, s),
            gates.resampling_promise(sets, s.sampling_ratio),
        ]
        yield from gated(
            context,
            sets,
            {
                "fold": fold,
                "training_rows": dg.MetadataValue.int(len(sets.train)),
                "validation_rows": dg.MetadataValue.int(len(sets.validation)),
                "strategies": dg.MetadataValue.md(rows.to_markdown()),
                "audits": dg.MetadataValue.json(sets.audits),
                "preprocessor_fitted_on": dg.MetadataValue.json(sets.preprocessor["fitted_on"]),
                RECIPE_KEY: key,
                "reused_without_refit": reused,
            },
            checks,
        )

    return _asset
