"""Unit tests of the pure core on small frames."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from imbal_pipeline.core.data import data, split
from imbal_pipeline.core.settings import FOLD, LABEL, ROW_ID, Settings, SettingsError
from imbal_pipeline.core.train import selection, strategies, threshold
from imbal_pipeline.core.train.preprocess import Preprocessor, fit_preprocessor


def _frame(n=1000, pos=50, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = np.zeros(n, dtype=int)
    y[rng.choice(n, pos, replace=False)] = 1
    return pd.DataFrame(
        {
            "x 1": rng.normal(size=n) + y,
            "größe": rng.normal(size=n),
            "kind": rng.choice(["a", "b", "c"], n),
            "target": y,
        }
    )


SETTINGS = Settings(target="target", n_folds=3, data_path="x.csv")


# --- tiers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("neg", "pos", "tier"),
    [
        (400, 100, "balanced"),
        (500, 100, "mild"),
        (1999, 100, "mild"),
        (2000, 100, "moderate"),
        (9999, 100, "moderate"),
        (10000, 100, "severe"),
        (100000, 10, "severe"),
    ],
)
def test_imbalance_tiers_follow_the_brief(neg, pos, tier):
    train = pd.DataFrame({LABEL: [0] * neg + [1] * pos, "target": [0] * neg + [1] * pos})
    profile = split.imbalance_profile(train, SETTINGS)
    assert (profile.target, profile.positive_label) == ("target", "1")
    assert profile.tier == tier
    assert profile.ratio == pytest.approx(neg / pos, rel=1e-3)
    assert profile.recommendation
    if tier == "severe":  # the brief: SMOTE + ensembles, or collect more data
        assert (
            "SMOTE" in profile.recommendation and "collect more positives" in profile.recommendation
        )
        assert "smote" in profile.tier_strategies


def test_the_report_says_when_the_folds_chose_other_than_the_tier():
    profile = split.imbalance_profile(
        pd.DataFrame({LABEL: [0] * 5000 + [1] * 20, "target": [0] * 5000 + [1] * 20}), SETTINGS
    )
    assert split.tier_departure(profile, "smote", "why") is None
    said = split.tier_departure(profile, "none", "none had the best mean PR-AUC")
    assert said.startswith("The severe tier (1:250.0) usually starts from SMOTE variants")
    assert said.endswith("the folds chose `none` instead, because none had the best mean PR-AUC.")


# --- data ----------------------------------------------------------------------------------


def test_row_ids_are_stable_unique_and_content_based():
    frame = pd.concat([_frame(), _frame().iloc[:3]], ignore_index=True)  # 3 duplicate rows
    a = data.prepare_frame(frame, SETTINGS)
    b = data.prepare_frame(frame, SETTINGS)
    assert a[ROW_ID].is_unique
    assert (a[ROW_ID] == b[ROW_ID]).all()
    shuffled = data.prepare_frame(frame.sample(frac=1, random_state=1), SETTINGS)
    assert set(shuffled[ROW_ID]) == set(a[ROW_ID])


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.drop(columns="target"), "target column 'target' not in the data"),
        (lambda f: f.assign(target=0), "only one class"),
        (lambda f: f.assign(target=np.arange(len(f)) % 3), "multi-class is not yet supported"),
        (lambda f: f.assign(target=f["target"].astype(float).where(f.index > 0)), "missing labels"),
    ],
)
def test_bad_targets_give_one_line_errors(mutate, message):
    with pytest.raises(data.DataError, match=message) as info:
        data.prepare_frame(mutate(_frame()), SETTINGS)
    assert "\n" not in str(info.value)


def test_positive_label_maps_text_and_multiclass_targets():
    frame = _frame().assign(target=lambda f: np.where(f["target"] == 1, "fraud", "ok"))
    assert data.prepare_frame(frame, SETTINGS)[LABEL].sum() == 50  # the rarer class
    three = frame.assign(target=lambda f: np.where(f.index % 7 == 0, "other", f["target"]))
    s = Settings(target="target", positive_label="fraud", data_path="x.csv")
    assert data.prepare_frame(three, s)[LABEL].sum() == (three["target"] == "fraud").sum()


def test_schema_treats_text_as_categorical_and_excludes_target_and_id():
    frame = data.prepare_frame(_frame(), SETTINGS)
    schema = data.feature_schema(frame, SETTINGS)
    assert schema == {"numeric": ["x 1", "größe"], "categorical": ["kind"]}


def test_settings_reject_bad_values_with_the_fix():
    with pytest.raises(SettingsError, match="choose from"):
        Settings(objective="accuracy")
    with pytest.raises(SettingsError, match="must start with 'none'"):
        Settings(strategies=("smote",))
    with pytest.raises(SettingsError, match="--folds must be a whole number from 2 to 20"):
        Settings(n_folds=1)


# --- split and folds -------------------------------------------------------------------------


def test_holdout_is_stratified_and_folds_partition_training():
    frame = data.prepare_frame(_frame(2000, 100), SETTINGS)
    marked = split.split_holdout(frame, 0.2, seed=0)
    train, holdout = split.training_part(marked), split.holdout_part(marked)
    assert len(holdout) == 400 and holdout[LABEL].sum() == 20
    folds = split.make_folds(train, 4, seed=0)
    assert sorted(folds[ROW_ID]) == sorted(train[ROW_ID])
    per_fold = folds.merge(train[[ROW_ID, LABEL]]).groupby(FOLD)[LABEL].sum()
    assert list(per_fold) == [20, 20, 20, 20]


def test_fewer_positives_than_folds_is_a_clear_error():
    frame = data.prepare_frame(_frame(500, 3), SETTINGS)
    with pytest.raises(data.DataError, match="lower --folds"):
        split.make_folds(frame, 5, seed=0)


# --- preprocessing -------------------------------------------------------------------------


def test_preprocessor_round_trips_json_and_maps_unseen_categories_to_missing():
    frame = data.prepare_frame(_frame(), SETTINGS)
    frame.loc[::10, "größe"] = np.nan
    schema = data.feature_schema(frame, SETTINGS)
    pre = fit_preprocessor(frame, schema, frame[ROW_ID].to_numpy())
    again = Preprocessor.from_json(pre.to_json())
    new = frame.head(3).assign(kind=["a", "zzz", None])
    out = again.transform(new)
    assert not np.isnan(out).any()
    codes = out[:, again.categorical_indices[0]]
    assert codes[1] == -1.0  # unseen in training
    assert pre.indicators == ["größe"]
    np.testing.assert_array_equal(pre.transform(frame), again.transform(frame))


def test_a_whole_number_is_one_category_however_it_was_stored():
    from imbal_pipeline.core.train.preprocess import MISSING, category_codes, category_text

    cells = pd.Series([1, 1.0, "1.0", "1", np.int64(1), 2.5, "007.0", None], dtype=object)
    assert category_text(cells).tolist() == [*["1"] * 5, "2.5", "007.0", MISSING]
    assert category_text(pd.Series([True, False, None])).tolist() == ["True", "False", MISSING]
    # A model saved before named the integer column's categories "1.0", "2.0": it still finds
    # its codes, the first position where two stored names became one.
    stored = ["2.0", "1.0", "1", MISSING]
    codes = category_codes(pd.Series([1, 2, None, 3], dtype="float"), stored)
    assert codes.tolist() == [1.0, 0.0, 3.0, -1.0]


# --- strategies ----------------------------------------------------------------------------


def _xy(n_neg=500, n_pos=20, seed=0):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(size=(n_neg, 3)), rng.normal(1.5, size=(n_pos, 3))])
    y = np.r_[np.zeros(n_neg), np.ones(n_pos)].astype(np.int8)
    return X, y, np.arange(len(y), dtype=np.int64) * 7 + 3


def test_class_weight_is_neg_over_pos_and_keeps_rows():
    X, y, ids = _xy()
    r = strategies.resample(X, y, ids, "class_weight", seed=0, ratio=0.5, cat_idx=[])
    assert r.scale_pos_weight == pytest.approx(25.0)
    assert list(r.kept_row_ids) == list(ids) and len(r.synthetic_y) == 0


def test_smote_reaches_the_promised_ratio_with_marked_synthetic_rows():
    X, y, ids = _xy()
    r = strategies.resample(X, y, ids, "smote", seed=0, ratio=0.5, cat_idx=[])
    assert r.audit["rows_after"] == {"0": 500, "1": 250}
    assert r.audit["synthetic_rows"] == 230 == len(r.synthetic_y)
    assert (r.synthetic_y == 1).all()
    assert list(r.kept_row_ids) == list(ids)


def test_undersample_keeps_only_original_rows_at_the_ratio():
    X, y, ids = _xy()
    r = strategies.resample(X, y, ids, "undersample", seed=0, ratio=0.5, cat_idx=[])
    assert r.audit["rows_after"] == {"0": 40, "1": 20}
    assert set(r.kept_row_ids) <= set(ids) and len(r.synthetic_y) == 0


def test_balanced_bagging_members_take_every_positive_and_their_own_negatives():
    X, y, ids = _xy()  # 500 negatives, 20 positives
    r = strategies.resample(X, y, ids, "balanced_bagging", seed=3, ratio=0.5, cat_idx=[])
    step = r.audit["steps"][0]
    assert step["step"] == "BalancedBagging" and step["params"]["members"] == 10
    assert step["params"]["negatives_per_member"] == 40 and r.audit["rows_after"] == {
        "0": 40,
        "1": 20,
    }
    # No row is made or dropped: the members are drawn from all rows where the model is fitted.
    assert list(r.kept_row_ids) == list(ids) and len(r.synthetic_y) == 0
    members = strategies.bag_members(y, 0.5, seed=3)
    assert len(members) == 10
    negatives = []
    for rows in members:
        assert set(np.flatnonzero(y == 1)) <= set(rows)
        drawn = rows[y[rows] == 0]
        assert len(drawn) == len(set(drawn)) == 40  # without replacement
        negatives.append(frozenset(drawn))
    assert len(set(negatives)) == 10  # each member its own draw
    again = strategies.bag_members(y, 0.5, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(members, again, strict=True))
    other = strategies.bag_members(y, 0.5, seed=4)
    assert not np.array_equal(members[0], other[0])


def test_balanced_bagging_on_balanced_rows_fits_one_member_and_says_so():
    X, y, ids = _xy(n_neg=30, n_pos=20)
    r = strategies.resample(X, y, ids, "balanced_bagging", seed=0, ratio=0.5, cat_idx=[])
    assert r.audit["steps"][0]["params"]["members"] == 1 and "one member" in r.audit["note"]
    assert len(strategies.bag_members(y, 0.5, seed=0)) == 1
    no_pos = strategies.resample(X, 0 * y, ids, "balanced_bagging", seed=0, ratio=0.5, cat_idx=[])
    assert no_pos.skipped and "no minority rows" in no_pos.skipped


def test_a_bagged_model_averages_its_members_and_survives_storage_and_export(tmp_path):
    from imbal_pipeline.core.train import model as model_core
    from imbal_pipeline.core.train import training
    from imbal_pipeline.store import storage

    X, y, ids = _xy()
    settings = dataclasses.replace(SETTINGS, n_estimators=6, learning_rate=0.1)
    bagged, info = training.fit_strategy(
        "balanced_bagging", X, y, ids, settings=settings, cat_idx=[]
    )
    assert isinstance(bagged, model_core.Bagged) and len(bagged.members) == 10
    # Each member: a third of the rounds at three times the rate (benchmarks/bagging.py).
    assert info["num_trees"] == 10 * 2 and info["params"]["seed"] == list(range(10))
    assert info["params"]["learning_rate"] == pytest.approx(0.3)
    members = strategies.bag_members(y, settings.sampling_ratio, settings.seed)
    for member, rows in zip(info["members"], members, strict=True):
        assert member["rows"] == len(rows) and member["positives"] == 20
    expected = np.mean([m.predict(X) for m in bagged.members], axis=0)
    assert np.allclose(bagged.predict(X), expected)
    assert not np.allclose(bagged.members[0].predict(X), expected)
    # The stored text is the members' LightGBM texts behind a header; it reads back the same.
    storage.write_bundle(tmp_path / "v", {"model": bagged, "note": "x"})
    back = storage.read_bundle(tmp_path / "v")["model"]
    assert isinstance(back, model_core.Bagged)
    assert np.array_equal(back.predict(X), bagged.predict(X))
    single, _ = training.fit_strategy("none", X, y, ids, settings=settings, cat_idx=[])
    assert np.array_equal(
        model_core.from_text(single.model_to_string()).predict(X), single.predict(X)
    )


def test_tiny_minority_adapts_k_or_skips_with_a_reason():
    X, y, ids = _xy(n_pos=3)
    r = strategies.resample(X, y, ids, "smote", seed=0, ratio=0.5, cat_idx=[])
    assert r.skipped is None
    assert r.audit["steps"][0]["params"]["k_neighbors"] == 2
    assert "lowered" in r.audit["note"]
    X, y, ids = _xy(n_pos=1)
    for name in ("smote", "borderline_smote", "smoteenn"):
        r = strategies.resample(X, y, ids, name, seed=0, ratio=0.5, cat_idx=[])
        assert r.skipped and "at least 2" in r.skipped


def test_smoteenn_logs_both_steps_and_its_removals():
    X, y, ids = _xy(n_pos=40)
    r = strategies.resample(X, y, ids, "smoteenn", seed=0, ratio=0.5, cat_idx=[])
    assert [s["step"] for s in r.audit["steps"]] == ["SMOTE", "EditedNearestNeighbours"]
    assert r.audit["removed_rows"] == len(y) - len(r.kept_row_ids) > 0


def test_smoteenn_is_skipped_above_its_row_limit_with_the_reason():
    X, y, ids = _xy(n_pos=40)
    n = len(y)
    over = strategies.resample(
        X, y, ids, "smoteenn", seed=0, ratio=0.5, cat_idx=[], smoteenn_max_rows=n - 1
    )
    assert over.skipped and f"{n:,} rows exceed the limit of {n - 1:,}" in over.skipped
    assert "--smoteenn-max-rows" in over.skipped and len(over.synthetic_y) == 0
    at = strategies.resample(
        X, y, ids, "smoteenn", seed=0, ratio=0.5, cat_idx=[], smoteenn_max_rows=n
    )
    assert at.skipped is None and len(at.synthetic_y) > 0
    # The limit concerns SMOTEENN's cleaning only; plain SMOTE still runs.
    smote = strategies.resample(
        X, y, ids, "smote", seed=0, ratio=0.5, cat_idx=[], smoteenn_max_rows=1
    )
    assert smote.skipped is None


def test_smoteenn_limit_skips_it_in_the_folds_and_a_skipped_strategy_is_never_deployed():
    from imbal_pipeline.core.train import training

    settings = dataclasses.replace(
        SETTINGS, strategies=("none", "smoteenn"), smoteenn_max_rows=600, n_estimators=5
    )
    frame = data.prepare_frame(_frame(1200, 80), settings)
    train = split.training_part(split.split_holdout(frame, 0.2, seed=0))
    folds = split.make_folds(train, 3, seed=0)
    schema = data.feature_schema(train, settings)
    sets = training.build_fold_training_sets(train, folds, 0, schema, settings)
    # 960 training rows: each fold fits on 640 > 600 rows, so the comparison skips SMOTEENN ...
    assert "640 rows exceed the limit of 600" in sets.audits["smoteenn"]["skipped"]
    # ... and the deployed model, made of fold models, cannot be a strategy no fold fitted.
    fitted = training.fit_fold_models(sets, settings)
    with pytest.raises(ValueError, match=r"strategy smoteenn has no model in fold\(s\) \[0\]"):
        training.fold_bag([fitted], "smoteenn", train, schema, settings)


# --- negative sample above --max-negatives ---------------------------------------------------


def test_fitting_rows_keep_every_positive_and_a_seeded_sample_of_negatives():
    frame = data.prepare_frame(_frame(1000, 50), SETTINGS)
    mask, info = split.fitting_rows(frame, 300, seed=0)
    y = frame[LABEL].to_numpy()
    assert mask[y == 1].all() and mask[y == 0].sum() == 300
    assert info == {
        "negatives": 950,
        "negatives_kept": 300,
        "fraction_kept": 300 / 950,
        "max_negatives": 300,
        "seed": 0,
        "sampled": True,
    }
    # The sample depends on the rows and the seed, not on how the frame happens to be sorted.
    shuffled = frame.sample(frac=1.0, random_state=1)
    again, _ = split.fitting_rows(shuffled, 300, seed=0)
    assert set(shuffled.loc[again, ROW_ID]) == set(frame.loc[mask, ROW_ID])
    other, _ = split.fitting_rows(frame, 300, seed=1)
    assert set(frame.loc[other, ROW_ID]) != set(frame.loc[mask, ROW_ID])
    for limit in (0, 950, 5000):
        everything, info = split.fitting_rows(frame, limit, seed=0)
        assert everything.all() and not info["sampled"]
        assert split.describe_fitting_rows(info) is None


def test_folds_and_the_final_refit_fit_on_one_negative_sample_and_score_every_row():
    from imbal_pipeline.core.train import gates, training
    from imbal_pipeline.core.train.preprocess import fingerprint

    settings = dataclasses.replace(
        SETTINGS, strategies=("none", "class_weight", "smote"), max_negatives=400, n_estimators=5
    )
    frame = data.prepare_frame(_frame(1200, 80), settings)
    train = split.training_part(split.split_holdout(frame, 0.2, seed=0))
    folds = split.make_folds(train, 3, seed=0)
    schema = data.feature_schema(train, settings)
    usable, _ = split.fitting_rows(train, 400, seed=0)
    sample_ids = set(train.loc[usable, ROW_ID])
    fold_sets = [
        training.build_fold_training_sets(train, folds, k, schema, settings) for k in range(3)
    ]
    final = training.fold_bag(
        [training.fit_fold_models(f, settings) for f in fold_sets], "none", train, schema, settings
    )
    assert final.preprocessor["fitted_on"]["row_ids_sha256"] == fingerprint(list(sample_ids))
    assert final.audit["fitting_rows"]["negatives_kept"] == 400
    assert gates.model_sane(final, train, settings).passed
    # A check that assumed every row was fitted on would see the deployed model as wrong.
    everything = dataclasses.replace(settings, max_negatives=0)
    assert not gates.model_sane(final, train, everything).passed
    for fold, sets in enumerate(fold_sets):
        val_ids = set(folds.loc[folds[FOLD] == fold, ROW_ID])
        fit_ids = set(sets.train[ROW_ID])
        assert fit_ids == (set(train[ROW_ID]) - val_ids) & sample_ids
        assert set(sets.validation[ROW_ID]) == val_ids  # unsampled negatives are scored
        assert set(sets.membership[ROW_ID]) <= fit_ids
        cw = sets.audits["class_weight"]
        assert cw["scale_pos_weight"] == cw["rows_before"]["0"] / cw["rows_before"]["1"]
        assert gates.fold_sets_hygiene(sets, train, folds, settings).passed
        assert not gates.fold_sets_hygiene(sets, train, folds, everything).passed


def _three_fold_models(settings):
    """A split of generated rows and its three folds' models, fitted as the graph fits them."""
    from imbal_pipeline.core.train import training

    frame = data.prepare_frame(_frame(1200, 80), settings)
    marked = split.split_holdout(frame, 0.2, seed=0)
    train, holdout = split.training_part(marked), split.holdout_part(marked)
    folds = split.make_folds(train, 3, seed=0)
    schema = data.feature_schema(train, settings)
    fitted = [
        training.fit_fold_models(
            training.build_fold_training_sets(train, folds, k, schema, settings), settings
        )
        for k in range(3)
    ]
    return train, holdout, schema, fitted


