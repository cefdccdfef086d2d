"""Model minus baseline on the same holdout rows: each difference and its interval.

What the two share (hard rows, lucky rows) cancels in a paired comparison, so the difference's
interval is narrower than the two figures' intervals side by side. Coverage is measured in
`benchmarks/statistics_intervals.py` (BENCHMARKS.md, "Intervals at few positives").

- PR-AUC: a paired stratified bootstrap (each replicate one resample of the rows, scored by
  both models), read as the bias-corrected percentile interval expanded for the positives'
  count, as PR-AUC's own interval is (`intervals.bc_expanded`).
- The decisions (precision, recall, F1, F-beta, F2, MCC, the saving per 1,000 rows): MOVER
  (Zou & Donner 2008; for two recalls it is Newcombe's 1998 method 10) from each model's own
  interval (`intervals.threshold_intervals`) and the correlation of the two figures under a
  posterior of the joint decisions (`_correlations`). The bootstrap collapsed here when either
  model flagged few rows, and a posterior of the difference itself leaned low with 1-3 flagged
  positives.
"""

from __future__ import annotations

import numpy as np

from imbal_pipeline.core.stats.intervals import (
    _CHUNK_CELLS,
    BOOTSTRAP_REPLICATES,
    FEW_POSITIVES,
    INTERVAL_LEVEL,
    bc_expanded,
    confusion_figures,
    threshold_intervals,
)


def paired_bootstrap(
    y: np.ndarray,
    scores: np.ndarray,
    base_scores: np.ndarray,
    threshold: float,
    base_threshold: float,
    beta: float,
    *,
    costs: tuple[float, float] | None = None,
    n_boot: int = BOOTSTRAP_REPLICATES,
    seed: int = 0,
    level: float = INTERVAL_LEVEL,
) -> dict[str, dict[str, float]]:
    """Model (`scores` at `threshold`) minus baseline: `{diff, ci_low, ci_high, few_positives}`
    per figure (`few_positives` as in `intervals.holdout_intervals`).

    PR-AUC compares the rankings; the threshold figures (and, given `costs` = (fp_cost,
    fn_cost), the saving per 1,000 rows) compare the decisions. A positive difference always
    favours the model. Empty when the holdout lacks a class. Seeded.
    """
    y = np.asarray(y).astype(bool)
    a, b = np.asarray(scores, dtype=float), np.asarray(base_scores, dtype=float)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return {}
    rng = np.random.default_rng(seed)
    out = {"pr_auc": pr_auc_difference(y, a, b, n_boot, rng, level)}
    same = bool(np.array_equal(a, b))
    flags = (a >= threshold, b >= base_threshold)
    # With one model's scores the flagged rows nest: the higher threshold's are the lower's.
    empty = (same and threshold >= base_threshold, same and base_threshold >= threshold)
    out |= _decision_differences(y, flags, empty, beta, costs, rng, level)
    few = n_pos < FEW_POSITIVES
    return {name: value | {"few_positives": few} for name, value in out.items()}


def _decision_differences(y, flags, empty, beta, costs, rng, level) -> dict:
    """MOVER intervals of the threshold figures' differences (see the module docstring)."""
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    counts = [(np.sum(f & y), np.sum(f & ~y)) for f in flags]
    ranges = [
        threshold_intervals(tp, fp, n_pos, n_neg, beta, rng=rng, level=level, costs=costs)
        for tp, fp in counts
    ]
    points = [
        _figures(np.array([tp]), np.array([fp]), n_pos, n_neg, beta, costs) for tp, fp in counts
    ]
    if all(empty):  # one model at one threshold: the same decisions on every row there is
        return {name: {"diff": 0.0, "ci_low": 0.0, "ci_high": 0.0} for name in points[0]}
    corr = _correlations(y, flags, empty, beta, costs, rng)
    out = {}
    for name in points[0]:
        (a, b), (low_a, high_a), (low_b, high_b) = (
            (points[0][name][0], points[1][name][0]),
            (ranges[0][name][0][0], ranges[0][name][1][0]),
            (ranges[1][name][0][0], ranges[1][name][1][0]),
        )
        r = corr[name]
        down = np.sqrt((a - low_a) ** 2 + (high_b - b) ** 2 - 2 * r * (a - low_a) * (high_b - b))
        up = np.sqrt((high_a - a) ** 2 + (b - low_b) ** 2 - 2 * r * (high_a - a) * (b - low_b))
        out[name] = {
            "diff": float(a - b),
            "ci_low": float(a - b - down),
            "ci_high": float(a - b + up),
        }
    return out


def _figures(tp, fp, n_pos: int, n_neg: int, beta: float, costs) -> dict[str, np.ndarray]:
    """The compared threshold figures; the saving is against flagging nothing."""
    figures = confusion_figures(tp, fp, n_pos, n_neg, beta)
    if costs is not None:
        figures["saving_per_1000"] = (tp * costs[1] - fp * costs[0]) * 1000 / (n_pos + n_neg)
    return figures


