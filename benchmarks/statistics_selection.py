"""The strategy ladder's selection rule at few positives: how often it leaves the simplest
strategy when no strategy is better, and how often it finds one that is. Scores only, from known
populations: no fits.

Run from the project root with the project's virtualenv:

    nice -n 10 .venv/bin/python benchmarks/statistics_selection.py        # 1,000 draws per cell
    .venv/bin/python benchmarks/statistics_selection.py --quick           # 40 draws, seconds

Each draw is one cross-validation: P training positives at 1:20 in five stratified folds, and
the seven ladder strategies' out-of-fold scores. A row's latent score is N(0, 1) for a negative
and N(d, 1) for a positive (d = 1.5; with the row noise a strategy's PR-AUC is about 0.3 at
1:20, more at 5-10 positives, where average precision is biased up), shared by every strategy, as
the strategies fit the same rows; each strategy adds its own row noise (SD 0.5) and, per fold,
its own shift of the positives (SD `tau`: a fitted model is better on some folds than others;
resamplers, which fit on fewer or synthetic rows, get the larger `tau` in the "noisy
resamplers" scenarios). A better strategy has d + 0.5. Per fold the average precision of each
strategy, then the product's rule (`selection.select_strategy`) and the rule before it (the
simplest strategy within one corrected paired SE of the best) pick one.

Reported per cell (Wilson 95 % intervals in brackets): how often the pick is not `none`, a
resampler, or the better strategy. The folds here are drawn independently, so the Nadeau-Bengio
correction the rule applies (for overlapping training portions) widens an SE that needs no
widening: both rules are more conservative here than on folds the correction fits, with fewer
false upgrades and less power. What this measures is the two rules against each other.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imbal_pipeline.core.monitor.monitoring import wilson_interval  # noqa: E402
from imbal_pipeline.core.settings import LADDER  # noqa: E402
from imbal_pipeline.core.train import selection  # noqa: E402

FOLDS, RATIO, SEPARATION, ROW_NOISE, BETTER_BY = 5, 20, 1.5, 0.5, 0.5
POSITIVES = (5, 10, 60, 150)
RESAMPLERS = tuple(range(2, len(LADDER)))  # undersample and after
# name: (index of the better strategy or None, tau of non-resamplers, tau of resamplers)
SCENARIOS = {
    "none better, equal noise": (None, 0.3, 0.3),
    "none better, noisy resamplers": (None, 0.3, 0.6),
    "smote better, equal noise": (LADDER.index("smote"), 0.3, 0.3),
    "smote better, noisy resamplers": (LADDER.index("smote"), 0.3, 0.6),
    "class_weight better": (LADDER.index("class_weight"), 0.3, 0.3),
}


def fold_pr_aucs(rng, positives: int, better, tau_plain: float, tau_resampler: float):
    """Per-fold average precision of each ladder strategy: an array (strategies, folds)."""
    strategies = len(LADDER)
    tau = np.array([tau_resampler if s in RESAMPLERS else tau_plain for s in range(strategies)])
    boost = np.zeros(strategies)
    if better is not None:
        boost[better] = BETTER_BY
    out = np.empty((strategies, FOLDS))
    per_fold = np.full(FOLDS, positives // FOLDS) + (np.arange(FOLDS) < positives % FOLDS)
    for k, p in enumerate(per_fold):
        n = p * RATIO
        y = np.r_[np.ones(p, bool), np.zeros(n, bool)]
        latent = rng.normal(size=p + n) + SEPARATION * y
        shift = boost + tau * rng.normal(size=strategies)  # this fold's fit of each strategy
        scores = (
            latent[None, :]
            + ROW_NOISE * rng.normal(size=(strategies, p + n))
            + shift[:, None] * y[None, :]
        )
        order = np.argsort(-scores, axis=1)
        hits = y[order]
        precision = np.cumsum(hits, axis=1) / np.arange(1, p + n + 1)
        out[:, k] = (precision * hits).sum(axis=1) / p
    return out


def previous_rule(table: dict[str, dict]) -> str:
    """The rule before: the simplest strategy within one corrected paired SE of the best."""
    best, gaps = selection.paired_gaps(table)
    return next(name for name in LADDER if name in gaps and gaps[name][0] <= gaps[name][1])


def table_of(values: np.ndarray) -> dict[str, dict]:
    return {
        name: {"pr_auc_mean": float(v.mean()), "pr_auc_folds": list(v)}
        for name, v in zip(LADDER, values, strict=True)
    }


def rate(hits: int, draws: int) -> str:
    low, high = wilson_interval(hits, draws)
    return f"{100 * hits / draws:.1f} % [{100 * low:.1f}, {100 * high:.1f}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 draws per cell")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    draws = 40 if args.quick else args.draws
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    print(
        f"{draws} draws per cell; 1:{RATIO}, {FOLDS} folds, d = {SEPARATION}, better by "
        f"{BETTER_BY}\n"
    )
    print("| scenario | training positives | rule | not none | a resampler | the better one |")
    print("|---|---:|---|---:|---:|---:|")
    for scenario, (better, tau_plain, tau_resampler) in SCENARIOS.items():
        for positives in POSITIVES:
            picks: dict[str, list[str]] = {"product": [], "previous": []}
            for _ in range(draws):
                table = table_of(fold_pr_aucs(rng, positives, better, tau_plain, tau_resampler))
                picks["product"].append(selection.select_strategy(table)[0])
                picks["previous"].append(previous_rule(table))
            for rule, chosen in picks.items():
                not_none = sum(c != "none" for c in chosen)
                resampler = sum(LADDER.index(c) in RESAMPLERS for c in chosen)
                found = (
                    rate(sum(c == LADDER[better] for c in chosen), draws)
                    if better is not None
                    else "n/a"
                )
                print(
                    f"| {scenario} | {positives} | {rule} | {rate(not_none, draws)} | "
                    f"{rate(resampler, draws)} | {found} |"
                )
    print(f"\n{time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
