"""The learning curve over positives: fits stay in their fold, and the estimate reads right."""

import json

import numpy as np
import pandas as pd
import pytest

from imbal_pipeline.core.data import data, split
from imbal_pipeline.core.evaluate import learning
from imbal_pipeline.core.settings import FOLD, LABEL, ROW_ID, Settings
from imbal_pipeline.core.train import model as model_core

SETTINGS = Settings(target="target", subgroups=("x0",), n_estimators=40, n_folds=3)


def _train(n=3000, positives=150, signal=1.0, seed=0, separable=False):
    rng = np.random.default_rng(seed)
    y = np.zeros(n, dtype=int)
    y[rng.choice(n, positives, replace=False)] = 1
    frame = pd.DataFrame({f"x{i}": rng.normal(signal * y * (i < 3), 1.0) for i in range(8)})
    if separable:
        frame["x0"] = y * 10.0
    return data.prepare_frame(frame.assign(target=y), SETTINGS)


def _clusters(n=4000, positives=200, k=40, seed=0):
    """Positives in 40 tight clusters: with fewer positives, whole clusters go unseen."""
    rng = np.random.default_rng(seed)
    y = np.zeros(n, dtype=int)
    y[rng.choice(n, positives, replace=False)] = 1
    X = rng.normal(0, 2, (n, 6))
    centers = rng.normal(0, 2, (k, 6))
    X[y == 1] = centers[rng.integers(0, k, positives)] + rng.normal(0, 0.5, (positives, 6))
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)]).assign(target=y)
    return data.prepare_frame(frame, SETTINGS)


def _curve(train, n_folds=3, strategy="class_weight"):
    folds = split.make_folds(train, n_folds, 0)
    schema = data.feature_schema(train, SETTINGS)
    # The 100 % point comes from the comparison; here the same fits, made directly.
    full = []
    fold_of = train[ROW_ID].map(folds.set_index(ROW_ID)[FOLD]).to_numpy()
    for k in range(n_folds):
        score, _ = learning._fit_and_score(
            train[fold_of != k], train[fold_of == k], schema, strategy, SETTINGS
        )
        full.append(score)
    return learning.learning_curve(train, folds, schema, strategy, full, SETTINGS), folds


def test_every_fit_uses_one_folds_training_rows_and_an_exact_share_of_its_positives(
    monkeypatch,
):
    train = _train()
    fits = []
    original = model_core.fit_lgbm

    def spy(X, y, row_ids, **kwargs):
        fits.append(set(int(i) for i in row_ids if i >= 0))
        return original(X, y, row_ids, **kwargs)

    monkeypatch.setattr(model_core, "fit_lgbm", spy)
    curve, folds = _curve(train)
    fits = fits[3:]  # after the three full-share fits of _curve
    per_fold = 1 + learning.HALF_DRAWS  # the quarter and the halves
    assert len(fits) == curve["fits"] == 3 * per_fold == 3 * curve["fits_per_fold"]
    validation = [set(folds.loc[folds[FOLD] == k, ROW_ID]) for k in range(3)]
    positives = set(train.loc[train[LABEL] == 1, ROW_ID])
    assert all(ids <= set(train[ROW_ID]) for ids in fits)
    assert all(sum(not ids & rows for rows in validation) == 1 for ids in fits)
    for k in range(3):
        mine = [ids & positives for ids in fits if not ids & validation[k]]
        held = positives - validation[k]
        assert len(mine) == per_fold
        quarter, *halves = sorted(mine, key=len)
        # Exactly half of the fold's training positives in each draw, drawn anew each time;
        # the quarter is nested in the first draw's half.
        assert len(quarter) == round(len(held) / 4)
        assert all(len(half) == round(len(held) / 2) and half <= held for half in halves)
        assert len({frozenset(h) for h in halves}) == learning.HALF_DRAWS
        assert any(quarter <= half for half in halves)


def test_a_learnable_signal_gives_a_rising_curve_and_a_gain_that_helps():
    curve, _ = _curve(_clusters(), n_folds=5)
    means = [p["pr_auc_mean"] for p in curve["points"]]
    assert means == sorted(means), means
    doubling = curve["last_doubling"]
    assert doubling["ci_low"] > 0 and doubling["verdict"] == "helps"
    assert curve["sentence"].startswith("More positives help (+0.")
    # The claim is the measured step between the 50 % and 100 % points, not an extrapolation.
    assert doubling["gain"] == pytest.approx(means[-1] - means[-2])


