"""Coverage of every 95 % interval the report prints, at the holdout sizes users have.

Run from the project root with the project's virtualenv:

    .venv/bin/python benchmarks/statistics_intervals.py            # 1,000 holdouts per cell
    .venv/bin/python benchmarks/statistics_intervals.py --quick    # 60, a few cells: seconds

Populations are binormal: negatives score N(0, 1), positives N(mu, 1). A fixed model is scored
on fresh stratified holdouts (exactly `positives` positives, the rest negatives at the stated
prevalence), and each interval is checked against the population value: PR-AUC by numerical
integration of precision over recall, ROC-AUC = Phi(mu / sqrt 2), and the threshold figures
from the population recall and false-positive rate at the holdout's prevalence. Models: `weak`
(mu set so that population PR-AUC is 3x the prevalence), `strong` (mu = 2.5) and `near-perfect`
(mu = 4). Thresholds: `tuned` (the population-F1 optimum) and `few flags` (flag rate a quarter
of the prevalence). Every holdout goes through `metrics.bootstrap_intervals`, the function the
report calls, at the tuned threshold; the few-flags figures through `intervals.
threshold_intervals`, which it calls for them. The paired table checks `metrics.
paired_bootstrap` (model minus baseline, correlated scores) for the PR-AUC and F1 differences.

Each cell prints coverage and, in brackets, the % of holdouts whose interval lies above the
truth / below it (the one-sided misses; 2.5 / 2.5 is ideal). With 1,000 holdouts a coverage's
Monte Carlo standard error is about 0.7 points.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import integrate, optimize, stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imbal_pipeline.core.stats import intervals, metrics  # noqa: E402

BETA = 2.0
RANK = ("pr_auc", "roc_auc")
THRESHOLD = ("f1", "fbeta", "mcc", "recall", "precision", "flag_rate", "specificity")
HEADERS = {
    "pr_auc": "PR-AUC",
    "roc_auc": "ROC-AUC",
    "f1": "F1",
    "fbeta": "F2",
    "mcc": "MCC",
    "recall": "recall",
    "precision": "precision",
    "flag_rate": "flag rate",
    "specificity": "specificity",
}


def population_ap(mu: float, prevalence: float) -> float:
    """Average precision of the population: the integral of precision over recall."""

    def integrand(t):
        hit, alarm = prevalence * stats.norm.sf(t - mu), (1 - prevalence) * stats.norm.sf(t)
        return stats.norm.pdf(t - mu) * hit / (hit + alarm)

    return integrate.quad(integrand, mu - 12, mu + 12, limit=400)[0]


def population_figures(recall: float, fpr: float, prevalence: float) -> dict[str, float]:
    """The threshold figures of the population, written out independently of the library."""
    tp, fp = prevalence * recall, (1 - prevalence) * fpr
    fn, tn = prevalence - tp, 1 - prevalence - fp
    b2 = BETA * BETA
    return {
        "recall": recall,
        "specificity": 1 - fpr,
        "precision": tp / (tp + fp),
        "flag_rate": tp + fp,
        "f1": 2 * tp / (2 * tp + fn + fp),
        "fbeta": (1 + b2) * tp / ((1 + b2) * tp + b2 * fn + fp),
        "mcc": (tp * tn - fp * fn) / np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)),
    }


def weak_mu(prevalence: float) -> float:
    return optimize.brentq(lambda m: population_ap(m, prevalence) - 3 * prevalence, 0.01, 3)


def thresholds(mu: float, prevalence: float) -> dict[str, float]:
    grid = np.linspace(-2, mu + 4, 4001)
    recall, fpr = stats.norm.sf(grid - mu), stats.norm.sf(grid)
    f1 = 2 * prevalence * recall / (prevalence * recall + prevalence + (1 - prevalence) * fpr)
    rate = lambda t: prevalence * stats.norm.sf(t - mu) + (1 - prevalence) * stats.norm.sf(t)  # noqa: E731
    few = optimize.brentq(lambda t: rate(t) - prevalence / 4, -5, mu + 12)
    return {"tuned": float(grid[np.argmax(f1)]), "few flags": few}


class Tally:
    """Covered, truth below the interval, truth above it: per figure."""

    def __init__(self):
        self.counts: dict[str, np.ndarray] = {}

    def add(self, name: str, low, high, truth: float) -> None:
        low, high = np.atleast_1d(low), np.atleast_1d(high)
        c = self.counts.setdefault(name, np.zeros(4))
        inside = np.sum((low <= truth) & (truth <= high))
        c += [inside, np.sum(truth < low), np.sum(truth > high), len(low)]

    def cell(self, name: str) -> str:
        covered, under, over, n = self.counts[name]
        return f"{covered / n:.3f} ({100 * under / n:.1f}/{100 * over / n:.1f})"

    def coverage(self, name: str) -> float:
        return self.counts[name][0] / self.counts[name][3]


def run_cell(mu, positives, prevalence, draws, seed) -> tuple[Tally, dict[str, Tally], dict]:
    """Intervals of `draws` holdouts of one model: rank figures and both thresholds."""
    negatives = int(round(positives / prevalence)) - positives
    share = positives / (positives + negatives)
    rng = np.random.default_rng(seed)
    cuts = thresholds(mu, share)
    truth = {"pr_auc": population_ap(mu, share), "roc_auc": stats.norm.cdf(mu / np.sqrt(2))}
    rank, by_threshold = Tally(), {name: Tally() for name in cuts}
    truths = {
        name: population_figures(stats.norm.sf(t - mu), stats.norm.sf(t), share)
        for name, t in cuts.items()
    }
    y = np.r_[np.ones(positives, int), np.zeros(negatives, int)]
    counts = {name: ([], []) for name in cuts}
    for draw in range(draws):
        scores = np.r_[rng.normal(mu, 1, positives), rng.normal(0, 1, negatives)]
        ci = metrics.bootstrap_intervals(y, scores, cuts["tuned"], BETA, seed=draw)
        for name in RANK:
            rank.add(name, ci[name]["ci_low"], ci[name]["ci_high"], truth[name])
        for name in THRESHOLD:
            by_threshold["tuned"].add(
                name, ci[name]["ci_low"], ci[name]["ci_high"], truths["tuned"][name]
            )
        flagged = scores >= cuts["few flags"]
        counts["few flags"][0].append(np.sum(flagged[:positives]))
        counts["few flags"][1].append(np.sum(flagged[positives:]))
    tp, fp = (np.array(c) for c in counts["few flags"])
    few = intervals.threshold_intervals(tp, fp, positives, negatives, BETA, rng=rng)
    for name in THRESHOLD:
        by_threshold["few flags"].add(name, *few[name], truths["few flags"][name])
    return rank, by_threshold, {"truth": truth, "thresholds": truths}


def run_paired(cell, draws, seed, rho=0.7) -> Tally:
    """Model (mu_a) minus a weaker baseline (mu_b) on the same rows, scores correlated `rho`."""
    (mu_a, mu_b), positives, prevalence = cell
    negatives = int(round(positives / prevalence)) - positives
    share = positives / (positives + negatives)
    t_a = thresholds(mu_a, share)["tuned"]
    t_b = thresholds(mu_b, share)["few flags"]  # the baseline at 0.5 flags few rows
    truth = {
        "pr_auc": population_ap(mu_a, share) - population_ap(mu_b, share),
        "f1": population_figures(stats.norm.sf(t_a - mu_a), stats.norm.sf(t_a), share)["f1"]
        - population_figures(stats.norm.sf(t_b - mu_b), stats.norm.sf(t_b), share)["f1"],
    }
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(positives, int), np.zeros(negatives, int)]
    tally = Tally()
    n = positives + negatives
    for draw in range(draws):
        shared = rng.normal(0, 1, n)
        a = rho * shared + np.sqrt(1 - rho * rho) * rng.normal(0, 1, n) + mu_a * y
        b = rho * shared + np.sqrt(1 - rho * rho) * rng.normal(0, 1, n) + mu_b * y
        out = metrics.paired_bootstrap(y, a, b, t_a, t_b, BETA, seed=draw)
        for name in truth:
            tally.add(name, out[name]["ci_low"], out[name]["ci_high"], truth[name])
    return tally


def _sizes(quick: bool) -> list[tuple[int, float]]:
    if quick:
        return [(10, 0.03), (60, 0.03)]
    sizes = [(n, p) for n in (5, 10, 20, 30, 60, 150) for p in (0.01, 0.03)]
    return [*sizes, (60, 0.003)]


def single_tables(models: dict, sizes, draws: int, seed: int, worst: dict) -> None:
    """The rank figures' table and the threshold figures' table, one row per cell."""
    rank_rows, threshold_rows = [], []
    for model, mu in models.items():
        for index, (positives, prevalence) in enumerate(sizes):
            m = weak_mu(prevalence) if mu is None else mu
            cell_seed = seed * 1000 + index + 100 * list(models).index(model)
            rank, by_threshold, facts = run_cell(m, positives, prevalence, draws, cell_seed)
            where = f"| {model} | {positives} | {100 * prevalence:g} % |"
            rank_rows.append(
                f"{where} {facts['truth']['pr_auc']:.3f} | "
                + " | ".join(rank.cell(n) for n in RANK)
                + " |"
            )
            for name in RANK:
                worst.setdefault(positives, []).append((rank.coverage(name), name, where))
            for name, tally in by_threshold.items():
                values = facts["thresholds"][name]
                threshold_rows.append(
                    f"{where} {name} | {values['f1']:.3f} | {values['recall']:.3f} | "
                    + " | ".join(tally.cell(n) for n in THRESHOLD)
                    + " |"
                )
                for figure in THRESHOLD:
                    label = f"{figure} ({name})"
                    worst[positives].append((tally.coverage(figure), label, where))
    print("| model | positives | prevalence | population PR-AUC | PR-AUC | ROC-AUC |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rank_rows) + "\n")
    head = ["model", "positives", "prevalence", "threshold", "population F1", "population recall"]
    print("| " + " | ".join(head + [HEADERS[n] for n in THRESHOLD]) + " |")
    print("|" + "---|" * (len(head) + len(THRESHOLD)))
    print("\n".join(threshold_rows) + "\n")


def paired_table(sizes, draws: int, seed: int, worst: dict) -> None:
    """The paired differences' table (model minus baseline)."""
    pairs = {
        "weak vs weaker": lambda prevalence: (weak_mu(prevalence), 0.6 * weak_mu(prevalence)),
        "strong vs weak": lambda prevalence: (2.5, 1.5),
    }
    print("| model minus baseline | positives | prevalence | PR-AUC difference | F1 difference |")
    print("|---|---|---|---|---|")
    for label, pair in pairs.items():
        for index, (positives, prevalence) in enumerate(s for s in sizes if s[0] in (10, 60, 150)):
            tally = run_paired((pair(prevalence), positives, prevalence), draws, seed + index)
            where = f"| {label} | {positives} | {100 * prevalence:g} % |"
            print(f"{where} {tally.cell('pr_auc')} | {tally.cell('f1')} |")
            for name in ("pr_auc", "f1"):
                worst.setdefault(positives, []).append(
                    (tally.coverage(name), f"{name} difference", where)
                )
    print()


