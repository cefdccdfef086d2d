"""The strategy ladder as a table (`STRATEGIES`): each name becomes class weights, a sampler or a
bagging plan, with a full audit."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from imbal_pipeline.core.settings import LADDER

# The bagging plan is its own module; its names stay importable here, where callers found them.
from imbal_pipeline.core.train.bagging import (  # noqa: F401
    BAG_MEMBERS,
    BAG_ROUNDS_SHARE,
    bag_member_fit,
    bag_members,
    bag_size,
)
from imbal_pipeline.core.train.balance import Balance, balance_of, class_counts

K_NEIGHBORS = 5  # imblearn's default for SMOTE and friends
M_NEIGHBORS = 10  # BorderlineSMOTE's default danger-zone neighbourhood
ENN_NEIGHBORS = 3  # EditedNearestNeighbours' default
BAGGING = "balanced_bagging"
# Said in an audit's note when a strategy left its portion as it was for a stated reason: its
# model then fits the original rows, and the promise of a ratio does not apply.
NOTHING_RESAMPLED = "nothing resampled"


def plain_name(name: str) -> str:
    """A strategy as a title reads it: the ladder's first rung, `none`, alone reads as a
    missing value, so it is named for what it is."""
    return "no imbalance handling" if name == LADDER[0] else name


@dataclass
class Resampled:
    """What a strategy did to one training portion."""

    strategy: str
    kept_row_ids: np.ndarray  # original rows that stay, in training order
    synthetic_X: np.ndarray  # new rows made by an oversampler (0 rows otherwise)
    synthetic_y: np.ndarray
    scale_pos_weight: float | None
    audit: dict = field(default_factory=dict)

    @property
    def skipped(self) -> str | None:
        """Reason the strategy could not run on this portion, or None."""
        return self.audit.get("skipped")


def _params(obj) -> dict:
    """A sampler's constructor parameters, JSON-ready."""
    out = {}
    for key, value in obj.get_params(deep=False).items():
        if isinstance(value, np.ndarray):
            value = value.tolist()
        if isinstance(value, (str, int, float, bool, list, type(None))):
            out[key] = value
        else:
            out[key] = repr(value)
    return out


def _made_nothing(strategy: str, sampler, made: int, m: int) -> str | None:
    """Why an oversampler that ran made no row, when its method says so; else None.

    BorderlineSMOTE interpolates only from positives "in danger" (half or more, but not all,
    of their m nearest neighbours negative). With none it makes nothing: the method's answer
    on this portion, not a fault, and the rung's model then fits the original rows.
    """
    if strategy != "borderline_smote" or made or any(map(len, sampler.in_danger_indices.values())):
        return None
    return (
        f"BorderlineSMOTE made no rows: no minority row is in danger (half or more, but not all, "
        f"of its {m} nearest neighbours majority); {NOTHING_RESAMPLED}, so the model fits the "
        "original rows, as none's does"
    )


def made_nothing_notes(audits: dict[int, dict[str, dict]]) -> list[str]:
    """For the report: each rung that ran but resampled nothing in some folds, and why (an
    oversampler that made no row; balanced bagging on a portion already at the ratio).

    Such a rung is scored as what it was (in those folds, a fit on the original rows), not
    skipped: skipping would drop the method from the comparison for doing what it does on this
    data, while its scores say what it is worth here, and the ladder picks it only if it beats
    simpler rungs.
    """
    folds: dict[str, list[int]] = {}
    notes: dict[str, str] = {}
    for fold, by_strategy in sorted(audits.items()):
        for name, audit in by_strategy.items():
            note = audit.get("note") or ""
            if audit["steps"] and not audit["synthetic_rows"] and NOTHING_RESAMPLED in note:
                folds.setdefault(name, []).append(fold)
                notes.setdefault(name, note)
    return [
        f"`{name}` in fold(s) {', '.join(map(str, found))}: {notes[name]}. It is compared as it "
        "ran, not skipped."
        for name, found in folds.items()
    ]


