"""Calibration from out-of-fold scores: chosen out of fold, applied by the loadable model."""

import numpy as np
import pytest
from conftest import value

from imbal_pipeline.core.train import calibration


def _shifted(n=40_000, seed=0):
    """Scores pushed up the way class weights push them: the true probability is score**3."""
    rng = np.random.default_rng(seed)
    scores = rng.beta(1, 4, n) ** (1 / 3)
    y = (rng.random(n) < scores**3).astype(int)
    return y, scores, rng.integers(0, 5, n)


def test_a_sigmoid_calibrator_recovers_known_platt_parameters():
    rng = np.random.default_rng(1)
    scores = rng.random(50_000)
    logit = np.log(scores / (1 - scores))
    y = (rng.random(scores.size) < 1 / (1 + np.exp(-(0.5 * logit - 2.0)))).astype(int)
    fitted = calibration._fit("sigmoid", y, scores)
    assert fitted["a"] == pytest.approx(0.5, abs=0.05)
    assert fitted["b"] == pytest.approx(-2.0, abs=0.1)


def _calibrated(n=3000, prevalence=0.03, seed=0):
    """Scores that are already probabilities: the label is drawn from the score itself."""
    rng = np.random.default_rng(seed)
    scores = rng.beta(0.5, 0.5 / prevalence - 0.5, n)
    y = (rng.random(n) < scores).astype(int)
    return y, scores, rng.integers(0, 5, n)


def test_calibration_lowers_brier_and_ece_on_new_rows_and_is_chosen_out_of_fold():
    y, scores, folds = _shifted()
    fitted = calibration.fit_calibrator(y, scores, folds)
    assert set(fitted["oof_brier"]) == {"isotonic", "sigmoid"}
    assert fitted["applied"] and fitted["method"] == fitted["candidate"]
    assert fitted["method"] == min(fitted["oof_brier"], key=fitted["oof_brier"].get)
    versus = fitted["oof_brier_difference"]
    assert versus["ci_high"] < 0
    assert versus["diff"] == pytest.approx(
        fitted["oof_brier"][fitted["method"]] - fitted["oof_brier_raw"]
    )
    assert fitted["sentence"].startswith(f"calibration: {fitted['method']} applied, it beat")
    new_y, new_scores, _ = _shifted(seed=2)  # rows the calibrator never saw
    calibrated = calibration.apply(fitted, new_scores)
    assert calibration.brier(new_y, calibrated) < calibration.brier(new_y, new_scores)
    assert calibration.ece(new_y, calibrated) < 0.02 < calibration.ece(new_y, new_scores)
    assert np.all(np.diff(calibration.apply(fitted, np.linspace(0, 1, 101))) >= 0)  # monotone
    np.testing.assert_array_equal(calibration.apply(None, new_scores), new_scores)


def test_a_calibrator_that_does_not_beat_the_identity_is_not_applied():
    # The scores are probabilities already: a map fitted on 90 positives can only add noise.
    y, scores, folds = _calibrated()
    fitted = calibration.fit_calibrator(y, scores, folds)
    assert not fitted["applied"] and fitted["method"] is None
    assert fitted["oof_brier_difference"]["ci_high"] >= 0
    np.testing.assert_array_equal(calibration.apply(fitted, scores), scores)
    said = calibration.difference_text(fitted["oof_brier_difference"])
    assert fitted["sentence"] == (
        f"calibration: not applied, it did not beat the raw scores on out-of-fold Brier: {said}"
    )


def test_a_brier_difference_is_written_with_enough_decimals_to_show_its_interval():
    text = calibration.difference_text
    assert text({"diff": -0.0003, "ci_low": -0.0011, "ci_high": 0.0004}) == (
        "-0.0003 [-0.0011, +0.0004]"
    )
    # At 1 % positives an interval can be 0.0001 wide: four decimals would read 0.0000.
    assert text({"diff": -0.00003, "ci_low": -0.0001, "ci_high": 0.00004}) == (
        "-0.00003 [-0.00010, +0.00004]"
    )


def test_the_out_of_fold_comparison_scores_each_row_with_a_map_that_did_not_see_it(
    monkeypatch,
):
    y, scores, folds = _calibrated(n=1000)
    fitted_on = []
    original = calibration._fit

    def spy(method, y_fit, scores_fit):
        fitted_on.append(len(y_fit))
        return original(method, y_fit, scores_fit)

    monkeypatch.setattr(calibration, "_fit", spy)
    cross = calibration.cross_fitted("isotonic", y, scores, folds)
    assert fitted_on == [int((folds != k).sum()) for k in range(5)]
    held = folds == 0
    alone = original("isotonic", y[~held], scores[~held])
    np.testing.assert_array_equal(cross[held], calibration.apply(alone, scores[held]))


