"""Does the learning curve's claim hold? Its last-doubling gain and interval, against an
independent estimate of the same step from fresh draws of the generator.

Run from the project root with the project's virtualenv (about 10 minutes on 2 cores; it fits
LightGBM, one thread per fit):

    nice -n 10 .venv/bin/python benchmarks/statistics_curve.py
    .venv/bin/python benchmarks/statistics_curve.py --quick     # one table, two seeds: ~1 min

For each generated table (`core/data/synthetic.py`, fraud-like, overlapping positives and islands)
and seed, a training split is drawn and `learning.learning_curve` claims the PR-AUC the last
doubling of the positives gained (5 folds; the 100 % point made as the strategy comparison
makes it), with its 95 % interval and verdict. The independent estimate needs no folds: fresh
training sets the size of a fold's training portion are drawn from the generator, each fitted
on all its positives and on a random half of them (all negatives kept), and both are scored on
one large fresh test set at the same prevalence; the mean difference over the repeats is the
gain the claim estimates, with its standard error. Reported: how often that estimate lies in the
claimed interval, and the verdicts given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imbal_pipeline.core.data import data, split  # noqa: E402
from imbal_pipeline.core.data.synthetic import make_fraud_data  # noqa: E402
from imbal_pipeline.core.evaluate import learning  # noqa: E402
from imbal_pipeline.core.settings import FOLD, LABEL, ROW_ID, Settings  # noqa: E402

STRATEGY = "class_weight"
FOLDS = 5
# (training rows, positive rate): 100, 120 and 60 training positives.
TABLES = ((2000, 0.05), (4000, 0.03), (4000, 0.015))
TEST_ROWS = 40_000
VERDICTS = ("helps", "flat", "cannot_tell", "hurts")


def settings(seed: int, trees: int) -> Settings:
    return Settings(target="is_fraud", n_folds=FOLDS, seed=seed, n_estimators=trees)


def frame(rows: int, rate: float, seed: int, s: Settings):
    return data.prepare_frame(make_fraud_data(rows, rate, seed=seed), s)


def claim(rows: int, rate: float, seed: int, trees: int) -> dict:
    """The curve's last doubling on one training split, as the pipeline makes it."""
    s = settings(seed, trees)
    train = frame(rows, rate, 1000 + seed, s)
    folds = split.make_folds(train, FOLDS, seed)
    schema = data.feature_schema(train, s)
    fold_of = train[ROW_ID].map(folds.set_index(ROW_ID)[FOLD]).to_numpy()
    full = [
        learning._fit_and_score(train[fold_of != k], train[fold_of == k], schema, STRATEGY, s)[0]
        for k in range(FOLDS)
    ]
    return learning.learning_curve(train, folds, schema, STRATEGY, full, s)["last_doubling"]


def truth(rows: int, rate: float, repeats: int, trees: int) -> tuple[float, float]:
    """Mean gain from half to all positives at a fold's training size, and its standard error."""
    s = settings(0, trees)
    size = round(rows * (FOLDS - 1) / FOLDS)
    test = frame(TEST_ROWS, rate, 999_999, s)
    schema = data.feature_schema(test, s)
    rng = np.random.default_rng(12345)
    gains = []
    for r in range(repeats):
        train = frame(size, rate, 500_000 + r, s)
        positives = np.flatnonzero(train[LABEL].to_numpy() == 1)
        dropped = rng.choice(
            positives, size=len(positives) - round(len(positives) / 2), replace=False
        )
        half = train.drop(index=train.index[dropped])
        all_in, _ = learning._fit_and_score(train, test, schema, STRATEGY, s)
        half_in, _ = learning._fit_and_score(half, test, schema, STRATEGY, s)
        gains.append(all_in - half_in)
    return float(np.mean(gains)), float(np.std(gains, ddof=1) / np.sqrt(len(gains)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=10, help="training splits per table")
    parser.add_argument("--repeats", type=int, default=30, help="fresh draws for the estimate")
    parser.add_argument("--trees", type=int, default=100, help="LightGBM trees per fit")
    parser.add_argument("--quick", action="store_true", help="one table, 2 seeds, 4 repeats")
    args = parser.parse_args(argv)
    tables = TABLES[:1] if args.quick else TABLES
    seeds, repeats = (2, 4) if args.quick else (args.seeds, args.repeats)
    print(
        "| training rows | positives | independent gain (SE) | claimed gain, mean | "
        "interval width, mean | estimate in the claimed interval | " + " | ".join(VERDICTS) + " |"
    )
    print("|---|---|---|---|---|---|" + "---|" * len(VERDICTS))
    inside = total = 0
    for rows, rate in tables:
        gain, se = truth(rows, rate, repeats, args.trees)
        claims = [claim(rows, rate, seed, args.trees) for seed in range(seeds)]
        held = [c["ci_low"] <= gain <= c["ci_high"] for c in claims]
        inside, total = inside + sum(held), total + len(held)
        said = [sum(c["verdict"] == v for c in claims) for v in VERDICTS]
        print(
            f"| {rows:,} | {round(rows * rate)} | {gain:+.4f} ({se:.4f}) | "
            f"{np.mean([c['gain'] for c in claims]):+.4f} | "
            f"{np.mean([c['ci_high'] - c['ci_low'] for c in claims]):.4f} | "
            f"{sum(held)}/{len(held)} | " + " | ".join(map(str, said)) + " |"
        )
        sys.stdout.flush()
    print(f"\nThe independent estimate lies in the claimed interval in {inside} of {total} runs.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
