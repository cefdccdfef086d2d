"""What `--max-negatives` costs in holdout PR-AUC and saves in fit time, at 1M rows.

Run from the project root with the project's virtualenv:

    .venv/bin/python benchmarks/max_negatives.py                        # 1M rows, seeds 0-2
    .venv/bin/python benchmarks/max_negatives.py --rows 200000 --limits 0,50000

Per seed: one `make_classification` draw (30 features, 7 informative, 3 redundant, 1 %
positives, no label noise; the overhead benchmark's data), a stratified 80/20 holdout split,
then for each limit the pipeline's own `split.fitting_rows` sample of the training split and one
LightGBM fit with the pipeline's parameters (`model.lgbm_params`, one thread, `none` strategy).
It prints the holdout PR-AUC and the fit time per limit and seed, and the mean change against
fitting on every row (limit 0).
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import make_classification
from sklearn.metrics import average_precision_score
from sklearn.model_selection import train_test_split

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imbal_pipeline.core.data import split  # noqa: E402
from imbal_pipeline.core.settings import LABEL, ROW_ID, Settings  # noqa: E402
from imbal_pipeline.core.train import model  # noqa: E402


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def build_parser() -> argparse.ArgumentParser:
    """Benchmark options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows (%(default)s)")
    parser.add_argument("--features", type=int, default=30, help="features (%(default)s)")
    parser.add_argument(
        "--limits",
        type=_ints,
        default=[0, 400_000, 250_000, 150_000],
        help="comma-separated --max-negatives values; 0 = every row "
        "(default 0,400000,250000,150000)",
    )
    parser.add_argument("--seeds", type=_ints, default=[0, 1, 2], help="seeds (0,1,2)")
    return parser


def one_seed(rows: int, features: int, seed: int, limits: list[int]) -> dict[int, tuple]:
    """Holdout PR-AUC and fit seconds per limit, for one data draw and split."""
    X, y = make_classification(
        n_samples=rows,
        n_features=features,
        n_informative=max(2, features // 4),
        n_redundant=features // 10,
        weights=[0.99],
        flip_y=0.0,
        class_sep=1.0,
        random_state=seed,
    )
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, stratify=y, random_state=seed
    )
    train = pd.DataFrame({ROW_ID: np.arange(len(y_train)), LABEL: y_train})
    out = {}
    for limit in limits:
        settings = Settings(seed=seed, max_negatives=limit)
        usable, info = split.fitting_rows(train, limit, seed)
        started = time.perf_counter()
        booster, _ = model.fit_lgbm(
            X_train[usable],
            y_train[usable],
            np.flatnonzero(usable),
            settings=settings,
            cat_idx=[],
        )
        seconds = time.perf_counter() - started
        scores = model.predict(booster, X_test, settings.lgbm_threads)
        pr_auc = average_precision_score(y_test, scores)
        out[limit] = (pr_auc, seconds, info["negatives_kept"], info["negatives"])
        label = limit or "all rows"
        print(
            f"seed {seed}  limit {label!s:>8}  negatives {info['negatives_kept']:>7,} of "
            f"{info['negatives']:,}  PR-AUC {pr_auc:.4f}  fit {seconds:5.1f} s",
            flush=True,
        )
    return out


def main(argv: list[str] | None = None) -> int:
    """Run every seed and limit; print the table and the mean change against every row."""
    args = build_parser().parse_args(argv)
    limits = sorted(set(args.limits) | {0}, key=lambda v: (v != 0, -v))
    print(
        f"max_negatives benchmark: {args.rows:,} rows x {args.features} features, 1 % positives, "
        f"80/20 holdout, LightGBM `none` with the pipeline's parameters on 1 thread"
    )
    results = {seed: one_seed(args.rows, args.features, seed, limits) for seed in args.seeds}
    header = "| --max-negatives | negatives fitted | mean PR-AUC | vs all rows | mean fit s |"
    print("\n" + header)
    print("|---:|---:|---:|---:|---:|")
    for limit in limits:
        pr = [results[s][limit][0] for s in args.seeds]
        base = [results[s][0][0] for s in args.seeds]
        secs = [results[s][limit][1] for s in args.seeds]
        kept = results[args.seeds[0]][limit][2]
        delta = statistics.mean(a - b for a, b in zip(pr, base, strict=True))
        print(
            f"| {limit or 'all rows'} | {kept:,} | {statistics.mean(pr):.4f} | {delta:+.4f} | "
            f"{statistics.mean(secs):.1f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
