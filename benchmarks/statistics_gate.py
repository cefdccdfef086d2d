"""The quality gate at few positives: how often it passes a model with no skill, a weak one and a
strong one, and what the threshold's fallback does. Scores only, from known populations: no fits.

Run from the project root with the project's virtualenv:

    nice -n 10 .venv/bin/python benchmarks/statistics_gate.py            # 1,000 draws per cell
    .venv/bin/python benchmarks/statistics_gate.py --quick               # 40 draws, seconds

Populations are binormal: a latent score N(0, 1) for negatives and N(d, 1) for positives, shown
as the calibrated probability an unweighted model would give (sigmoid(logit(prevalence) + d x -
d^2/2)), so that 0.5 flags almost nothing, as on the real 1:82 table. No skill: d = 0 (the scale
of d = 1, labels independent of scores); weak: d such that the population PR-AUC is 3x the
prevalence; strong: population PR-AUC 0.5. Each draw is a holdout with exactly P positives at the
cell's prevalence and an independent out-of-fold-like draw four times its size (a 20 % holdout)
in five stratified folds, on which the product's rule (`threshold.tune_per_fold`, F1) picks the
threshold. A second threshold flags few rows: a quarter as many as there are positives, on
average (the population quantile).

Measured per cell (Wilson 95 % intervals): the pass rate of the ranking test (the product's PR-AUC
permutation test, and a rank-sum permutation test on the same placements for comparison), the
decisions test, and the whole gate (both) at each threshold. The fallback table compares, over
the draws where the tuned threshold did not earn its place, the holdout F1 of the old fallback
(0.5), the product's rule and the out-of-fold positive-rate threshold, on the calibrated scale
and on a class-weighted one (odds times (1 - prevalence) / prevalence, where 0.5 flags rows).
"""

import argparse
import functools
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import expit, logit
from scipy.stats import norm, rankdata

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imbal_pipeline.core.settings import Settings  # noqa: E402
from imbal_pipeline.core.stats import skill  # noqa: E402
from imbal_pipeline.core.train import threshold  # noqa: E402

F1 = Settings(objective="f1")
FOLDS = 5
# (holdout positives, prevalence): the sizes users have, and one cell at 0.3 %.
CELLS = ((5, 0.012), (10, 0.033), (10, 0.003), (60, 0.02), (150, 0.01))
POWER_CURVE = (5, 10, 20, 30, 45, 60, 100)  # holdout positives at 2 %, weak model
TOP_SHARE = 0.25  # the top-heavy weak model: a quarter of its positives stand out


@dataclass(frozen=True)
class Population:
    """Binormal scores at `prevalence`, shown on a calibrated (or class-weighted) scale."""

    prevalence: float
    d: float  # separation of the positives' latent scores; 0 = no skill
    weighted: bool = False
    share: float = 1.0  # of the positives that are separated; the rest look like negatives

    def scores(self, latent: np.ndarray) -> np.ndarray:
        c = self.d if self.d > 0 else 1.0
        offset = 0.0 if self.weighted else logit(self.prevalence)
        return expit(offset + c * latent - c * c / 2)

    def draw(self, positives: int, negatives: int, rng) -> tuple[np.ndarray, np.ndarray]:
        y = np.r_[np.ones(positives, int), np.zeros(negatives, int)]
        separated = y * (rng.random(len(y)) < self.share)
        latent = rng.standard_normal(len(y)) + self.d * separated
        return y, self.scores(latent)

    def quantile_flagging(self, rate: float) -> float:
        """The score above which the population flags `rate` of its rows."""
        grid = np.linspace(-8, self.d + 8, 20001)
        tpr = self.share * norm.sf(grid - self.d) + (1 - self.share) * norm.sf(grid)
        flagged = self.prevalence * tpr + (1 - self.prevalence) * norm.sf(grid)
        return float(self.scores(np.interp(rate, flagged[::-1], grid[::-1])))


def population_pr_auc(d: float, prevalence: float, share: float = 1.0) -> float:
    """Average precision of the population: the integral of precision over recall."""
    t = np.linspace(-10, d + 10, 40001)
    tpr = share * norm.sf(t - d) + (1 - share) * norm.sf(t)
    fpr = norm.sf(t)
    density = share * norm.pdf(t - d) + (1 - share) * norm.pdf(t)
    precision = prevalence * tpr / np.maximum(prevalence * tpr + (1 - prevalence) * fpr, 1e-300)
    return float(np.trapezoid(precision * density, t))