def test_a_problem_already_solved_is_called_flat():
    curve, _ = _curve(_train(separable=True))
    doubling = curve["last_doubling"]
    assert -learning.FLAT <= doubling["ci_low"] <= doubling["ci_high"] <= learning.FLAT
    assert curve["sentence"].startswith("Flat: the last doubling")


def test_the_last_doubling_is_the_fold_paired_gain_with_the_ladders_corrected_error():
    from imbal_pipeline.core.train import selection

    full, half = [0.60, 0.52, 0.71, 0.58, 0.66], [0.55, 0.50, 0.64, 0.57, 0.60]
    out = learning.LastDoubling.measure(full, half, 40, 80)
    gain, se = selection._gap_and_se(full, half)
    assert out.gain == pytest.approx(gain) == pytest.approx(0.042)
    # Nadeau & Bengio: SD of the per-fold gains times sqrt(1/K + 1/(K-1)), t with K-1 df.
    gains = np.subtract(full, half)
    assert out.se == pytest.approx(se) == pytest.approx(gains.std(ddof=1) * np.sqrt(1 / 5 + 1 / 4))
    assert out.ci_high - out.gain == pytest.approx(2.776 * out.se, rel=1e-3)
    assert out.fold_gains == pytest.approx(gains.tolist())
    single = learning.LastDoubling.measure([0.6], [0.5], 40, 80)
    assert single.ci_low is None and single.verdict == "cannot_tell"
    assert "a single fold gives no interval" in learning.describe(single)


@pytest.mark.parametrize(
    ("low", "high", "verdict"),
    [
        (0.007, 0.020, "helps"),  # the issue's +0.013 [+0.007, +0.020]: it was called flat
        (0.0001, 0.015, "helps"),
        (-0.010, 0.015, "flat"),
        (-0.020, 0.020, "flat"),
        (-0.010, 0.030, "cannot_tell"),
        (-0.050, 0.010, "cannot_tell"),
        (-0.015, -0.001, "hurts"),
    ],
)
def test_the_wording_follows_the_interval_and_is_never_flat_when_it_excludes_zero(
    low, high, verdict
):
    assert learning.verdict_of(low, high) == verdict
    doubling = learning.LastDoubling(
        gain=(low + high) / 2,
        ci_low=low,
        ci_high=high,
        se=0.01,
        fold_gains=[],
        from_positives=74,
        to_positives=148,
        verdict=learning.verdict_of(low, high),
    )
    sentence = learning.describe(doubling)
    assert ("Flat" in sentence) == (verdict == "flat")
    assert ("More positives help" in sentence) == (verdict == "helps")
    assert ("cannot tell" in sentence) == (verdict == "cannot_tell")
    assert "from 74 to 148 per fold" in sentence
    assert f"[{low:+.3f}, {high:+.3f}]" in sentence


def test_the_curve_check_flags_missing_fits_or_shares_that_do_not_grow():
    from imbal_pipeline.core.evaluate import quality

    curve, _ = _curve(_train(n=1500, positives=90))
    assert quality.learning_curve_consistent(curve, 3).passed
    gate = quality.learning_curve_consistent({**curve, "fits": curve["fits"] - 1}, 3)
    assert not gate.passed and not gate.blocks
    shrunk = [dict(p) for p in curve["points"]]
    shrunk[1]["positives"] = shrunk[0]["positives"]
    assert not quality.learning_curve_consistent({**curve, "points": shrunk}, 3).passed