def test_every_prediction_is_told_its_threads_rather_than_taking_every_core(monkeypatch):
    import lightgbm

    from imbal_pipeline.core.evaluate import leak
    from imbal_pipeline.core.train import gates, training

    # Told nothing, LightGBM predicts on every core: beside another step, two threads per step.
    told = []
    real = lightgbm.Booster.predict

    def spy(self, X, *args, **kwargs):
        told.append(kwargs.get("num_threads"))
        return real(self, X, *args, **kwargs)

    monkeypatch.setattr(lightgbm.Booster, "predict", spy)
    settings = dataclasses.replace(
        SETTINGS, strategies=("none", "balanced_bagging"), n_estimators=5
    )
    train, _, schema, fitted = _three_fold_models(settings)  # each scores its validation rows
    bag = training.fold_bag(fitted, "balanced_bagging", train, schema, settings)
    assert gates.model_sane(bag, train, settings).passed
    leak.leaky_claim(train, schema, settings)
    assert len(told) > 3 * 11 and set(told) == {settings.lgbm_threads}


def test_the_deployed_model_is_the_fold_models_each_reading_through_its_own_folds_preprocessing(
    tmp_path,
):
    from imbal_pipeline.core.train import model as model_core
    from imbal_pipeline.core.train import training

    settings = dataclasses.replace(
        SETTINGS, strategies=("none", "balanced_bagging"), n_estimators=5
    )
    train, holdout, schema, fitted = _three_fold_models(settings)
    bag = training.fold_bag(fitted, "balanced_bagging", train, schema, settings)
    model = bag.model
    assert len(model.members) == 3 and all(len(m.members) == 10 for m in model.members)
    assert (
        bag.fit_info["num_trees"] == 3 * 10 * strategies.bag_member_fit(5, 0.05)[0]
        and "no model was refitted" in (bag.audit["note"])
    )
    # Each member sees the rows as its fold's preprocessing made them; the whole split's
    # preprocessing (means and scales of other rows) would feed it shifted values.
    by_fold = [
        model_core.predict(
            f.models["balanced_bagging"],
            Preprocessor.from_json(f.preprocessor).transform(holdout),
            1,
        )
        for f in fitted
    ]
    scores = model_core.score_rows(model, bag.preprocessor, holdout, 1)
    assert np.allclose(scores, np.mean(by_fold, axis=0))
    whole = Preprocessor.from_json(bag.preprocessor).transform(holdout)
    assert not np.allclose(scores, np.mean([m.predict(whole) for m in model.members], axis=0))
    with pytest.raises(ValueError, match="score_rows"):
        model.predict(whole)
    # Exported as text and read back, the members keep their own preprocessing.
    back = model_core.from_text(model.model_to_string())
    assert np.array_equal(model_core.score_rows(back, bag.preprocessor, holdout, 1), scores)


