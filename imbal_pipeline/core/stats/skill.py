"""Does the model beat chance on the holdout? Two exact one-sided tests, each with a false-pass
rate of at most `ALPHA` whatever the holdout's size.

- Ranking: a label-permutation test of the holdout PR-AUC. A model with no skill ranks the
  holdout independently of its labels, so every placement of the P positives among the n ranked
  rows is equally likely; one permutation is a random choice of P positions among n, scored as
  sklearn's `average_precision_score` scores the real ones (tied scores share one threshold).
  The p-value `(1 + #{permuted >= observed}) / (1 + B)` is valid for any number B of
  permutations; B only sets its Monte Carlo error.
- Decisions: a one-sided hypergeometric (Fisher) test of the true positives among the rows the
  deployed threshold flags. Flagging f rows at random catches Hypergeometric(n, P, f) positives;
  a model that flags nothing catches none and never passes.

Both condition on the scores, which the holdout's labels did not shape (the threshold is tuned
on out-of-fold scores), so each holds whatever the scores' scale. `benchmarks/statistics_gate.py`
measures both rates and their power (BENCHMARKS.md, "The quality gate at few positives").
"""

from __future__ import annotations

import numpy as np
from scipy.stats import hypergeom

# One-sided level of each test: a model without skill passes each with probability <= ALPHA,
# and the gate (which needs both) with at most that.
ALPHA = 0.05
# Permutations of the ranking test: its p-value's Monte Carlo SE at p = 0.05 is 0.0044.
PERMUTATIONS = 2499
# Below this many holdout positives a weak model (population PR-AUC 3x the positive rate)
# passes the gate less than 4 times in 5 (BENCHMARKS.md): a failure there says "too few
# positives to tell", not "no skill".
FEW_POSITIVES = 60
# How often the whole gate PASSED a weak model (population PR-AUC 3x the positive rate, flat or
# top-heavy), in %, lowest and highest over the measured prevalences, by holdout positives:
# BENCHMARKS.md, "The quality gate at few positives" (its two tables, product threshold),
# measured by `nice -n 10 .venv/bin/python benchmarks/statistics_gate.py`. The one place the
# failed gate's message reads its rate from.
WEAK_MODEL_PASSES: dict[int, tuple[float, float]] = {
    5: (10.9, 18.1),
    10: (20.3, 35.4),
    20: (43.1, 55.7),
    30: (56.3, 70.9),
    45: (75.0, 84.9),
    60: (87.3, 94.9),
    100: (98.2, 99.4),
    150: (98.3, 99.5),
}
# Permuted placements held in memory at once (positions), to bound a large holdout's footprint.
_CHUNK = 2_000_000


