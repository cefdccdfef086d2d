"""95 % intervals of the holdout figures, chosen for the few positives a rare class leaves.

Each figure gets the interval whose coverage held best in `benchmarks/statistics_intervals.py`
(binormal populations, 5 to 150 holdout positives; BENCHMARKS.md, "Intervals at few
positives"). At a fixed threshold the holdout's confusion counts are exact binomial draws: its
class counts are fixed by the stratified split, so TP ~ Bin(positives, recall) and
FP ~ Bin(negatives, false-positive rate).

- recall, specificity: Wilson score intervals over the positives and over the negatives, with
  Brown, Cai & DasGupta's modification at 1-3 successes or failures (`rate_interval`). Never
  [1, 1] from 10 of 10 positives, nor [0, 0] from none caught.
- flag rate and balanced accuracy, linear in recall and the false-positive rate: MOVER
  (Newcombe 1998; Zou & Donner 2008) from those two Wilson intervals.
- precision, F1, F-beta, F2, MCC: posterior quantiles of the figure from recall ~ Beta(TP +
  1/2 -+ t, FN + 1/2 +- t) and false-positive rate ~ Beta(FP + 1/2 +- t, TN + 1/2 -+ t): the
  low end (2.5 %) from the pessimistic lean of both, the high end (97.5 %) from the optimistic
  one, t = `TILT` = 1/4, halfway from Jeffreys' posterior (t = 0) to the pair that gives
  Clopper-Pearson's exact bounds (t = 1/2); widened to hold the observed value. A threshold
  that flags few rows no longer collapses to [0, 0]. Precision is read this way too, not as a
  proportion of the flagged rows: their mix of classes varies less than a binomial draw of as
  many rows (the class counts are fixed), and Wilson over them missed one-sidedly up to 8 %.
- PR-AUC: a stratified bootstrap of the holdout, read two ways and the two united: the
  bias-corrected percentile interval expanded for the positives' count (Efron 1981; Hesterberg
  2015), and a Wilson score interval at the effective sample size the bootstrap variance
  implies (as Korn & Graubard 1998 do for proportions). Sample PR-AUC is biased upwards with
  few positives, which the first corrects; the second keeps a near-perfect ranking, whose
  bootstrap has no spread, from a [1, 1] interval (its effective size is then the positives).
- ROC-AUC: Newcombe's (2006) score interval (his method 5).

Below `FEW_POSITIVES` holdout positives most of these intervals covered more than 97 % in the
benchmark (and a few less than 93 %); every figure computed on fewer carries `few_positives`.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, stats

INTERVAL_LEVEL = 0.95
BOOTSTRAP_REPLICATES = 1000
POSTERIOR_DRAWS = 10_000
# From this many holdout positives on, most intervals covered 93-97 % in the benchmark and nearly
# all others more (lowest 0.916); below it most covered more than 97 % (BENCHMARKS.md).
FEW_POSITIVES = 20
_CHUNK_CELLS = 4_000_000  # replicates x groups held at once when resampling rank metrics

# How each interval is computed, as report.json's `holdout_ci.methods` names it.
_POSTERIOR = (
    "posterior of recall and false-positive rate, each end's Beta leaning a quarter of the way "
    "from Jeffreys' to Clopper-Pearson's"
)
METHODS = {
    "recall": "Wilson score over the positives (Brown-Cai-DasGupta modified)",
    "specificity": "Wilson score over the negatives (Brown-Cai-DasGupta modified)",
    "flag_rate": "MOVER from the Wilson intervals of recall and false-positive rate",
    "balanced_accuracy": "MOVER from the Wilson intervals of recall and specificity",
    "precision": _POSTERIOR,
    "f1": _POSTERIOR,
    "fbeta": _POSTERIOR,
    "f2": _POSTERIOR,
    "mcc": _POSTERIOR,
    "pr_auc": "stratified bootstrap: BC percentile expanded for the positives, united with "
    "Wilson at the bootstrap's effective size",
    "roc_auc": "Newcombe's score interval (method 5)",
}


def _z(level: float) -> float:
    return float(stats.norm.ppf(0.5 + level / 2))


def wilson(successes, trials, level: float = INTERVAL_LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of successes/trials, elementwise; [0, 1] where there are no trials."""
    x = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    z = _z(level)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        den = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / den
        half = z * np.sqrt(np.maximum(p * (1 - p), 0) / n + z * z / (4 * n * n)) / den
    empty = n <= 0
    low = np.where(empty, 0.0, np.clip(centre - half, 0.0, 1.0))
    high = np.where(empty, 1.0, np.clip(centre + half, 0.0, 1.0))
    # At x = 0 (x = n) the low (high) end is 0 (1) exactly; rounding may leave a hair beside it.
    return np.where(x <= 0, 0.0, low), np.where(x >= n, 1.0, high)