def separation_for(pr_auc: float, prevalence: float, share: float = 1.0) -> float:
    lo, hi = 0.0, 12.0
    for _ in range(50):
        mid = (lo + hi) / 2
        below = population_pr_auc(mid, prevalence, share) < pr_auc
        lo, hi = (mid, hi) if below else (lo, mid)
    return (lo + hi) / 2


@functools.cache
def models(prevalence: float) -> dict[str, Population]:
    """No skill, two weak models (population PR-AUC 3x the prevalence: every positive a little
    above the negatives, or a quarter of them well above and the rest among them) and a strong
    one (population PR-AUC 0.5)."""
    top = separation_for(3 * prevalence, prevalence, TOP_SHARE)
    return {
        "no skill": Population(prevalence, 0.0),
        "weak (3x)": Population(prevalence, separation_for(3 * prevalence, prevalence)),
        "weak, top-heavy (3x)": Population(prevalence, top, share=TOP_SHARE),
        "strong (0.5)": Population(prevalence, separation_for(0.5, prevalence)),
    }


def rank_sum_p(y: np.ndarray, scores: np.ndarray, permutations: int, rng) -> float:
    """One-sided rank-sum (Mann-Whitney) permutation test, on the product's placements."""
    order = np.argsort(-scores, kind="mergesort")
    midrank = rankdata(-scores[order])  # ties share their average rank
    k = int(y.sum())
    observed = midrank[np.flatnonzero(y[order] == 1)].sum()
    null = midrank[skill.placements(len(y), k, permutations, rng)].sum(axis=1)
    return (1 + int(np.sum(null <= observed + 1e-9))) / (1 + permutations)


def oof_threshold(population: Population, positives: int, negatives: int, rng) -> dict:
    """The product's threshold on an out-of-fold-like draw four times the holdout's size."""
    y, s = population.draw(4 * positives, 4 * negatives, rng)
    folds = np.empty(len(y), int)
    for label in (0, 1):  # stratified: each class dealt round-robin over a shuffled order
        rows = rng.permutation(np.flatnonzero(y == label))
        folds[rows] = np.arange(len(rows)) % FOLDS
    tuned = threshold.tune_per_fold(y, s, folds, np.arange(len(y)), F1)
    tuned["rate_matched"] = float(np.sort(s)[-int(y.sum())])
    tuned["half_flags_oof"] = bool(np.any(s >= 0.5))
    return tuned


def f1_at(y: np.ndarray, scores: np.ndarray, t: float) -> float:
    flagged = scores >= t
    tp = int(np.sum(flagged & (y == 1)))
    return 2 * tp / max(int(flagged.sum()) + int(y.sum()), 1)


def one_draw(population: Population, positives: int, prevalence: float, rng, perms: int) -> dict:
    negatives = round(positives * (1 - prevalence) / prevalence)
    y, s = population.draw(positives, negatives, rng)
    tuned = oof_threshold(population, positives, negatives, rng)
    few = population.quantile_flagging(prevalence / 4)
    seed = int(rng.integers(2**31))
    ranking = skill.ranking_test(y, s, permutations=perms, seed=seed)["p_value"]
    return {
        "ranking": ranking,
        "rank_sum": rank_sum_p(y, s, perms, rng),
        "decisions": skill.decisions_test(y, s >= tuned["value"])["p_value"],
        "decisions_few": skill.decisions_test(y, s >= few)["p_value"],
        "flags_none": not np.any(s >= tuned["value"]),
    }


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def rate(passed: np.ndarray) -> str:
    k, n = int(passed.sum()), len(passed)
    lo, hi = wilson(k, n)
    return f"{100 * k / n:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"


def gate_row(draws: list[dict]) -> list[str]:
    a = skill.ALPHA
    column = {key: np.array([d[key] for d in draws]) for key in draws[0]}
    return [
        rate(column["ranking"] <= a),
        rate(column["rank_sum"] <= a),
        rate(column["decisions"] <= a),
        rate((column["ranking"] <= a) & (column["decisions"] <= a)),
        rate((column["ranking"] <= a) & (column["decisions_few"] <= a)),
        f"{100 * column['flags_none'].mean():.1f}",
    ]