def test_the_deployed_threshold_is_the_median_of_the_per_fold_thresholds():
    rng = np.random.default_rng(0)
    y = (rng.random(600) < 0.1).astype(int)
    base = np.clip(0.3 * y + rng.random(600) * 0.6, 0, 1)
    folds = np.repeat([0, 1, 2], 200)
    # Fold 2's model scores on a third of the scale, the others on half: pooling mixes the
    # scales, a per-fold tuning not. Every score is below 0.5, so the tuned threshold clearly
    # beats 0.5 (which flags nothing) and the median is kept.
    scores = np.where(folds == 2, base / 3, base / 2)
    ids = np.arange(600)
    settings = Settings(objective="f1")
    tuned = threshold.tune_per_fold(y, scores, folds, ids, settings)
    each = [
        threshold.tune_threshold(y[folds == k], scores[folds == k], ids[folds == k], settings)
        for k in range(3)
    ]
    assert tuned["fold_values"] == {k: t["value"] for k, t in enumerate(each)}
    assert tuned["value"] == float(np.median([t["value"] for t in each]))
    assert tuned["value"] != threshold.tune_threshold(y, scores, ids, settings)["value"]
    flagged = scores >= tuned["value"]
    tp = int((flagged & (y == 1)).sum())
    assert tuned["at_threshold"]["f1"] == pytest.approx(2 * tp / (flagged.sum() + y.sum()))
    assert tuned["objective"] == "f1" and "median" in tuned["rule"] and "kept" in tuned["rule"]