@dataclass(frozen=True)
class Portion:
    """One training portion as a strategy sees it, and how it is asked to rebalance it."""

    X: np.ndarray
    y: np.ndarray  # 0/1 as int8
    row_ids: np.ndarray
    seed: int
    ratio: float  # the minority/majority ratio a resampler aims for
    cat_idx: list[int]
    smoteenn_max_rows: int | None

    @functools.cached_property
    def counts(self) -> dict[str, int]:
        return class_counts(self.y)

    @functools.cached_property
    def balance(self) -> Balance:
        """Its minority and majority by count: the negatives, where the positives are the
        majority (a confirmed majority --positive-label)."""
        return balance_of(self.counts)

    @property
    def current(self) -> float:
        """The minority/majority ratio the portion has."""
        return self.balance.ratio


@dataclass(frozen=True)
class Strategy:
    """One rung of the ladder, declared as imbalanced-learn declares its samplers: how it is
    applied (`method`, which writes its audit), whether it makes synthetic rows, the sampler
    and cleaner it builds, and the portions it refuses (a reason, or None)."""

    name: str
    method: Callable[[Strategy, Portion, Resampled], None]
    synthetic: bool = False
    sampler: Callable | None = None  # (portion, k, m) -> an imblearn sampler
    cleaner: Callable | None = None  # () -> an imblearn cleaning sampler, run after it
    refuses: Callable[[Portion], str | None] = lambda portion: None

    def build_sampler(self, portion: Portion, k: int, m: int):
        """The sampler this rung declares; a rung that resamples always declares one."""
        if self.sampler is None:
            raise ValueError(f"strategy {self.name!r} declares no sampler")
        return self.sampler(portion, k, m)


def _keep(strategy: Strategy, portion: Portion, result: Resampled) -> None:
    """The baseline: the portion as it is."""


def _weigh(strategy: Strategy, portion: Portion, result: Resampled) -> None:
    """LightGBM's scale_pos_weight at negatives per positive; every row kept. Below 1 where the
    positives are the majority: both classes then weigh the same in total, as above 1."""
    result.scale_pos_weight = portion.counts["0"] / portion.counts["1"]
    result.audit["steps"].append(
        {"step": "scale_pos_weight", "params": {"scale_pos_weight": result.scale_pos_weight}}
    )


def _bag(strategy: Strategy, portion: Portion, result: Resampled) -> None:
    """Balanced bagging's plan; its members are drawn where the model is fitted (`bag_members`):
    every minority row and a draw of majority rows each."""
    audit, classes = result.audit, portion.balance
    if classes.n_minority == 0:
        audit["skipped"] = "no minority rows in this portion; a bagged member needs them"
        return
    size = bag_size(classes.n_minority, classes.n_majority, portion.ratio)
    members = 1 if size >= classes.n_majority else BAG_MEMBERS
    if members == 1:
        # One member on every row fits the original rows, as `none` does: nothing rebalanced.
        audit["note"] = (
            f"minority/majority is already {portion.current:.3f} >= target {portion.ratio}; "
            f"one member on every row, {NOTHING_RESAMPLED}"
        )
    drawn = {classes.minority: classes.n_minority, classes.majority: size}
    audit["steps"].append(
        {
            "step": "BalancedBagging",
            "params": {
                "members": members,
                "positives_per_member": drawn["1"],
                "negatives_per_member": drawn["0"],
                "replacement": False,
                "member_seeds": [[portion.seed, i] for i in range(members)],
                "rounds_and_learning_rate": "a third of the rounds at 3x the rate",
                "aggregation": "mean of member probabilities",
            },
        }
    )
    audit["rows_after"] = {"0": drawn["0"], "1": drawn["1"]}


def _balanced_already(portion: Portion, result: Resampled) -> bool:
    """A portion at or above the target ratio is left as it is, and the audit says so."""
    if portion.current < portion.ratio:
        return False
    result.audit["note"] = (
        f"minority/majority is already {portion.current:.3f} >= target {portion.ratio}; "
        f"{NOTHING_RESAMPLED}"
    )
    return True


