"""The data-collection estimate: how cross-validated PR-AUC grows with the training positives."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import average_precision_score

from imbal_pipeline.core import model as model_core
from imbal_pipeline.core import preprocess, split
from imbal_pipeline.core.settings import FOLD, LABEL, ROW_ID, Settings
from imbal_pipeline.core.training import fit_strategy, limit_threads, resample, resampled_rows

# Shares of the training positives each fold fits on; the whole split (1.0) is the strategy
# comparison's own per-fold PR-AUC, so it costs no fit here.
FRACTIONS = (0.25, 0.5, 0.75)
# Below this gain per doubling, even at the interval's optimistic end, the curve is called flat.
FLAT = 0.02
# The curve asks about positives, so its fits keep at most this many negatives (one seeded
# sample, as --max-negatives draws it): at 1M rows its 20 fits then take about a minute instead
# of adding five to the run. Below it, the comparison's own 100 % point is reused.
CURVE_NEGATIVES = 50_000
# Above this many negatives in a validation fold, each fold's points are scored on all its
# positives and one seeded sample of its negatives, weighted back to the whole fold. At 1M rows
# that scores 51,600 rows per fit instead of 160,000; every share of a fold is scored on the
# same rows, so the sample moves a fold's points together and its slope hardly at all.
VALIDATION_NEGATIVES = 50_000
# The curve's fits are made in this many steps, each taking every CURVE_PARTS-th fit: on two
# cores the two run side by side (at 1M rows, 20 fits in about 55 s instead of 107 s). One step
# per fold (five) would leave a core idle for the last one's fits, and every step reads the
# whole split again (about 3 s at 1M rows).
CURVE_PARTS = 2


def learning_curve(
    train: pd.DataFrame,
    folds: pd.DataFrame,
    schema: dict,
    strategy: str,
    full_pr_auc: list[float],
    settings: Settings,
) -> dict:
    """PR-AUC per fold with 25/50/75/100 % of the positives, and the gain per doubling.

    The pipeline makes the fits in CURVE_PARTS steps (`curve_part`) and `combine`s them; this
    is the same in one call.
    """
    parts = [
        curve_part(train, folds, schema, strategy, settings, part, CURVE_PARTS)
        for part in range(CURVE_PARTS)
    ]
    return combine(parts, strategy, full_pr_auc)


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
    """Every `parts`-th fit of the curve, from the `part`-th, in (fold, share) order.

    Each fit is made as the comparison made it (its own preprocessing, the strategy, LightGBM)
    on a fold's training portion with a share of the positives held back, and is scored on the
    fold's validation portion (above VALIDATION_NEGATIVES, on a weighted sample of it). The
    shares are nested (the 25 % are among the 50 %) and drawn in row-id order from one seeded
    permutation, the same in every fold. Above CURVE_NEGATIVES training negatives every share,
    100 % included, fits on one seeded sample of them; below it, all negatives are kept and the
    comparison's own 100 % point is reused.
    """
    rng = np.random.default_rng(settings.seed)
    positives = np.sort(train.loc[train[LABEL] == 1, ROW_ID].to_numpy())
    rank = pd.Series(rng.permutation(len(positives)) / len(positives), index=positives)
    share = train[ROW_ID].map(rank).to_numpy()  # NaN for negatives
    limit = min(settings.max_negatives or CURVE_NEGATIVES, CURVE_NEGATIVES)
    usable, sample = split.fitting_rows(train, limit, settings.seed)
    # With fewer negatives than the comparison fitted on, its 100 % point is not comparable.
    own_full = bool(sample["sampled"] and limit != settings.max_negatives)
    fold_of = train[ROW_ID].map(folds.set_index(ROW_ID)[FOLD]).to_numpy()
    fold_ids = sorted(int(k) for k in np.unique(fold_of))
    fits = [(k, f) for k in fold_ids for f in ((*FRACTIONS, 1.0) if own_full else FRACTIONS)]
    negative = (train[LABEL] == 0).to_numpy()
    dealt = fits[part::parts]
    points, skipped = [], []
    for k in sorted({k for k, _ in dealt}):
        in_val = fold_of == k
        # The comparison's 100 % point was scored on every row: so are the shares beside it.
        limit = VALIDATION_NEGATIVES if own_full else 0
        val, weight = validation_sample(train[in_val], limit, settings.seed + k)
        for fraction in (f for j, f in dealt if j == k):
            keep = ~in_val & usable & (negative | (share < fraction))
            reason = None
            if not train.loc[keep, LABEL].any():  # few positives, all in this fold's validation
                reason = "no training positives in this share"
            else:
                score, reason = _fit_and_score(train[keep], val, schema, strategy, settings, weight)
            if reason:
                skipped.append({"fold": k, "fraction": fraction, "reason": reason})
                continue
            n = int(train.loc[keep, LABEL].sum())
            points.append({"fold": k, "fraction": fraction, "pr_auc": score, "positives": n})
    return {
        "part": part,
        "dealt": [list(fit) for fit in dealt],
        "points": points,
        "skipped": skipped,
        "own_full": own_full,
        # Each fold's training positives, the 100 % point's when the comparison's is reused.
        "full_positives": [int(train.loc[(fold_of != k) & usable, LABEL].sum()) for k in fold_ids],
        "fitting_rows": sample,
    }


def combine(parts: list[dict], strategy: str, full_pr_auc: list[float]) -> dict:
    """The curve from every part's fits: mean and spread per share, and the gain per doubling.

    `full_pr_auc` is the comparison's per-fold PR-AUC of `strategy`, the 100 % point when the
    parts did not fit it themselves.
    """
    first = parts[0]
    own_full = first["own_full"]
    fitted = (*FRACTIONS, 1.0) if own_full else FRACTIONS
    points = {f: {"pr_auc": [], "positives": []} for f in (*FRACTIONS, 1.0)}
    by_fit = sorted(
        (p for part in parts for p in part["points"]), key=lambda p: (p["fold"], p["fraction"])
    )
    for p in by_fit:
        points[p["fraction"]]["pr_auc"].append(p["pr_auc"])
        points[p["fraction"]]["positives"].append(p["positives"])
    if not own_full:
        points[1.0] = {
            "pr_auc": [float(v) for v in full_pr_auc],
            "positives": list(first["full_positives"]),
        }
    skipped = {
        f"fold {s['fold']}, {s['fraction']:.0%}": s["reason"]
        for s in sorted(
            (s for part in parts for s in part["skipped"]), key=lambda s: (s["fold"], s["fraction"])
        )
    }
    curve = [
        {
            "fraction": fraction,
            "positives": float(np.mean(p["positives"])) if p["positives"] else None,
            "pr_auc_mean": float(np.mean(p["pr_auc"])) if p["pr_auc"] else None,
            "pr_auc_std": float(np.std(p["pr_auc"], ddof=1)) if len(p["pr_auc"]) > 1 else None,
            "pr_auc_folds": p["pr_auc"],
        }
        for fraction, p in points.items()
    ]
    out = {
        "strategy": strategy,
        "points": curve,
        "skipped": skipped,
        "fitting_rows": first["fitting_rows"],
        "validation_negatives": VALIDATION_NEGATIVES if own_full else None,
        "fitted_shares": list(fitted),
        "fits": sum(len(points[f]["pr_auc"]) for f in fitted),
    }
    if skipped:
        out["doubling"] = None
        out["sentence"] = (
            "No learning curve: the strategy could not run on a share of the positives "
            f"({next(iter(skipped.values()))})."
        )
        return out
    out["doubling"] = doubling_gain(points, len(first["full_positives"]))
    out["sentence"] = describe(out["doubling"], int(round(curve[-1]["positives"])))
    return out


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
    booster, _ = fit_strategy(
        strategy,
        *resampled_rows(X, y, ids, result),
        settings=settings,
        cat_idx=pre.categorical_indices,
        scale_pos_weight=result.scale_pos_weight,
    )
    scores = model_core.predict(booster, pre.transform(val), settings.lgbm_threads)
    return float(average_precision_score(val[LABEL], scores, sample_weight=weight)), None


def doubling_gain(points: dict, n_folds: int, level: float = 0.95) -> dict:
    """PR-AUC gained per doubling of the positives: the mean per-fold slope on log2(positives).

    Each fold's slope is a least-squares line through its own four points, so fold difficulty
    cancels as in the strategy comparison; the folds' training portions overlap, so the SE of
    the mean slope carries the same Nadeau & Bengio correction.
    """
    fractions = sorted(points)
    x = np.log2(np.array([points[f]["positives"] for f in fractions], dtype=float)).T
    y = np.array([points[f]["pr_auc"] for f in fractions], dtype=float).T
    slopes = np.array([np.polyfit(xi, yi, 1)[0] for xi, yi in zip(x, y, strict=True)])
    gain = float(slopes.mean())
    if n_folds < 2:
        return {"gain": gain, "ci_low": None, "ci_high": None, "fold_slopes": slopes.tolist()}
    se = float(slopes.std(ddof=1) * np.sqrt(1 / n_folds + 1 / (n_folds - 1)))
    t = float(stats.t.ppf(0.5 + level / 2, n_folds - 1))
    return {
        "gain": gain,
        "ci_low": gain - t * se,
        "ci_high": gain + t * se,
        "fold_slopes": slopes.tolist(),
    }


def describe(doubling: dict, positives: int) -> str:
    """The plain sentence the report leads its learning curve with."""
    gain, low, high = doubling["gain"], doubling["ci_low"], doubling["ci_high"]
    if low is None:
        return f"Doubling the {positives:,} positives would change PR-AUC by about {gain:+.3f}."
    interval = f"95% interval {low:+.3f} to {high:+.3f}"
    if high < FLAT:
        return (
            f"The curve is flat (doubling the {positives:,} positives: {gain:+.3f} PR-AUC, "
            f"{interval}): more positives of this kind won't help; the features must."
        )
    if low > 0:
        return (
            f"Doubling the {positives:,} positives is expected to add about {gain:+.3f} PR-AUC "
            f"({interval}): collecting more positives should pay."
        )
    return (
        f"Doubling the {positives:,} positives would add about {gain:+.3f} PR-AUC, but the "
        f"{interval} spans both no gain and a real one; the folds cannot tell."
    )
