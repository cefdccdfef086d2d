"""Bootstrap intervals: exact point values, the row bootstrap they stand for, and coverage."""

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import average_precision_score, roc_auc_score

from imbal_pipeline.core import metrics


@pytest.mark.parametrize("decimals", [2, 8])  # many ties, and almost none
def test_rank_metrics_from_score_groups_equal_scikit_learns(decimals):
    rng = np.random.default_rng(decimals)
    y = (rng.random(3000) < 0.05).astype(int)
    scores = np.round(np.clip(0.3 * y + rng.random(3000), 0, 1), decimals)
    pos, gap, tied, rest = metrics._rank_layout(y, scores)
    one = {"pos_w": pos[None] * 1.0, "gap_w": gap[None] * 1.0, "tied_w": tied[None] * 1.0}
    got = metrics._rank_metrics(**one, rest_w=np.array([rest], float))
    assert got["pr_auc"][0] == pytest.approx(average_precision_score(y, scores), abs=1e-12)
    assert got["roc_auc"][0] == pytest.approx(roc_auc_score(y, scores), abs=1e-12)


def test_the_count_bootstrap_matches_resampling_rows():
    rng = np.random.default_rng(1)
    y = (rng.random(800) < 0.06).astype(int)
    scores = np.round(np.clip(0.35 * y + rng.random(800), 0, 1), 3)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    rows = [
        np.concatenate([rng.choice(pos, pos.size), rng.choice(neg, neg.size)]) for _ in range(2000)
    ]
    naive = {
        "pr_auc": np.percentile(
            [average_precision_score(y[i], scores[i]) for i in rows], [2.5, 97.5]
        ),
        "roc_auc": np.percentile([roc_auc_score(y[i], scores[i]) for i in rows], [2.5, 97.5]),
        "recall": np.percentile([np.mean(scores[i][y[i] == 1] >= 0.8) for i in rows], [2.5, 97.5]),
    }
    ours = metrics.bootstrap_intervals(y, scores, 0.8, 1.0, n_boot=1000, seed=2)
    # Two Monte Carlo draws of one distribution: they agree to about a step of recall (1/39).
    for name, (low, high) in naive.items():
        assert ours[name]["ci_low"] == pytest.approx(low, abs=0.03), name
        assert ours[name]["ci_high"] == pytest.approx(high, abs=0.03), name


def test_95_percent_intervals_cover_the_population_value_about_95_percent_of_the_time():
    # Positives score Beta(3, 2), negatives Beta(2, 5); stratified samples of 100 + 1,900 rows.
    threshold, pi = 0.6, 0.05
    recall = stats.beta(3, 2).sf(threshold)
    fpr = stats.beta(2, 5).sf(threshold)
    precision = pi * recall / (pi * recall + (1 - pi) * fpr)
    # ROC-AUC = P(positive outranks negative), by numerical integration.
    grid = np.linspace(0, 1, 200_001)
    roc = np.trapezoid(stats.beta(3, 2).pdf(grid) * stats.beta(2, 5).cdf(grid), grid)
    truth = {
        "recall": recall,
        "precision": precision,
        "f1": 2 * precision * recall / (precision + recall),
        "roc_auc": roc,
    }
    rng = np.random.default_rng(7)
    y = np.r_[np.ones(100, int), np.zeros(1900, int)]
    covered = dict.fromkeys(truth, 0)
    repetitions = 200
    for rep in range(repetitions):
        scores = np.r_[rng.beta(3, 2, 100), rng.beta(2, 5, 1900)]
        ci = metrics.bootstrap_intervals(y, scores, threshold, 1.0, seed=rep)
        for name, value in truth.items():
            covered[name] += ci[name]["ci_low"] <= value <= ci[name]["ci_high"]
    for name, hits in covered.items():
        assert 0.90 <= hits / repetitions <= 0.99, (name, hits / repetitions)


