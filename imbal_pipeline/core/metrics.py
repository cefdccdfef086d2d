"""Holdout and cross-validation metrics; accuracy is computed but never the headline."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    fbeta_score,
    matthews_corrcoef,
    precision_score,
    recall_score,
    roc_auc_score,
)

# How each figure is named wherever a person reads it, in the order a report lists them.
LABELS = {
    "pr_auc": "PR-AUC",
    "roc_auc": "ROC-AUC",
    "f1": "F1",
    "fbeta": "F-beta",
    "f2": "F2",
    "mcc": "MCC",
    "balanced_accuracy": "Balanced accuracy",
    "precision": "Precision",
    "recall": "Recall",
    "saving_per_1000": "saving per 1,000 rows",
}


def _safe(fn, *args, **kwargs) -> float | None:
    try:
        value = float(fn(*args, **kwargs))
    except ValueError:
        return None
    return None if np.isnan(value) else value


def binary_metrics(y: np.ndarray, scores: np.ndarray, threshold: float, beta: float) -> dict:
    """All report metrics at one threshold (score >= threshold is positive)."""
    y = np.asarray(y).astype(int)
    pred = (np.asarray(scores) >= threshold).astype(int)
    cm = confusion_matrix(y, pred, labels=[0, 1])
    both = len(np.unique(y)) == 2
    return {
        "threshold": float(threshold),
        "pr_auc": _safe(average_precision_score, y, scores) if both else None,
        "roc_auc": _safe(roc_auc_score, y, scores) if both else None,
        "f1": float(f1_score(y, pred, zero_division=0)),
        "fbeta": float(fbeta_score(y, pred, beta=beta, zero_division=0)),
        "beta": float(beta),
        "f2": float(fbeta_score(y, pred, beta=2.0, zero_division=0)),
        "mcc": float(matthews_corrcoef(y, pred)),
        "balanced_accuracy": _safe(balanced_accuracy_score, y, pred) if both else None,
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "accuracy": float((pred == y).mean()),
        "confusion_matrix": cm.astype(int).tolist(),
    }


# A numeric subgroup column with more distinct values than this is reported in quartile bins.
MAX_SUBGROUP_LEVELS = 20


def subgroup_labels(values) -> np.ndarray:
    """Group label per row: the value itself, or its quartile bin for a continuous column."""
    import pandas as pd

    series = pd.Series(values)
    numeric = pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
        series.dtype
    )
    if not numeric or series.nunique() <= MAX_SUBGROUP_LEVELS:
        return series.astype(object).where(series.notna(), "missing").astype(str).to_numpy()
    edges = np.unique(np.nanquantile(series.to_numpy(dtype=float), [0, 0.25, 0.5, 0.75, 1]))
    codes = np.clip(np.searchsorted(edges, series.to_numpy(dtype=float), side="right") - 1, 0, None)
    codes = np.minimum(codes, len(edges) - 2)
    names = [
        f"{edges[i]:.4g} to {edges[i + 1]:.4g}" + (" (incl.)" if i == len(edges) - 2 else "")
        for i in range(len(edges) - 1)
    ]
    labels = np.array([f"q{c + 1}: {names[c]}" for c in codes], dtype=object)
    labels[series.isna().to_numpy()] = "missing"
    return labels


def subgroup_metrics(
    y: np.ndarray, scores: np.ndarray, groups: np.ndarray, threshold: float, seed: int = 0
) -> dict[str, dict]:
    """Confusion matrix, precision, recall and F1 per subgroup value, with their intervals."""
    y = np.asarray(y).astype(int)
    pred = (np.asarray(scores) >= threshold).astype(int)
    groups = np.asarray(groups, dtype=object).astype(str)
    out = {}
    for value in np.unique(groups):
        mask = groups == value
        yt, yp = y[mask], pred[mask]
        out[str(value)] = {
            "n": int(mask.sum()),
            "positives": int(yt.sum()),
            "precision": float(precision_score(yt, yp, zero_division=0)),
            "recall": float(recall_score(yt, yp, zero_division=0)),
            "f1": float(f1_score(yt, yp, zero_division=0)),
            "confusion_matrix": confusion_matrix(yt, yp, labels=[0, 1]).astype(int).tolist(),
            # Empty when the group lacks a class: no interval can be drawn then.
            "ci": {
                k: v
                for k, v in bootstrap_intervals(
                    yt, np.asarray(scores)[mask], threshold, 1.0, seed=seed
                ).items()
                if k in ("precision", "recall", "f1")
            },
        }
    return out


# ------------------------------------------------------------------ bootstrap intervals

BOOTSTRAP_REPLICATES = 1000
INTERVAL_LEVEL = 0.95
_CHUNK_CELLS = 4_000_000  # replicates x groups held at once when resampling rank metrics


def _rates(tp, fp, fn, tn, beta):
    """Threshold metrics from confusion counts (arrays of replicates); 0 where undefined."""

    def f(b2):
        den = b2 * precision + recall
        return np.where(den > 0, (1 + b2) * precision * recall / den, 0.0)

    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        return {
            "precision": precision,
            "recall": recall,
            "f1": f(1.0),
            "fbeta": f(beta * beta),
            "f2": f(4.0),
            "mcc": np.where(den > 0, (tp * tn - fp * fn) / den, 0.0),
        }


def _rank_layout(y: np.ndarray, scores: np.ndarray):
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


def _rank_metrics(pos_w: np.ndarray, gap_w: np.ndarray, tied_w: np.ndarray, rest_w) -> dict:
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


def bootstrap_intervals(
    y: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    beta: float,
    *,
    n_boot: int = BOOTSTRAP_REPLICATES,
    seed: int = 0,
    level: float = INTERVAL_LEVEL,
) -> dict[str, dict[str, float | None]]:
    """Percentile intervals of every headline metric from a stratified bootstrap.

    Positives and negatives are resampled separately, so every replicate keeps the sample's
    class counts and every metric stays defined. Each replicate is drawn as counts, which is
    exactly the row resampling: its confusion counts are binomial (resampled positives above
    the threshold), and its rank metrics multinomial over the score groups that hold positives
    (see `_rank_layout`). The cost grows with the positives, not the rows.
    """
    y = np.asarray(y).astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((1 - y).sum())
    if n_pos == 0 or n_neg == 0:
        return {}
    rng = np.random.default_rng(seed)
    flagged = scores >= threshold
    tp = rng.binomial(n_pos, np.sum(flagged & (y == 1)) / n_pos, n_boot).astype(float)
    fp = rng.binomial(n_neg, np.sum(flagged & (y == 0)) / n_neg, n_boot).astype(float)
    values = _rates(tp, fp, n_pos - tp, n_neg - fp, beta)
    pos, gap, tied, rest = _rank_layout(y, scores)
    # Negatives fall in the gaps, the ties or below the last positive group, in proportion.
    neg_p = np.concatenate([np.stack([gap, tied], axis=1).ravel(), [rest]]) / n_neg
    ranks = {"pr_auc": [], "roc_auc": []}
    chunk = max(1, _CHUNK_CELLS // (3 * len(pos) + 1))
    for first in range(0, n_boot, chunk):
        size = min(chunk, n_boot - first)
        pos_w = rng.multinomial(n_pos, pos / n_pos, size).astype(float)
        neg_w = rng.multinomial(n_neg, neg_p, size).astype(float)
        pairs = neg_w[:, :-1].reshape(size, -1, 2)
        for name, value in _rank_metrics(pos_w, pairs[..., 0], pairs[..., 1], neg_w[:, -1]).items():
            ranks[name].append(value)
    values |= {name: np.concatenate(parts) for name, parts in ranks.items()}
    tail = 100 * (1 - level) / 2
    out = {}
    for name, replicate in values.items():
        low, high = np.percentile(replicate, [tail, 100 - tail])
        # Every metric here is at most 1; summing precisions can overshoot it by a rounding step.
        out[name] = {"ci_low": float(min(low, 1.0)), "ci_high": float(min(high, 1.0))}
    return out


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
    """Model minus baseline on the same resampled rows: the difference and its interval.

    Each replicate is one stratified resample of the rows, scored by both models, so what they
    share (hard rows, lucky rows) cancels. PR-AUC compares the rankings; the threshold metrics
    (and, given `costs` = (fp_cost, fn_cost), the saving per 1,000 rows) compare the decisions.
    A metric only needs, per model, the resampled counts between consecutive "cuts" of its
    ranking (the tie groups holding a positive, and the threshold), so a replicate is a bincount
    of its draws. Negatives ranked below every cut in both models are drawn as one block
    (binomial, then uniform over the others): the same resample at a cost that grows with the
    rows that matter.
    """
    y = np.asarray(y).astype(bool)
    a, b = np.asarray(scores, dtype=float), np.asarray(base_scores, dtype=float)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return {}
    floor_a, floor_b = min(a[y].min(), threshold), min(b[y].min(), base_threshold)
    negatives = np.flatnonzero(~y & ((a >= floor_a) | (b >= floor_b)))
    positives = np.flatnonzero(y)
    sides = [
        _Cuts(a, threshold, positives, negatives),
        _Cuts(b, base_threshold, positives, negatives),
    ]

    def measure(pos_w: np.ndarray, neg_draws: list[np.ndarray]) -> dict[str, np.ndarray]:
        figures = []
        for side, draws in zip(sides, neg_draws, strict=True):
            f = side.figures(pos_w, draws, n_pos, n_neg, beta)
            fp, fn = f.pop("fp"), f.pop("fn")
            if costs is not None:
                # A saving, so that for every figure a positive difference favours the model.
                f["saving_per_1000"] = -(fp * costs[0] + fn * costs[1]) * 1000 / len(y)
            figures.append(f)
        return {name: figures[0][name] - figures[1][name] for name in figures[0]}

    point = measure(
        np.ones((1, n_pos)), [np.ones((1, side.n_cuts + 1)) * side.neg_counts for side in sides]
    )
    rng = np.random.default_rng(seed)
    parts: dict[str, list] = {name: [] for name in point}
    n_rel = len(negatives)
    chunk = max(1, _CHUNK_CELLS // max(n_rel, n_pos, 1))
    for first in range(0, n_boot, chunk):
        size = min(chunk, n_boot - first)
        pos_w = rng.multinomial(n_pos, np.full(n_pos, 1 / n_pos), size).astype(float)
        # How many of the n_neg draws land on a negative that matters, then which ones.
        drawn = rng.binomial(n_neg, n_rel / n_neg, size) if n_rel else np.zeros(size, int)
        picks = rng.integers(0, max(n_rel, 1), drawn.sum(), dtype=np.int32)
        replicate = np.repeat(np.arange(size, dtype=np.int32), drawn)
        neg = [side.count(picks, replicate, size) for side in sides]
        for name, value in measure(pos_w, neg).items():
            parts[name].append(value)
    tail = 100 * (1 - level) / 2
    out = {}
    for name, values in parts.items():
        low, high = np.percentile(np.concatenate(values), [tail, 100 - tail])
        out[name] = {"diff": float(point[name][0]), "ci_low": float(low), "ci_high": float(high)}
    return out


class _Cuts:
    """One model's ranking reduced to what its metrics read: counts between cuts.

    The cuts are the last ranks of the tie groups that hold a positive and of the rows flagged
    at the threshold (ties never straddle a threshold, so that is a group end too). Segment j
    holds the ranks after cut j-1 up to cut j; rows below the last cut fall in a final segment
    no metric reads.
    """

    def __init__(self, scores: np.ndarray, threshold: float, positives, negatives):
        order = np.argsort(-scores, kind="stable")
        ordered = scores[order]
        rank = np.empty(len(scores), dtype=np.int64)
        rank[order] = np.arange(len(scores))
        ends = np.r_[np.flatnonzero(ordered[1:] != ordered[:-1]), len(ordered) - 1]
        group_end = ends[np.searchsorted(ends, rank[positives])]
        flagged = int(np.sum(scores >= threshold))
        cuts = np.unique(np.r_[group_end, [flagged - 1] if flagged else []]).astype(np.int64)
        self.n_cuts = len(cuts)
        self.pos_segment = np.searchsorted(cuts, rank[positives])
        self.neg_segment = np.searchsorted(cuts, rank[negatives]).astype(np.int32)
        self.neg_counts = np.bincount(self.neg_segment, minlength=self.n_cuts + 1)
        self.threshold_cut = int(np.searchsorted(cuts, flagged - 1)) if flagged else None

    def count(self, picks: np.ndarray, replicate: np.ndarray, size: int) -> np.ndarray:
        """Drawn negatives per segment, one row per replicate."""
        width = np.int32(self.n_cuts + 1)
        flat = np.bincount(replicate * width + self.neg_segment[picks], minlength=size * width)
        return flat.reshape(size, width).astype(float)

    def figures(self, pos_w, neg_w, n_pos: int, n_neg: int, beta: float) -> dict:
        width = self.n_cuts + 1
        rows = np.arange(len(pos_w))[:, None]
        pos_seg = np.zeros((len(pos_w), width))
        np.add.at(pos_seg, (rows, self.pos_segment[None, :]), pos_w)
        tp_c = np.cumsum(pos_seg, axis=1)[:, :-1]
        all_c = tp_c + np.cumsum(neg_w, axis=1)[:, :-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = np.where(all_c > 0, tp_c / all_c, 0.0)
        out = {"pr_auc": np.sum(pos_seg[:, :-1] * precision, axis=1) / n_pos}
        if self.threshold_cut is None:
            tp = fp = np.zeros(len(pos_w))
        else:
            tp = tp_c[:, self.threshold_cut]
            fp = all_c[:, self.threshold_cut] - tp
        out |= _rates(tp, fp, n_pos - tp, n_neg - fp, beta)
        return out | {"fp": fp, "fn": n_pos - tp}
