"""The data-collection estimate: what the last doubling of the training positives gained.

The claim is measured, not extrapolated: in every fold the selected strategy is refitted on
half of the fold's training positives (several seeded draws) and compared with the same fold's
fit on all of them. The per-fold gains are paired, so fold difficulty cancels, and their mean
carries the strategy ladder's standard error, corrected for overlapping training portions.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import average_precision_score

from imbal_pipeline.core.data import split
from imbal_pipeline.core.settings import FOLD, LABEL, ROW_ID, Settings
from imbal_pipeline.core.train import model as model_core
from imbal_pipeline.core.train import preprocess, selection
from imbal_pipeline.core.train.training import fit_strategy, limit_threads, resample, resampled_rows

# The claim compares this share of a fold's training positives with all of them (1.0, the
# strategy comparison's own per-fold PR-AUC when no sample of negatives intervenes).
HALF = 0.5
# Seeded draws of the half per fold: their mean is each fold's 50 % point, so one unlucky draw
# of which positives are kept does not decide the fold's gain.
HALF_DRAWS = 3
# One draw of a quarter (nested in the first half), for the picture only: it claims nothing.
SHAPE = 0.25
# The interval must lie within this band around 0 (PR-AUC per doubling) for the curve to be
# called flat; an interval that excludes 0 is never flat.
FLAT = 0.02
LEVEL = 0.95
# The curve asks about positives, so its fits keep at most this many negatives (one seeded
# sample, as --max-negatives draws it): at 1M rows 20 such fits took about a minute instead of
# adding five to the run (the curve now makes 25 there, not re-timed). Below it, the
# comparison's own 100 % point is reused.
CURVE_NEGATIVES = 50_000
# Above this many negatives in a validation fold, each fold's points are scored on all its
# positives and one seeded sample of its negatives, weighted back to the whole fold. At 1M rows
# that scores 51,600 rows per fit instead of 160,000; every share of a fold is scored on the
# same rows, so the sample moves a fold's points together and its gain hardly at all.
VALIDATION_NEGATIVES = 50_000
# The curve's fits are made in this many steps, each taking every CURVE_PARTS-th fit: on two
# cores the two run side by side. One step per fold (five) would leave a core idle for the last
# one's fits, and every step reads the whole split again (about 3 s at 1M rows).
CURVE_PARTS = 2


@dataclass(frozen=True)
class LastDoubling:
    """PR-AUC gained from half of each fold's training positives to all of them.

    `gain` is the mean of the per-fold gains (`fold_gains`), `ci_low`/`ci_high` its interval
    (None with a single fold), `verdict` the reading of that interval: "helps" (above 0),
    "flat" (within ±`band` of 0), "hurts" (below 0) or "cannot_tell" (anything wider).
    """

    gain: float
    ci_low: float | None
    ci_high: float | None
    se: float | None
    fold_gains: list[float]
    from_positives: float
    to_positives: float
    verdict: str
    band: float = FLAT
    level: float = LEVEL

    @classmethod
    def measure(
        cls, full: list[float], half: list[float], from_positives: float, to_positives: float
    ) -> LastDoubling:
        """From the per-fold PR-AUC with all and with half of the training positives."""
        # The ladder's paired comparison: mean per-fold gap and its corrected standard error.
        gain, se = selection._gap_and_se(full, half)
        k = len(full)
        low = high = None
        if k >= 2:
            t = float(stats.t.ppf(0.5 + LEVEL / 2, k - 1))
            low, high = gain - t * se, gain + t * se
        gains = (np.asarray(full, dtype=float) - np.asarray(half, dtype=float)).tolist()
        return cls(
            gain=gain,
            ci_low=low,
            ci_high=high,
            se=se if k >= 2 else None,
            fold_gains=gains,
            from_positives=float(from_positives),
            to_positives=float(to_positives),
            verdict=verdict_of(low, high),
        )

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, value: dict) -> LastDoubling:
        return cls(**value)


def verdict_of(low: float | None, high: float | None, band: float = FLAT) -> str:
    """How an interval of the last doubling's gain reads: never "flat" when it excludes 0."""
    if low is None or high is None:
        return "cannot_tell"
    if low > 0:
        return "helps"
    if high < 0:
        return "hurts"
    if -band <= low and high <= band:
        return "flat"
    return "cannot_tell"