def _scattered_scores():
    """600 rows, 3 folds; fold 2's model scores on half the others' scale, so the median of
    the per-fold thresholds misfits some fold and loses to 0.5 on the folds left out."""
    rng = np.random.default_rng(0)
    y = (rng.random(600) < 0.1).astype(int)
    base = np.clip(0.3 * y + rng.random(600) * 0.6, 0, 1)
    folds = np.repeat([0, 1, 2], 200)
    return y, np.where(folds == 2, base / 2, base), folds


def test_a_tuned_threshold_that_does_not_beat_half_on_left_out_folds_gives_way_to_it():
    y, scores, folds = _scattered_scores()
    settings = Settings(objective="f1")
    tuned = threshold.tune_per_fold(y, scores, folds, np.arange(600), settings)
    values = tuned["fold_values"]
    # The check by hand: on each fold, the median of the other folds' thresholds against 0.5.
    gains = []
    for k in range(3):
        other = float(np.median([v for j, v in values.items() if j != k]))
        mine = folds == k
        gains.append(
            f1_score(y[mine], scores[mine] >= other) - f1_score(y[mine], scores[mine] >= 0.5)
        )
    check = tuned["versus_default"]
    assert list(check["gain_by_fold"].values()) == pytest.approx(gains)
    assert check["gain_mean"] == pytest.approx(np.mean(gains))
    assert check["gain_mean"] <= check["gain_se"]
    assert tuned["value"] == 0.5 and tuned["tuned_median"] == np.median(list(values.values()))
    assert "0.5 is used" in tuned["rule"]
    flagged = scores >= 0.5
    assert tuned["at_threshold"]["f1"] == pytest.approx(f1_score(y, flagged))


