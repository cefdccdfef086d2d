"""The statistics of monitoring, on arrays: tests whose false-alarm rate is known at the batch's
and the reference's size.

Every function works on counts or shares, vectorised over leading axes, so that the checks and
the simulation benchmark (`benchmarks/statistics_monitoring.py`) run the same code:

- `merge_bins` groups a reference's bins until a batch expects at least MIN_EXPECTED rows in each
  (Pearson's chi-square holds its level there: measured 1.4x nominal at 1e-4 with 10 per bin);
- `chi2_two_sample` compares a batch's binned counts with the reference's (Pearson's statistic
  of the 2 x B table: the reference's own sampling error counts);
- `holm` corrects for the number of features checked (family-wise error at most alpha);
- `rate_test` is Fisher's exact test of a batch's count against the reference's;
- `mean_test` compares a mean (of calibrated probabilities) with the reference's, with a
  one-term Edgeworth correction for the skew of probabilities of a rare class;
- `paired_estimate` is the deployed bag's expected value of a per-row statistic: the
  out-of-fold mean, corrected by the holdout's paired difference between the bag and its
  members (the bag averages K members, an out-of-fold score comes from one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

ALPHA = 0.005  # per check and batch: a false alarm about one batch in 200, each check
MIN_EXPECTED = 10.0  # rows a batch must expect in every bin it is judged on
PSI_FLOOR = 0.1  # a significant shift alarms only from this PSI ("look at it" level)
RATE_FLOOR = 0.1  # ... and a rate or a mean only when it moved by a tenth or more
PSI_EPSILON = 1e-4  # share given to an empty bin, so that PSI stays finite


def psi(expected: np.ndarray, actual: np.ndarray, epsilon: float = PSI_EPSILON) -> np.ndarray:
    """Population stability index over the last axis: sum of (a - e) * ln(a / e)."""
    e = np.clip(np.asarray(expected, dtype=np.float64), epsilon, None)
    a = np.clip(np.asarray(actual, dtype=np.float64), epsilon, None)
    return np.sum((a - e) * np.log(a / e), axis=-1)


def merge_bins(shares: npt.ArrayLike, n: float, ordered: bool = True) -> np.ndarray:
    """Group of each bin, so that `n` rows expect at least MIN_EXPECTED in every group.

    Ordered bins (quantiles of a number) merge with their neighbours, left to right; unordered
    ones (categories) merge from the rarest up. The groups depend on the reference and `n`
    only, never on the batch's counts, so the test keeps its level.
    """
    shares = np.asarray(shares, dtype=np.float64)
    order = np.arange(shares.size) if ordered else np.argsort(shares, kind="stable")
    group = np.zeros(shares.size, dtype=np.int64)
    full, filled = 0, 0.0
    for i in order:
        group[i] = full
        filled += shares[i] * n
        if filled >= MIN_EXPECTED:
            full, filled = full + 1, 0.0
    if filled > 0 and full > 0:  # the short remainder joins the last full group
        group[group == full] = full - 1
    return group


def groups_of(group: np.ndarray) -> int:
    return int(group.max()) + 1 if group.size else 0


def grouped(values: npt.ArrayLike, group: np.ndarray) -> np.ndarray:
    """Sum `values` (last axis: bins) into their groups."""
    values = np.asarray(values, dtype=np.float64)
    out = np.zeros((*values.shape[:-1], groups_of(group)))
    # numpy's stubs take no Ellipsis in ufunc.at's index, which numpy itself accepts.
    np.add.at(out, (..., group), values)  # type: ignore[arg-type]
    return out


def smallest_batch(shares: np.ndarray, ordered: bool = True) -> int:
    """The fewest rows for which `merge_bins` leaves at least two groups to compare."""
    low, high = 1, 1
    while groups_of(merge_bins(shares, high, ordered)) < 2:
        low, high = high, high * 2
        if high > 10**9:
            return high
    while low < high:
        mid = (low + high) // 2
        if groups_of(merge_bins(shares, mid, ordered)) >= 2:
            high = mid
        else:
            low = mid + 1
    return high


def chi2_two_sample(
    counts: np.ndarray, ref_shares: np.ndarray, ref_rows: float
) -> tuple[np.ndarray, np.ndarray]:
    """Pearson's chi-square of a batch's counts (last axis: groups) against a reference of
    `ref_rows` rows with shares `ref_shares`; returns (statistic, p-value), df = groups - 1."""
    counts = np.asarray(counts, dtype=np.float64)
    ref = np.asarray(ref_shares, dtype=np.float64) * ref_rows
    n = counts.sum(axis=-1, keepdims=True)
    pooled = (counts + ref) / (n + ref_rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        batch_term = np.where(pooled > 0, (counts - n * pooled) ** 2 / (n * pooled), 0.0)
        ref_term = np.where(pooled > 0, (ref - ref_rows * pooled) ** 2 / (ref_rows * pooled), 0.0)
    statistic = np.sum(batch_term + ref_term, axis=-1)
    df = counts.shape[-1] - 1
    return statistic, stats.chi2.sf(statistic, max(df, 1))


def holm(pvalues: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """Holm's step-down rejections over the last axis (NaN: not tested, never rejected)."""
    p = np.where(np.isnan(pvalues), np.inf, np.asarray(pvalues, dtype=np.float64))
    m = np.sum(np.isfinite(p), axis=-1, keepdims=True)
    order = np.argsort(p, axis=-1, kind="stable")
    ranked = np.take_along_axis(p, order, axis=-1)
    steps = np.arange(p.shape[-1])
    ok = ranked <= alpha / np.maximum(m - steps, 1)
    # Reject the first run of successes only: one failure stops the procedure.
    run = np.cumprod(ok, axis=-1).astype(bool)
    rejected = np.zeros_like(run)
    np.put_along_axis(rejected, order, run, axis=-1)
    return rejected


