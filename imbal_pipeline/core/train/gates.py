"""Python gates for the rules a GX suite cannot express; each returns one Gate per check."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from imbal_pipeline.core import checks
from imbal_pipeline.core.data.split import fitting_rows
from imbal_pipeline.core.gate import ERROR, WARN, Gate, fail, ok
from imbal_pipeline.core.settings import (
    FOLD,
    GROUP,
    LABEL,
    ROW_ID,
    SPLIT,
    STRATEGY,
    Settings,
)
from imbal_pipeline.core.train.balance import NEGATIVE, balance_of
from imbal_pipeline.core.train.preprocess import Preprocessor, category_text, fingerprint
from imbal_pipeline.core.train.strategies import NOTHING_RESAMPLED
from imbal_pipeline.core.values import Bag, Decision, FoldSets, Profile


def from_contract(name: str, result) -> Gate:
    """A gate from a GX ContractResult."""
    observed = {"expectations": result.evaluated, "failures": result.failures}
    if result.success:
        return ok(name, result.summary(), **observed)
    return fail(name, result.summary(), **observed)


# --- holdout split ---------------------------------------------------------------------------


@checks.gate("split_rates")
def split_rates(frame: pd.DataFrame, explicit: bool) -> Gate:
    """Positives in both parts, each part's positive rate close to the whole's."""
    whole = float(frame[LABEL].mean())
    rates, counts = {}, {}
    for part, rows in frame.groupby(SPLIT):
        rates[str(part)] = float(rows[LABEL].mean())
        counts[str(part)] = {"rows": int(len(rows)), "positives": int(rows[LABEL].sum())}
    for part, count in counts.items():
        if count["positives"] == 0:
            return fail(
                "split_rates",
                f"the {part} part has no positives; give a holdout that contains positives",
                rates=rates,
                counts=counts,
            )
    # Stratification puts each part within one row of the whole's rate; an explicit
    # (e.g. out-of-time) holdout may drift, which is worth knowing but not an error.
    drift = {p: abs(r - whole) for p, r in rates.items()}
    limit = {p: max(0.5 * whole, 2.0 / counts[p]["rows"]) for p in rates}
    off = [p for p in rates if drift[p] > limit[p]]
    if off:
        return fail(
            "split_rates",
            f"the {off[0]} positive rate {rates[off[0]]:.4f} is far from the whole's "
            f"{whole:.4f}; check the holdout file's period or labels",
            severity=WARN if explicit else ERROR,
            rates=rates,
            counts=counts,
        )
    return ok(
        "split_rates", f"positive rates {rates} vs {whole:.4f} overall", rates=rates, counts=counts
    )


@checks.gate("straddling_duplicates")
def straddling_duplicates(frame: pd.DataFrame, feature_columns: list) -> Gate:
    """Identical rows on both sides of the split leak answers into the evaluation (warning)."""
    keys = pd.util.hash_pandas_object(frame[feature_columns + [LABEL]], index=False)
    train_keys = set(keys[frame[SPLIT] == "train"])
    holdout = keys[frame[SPLIT] == "holdout"]
    count = int(holdout.isin(train_keys).sum())
    if count:
        return fail(
            "straddling_duplicates",
            f"{count} holdout rows duplicate a training row; the holdout estimate is "
            "optimistic: deduplicate before splitting if they are not real repeats",
            severity=WARN,
            holdout_rows_duplicated=count,
        )
    return ok(
        "straddling_duplicates",
        "no holdout row duplicates a training row",
        holdout_rows_duplicated=0,
    )


@checks.gate("unseen_categories")
def unseen_categories(frame: pd.DataFrame, categorical: list) -> Gate:
    """Holdout categories never seen in training are scored as missing (warning)."""
    unseen = {}
    train = frame[frame[SPLIT] == "train"]
    holdout = frame[frame[SPLIT] == "holdout"]
    for column in categorical:
        seen = set(category_text(train[column], missing=None).dropna())
        new = sorted(set(category_text(holdout[column], missing=None).dropna()) - seen)
        if new:
            unseen[str(column)] = new[:10]
    if unseen:
        column, values = next(iter(unseen.items()))
        return fail(
            "unseen_categories",
            f"holdout column {column!r} has categories never seen in training "
            f"(e.g. {values[0]!r}); they are scored as missing",
            severity=WARN,
            columns=unseen,
        )
    return ok("unseen_categories", "every holdout category was seen in training")


@checks.gate("profile_consistent")
def profile_consistent(profile: Profile, training_rows: int, n_folds: int) -> Gate:
    """The class counts add up to the training split, with a positive for every fold."""
    positives = profile.positives
    if positives + profile.negatives == training_rows and positives >= n_folds:
        return ok(
            "profile_consistent",
            f"{positives} training positives for {n_folds} folds; counts add up",
        )
    return fail(
        "profile_consistent",
        f"only {positives} training positives for {n_folds} folds; lower --folds or give more data",
    )


# --- folds -----------------------------------------------------------------------------------


@checks.gate("folds_partition")
def folds_partition(folds: pd.DataFrame, train: pd.DataFrame, n_folds: int) -> Gate:
    """Folds partition the training split exactly; every portion has positives."""
    if set(folds[ROW_ID]) != set(train[ROW_ID]) or len(folds) != len(train):
        return fail(
            "folds_partition",
            "the folds do not partition the training split exactly; rematerialize cv_folds",
        )
    merged = folds.merge(train[[ROW_ID, LABEL]], on=ROW_ID)
    total = int(merged[LABEL].sum())
    per_fold = merged.groupby(FOLD)[LABEL].sum().reindex(range(n_folds), fill_value=0)
    positives = dict(enumerate(per_fold.to_numpy().tolist()))  # fold -> validation positives
    empty_val = [k for k, p in positives.items() if p == 0]
    empty_train = [k for k, p in positives.items() if total - p == 0]
    observed: dict[str, Any] = {
        "validation_positives": {str(k): int(v) for k, v in positives.items()}
    }
    if empty_val or empty_train:
        k = (empty_val or empty_train)[0]
        part = "validation" if empty_val else "training"
        return fail(
            "folds_partition",
            f"fold {k}'s {part} portion has no positives; lower --folds",
            **observed,
        )
    if GROUP in train.columns:
        merged = folds.merge(train[[ROW_ID, GROUP]], on=ROW_ID)
        parted = int((merged.groupby(GROUP)[FOLD].nunique() > 1).sum())
        if parted:
            return fail(
                "folds_partition",
                f"{parted} groups of rows are split between folds, so a fold is scored on "
                "near-copies of its training rows; rematerialize cv_folds",
                groups_parted=parted,
                **observed,
            )
    return ok("folds_partition", f"{n_folds} folds partition the training split", **observed)


@checks.gate("groups_kept_together")
def groups_kept_together(frame: pd.DataFrame, explicit: bool) -> Gate:
    """No group (see split.row_groups) on both sides of the holdout; a warning for a given file."""
    if GROUP not in frame.columns:
        return ok("groups_kept_together", "every row is its own group (--no-duplicates-together)")
    sides = frame.groupby(GROUP)[SPLIT].nunique()
    parted = sides.index[sides > 1]
    rows = int(frame[GROUP].isin(parted).sum())
    if not rows:
        return ok("groups_kept_together", "no group of rows has members on both sides")
    if explicit:
        return fail(
            "groups_kept_together",
            f"{rows} rows belong to {len(parted)} groups found in both the training and the "
            "holdout file; the holdout estimate is optimistic for them: move whole groups",
            severity=WARN,
            rows=rows,
            groups=len(parted),
        )
    return fail(
        "groups_kept_together",
        f"{rows} rows belong to {len(parted)} groups split across the holdout; "
        "rematerialize holdout_split",
        rows=rows,
        groups=len(parted),
    )


@checks.gate("groups_fit_the_folds")
def groups_fit_the_folds(frame: pd.DataFrame, settings: Settings) -> Gate:
    """No group so large that, kept whole, it fills most of one fold (warning).

    One group over half a fold's share of the rows sits in one fold and on one side of the
    split: the folds, the holdout and the monitoring reference are then no random samples of
    the data (2,432 identical rows of mammography's 8,000: an i.i.d. batch failed two
    monitoring checks, and passed them all when the rows were not grouped).
    """
    if GROUP not in frame.columns:
        return ok("groups_fit_the_folds", "every row is its own group (--no-duplicates-together)")
    largest = int(frame[GROUP].value_counts().iloc[0])
    limit = len(frame) / (2 * settings.n_folds)
    if largest <= limit:
        return ok(
            "groups_fit_the_folds",
            f"the largest group holds {largest:,} rows (at most {limit:,.0f})",
        )
    if settings.group is not None:
        basis, fix = (
            f"sharing column {settings.group!r}",
            f"check that {settings.group!r} names what makes rows copies, or drop --group",
        )
    else:
        basis, fix = (
            "with identical feature values",
            "if they are one common value rather than copies of one record, run with "
            "--no-duplicates-together",
        )
    return fail(
        "groups_fit_the_folds",
        f"{largest:,} rows {basis} ({largest / len(frame):.0%} of the rows) form one group, kept "
        "whole in one fold and on one side of the split: the folds, the holdout and the "
        f"monitoring reference are no random samples of the data; {fix}",
        severity=WARN,
        largest_group=largest,
        limit=round(limit),
    )


@checks.gate("fold_hygiene")
def fold_sets_hygiene(
    sets: FoldSets, train: pd.DataFrame, folds: pd.DataFrame, settings: Settings
) -> Gate:
    """Validation rows untouched and real; synthetic rows only in training; fit on fold rows.

    With --max-negatives in force, the fold's fit rows are its training rows within the one
    sample of negatives that the final refit uses too.
    """
    fold = sets.fold
    usable, _ = fitting_rows(train, settings.max_negatives, settings.seed)
    usable_ids = train.loc[usable, ROW_ID]
    fit_ids = folds.loc[(folds[FOLD] != fold) & folds[ROW_ID].isin(usable_ids), ROW_ID].to_numpy()
    val_ids = folds.loc[folds[FOLD] == fold, ROW_ID].to_numpy()
    val = sets.validation
    pre = Preprocessor.from_json(sets.preprocessor)
    problems = []
    if pre.fitted_on["row_ids_sha256"] != fingerprint(fit_ids):
        problems.append("the preprocessing was not fitted on exactly this fold's training rows")
    if set(val[ROW_ID]) != set(val_ids):
        problems.append("the validation portion is not exactly this fold's validation rows")
    raw = train.set_index(ROW_ID).loc[val[ROW_ID].to_numpy()].reset_index()
    features = [c for c in val.columns if c not in (ROW_ID, LABEL)]
    expected = pre.transform(raw)
    if expected.tobytes() != np.ascontiguousarray(val[features].to_numpy()).tobytes():
        problems.append("the validation portion differs from the untouched rows")
    if set(sets.membership[ROW_ID]) - set(fit_ids):
        problems.append("a strategy trains on rows outside this fold's training portion")
    if (sets.synthetic[ROW_ID] >= 0).any() or (val[ROW_ID] < 0).any():
        problems.append("synthetic rows are not confined to the training portions")
    observed: dict[str, Any] = {
        "validation_rows": int(len(val)),
        "synthetic_rows": int(len(sets.synthetic)),
    }
    if problems:
        return fail("fold_hygiene", f"fold {fold}: {problems[0]}; rematerialize it", **observed)
    return ok(
        "fold_hygiene",
        f"fold {fold}: validation untouched, synthetic rows only in "
        "training, preprocessing fitted on the fold's training rows",
        **observed,
    )


@checks.gate("resampling_promise")
def resampling_promise(sets: FoldSets, ratio: float) -> Gate:
    """Each resampler delivered the minority/majority ratio it promises.

    The minority is the class with fewer rows before resampling (the negatives, under a majority
    positive label), and stays the one counted over the other after it: a resampler that
    overshot into the opposite imbalance fails too.
    """
    off, minorities = {}, set()
    for name, audit in sets.audits.items():
        if audit.get("skipped") or not audit["steps"]:
            continue
        step = audit["steps"][0]["step"]
        if step == "scale_pos_weight":
            continue
        # SMOTEENN's cleaning reshapes the balance on purpose; its promise is the SMOTE step's.
        counts = audit.get("rows_after_oversampling") or audit["rows_after"]
        classes = balance_of(audit["rows_before"])
        minorities.add(classes.minority)
        n_min, n_maj = counts[classes.minority], counts[classes.majority]
        achieved = n_min / n_maj if n_maj else float("inf")
        expected = ratio
        tolerance = 1.0 / max(n_maj, 1) + 1.0 / max(n_min, 1)
        if NOTHING_RESAMPLED in (audit.get("note") or ""):
            continue  # left as it was, for the reason the note gives
        if abs(achieved - expected) > tolerance:
            off[name] = {"achieved": round(achieved, 4), "promised": expected}
    # Said where it is not the usual reading: the positives are the majority of the portion.
    which = " (negatives/positives)" if NEGATIVE in minorities else ""
    if off:
        name, info = next(iter(off.items()))
        return fail(
            "resampling_promise",
            f"{name} reached minority/majority{which} {info['achieved']} instead of "
            f"{info['promised']}; report this as a bug",
            strategies=off,
        )
    return ok("resampling_promise", f"every resampler reached minority/majority{which} {ratio}")


# --- models and threshold --------------------------------------------------------------------


@checks.gate("oof_coverage")
def oof_coverage(oof: pd.DataFrame, row_ids: np.ndarray, what: str) -> Gate:
    """Out-of-fold scores cover each expected row exactly once per strategy."""
    expected = np.unique(np.asarray(row_ids))
    bad = []
    for strategy, part in oof.groupby(STRATEGY):
        # Sorted arrays, not sets: at 1M rows Python sets cost seconds per strategy.
        ids = np.sort(part[ROW_ID].to_numpy())
        if not np.array_equal(ids, expected):  # a repeat or a gap changes the sorted ids
            bad.append(str(strategy))
    if bad:
        return fail(
            "oof_coverage",
            f"{bad[0]}'s out-of-fold scores do not cover every {what} "
            "row exactly once; rematerialize the fold models",
            strategies=bad,
        )
    return ok(
        "oof_coverage",
        f"out-of-fold scores cover every {what} row exactly once",
        rows=len(expected),
    )


@checks.gate("threshold_valid")
def threshold_valid(decision: Decision, training_rows: int) -> Gate:
    """Threshold strictly inside (0, 1), tuned on all training rows' out-of-fold scores."""
    value = decision.value
    if not 0.0 < value < 1.0:
        return fail("threshold_valid", f"threshold {value} is outside (0, 1)", value=value)
    if decision.tuned_on_rows != training_rows:
        return fail(
            "threshold_valid",
            f"threshold tuned on {decision.tuned_on_rows} rows, expected the "
            f"{training_rows} training rows' out-of-fold scores",
            value=value,
        )
    return ok(
        "threshold_valid",
        f"threshold {value:.4f} in (0, 1), tuned on {training_rows} out-of-fold scores",
        value=value,
    )


@checks.gate("model_sane")
def model_sane(fitted: Bag, train: pd.DataFrame, settings: Settings) -> Gate:
    """Preprocessing fitted on exactly the training split (its fitting sample); scores finite,
    in [0, 1]."""
    usable, _ = fitting_rows(train, settings.max_negatives, settings.seed)
    if fitted.preprocessor["fitted_on"]["row_ids_sha256"] != fingerprint(train.loc[usable, ROW_ID]):
        return fail(
            "model_sane",
            "the model's preprocessing was not fitted on exactly the "
            "training split; rematerialize it",
        )
    from imbal_pipeline.core.train.model import score_rows

    sample = train.sample(n=min(len(train), 2000), random_state=0)
    scores = score_rows(fitted.model, fitted.preprocessor, sample, settings.lgbm_threads)
    if not np.isfinite(scores).all() or scores.min() < 0 or scores.max() > 1:
        return fail("model_sane", "the model produces scores outside [0, 1]")
    return ok(
        "model_sane",
        "fitted on the training split; scores within [0, 1]",
        score_min=float(scores.min()),
        score_max=float(scores.max()),
    )
