"""Can the balanced-bagging rung be cheaper without losing quality? Variants on the shared data.

Run from the project root with the project's virtualenv:

    .venv/bin/python benchmarks/bagging.py                       # 11 datasets x seeds 0,1,2
    .venv/bin/python benchmarks/bagging.py --datasets oil --seeds 0

Why: at 1M rows the rung costs about 60 s of each fold's 160 s model step (10 members x 300
trees to fit, and 3,000 trees to score 160,000 validation rows with), and 1M rows end to end
is over its 10-minute goal (BENCHMARKS.md, "One million rows").

The same datasets and 80/20 stratified splits as `benchmarks/quality.py`, the pipeline's own
core functions, default settings and only the `balanced_bagging` rung. For every split and
variant: the five fold models (each fold's own preprocessing and member draws), their mean
out-of-fold PR-AUC (what the ladder's selection sees), and the holdout PR-AUC of their fold bag
(what would be deployed), plus the CPU seconds of the rung's fits and of its scoring of the
validation rows (on these small sets the figures are mostly fixed costs; at scale see
BENCHMARKS.md).

Variants (members x trees per member at learning rate), with the default 300 rounds at 0.05:

* current: 10 x 300 at 0.05 (imbalanced-learn's 10 members; the pipeline's LightGBM), the rung
  as it was when the rule below was fixed;
* trees_100: 10 x 100 at 0.15 (a third of the trees, three times the step), the rung since
  (`bagging.BAG_ROUNDS_SHARE = 3`);
* members_5: 5 x 300 at 0.05.

Decision rule, fixed before the first run: a variant replaces `current` only if, over all
splits, both its mean paired difference in holdout PR-AUC and in out-of-fold PR-AUC are above
-0.005 and above minus one standard error of those paired differences; of the variants that
pass, the cheapest. Otherwise the rung stays as it is. One worker per core, one LightGBM
thread each. Results go to benchmarks/results/bagging.jsonl (resumed) and a table is printed.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

import quality  # noqa: E402  (the same datasets and splits)

# name: (members, share of the rounds each member boosts at a proportionally larger rate)
VARIANTS = {"current": (10, 1), "trees_100": (10, 3), "members_5": (5, 1)}
BOUND = 0.005
DEFAULT_RESULTS = REPO_ROOT / "benchmarks" / "results" / "bagging.jsonl"


def run_one(job: tuple[str, str, int]) -> dict:
    """Every variant on one dataset and seed."""
    import pandas as pd
    from sklearn.metrics import average_precision_score

    from imbal_pipeline.core.data import data, split
    from imbal_pipeline.core.settings import FOLD, LABEL, SCORE, STRATEGY
    from imbal_pipeline.core.train import bagging, strategies, training
    from imbal_pipeline.core.train import model as model_core

    name, path, seed = job
    base, train, holdout = quality.pipeline_split(Path(path), seed)
    schema = data.feature_schema(train, base)
    folds = split.make_folds(train, base.n_folds, base.seed)
    base = dataclasses.replace(base, strategies=("none", strategies.BAGGING))
    bundles = [
        training.build_fold_training_sets(train, folds, k, schema, base)
        for k in range(base.n_folds)
    ]
    # The ladder always starts with `none`: only the rung's own fits and scoring are timed.
    cpu = {"fit": 0.0, "score": 0.0}

    def timed(fn, kind):
        def wrapper(model_or_name, *args, **kwargs):
            ours = model_or_name == strategies.BAGGING or isinstance(
                model_or_name, model_core.Bagged
            )
            started = time.process_time()
            result = fn(model_or_name, *args, **kwargs)
            cpu[kind] += (time.process_time() - started) if ours else 0.0
            return result

        return wrapper

    fit_strategy, predict = training.fit_strategy, model_core.predict
    training.fit_strategy = timed(fit_strategy, "fit")
    model_core.predict = timed(predict, "score")
    y = holdout[LABEL].to_numpy()
    out = {"dataset": name, "seed": seed, "training_positives": int(train[LABEL].sum())}
    rung = bagging.BAG_MEMBERS, bagging.BAG_ROUNDS_SHARE
    for variant, (members, share) in VARIANTS.items():
        s = base
        # Both read when a bag is drawn and fitted; put back below.
        bagging.BAG_MEMBERS, bagging.BAG_ROUNDS_SHARE = members, share
        trees, rate = bagging.bag_member_fit(s.n_estimators, s.learning_rate)
        cpu.update(fit=0.0, score=0.0)
        fitted = [training.fit_fold_models(b, s) for b in bundles]
        fold_cpu = dict(cpu)
        oof = pd.concat([f.oof for f in fitted], ignore_index=True)
        oof = oof[oof[STRATEGY] == strategies.BAGGING]
        per_fold = [
            average_precision_score(part[LABEL], part[SCORE]) for _, part in oof.groupby(FOLD)
        ]
        bag = training.fold_bag(fitted, strategies.BAGGING, train, schema, s)
        scores = model_core.score_rows(bag.model, bag.preprocessor, holdout, s.lgbm_threads)
        out[variant] = {
            "cv_pr_auc": float(statistics.mean(per_fold)),
            "holdout_pr_auc": float(average_precision_score(y, scores)),
            "fit_cpu_s": fold_cpu["fit"],
            "validation_scoring_cpu_s": fold_cpu["score"],
            "fold_models_cpu_s": fold_cpu["fit"] + fold_cpu["score"],
            "members": members,
            "trees": trees,
            "learning_rate": rate,
        }
    bagging.BAG_MEMBERS, bagging.BAG_ROUNDS_SHARE = rung
    training.fit_strategy, model_core.predict = fit_strategy, predict
    return out


def paired(rows: list[dict], variant: str, metric: str) -> tuple[float, float]:
    """Mean and standard error of the variant's paired difference to `current`."""
    diffs = [r[variant][metric] - r["current"][metric] for r in rows]
    se = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("nan")
    return statistics.mean(diffs), se