def learning_curve(
    train: pd.DataFrame,
    folds: pd.DataFrame,
    schema: dict,
    strategy: str,
    full_pr_auc: list[float],
    settings: Settings,
) -> dict:
    """PR-AUC per fold with 25, 50 (several draws) and 100 % of the positives, and the gain
    of the last doubling.

    The pipeline makes the fits in CURVE_PARTS steps (`curve_part`) and `combine`s them; this
    is the same in one call.
    """
    parts = [
        curve_part(train, folds, schema, strategy, settings, part, CURVE_PARTS)
        for part in range(CURVE_PARTS)
    ]
    return combine(parts, strategy, full_pr_auc)


def planned_fits(fold_ids: list[int], own_full: bool) -> list[tuple[int, float, int]]:
    """Every fit of the curve as (fold, share, draw), in that order: per fold the quarter,
    HALF_DRAWS halves and, when the comparison's 100 % point cannot be reused, the whole."""
    per_fold = [(SHAPE, 0), *((HALF, d) for d in range(HALF_DRAWS))]
    per_fold += [(1.0, 0)] if own_full else []
    return [(k, share, draw) for k in fold_ids for share, draw in per_fold]


def draw_order(positive_ids: np.ndarray, draw: int, seed: int) -> pd.Series:
    """A seeded order of every training positive, by row id (the frame's order plays no part):
    each draw of a share keeps those first in its order."""
    ids = np.sort(np.asarray(positive_ids))
    rank = np.random.default_rng([seed, draw]).permutation(len(ids))
    return pd.Series(rank, index=ids)


def kept_positives(fold_ids: np.ndarray, share: float, order: pd.Series) -> np.ndarray:
    """Which of a fold's training positives (`fold_ids`) a share keeps: exactly
    round(share * n), at least one, those first in `order`. The quarter and the first half use
    one order, so the quarter is nested in that half."""
    fold_ids = np.sort(np.asarray(fold_ids))
    if share >= 1.0 or not len(fold_ids):
        return fold_ids
    keep = max(1, int(round(share * len(fold_ids))))
    return fold_ids[np.argsort(order[fold_ids].to_numpy(), kind="stable")[:keep]]


@limit_threads
def curve_part(
    train: pd.DataFrame,
    folds: pd.DataFrame,
    schema: dict,
    strategy: str,
    settings: Settings,
    part: int,
    parts: int,
) -> dict:
    """Every `parts`-th fit of `planned_fits`, from the `part`-th.

    Each fit is made as the comparison made it (its own preprocessing, the strategy, LightGBM)
    on a fold's training portion with a share of its positives (`kept_positives`), and is
    scored on the fold's validation portion (above VALIDATION_NEGATIVES, on a weighted sample
    of it). Above CURVE_NEGATIVES training negatives every share, 100 % included, fits on one
    seeded sample of them; below it, all negatives are kept and the comparison's own 100 %
    point is reused.
    """
    limit = min(settings.max_negatives or CURVE_NEGATIVES, CURVE_NEGATIVES)
    usable, sample = split.fitting_rows(train, limit, settings.seed)
    # With fewer negatives than the comparison fitted on, its 100 % point is not comparable.
    own_full = bool(sample["sampled"] and limit != settings.max_negatives)
    fold_of = train[ROW_ID].map(folds.set_index(ROW_ID)[FOLD]).to_numpy()
    fold_ids = sorted(int(k) for k in np.unique(fold_of))
    dealt = planned_fits(fold_ids, own_full)[part::parts]
    positive = (train[LABEL] == 1).to_numpy()
    row_ids = train[ROW_ID].to_numpy()
    orders = {d: draw_order(row_ids[positive], d, settings.seed) for d in range(HALF_DRAWS)}
    points, skipped = [], []
    for k in sorted({k for k, _, _ in dealt}):
        in_val = fold_of == k
        # The comparison's 100 % point was scored on every row: so are the shares beside it.
        val, weight = validation_sample(
            train[in_val], VALIDATION_NEGATIVES if own_full else 0, settings.seed + k
        )
        fold_positives = row_ids[~in_val & usable & positive]
        for share, draw in ((f, d) for j, f, d in dealt if j == k):
            kept = kept_positives(fold_positives, share, orders[draw])
            keep = ~in_val & usable & (~positive | np.isin(row_ids, kept))
            reason = None
            if not len(kept):  # few positives, all in this fold's validation
                reason = "no training positives in this share"
            else:
                score, reason = _fit_and_score(train[keep], val, schema, strategy, settings, weight)
            if reason:
                skipped.append({"fold": k, "fraction": share, "draw": draw, "reason": reason})
                continue
            points.append(
                {
                    "fold": k,
                    "fraction": share,
                    "draw": draw,
                    "pr_auc": score,
                    "positives": len(kept),
                }
            )
    return {
        "part": part,
        "dealt": [[k, share] for k, share, _ in dealt],
        "points": points,
        "skipped": skipped,
        "own_full": own_full,
        # Each fold's training positives, the 100 % point's when the comparison's is reused.
        "full_positives": [int((~(fold_of == k) & usable & positive).sum()) for k in fold_ids],
        "fitting_rows": sample,
    }