def _correlations(y, flags, empty, beta, costs, rng, draws: int = 4000) -> dict[str, float]:
    """Posterior correlation of the two models' figures, from the joint decisions per class.

    Per class, the shares of rows flagged by both, by the model only, by the baseline only and
    by neither are Dirichlet(count + 1/K) over the K cells that can hold a row (Perks' prior:
    one model's scores at two thresholds cannot flag a row at the higher one only).
    """
    a, b = flags
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    flagged = {}
    for cls, n in ((True, n_pos), (False, n_neg)):
        rows = y == cls
        both, only_a, only_b = (np.sum(m & rows) for m in (a & b, a & ~b, ~a & b))
        possible = np.array([True, not empty[0], not empty[1], True])
        alpha = np.array([both, only_a, only_b, n - both - only_a - only_b], dtype=float)
        cells = rng.gamma(alpha + possible / possible.sum(), 1.0, (draws, 4))
        cells *= n / cells.sum(axis=1, keepdims=True)
        flagged[cls] = (cells[:, 0] + cells[:, 1], cells[:, 0] + cells[:, 2])
    sides = [
        _figures(flagged[True][i], flagged[False][i], n_pos, n_neg, beta, costs) for i in (0, 1)
    ]
    out = {}
    for name, x in sides[0].items():
        z = sides[1][name]
        out[name] = float(np.corrcoef(x, z)[0, 1]) if x.std() > 0 and z.std() > 0 else 0.0
    return out


def pr_auc_difference(
    y: np.ndarray, a: np.ndarray, b: np.ndarray, n_boot: int, rng, level: float = INTERVAL_LEVEL
) -> dict[str, float]:
    """PR-AUC of `a` minus `b` with its interval: `{diff, ci_low, ci_high}` (both classes
    present). The promotion rule reads the same interval (`promotion.compare`)."""
    point, replicates = pr_auc_differences(y, a, b, n_boot, rng)
    low, high = bc_expanded(point, replicates[None], int(y.sum()), level)
    return {"diff": float(point[0]), "ci_low": float(low[0]), "ci_high": float(high[0])}


def pr_auc_differences(y, a, b, n_boot: int, rng: np.random.Generator):
    """PR-AUC of `a` minus `b` on the holdout, and on `n_boot` stratified resamples of its rows.

    A PR-AUC only needs, per model, the resampled counts between consecutive "cuts" of its
    ranking (the tie groups holding a positive), so a replicate is a bincount of its draws.
    Negatives ranked below every positive in both models are drawn as one block (binomial,
    then uniform over the others): the same resample at a cost that grows with the rows that
    matter.
    """
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    negatives = np.flatnonzero(~y & ((a >= a[y].min()) | (b >= b[y].min())))
    positives = np.flatnonzero(y)
    sides = [_Cuts(a, positives, negatives), _Cuts(b, positives, negatives)]

    def measure(pos_w: np.ndarray, neg_w: list[np.ndarray]) -> np.ndarray:
        a_ap, b_ap = (s.pr_auc(pos_w, w, n_pos) for s, w in zip(sides, neg_w, strict=True))
        return a_ap - b_ap

    point = measure(
        np.ones((1, n_pos)), [np.ones((1, side.n_cuts + 1)) * side.neg_counts for side in sides]
    )
    parts = []
    n_rel = len(negatives)
    chunk = max(1, _CHUNK_CELLS // max(n_rel, n_pos, 1))
    for first in range(0, n_boot, chunk):
        size = min(chunk, n_boot - first)
        pos_w = rng.multinomial(n_pos, np.full(n_pos, 1 / n_pos), size).astype(float)
        # How many of the n_neg draws land on a negative that matters, then which ones.
        drawn = rng.binomial(n_neg, n_rel / n_neg, size) if n_rel else np.zeros(size, int)
        picks = rng.integers(0, max(n_rel, 1), drawn.sum(), dtype=np.int32)
        replicate = np.repeat(np.arange(size, dtype=np.int32), drawn)
        parts.append(measure(pos_w, [side.count(picks, replicate, size) for side in sides]))
    return point, np.concatenate(parts)


class _Cuts:
    """One model's ranking reduced to what its PR-AUC reads: counts between cuts.

    The cuts are the last ranks of the tie groups that hold a positive. Segment j holds the
    ranks after cut j-1 up to cut j; rows below the last cut fall in a final segment PR-AUC
    does not read.
    """

    def __init__(self, scores: np.ndarray, positives, negatives):
        order = np.argsort(-scores, kind="stable")
        ordered = scores[order]
        rank = np.empty(len(scores), dtype=np.int64)
        rank[order] = np.arange(len(scores))
        ends = np.r_[np.flatnonzero(ordered[1:] != ordered[:-1]), len(ordered) - 1]
        cuts = np.unique(ends[np.searchsorted(ends, rank[positives])]).astype(np.int64)
        self.n_cuts = len(cuts)
        self.pos_segment = np.searchsorted(cuts, rank[positives])
        self.neg_segment = np.searchsorted(cuts, rank[negatives]).astype(np.int32)
        self.neg_counts = np.bincount(self.neg_segment, minlength=self.n_cuts + 1)

    def count(self, picks: np.ndarray, replicate: np.ndarray, size: int) -> np.ndarray:
        """Drawn negatives per segment, one row per replicate."""
        width = np.int32(self.n_cuts + 1)
        flat = np.bincount(replicate * width + self.neg_segment[picks], minlength=size * width)
        return flat.reshape(size, width).astype(float)

    def pr_auc(self, pos_w, neg_w, n_pos: int) -> np.ndarray:
        width = self.n_cuts + 1
        rows = np.arange(len(pos_w))[:, None]
        pos_seg = np.zeros((len(pos_w), width))
        np.add.at(pos_seg, (rows, self.pos_segment[None, :]), pos_w)
        tp_c = np.cumsum(pos_seg, axis=1)[:, :-1]
        all_c = tp_c + np.cumsum(neg_w, axis=1)[:, :-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = np.where(all_c > 0, tp_c / all_c, 0.0)
        return np.sum(pos_seg[:, :-1] * precision, axis=1) / n_pos