def test_ece_bins_are_equal_frequency():
    y, scores, _ = _calibrated(n=2000, prevalence=0.02)
    bins = calibration.reliability(y, scores)
    # At 2 % prevalence equal-width bins put almost every row in [0, 0.1): here each of the ten
    # bins holds a tenth of the rows.
    assert [b["rows"] for b in bins] == [200] * 10
    order = np.argsort(scores, kind="stable")
    deciles = np.array_split(order, 10)
    by_hand = sum(abs(scores[d].mean() - y[d].mean()) * len(d) for d in deciles) / len(y)
    assert calibration.ece(y, scores) == pytest.approx(by_hand)
    # Perfectly calibrated scores stay under the ECE that noise alone makes; shifted ones not.
    assert calibration.ece(y, scores) < calibration.ece_noise(scores, seed=0)
    shifted = np.clip(scores * 2, 0, 1)
    assert calibration.ece(y, shifted) > calibration.ece_noise(shifted, seed=0)


def test_the_brier_interval_is_the_bootstraps_of_rows_and_the_difference_is_paired():
    y, scores, _ = _calibrated(n=4000)
    figure = calibration.brier_with_interval(y, scores)
    assert figure["value"] == pytest.approx(calibration.brier(y, scores))
    # Rows drawn independently, not within each class: a holdout's Brier score moves with the
    # share of positives it drew, and the interval must carry that.
    rng = np.random.default_rng(1)
    boot = [calibration.brier(y[i], scores[i]) for i in rng.integers(0, y.size, (2000, y.size))]
    # Normal on the log scale: the interval is symmetric around the score's logarithm, its
    # half-width there the standard error over the score.
    value, low, high = figure["value"], figure["ci_low"], figure["ci_high"]
    assert low * high == pytest.approx(value**2)
    assert np.log(high / value) == pytest.approx(1.96 * np.std(boot) / value, rel=0.1)
    same = calibration.brier_difference(y, scores, scores)
    assert same["diff"] == same["ci_low"] == same["ci_high"] == 0
    worse = calibration.brier_difference(y, np.clip(scores * 3, 0, 1), scores)
    assert worse["ci_low"] > 0


def test_labelled_performance_reports_the_brier_of_what_predict_proba_returns(small_run):
    from imbal_pipeline.core.monitor import monitor_checks
    from imbal_pipeline.core.monitor.monitoring import Reference
    from imbal_pipeline.core.report import monitor_report
    from imbal_pipeline.core.settings import LABEL
    from imbal_pipeline.store.models import from_store_value

    model = from_store_value(value(small_run, "deployed_model"), "v")
    rows = value(small_run, "holdout_split").iloc[:600]
    y = rows[LABEL].to_numpy().astype(int)
    raw = model.scores(rows)
    # Whatever the run decided, a model that calibrates: a map fitted on these scores.
    model.calibrator = calibration._fit("sigmoid", y, raw)
    summary = monitor_report.model_summary(model)
    gate = monitor_checks.check_labelled(
        Reference.from_json(summary["reference"]),
        y,
        raw,
        summary["beta"],
        calibrator=summary["calibrator"],
    )
    proba = model.predict_proba(rows)[:, 1]
    assert gate.observed["realized"]["brier"] == pytest.approx(calibration.brier(y, proba))
    assert gate.observed["realized"]["brier"] != pytest.approx(calibration.brier(y, raw))


def test_the_deployed_model_returns_what_the_rule_decided_and_decides_on_raw_scores(small_run):
    from imbal_pipeline.store.models import from_store_value

    model = from_store_value(value(small_run, "deployed_model"), "v")
    split = value(small_run, "holdout_split")
    rows = split.iloc[:300]
    raw = model.scores(rows)
    np.testing.assert_allclose(
        model.predict_proba(rows)[:, 1], calibration.apply(model.calibrator, raw)
    )
    assert model.calibrator["method"] in (*calibration.METHODS, None)
    assert model.predict(rows).tolist() == (raw >= model.threshold).astype(int).tolist()
    report = value(small_run, "evaluation_report")
    cal = report["calibration"]
    assert cal["applied"] == bool(model.calibrator["method"])
    held = cal["holdout"]
    assert held["brier_raw"]["ci_low"] <= held["brier_raw"]["value"] <= held["brier_raw"]["ci_high"]
    assert ("brier_calibrated" in held) == cal["applied"]
    assert report["plots"]["reliability"] == "reliability.png"