def test_one_class_has_no_interval_and_the_seed_fixes_the_interval():
    assert metrics.bootstrap_intervals(np.zeros(10), np.linspace(0, 1, 10), 0.5, 1.0) == {}
    y = np.r_[np.ones(20, int), np.zeros(200, int)]
    s = np.random.default_rng(0).random(220)
    assert metrics.bootstrap_intervals(y, s, 0.5, 1.0, seed=3) == metrics.bootstrap_intervals(
        y, s, 0.5, 1.0, seed=3
    )


def _pair(n=600, seed=5, decimals=2):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.08).astype(int)
    a = np.round(np.clip(0.3 * y + rng.random(n), 0, 1), decimals)
    b = np.round(np.clip(0.2 * y + rng.random(n), 0, 1), decimals)
    return y, a, b


@pytest.mark.parametrize("decimals", [2, 8])
def test_paired_differences_equal_scikit_learns(decimals):
    from sklearn.metrics import f1_score, matthews_corrcoef

    y, a, b = _pair(decimals=decimals)
    out = metrics.paired_bootstrap(y, a, b, 0.7, 0.5, 2.0, costs=(1.0, 5.0), n_boot=50)
    ap = average_precision_score(y, a) - average_precision_score(y, b)
    assert out["pr_auc"]["diff"] == pytest.approx(ap, abs=1e-12)
    assert out["f1"]["diff"] == pytest.approx(f1_score(y, a >= 0.7) - f1_score(y, b >= 0.5))
    mcc = matthews_corrcoef(y, a >= 0.7) - matthews_corrcoef(y, b >= 0.5)
    assert out["mcc"]["diff"] == pytest.approx(mcc)

    def cost(s, t):
        return (np.sum((s >= t) & (y == 0)) + 5 * np.sum((s < t) & (y == 1))) * 1000 / len(y)

    assert out["saving_per_1000"]["diff"] == pytest.approx(cost(b, 0.5) - cost(a, 0.7))


def test_the_paired_bootstrap_matches_resampling_rows_for_both_models():
    y, a, b = _pair(n=500, seed=6)
    rng = np.random.default_rng(7)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    diffs = []
    for _ in range(2000):
        i = np.concatenate([rng.choice(pos, pos.size), rng.choice(neg, neg.size)])
        diffs.append(average_precision_score(y[i], a[i]) - average_precision_score(y[i], b[i]))
    low, high = np.percentile(diffs, [2.5, 97.5])
    ours = metrics.paired_bootstrap(y, a, b, 0.5, 0.5, 1.0, n_boot=2000, seed=8)["pr_auc"]
    assert ours["ci_low"] == pytest.approx(low, abs=0.03)
    assert ours["ci_high"] == pytest.approx(high, abs=0.03)
    # Pairing is what narrows it: the unpaired intervals of the two models overlap widely.
    alone = [metrics.bootstrap_intervals(y, s, 0.5, 1.0, seed=9)["pr_auc"] for s in (a, b)]
    unpaired = (alone[0]["ci_high"] - alone[0]["ci_low"]) + (
        alone[1]["ci_high"] - alone[1]["ci_low"]
    )
    assert ours["ci_high"] - ours["ci_low"] < unpaired


def test_one_model_against_itself_differs_by_exactly_nothing():
    y, a, _ = _pair()
    out = metrics.paired_bootstrap(y, a, a, 0.6, 0.6, 2.0, n_boot=200)
    assert all(v == {"diff": 0.0, "ci_low": 0.0, "ci_high": 0.0} for v in out.values())


def test_a_perfect_ranking_has_an_interval_that_ends_at_one_not_above():
    y = np.r_[np.zeros(300, int), np.ones(30, int)]
    scores = np.r_[np.linspace(0, 0.4, 300), np.linspace(0.6, 1, 30)]
    out = metrics.bootstrap_intervals(y, scores, 0.5, 2.0, n_boot=200)
    assert all(v["ci_high"] <= 1.0 for v in out.values())
    assert out["pr_auc"]["ci_low"] == pytest.approx(1.0) and out["pr_auc"]["ci_high"] == 1.0