def rate_test(k, n, k_ref, n_ref) -> np.ndarray:
    """Two-sided Fisher exact test of k of n against k_ref of n_ref (twice the smaller tail)."""
    k, n = np.asarray(k), np.asarray(n)
    k_ref, n_ref = np.rint(k_ref).astype(np.int64), np.rint(n_ref).astype(np.int64)
    total, flagged = n + n_ref, k + k_ref
    low = stats.hypergeom.cdf(k, total, flagged, n)
    high = stats.hypergeom.sf(k - 1, total, flagged, n)
    return np.minimum(1.0, 2 * np.minimum(low, high))


def smallest_rate_batch(rate: float, ref_rows: float, alpha: float = ALPHA) -> int:
    """The fewest rows for which a batch with nothing flagged lies significantly below `rate`:
    below that a fall, however large, could not show (the window across batches then judges)."""
    if rate <= 0 or rate >= 1:
        return 10**9
    k_ref = rate * ref_rows
    n = max(1, math.ceil(math.log(alpha / 2) / math.log(1 - rate)))
    while rate_test(0, n, k_ref, ref_rows) > alpha and n < 10**9:
        n = max(n + 1, math.ceil(n * 1.01))
    return n


def mean_test(total, n, reference: Expectation) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided test of a mean (`total` / `n`) against `reference`; returns (z, p-value).

    The mean of n probabilities of a rare class is skewed; the one-term Edgeworth expansion
    of its distribution (Hall 1992, 2.2) keeps both tails near their level from a few
    expected positives on.
    """
    n = np.asarray(n, dtype=np.float64)
    var_batch = reference.row_variance / n
    spread = np.sqrt(var_batch + reference.variance)
    z = (np.asarray(total, dtype=np.float64) / n - reference.value) / spread
    skew = reference.row_skew * reference.row_variance**1.5 / n**2 / spread**3
    below = stats.norm.cdf(z) - skew / 6 * (z**2 - 1) * stats.norm.pdf(z)
    return z, np.clip(2 * np.minimum(below, 1 - below), 0.0, 1.0)


@dataclass(frozen=True)
class Expectation:
    """The deployed model's expected value of a per-row statistic, with its uncertainty."""

    value: float
    variance: float  # of `value`
    rows: int  # training rows behind it
    row_variance: float  # of the statistic on one new row
    row_skew: float

    @property
    def effective_rows(self) -> float:
        """The binomial sample size with the same precision (a proportion's statistic)."""
        spread = self.value * (1 - self.value)
        if self.variance <= 0 or spread <= 0:
            return float(self.rows)
        return float(min(self.rows, spread / self.variance))


@dataclass(frozen=True)
class Moments:
    """Means and variances of per-row statistics (columns) over `rows` rows."""

    mean: np.ndarray
    variance: np.ndarray
    rows: int

    @classmethod
    def of(cls, values: np.ndarray) -> Moments:
        values = _columns(values)
        rows = len(values)
        var = values.var(axis=0, ddof=1) if rows > 1 else np.zeros(values.shape[1])
        return cls(values.mean(axis=0) if rows else np.zeros(values.shape[1]), var, rows)

    @classmethod
    def of_shares(cls, shares: np.ndarray, rows: int) -> Moments:
        """Of 0/1 columns (a flag, or being in a bin), from the share of rows that have each."""
        shares = np.asarray(shares, dtype=np.float64)
        var = shares * (1 - shares) * rows / max(1, rows - 1)
        return cls(shares, var, rows)


def paired_estimate(oof: Moments, bag: np.ndarray, members: np.ndarray) -> list[Expectation]:
    """The bag's expected value of each statistic (columns) on a new row.

    `oof` summarises it over every training row's out-of-fold score (one member each); `bag`
    and `members` (the mean over the K members of each member's statistic) hold it for every
    holdout row. E[members] = E[oof]: both are members scoring rows they did not train on. So
    oof.mean + (bag - members).mean() is unbiased for E[bag], with the variance of the
    out-of-fold mean plus that of a paired difference, which is small where the bag and its
    members agree (at the threshold, almost every row).
    """
    bag, members = _columns(bag), _columns(members)
    n_hold = len(bag)
    diff = bag - members
    value = oof.mean + (diff.mean(axis=0) if n_hold else 0.0)
    var_diff = diff.var(axis=0, ddof=1) if n_hold > 1 else np.zeros(len(oof.mean))
    variance = oof.variance / max(1, oof.rows) + var_diff / max(1, n_hold)
    # The batch's rows are the bag's: its spread is the holdout's, or the members' if larger
    # (averaging shrinks it), so that the test errs on the quiet side.
    var_bag = bag.var(axis=0, ddof=1) if n_hold > 1 else oof.variance
    row_var = np.maximum(oof.variance, var_bag)
    return [
        Expectation(
            value=float(np.clip(value[j], 0.0, None)),
            variance=float(variance[j]),
            rows=int(oof.rows),
            row_variance=float(row_var[j]),
            row_skew=0.0,
        )
        for j in range(len(oof.mean))
    ]


