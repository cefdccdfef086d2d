"""The quality gate's exact tests (core/skill.py, core/quality.py), the threshold's check against
0.5 with the ladder's corrected standard error, and its fallback (core/threshold.py)."""

import itertools

import numpy as np
import pytest
from scipy.stats import binom
from sklearn.metrics import average_precision_score, f1_score

from imbal_pipeline.core.evaluate import quality, release
from imbal_pipeline.core.report_model import Report
from imbal_pipeline.core.settings import Settings
from imbal_pipeline.core.stats import metrics, skill
from imbal_pipeline.core.train import threshold

F1 = Settings(objective="f1")


def _report(y, scores, t=0.5, *, training_positives=None):
    """The parts of report.json the quality gate reads, computed as the evaluation does."""
    y = np.asarray(y)
    return {
        "dataset": {
            "holdout_rows": len(y),
            "holdout_positives": int(y.sum()),
            "positives": training_positives,
        },
        "selected_strategy": "none",
        "threshold": {"value": t, "objective": "f1", "fallback": None},
        "holdout": {"pr_auc": average_precision_score(y, scores)},
        "holdout_ci": metrics.bootstrap_intervals(y, scores, t, 2.0),
        "skill": skill.holdout_skill(y, scores, t),
        "vs_baseline": {
            "same_model": True,
            **metrics.paired_bootstrap(y, scores, scores, t, 0.5, 2.0),
        },
        "cv": {"none": {"pr_auc_mean": None, "pr_auc_std": None, "folds": 0}},
        "operating_point": {"objective": "f1", "asked": {}, "reached": {"f1": 0.5}},
    }


def _percentile_low(y, scores, replicates=1000):
    """The old gate's reading: the 2.5th percentile of PR-AUC over stratified resamples."""
    rng = np.random.default_rng(0)
    pos, neg = np.flatnonzero(y), np.flatnonzero(y == 0)
    values = []
    for _ in range(replicates):
        rows = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        values.append(average_precision_score(y[rows], scores[rows]))
    return np.percentile(values, 2.5)


def _gates(report):
    return {g.name: g for g in quality.quality_gate(Report.from_json(report))}


# --- the tests themselves -------------------------------------------------------------------


def test_permuted_average_precision_is_sklearns_including_ties():
    rng = np.random.default_rng(1)
    for _ in range(200):
        n = int(rng.integers(5, 120))
        y = (rng.random(n) < rng.uniform(0.05, 0.5)).astype(int)
        y[0] = 1
        scores = np.round(rng.random(n) + y * rng.uniform(0, 1), int(rng.integers(0, 3)))
        order, at_least = skill.ranked(scores)
        ours = skill.average_precision_at(np.flatnonzero(y[order]), at_least)[0]
        assert ours == pytest.approx(average_precision_score(y, scores), abs=1e-12)


@pytest.mark.parametrize("k", [2, 4])  # 4 of 6: drawn through the complement
def test_every_placement_of_the_positives_is_equally_likely(k):
    rng = np.random.default_rng(0)
    drawn = skill.placements(6, k, 30_000, rng)
    assert (np.diff(drawn, axis=1) > 0).all()  # sorted, no repeats
    subsets = list(itertools.combinations(range(6), k))
    counts = np.array([np.sum((drawn == s).all(axis=1)) for s in subsets])
    expected = 30_000 / len(subsets)
    # Each count is Binomial(30,000, 1/15): within 5 SDs of its mean.
    assert np.abs(counts - expected).max() < 5 * np.sqrt(expected)


def test_the_ranking_tests_false_pass_rate_under_no_skill_is_at_most_alpha():
    # 400 holdouts of 5 to 12 positives with scores independent of the labels, rounded so that
    # ties occur: the share with p <= alpha must be consistent with at most alpha.
    rng = np.random.default_rng(7)
    draws, passed, low = 400, 0, 0
    for i in range(draws):
        n = int(rng.integers(150, 500))
        y = np.zeros(n, int)
        y[rng.choice(n, int(rng.integers(5, 13)), replace=False)] = 1
        scores = np.round(rng.random(n), 2)
        p = skill.ranking_test(y, scores, permutations=199, seed=i)["p_value"]
        passed += p <= skill.ALPHA
        low += p <= 0.5
    # One-sided binomial: a rate of alpha gives more than this many passes 1 time in 1,000.
    assert passed <= binom.ppf(0.999, draws, skill.ALPHA)
    assert low <= binom.ppf(0.999, draws, 0.5)  # valid beyond the tail too


def test_the_decisions_test_is_the_exact_hypergeometric_tail():
    y = np.zeros(415, int)
    y[0] = 1
    flagged = np.zeros(415, bool)
    flagged[:20] = True  # the one positive among 20 flagged rows: p = 20/415
    found = skill.decisions_test(y, flagged)
    assert found["p_value"] == pytest.approx(20 / 415)
    assert found["expected_at_random"] == pytest.approx(20 / 415)
    assert skill.decisions_test(y, np.zeros(415, bool))["p_value"] == 1.0


# --- the quality gate -----------------------------------------------------------------------


def test_a_no_skill_model_fails_the_gate_that_the_interval_rule_passed():
    # Random scores, 10 positives in 300 rows: the lower end of a plain percentile bootstrap
    # interval of PR-AUC clears the positive rate (the old rule passed it, as it did 21 % of
    # such draws); the permutation test does not.
    rng = np.random.default_rng(9)
    y = np.zeros(300, int)
    y[:10] = 1
    scores = rng.random(300)
    report = _report(y, scores)
    assert _percentile_low(y, scores) > y.mean()
    gate = _gates(report)["beats_no_skill"]
    assert gate.blocks
    assert "cannot show that the model ranks positives better than chance" in gate.message
    assert gate.observed["p_value"] > skill.ALPHA