def rate_interval(successes, trials, level: float = INTERVAL_LEVEL):
    """Wilson's interval with Brown, Cai & DasGupta's (2001) modification, elementwise.

    At 1 or 2 successes (1 to 3 above 50 trials) Wilson's low end sits above small true
    proportions: recall at a threshold that catches 1 of 5 positives covered 0.885 at a
    population recall of 0.02. There the exact one-sided Poisson bound chi2_{2x}(tail) / (2n)
    takes its place, and likewise for the high end at as few failures.
    """
    x = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    low, high = wilson(x, n, level)
    tail = (1 - level) / 2
    few = np.where(n > 50, 3, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        low_poisson = stats.chi2.ppf(tail, 2 * np.maximum(x, 1)) / (2 * n)
        high_poisson = 1 - stats.chi2.ppf(tail, 2 * np.maximum(n - x, 1)) / (2 * n)
    low = np.where((x >= 1) & (x <= few), np.minimum(low, low_poisson), low)
    high = np.where((n - x >= 1) & (n - x <= few), np.maximum(high, high_poisson), high)
    return low, high


def _mover(parts: list[tuple[float | np.ndarray, np.ndarray, np.ndarray, np.ndarray]]):
    """Interval of sum(w * p) from each p's estimate and interval, w >= 0 (MOVER)."""
    point = sum(w * p for w, p, _, _ in parts)
    down = np.sqrt(sum((w * (p - lo)) ** 2 for w, p, lo, _ in parts))
    up = np.sqrt(sum((w * (hi - p)) ** 2 for w, p, _, hi in parts))
    return point - down, point + up


def confusion_figures(tp, fp, n_pos, n_neg, beta: float) -> dict[str, np.ndarray]:
    """Threshold figures from confusion counts or rates (arrays broadcast); 0 where undefined."""
    tp, fp = np.asarray(tp, dtype=np.float64), np.asarray(fp, dtype=np.float64)
    fn, tn = n_pos - tp, n_neg - fp

    def f(b2):
        den = (1 + b2) * tp + b2 * fn + fp
        return np.where(den > 0, (1 + b2) * tp / np.where(den > 0, den, 1), 0.0)

    with np.errstate(divide="ignore", invalid="ignore"):
        den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        return {
            "precision": np.where(tp + fp > 0, tp / (tp + fp), 0.0),
            "recall": np.where(n_pos > 0, tp / n_pos, 0.0),
            "f1": f(1.0),
            "fbeta": f(beta * beta),
            "f2": f(4.0),
            "mcc": np.where(den > 0, (tp * tn - fp * fn) / den, 0.0),
        }


# How far each end's Beta leans from Jeffreys' towards the pair giving Clopper-Pearson's bounds
# (1/2): with 1-3 flagged positives Jeffreys' upper end fell short (coverage 0.93), the exact
# pair over-covered (0.97-0.99); halfway held 0.95-0.975 (BENCHMARKS.md).
TILT = 0.25
_SCORES = ("precision", "f1", "fbeta", "f2", "mcc")


def threshold_intervals(
    tp,
    fp,
    n_pos: int,
    n_neg: int,
    beta: float,
    *,
    rng: np.random.Generator,
    level: float = INTERVAL_LEVEL,
    draws: int = POSTERIOR_DRAWS,
    costs: tuple[float, float] | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Intervals of every figure read at the threshold, from TP and FP (arrays of holdouts);
    with `costs` = (fp_cost, fn_cost) also of the saving per 1,000 rows against flagging
    nothing."""
    tp, fp = np.atleast_1d(tp).astype(np.float64), np.atleast_1d(fp).astype(np.float64)
    recall, fpr = tp / n_pos, fp / n_neg
    r_low, r_high = rate_interval(tp, n_pos, level)
    f_low, f_high = rate_interval(fp, n_neg, level)
    share = n_pos / (n_pos + n_neg)
    spec = (1 - fpr, 1 - f_high, 1 - f_low)
    out = {
        "recall": (r_low, r_high),
        "specificity": spec[1:],
        "flag_rate": _mover([(share, recall, r_low, r_high), (1 - share, fpr, f_low, f_high)]),
        "balanced_accuracy": _mover([(0.5, recall, r_low, r_high), (0.5, *spec)]),
    }
    if costs is not None:
        # Saving = (caught x fn_cost - false alarms x fp_cost) per 1,000 rows: linear in both.
        per = 1000 / (n_pos + n_neg)
        w_r, w_s = n_pos * costs[1] * per, n_neg * costs[0] * per
        low, high = _mover([(w_r, recall, r_low, r_high), (w_s, *spec)])
        out["saving_per_1000"] = (low - w_s, high - w_s)
    point = confusion_figures(tp, fp, n_pos, n_neg, beta)
    tail = (1 - level) / 2
    chunk = max(1, _CHUNK_CELLS // (4 * draws))  # four Beta arrays of draws per holdout
    parts: dict[str, list] = {name: [] for name in _SCORES}
    for first in range(0, len(tp), chunk):
        t, f = tp[first : first + chunk, None], fp[first : first + chunk, None]
        size = (len(t), draws)
        # Precision, F-scores and MCC rise with recall and fall with the false-positive rate:
        # the low end comes from the pessimistic lean of both, the high end from the optimistic.
        low_r, high_r = (rng.beta(t + 0.5 + d, n_pos - t + 0.5 - d, size) for d in (-TILT, TILT))
        high_f, low_f = (rng.beta(f + 0.5 + d, n_neg - f + 0.5 - d, size) for d in (TILT, -TILT))
        worst = confusion_figures(low_r * n_pos, high_f * n_neg, n_pos, n_neg, beta)
        best = confusion_figures(high_r * n_pos, low_f * n_neg, n_pos, n_neg, beta)
        for name in parts:
            at = point[name][first : first + chunk]
            # Equal tails can leave out an observed 0 (nothing caught); keep the value inside.
            low = np.minimum(np.quantile(worst[name], tail, axis=1), at)
            parts[name].append((low, np.maximum(np.quantile(best[name], 1 - tail, axis=1), at)))
    for name, chunks in parts.items():
        out[name] = (np.concatenate([c[0] for c in chunks]), np.concatenate([c[1] for c in chunks]))
    return out


# ------------------------------------------------------------------------------ rank metrics


def rank_layout(y: np.ndarray, scores: np.ndarray):
    """The sample as rank metrics see it: score groups that hold positives, and negatives between.

    Walking the distinct scores from the top, each group holding a positive gets its positive
    count, the negatives ranked above it since the previous such group (`gap`) and the negatives
    tied with it (`tied`); `rest` is the negatives below the last one. Resampling rows is then
    resampling these counts, whose number grows with the positives, not with the rows.
    """
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_y = scores[order], y[order]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    pos = np.add.reduceat(sorted_y, starts)
    neg = np.add.reduceat(1 - sorted_y, starts)
    has_pos = pos > 0
    before = np.concatenate([[0], np.cumsum(neg)])[:-1]  # negatives in higher groups
    above = before[has_pos]
    gap = np.diff(np.concatenate([[0], above + neg[has_pos]])) - neg[has_pos]
    rest = int(neg.sum() - (above[-1] + neg[has_pos][-1])) if has_pos.any() else int(neg.sum())
    return pos[has_pos], gap, neg[has_pos], rest


def rank_metrics(pos_w: np.ndarray, gap_w: np.ndarray, tied_w: np.ndarray, rest_w) -> dict:
    """PR-AUC (average precision, as scikit-learn) and ROC-AUC from (replicates, groups) counts."""
    tp = np.cumsum(pos_w, axis=1)
    fp = np.cumsum(gap_w + tied_w, axis=1)
    n_pos = tp[:, -1:]
    n_neg = fp[:, -1:] + np.reshape(rest_w, (-1, 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        ap = np.sum(pos_w / n_pos * precision, axis=1)
        below = n_neg - fp  # negatives ranked strictly below each group
        roc = np.sum(pos_w * (below + tied_w / 2), axis=1) / (n_pos[:, 0] * n_neg[:, 0])
    return {"pr_auc": ap, "roc_auc": roc}


def pr_auc_replicates(layout, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """PR-AUC of `n_boot` stratified resamples of the holdout, drawn as counts (see
    `rank_layout`): positives multinomial over their groups, negatives over the gaps, the ties
    and the rows below the last positive."""
    pos, gap, tied, rest = layout
    n_pos, n_neg = int(pos.sum()), int(gap.sum() + tied.sum() + rest)
    neg_p = np.concatenate([np.stack([gap, tied], axis=1).ravel(), [rest]]) / n_neg
    values = []
    chunk = max(1, _CHUNK_CELLS // (3 * len(pos) + 1))
    for first in range(0, n_boot, chunk):
        size = min(chunk, n_boot - first)
        pos_w = rng.multinomial(n_pos, pos / n_pos, size).astype(float)
        neg_w = rng.multinomial(n_neg, neg_p, size).astype(float)
        pairs = neg_w[:, :-1].reshape(size, -1, 2)
        values.append(rank_metrics(pos_w, pairs[..., 0], pairs[..., 1], neg_w[:, -1])["pr_auc"])
    return np.concatenate(values)


def expanded_z(n_pos: int, level: float = INTERVAL_LEVEL) -> float:
    """The normal quantile widened for n positives (Hesterberg 2015): sqrt(n / (n - 1)) t_{n-1}.

    The bootstrap's spread is too narrow with few positives, as the sample SD is for a mean.
    """
    if n_pos < 2:
        return _z(level)
    return float(np.sqrt(n_pos / (n_pos - 1)) * stats.t.ppf(0.5 + level / 2, n_pos - 1))


def bc_expanded(point, replicates, n_pos: int, level: float = INTERVAL_LEVEL):
    """Bias-corrected percentile interval (Efron 1981) at the expanded level, per holdout:
    `point` (D,), `replicates` (D, B). The bias correction moves the percentiles by how far the
    replicates' median sits from the value (sample PR-AUC is biased upwards with few
    positives, and its replicates more so)."""
    point = np.atleast_1d(np.asarray(point, dtype=np.float64))
    b = np.atleast_2d(np.asarray(replicates, dtype=np.float64))
    z = expanded_z(n_pos, level)
    # Replicates within rounding of the value (sums of fractions) count as equal to it.
    near = np.abs(b - point[:, None]) <= 1e-12
    below = np.mean((b < point[:, None]) & ~near, axis=1) + 0.5 * np.mean(near, axis=1)
    edge = 1 / (2 * b.shape[1])
    z0 = stats.norm.ppf(np.clip(below, edge, 1 - edge))
    ordered = np.sort(b, axis=1)
    rows, last = np.arange(len(point)), b.shape[1] - 1
    low = np.floor(stats.norm.cdf(2 * z0 - z) * last).astype(int)
    high = np.ceil(stats.norm.cdf(2 * z0 + z) * last).astype(int)
    return ordered[rows, np.clip(low, 0, last)], ordered[rows, np.clip(high, 0, last)]


def pr_auc_interval(point, replicates, n_pos: int, level: float = INTERVAL_LEVEL):
    """PR-AUC's interval from its value and bootstrap replicates (arrays of holdouts allowed:
    `point` (D,), `replicates` (D, B)).

    The union of two readings of the replicates: the bias-corrected percentile interval at the
    expanded level (`bc_expanded`), and a Wilson score interval at the effective size
    PR-AUC (1 - PR-AUC) / Var* (Korn & Graubard 1998), at the same expanded level. When every
    replicate equals the value (all positives ranked above all negatives) the bootstrap has no
    spread; the effective size is then the positives, so 10 of 10 on top give [0.64, 1].
    """
    point = np.atleast_1d(np.asarray(point, dtype=np.float64))
    b = np.atleast_2d(np.asarray(replicates, dtype=np.float64))
    bc_low, bc_high = bc_expanded(point, b, n_pos, level)
    var = b.var(axis=1, ddof=1) if b.shape[1] > 1 else np.zeros(len(point))
    # Replicates equal up to rounding (sums of fractions) are no spread at all.
    spread = np.ptp(b, axis=1) > 1e-9
    with np.errstate(divide="ignore", invalid="ignore"):
        size = np.maximum(np.where(spread, point * (1 - point) / var, n_pos), 1.0)
    z = expanded_z(n_pos, level)
    w_low, w_high = wilson(point * size, size, 1 - 2 * stats.norm.sf(z))
    return np.minimum(bc_low, w_low), np.minimum(np.maximum(bc_high, w_high), 1.0)


def roc_auc_interval(point, n_pos: int, n_neg: int, level: float = INTERVAL_LEVEL):
    """Newcombe's (2006) score interval for ROC-AUC (his method 5): the values theta with
    (AUC - theta)^2 <= z^2 V(theta), V from Hanley & McNeil with both sizes set to
    (n_pos + n_neg) / 2 - 1."""
    z2 = _z(level) ** 2
    half = (n_pos + n_neg) / 2 - 1

    def excess(theta: float, auc: float) -> float:
        v = theta * (1 - theta) / (n_pos * n_neg)
        v *= 1 + half * ((1 - theta) / (2 - theta) + theta / (1 + theta))
        return (auc - theta) ** 2 - z2 * v

    lows, highs = [], []
    for auc in np.atleast_1d(np.asarray(point, dtype=np.float64)):
        # excess > 0 at 0 and 1 (unless auc is there), < 0 just inside auc: one root each side.
        inner = min(max(auc, 1e-9), 1 - 1e-9)
        lows.append(0.0 if auc <= 0 else optimize.brentq(excess, 0.0, inner, (auc,)))
        highs.append(1.0 if auc >= 1 else optimize.brentq(excess, inner, 1.0, (auc,)))
    return np.array(lows), np.array(highs)


# The order a report lists them in.
_ORDER = (
    "pr_auc",
    "roc_auc",
    "f1",
    "fbeta",
    "f2",
    "mcc",
    "balanced_accuracy",
    "precision",
    "recall",
    "specificity",
    "flag_rate",
)


def holdout_intervals(
    y: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    beta: float,
    *,
    n_boot: int = BOOTSTRAP_REPLICATES,
    seed: int = 0,
    level: float = INTERVAL_LEVEL,
) -> dict[str, dict[str, float | bool]]:
    """The interval of every headline figure (see the module's docstring for which and why).

    Each is `{ci_low, ci_high, few_positives}`; `few_positives` when the holdout has fewer than
    `FEW_POSITIVES` positives. Empty when the holdout lacks a class: nothing can be drawn then.
    Seeded: the same rows give the same intervals.
    """
    y = np.asarray(y).astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((1 - y).sum())
    if n_pos == 0 or n_neg == 0:
        return {}
    rng = np.random.default_rng(seed)
    flagged = scores >= threshold
    tp, fp = np.sum(flagged & (y == 1)), np.sum(flagged & (y == 0))
    ranges = threshold_intervals(tp, fp, n_pos, n_neg, beta, rng=rng, level=level)
    layout = rank_layout(y, scores)
    pos, gap, tied, rest = layout
    point = rank_metrics(pos[None] * 1.0, gap[None] * 1.0, tied[None] * 1.0, np.array([rest]))
    replicates = pr_auc_replicates(layout, n_boot, rng)
    ranges["pr_auc"] = pr_auc_interval(point["pr_auc"], replicates[None], n_pos, level)
    ranges["roc_auc"] = roc_auc_interval(point["roc_auc"], n_pos, n_neg, level)
    few = n_pos < FEW_POSITIVES
    return {
        name: {
            "ci_low": float(ranges[name][0][0]),
            "ci_high": float(ranges[name][1][0]),
            "few_positives": few,
        }
        for name in _ORDER
    }
