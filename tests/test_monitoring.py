"""Monitoring statistics against values computed by hand, and each check's verdicts."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from imbal_pipeline.core import monitor_checks
from imbal_pipeline.core import monitoring as mon
from imbal_pipeline.core.preprocess import fit_preprocessor


def test_wilson_interval_matches_the_textbook_value():
    # 5 of 100 at 95 %: p=0.05, z=1.96 -> (0.0215, 0.1118) (Newcombe 1998, table I style).
    low, high = mon.wilson_interval(5, 100, confidence=0.95)
    assert low == pytest.approx(0.02155, abs=5e-5)
    assert high == pytest.approx(0.11175, abs=5e-5)
    # Zero events still give a positive upper bound (where a normal interval gives 0).
    assert mon.wilson_interval(0, 50, 0.95)[1] == pytest.approx(0.0714, abs=1e-4)


def test_the_difference_interval_matches_newcombes_worked_example():
    # Newcombe (1998), method 10: 56/70 - 48/80 at 95 % is (0.0524, 0.3339).
    low, high = monitor_checks.difference_interval(56, 70, 48, 80, confidence=0.95)
    assert (low, high) == (pytest.approx(0.0524, abs=1e-4), pytest.approx(0.3339, abs=1e-4))


def test_psi_by_hand_and_with_an_empty_bin():
    expected = (0.25 - 0.5) * math.log(0.5) + (0.75 - 0.5) * math.log(1.5)
    assert monitor_checks.psi(np.array([0.5, 0.5]), np.array([0.25, 0.75])) == pytest.approx(
        expected
    )
    # The empty reference bin is taken at epsilon 1e-4, not 0 (which would be infinite).
    by_hand = -0.1 * math.log(0.4 / 0.5) + (0.1 - 1e-4) * math.log(0.1 / 1e-4)
    got = monitor_checks.psi(np.array([0.5, 0.5, 0.0]), np.array([0.5, 0.4, 0.1]))
    assert got == pytest.approx(by_hand)
    assert monitor_checks.psi(np.array([0.2, 0.8]), np.array([0.2, 0.8])) == 0.0


def test_bins_include_their_top_edge_and_skip_missing_values():
    shares = mon.bin_shares(np.array([0, 1, 1.5, 2, 3, np.nan]), [1.0, 2.0])
    assert shares.tolist() == pytest.approx([2 / 5, 2 / 5, 1 / 5])
    assert mon.quantile_edges(np.array([1.0] * 50 + [2.0] * 50), bins=4) == [1.0, 1.5, 2.0]


def _reference(expected_flagged=100, holdout=10_000):
    return mon.Reference(
        threshold=0.5,
        expected_rate=expected_flagged / holdout,
        expected_interval=mon.wilson_interval(expected_flagged, holdout),
        holdout_rows=holdout,
        oof_rate=0.01,
        oof_rows=40_000,
        score_edges=[],
        score_shares=[1.0],
        features=[],
    )


@pytest.mark.parametrize(
    ("flagged", "rows", "passed", "severity", "words"),
    [
        (100, 10_000, True, "error", "as expected"),
        (2, 10_000, False, "error", "significantly below expected"),  # the production alert
        (1, 200, True, "error", "as expected"),  # too few rows to tell: no alarm
        (180, 10_000, False, "warn", "above expected"),
        (600, 10_000, False, "error", "far above expected"),
    ],
)
def test_predicted_positive_rate_alerts_only_beyond_noise(flagged, rows, passed, severity, words):
    gate = monitor_checks.check_positive_rate(_reference(), flagged, rows)
    assert (gate.passed, gate.severity) == (passed, severity)
    assert words in gate.message
    assert gate.observed["expected"] == 0.01


@pytest.fixture(scope="module")
def training():
    rng = np.random.default_rng(0)
    n = 20_000
    frame = pd.DataFrame(
        {
            "amount": rng.lognormal(3, 1, n),
            "age": np.where(rng.random(n) < 0.05, np.nan, rng.normal(40, 10, n)),
            "channel": rng.choice(["web", "app", "pos"], n, p=[0.5, 0.3, 0.2]),
        }
    )
    pre = fit_preprocessor(
        frame, {"numeric": ["amount", "age"], "categorical": ["channel"]}, np.arange(n)
    )
    scores = rng.beta(1, 20, n)
    ref = mon.build_reference(frame, pre, np.zeros(n, int), scores, scores[:5000], 0.2, beta=2)
    return frame, pre, ref, rng


def test_a_batch_like_the_training_data_raises_no_alert(training):
    frame, pre, ref, rng = training
    batch = frame.sample(5000, random_state=1)
    gates = monitor_checks.check_batch(ref, pre, batch, rng.beta(1, 20, len(batch)))
    assert [g.name for g in gates] == list(monitor_checks.MONITORING_CHECKS)
    assert all(g.passed for g in gates), [g.message for g in gates]


def test_a_shifted_feature_fails_psi_naming_it(training):
    frame, pre, ref, rng = training
    batch = frame.sample(5000, random_state=2).assign(amount=lambda f: f["amount"] * 3)
    gate = monitor_checks.check_feature_psi(ref, batch)
    assert not gate.passed and gate.severity == "error"
    assert gate.observed["worst"] == "amount"
    assert "amount" in gate.message and "PSI" in gate.message
    assert gate.observed["psi"]["channel"] < monitor_checks.PSI_WARN


def test_a_shifted_category_mix_and_score_distribution_are_caught(training):
    frame, pre, ref, rng = training
    batch = frame.sample(5000, random_state=3).assign(channel="pos")
    assert monitor_checks.check_feature_psi(ref, batch).observed["worst"] == "channel"
    gate = monitor_checks.check_score_psi(ref, rng.beta(5, 5, 5000))
    assert not gate.passed and gate.severity == "error"


def test_missing_values_and_unseen_categories_are_counted(training):
    frame, pre, ref, _ = training
    batch = frame.sample(2000, random_state=4).copy()
    batch.loc[batch.index[:600], "age"] = np.nan  # 5 % -> ~33 % missing
    batch.loc[batch.index[:40], "channel"] = "kiosk"  # 2 % of rows never seen in training
    gate = monitor_checks.check_missing_and_unseen(ref, batch, pre)
    assert not gate.passed and gate.severity == "error"
    assert set(gate.observed["missing_rate_rise"]) == {"age"}
    assert gate.observed["unseen_category_share"] == {"channel": 0.02}
    batch = frame.sample(2000, random_state=5).copy()
    batch.loc[batch.index[:40], "channel"] = "kiosk"
    gate = monitor_checks.check_missing_and_unseen(ref, batch, pre)
    assert (gate.passed, gate.severity) == (False, "warn")
    assert "channel 2.00% unseen" in gate.message


def test_the_reference_survives_json():
    ref = _reference()
    assert mon.Reference.from_json(ref.to_json()) == ref


def test_labelled_performance_compares_with_the_holdout_beyond_noise():
    rng = np.random.default_rng(1)
    y = (rng.random(20_000) < 0.05).astype(int)
    good = np.clip(0.7 * y + rng.normal(0.15, 0.15, y.size), 0, 1)
    held = mon.holdout_metrics(y, good, threshold=0.5, beta=2)
    ref = mon.Reference(**{**_reference().__dict__, "holdout_metrics": held})
    assert monitor_checks.check_labelled(ref, y[:4000], good[:4000], beta=2).passed
    worse = np.clip(0.2 * y + rng.normal(0.15, 0.15, y.size), 0, 1)
    gate = monitor_checks.check_labelled(ref, y[:4000], worse[:4000], beta=2)
    assert not gate.passed and "recall" in gate.message and "PR-AUC" in gate.message
    assert gate.observed["realized"]["brier"] > 0


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (pd.DataFrame({"row": [0, 1, 7], "is_fraud": [0, 1, 0]}), "1 of 3 label ids are not in"),
        (pd.DataFrame({"id": [0, 1], "is_fraud": [0, 1]}), "the labels file has no 'row' column"),
        (pd.DataFrame({"row": [0, 1]}), "the labels file has no 'is_fraud' column"),
        (pd.DataFrame({"row": [0, 0], "is_fraud": [0, 1]}), "repeats ids"),
        (pd.DataFrame({"row": [0, 1], "is_fraud": [0, None]}), "rows without a 'is_fraud'"),
    ],
)
def test_labels_that_do_not_match_the_batch_are_refused_by_name(labels, message):
    from imbal_pipeline.core.data import DataError
    from imbal_pipeline.core.monitor_report import join_labels

    scores = pd.DataFrame({"row": [0, 1, 2], "score": [0.1, 0.9, 0.2]})
    summary = {"id_column": None, "target": "is_fraud", "positive_label": "1"}
    with pytest.raises(DataError, match=message):
        join_labels(scores, labels, summary)
    y, s = join_labels(scores, pd.DataFrame({"row": [2, 1], "is_fraud": [0, 1]}), summary)
    assert y.tolist() == [0, 1] and s.tolist() == [0.2, 0.9]  # joined by id, not by order
    y, _ = join_labels(scores, pd.DataFrame({"row": [2, 1], "is_fraud": [0.0, 1.0]}), summary)
    assert y.tolist() == [0, 1]  # 1.0 is the training file's 1


def test_the_batch_index_marks_exactly_the_batches_whose_rate_check_failed(tmp_path, monkeypatch):
    from imbal_pipeline.core import monitor_report, plots

    def summary(name: str, when: str, failed: tuple[str, ...]) -> dict:
        rate = {"rate": 0.01, "interval": [0.005, 0.02], "expected": 0.03}
        rate["expected_interval"] = [0.02, 0.04]
        names = ("positive_rate", "score_psi", "feature_psi", "unseen_categories")
        checks = [
            {"name": n, "passed": n not in failed, "severity": "error", "observed": rate}
            for n in names
        ]
        return {"batch": name, "scored_at": when, "rows": 100, "checks": checks}

    batches = [
        summary("monday", "2026-01-01T00:00:00", ()),
        summary("tuesday", "2026-01-02T00:00:00", ("positive_rate", "score_psi", "feature_psi")),
    ]
    for batch in batches:
        (tmp_path / batch["batch"]).mkdir()
        batch["model_version"] = "v1"
        (tmp_path / batch["batch"] / "summary.json").write_text(json.dumps(batch))
    seen = {}

    def spy(names, rates, intervals, alerts, *rest):
        seen["alerts"] = list(alerts)
        seen["names"] = list(names)

    monkeypatch.setattr(plots, "plot_rate_over_batches", spy)
    monitor_report.write_index(tmp_path)
    # One mark per batch; only the batch whose rate check failed is red.
    assert seen == {"names": ["monday", "tuesday"], "alerts": [False, True]}
    page = (tmp_path / "index.html").read_text()
    assert "positive_rate, score_psi, feature_psi" in page
