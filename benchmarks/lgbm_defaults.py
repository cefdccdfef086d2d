"""Which LightGBM defaults hold up on real rare-event data: the evidence behind
`core/train/model.py`.

Run from the project root with the project's virtualenv:

    .venv/bin/python benchmarks/lgbm_defaults.py            # all datasets, seeds 0,1,2
    .venv/bin/python benchmarks/lgbm_defaults.py --datasets kdd99_smtp,oil --seeds 0

For each dataset in ../shared/datasets (label column `target`) and seed, one stratified 80/20
split; every variant fits on the training part and is scored by holdout PR-AUC (average
precision). No resampling and no class weights: this isolates the booster's own settings.

* base: the pipeline's former parameters (300 trees, learning rate 0.05, 31 leaves,
  min_data_in_leaf 20, feature_fraction 0.9), boosting from the base rate (LightGBM's default);
* from_zero: the same, boosting from 0 (`boost_from_average=False`), the current default;
* from_zero_small_leaves: also min_data_in_leaf = clip(positives // 10, 5, 20);
* cv_trees: from_zero with up to 800 trees, the number chosen by the best mean average
  precision of a stratified 5-fold `lgb.cv` on the training part ("early stopping" on the
  folds, without a patience rule that a few positives would trip).
"""

import argparse
import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score
from sklearn.model_selection import StratifiedKFold, train_test_split

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
BASE = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.9,
    "num_threads": 1,
    "verbosity": -1,
}
VARIANTS = ("base", "from_zero", "from_zero_small_leaves", "cv_trees")


def load(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """Features (text columns as pandas categories) and the 0/1 label."""
    frame = pd.read_csv(path)
    y = frame.pop("target").to_numpy()
    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            frame[column] = frame[column].astype("category")
    return frame, y


def cv_trees(params: dict, train: lgb.Dataset, seed: int, max_trees: int = 800) -> int:
    """Tree count with the best mean validation average precision over 5 stratified folds."""
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    curves = lgb.cv(
        {**params, "metric": "average_precision"}, train, max_trees, folds=folds, stratified=False
    )
    return int(np.argmax(curves["valid average_precision-mean"])) + 1


def score_variants(X: pd.DataFrame, y: np.ndarray, seed: int) -> dict[str, float]:
    """Holdout PR-AUC of every variant on one split."""
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, stratify=y, random_state=seed)
    positives = int(y_tr.sum())
    zero = {**BASE, "seed": seed, "boost_from_average": False}
    fits = {
        "base": ({**BASE, "seed": seed}, 300),
        "from_zero": (zero, 300),
        "from_zero_small_leaves": (
            {**zero, "min_data_in_leaf": int(np.clip(positives // 10, 5, 20))},
            300,
        ),
        "cv_trees": (zero, cv_trees(zero, lgb.Dataset(X_tr, y_tr), seed)),
    }
    out = {}
    for name, (params, trees) in fits.items():
        booster = lgb.train(params, lgb.Dataset(X_tr, y_tr), trees)
        out[name] = float(average_precision_score(y_te, booster.predict(X_te)))
    out["cv_trees_n"] = fits["cv_trees"][1]
    return out


def main(argv: list[str] | None = None) -> int:
    """Print one row per dataset (means over seeds) and the mean over datasets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", help="comma-separated names (default: all)")
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args(argv)
    if not DATASETS.is_dir():
        print(f"no datasets folder at {DATASETS}", file=sys.stderr)
        return 2
    paths = sorted(DATASETS.glob("*.csv*"))
    if args.datasets:
        wanted = set(args.datasets.split(","))
        paths = [p for p in paths if p.name.split(".")[0] in wanted]
    seeds = [int(s) for s in args.seeds.split(",")]
    print("| dataset | " + " | ".join(VARIANTS) + " | cv trees |")
    print("|---" * (len(VARIANTS) + 2) + "|")
    means: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for path in paths:
        X, y = load(path)
        runs = [score_variants(X, y, seed) for seed in seeds]
        row = {v: float(np.mean([r[v] for r in runs])) for v in VARIANTS}
        for v in VARIANTS:
            means[v].append(row[v])
        trees = np.mean([r["cv_trees_n"] for r in runs])
        cells = " | ".join(f"{row[v]:.3f}" for v in VARIANTS)
        print(f"| {path.name.split('.')[0]} | {cells} | {trees:.0f} |", flush=True)
    cells = " | ".join(f"**{np.mean(means[v]):.3f}**" for v in VARIANTS)
    print(f"| mean | {cells} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
