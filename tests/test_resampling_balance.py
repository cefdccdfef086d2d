"""Every resampler reads the minority and the majority from the portion's counts, not from
which class is positive: with a confirmed majority positive label (thyroid_sick with
--positive-label 0) it rebalances the negatives against the positives, and keeps its promise."""

import numpy as np
import pandas as pd
import pytest

from imbal_pipeline.core.train import gates, strategies
from imbal_pipeline.core.values import FoldSets

RATIO = 0.5
RESAMPLERS = ("undersample", "smote", "borderline_smote", "smoteenn", "balanced_bagging")


def _xy(n_neg: int, n_pos: int, seed: int = 0):
    """Two overlapping clouds, so that BorderlineSMOTE finds minority rows in danger."""
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(size=(n_neg, 3)), rng.normal(1.0, size=(n_pos, 3))])
    y = np.r_[np.zeros(n_neg), np.ones(n_pos)].astype(np.int8)
    return X, y, np.arange(len(y), dtype=np.int64) * 7 + 3


def _sets(audits: dict[str, dict]) -> FoldSets:
    """A fold's sets as far as the promise reads them: the audits."""
    empty = pd.DataFrame()
    return FoldSets(0, empty, empty, empty, empty, {}, audits)


def _resample(name: str, X, y, ids, ratio: float = RATIO):
    return strategies.resample(X, y, ids, name, seed=0, ratio=ratio, cat_idx=[])


def _balance(audit: dict) -> float:
    """Negatives per positive where the promise is read (SMOTEENN: after its SMOTE step)."""
    counts = audit.get("rows_after_oversampling") or audit["rows_after"]
    return counts["0"] / counts["1"]


@pytest.mark.parametrize("name", RESAMPLERS)
def test_a_majority_positive_is_resampled_against_the_negatives_and_keeps_the_promise(name):
    X, y, ids = _xy(n_neg=20, n_pos=500)  # the positives are the majority, 25 to 1
    r = _resample(name, X, y, ids)
    audit = r.audit
    assert r.skipped is None and audit["steps"], audit
    assert strategies.NOTHING_RESAMPLED not in (audit["note"] or ""), audit["note"]
    assert _balance(audit) == pytest.approx(RATIO, abs=0.01), audit
    assert "the positives are the majority here (500 to 20 negatives)" in audit["note"]
    gate = gates.resampling_promise(_sets({name: audit}), RATIO)
    assert gate.passed and "minority/majority (negatives/positives) 0.5" in gate.message


@pytest.mark.parametrize("name", ["undersample", "smote", "balanced_bagging"])
def test_swapping_the_labels_swaps_what_a_resampler_does(name):
    """The same rows with the labels swapped: the same counts, class for class swapped."""
    X, y, ids = _xy(n_neg=500, n_pos=20)
    rare = _resample(name, X, y, ids).audit["rows_after"]
    common = _resample(name, X, (1 - y).astype(np.int8), ids).audit["rows_after"]
    assert common == {"0": rare["1"], "1": rare["0"]}


def test_oversamplers_make_rows_of_the_minority_whichever_label_it_has():
    X, y, ids = _xy(n_neg=20, n_pos=500)
    for name in ("smote", "borderline_smote", "smoteenn"):
        r = _resample(name, X, y, ids)
        assert len(r.synthetic_y) > 0 and (r.synthetic_y == 0).all(), name
    assert (_resample("smote", X, y, ids).synthetic_y == 0).sum() == 250 - 20
    undersampled = _resample("undersample", X, y, ids)
    kept = y[np.isin(ids, undersampled.kept_row_ids)]
    assert (kept == 0).sum() == 20 and (kept == 1).sum() == 40  # every negative stays


def test_a_bagged_member_takes_every_minority_row_and_its_own_draw_of_the_majority():
    X, y, ids = _xy(n_neg=20, n_pos=500)
    step = _resample("balanced_bagging", X, y, ids).audit["steps"][0]["params"]
    assert (step["members"], step["negatives_per_member"], step["positives_per_member"]) == (
        strategies.BAG_MEMBERS,
        20,
        40,
    )
    members = strategies.bag_members(y, RATIO, seed=3)
    assert len(members) == strategies.BAG_MEMBERS
    draws = set()
    for rows in members:
        assert set(np.flatnonzero(y == 0)) <= set(rows)
        drawn = rows[y[rows] == 1]
        assert len(drawn) == len(set(drawn)) == 40
        draws.add(frozenset(drawn))
    assert len(draws) == strategies.BAG_MEMBERS


@pytest.mark.parametrize("name", RESAMPLERS)
@pytest.mark.parametrize(("n_neg", "n_pos"), [(30, 20), (20, 30), (25, 25)])
def test_a_portion_already_at_the_ratio_is_left_as_it_is_and_passes(name, n_neg, n_pos):
    """Minority/majority at or above the target, whichever class is the smaller: nothing to
    rebalance, said in the audit, and the promise does not apply."""
    X, y, ids = _xy(n_neg, n_pos)
    audit = _resample(name, X, y, ids).audit
    assert strategies.NOTHING_RESAMPLED in audit["note"], audit
    assert audit["synthetic_rows"] == 0 and audit["removed_rows"] == 0
    assert gates.resampling_promise(_sets({name: audit}), RATIO).passed
    # A rung that ran a step on the original rows is named in the report's notes as such.
    said = strategies.made_nothing_notes({0: {name: audit}})
    assert bool(said) == (name == strategies.BAGGING), said


@pytest.mark.parametrize("name", RESAMPLERS)
def test_the_promise_still_fails_a_resampler_that_misses_the_ratio_of_a_majority_positive(name):
    X, y, ids = _xy(n_neg=20, n_pos=500)
    audit = _resample(name, X, y, ids).audit
    key = "rows_after_oversampling" if "rows_after_oversampling" in audit else "rows_after"
    short = {**audit, key: {**audit[key], "0": audit[key]["0"] // 2}}  # half the minority
    gate = gates.resampling_promise(_sets({name: short}), RATIO)
    assert not gate.passed and f"{name} reached minority/majority (negatives/positives)" in (
        gate.message
    )
    # Overshooting into a flipped balance is no way round it either.
    flipped = {**audit, key: {"0": audit[key]["1"], "1": audit[key]["0"]}}
    assert not gates.resampling_promise(_sets({name: flipped}), RATIO).passed
