"""Monitoring statistics against values computed by hand, and each check's verdicts."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from imbal_pipeline.core.monitor import monitor_batch, monitor_checks
from imbal_pipeline.core.monitor import monitoring as mon
from imbal_pipeline.core.stats import monitor_stats
from imbal_pipeline.core.train.preprocess import fit_preprocessor
from imbal_pipeline.defs import automation


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


def _expectation(rate: float, rows: int, row_variance: float | None = None, skew: float = 0.0):
    """A reference expectation of `rate` from `rows` training rows, binomial unless told."""
    spread = rate * (1 - rate) if row_variance is None else row_variance
    return monitor_stats.Expectation(rate, spread / rows, rows, spread, skew)


def _reference(expected_flagged=100, rows=10_000):
    rate = expected_flagged / rows
    return mon.Reference(
        threshold=0.5,
        expected_rate=rate,
        expected_interval=mon.wilson_interval(expected_flagged, rows),
        flag=_expectation(rate, rows),
        positives=_expectation(0.02, 12_000, row_variance=0.01, skew=5.0),
        training_rows=rows,
        holdout_rows=rows // 4,
        holdout_rate=rate,
        holdout_interval=mon.wilson_interval(expected_flagged // 4, rows // 4),
        holdout_agreement={"difference": 0.0, "interval": [-0.01, 0.01], "consistent": True},
        oof_rate=rate,
        score_edges=[],
        score_shares=[1.0],
        score_rows=rows,
        features=[],
    )


@pytest.mark.parametrize(
    ("flagged", "rows", "passed", "severity", "words"),
    [
        (100, 10_000, True, "error", "as expected"),
        (2, 10_000, False, "error", "significantly below expected"),  # the production alert
        (1, 200, True, "error", "too small to judge (200 rows; at least"),
        (180, 10_000, False, "warn", "above expected"),
        (600, 10_000, False, "error", "far above expected"),
    ],
)
def test_predicted_positive_rate_alerts_only_beyond_noise(flagged, rows, passed, severity, words):
    gate = monitor_checks.check_positive_rate(_reference(), flagged, rows)
    assert (gate.passed, gate.severity) == (passed, severity)
    assert words in gate.message
    assert gate.observed["expected"] == 0.01
    assert not gate.blocks or gate.observed["judged"]  # an alarm is always a judged verdict


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


def _checks(ref, pre, batch, scores):
    return monitor_batch.check_batch(
        ref, pre, batch, scores, expected_positives=float(np.sum(scores))
    )


def test_a_batch_like_the_training_data_raises_no_alert(training):
    frame, pre, ref, rng = training
    batch = frame.sample(5000, random_state=1)
    gates = _checks(ref, pre, batch, rng.beta(1, 20, len(batch)))
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
    passed = monitor_checks.check_labelled(ref, y[:4000], good[:4000], beta=2)
    assert passed.passed
    # A pass claims no more than the test shows, with the holdout's figures beside the batch's.
    positives = int(y[:4000].sum())
    assert passed.message.startswith(
        f"not worse than on the holdout beyond this batch's noise ({positives} positives): "
        f"PR-AUC {passed.observed['realized']['pr_auc']:.3f} (holdout {held['pr_auc']:.3f}), "
        f"precision {passed.observed['realized']['precision']:.3f} "
        f"(holdout {held['precision']:.3f}), recall "
    )
    assert f"Brier {passed.observed['realized']['brier']:.4f} (holdout " in passed.message
    worse = np.clip(0.2 * y + rng.normal(0.15, 0.15, y.size), 0, 1)
    gate = monitor_checks.check_labelled(ref, y[:4000], worse[:4000], beta=2)
    assert not gate.passed and "recall" in gate.message and "PR-AUC" in gate.message
    assert gate.observed["realized"]["brier"] > 0


def test_a_labelled_batch_too_small_to_fail_passes_without_ending_an_alarm():
    # Two positives cannot show recall below the holdout's floor: such a pass is no evidence
    # that an alarm is over (the retrain sensor would otherwise ask again on every large one).
    from imbal_pipeline.core.gate import ends_alarm

    rng = np.random.default_rng(1)
    y = (rng.random(20_000) < 0.05).astype(int)
    good = np.clip(0.7 * y + rng.normal(0.15, 0.15, y.size), 0, 1)
    held = mon.holdout_metrics(y, good, threshold=0.5, beta=2)
    # A holdout whose recall is known to lie in 0.5-0.7: 0 of 2 caught still reaches above 0.5.
    held = {**held, "recall_interval": [0.5, 0.7]}
    ref = mon.Reference(**{**_reference().__dict__, "holdout_metrics": held})
    few = np.r_[np.flatnonzero(y)[:2], np.flatnonzero(y == 0)[:200]]
    small = monitor_checks.check_labelled(ref, y[few], good[few], beta=2)
    assert small.passed and not ends_alarm(small)
    large = monitor_checks.check_labelled(ref, y[:4000], good[:4000], beta=2)
    assert large.passed and ends_alarm(large)


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
    from imbal_pipeline.core.data.data import DataError
    from imbal_pipeline.core.report.monitor_report import join_labels

    scores = pd.DataFrame({"row": [0, 1, 2], "score": [0.1, 0.9, 0.2]})
    summary = {"id_column": None, "target": "is_fraud", "positive_label": "1"}
    with pytest.raises(DataError, match=message):
        join_labels(scores, labels, summary)
    y, s = join_labels(scores, pd.DataFrame({"row": [2, 1], "is_fraud": [0, 1]}), summary)
    assert y.tolist() == [0, 1] and s.tolist() == [0.2, 0.9]  # joined by id, not by order
    y, _ = join_labels(scores, pd.DataFrame({"row": [2, 1], "is_fraud": [0.0, 1.0]}), summary)
    assert y.tolist() == [0, 1]  # 1.0 is the training file's 1


def test_the_batch_index_marks_exactly_the_batches_whose_rate_check_failed(tmp_path, monkeypatch):
    from imbal_pipeline.core.report import monitor_report, plots

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
    recent = {"rows": 5000, "mean": 0.021, "judged": True}
    batches[1]["checks"].append(
        {"name": "recent_prevalence", "passed": True, "severity": "error", "observed": recent}
    )
    batches[1]["checks"][-1]["message"] = "predicted prevalence as expected: ..."
    (tmp_path / "tuesday" / "summary.json").write_text(json.dumps(batches[1]))
    monitor_report.write_index(tmp_path)
    # One mark per batch; only the batch whose rate check failed is red.
    assert seen == {"names": ["monday", "tuesday"], "alerts": [False, True]}
    page = (tmp_path / "index.html").read_text()
    assert "positive_rate, score_psi, feature_psi" in page
    # The prevalence rule across batches: its latest verdict, and each batch's window.
    assert "2.10% over 5,000 rows (passed)" in page
    assert "Prevalence across batches" in page and "predicted prevalence as expected" in page
    # A pooled alarm on a small batch names the window, not the batch alone.
    pooled = {**recent, "batches": ["sunday", "monday", "tuesday"], "judged": True}
    batches[1]["checks"][-1] |= {"passed": False, "observed": pooled}
    (tmp_path / "tuesday" / "summary.json").write_text(json.dumps(batches[1]))
    monitor_report.write_index(tmp_path)
    page = (tmp_path / "index.html").read_text()
    assert "recent_prevalence (pooled over the last 3 batches)" in page


# --- tests sized to the batch, the features and the reference --------------------------------


def test_holm_rejects_step_down_and_stops_at_the_first_failure():
    p = np.array([[0.001, 0.01, 0.02, np.nan], [0.0001, 0.0002, 0.5, 0.9]])
    rejected = monitor_stats.holm(p, alpha=0.01)
    # Row 1: 0.001 <= 0.01/3, then 0.01 > 0.01/2 stops it; NaN is never tested.
    assert rejected.tolist() == [[True, False, False, False], [True, True, False, False]]


def test_bins_merge_until_the_batch_expects_enough_rows_in_each():
    deciles = np.full(10, 0.1)
    assert monitor_stats.merge_bins(deciles, 100).tolist() == list(range(10))
    assert monitor_stats.merge_bins(deciles, 50).tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert monitor_stats.merge_bins(deciles, 15).tolist() == [0] * 10  # one group: not judged
    # Categories merge from the rarest up.
    merged = monitor_stats.merge_bins(np.array([0.5, 0.3, 0.1, 0.05, 0.05]), 100, ordered=False)
    assert merged.tolist() == [3, 2, 1, 0, 0]
    assert monitor_stats.smallest_batch(deciles) == 20


def test_fishers_test_and_the_smallest_batch_it_judges():
    # 0 of 300 against 200 of 10,000 (2 %): twice the lower tail of the hypergeometric.
    from scipy import stats

    expected = 2 * stats.hypergeom.cdf(0, 10_300, 200, 300)
    assert monitor_stats.rate_test(0, 300, 200, 10_000) == pytest.approx(expected)
    needed = monitor_stats.smallest_rate_batch(0.02, 10_000)
    assert monitor_stats.rate_test(0, needed, 200, 10_000) <= monitor_stats.ALPHA
    assert monitor_stats.rate_test(0, needed - 30, 200, 10_000) > monitor_stats.ALPHA


def test_the_paired_reference_is_the_bags_rate_not_the_members():
    # Out of fold 10 % of rows are flagged (one member each); on the holdout the members flag
    # 10 % too but the bag only 8 %: the bag's expected rate is 8 %.
    rng = np.random.default_rng(3)
    oof = (rng.random(40_000) < 0.10).astype(float)
    members = (rng.random(10_000) < 0.10).astype(float)
    bag = members * (rng.random(10_000) < 0.8)
    found = monitor_stats.paired_estimate(monitor_stats.Moments.of(oof), bag, members)[0]
    assert found.value == pytest.approx(oof.mean() + bag.mean() - members.mean())
    assert abs(found.value - 0.08) < 0.005
    # Its variance: the out-of-fold mean's plus the paired difference's, both by hand.
    by_hand = oof.var(ddof=1) / oof.size + (bag - members).var(ddof=1) / bag.size
    assert found.variance == pytest.approx(by_hand)


def test_build_reference_takes_the_flag_rate_from_the_out_of_fold_scores_of_every_row():
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"x": rng.normal(size=8000)})
    pre = fit_preprocessor(frame, {"numeric": ["x"], "categorical": []}, np.arange(8000))
    oof = rng.beta(1, 20, 8000)
    members = rng.beta(1, 20, (5, 2000))
    y = (rng.random(2000) < 0.05).astype(int)
    ref = mon.build_reference(frame, pre, y, members, oof, 0.2, beta=2)
    assert ref.training_rows == 8000 and ref.holdout_rows == 2000
    bag = members.mean(axis=0)
    by_hand = np.mean(oof >= 0.2) + np.mean(bag >= 0.2) - np.mean(members >= 0.2)
    assert ref.expected_rate == pytest.approx(by_hand)
    assert ref.oof_rate == pytest.approx(np.mean(oof >= 0.2))
    assert ref.holdout_rate == pytest.approx(np.mean(bag >= 0.2))
    assert ref.score_edges == mon.quantile_edges(oof)  # the score bins: the larger sample's
    assert set(ref.holdout_agreement) == {"difference", "interval", "consistent"}
    assert mon.Reference.from_json(json.loads(json.dumps(ref.to_json()))) == ref


def test_a_reference_from_an_older_release_is_refused_in_one_line():
    old = {k: v for k, v in _reference().to_json().items() if k != "flag"}
    with pytest.raises(ValueError, match="predates the out-of-fold reference.*retrain"):
        mon.Reference.from_json(old)


def test_a_one_row_batch_is_too_small_to_judge_and_asks_for_no_retraining(training):
    frame, pre, ref, _ = training
    batch = frame.iloc[:1]
    gates = _checks(ref, pre, batch, np.array([0.9]))
    assert all(g.passed for g in gates), [g.message for g in gates]
    small = {g.name for g in gates if "too small to judge (1 rows; at least" in g.message}
    assert small == {"positive_rate", "score_psi", "feature_psi", "recent_prevalence"}
    alerts = ", ".join(g.name for g in gates if g.blocks) or "none"
    evidence = {g.name: g.observed.get("evidence") for g in gates if g.blocks}
    assert automation.retrain_reasons(alerts, evidence) == []


def test_retraining_needs_a_failed_check_that_carries_its_figures():
    evidence = {"feature_psi": "amount shifted; PSI 0.61", "missing_and_unseen": "x"}
    found = automation.retrain_reasons("feature_psi, missing_and_unseen", evidence)
    assert found == [("feature_psi", "amount shifted; PSI 0.61")]  # a broken feed: no retrain
    assert automation.retrain_reasons("feature_psi", {}) == []  # an alert without figures


@pytest.fixture(scope="module")
def wide():
    """A training split of 5,000 rows and 85 features (68 numeric, 17 categorical)."""
    rng = np.random.default_rng(8)
    n = 5000
    columns = {f"x{i}": rng.normal(size=n) for i in range(68)}
    columns |= {f"c{i}": rng.choice(list("abcdefgh"), n) for i in range(17)}
    frame = pd.DataFrame(columns)
    schema = {"numeric": [f"x{i}" for i in range(68)], "categorical": [f"c{i}" for i in range(17)]}
    pre = fit_preprocessor(frame, schema, np.arange(n))
    scores = rng.beta(1, 30, n)
    members = rng.beta(1, 30, (5, 1250))
    ref = mon.build_reference(frame, pre, np.zeros(1250, int), members, scores, 0.1, beta=2)
    return frame, pre, ref, rng


def test_a_quiet_100_row_batch_on_85_features_raises_no_alarm(wide):
    frame, pre, ref, rng = wide
    batch = frame.sample(100, random_state=9)
    # Scored by the bag: each row the mean of its five members' scores.
    gates = _checks(ref, pre, batch, rng.beta(1, 30, (5, 100)).mean(axis=0))
    assert not [g.message for g in gates if not g.passed]
    psi = next(g for g in gates if g.name == "feature_psi")
    assert psi.observed["judged"] == 85  # judged, not waved through: 10 rows per merged bin


def test_feature_checks_keep_their_false_alarm_rate_on_quiet_batches(wide):
    # 300 quiet 100-row batches of 10 features: the fixed PSI cut-offs alarmed on all of them;
    # the sized test alarms on about 1 in 200 (allow 4).
    import dataclasses

    frame, pre, ref, rng = wide
    ref = dataclasses.replace(ref, features=ref.features[:6] + ref.features[-4:])
    population = frame.sample(30_000, replace=True, random_state=10)
    alarms = sum(
        monitor_checks.check_feature_psi(ref, population.iloc[100 * i : 100 * (i + 1)]).blocks
        for i in range(300)
    )
    assert alarms <= 4


def test_rate_and_prevalence_rules_keep_their_false_alarm_rate_in_simulation():
    # 2,000 quiet batches at each size against a 12,000-row reference: each rule alarms on at
    # most 1 % (its level is 0.5 %).
    rng = np.random.default_rng(11)
    flag = _expectation(0.03, 12_000)
    for n in (500, 5000):
        k = rng.binomial(n, 0.03, 2000)
        _, significant, _ = monitor_stats.rate_verdicts(k, n, flag)
        assert np.mean(significant & monitor_stats.moved(k / n / 0.03)) <= 0.01
    # Probabilities of a rare class: most near 0, a few near 1 (mean 2 %, skewed).
    population = np.where(rng.random(200_000) < 0.03, rng.beta(4, 3, 200_000), 0.0025)
    positives = monitor_stats.members_estimate(population[:12_000], population[12_000:15_000])
    sums = rng.choice(population[15_000:], (2000, 5000)).sum(axis=1)
    _, significant, _ = monitor_stats.mean_verdicts(sums, 5000, positives)
    assert np.mean(significant) <= 0.01


def test_the_pooled_rule_fires_on_a_sustained_rise_no_single_batch_shows():
    ref = _reference()  # expects 2 % positives per row (row variance 0.01)
    quiet = [
        {"batch": f"q{i}", "rows": 500, "flagged": 5, "expected_positives": 10.0} for i in range(20)
    ]
    raised = [
        {"batch": f"r{i}", "rows": 500, "flagged": 8, "expected_positives": 15.0} for i in range(10)
    ]
    alone = monitor_batch.check_recent_prevalence(ref, raised[:1])
    assert alone.passed and alone.observed["judged"]  # 3 % in 500 rows: within the noise
    pooled = monitor_batch.check_recent_prevalence(ref, quiet + raised)
    assert not pooled.passed and pooled.severity == "error"
    assert "significantly above expected" in pooled.message
    # Expected positives move with the features as with the classes: it cannot say which.
    assert pooled.message.endswith(
        "; the class distribution or the features have shifted: retrain on recent labelled data"
    )
    assert pooled.observed["batches"] == [b["batch"] for b in raised]  # the last 5,000 rows
    assert pooled.observed["evidence"].startswith("3.00% vs 2.00% over 5,000 rows")
    halved = [dict(b, expected_positives=5.0) for b in raised]
    assert "significantly below" in monitor_batch.check_recent_prevalence(ref, halved).message
    few = monitor_batch.check_recent_prevalence(ref, [dict(raised[0], rows=100)])
    assert few.passed and "too small to judge (100 rows; at least 500 needed)" in few.message
