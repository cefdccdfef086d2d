"""Promotion at few positives: how often the product's rule refuses a challenger as good as the
champion, and how often it promotes one that is clearly worse. Scores only, from known
populations: no fits.

Run from the project root with the project's virtualenv:

    nice -n 10 .venv/bin/python benchmarks/statistics_promotion.py       # 1,000 draws per cell
    .venv/bin/python benchmarks/statistics_promotion.py --quick          # 40 draws, seconds

Each draw is one set of shared rows (rows neither model trained on) with exactly P positives at
the cell's prevalence, scored by both models. Scores are binormal latents: a row's score is
d x label + sqrt(rho) z + sqrt(1 - rho) e, with z shared by the two models (two retrainings on
overlapping data rank rows alike; rho is their correlation on a class) and e each model's own.
The champion's separation d gives a population PR-AUC of `CHAMPION_PR_AUC`; an equal challenger
has the same d, a clearly worse one the d whose population PR-AUC is `WORSE_BY` lower. Each
model flags the rows above its population's quantile at `FLAG_RATE` times the prevalence (its
own threshold). Every draw goes through `promotion.judge`, the product's rule; the verdicts at
other margins reuse its figures (`promotion.at_margin`).

Reported per cell (Wilson 95 % intervals): the share of draws promoted, refused as worse and
left undecided (the champion stays in both), for an equal and for a worse challenger; and the
share a McNemar test on the false alarms would have refused (more false alarms, p < 0.05,
without significantly more catches), which the product shows but does not refuse on.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.special import expit, logit
from scipy.stats import norm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imbal_pipeline.core.monitor import promotion  # noqa: E402
from imbal_pipeline.core.monitor.monitoring import wilson_interval  # noqa: E402
from imbal_pipeline.core.settings import Settings  # noqa: E402
from imbal_pipeline.core.train import threshold  # noqa: E402

# (shared positives, prevalence, rho): the sizes users have, at a correlation of two retrainings
# on overlapping data; then how the correlation and the prevalence move the rates.
CELLS = (
    (5, 0.01, 0.8),
    (10, 0.01, 0.8),
    (60, 0.01, 0.8),
    (150, 0.01, 0.8),
    (60, 0.01, 0.95),
    (60, 0.01, 0.5),
    (60, 0.05, 0.8),
)
CHAMPION_PR_AUC = 0.5
WORSE_BY = 0.10
F1 = Settings(objective="f1")
FOLDS = 5
MARGINS = tuple(sorted({Settings().promotion_margin, 0.02, 0.05}))


def population_pr_auc(d: float, prevalence: float) -> float:
    """Average precision of a binormal population: the integral of precision over recall."""
    t = np.linspace(-10, d + 10, 40001)
    tpr, fpr = norm.sf(t - d), norm.sf(t)
    precision = prevalence * tpr / np.maximum(prevalence * tpr + (1 - prevalence) * fpr, 1e-300)
    return float(np.trapezoid(precision * norm.pdf(t - d), t))


def separation_for(pr_auc: float, prevalence: float) -> float:
    lo, hi = 0.0, 12.0
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if population_pr_auc(mid, prevalence) < pr_auc else (lo, mid)
    return (lo + hi) / 2


def calibrated(latent: np.ndarray, d: float, prevalence: float) -> np.ndarray:
    """The probability a model of separation d gives a row of this latent score."""
    return expit(logit(prevalence) + d * latent - d * d / 2)


def tuned_threshold(d: float, positives: int, negatives: int, prevalence: float, rng) -> float:
    """The product's threshold for a model of separation d, tuned on its out-of-fold scores."""
    y = np.r_[np.ones(4 * positives, int), np.zeros(4 * negatives, int)]
    scores = calibrated(d * y + rng.standard_normal(len(y)), d, prevalence)
    folds = np.empty(len(y), int)
    for label in (0, 1):  # stratified: each class dealt round-robin over a shuffled order
        rows = rng.permutation(np.flatnonzero(y == label))
        folds[rows] = np.arange(len(rows)) % FOLDS
    return threshold.tune_per_fold(y, scores, folds, np.arange(len(y)), F1)["value"]