def test_above_the_curves_negative_limit_every_share_is_refitted_on_one_sample(monkeypatch):
    monkeypatch.setattr(learning, "CURVE_NEGATIVES", 1000)
    train = _train(n=2500, positives=120)
    folds = split.make_folds(train, 3, 0)
    schema = data.feature_schema(train, SETTINGS)
    # The comparison's 100 % point came from more negatives: it must not be reused.
    curve = learning.learning_curve(train, folds, schema, "class_weight", [9.0] * 3, SETTINGS)
    assert curve["fitting_rows"]["negatives_kept"] == 1000
    assert curve["fitted_shares"][-1] == 1.0 and curve["fits"] == 3 * (2 + learning.HALF_DRAWS)
    assert all(0 <= v <= 1 for v in curve["points"][-1]["pr_auc_folds"])
    from imbal_pipeline.core.evaluate import quality

    assert quality.learning_curve_consistent(curve, 3).passed


def test_a_share_the_strategy_cannot_run_on_is_skipped_and_the_report_stays_writable():
    import json

    # Six positives over three folds: a fold's quarter keeps one, too few for SMOTE.
    train = _train(n=300, positives=6, seed=3)
    curve, _ = _curve(train, strategy="smote")
    assert curve["last_doubling"] is None and curve["skipped"]
    assert curve["sentence"].startswith("No learning curve: the strategy could not run")
    json.dumps(curve, allow_nan=False)  # report.json refuses NaN
    # Every share keeps at least one positive: with class weights the same folds measure.
    curve, _ = _curve(train, strategy="class_weight")
    assert curve["last_doubling"]["verdict"] == "cannot_tell" and not curve["skipped"]


def test_a_large_validation_fold_is_scored_on_a_weighted_sample_that_estimates_its_pr_auc():
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(0)
    n, positives = 60_000, 600
    y = np.zeros(n, dtype=int)
    y[rng.choice(n, positives, replace=False)] = 1
    val = pd.DataFrame({ROW_ID: np.arange(n), LABEL: y, "s": rng.normal(y * 1.5, 1.0)})
    whole = average_precision_score(val[LABEL], val["s"])
    sample, weight = learning.validation_sample(val, 10_000, seed=0)
    assert (sample[LABEL] == 1).sum() == positives and (sample[LABEL] == 0).sum() == 10_000
    estimate = average_precision_score(sample[LABEL], sample["s"], sample_weight=weight)
    unweighted = average_precision_score(sample[LABEL], sample["s"])
    # Unweighted, the sample has 5.9x fewer negatives and flatters precision.
    assert abs(estimate - whole) < 0.02 < unweighted - whole
    shuffled, _ = learning.validation_sample(val.sample(frac=1.0, random_state=1), 10_000, 0)
    assert set(shuffled[ROW_ID]) == set(sample[ROW_ID])
    assert learning.validation_sample(val, 0, seed=0)[1] is None
    assert learning.validation_sample(val, 100_000, seed=0)[1] is None


def test_above_the_limits_the_curve_scores_every_share_of_a_fold_on_one_sample(monkeypatch):
    monkeypatch.setattr(learning, "CURVE_NEGATIVES", 1000)
    monkeypatch.setattr(learning, "VALIDATION_NEGATIVES", 300)
    scored = []
    original = learning._fit_and_score

    def spy(fit, val, schema, strategy, settings, weight=None):
        scored.append((frozenset(val[ROW_ID]), weight is not None))
        return original(fit, val, schema, strategy, settings, weight)

    monkeypatch.setattr(learning, "_fit_and_score", spy)
    train = _train(n=2500, positives=120)
    folds = split.make_folds(train, 3, 0)
    schema = data.feature_schema(train, SETTINGS)
    curve = learning.learning_curve(train, folds, schema, "class_weight", [9.0] * 3, SETTINGS)
    per_fold = 2 + learning.HALF_DRAWS  # the quarter, the halves and the whole
    assert curve["validation_negatives"] == 300 and len(scored) == 3 * per_fold
    for k in range(3):
        # A fold's shares are fitted in both steps: each step draws the same sample.
        val = set(folds.loc[folds[FOLD] == k, ROW_ID])
        mine = [(ids, weighted) for ids, weighted in scored if ids <= val]
        rows = {ids for ids, _ in mine}
        assert len(mine) == per_fold and len(rows) == 1 and all(w for _, w in mine)
        (ids,) = rows
        positives = set(train.loc[train[LABEL] == 1, ROW_ID]) & val
        assert positives <= ids <= val and len(ids - positives) == 300