def test_the_check_against_half_reads_cost_as_a_loss_and_skips_the_recall_target():
    y, scores, folds = _scattered_scores()
    scores = scores / 2  # 0.5 flags nothing: every missed positive costs
    cost = Settings(objective="cost", fp_cost=1.0, fn_cost=50.0)
    tuned = threshold.tune_per_fold(y, scores, folds, np.arange(600), cost)
    assert tuned["versus_default"]["gain_mean"] > tuned["versus_default"]["gain_se"] > 0
    assert tuned["value"] == tuned["tuned_median"] < 0.5
    recall = Settings(objective="recall", recall_target=0.8)
    tuned = threshold.tune_per_fold(y, scores * 2, folds, np.arange(600), recall)
    assert tuned["versus_default"] is None and tuned["value"] == tuned["tuned_median"]


# --- threshold -----------------------------------------------------------------------------


def _scores():
    y = np.array([0, 0, 0, 0, 1, 0, 1, 1, 0, 1])
    s = np.array([0.05, 0.1, 0.2, 0.3, 0.35, 0.4, 0.6, 0.7, 0.75, 0.9])
    return y, s


@pytest.mark.parametrize("name", list(threshold.OBJECTIVES))
def test_each_objective_records_and_reads_only_its_own_parameters(name):
    rng = np.random.default_rng(4)
    y = (rng.random(400) < 0.2).astype(int)
    s = np.clip(0.3 * y + rng.normal(0.4, 0.2, 400), 0, 1)
    entry, base = threshold.OBJECTIVES[name], Settings(objective=name)
    tuned = threshold.tune_threshold(y, s, np.arange(400), base)
    assert tuned["objective"] == name
    assert tuned["params"] == {p: getattr(base, p) for p in entry.params}
    # What the other objectives read leaves this one's threshold where it was; its own moves it.
    others = {"beta": 0.5, "fp_cost": 1.0, "fn_cost": 40.0, "recall_target": 0.3}
    unrelated = dataclasses.replace(
        base, **{k: v for k, v in others.items() if k not in entry.params}
    )
    assert threshold.tune_threshold(y, s, np.arange(400), unrelated)["value"] == tuned["value"]
    if entry.params:
        own = dataclasses.replace(base, **{k: others[k] for k in entry.params})
        assert threshold.tune_threshold(y, s, np.arange(400), own)["value"] != tuned["value"]
    verdict = threshold.verify_operating_point(y, s, tuned["value"], base, {})
    assert verdict["objective"] == name and {"asked", "reached", "met"} <= set(verdict)


def test_f1_threshold_maximizes_f1_and_is_not_half():
    y, s = _scores()
    t = threshold.tune_threshold(y, s, np.arange(10), Settings(objective="f1"))
    pred = s >= t["value"]
    tp = (pred & (y == 1)).sum()
    f1 = 2 * tp / (pred.sum() + y.sum())
    assert f1 == pytest.approx(t["at_threshold"]["f1"])
    best = max(2 * ((s >= c) & (y == 1)).sum() / ((s >= c).sum() + 4) for c in s)
    assert f1 == pytest.approx(best)
    assert 0 < t["value"] < 1


def test_cost_objective_flags_more_when_misses_are_expensive():
    y, s = _scores()
    cheap = threshold.tune_threshold(
        y, s, np.arange(10), Settings(objective="cost", fp_cost=10, fn_cost=1)
    )
    dear = threshold.tune_threshold(
        y, s, np.arange(10), Settings(objective="cost", fp_cost=1, fn_cost=100)
    )
    assert dear["value"] < cheap["value"]
    assert dear["at_threshold"]["recall"] == 1.0


