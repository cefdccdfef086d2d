"""Decision-threshold objectives, tuned on out-of-fold predictions only."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TypedDict

import numpy as np
import numpy.typing as npt
import pandas as pd

from imbal_pipeline.core import settings as settings_core
from imbal_pipeline.core.settings import Settings
from imbal_pipeline.core.stats.fold_noise import corrected_se
from imbal_pipeline.core.values import Decision


class Counts(TypedDict):
    """True and false positives at each threshold, and the positives counted among."""

    tp: np.ndarray
    fp: np.ndarray
    positives: int


class Sweep(Counts):
    """The counts at every candidate threshold, with the thresholds."""

    threshold: np.ndarray


def _sweep(y: np.ndarray, scores: np.ndarray) -> Sweep:
    """Counts at every distinct score used as a threshold (score >= t is positive)."""
    order = np.argsort(-scores, kind="mergesort")
    s, yy = scores[order], y[order]
    tp = np.cumsum(yy)
    fp = np.cumsum(1 - yy)
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    return {"threshold": s[last], "tp": tp[last], "fp": fp[last], "positives": int(yy.sum())}


def _objective_values(sweep: Counts, settings: Settings) -> dict[str, np.ndarray]:
    tp, fp, positives = sweep["tp"], sweep["fp"], sweep["positives"]
    fn = positives - tp
    b2 = settings.beta**2
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 0.0)
        recall = tp / max(positives, 1)
        f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
        fbeta = (1 + b2) * tp / np.maximum((1 + b2) * tp + b2 * fn + fp, 1)
    cost = fp * settings.fp_cost + fn * settings.fn_cost
    return {"precision": precision, "recall": recall, "f1": f1, "fbeta": fbeta, "cost": cost}


def as_decided(settings: Settings, decision: Decision) -> Settings:
    """The settings with the objective and parameter a threshold was tuned under.

    A threshold is judged (and the baseline's tuned) by what it was tuned for, whatever the
    settings say now: evaluating a stored decision under a newly chosen objective would mix two.
    """
    objective = OBJECTIVES[decision.objective].name
    return dataclasses.replace(settings, objective=objective, **decision.params)


def tuned_for(settings: Settings, name: str) -> Settings:
    """The settings with the threshold tuned for the objective `name`, its parameters as set."""
    return dataclasses.replace(settings, objective=OBJECTIVES[name].name)


def tune_threshold(
    y: np.ndarray, scores: np.ndarray, row_ids: np.ndarray, settings: Settings
) -> dict:
    """Pick the threshold that optimizes the configured objective on these predictions.

    `row_ids` name the rows the threshold is tuned on (callers and tests trace them).
    """
    y = np.asarray(y).astype(np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    sweep = _sweep(y, scores)
    values = _objective_values(sweep, settings)
    objective = objective_of(settings)
    best = objective.pick(values, settings)
    thresholds = sweep["threshold"]
    # Midway to the next lower score: the same decisions on these rows, less fragile on new ones.
    lower = thresholds[best + 1] if best + 1 < len(thresholds) else 0.0
    value = float((thresholds[best] + lower) / 2)
    value = float(np.clip(value, 1e-6, 1 - 1e-6))
    return {
        "value": value,
        "objective": objective.name,
        "params": objective.params_of(settings),
        "at_threshold": {name: float(v[best]) for name, v in values.items()},
        "tuned_on_rows": int(len(y)),
        "tuned_on_positives": int(y.sum()),
    }


def fold_thresholds(
    y: np.ndarray, scores: np.ndarray, folds: np.ndarray, row_ids: np.ndarray, settings: Settings
) -> dict[int, dict]:
    """The threshold tuned on each fold's own out-of-fold scores, by fold."""
    y, scores, folds = np.asarray(y), np.asarray(scores), np.asarray(folds)
    row_ids = np.asarray(row_ids)
    return {
        int(k): tune_threshold(y[folds == k], scores[folds == k], row_ids[folds == k], settings)
        for k in np.unique(folds)
    }


def tune_per_fold(
    y: npt.ArrayLike,
    scores: npt.ArrayLike,
    folds: npt.ArrayLike,
    row_ids: npt.ArrayLike,
    settings: Settings,
    per_fold: dict[int, dict] | None = None,
) -> dict:
    """The deployed threshold: the median of the thresholds tuned on each fold's own scores,
    unless it does not beat 0.5 beyond noise on folds it was not tuned on (then `fallback`).

    The deployed model averages the fold models, and each fold's out-of-fold scores come from
    one of them: a threshold tuned per fold fits its own model's score scale, where pooling
    mixes scales. The median resists the folds with very few positives. With few positives
    the per-fold thresholds scatter (0.004 to 0.75 on one benchmark split) and the tuned one
    can lose to 0.5; as with strategies, the simpler choice stays unless the tuned one gains
    more than one corrected standard error (`versus_default`). Both rules were chosen by
    `benchmarks/transfer.py` (see BENCHMARKS.md). `per_fold` passes `fold_thresholds` of
    these very rows when the caller has them already.
    """
    y = np.asarray(y).astype(np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    folds, row_ids = np.asarray(folds), np.asarray(row_ids)
    if per_fold is None:
        per_fold = fold_thresholds(y, scores, folds, row_ids, settings)
    fold_values = {k: t["value"] for k, t in per_fold.items()}
    median = float(np.median(list(fold_values.values())))
    check = versus_default(y, scores, folds, fold_values, settings)
    earned = check is None or check["gain_mean"] > check["gain_se"]
    value, why = (median, None) if earned else fallback(y, scores, median)
    first = next(iter(per_fold.values()))
    rule = "median of the thresholds tuned on each fold's out-of-fold scores"
    if check is not None:
        gain = f"{check['figure']} {check['gain_mean']:+.3f} (corrected SE {check['gain_se']:.3f})"
        verdict = "more than one SE, so kept" if earned else f"not above one SE: {why}"
        rule = f"{rule}; cross-fitted against 0.5: {gain}, {verdict}"
    return {
        "value": value,
        "tuned_median": median,
        "versus_default": check,
        "fallback": why,
        "objective": first["objective"],
        "params": first["params"],
        "rule": rule,
        "fold_values": fold_values,
        # What the threshold does on all out-of-fold rows together.
        "at_threshold": _objective_at(y, scores >= value, settings),
        "tuned_on_rows": int(len(y)),
        "tuned_on_positives": int(y.sum()),
    }


# The untuned threshold a tuned one has to beat.
DEFAULT_THRESHOLD = 0.5


def fallback(y: np.ndarray, scores: np.ndarray, median: float) -> tuple[float, str]:
    """The threshold deployed when the tuned one did not earn its place, and why.

    The first of 0.5, the tuned median and the score that flags as many out-of-fold rows as
    there are positives that flags at least one out-of-fold row: a threshold that flags none
    decides nothing (F1 0 on every row), so it is no simpler rival to fall back on. Where 0.5
    flags nothing the tuned median stays, the cross-fitted evidence's best guess (it flags
    rows of at least one fold); the positive-rate score is the last resort, for scores so
    small that a tuned threshold's floor (1e-6) lies above them all. `benchmarks/
    statistics_gate.py` measures the rule against the others (BENCHMARKS.md).
    """
    if np.any(scores >= DEFAULT_THRESHOLD):
        return DEFAULT_THRESHOLD, f"{_LOST}, so {DEFAULT_THRESHOLD} is used"
    if np.any(scores >= median):
        return median, f"{_LOST}, but 0.5 flags no out-of-fold row, so the tuned median stays"
    rate_matched = float(np.sort(scores)[-max(int(y.sum()), 1)])
    return rate_matched, (
        f"{_LOST}, and neither 0.5 nor the tuned median flags an out-of-fold row, so the "
        "score that flags as many out-of-fold rows as there are positives"
    )


_LOST = "the tuned one did not beat 0.5 beyond noise"


def describe_choice(threshold: Mapping) -> str:
    """How the deployed threshold was reached, in a few words for the console and the report:
    "tuned for f1", or "fallback: ..." when the tuned one did not earn its place."""
    why, objective = threshold.get("fallback"), threshold.get("objective")
    if why:
        return f"fallback: {why}"
    return f"tuned for {objective}" if objective else "tuned"


def versus_default(
    y: np.ndarray, scores: np.ndarray, folds: np.ndarray, fold_values: dict, settings: Settings
) -> dict | None:
    """Cross-fitted gain of the tuned threshold over 0.5: on each fold, the median of the
    other folds' thresholds against 0.5, scored by the objective on that fold's own rows.

    Its standard error is the strategy ladder's (`fold_noise.corrected_se`): the folds'
    thresholds come from overlapping rows. None for the recall objective, whose target 0.5
    does not aim at.
    """
    objective = objective_of(settings)
    if objective.gain is None or len(fold_values) < 2:
        return None
    figure, sign = objective.gain
    gains = {}
    for k in fold_values:
        mine = folds == k
        elsewhere = float(np.median([v for j, v in fold_values.items() if j != k]))
        tuned, default = (
            _objective_at(y[mine], scores[mine] >= t, settings)[figure]
            for t in (elsewhere, DEFAULT_THRESHOLD)
        )
        gains[int(k)] = sign * (tuned - default)
    values = np.array(list(gains.values()))
    return {
        "figure": figure,
        "gain_by_fold": gains,
        "gain_mean": float(values.mean()),
        "gain_se": corrected_se(values.std(ddof=1), len(values)),
    }


def threshold_curve(y: npt.ArrayLike, scores: npt.ArrayLike, settings: Settings) -> pd.DataFrame:
    """Precision, recall, F1, F-beta and cost on a 0..1 grid, for plots and the report."""
    y = np.asarray(y).astype(np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    grid = np.linspace(0.0, 1.0, 201)
    ordered = np.sort(scores)
    positives_sorted = np.sort(scores[y == 1])
    predicted = len(scores) - np.searchsorted(ordered, grid, side="left")
    tp = len(positives_sorted) - np.searchsorted(positives_sorted, grid, side="left")
    values = _objective_values(Counts(tp=tp, fp=predicted - tp, positives=int(y.sum())), settings)
    return pd.DataFrame({"threshold": grid, **values})


def verify_operating_point(
    y: np.ndarray, scores: np.ndarray, threshold: float, settings: Settings, intervals: dict
) -> dict:
    """What the objective asked for, as reached on the holdout, with its interval.

    recall: the recall reached against --recall-target; cost: the cost per 1,000 rows against
    flagging nothing and flagging everything; f1/fbeta: the score reached. `met` is False when
    the holdout falls short, `clearly_missed` when even the interval's top does.
    """
    y = np.asarray(y).astype(np.int64)
    flagged = np.asarray(scores) >= threshold
    objective = objective_of(settings)
    return {"objective": objective.name, **objective.verify(y, flagged, settings, intervals)}


def _objective_at(y: np.ndarray, flagged: np.ndarray, settings: Settings) -> dict:
    tp = np.array([np.sum(flagged & (y == 1))])
    fp = np.array([np.sum(flagged & (y == 0))])
    values = _objective_values({"tp": tp, "fp": fp, "positives": int(y.sum())}, settings)
    return {k: float(v[0]) for k, v in values.items()}


# --- the objectives ---------------------------------------------------------------------------
# Each objective is one entry: the settings it reads, how it picks a threshold from the sweep's
# figures, the figure it is judged by against 0.5, and what "met" means on the holdout.


def _pick_max(figure: str):
    return lambda values, settings: int(np.argmax(values[figure]))


def _pick_cheapest(values: dict, settings: Settings) -> int:
    return int(np.argmin(values["cost"]))


def _pick_recall(values: dict, settings: Settings) -> int:
    """Highest precision among the thresholds that reach the recall target."""
    feasible = values["recall"] >= settings.recall_target
    precision = np.where(feasible, values["precision"], -1.0)
    # Among equal precision, the highest threshold (first index) flags fewest rows.
    return int(np.argmax(precision))


def _ends(intervals: dict, name: str) -> dict:
    """The figure's interval ends (`ci_low`, `ci_high`), without its other facts."""
    return {k: v for k, v in intervals.get(name, {}).items() if k in ("ci_low", "ci_high")}


def _verify_score(y: np.ndarray, flagged: np.ndarray, settings: Settings, intervals: dict) -> dict:
    name = settings.objective
    return {
        "asked": {"maximize": name, **({"beta": settings.beta} if name == "fbeta" else {})},
        "reached": {name: _objective_at(y, flagged, settings)[name], **_ends(intervals, name)},
        "met": True,  # a maximized score has no target to miss
        "clearly_missed": False,
    }


def _verify_cost(y: np.ndarray, flagged: np.ndarray, settings: Settings, intervals: dict) -> dict:
    n, positives = len(y), int(y.sum())
    tp = int(np.sum(flagged & (y == 1)))
    fp = int(np.sum(flagged & (y == 0)))
    per_1000 = 1000 / max(n, 1)
    cost = (fp * settings.fp_cost + (positives - tp) * settings.fn_cost) * per_1000
    nothing = positives * settings.fn_cost * per_1000
    everything = (n - positives) * settings.fp_cost * per_1000
    return {
        "asked": {"fp_cost": settings.fp_cost, "fn_cost": settings.fn_cost},
        "reached": {
            "cost_per_1000": cost,
            "flag_nothing_per_1000": nothing,
            "flag_everything_per_1000": everything,
        },
        "met": cost < min(nothing, everything),
        "clearly_missed": cost >= min(nothing, everything),
    }


def _verify_recall(y: np.ndarray, flagged: np.ndarray, settings: Settings, intervals: dict) -> dict:
    recall = int(np.sum(flagged & (y == 1))) / max(int(y.sum()), 1)
    ci = _ends(intervals, "recall")
    return {
        "asked": {"recall": settings.recall_target},
        "reached": {"recall": recall, **ci},
        "met": recall >= settings.recall_target,
        "clearly_missed": ci.get("ci_high", 1.0) < settings.recall_target,
    }


@dataclasses.dataclass(frozen=True)
class ThresholdObjective:
    """What a threshold is tuned for: one entry of `OBJECTIVES`, chosen by `--objective`."""

    name: settings_core.Objective
    params: tuple[str, ...]  # the settings it reads (recorded with every threshold tuned)
    pick: Callable[[dict, Settings], int]  # index of the best threshold in the sweep
    verify: Callable[[np.ndarray, np.ndarray, Settings, dict], dict]  # the holdout's verdict
    # The figure and its sign (+1: higher is better) that must beat 0.5; None when 0.5 is no
    # rival (a recall target).
    gain: tuple[str, float] | None
    # The paired holdout figure the model must not lose to the baseline on; None for recall,
    # whose target `operating_point` checks (a lower threshold always buys recall).
    versus_baseline: str | None
    plotted: tuple[str, ...] = ("precision", "recall", "f1")  # the threshold plot's curves

    def params_of(self, settings: Settings) -> dict:
        return {name: getattr(settings, name) for name in self.params}

    @property
    def priced(self) -> bool:
        """Whether false alarms and misses have costs (then savings are reported)."""
        return "fp_cost" in self.params


OBJECTIVES: dict[str, ThresholdObjective] = {
    o.name: o
    for o in (
        ThresholdObjective("f1", (), _pick_max("f1"), _verify_score, ("f1", 1.0), "f1"),
        ThresholdObjective(
            "fbeta",
            ("beta",),
            _pick_max("fbeta"),
            _verify_score,
            ("fbeta", 1.0),
            "fbeta",
            plotted=("precision", "recall", "f1", "fbeta"),
        ),
        ThresholdObjective(
            "cost",
            ("fp_cost", "fn_cost"),
            _pick_cheapest,
            _verify_cost,
            ("cost", -1.0),
            "saving_per_1000",
        ),
        ThresholdObjective("recall", ("recall_target",), _pick_recall, _verify_recall, None, None),
    )
}
if set(OBJECTIVES) != set(settings_core.OBJECTIVES):  # one objective, one entry, both ways
    raise ImportError(f"threshold objectives {sorted(OBJECTIVES)} != {settings_core.OBJECTIVES}")


def objective_of(settings: Settings) -> ThresholdObjective:
    """The settings' objective; Settings validates it, this guards direct calls."""
    try:
        return OBJECTIVES[settings.objective]
    except KeyError:
        raise ValueError(f"unknown threshold objective {settings.objective!r}") from None