def test_the_curves_steps_share_its_fits_and_combine_in_any_order():
    train = _train(n=2500, positives=120)
    folds = split.make_folds(train, 3, 0)
    schema = data.feature_schema(train, SETTINGS)
    parts = [
        learning.curve_part(train, folds, schema, "class_weight", SETTINGS, part, 2)
        for part in (0, 1)
    ]
    fits = [(p["fold"], p["fraction"], p["draw"]) for part in parts for p in part["points"]]
    # Every fold's quarter and every draw of its half fitted once, in one of the two steps,
    # and the steps balanced.
    halves = [(learning.HALF, d) for d in range(learning.HALF_DRAWS)]
    planned = [(k, f, d) for k in range(3) for f, d in [(learning.SHAPE, 0), *halves]]
    assert sorted(fits) == planned == learning.planned_fits([0, 1, 2], own_full=False)
    assert [len(part["points"]) for part in parts] == [6, 6]
    stored = json.loads(json.dumps(parts))  # as the store hands them to the combining step
    full = [0.5, 0.6, 0.7]
    curve = learning.combine(stored, "class_weight", full)
    assert curve == learning.combine(stored[::-1], "class_weight", full)
    assert curve == learning.learning_curve(train, folds, schema, "class_weight", full, SETTINGS)
    assert curve["fits"] == 12 and curve["points"][-1]["pr_auc_folds"] == full
    # A fold's 50 % point is the mean of its draws.
    fold_0 = [
        p["pr_auc"]
        for part in stored
        for p in part["points"]
        if p["fold"] == 0 and p["fraction"] == learning.HALF
    ]
    assert len(fold_0) == learning.HALF_DRAWS
    assert curve["points"][1]["pr_auc_folds"][0] == pytest.approx(np.mean(fold_0))


def test_a_curve_step_missing_a_dealt_fit_or_holding_one_out_of_range_is_flagged():
    from imbal_pipeline.core.evaluate import quality
    from imbal_pipeline.core.train import gates

    train = _train(n=2000, positives=100)
    folds = split.make_folds(train, 3, 0)
    schema = data.feature_schema(train, SETTINGS)
    part = learning.curve_part(train, folds, schema, "class_weight", SETTINGS, 1, 2)
    part = json.loads(json.dumps(part))  # as the store hands it back
    assert len(part["dealt"]) == 6 and quality.curve_fits_complete(part).passed
    lost = quality.curve_fits_complete({**part, "points": part["points"][1:]})
    assert not lost.passed and lost.severity == gates.WARN and lost.observed["scored"] == 5
    wrong = [{**part["points"][0], "pr_auc": 1.2}, *part["points"][1:]]
    assert not quality.curve_fits_complete({**part, "points": wrong}).passed


def test_a_share_too_small_to_fit_gives_no_curve_rather_than_the_folds_prevalence():
    # oil, undersample: a quarter of 6-8 training positives and as many negatives is too few
    # rows for LightGBM's first split; the constant score's PR-AUC is the fold's prevalence,
    # which made the curve claim "+0.327 per doubling".
    train = _train(n=900, positives=40, signal=1.5)
    curve, _ = _curve(train, n_folds=5, strategy="undersample")
    assert curve["last_doubling"] is None
    assert curve["sentence"].startswith("No learning curve: the strategy could not run")
    assert "the model made no split on" in curve["sentence"]
    assert "training rows: a constant score says nothing about more positives" in curve["sentence"]


@pytest.mark.parametrize(
    "strategy, said",
    [
        ("none", "(all negatives kept)"),
        ("undersample", "(all negatives offered, of which undersample draws)"),
    ],
)
def test_the_curves_note_does_not_say_all_negatives_were_kept_by_a_strategy_that_draws(
    strategy, said
):
    from imbal_pipeline.core.report import document
    from imbal_pipeline.core.report.report_advice import learning_section

    curve = {
        "strategy": strategy,
        "sentence": "No learning curve.",
        "points": [{"fraction": 1.0, "positives": 8.0, "pr_auc_mean": 0.4, "pr_auc_std": 0.1}],
        "fitting_rows": {"sampled": False},
        "validation_negatives": None,
        "last_doubling": None,
    }
    text = document.markdown("t", learning_section({"learning_curve": curve}))
    assert said in text