GATE_HEADER = (
    "| holdout positives | rows | prevalence | model | ranking: PR-AUC permutation | "
    "ranking: rank-sum permutation | decisions (product threshold) | whole gate (product "
    "threshold) | whole gate (few-flag threshold) | product threshold flags no row (%) |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)


def gate_table(draws_per_cell: int, perms: int, rng) -> None:
    print("Pass rate of each part of the gate, % [Wilson 95 % CI], at alpha = 0.05 one-sided")
    print(GATE_HEADER)
    for positives, prevalence in CELLS:
        rows = positives + round(positives * (1 - prevalence) / prevalence)
        for name, population in models(prevalence).items():
            draws = [
                one_draw(population, positives, prevalence, rng, perms)
                for _ in range(draws_per_cell)
            ]
            cells = " | ".join(gate_row(draws))
            print(f"| {positives} | {rows:,} | {100 * prevalence:.1f} % | {name} | {cells} |")


def power_curve(draws_per_cell: int, perms: int, rng) -> None:
    """The whole gate's pass rate for both weak models by holdout size: where it reaches 80 %
    is where `skill.FEW_POSITIVES` stops calling a holdout too small for a verdict."""
    prevalence = 0.02
    weak = {k: v for k, v in models(prevalence).items() if k.startswith("weak")}
    print("\nWeak models (population PR-AUC 3x the prevalence) at 2 %: whole-gate pass rate")
    print("| holdout positives | rows | " + " | ".join(weak) + " |")
    print("|---|---|" + "---|" * len(weak))
    for positives in POWER_CURVE:
        rates = []
        for population in weak.values():
            draws = [
                one_draw(population, positives, prevalence, rng, perms)
                for _ in range(draws_per_cell)
            ]
            rates.append(gate_row(draws)[3])
        rows = positives + round(positives * (1 - prevalence) / prevalence)
        print(f"| {positives} | {rows:,} | " + " | ".join(rates) + " |")
    print(f"(the product calls fewer than {skill.FEW_POSITIVES} holdout positives too few)")


def fallback_table(draws_per_cell: int, rng) -> None:
    print("\nThe threshold's fallback, over the draws where the tuned one did not beat 0.5 beyond")
    print("one corrected SE: mean holdout F1 of each rule (the product's is the deployed one)")
    print(
        "| scale | holdout positives | prevalence | model | draws falling back (%) | 0.5 flags "
        "no out-of-fold row (%) | F1 at 0.5 (old rule) | F1, product's rule | F1, out-of-fold "
        "positive rate | F1, tuned median |\n|---|---|---|---|---|---|---|---|---|---|"
    )
    for weighted in (False, True):
        for positives, prevalence in CELLS:
            negatives = round(positives * (1 - prevalence) / prevalence)
            for name, base in models(prevalence).items():
                if base.d == 0:
                    continue
                population = Population(prevalence, base.d, weighted, base.share)
                out = []
                for _ in range(draws_per_cell):
                    tuned = oof_threshold(population, positives, negatives, rng)
                    if tuned["fallback"] is None:
                        continue
                    y, s = population.draw(positives, negatives, rng)
                    out.append(
                        (
                            not tuned["half_flags_oof"],
                            f1_at(y, s, 0.5),
                            f1_at(y, s, tuned["value"]),
                            f1_at(y, s, tuned["rate_matched"]),
                            f1_at(y, s, tuned["tuned_median"]),
                        )
                    )
                share = f"{100 * len(out) / draws_per_cell:.1f}"
                if not out:
                    figures = " | ".join(["-"] * 5)
                else:
                    a = np.array(out, dtype=float)
                    figures = f"{100 * a[:, 0].mean():.1f} | " + " | ".join(
                        f"{v:.3f}" for v in a[:, 1:].mean(axis=0)
                    )
                print(
                    f"| {'weighted' if weighted else 'calibrated'} | {positives} | "
                    f"{100 * prevalence:.1f} % | {name} | {share} | {figures} |"
                )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="40 draws per cell, 499 permutations")
    parser.add_argument("--draws", type=int, default=1000, help="draws per cell")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    draws, perms = (40, 499) if args.quick else (args.draws, skill.PERMUTATIONS)
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    print(f"{draws} draws per cell, {perms} permutations per ranking test\n")
    gate_table(draws, perms, rng)
    power_curve(draws, perms, rng)
    fallback_table(draws, rng)
    print(f"\n{time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