def combine(parts: list[dict], strategy: str, full_pr_auc: list[float]) -> dict:
    """The curve from every part's fits: per share the folds' PR-AUC (a fold's halves
    averaged over their draws), and the last doubling's gain with its interval.

    `full_pr_auc` is the comparison's per-fold PR-AUC of `strategy`, the 100 % point when the
    parts did not fit it themselves.
    """
    first = parts[0]
    own_full = first["own_full"]
    fitted = (SHAPE, HALF, 1.0) if own_full else (SHAPE, HALF)
    fits = [p for part in parts for p in part["points"]]
    per_fold = {share: _fold_means(fits, share) for share in (SHAPE, HALF, 1.0)}
    if not own_full:
        per_fold[1.0] = {
            "pr_auc": [float(v) for v in full_pr_auc],
            "positives": [float(v) for v in first["full_positives"]],
        }
    skipped = {
        f"fold {s['fold']}, {s['fraction']:.0%}": s["reason"]
        for s in sorted(
            (s for part in parts for s in part["skipped"]), key=lambda s: (s["fold"], s["fraction"])
        )
    }
    draws = {SHAPE: 1, HALF: HALF_DRAWS, 1.0: 1}
    curve = [
        {
            "fraction": share,
            "draws": draws[share],
            "positives": float(np.mean(p["positives"])) if p["positives"] else None,
            "pr_auc_mean": float(np.mean(p["pr_auc"])) if p["pr_auc"] else None,
            "pr_auc_std": float(np.std(p["pr_auc"], ddof=1)) if len(p["pr_auc"]) > 1 else None,
            "pr_auc_folds": p["pr_auc"],
        }
        for share, p in per_fold.items()
    ]
    out = {
        "strategy": strategy,
        "points": curve,
        "skipped": skipped,
        "fitting_rows": first["fitting_rows"],
        "validation_negatives": VALIDATION_NEGATIVES if own_full else None,
        "fitted_shares": list(fitted),
        "fits_per_fold": sum(draws[share] for share in fitted),
        "fits": len(fits),
    }
    if skipped:
        out["last_doubling"] = None
        out["sentence"] = (
            "No learning curve: the strategy could not run on a share of the positives "
            f"({next(iter(skipped.values()))})."
        )
        return out
    half, full = per_fold[HALF], per_fold[1.0]
    doubling = LastDoubling.measure(
        full["pr_auc"],
        half["pr_auc"],
        float(np.mean(half["positives"])),
        float(np.mean(full["positives"])),
    )
    out["last_doubling"] = doubling.to_json()
    out["sentence"] = describe(doubling)
    return out