def test_recall_objective_meets_the_target_with_best_precision():
    y, s = _scores()
    t = threshold.tune_threshold(
        y, s, np.arange(10), Settings(objective="recall", recall_target=0.75)
    )
    pred = s >= t["value"]
    assert (pred & (y == 1)).sum() / 4 >= 0.75
    assert t["at_threshold"]["precision"] == pytest.approx(0.75)


def test_threshold_curve_is_kept_on_a_grid():
    y, s = _scores()
    curve = threshold.threshold_curve(y, s, Settings())
    assert len(curve) == 201 and curve["recall"].iloc[0] == 1.0
    assert curve["recall"].is_monotonic_decreasing


# --- selection -----------------------------------------------------------------------------


def _row(*folds):
    return {
        "pr_auc_mean": float(np.mean(folds)),
        "pr_auc_std": float(np.std(folds, ddof=1)),
        "folds": len(folds),
        "pr_auc_folds": list(folds),
    }


# Folds of very different difficulty: the spread across folds is large for every strategy.
EASY_HARD = np.array([0.30, 0.45, 0.60, 0.75, 0.90])


def test_a_complex_strategy_that_wins_on_every_fold_is_selected():
    # smote wins by 0.02 on each fold. The spread of fold difficulty (std 0.24) would have hidden
    # that behind an unpaired SE of 0.11; the paired differences have no spread at all.
    table = {
        "none": _row(*EASY_HARD),
        "class_weight": _row(*(EASY_HARD + 0.001)),
        "smote": _row(*(EASY_HARD + [0.02, 0.021, 0.019, 0.02, 0.022])),
    }
    name, why = selection.select_strategy(table)
    assert name == "smote" and "beats every simpler strategy" in why


def test_a_higher_mean_from_one_lucky_fold_does_not_earn_complexity():
    # smote's mean is 0.03 higher, all of it from one fold; it loses on the other four.
    table = {
        "none": _row(*EASY_HARD),
        "smote": _row(*(EASY_HARD + [0.19, -0.01, -0.01, -0.01, -0.01])),
    }
    name, why = selection.select_strategy(table)
    assert name == "none"
    assert "did not earn its complexity" in why and "paired SE" in why


def test_the_paired_standard_error_is_corrected_for_overlapping_training_portions():
    # Per-fold gains with mean 0.045 and std 0.079: the plain paired SE (0.035) would let smote
    # through; the corrected one (x sqrt(5) x sqrt(1/5 + 1/4) = 0.053) does not.
    diffs = np.array([0.0, 0.05, 0.10, 0.15, 0.20]) - 0.055
    table = {"none": _row(*EASY_HARD), "smote": _row(*(EASY_HARD + diffs))}
    gap, se = selection._gap_and_se(table["smote"]["pr_auc_folds"], table["none"]["pr_auc_folds"])
    plain = np.std(diffs, ddof=1) / np.sqrt(5)
    assert gap == pytest.approx(0.045)
    assert se == pytest.approx(np.std(diffs, ddof=1) * np.sqrt(1 / 5 + 1 / 4))
    assert plain < gap <= se
    assert selection.select_strategy(table)[0] == "none"


def test_a_noisy_strategy_within_one_se_of_the_best_is_not_selected_over_a_simpler_one():
    # As on oil: undersample's folds are noisy, so it lies within one SE of the best (smote)
    # while none does not; but undersample is no better than none. The rule before picked it.
    table = {
        "none": _row(*EASY_HARD),
        "class_weight": _row(*(EASY_HARD + [0.02, -0.01, 0.0, 0.01, -0.01])),
        "undersample": _row(*(EASY_HARD + [0.25, -0.2, 0.15, -0.15, -0.04])),
        "smote": _row(*(EASY_HARD + [0.06, 0.08, 0.07, 0.09, 0.05])),
    }
    best, gaps = selection.paired_gaps(table)
    assert best == "smote" and gaps["undersample"][0] <= gaps["undersample"][1]
    assert gaps["none"][0] > gaps["none"][1]  # none is more than one SE below the best
    name, why = selection.select_strategy(table)
    # smote beats none and class_weight beyond noise, but not undersample's noisy folds.
    assert name == "none", why
    assert why.startswith("none (PR-AUC 0.6000) is kept: no strategy beat every simpler one")
    assert "the best mean, smote (0.6700), is not above undersample beyond noise" in why
    # Without the noisy rung, smote beats every simpler strategy and is selected.
    del table["undersample"]
    assert selection.select_strategy(table)[0] == "smote"


def test_a_complex_strategy_is_selected_over_the_best_when_the_best_did_not_earn_it():
    # class_weight beats none on every fold; smote's higher mean comes from one lucky fold.
    table = {
        "none": _row(*EASY_HARD),
        "class_weight": _row(*(EASY_HARD + 0.03)),
        "smote": _row(*(EASY_HARD + [0.25, 0.0, 0.0, 0.0, 0.0])),
    }
    name, why = selection.select_strategy(table)
    assert name == "class_weight"
    assert why.startswith("class_weight (PR-AUC 0.6300) beats every simpler strategy")
    assert "smote did not earn its complexity" in why


def test_strategies_that_tie_to_rounding_select_the_simplest():
    # car_eval_4: folds where every strategy scores alike leave a paired SE of 0; a difference
    # of 1e-16 is rounding, not a strategy beating another (the rule crashed on it).
    folds = np.array([1.0, 1.0, 0.99, 1.0, 0.98])
    table = {"none": _row(*folds), "class_weight": _row(*(folds + 1e-16)), "smote": _row(*folds)}
    name, why = selection.select_strategy(table)
    assert name == "none" and "no strategy beat it" in why


def test_skipped_strategies_are_never_selected():
    skipped = {"pr_auc_mean": None, "pr_auc_std": None, "folds": 0, "skipped": "why"}
    table = {"none": _row(0.5, 0.6, 0.4), "smote": skipped}
    assert selection.select_strategy(table)[0] == "none"


def test_a_missing_subgroup_column_is_a_clear_error():
    frame = data.prepare_frame(_frame(), SETTINGS)
    settings = Settings(target="target", data_path="x.csv", subgroups=("regoin",))
    with pytest.raises(data.DataError, match="subgroup column 'regoin' not in the data; fix"):
        data.feature_schema(frame, settings)