def ranked(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows by descending score, and for each rank the number of rows scored at least as high
    (the end of its block of tied scores): the denominator of precision at that rank."""
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="mergesort")
    s = scores[order]
    ends = np.r_[np.flatnonzero(np.diff(s)) + 1, len(s)]  # exclusive end of each tie block
    block = np.repeat(np.arange(len(ends)), np.diff(np.r_[0, ends]))
    return order, ends[block]


def placements(n: int, k: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """`draws` independent uniformly random k-subsets of range(n), each sorted ascending.

    Drawn with replacement, then every repeat drawn again until none is left: relabelling the n
    positions leaves this process unchanged, so every k-subset is equally likely. O(k) per draw;
    above half the rows, the complement is drawn instead.
    """
    if 2 * k > n:
        kept = np.ones((draws, n), dtype=bool)
        kept[np.arange(draws)[:, None], placements(n, n - k, draws, rng)] = False
        return np.nonzero(kept)[1].reshape(draws, k)
    out = rng.integers(0, n, size=(draws, k))
    while True:
        out.sort(axis=1)
        repeat = np.zeros(out.shape, dtype=bool)
        repeat[:, 1:] = out[:, 1:] == out[:, :-1]
        count = int(repeat.sum())
        if not count:
            return out
        out[repeat] = rng.integers(0, n, size=count)


def average_precision_at(positions: np.ndarray, at_least: np.ndarray) -> np.ndarray:
    """Average precision of each row of `positions` (sorted ranks of the positives), as sklearn
    computes it: the mean over positives of precision at their score, where tied rows count
    together (`at_least` from `ranked`)."""
    positions = np.atleast_2d(positions)
    ends = at_least[positions]  # rows scored at least as high as each positive
    k = positions.shape[1]
    # Positives scored at least as high: through the last positive in the same tie block.
    last = np.where(np.diff(ends, axis=1, append=-1) != 0, np.arange(1, k + 1), k + 1)
    caught = np.minimum.accumulate(last[:, ::-1], axis=1)[:, ::-1]
    return (caught / ends).mean(axis=1)


def ranking_test(
    y: np.ndarray, scores: np.ndarray, *, permutations: int = PERMUTATIONS, seed: int = 0
) -> dict | None:
    """One-sided label-permutation test of the holdout PR-AUC; None with one class only."""
    y = np.asarray(y).astype(bool)
    n, k = len(y), int(y.sum())
    if k == 0 or k == n:
        return None
    order, at_least = ranked(scores)
    observed = float(average_precision_at(np.flatnonzero(y[order]), at_least)[0])
    rng = np.random.default_rng(seed)
    null = np.concatenate(
        [
            average_precision_at(placements(n, k, size, rng), at_least)
            for size in _chunks(permutations, k)
        ]
    )
    # Equal values computed by the same arithmetic compare equal; the margin only guards
    # against summation noise, on the conservative side.
    beaten = int(np.sum(null >= observed - 1e-12))
    p = (1 + beaten) / (1 + permutations)
    return {
        "pr_auc": observed,
        "no_skill_mean": float(null.mean()),
        "p_value": p,
        "permutations": permutations,
        "monte_carlo_se": float(np.sqrt(p * (1 - p) / permutations)),
    }


def _chunks(total: int, k: int) -> list[int]:
    size = max(1, _CHUNK // max(k, 1))
    return [min(size, total - start) for start in range(0, total, size)]


def decisions_test(y: np.ndarray, flagged: np.ndarray) -> dict:
    """One-sided exact test: does the threshold catch more positives than flagging as many rows
    at random would?"""
    y, flagged = np.asarray(y).astype(bool), np.asarray(flagged).astype(bool)
    n, positives, f = len(y), int(y.sum()), int(flagged.sum())
    tp = int(np.sum(y & flagged))
    # P(X >= tp) for X ~ Hypergeometric(n rows, `positives` of them positive, f drawn).
    p = float(hypergeom.sf(tp - 1, n, positives, f)) if f else 1.0
    return {
        "flagged": f,
        "true_positives": tp,
        "expected_at_random": f * positives / max(n, 1),
        "p_value": min(p, 1.0),
    }


def holdout_skill(y: np.ndarray, scores: np.ndarray, threshold: float, seed: int = 0) -> dict:
    """Both tests on the holdout, with the level they are read at (report.json's `skill`)."""
    y = np.asarray(y).astype(np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    positives = int(y.sum())
    return {
        "alpha": ALPHA,
        "ranking": ranking_test(y, scores, seed=seed),
        "decisions": decisions_test(y, scores >= threshold),
        "holdout_positives": positives,
        "few_positives_below": FEW_POSITIVES,
        "few_positives": positives < FEW_POSITIVES,
    }


def weak_model_fails(positives: int) -> tuple[int, float, float]:
    """The measured size nearest at or below `positives` (the smallest when below it) and how
    often, in %, a weak model failed the gate there (lowest, highest)."""
    sizes = [size for size in WEAK_MODEL_PASSES if size <= positives] or [min(WEAK_MODEL_PASSES)]
    size = max(sizes)
    low, high = WEAK_MODEL_PASSES[size]
    return size, 100 - high, 100 - low