def test_a_zero_flag_model_is_not_exported():
    # A model that ranks every positive first, at a threshold above every score: the ranking
    # passes, the decisions do not, and release keeps the model back.
    rng = np.random.default_rng(0)
    y = (rng.random(2000) < 0.05).astype(int)
    scores = 0.4 * np.clip(0.6 * y + 0.4 * rng.random(2000), 0, 1)
    report = Report.from_json(_report(y, scores, t=0.5))
    gates = release.judge(report, upstream=[])
    by_name = {g.name: g for g in gates}
    assert by_name["beats_no_skill"].passed
    flags = by_name["decisions_beat_chance"]
    assert flags.blocks and "flags none of the 2,000 holdout rows" in flags.message
    assert report.verdict.quality_gate == "failed"
    assert release.released(report, final=None, decision=None, settings=None) is None


def test_decisions_no_better_than_random_flagging_fail():
    # 100 of 1,000 rows flagged, catching 2 of 20 positives: what random flagging catches.
    y = np.zeros(1000, int)
    y[:20] = 1
    scores = np.full(1000, 0.1)
    scores[[0, 1, *range(100, 198)]] = 0.9  # 2 positives and 98 negatives flagged
    scores[2:20] = np.linspace(0.2, 0.45, 18)  # the other positives rank high, below 0.5
    gate = _gates(_report(y, scores))["decisions_beat_chance"]
    assert gate.blocks and "no better than chance" in gate.message
    assert "catches 2 of 20 positives" in gate.message and "2.00" in gate.message


def test_a_clearly_good_model_passes_every_blocking_check():
    rng = np.random.default_rng(3)
    y = (rng.random(3000) < 0.02).astype(int)
    scores = np.clip(0.5 * y + 0.55 * rng.random(3000), 0, 1)
    gates = _gates(_report(y, scores))
    assert not any(g.blocks for g in gates.values()), [g.message for g in gates.values()]
    assert gates["beats_no_skill"].observed["p_value"] <= 1 / (1 + skill.PERMUTATIONS)
    assert gates["decisions_beat_chance"].passed


def test_too_few_positives_are_named_with_what_to_do():
    rng = np.random.default_rng(9)
    y = np.zeros(300, int)
    y[:10] = 1
    gate = _gates(_report(y, rng.random(300), training_positives=390))["beats_no_skill"]
    assert "too few positives for a verdict: the holdout holds 10" in gate.message
    assert "--holdout-fraction (about 0.15 would hold 60 of your 400 positives)" in gate.message
    # With enough positives a failure is a failure of the model, and says so.
    y = np.zeros(3000, int)
    y[: skill.FEW_POSITIVES] = 1
    gate = _gates(_report(y, rng.random(3000)))["beats_no_skill"]
    assert gate.blocks and "too few" not in gate.message and "check the features" in gate.message


# --- the threshold: its check against 0.5, and the fallback -----------------------------------


def test_the_check_against_half_uses_the_ladders_corrected_standard_error():
    # A gain of 0.152 over 0.5: above the plain SD/sqrt(5) (0.124), within the corrected SE
    # (0.186), so the tuned threshold does not earn its place and 0.5 (which flags rows) stays.
    rng = np.random.default_rng(43)
    y = (rng.random(500) < 0.06).astype(int)
    scores = np.clip(0.25 * y + rng.random(500) * 0.75, 0, 1)
    folds = np.arange(500) % 5
    tuned = threshold.tune_per_fold(y, scores, folds, np.arange(500), F1)
    check = tuned["versus_default"]
    gains = np.array(list(check["gain_by_fold"].values()))
    assert check["gain_se"] == pytest.approx(gains.std(ddof=1) * np.sqrt(1 / 5 + 1 / 4))
    assert gains.std(ddof=1) / np.sqrt(5) < check["gain_mean"] <= check["gain_se"]
    assert tuned["value"] == 0.5 and "0.5 is used" in tuned["fallback"]
    assert threshold.describe_choice(tuned).startswith("fallback: the tuned one did not beat")


def test_a_threshold_that_flags_no_out_of_fold_row_is_never_the_fallback():
    # Every score below 0.5 (an unweighted model's probabilities at 1:20) and a tuned
    # threshold that does not beat 0.5 beyond noise: 0.5 would flag nothing, so the tuned
    # median stays, and says it is a fallback.
    rng = np.random.default_rng(77)
    y = (rng.random(400) < 0.05).astype(int)
    scores = 0.4 * np.clip(0.15 * y + rng.random(400) * 0.85, 0, 1)
    tuned = threshold.tune_per_fold(y, scores, np.arange(400) % 5, np.arange(400), F1)
    check = tuned["versus_default"]
    assert check["gain_mean"] <= check["gain_se"]  # not earned
    assert tuned["value"] == tuned["tuned_median"] < 0.5
    assert (scores >= tuned["value"]).any()
    assert tuned["at_threshold"]["f1"] == pytest.approx(f1_score(y, scores >= tuned["value"]))
    assert "0.5 flags no out-of-fold row" in threshold.describe_choice(tuned)
    # Where the tuned median flags nothing either, the positive-rate score does.
    value, why = threshold.fallback(y, scores, median=0.45)
    assert (scores >= value).sum() >= y.sum() and "as many out-of-fold rows" in why


def test_an_earned_threshold_is_described_as_tuned():
    assert threshold.describe_choice({"objective": "f1", "fallback": None}) == "tuned for f1"