def summary(worst: dict) -> None:
    """Per holdout size: the lowest and highest coverage of any interval, and how many of the
    cells' intervals lie outside 93-97 %."""
    print("| positives | intervals | below 93 % | above 97 % | lowest | highest |")
    print("|---|---|---|---|---|---|")
    for positives in sorted(worst):
        found = sorted(worst[positives])
        low, high = found[0], found[-1]
        below = sum(c < 0.93 for c, _, _ in found)
        above = sum(c > 0.97 for c, _, _ in found)
        print(
            f"| {positives} | {len(found)} | {below} | {above} | {low[0]:.3f} {low[1]} "
            f"{low[2].strip('| ').replace(' | ', ', ')} | {high[0]:.3f} {high[1]} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="60 holdouts, few cells: seconds")
    parser.add_argument("--draws", type=int, default=None, help="holdouts per cell")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    draws = args.draws or (60 if args.quick else 1000)
    sizes = _sizes(args.quick)
    models = {"weak": None, "strong": 2.5, "near-perfect": 4.0}
    if args.quick:
        models.pop("near-perfect")
    start = time.perf_counter()
    print(f"{draws} holdouts per cell; coverage (% truth below / above the interval)\n")
    worst: dict[int, list] = {}
    single_tables(models, sizes, draws, args.seed, worst)
    paired_table(sizes[:1] if args.quick else sizes, draws, args.seed * 1000, worst)
    summary(worst)
    print(f"\n{time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