def _undersample(strategy: Strategy, portion: Portion, result: Resampled) -> None:
    """Drop negatives at random down to the ratio; only original rows stay."""
    if _balanced_already(portion, result):
        return
    sampler = strategy.build_sampler(portion, 0, 0)
    sampler.fit_resample(portion.X, portion.y)
    kept = np.sort(sampler.sample_indices_)
    result.kept_row_ids = portion.row_ids[kept]
    result.audit["steps"].append({"step": type(sampler).__name__, "params": _params(sampler)})
    result.audit["removed_rows"] = int(len(portion.y) - len(kept))
    result.audit["rows_after"] = class_counts(portion.y[kept])


def _oversample(strategy: Strategy, portion: Portion, result: Resampled) -> None:
    """Interpolate new minority rows up to the ratio (then clean, for SMOTEENN); the synthetic
    rows come after the originals, marked as synthetic."""
    audit, X, y, n_min = result.audit, portion.X, portion.y, portion.balance.n_minority
    if _balanced_already(portion, result):
        return
    audit["skipped"] = strategy.refuses(portion)
    if audit["skipped"]:
        return
    if n_min < 2:
        audit["skipped"] = f"only {n_min} minority row(s) in this portion; SMOTE needs at least 2"
        return
    k, m = min(K_NEIGHBORS, n_min - 1), min(M_NEIGHBORS, len(y) - 1)
    if k < K_NEIGHBORS:
        audit["note"] = f"k_neighbors lowered from {K_NEIGHBORS} to {k}: only {n_min} minority rows"
    sampler = strategy.build_sampler(portion, k, m)
    try:
        X_res, y_res = sampler.fit_resample(X, y)
    except (ValueError, RuntimeError) as exc:
        audit["skipped"] = f"{type(sampler).__name__} failed on this portion: {exc}"
        return
    X_res, y_res = np.asarray(X_res, dtype=np.float64), np.asarray(y_res)
    # imblearn's oversamplers append synthetic rows after the originals; that is what lets
    # every synthetic row be marked as such, so it is checked rather than assumed.
    if not np.array_equal(X_res[: len(y)], X) or not np.array_equal(y_res[: len(y)], y):
        raise RuntimeError(f"{type(sampler).__name__} reordered the original rows")
    audit["steps"].append({"step": type(sampler).__name__, "params": _params(sampler)})
    audit["rows_after_oversampling"] = class_counts(y_res)
    why = _made_nothing(strategy.name, sampler, len(y_res) - len(y), m)
    if why:
        audit["note"] = f"{audit['note']}; {why}" if audit["note"] else why
    keep = np.arange(len(y_res))
    if strategy.cleaner is not None:
        cleaner = strategy.cleaner()
        cleaner.fit_resample(X_res, y_res)
        keep = np.sort(cleaner.sample_indices_)
        audit["steps"].append({"step": type(cleaner).__name__, "params": _params(cleaner)})
    original, synthetic = keep[keep < len(y)], keep[keep >= len(y)]
    result.kept_row_ids = portion.row_ids[original]
    result.synthetic_X = X_res[synthetic]
    result.synthetic_y = y_res[synthetic].astype(np.int8)
    audit["synthetic_rows"] = int(len(synthetic))
    audit["removed_rows"] = int(len(y) - len(original))
    audit["rows_after"] = class_counts(y_res[keep])


def _random_under(portion: Portion, k: int, m: int):
    from imblearn.under_sampling import RandomUnderSampler

    return RandomUnderSampler(sampling_strategy=portion.ratio, random_state=portion.seed)


def _smote(portion: Portion, k: int, m: int):
    """SMOTE, or its variant for categorical columns: SMOTENC beside numbers, SMOTEN alone."""
    from imblearn.over_sampling import SMOTE, SMOTEN, SMOTENC

    ratio, seed, cat_idx = portion.ratio, portion.seed, portion.cat_idx
    if cat_idx and len(cat_idx) == portion.X.shape[1]:
        return SMOTEN(sampling_strategy=ratio, k_neighbors=k, random_state=seed)
    if cat_idx:
        return SMOTENC(
            categorical_features=cat_idx, sampling_strategy=ratio, k_neighbors=k, random_state=seed
        )
    return SMOTE(sampling_strategy=ratio, k_neighbors=k, random_state=seed)