def members_estimate(oof: np.ndarray, members: np.ndarray) -> Expectation:
    """The expected value on a new row of a statistic of the members themselves (the mean over
    the K members of each one's value): out-of-fold rows and the holdout's member means
    estimate the same thing, pooled by their precision."""
    oof, members = np.asarray(oof, dtype=np.float64), np.asarray(members, dtype=np.float64)
    var_oof = float(oof.var(ddof=1)) if oof.size > 1 else 0.0
    var_members = float(members.var(ddof=1)) if members.size > 1 else var_oof
    weights = np.array([oof.size / max(var_oof, 1e-12), members.size / max(var_members, 1e-12)])
    means = np.array([oof.mean() if oof.size else 0.0, members.mean() if members.size else 0.0])
    value = float(np.sum(weights * means) / weights.sum())
    return Expectation(
        value=value,
        variance=float(1 / weights.sum()) if var_oof > 0 else 0.0,
        rows=int(oof.size + members.size),
        # A batch's rows are member means, like the holdout's.
        row_variance=var_members,
        row_skew=float(np.nan_to_num(stats.skew(members if members.size > 2 else oof))),
    )


def _columns(values) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return values[:, None] if values.ndim == 1 else values


MIN_POSITIVES = 10.0  # expected positives a window needs before its mean is judged


def binned_test(
    ref_shares: npt.ArrayLike, ref_rows: float, counts: np.ndarray, rows: float, ordered: bool
) -> tuple[np.ndarray, np.ndarray, int]:
    """Chi-square p-value and PSI of batch `counts` (last axis: the reference's bins) on the
    bins merged for `rows` expected rows; (NaN, NaN, groups) when fewer than two groups."""
    group = merge_bins(ref_shares, rows, ordered)
    k = groups_of(group)
    counts = np.asarray(counts, dtype=np.float64)
    if k < 2:
        nan = np.full(counts.shape[:-1], np.nan)
        return nan, nan, k
    ref = grouped(ref_shares, group)
    batch = grouped(counts, group)
    _, p = chi2_two_sample(batch, ref, ref_rows)
    total = np.maximum(batch.sum(axis=-1, keepdims=True), 1)
    return p, psi(ref, batch / total), k


def drift_verdicts(
    p: np.ndarray, shift: np.ndarray, alpha: float = ALPHA
) -> tuple[np.ndarray, np.ndarray]:
    """Per feature (last axis): significant after Holm, and significant with PSI >= PSI_FLOOR."""
    significant = holm(p, alpha)
    return significant, significant & (np.nan_to_num(shift) >= PSI_FLOOR)


def moved(ratio) -> np.ndarray:
    """A rate or mean at least RATE_FLOOR away from expected, either way (ratio 1.1 or 1/1.1)."""
    ratio = np.asarray(ratio, dtype=np.float64)
    return (ratio >= 1 + RATE_FLOOR) | (ratio <= 1 / (1 + RATE_FLOOR))


def rate_verdicts(k, n, expected: Expectation, alpha: float = ALPHA):
    """(judged, significant, p-value) of k flagged of n against the expected flag rate."""
    size = expected.effective_rows
    p = rate_test(k, n, expected.value * size, size)
    judged = np.asarray(n) >= smallest_rate_batch(expected.value, size, alpha)
    return judged, judged & (p <= alpha), p


def mean_verdicts(total, n, expected: Expectation, alpha: float = ALPHA):
    """(judged, significant, p-value) of a window's summed probabilities against expected."""
    _, p = mean_test(total, n, expected)
    judged = np.asarray(n) * expected.value >= MIN_POSITIVES
    return judged, judged & (p <= alpha), p


WINDOW_ROWS = 5_000  # the prevalence rule pools the latest batches until they hold this many rows


def unseen_test(unseen, n, rate: float) -> np.ndarray:
    """One-sided p-value of `unseen` rows with a never-seen category among n, when a new row
    brings one with probability `rate` (Good-Turing: the training's singletons per row)."""
    return stats.binom.sf(np.asarray(unseen) - 1, n, min(1.0, max(rate, 0.0)))


def unseen_rate(singletons: int, rows: int) -> float:
    """Good-Turing's chance that a new row's category was never seen: categories seen once,
    plus one so that a training split without singletons still allows a rare newcomer."""
    return (singletons + 1) / (rows + 1)
