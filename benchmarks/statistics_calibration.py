"""Calibration that earns its place: how often the rule applies a map that hurts or one that
helps, and how the holdout's Brier interval and ECE noise level hold, at 10, 60 and 150 positives.

Run from the project root with the project's virtualenv (about 10 minutes on 2 cores):

    nice -n 10 .venv/bin/python benchmarks/statistics_calibration.py            # 1,000 draws
    .venv/bin/python benchmarks/statistics_calibration.py --quick               # seconds

No model is fitted: scores come from known populations. True probabilities p ~ Beta(0.6, 19.4)
(3 % positives); a model's raw score is p pushed the way imbalance handling pushes it:

- calibrated: the score is p itself. The identity is then the best map, so every fitted map
  hurts and applying one is always an error.
- mild: the odds times 1.65 (logit + 0.5), a small shift a map may or may not repair.
- weighted: the odds times 33, as `scale_pos_weight` does at 1:33.

Each draw has positives / 0.03 rows, labels y ~ Bernoulli(p), five stratified folds, and
`calibration.fit_calibrator` decides. Whether applying its candidate helps is read off a
population of 200,000 (p, score) pairs: the candidate map refitted on the draw's rows changes
the Brier score by E[(map(s) - p)^2] - E[(s - p)^2]. A fresh holdout of the same size then
checks the report's figures for what `predict_proba` returns (the map if applied, else the
raw scores): does the Brier interval hold the population Brier, and does the ECE exceed its
noise level (in the calibrated population, a false alarm)?
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imbal_pipeline.core.train import calibration  # noqa: E402

PREVALENCE = 0.03
BETA = (0.6, 19.4)  # mean 0.03
SHIFTS = {"calibrated": 0.0, "mild": 0.5, "weighted": float(np.log(1 / PREVALENCE - 1))}
POSITIVES = (10, 60, 150)
POPULATION = 200_000


def pushed(p: np.ndarray, shift: float) -> np.ndarray:
    """Scores whose log-odds are the true log-odds plus `shift`."""
    return 1 / (1 + np.exp(-(np.log(p / (1 - p)) + shift)))


def draw(rng: np.random.Generator, rows: int, shift: float):
    p = rng.beta(*BETA, rows)
    return p, (rng.random(rows) < p).astype(int), pushed(p, shift)


def stratified_folds(rng: np.random.Generator, y: np.ndarray, k: int = 5) -> np.ndarray:
    folds = np.empty(len(y), dtype=int)
    for label in (0, 1):
        rows = rng.permutation(np.flatnonzero(y == label))
        folds[rows] = np.arange(len(rows)) % k
    return folds


def cell(shift: float, positives: int, draws: int, seed: int) -> dict:
    """One population and size: the rule's decisions and the holdout figures over `draws`."""
    rng = np.random.default_rng(seed)
    pop_p = rng.beta(*BETA, POPULATION)
    pop_s = pushed(pop_p, shift)
    noise = float(np.mean(pop_p * (1 - pop_p)))  # the Brier score's irreducible part
    raw_excess = float(np.mean((pop_s - pop_p) ** 2))
    rows = round(positives / PREVALENCE)
    out = {k: [] for k in ("positives", "applied", "change", "covered", "ece_alarm")}
    for _ in range(draws):
        _, y, s = draw(rng, rows, shift)
        if y.sum() < 2:  # five folds need positives to cross-fit on; as the pipeline, skip
            continue
        decided = calibration.fit_calibrator(y, s, stratified_folds(rng, y))
        candidate = decided if decided["applied"] else calibration._fit(decided["candidate"], y, s)
        change = float(np.mean((calibration.apply(candidate, pop_s) - pop_p) ** 2)) - raw_excess
        out["positives"].append(int(y.sum()))
        out["applied"].append(decided["applied"])
        out["change"].append(change)
        # The report's figures on a fresh holdout, for what predict_proba returns.
        _, y_h, s_h = draw(rng, rows, shift)
        proba = calibration.apply(decided, s_h)
        truth = noise + raw_excess + (change if decided["applied"] else 0.0)
        figure = calibration.brier_with_interval(y_h, proba)
        out["covered"].append(figure["ci_low"] <= truth <= figure["ci_high"])
        alarm = calibration.ece(y_h, proba) > calibration.ece_noise(
            proba, seed=int(rng.integers(1 << 31))
        )
        out["ece_alarm"].append(alarm)
    return {k: np.asarray(v) for k, v in out.items()}


def rate(hits: np.ndarray) -> str:
    return f"{hits.mean():.1%} ({int(hits.sum())}/{hits.size})" if hits.size else "n/a"


def row(name: str, positives: int, r: dict) -> str:
    hurts = r["change"] > 0
    applied = r["applied"].astype(bool)
    rule = np.where(applied, r["change"], 0.0)
    return (
        f"| {name} | {positives} ({r['positives'].mean():.0f}) | {rate(hurts)} | {rate(applied)} | "
        f"{rate(applied[hurts])} | {rate(applied[~hurts])} | {r['change'].mean():+.5f} | "
        f"{rule.mean():+.5f} | {rate(r['covered'])} | {rate(r['ece_alarm'])} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=1000, help="draws per cell")
    parser.add_argument("--quick", action="store_true", help="30 draws per cell")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    draws = 30 if args.quick else args.draws
    print(
        "| population | positives (mean drawn) | candidate hurts | applied | applied when it "
        "hurts | applied when it helps | Brier change, always applied | Brier change, the "
        "rule | holdout Brier 95 % interval covers | ECE above its noise level |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for i, (name, shift) in enumerate(SHIFTS.items()):
        for j, positives in enumerate(POSITIVES):
            print(row(name, positives, cell(shift, positives, draws, args.seed + 10 * i + j)))
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