def _borderline(portion: Portion, k: int, m: int):
    from imblearn.over_sampling import BorderlineSMOTE

    return BorderlineSMOTE(
        sampling_strategy=portion.ratio, k_neighbors=k, m_neighbors=m, random_state=portion.seed
    )


def _edited_neighbours():
    from imblearn.under_sampling import EditedNearestNeighbours

    return EditedNearestNeighbours(sampling_strategy="all", n_neighbors=ENN_NEIGHBORS)


def _categorical_refused(portion: Portion) -> str | None:
    if not portion.cat_idx:
        return None
    return (
        "BorderlineSMOTE has no categorical variant and would interpolate category codes; "
        "smote (SMOTENC) covers this data"
    )


def _too_many_rows(portion: Portion) -> str | None:
    limit, rows = portion.smoteenn_max_rows, len(portion.y)
    if limit is None or rows <= limit:
        return None
    return (
        f"SMOTEENN's cleaning grows about with rows^2; {rows:,} rows exceed the limit of "
        f"{limit:,} (raise --smoteenn-max-rows to run it anyway)"
    )


STRATEGIES: dict[str, Strategy] = {
    strategy.name: strategy
    for strategy in (
        Strategy("none", _keep),
        Strategy("class_weight", _weigh),
        Strategy("undersample", _undersample, sampler=_random_under),
        Strategy("smote", _oversample, synthetic=True, sampler=_smote),
        Strategy(
            "borderline_smote",
            _oversample,
            synthetic=True,
            sampler=_borderline,
            refuses=_categorical_refused,
        ),
        Strategy(
            "smoteenn",
            _oversample,
            synthetic=True,
            sampler=_smote,
            cleaner=_edited_neighbours,
            refuses=_too_many_rows,
        ),
        Strategy(BAGGING, _bag),
    )
}
if tuple(STRATEGIES) != LADDER:  # one rung, one entry, in the ladder's order
    raise ImportError(f"strategies {tuple(STRATEGIES)} != the ladder {LADDER}")
# The rungs whose models also fit on synthetic rows. Each fold fits them in a step of their own:
# two steps per fold pack two cores where five steps ran in three waves, the last on one core
# (at 1M rows they are 54 s of a fold's 126 s).
SYNTHETIC = tuple(name for name, strategy in STRATEGIES.items() if strategy.synthetic)


def resample(
    X: np.ndarray,
    y: np.ndarray,
    row_ids: np.ndarray,
    strategy: str,
    *,
    seed: int,
    ratio: float,
    cat_idx: list[int],
    smoteenn_max_rows: int | None = None,
) -> Resampled:
    """Apply one ladder strategy to a training portion; never raises for small minorities."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}")
    y = np.asarray(y).astype(np.int8)
    row_ids = np.asarray(row_ids, dtype=np.int64)
    portion = Portion(X, y, row_ids, seed, ratio, cat_idx, smoteenn_max_rows)
    before = portion.counts
    audit: dict = {
        "strategy": strategy,
        "seed": seed,
        "steps": [],
        "rows_before": before,
        "rows_after": before,
        "synthetic_rows": 0,
        "removed_rows": 0,
        "note": None,
        "skipped": None,
        "fitted_on_rows": int(len(row_ids)),
    }
    empty = np.empty((0, X.shape[1]))
    result = Resampled(strategy, row_ids, empty, np.empty(0, dtype=np.int8), None, audit)
    STRATEGIES[strategy].method(STRATEGIES[strategy], portion, result)
    said = portion.balance.describe()
    if said and audit["rows_after"] != before:  # it rebalanced, and not the positives
        audit["note"] = f"{audit['note']}; {said}" if audit["note"] else said
    return result
