"""The strategy ladder: each name becomes class weights or a sampler, with a full audit."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from imbal_pipeline.core.settings import LADDER

K_NEIGHBORS = 5  # imblearn's default for SMOTE and friends
M_NEIGHBORS = 10  # BorderlineSMOTE's default danger-zone neighbourhood
ENN_NEIGHBORS = 3  # EditedNearestNeighbours' default
BAG_MEMBERS = 10  # imblearn's BalancedBaggingClassifier and EasyEnsembleClassifier default
# Each member boosts a third of the rounds at three times the learning rate: the same step
# budget, measured by benchmarks/bagging.py over 33 splits as holdout PR-AUC +0.0006 (SE 0.0011)
# for a third of the CPU; at 1M rows the full rounds cost 60 s of each fold's 160 s.
BAG_ROUNDS_SHARE = 3


def bag_member_fit(n_estimators: int, learning_rate: float) -> tuple[int, float]:
    """Boosting rounds and learning rate of one balanced-bagging member."""
    rounds = max(1, round(n_estimators / BAG_ROUNDS_SHARE))
    return rounds, min(1.0, learning_rate * n_estimators / rounds)


BAGGING = "balanced_bagging"
# The rungs whose models also fit on synthetic rows. Each fold fits them in a step of their own:
# two steps per fold pack two cores where five steps ran in three waves, the last on one core
# (at 1M rows they are 54 s of a fold's 126 s).
SYNTHETIC = ("smote", "borderline_smote", "smoteenn")
# Said in an audit's note when a strategy left its portion as it was for a stated reason: its
# model then fits the original rows, and the promise of a ratio does not apply.
NOTHING_RESAMPLED = "nothing resampled"


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


def _counts(y: np.ndarray) -> dict[str, int]:
    return {"0": int((y == 0).sum()), "1": int((y == 1).sum())}


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


def bag_size(n_pos: int, n_neg: int, ratio: float) -> int:
    """Negatives each bagged member draws: enough for minority/majority = `ratio`."""
    return min(n_neg, int(np.ceil(n_pos / ratio)))


def bag_members(y: np.ndarray, ratio: float, seed: int) -> list[np.ndarray]:
    """Row positions of each balanced-bagging member: every positive and its own draw of
    negatives without replacement (EasyEnsemble's scheme), sorted; seeded per member."""
    y = np.asarray(y)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    size = bag_size(len(pos), len(neg), ratio)
    if size >= len(neg):  # every member would see the same rows: one is enough
        return [np.arange(len(y))]
    members = []
    for i in range(BAG_MEMBERS):
        drawn = np.random.default_rng([seed, i]).choice(neg, size=size, replace=False)
        members.append(np.sort(np.concatenate([pos, drawn])))
    return members


def _oversampler(
    name: str, k: int, m: int, ratio: float, seed: int, cat_idx: list[int], width: int
):
    from imblearn.over_sampling import SMOTE, SMOTEN, SMOTENC, BorderlineSMOTE

    if name == "borderline_smote":
        return BorderlineSMOTE(
            sampling_strategy=ratio, k_neighbors=k, m_neighbors=m, random_state=seed
        )
    if cat_idx and len(cat_idx) == width:
        return SMOTEN(sampling_strategy=ratio, k_neighbors=k, random_state=seed)
    if cat_idx:
        return SMOTENC(
            categorical_features=cat_idx, sampling_strategy=ratio, k_neighbors=k, random_state=seed
        )
    return SMOTE(sampling_strategy=ratio, k_neighbors=k, random_state=seed)


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
    """For the report: each oversampler that ran but made no row in some folds, and why.

    Such a rung is scored as what it was (in those folds, `none`'s fit), not skipped: skipping
    would drop the method from the comparison for doing what it does on this data, while its
    scores say what it is worth here, and the ladder picks it only if it beats simpler rungs.
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
    if strategy not in LADDER:
        raise ValueError(f"unknown strategy {strategy!r}")
    y = np.asarray(y).astype(np.int8)
    row_ids = np.asarray(row_ids, dtype=np.int64)
    before = _counts(y)
    n_pos, n_neg = before["1"], before["0"]
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
    if strategy == "none":
        return result
    if strategy == "class_weight":
        result.scale_pos_weight = n_neg / n_pos
        audit["steps"].append(
            {"step": "scale_pos_weight", "params": {"scale_pos_weight": result.scale_pos_weight}}
        )
        return result

    current = n_pos / n_neg if n_neg else float("inf")
    if strategy == BAGGING:
        if n_pos == 0:
            audit["skipped"] = "no minority rows in this portion; a bagged member needs them"
            return result
        size = bag_size(n_pos, n_neg, ratio)
        members = 1 if size >= n_neg else BAG_MEMBERS
        if members == 1:
            audit["note"] = (
                f"minority/majority is already {current:.3f} >= target {ratio}; one member "
                "on every row"
            )
        # The members are drawn where the model is fitted (`bag_members`), from these figures.
        audit["steps"].append(
            {
                "step": "BalancedBagging",
                "params": {
                    "members": members,
                    "positives_per_member": n_pos,
                    "negatives_per_member": size,
                    "replacement": False,
                    "member_seeds": [[seed, i] for i in range(members)],
                    "rounds_and_learning_rate": "a third of the rounds at 3x the rate",
                    "aggregation": "mean of member probabilities",
                },
            }
        )
        audit["rows_after"] = {"0": size, "1": n_pos}
        return result

    if current >= ratio:
        audit["note"] = (
            f"minority/majority is already {current:.3f} >= target {ratio}; {NOTHING_RESAMPLED}"
        )
        return result

    if strategy == "undersample":
        from imblearn.under_sampling import RandomUnderSampler

        sampler = RandomUnderSampler(sampling_strategy=ratio, random_state=seed)
        sampler.fit_resample(X, y)
        kept = np.sort(sampler.sample_indices_)
        result.kept_row_ids = row_ids[kept]
        audit["steps"].append({"step": "RandomUnderSampler", "params": _params(sampler)})
        audit["removed_rows"] = int(len(y) - len(kept))
        audit["rows_after"] = _counts(y[kept])
        return result

    if strategy == "borderline_smote" and cat_idx:
        audit["skipped"] = (
            "BorderlineSMOTE has no categorical variant and would interpolate category codes; "
            "smote (SMOTENC) covers this data"
        )
        return result
    if strategy == "smoteenn" and smoteenn_max_rows is not None and len(y) > smoteenn_max_rows:
        audit["skipped"] = (
            f"SMOTEENN's cleaning grows about with rows^2; {len(y):,} rows exceed the limit of "
            f"{smoteenn_max_rows:,} (raise --smoteenn-max-rows to run it anyway)"
        )
        return result
    if n_pos < 2:
        audit["skipped"] = f"only {n_pos} minority row(s) in this portion; SMOTE needs at least 2"
        return result
    k = min(K_NEIGHBORS, n_pos - 1)
    m = min(M_NEIGHBORS, len(y) - 1)
    if k < K_NEIGHBORS:
        audit["note"] = f"k_neighbors lowered from {K_NEIGHBORS} to {k}: only {n_pos} minority rows"
    sampler = _oversampler(strategy, k, m, ratio, seed, cat_idx, X.shape[1])
    try:
        X_res, y_res = sampler.fit_resample(X, y)
    except (ValueError, RuntimeError) as exc:
        audit["skipped"] = f"{type(sampler).__name__} failed on this portion: {exc}"
        return result
    X_res = np.asarray(X_res, dtype=np.float64)
    # imblearn's oversamplers append synthetic rows after the originals; that is what lets
    # every synthetic row be marked as such, so it is checked rather than assumed.
    if not np.array_equal(X_res[: len(y)], X) or not np.array_equal(y_res[: len(y)], y):
        raise RuntimeError(f"{type(sampler).__name__} reordered the original rows")
    audit["steps"].append({"step": type(sampler).__name__, "params": _params(sampler)})
    audit["rows_after_oversampling"] = _counts(np.asarray(y_res))
    why = _made_nothing(strategy, sampler, len(y_res) - len(y), m)
    if why:
        audit["note"] = f"{audit['note']}; {why}" if audit["note"] else why
    keep = np.arange(len(y_res))

    if strategy == "smoteenn":
        from imblearn.under_sampling import EditedNearestNeighbours

        enn = EditedNearestNeighbours(sampling_strategy="all", n_neighbors=ENN_NEIGHBORS)
        enn.fit_resample(X_res, y_res)
        keep = np.sort(enn.sample_indices_)
        audit["steps"].append({"step": "EditedNearestNeighbours", "params": _params(enn)})

    original = keep[keep < len(y)]
    synthetic = keep[keep >= len(y)]
    result.kept_row_ids = row_ids[original]
    result.synthetic_X = X_res[synthetic]
    result.synthetic_y = np.asarray(y_res)[synthetic].astype(np.int8)
    audit["synthetic_rows"] = int(len(synthetic))
    audit["removed_rows"] = int(len(y) - len(original))
    audit["rows_after"] = _counts(np.asarray(y_res)[keep])
    return result