def verdict(rows: list[dict]) -> str:
    """The pre-stated rule applied: which variant, if any, replaces `current`."""
    lines, passing = [], []
    for variant in VARIANTS:
        if variant == "current":
            continue
        ok = True
        parts = []
        for metric in ("holdout_pr_auc", "cv_pr_auc"):
            mean, se = paired(rows, variant, metric)
            ok &= mean > -BOUND and mean > -se
            parts.append(f"{metric} {mean:+.4f} (SE {se:.4f})")
        cpu = statistics.mean(r[variant]["fold_models_cpu_s"] for r in rows)
        base_cpu = statistics.mean(r["current"]["fold_models_cpu_s"] for r in rows)
        lines.append(
            f"- {variant}: {', '.join(parts)}; fold-model CPU {cpu / base_cpu:.2f}x current; "
            f"{'passes' if ok else 'fails'}"
        )
        if ok:
            passing.append((cpu, variant))
    choice = min(passing)[1] if passing else "current (no variant passes)"
    return "\n".join([*lines, f"- decision: {choice}"])


def table(rows: list[dict], names: list[str]) -> str:
    """Per-dataset means over seeds: out-of-fold / holdout PR-AUC, and fold-model CPU."""

    def cells(part: list[dict]) -> str:
        return " | ".join(
            f"{statistics.mean(r[v]['cv_pr_auc'] for r in part):.3f} / "
            f"{statistics.mean(r[v]['holdout_pr_auc'] for r in part):.3f}, "
            f"{statistics.mean(r[v]['fold_models_cpu_s'] for r in part):.1f}"
            for v in VARIANTS
        )

    head = " | ".join(f"{v} CV / holdout PR-AUC, CPU s" for v in VARIANTS)
    lines = [f"| dataset | positives | {head} |", "|---|---:|" + "---:|" * len(VARIANTS)]
    for name in names:
        mine = [r for r in rows if r["dataset"] == name]
        if mine:
            positives = statistics.mean(r["training_positives"] for r in mine)
            lines.append(f"| {name} | {positives:.0f} | {cells(mine)} |")
    lines.append(f"| **mean** | | {cells(rows)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = quality.study_parser(__doc__.splitlines()[0], DEFAULT_RESULTS).parse_args(argv)
    rows, names = quality.run_study(run_one, args)
    print(table(rows, names))
    print(verdict(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