# --- subgroups ---------------------------------------------------------------------------------


def test_a_continuous_subgroup_is_reported_in_quartiles_and_a_categorical_one_as_is():
    from imbal_pipeline.core.stats.metrics import subgroup_labels, subgroup_metrics

    rng = np.random.default_rng(0)
    amount = pd.Series(rng.exponential(100, 1000))
    amount[:10] = np.nan
    labels = subgroup_labels(amount)
    groups = sorted(set(labels))
    assert len(groups) == 5 and groups[0] == "missing"
    assert [g[:3] for g in groups[1:]] == ["q1:", "q2:", "q3:", "q4:"]
    counts = pd.Series(labels).value_counts()
    assert counts.drop("missing").between(240, 255).all()
    region = pd.Series(["north", "south", None] * 10)
    assert sorted(set(subgroup_labels(region))) == ["missing", "north", "south"]
    table = subgroup_metrics(np.zeros(30), np.zeros(30), subgroup_labels(region), 0.5)
    assert sum(row["n"] for row in table.values()) == 30


def _oof(strategies_=("none", "smote"), n=600, folds=5, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.1).astype(int)
    frames = []
    for shift, name in enumerate(strategies_):
        score = np.clip(0.3 * y + rng.normal(0.3 + 0.1 * shift, 0.15, n), 0, 1)
        frames.append(
            pd.DataFrame(
                {ROW_ID: np.arange(n), FOLD: np.arange(n) % folds, LABEL: y, "score": score}
            ).assign(**{selection.STRATEGY: name})
        )
    return pd.concat(frames, ignore_index=True)


def test_nested_cv_never_scores_a_fold_at_a_threshold_it_helped_tune(monkeypatch):
    events = []
    tune, score = threshold.tune_per_fold, selection.score_fold

    def tune_spy(y, s, folds, ids, settings, per_fold=None):
        # Thresholds tuned earlier may be passed in: they must be those of these folds only.
        assert per_fold is None or set(per_fold) == set(np.unique(folds).tolist())
        events.append(("tune", set(np.asarray(ids).tolist())))
        return tune(y, s, folds, ids, settings, per_fold)

    def score_spy(fold, *args):
        events.append(("score", set(fold[ROW_ID].tolist())))
        return score(fold, *args)

    monkeypatch.setattr(threshold, "tune_per_fold", tune_spy)
    monkeypatch.setattr(selection, "score_fold", score_spy)
    oof = _oof()
    out = selection.compare_strategies(oof, {}, Settings(strategies=("none", "smote")))
    scored = [i for i, (kind, _) in enumerate(events) if kind == "score"]
    assert len(scored) == 2 * 5, "every fold of every strategy is scored once"
    for i in scored:
        fold_ids = events[i][1]
        tuned_for_it = [ids for kind, ids in events[i - 2 : i] if kind == "tune"]
        assert len(tuned_for_it) == 2  # F1 and F-beta thresholds
        for ids in tuned_for_it:
            assert not ids & fold_ids, "a fold was scored at a threshold tuned on its own rows"
            assert ids | fold_ids == set(range(600))
    row = out.table["smote"]
    assert len(row["f1_folds"]) == len(row["fbeta_folds"]) == len(row["fold_thresholds"]) == 5
    assert row["f1_mean"] == pytest.approx(np.mean(row["f1_folds"]))


def test_nested_cv_f1_is_below_the_f1_of_a_threshold_tuned_on_the_same_rows():
    # Tuning on the scored rows overfits the threshold; the nested figure does not get that gift.
    oof = _oof(("none",), n=300, seed=3)
    nested = selection.compare_strategies(oof, {}, Settings(strategies=("none",)))
    tuned = threshold.tune_threshold(oof[LABEL], oof["score"], oof[ROW_ID], Settings())["value"]
    optimistic = [
        selection.score_fold(fold, tuned, tuned, 2.0)["f1"] for _, fold in oof.groupby(FOLD)
    ]
    assert nested.table["none"]["f1_mean"] < np.mean(optimistic)


def test_the_comparison_keeps_the_selection_evidence():
    out = selection.compare_strategies(_oof(), {}, Settings(strategies=("none", "smote")))
    best = out.best
    assert out.table[best]["pr_auc_gap_to_best"] == 0.0
    other = next(name for name in out.table if name != best)
    gap, se = selection._gap_and_se(
        out.table[best]["pr_auc_folds"], out.table[other]["pr_auc_folds"]
    )
    assert out.table[other]["pr_auc_gap_to_best"] == pytest.approx(gap) and gap > 0
    assert out.table[other]["pr_auc_gap_se"] == pytest.approx(se)


def test_an_unknown_objective_is_refused_not_read_as_recall():
    y, s = _scores()
    odd = Settings()
    object.__setattr__(odd, "objective", "precision")  # past the validation Settings does
    with pytest.raises(ValueError, match="unknown threshold objective 'precision'"):
        threshold.tune_threshold(y, s, np.arange(10), odd)