def _fold_means(fits: list[dict], share: float) -> dict[str, list[float]]:
    """Per fold, in fold order: the mean PR-AUC and positives of a share's draws."""
    folds = sorted({p["fold"] for p in fits if p["fraction"] == share})
    # In draw order, whichever step made them: the means then add up alike.
    mine = [
        sorted((p for p in fits if p["fraction"] == share and p["fold"] == k), key=_draw)
        for k in folds
    ]
    return {
        key: [float(np.mean([p[key] for p in draws])) for draws in mine]
        for key in ("pr_auc", "positives")
    }


def _draw(point: dict) -> int:
    return point["draw"]


def validation_sample(
    val: pd.DataFrame, limit: int, seed: int
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """All positives and at most `limit` seeded negatives (0: all), with the weights that
    make average precision on them estimate average precision on the whole fold."""
    negative = val[LABEL].to_numpy() == 0
    if not limit or negative.sum() <= limit:
        return val, None
    # Drawn from sorted row ids, so the sample does not depend on the frame's row order.
    ids = np.sort(val.loc[negative, ROW_ID].to_numpy())
    drawn = np.random.default_rng(seed).choice(ids, size=limit, replace=False)
    sample = val[~negative | val[ROW_ID].isin(drawn).to_numpy()]
    weight = np.where(sample[LABEL].to_numpy() == 1, 1.0, len(ids) / limit)
    return sample, weight


def _fit_and_score(
    fit: pd.DataFrame,
    val: pd.DataFrame,
    schema: dict,
    strategy: str,
    settings: Settings,
    weight: np.ndarray | None = None,
) -> tuple[float | None, str | None]:
    ids = fit[ROW_ID].to_numpy()
    pre = preprocess.fit_preprocessor(fit, schema, ids)
    X, y = pre.transform(fit), fit[LABEL].to_numpy()
    result = resample(X, y, ids, strategy, settings, pre.categorical_indices)
    if result.skipped:
        return None, result.skipped
    rows = resampled_rows(X, y, ids, result)
    booster, _ = fit_strategy(
        strategy,
        *rows,
        settings=settings,
        cat_idx=pre.categorical_indices,
        scale_pos_weight=result.scale_pos_weight,
    )
    scores = model_core.predict(booster, pre.transform(val), settings.lgbm_threads)
    if np.ptp(scores) == 0:
        # Too few rows for one split (undersampling a quarter of a few positives leaves a
        # handful of rows): a constant score's PR-AUC is the fold's prevalence, which says
        # nothing about what more positives would buy.
        return None, (
            f"the model made no split on {len(rows[1]):,} training rows: a constant score says "
            "nothing about more positives"
        )
    return float(average_precision_score(val[LABEL], scores, sample_weight=weight)), None


def describe(doubling: LastDoubling) -> str:
    """The plain sentence the report leads its learning curve with, read off the interval."""
    gain, low, high = doubling.gain, doubling.ci_low, doubling.ci_high
    step = (
        f"the last doubling of the training positives, from {doubling.from_positives:,.0f} to "
        f"{doubling.to_positives:,.0f} per fold,"
    )
    if low is None or high is None:
        return (
            f"The folds cannot tell whether more positives help: {step} gained {gain:+.3f} "
            "PR-AUC, and a single fold gives no interval."
        )
    measured = f"{gain:+.3f} [{low:+.3f}, {high:+.3f}]"
    if doubling.verdict == "helps":
        return (
            f"More positives help ({measured} PR-AUC per doubling): {step} gained that much "
            "out of fold."
        )
    if doubling.verdict == "flat":
        return (
            f"Flat: {step} gained nothing measurable ({measured} PR-AUC, within "
            f"±{doubling.band:.2f} of no gain); more positives of this kind won't help."
        )
    if doubling.verdict == "hurts":
        return f"More positives did not help: {step} lowered PR-AUC ({measured})."
    return (
        f"The folds cannot tell whether more positives help: {step} gained {measured} PR-AUC, "
        f"an interval too wide to call flat (±{doubling.band:.2f}) or a gain."
    )
