"""Does the out-of-fold threshold transfer to the deployed model? Options measured on the holdout.

Run from the project root with the project's virtualenv:

    .venv/bin/python benchmarks/transfer.py                       # 11 datasets x seeds 0,1,2
    .venv/bin/python benchmarks/transfer.py --datasets oil,ecoli --seeds 0

The same datasets and 80/20 stratified splits as `benchmarks/quality.py`. For every split the
pipeline's own core functions run in this process (no Dagster): the folds, every ladder
strategy in every fold, the paired one-SE selection and the F1 threshold tuned on the selected
strategy's pooled out-of-fold scores, exactly as `imbal-pipeline run` with default settings.
Then each option below turns that into a deployed predictor and a threshold, fixed before any
holdout row is scored, and the holdout's PR-AUC and F1 are measured:

* refit: one model refitted on the whole training split, the pooled OOF threshold (today);
* refit_fold_median: the same model, the median of the thresholds tuned on each fold alone;
* fold_bag: the K fold models themselves, their probabilities averaged (each through its own
  fold's preprocessing), the pooled OOF threshold, tuned on scores of exactly these models;
* fold_bag_fold_median: the K fold models with the median of the per-fold thresholds;
* fold_bag_checked: the same, but 0.5 where the cross-fitted check finds the tuned threshold
  no better (on each fold, the median of the other folds' thresholds against 0.5, on that
  fold's rows: the mean gain must be above 0);
* fold_bag_checked_1se: the same, but the mean gain must exceed its standard error.

It also prints how often each strategy was selected and the holdout F1 that the best
threshold in hindsight would reach (the room left). Two worker processes, one LightGBM thread
each, so processes x threads stays within the 2 cores. Results go to a JSON-lines file
(default benchmarks/results/transfer.jsonl, resumed like quality.py's) and a Markdown table is
printed.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

import quality  # noqa: E402  (the same datasets and splits)

OPTIONS = (
    "refit",
    "refit_fold_median",
    "fold_bag",
    "fold_bag_fold_median",
    "fold_bag_checked",
    "fold_bag_checked_1se",
)
DEFAULT_RESULTS = REPO_ROOT / "benchmarks" / "results" / "transfer.jsonl"


def refit(train, schema: dict, strategy: str, settings) -> dict:
    """The deployed model before the fold bag: preprocessing, the strategy and LightGBM
    refitted on the whole training split.

    Above --max-negatives, "whole" means the same sample of negatives the folds fitted on.
    """
    from imbal_pipeline.core.data import split
    from imbal_pipeline.core.settings import LABEL, ROW_ID
    from imbal_pipeline.core.train import preprocess, strategies
    from imbal_pipeline.core.train.training import fit_strategy, resampled_rows

    usable, sample = split.fitting_rows(train, settings.max_negatives, settings.seed)
    train = train[usable]
    ids = train[ROW_ID].to_numpy()
    pre = preprocess.fit_preprocessor(train, schema, ids)
    X, y = pre.transform(train), train[LABEL].to_numpy()
    result = strategies.resample(
        X,
        y,
        ids,
        strategy,
        seed=settings.seed,
        ratio=settings.sampling_ratio,
        # No size limit here: the limit keeps the comparison affordable, and a strategy that ran
        # in every fold and was selected must also run on the (larger) whole training split.
        cat_idx=pre.categorical_indices,
    )
    if result.skipped:
        raise ValueError(f"strategy {strategy} cannot run on the training split: {result.skipped}")
    booster, info = fit_strategy(
        strategy,
        *resampled_rows(X, y, ids, result),
        settings=settings,
        cat_idx=pre.categorical_indices,
        scale_pos_weight=result.scale_pos_weight,
    )
    return {
        "model": booster,
        "preprocessor": pre.to_json(),
        "audit": result.audit | {"fitting_rows": sample},
        "fit_info": info,
        "strategy": strategy,
    }


def run_one(job: tuple[str, str, int]) -> dict:
    """Every option on one dataset and seed."""
    import numpy as np
    from sklearn.metrics import average_precision_score, f1_score, precision_recall_curve

    from imbal_pipeline.core.data import data, split
    from imbal_pipeline.core.settings import FOLD, LABEL, ROW_ID, SCORE, STRATEGY
    from imbal_pipeline.core.train import model as model_core
    from imbal_pipeline.core.train import selection, threshold, training

    name, path, seed = job
    s, train, holdout = quality.pipeline_split(Path(path), seed)
    schema = data.feature_schema(train, s)
    folds = split.make_folds(train, s.n_folds, s.seed)
    bundles = [
        training.build_fold_training_sets(train, folds, k, schema, s) for k in range(s.n_folds)
    ]
    fitted = [training.fit_fold_models(b, s) for b in bundles]
    comparison = selection.compare_folds(fitted, s)
    oof, chosen_name = comparison.oof, comparison.selected
    chosen = oof[oof[STRATEGY] == chosen_name]
    pooled = threshold.tune_threshold(chosen[LABEL], chosen[SCORE], chosen[ROW_ID], s)["value"]
    by_fold = threshold.tune_per_fold(chosen[LABEL], chosen[SCORE], chosen[FOLD], chosen[ROW_ID], s)
    per_fold, median = list(by_fold["fold_values"].values()), by_fold["tuned_median"]

    y = holdout[LABEL].to_numpy()
    final = training.limit_threads(refit)(train, schema, chosen_name, s)
    refit_scores = model_core.score_rows(
        final["model"], final["preprocessor"], holdout, s.lgbm_threads
    )
    # The pipeline's deployed model: the fold models, each through its own fold's preprocessing.
    bag = training.fold_bag(fitted, chosen_name, train, schema, s)
    bag_scores = model_core.score_rows(bag.model, bag.preprocessor, holdout, s.lgbm_threads)
    check = by_fold["versus_default"]
    checked = median if check is None or check["gain_mean"] > 0 else 0.5
    checked_1se = median if check is None or check["gain_mean"] > check["gain_se"] else 0.5
    options = {
        "refit": (refit_scores, pooled),
        "refit_fold_median": (refit_scores, median),
        "fold_bag": (bag_scores, pooled),
        "fold_bag_fold_median": (bag_scores, median),
        "fold_bag_checked": (bag_scores, checked),
        "fold_bag_checked_1se": (bag_scores, checked_1se),
    }
    out = {"dataset": name, "seed": seed, "selected": chosen_name, "fold_thresholds": per_fold}
    out["versus_default"] = check
    for option, (scores, t) in options.items():
        out[option] = {
            "pr_auc": float(average_precision_score(y, scores)),
            "f1": float(f1_score(y, scores >= t, zero_division=0)),
            "threshold": float(t),
        }
    precision, recall, _ = precision_recall_curve(y, refit_scores)
    f1s = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    out["refit_best_f1_in_hindsight"] = float(f1s.max())
    out["cv_pr_auc"] = {k: v["pr_auc_mean"] for k, v in comparison.table.items()}
    return out


def main(argv: list[str] | None = None) -> int:
    args = quality.study_parser(__doc__.splitlines()[0], DEFAULT_RESULTS).parse_args(argv)
    rows, names = quality.run_study(run_one, args)
    print(table(rows, names))
    return 0


def table(rows: list[dict], names: list[str]) -> str:
    """Per-dataset means over seeds, then the mean over datasets, per option."""
    # Results recorded before an option existed lack it: the table shows the options all have.
    options = [o for o in OPTIONS if all(o in r for r in rows)]
    lines = [
        "| dataset | selected | " + " | ".join(f"{o} PR-AUC / F1" for o in options) + " |",
        "|---|---|" + "---:|" * len(options),
    ]
    means: dict[str, list[tuple[float, float]]] = {o: [] for o in options}
    for name in names:
        mine = [r for r in rows if r["dataset"] == name]
        if not mine:
            continue
        cells = []
        for option in options:
            pr = statistics.mean(r[option]["pr_auc"] for r in mine)
            f1 = statistics.mean(r[option]["f1"] for r in mine)
            means[option].append((pr, f1))
            cells.append(f"{pr:.3f} / {f1:.3f}")
        selected = ", ".join(r["selected"] for r in sorted(mine, key=lambda r: r["seed"]))
        lines.append(f"| {name} | {selected} | " + " | ".join(cells) + " |")
    cells = [
        f"{statistics.mean(p for p, _ in v):.3f} / {statistics.mean(f for _, f in v):.3f}"
        for v in means.values()
    ]
    lines.append("| **mean** | | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