def draw(positives, negatives, d_a, d_b, rho, prevalence, rng):
    y = np.r_[np.ones(positives, int), np.zeros(negatives, int)]
    shared = np.sqrt(rho) * rng.standard_normal(len(y))
    a = d_a * y + shared + np.sqrt(1 - rho) * rng.standard_normal(len(y))
    b = d_b * y + shared + np.sqrt(1 - rho) * rng.standard_normal(len(y))
    return y, calibrated(a, d_a, prevalence), calibrated(b, d_b, prevalence)


def share(k: int, n: int) -> str:
    """Percent with its Wilson 95 % interval."""
    low, high = wilson_interval(k, n, 0.95)
    return f"{100 * k / n:.1f} ({100 * low:.1f}-{100 * high:.1f})"


def rates(verdicts: list[str]) -> str:
    """Promoted, refused as worse, undecided."""
    kinds = (promotion.PROMOTE, promotion.WORSE, promotion.UNDECIDED)
    return " | ".join(share(sum(v == kind for v in verdicts), len(verdicts)) for kind in kinds)


def false_alarm_refusals(judged: list) -> int:
    """Draws a McNemar test on the false alarms alone would have refused."""
    return sum(
        j.decisions is not None
        and j.decisions.p_more_false < promotion.ALPHA
        and j.decisions.p_catches_more >= promotion.ALPHA
        for j in judged
    )


def cell(positives: int, prevalence: float, rho: float, draws: int, n_boot: int, rng) -> None:
    """One size: an equal and a worse challenger, judged at every margin."""
    negatives = round(positives * (1 - prevalence) / prevalence)
    d_a = separation_for(CHAMPION_PR_AUC, prevalence)
    d_worse = separation_for(CHAMPION_PR_AUC - WORSE_BY, prevalence)
    below = positives < promotion.MIN_POSITIVES
    for name, d_b in (("equal", d_a), (f"{WORSE_BY:.2f} worse", d_worse)):
        judged, unguarded = [], []
        for i in range(draws):
            t_a = tuned_threshold(d_a, positives, negatives, prevalence, rng)
            t_b = tuned_threshold(d_b, positives, negatives, prevalence, rng)
            y, a, b = draw(positives, negatives, d_a, d_b, rho, prevalence, rng)
            judged.append(promotion.judge(y, a, t_a, b, t_b, MARGINS[0], seed=i, n_boot=n_boot))
            if below:  # what the rule would say without its minimum, which it then justifies
                unguarded.append(
                    promotion.judge(y, a, t_a, b, t_b, MARGINS[0], seed=i, n_boot=n_boot, least=1)
                )
        for margin in MARGINS:
            rows = [("", judged)] + ([(" (no minimum)", unguarded)] if below else [])
            for note, found in rows:
                verdicts = [promotion.at_margin(j, margin).verdict for j in found]
                print(
                    f"| {positives}{note} | {positives + negatives:,} | {rho} | {name} | "
                    f"{margin} | {rates(verdicts)} | "
                    f"{share(false_alarm_refusals(found), len(found))} |",
                    flush=True,
                )


def table(draws: int, n_boot: int, rng) -> None:
    print(
        "| shared positives | rows | rho | challenger | margin | promoted % | refused as worse % "
        "| undecided % | a test on false alarms would refuse % |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    for positives, prevalence, rho in CELLS:
        cell(positives, prevalence, rho, draws, n_boot, rng)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="40 draws per cell, 200 bootstrap replicates"
    )
    parser.add_argument("--draws", type=int, default=1000, help="draws per cell")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    draws, n_boot = (40, 200) if args.quick else (args.draws, promotion.REPLICATES)
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    print(
        f"{draws} draws per cell; champion population PR-AUC {CHAMPION_PR_AUC}, a worse "
        f"challenger's {CHAMPION_PR_AUC - WORSE_BY:.2f}; {n_boot} bootstrap "
        f"replicates, at least {promotion.MIN_POSITIVES} shared positives to decide\n"
    )
    table(draws, n_boot, rng)
    print(f"\n{time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
