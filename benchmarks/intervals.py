"""What the report's intervals cost: the stratified bootstrap and the paired one, by holdout size.

Run from the project root with the project's virtualenv:

    .venv/bin/python benchmarks/intervals.py                       # 10k and 200k holdout rows
    .venv/bin/python benchmarks/intervals.py --rows 2000,50000

A 200k-row holdout is the 20 % of a 1M-row dataset. Each size gets 1 % positives and two score
columns: a strong model and a weak one (their positives barely above the negatives), rounded to
4 decimals so there are ties, as LightGBM scores have. Timed: `metrics.bootstrap_intervals` of
the strong model (every headline metric, 1,000 replicates) and `metrics.paired_bootstrap` of
strong minus weak (PR-AUC and the threshold metrics, 1,000 replicates). The weak model ranks its
lowest positive low, so nearly every negative is one that can move a metric: the paired
bootstrap's worst case.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imbal_pipeline.core.stats import metrics  # noqa: E402


def scores(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels with 1 % positives, a strong and a weak model's scores."""
    rng = np.random.default_rng(seed)
    y = (rng.random(rows) < 0.01).astype(int)
    strong = np.round(np.clip(0.45 * y + rng.normal(0.3, 0.12, rows), 0, 1), 4)
    weak = np.round(np.clip(0.15 * y + rng.normal(0.3, 0.12, rows), 0, 1), 4)
    return y, strong, weak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default="10000,200000", help="holdout sizes, comma-separated")
    args = parser.parse_args(argv)
    columns = ["holdout rows", "positives", "bootstrap_intervals s", "paired_bootstrap s"]
    print("| " + " | ".join([*columns, "paired PR-AUC diff [95% CI]"]) + " |")
    print("|---|---|---|---|---|")
    for rows in (int(r) for r in args.rows.split(",")):
        y, strong, weak = scores(rows)
        start = time.perf_counter()
        metrics.bootstrap_intervals(y, strong, 0.5, 2.0)
        single = time.perf_counter() - start
        start = time.perf_counter()
        paired = metrics.paired_bootstrap(y, strong, weak, 0.5, 0.5, 2.0, costs=(1.0, 10.0))
        both = time.perf_counter() - start
        d = paired["pr_auc"]
        print(
            f"| {rows:,} | {int(y.sum()):,} | {single:.2f} | {both:.2f} | "
            f"{d['diff']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}] |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
