"""Stage 1b: diagnostics of the training split before any strategy is tried."""

import tempfile
from pathlib import Path

import dagster as dg
import pandas as pd

from imbal_pipeline.core.data import data, split
from imbal_pipeline.core.evaluate import diagnostics, learning, quality
from imbal_pipeline.core.report import plots
from imbal_pipeline.core.values import Comparison, Profile
from imbal_pipeline.defs.assets.common import OFF_CRITICAL_PATH, gated, png, stage_asset
from imbal_pipeline.defs.assets.reuse import fit_or_reuse
from imbal_pipeline.defs.assets.training import MODEL_FIELDS
from imbal_pipeline.defs.resources import FitCache, PipelineConfig
from imbal_pipeline.store.storage import RECIPE_KEY


@stage_asset("data_diagnostics", group_name="data", op_tags=OFF_CRITICAL_PATH)
def data_diagnostics(
    context: dg.AssetExecutionContext,
    pipeline: PipelineConfig,
    holdout_split: pd.DataFrame,
    imbalance_profile: Profile,
):
    """Overlap (N3, Fisher ratio), minority typology, islands, conflicts and advice (training)."""
    s = pipeline.settings()
    train = split.training_part(holdout_split)
    result, arrays = diagnostics.diagnose(
        train,
        data.feature_schema(train, s),
        imbalance_profile.tier,
        s.seed,
        threads=s.lgbm_threads,
    )
    # The picture is drawn again into the report folder when the report is published; the run
    # writes nothing into --out before then, so that folder only ever holds whole runs.
    projection = pd.DataFrame(
        {"pc1": arrays["points"][:, 0], "pc2": arrays["points"][:, 1], "label": arrays["y"]}
    )
    with tempfile.TemporaryDirectory() as tmp:
        picture = plots.plot_projection(
            arrays["points"],
            arrays["y"],
            Path(tmp) / "pca.png",
            diagnostics.projection_title(result),
        )
        preview = png(picture)
    yield from gated(
        context,
        {**result, "projection": projection},
        {
            "typology": dg.MetadataValue.json(result["typology"]),
            "n3": dg.MetadataValue.float(result["n3"]),
            "fisher_ratio": dg.MetadataValue.float(result["fisher_ratio"]),
            "subsample_rows": dg.MetadataValue.int(result["subsample_rows"]),
            "duplicates": dg.MetadataValue.int(result["duplicates"]),
            "label_conflicts": dg.MetadataValue.int(result["label_conflicts"]),
            "islands": dg.MetadataValue.json(result["islands"]),
            "advice": dg.MetadataValue.md("\n".join(f"- {a}" for a in result["advice"])),
            "projection": preview,
        },
        [diagnostics.consistent(result)],
    )


def curve_part_key(part: int) -> dg.AssetKey:
    """Asset key of one part of the learning curve's fits."""
    return dg.AssetKey(f"learning_curve_part_{part}")


def make_curve_part(part: int) -> dg.AssetsDefinition:
    """A share of the learning curve's fits, so that they run on both cores."""

    @stage_asset(
        "learning_curve_part",
        key=curve_part_key(part),
        group_name="evaluation",
        kinds={"lightgbm"},
        description=(
            f"Fits {part + 1}, {part + 1 + learning.CURVE_PARTS}, ... of the learning curve (in "
            "fold, share, draw order): the selected strategy on a share of a fold's training "
            "positives, scored on the fold's validation rows."
        ),
    )
    def _asset(
        context: dg.AssetExecutionContext,
        pipeline: PipelineConfig,
        fit_cache: FitCache,
        holdout_split: pd.DataFrame,
        cv_folds: pd.DataFrame,
        strategy_comparison: Comparison,
    ):
        s = pipeline.settings()
        selected = strategy_comparison.selected
        inputs = {"holdout_split": holdout_split, "cv_folds": cv_folds, "strategy": selected}

        def fit():
            train = split.training_part(holdout_split)
            schema = data.feature_schema(train, s)
            return learning.curve_part(
                train, cv_folds, schema, selected, s, part, learning.CURVE_PARTS
            )

        fits, key, reused = fit_or_reuse(context, fit_cache, inputs, s, MODEL_FIELDS, fit)
        metadata = {
            "points": dg.MetadataValue.json(fits["points"]),
            "skipped": dg.MetadataValue.json(fits["skipped"]),
            RECIPE_KEY: key,
            "reused_without_refit": reused,
        }
        yield from gated(context, fits, metadata, [quality.curve_fits_complete(fits)])

    return _asset


@stage_asset(
    "learning_curve",
    group_name="evaluation",
    ins={
        "strategy_comparison": dg.AssetIn(),
        **{f"part_{k}": dg.AssetIn(key=curve_part_key(k)) for k in range(learning.CURVE_PARTS)},
    },
)
def learning_curve(
    context: dg.AssetExecutionContext,
    pipeline: PipelineConfig,
    strategy_comparison: Comparison,
    **parts: dict,
):
    """Would more positives pay? What the last doubling of the positives gained out of fold."""
    s = pipeline.settings()
    selected = strategy_comparison.selected
    full = strategy_comparison.table[selected]["pr_auc_folds"]
    curve = learning.combine(list(parts.values()), selected, full)
    metadata = {"sentence": curve["sentence"]}
    if curve["last_doubling"]:
        with tempfile.TemporaryDirectory() as tmp:
            metadata["plot"] = png(plots.plot_learning_curve(curve, Path(tmp) / "curve.png"))
        metadata["last_doubling_gain"] = dg.MetadataValue.float(curve["last_doubling"]["gain"])
    yield from gated(
        context, curve, metadata, [quality.learning_curve_consistent(curve, s.n_folds)]
    )