def test_the_report_scores_the_holdout_once_when_the_baseline_is_the_selected_model(monkeypatch):
    from imbal_pipeline.core import method
    from imbal_pipeline.core.evaluate import evaluation
    from imbal_pipeline.core.train import model as model_core
    from imbal_pipeline.core.train import training

    settings = dataclasses.replace(SETTINGS, strategies=("none", "class_weight"), n_estimators=5)
    train, holdout, schema, fitted = _three_fold_models(settings)
    comparison = selection.compare_folds(fitted, settings)
    profile = split.imbalance_profile(train, settings)
    scored, threads, depth = [], set(), [0]

    def spying(real):
        def spy(model, preprocessor, frame, num_threads):
            if depth[0] == 0:  # the report's own calls, not the ones they make in turn
                scored.append(model)
            threads.add(num_threads)
            depth[0] += 1
            try:
                return real(model, preprocessor, frame, num_threads)
            finally:
                depth[0] -= 1

        return spy

    # A model is scored through either: the bag's members (monitoring reads them), or its mean.
    for name in ("score_rows", "member_scores"):
        monkeypatch.setattr(model_core, name, spying(getattr(model_core, name)))
    reports = {}
    for strategy in ("none", "class_weight"):
        decision = method.decide(dataclasses.replace(comparison, selected=strategy), settings)
        final = training.fold_bag(fitted, strategy, train, schema, settings)
        baseline = training.fold_bag(fitted, "none", train, schema, settings)
        scored.clear()
        reports[strategy], _ = evaluation.build_report(
            train, holdout, final, baseline, comparison, decision, profile, settings, threads=2
        )
        top = [m for m in scored if m in (final.model, baseline.model)]
        assert len(top) == (1 if strategy == "none" else 2)
    assert threads == {2}  # the threads the report step was given, down to each fold model
    none = reports["none"]
    assert none.baseline_holdout.pr_auc == pytest.approx(none.holdout.pr_auc)
    other = reports["class_weight"]
    assert other.baseline_holdout.pr_auc == pytest.approx(none.holdout.pr_auc)


@pytest.mark.parametrize(
    "rounds, rate, member", [(300, 0.05, (100, 0.15)), (5, 0.05, (2, 0.125)), (2, 0.6, (1, 1.0))]
)
def test_a_bagging_member_boosts_a_third_of_the_rounds_with_the_same_step_budget(
    rounds, rate, member
):
    got = strategies.bag_member_fit(rounds, rate)
    assert got[0] == member[0] and got[1] == pytest.approx(member[1])


def test_a_folds_models_split_in_parts_are_the_models_fitted_whole():
    from imbal_pipeline.core.train import training

    settings = dataclasses.replace(
        SETTINGS, strategies=("none", "class_weight", "smote"), n_estimators=5
    )
    frame = data.prepare_frame(_frame(900, 60), settings)
    train = split.training_part(split.split_holdout(frame, 0.2, seed=0))
    folds = split.make_folds(train, 3, seed=0)
    sets = training.build_fold_training_sets(
        train, folds, 1, data.feature_schema(train, settings), settings
    )
    whole = training.fit_fold_models(sets, settings)
    real = training.fit_fold_models(sets, settings, ("none", "class_weight", "undersample"))
    synthetic = training.fit_fold_models(sets, settings, strategies.SYNTHETIC)
    assert real.strategies == ["none", "class_weight"] and synthetic.strategies == ["smote"]
    assert set(real.models) == {"none", "class_weight"} and set(synthetic.models) == {"smote"}
    parts = pd.concat([real.oof, synthetic.oof], ignore_index=True)
    pd.testing.assert_frame_equal(parts, whole.oof)
    # A part none of whose rungs is in the run fits nothing and scores nothing.
    nothing = training.fit_fold_models(sets, settings, ("balanced_bagging",))
    assert nothing.strategies == [] and nothing.oof.empty and not nothing.models
    assert list(nothing.oof.dtypes) == list(whole.oof.dtypes)
    # Each strategy is taken from the one part per fold that was to fit it.
    assert training.parts_with([real, synthetic, nothing], "smote") == [synthetic]
    with pytest.raises(ValueError, match="fitted twice"):
        training.parts_with([real, whole], "none")


def test_one_json_normalizer_keeps_a_stored_nan_and_makes_reports_strict():
    from pathlib import Path as SomeObject

    from imbal_pipeline.core.jsonready import json_ready

    value = {1: (np.float32(0.5), np.int64(3), np.bool_(True)), "gap": float("nan")}
    stored = json_ready(value)
    assert stored["1"] == [0.5, 3, True] and type(stored["1"][1]) is int
    assert np.isnan(stored["gap"])  # a bundle keeps what it was given
    strict = json_ready({**value, "inf": np.float64("inf"), "path": SomeObject("a")}, strict=True)
    assert strict["gap"] is None and strict["inf"] is None and strict["path"] == "a"
    assert type(strict["1"][2]) is bool


def test_a_threshold_is_attached_only_to_the_model_it_was_tuned_for():
    from imbal_pipeline.core.values import Bag, Decision

    fields = dict(rule="", tuned_median=0.3, fold_values={}, versus_default=None)
    fields |= dict(at_threshold={}, tuned_on_rows=10, tuned_on_positives=2, curve=pd.DataFrame())
    decision = Decision("smote", 0.3, "f1", {}, calibrator=None, **fields)
    bag = Bag("smote", "trees", preprocessor={}, audit={}, fit_info={})
    attached = bag.with_decision(decision)
    assert (attached.threshold, attached.objective, attached.model) == (0.3, "f1", "trees")
    assert bag.threshold is None  # the stored model stays without a threshold
    assert attached.decided_threshold == 0.3
    with pytest.raises(ValueError, match="'smote' model carries no threshold; attach"):
        _ = bag.decided_threshold  # evaluating or exporting it would decide nothing
    with pytest.raises(ValueError, match="tuned for 'smote' but the model is 'none'"):
        Bag("none", "trees", preprocessor={}, audit={}, fit_info={}).with_decision(decision)


def test_pooling_the_folds_keeps_every_score_and_the_first_reason_a_strategy_was_skipped():
    from imbal_pipeline.core.values import FoldModels

    def step(fold: int, skipped: dict) -> FoldModels:
        oof = pd.DataFrame({ROW_ID: [2 * fold, 2 * fold + 1], "score": [0.1, 0.9]})
        return FoldModels(
            fold, [], {}, oof, fit_info={}, skipped=skipped, audits={}, preprocessor={}
        )

    steps = [step(0, {}), step(1, {"smoteenn": "too many rows"}), step(2, {"smoteenn": "again"})]
    oof, skipped = selection.pool_folds(iter(steps))  # any iterable, e.g. a dict's values
    assert sorted(oof[ROW_ID]) == list(range(6))
    assert skipped == {"smoteenn": "fold 1: too many rows"}
