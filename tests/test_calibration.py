"""Calibration from out-of-fold scores: chosen out of fold, applied by the loadable model."""

import numpy as np
import pytest
from conftest import value

from imbal_pipeline.core import calibration


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


def test_calibration_lowers_brier_and_ece_on_new_rows_and_is_chosen_out_of_fold():
    y, scores, folds = _shifted()
    fitted = calibration.fit_calibrator(y, scores, folds)
    assert set(fitted["oof_brier"]) == {"isotonic", "sigmoid"}
    assert fitted["method"] == min(fitted["oof_brier"], key=fitted["oof_brier"].get)
    assert min(fitted["oof_brier"].values()) < fitted["oof_brier_raw"]
    new_y, new_scores, _ = _shifted(seed=2)  # rows the calibrator never saw
    calibrated = calibration.apply(fitted, new_scores)
    assert calibration.brier(new_y, calibrated) < calibration.brier(new_y, new_scores)
    assert calibration.ece(new_y, calibrated) < 0.02 < calibration.ece(new_y, new_scores)
    assert np.all(np.diff(calibration.apply(fitted, np.linspace(0, 1, 101))) >= 0)  # monotone
    np.testing.assert_array_equal(calibration.apply(None, new_scores), new_scores)


def test_the_deployed_model_returns_calibrated_probabilities_and_decides_on_raw_scores(small_run):
    from imbal_pipeline.models import from_store_value

    model = from_store_value(value(small_run, "deployed_model"), "v")
    split = value(small_run, "holdout_split")
    rows = split.iloc[:300]
    raw = model.scores(rows)
    np.testing.assert_allclose(
        model.predict_proba(rows)[:, 1], calibration.apply(model.calibrator, raw)
    )
    assert model.calibrator["method"] in calibration.METHODS
    assert model.predict(rows).tolist() == (raw >= model.threshold).astype(int).tolist()
    report = value(small_run, "evaluation_report")
    held = report["calibration"]["holdout"]
    assert held["brier_calibrated"] <= held["brier_raw"]
    assert report["plots"]["reliability"] == "reliability.png"
