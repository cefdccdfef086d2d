"""Holdout intervals: exact point values, the row bootstrap they stand for, each rule that keeps
them from collapsing at few positives, and coverage."""

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import average_precision_score, roc_auc_score

from imbal_pipeline.core.stats import intervals, metrics, paired


@pytest.mark.parametrize("decimals", [2, 8])  # many ties, and almost none
def test_rank_metrics_from_score_groups_equal_scikit_learns(decimals):
    rng = np.random.default_rng(decimals)
    y = (rng.random(3000) < 0.05).astype(int)
    scores = np.round(np.clip(0.3 * y + rng.random(3000), 0, 1), decimals)
    pos, gap, tied, rest = intervals.rank_layout(y, scores)
    one = {"pos_w": pos[None] * 1.0, "gap_w": gap[None] * 1.0, "tied_w": tied[None] * 1.0}
    got = intervals.rank_metrics(**one, rest_w=np.array([rest], float))
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
    naive = np.percentile([average_precision_score(y[i], scores[i]) for i in rows], [2.5, 97.5])
    layout = intervals.rank_layout(y, scores)
    ours = intervals.pr_auc_replicates(layout, 2000, np.random.default_rng(2))
    # Two Monte Carlo draws of one distribution: their percentiles agree to a few thousandths.
    assert np.percentile(ours, [2.5, 97.5]) == pytest.approx(naive, abs=0.015)


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
    rng = np.random.default_rng(8)
    _, replicates = paired.pr_auc_differences(y.astype(bool), a, b, 2000, rng)
    assert np.percentile(replicates, [2.5, 97.5]) == pytest.approx(
        np.percentile(diffs, [2.5, 97.5]), abs=0.015
    )
    ours = metrics.paired_bootstrap(y, a, b, 0.5, 0.5, 1.0, n_boot=2000, seed=8)["pr_auc"]
    # Pairing is what narrows it: the unpaired intervals of the two models overlap widely.
    alone = [metrics.bootstrap_intervals(y, s, 0.5, 1.0, seed=9)["pr_auc"] for s in (a, b)]
    unpaired = (alone[0]["ci_high"] - alone[0]["ci_low"]) + (
        alone[1]["ci_high"] - alone[1]["ci_low"]
    )
    assert ours["ci_high"] - ours["ci_low"] < unpaired


def test_one_model_against_itself_differs_by_exactly_nothing():
    y, a, _ = _pair()
    out = metrics.paired_bootstrap(y, a, a, 0.6, 0.6, 2.0, n_boot=200)
    assert all(v["diff"] == v["ci_low"] == v["ci_high"] == 0.0 for v in out.values())


def test_a_perfect_ranking_has_an_interval_that_ends_at_one_not_above_and_never_one_one():
    y = np.r_[np.zeros(300, int), np.ones(30, int)]
    scores = np.r_[np.linspace(0, 0.4, 300), np.linspace(0.6, 1, 30)]
    out = metrics.bootstrap_intervals(y, scores, 0.5, 2.0, n_boot=200)
    assert all(v["ci_high"] <= 1.0 for v in out.values())
    # Every resample ranks its positives on top too, so the bootstrap alone says [1, 1]; the
    # Wilson interval over the 30 positives (at the level expanded for 30) says how far below
    # 1 a population could be that showed 30 of 30 on top.
    z = intervals.expanded_z(30)
    assert out["pr_auc"]["ci_low"] == pytest.approx(30 / (30 + z * z))
    assert out["pr_auc"]["ci_high"] == 1.0
    assert out["roc_auc"]["ci_low"] < 1.0 and out["recall"]["ci_low"] < 1.0


# --- rules that keep an interval from collapsing at few positives ------------------------------


def test_wilson_gives_the_textbook_intervals():
    low, high = intervals.wilson(np.array([0, 5, 10]), 10)
    assert low == pytest.approx([0.0, 0.2366, 0.7225], abs=1e-4)
    assert high == pytest.approx([0.2775, 0.7634, 1.0], abs=1e-4)
    assert [float(v[0]) for v in intervals.wilson(np.array([0]), 0)] == [0.0, 1.0]  # no trials


def test_one_or_two_of_a_few_take_the_poisson_bound_where_wilsons_sits_too_high():
    low, high = intervals.rate_interval(np.array([1, 2, 3, 4, 5]), 5)
    wilson_low, wilson_high = intervals.wilson(np.array([1, 2, 3, 4, 5]), 5)
    # 1 of 5: Wilson's low end 0.036 sits above a recall of 0.02, which catches 1 of 5 one
    # time in ten; the exact Poisson bound -ln(0.975) / 5 does not.
    assert wilson_low[0] == pytest.approx(0.0362, abs=1e-4)
    assert low[:2] == pytest.approx(stats.chi2.ppf(0.025, [2, 4]) / 10)
    assert low[2:] == pytest.approx(wilson_low[2:]) and high[:2] == pytest.approx(wilson_high[:2])
    # And the high end at one or two failures (3 and 4 of 5).
    assert high[2:4] == pytest.approx(1 - stats.chi2.ppf(0.025, [4, 2]) / 10) and high[4] == 1.0


def test_ten_of_ten_positives_caught_give_a_proper_interval_not_one_one():
    y = np.r_[np.ones(10, int), np.zeros(290, int)]
    scores = np.r_[np.full(10, 0.9), np.linspace(0, 0.6, 290)]
    ci = metrics.bootstrap_intervals(y, scores, 0.5, 2.0)
    # Wilson's 10 / (10 + 1.96^2); Clopper-Pearson's would be 0.69.
    assert ci["recall"] == {"ci_low": pytest.approx(0.7225, abs=1e-4), "ci_high": 1.0} | {
        "few_positives": True
    }
    assert ci["specificity"]["ci_low"] < ci["specificity"]["ci_high"] < 1.0


def test_a_threshold_that_catches_nothing_still_has_intervals_with_room_above_zero():
    y = np.r_[np.ones(10, int), np.zeros(290, int)]
    scores = np.r_[np.full(10, 0.4), np.linspace(0, 0.6, 290)]  # 2 false alarms, no catch
    ci = metrics.bootstrap_intervals(y, scores, 0.595, 2.0)
    for name in ("f1", "fbeta", "recall", "precision"):
        assert ci[name]["ci_low"] == 0.0 and ci[name]["ci_high"] > 0.05, name
    assert ci["mcc"]["ci_low"] < 0 < ci["mcc"]["ci_high"]
    assert 0 < ci["flag_rate"]["ci_low"] < 2 / 300 < ci["flag_rate"]["ci_high"]
    # Nothing flagged at all: precision reads 0 (undefined), its interval spans most of [0, 1].
    precision = metrics.bootstrap_intervals(y, scores, 0.9, 2.0)["precision"]
    assert precision["ci_low"] == 0.0 and precision["ci_high"] > 0.5


def test_the_f1_difference_does_not_collapse_when_both_models_flag_few_rows():
    y = np.r_[np.ones(10, int), np.zeros(290, int)]
    a = np.r_[np.full(10, 0.4), np.linspace(0, 0.6, 290)]  # flags 2 negatives
    b = np.r_[np.r_[0.9, np.full(9, 0.4)], np.linspace(0, 0.55, 290)]  # flags 1 positive
    out = metrics.paired_bootstrap(y, a, b, 0.595, 0.595, 2.0)["f1"]
    assert out["diff"] == pytest.approx(-2 / 11)
    assert out["ci_low"] < out["diff"] < 0 < out["ci_high"]


def test_roc_auc_interval_ends_solve_newcombes_equation():
    z2 = 1.959963984540054**2

    def excess(theta, auc, m, n):
        v = theta * (1 - theta) / (m * n)
        v *= 1 + ((m + n) / 2 - 1) * ((1 - theta) / (2 - theta) + theta / (1 + theta))
        return (auc - theta) ** 2 - z2 * v

    low, high = intervals.roc_auc_interval(np.array([0.8, 1.0]), 12, 400)
    assert excess(low[0], 0.8, 12, 400) == pytest.approx(0, abs=1e-10)
    assert excess(high[0], 0.8, 12, 400) == pytest.approx(0, abs=1e-10)
    assert low[0] < 0.8 < high[0]
    # All 12 positives above all 400 negatives: the interval reaches 1 but starts below it.
    assert excess(low[1], 1.0, 12, 400) == pytest.approx(0, abs=1e-10) and low[1] < 0.97
    assert high[1] == 1.0


@pytest.mark.parametrize("positives", [intervals.FEW_POSITIVES - 1, intervals.FEW_POSITIVES])
def test_figures_from_fewer_positives_than_the_intervals_hold_at_are_marked(positives):
    rng = np.random.default_rng(positives)
    y = np.r_[np.ones(positives, int), np.zeros(600, int)]
    scores = np.r_[rng.normal(1.5, 1, positives), rng.normal(0, 1, 600)]
    ci = metrics.bootstrap_intervals(y, scores, 1.0, 2.0)
    few = positives < intervals.FEW_POSITIVES
    assert {v["few_positives"] for v in ci.values()} == {few}
    group = metrics.subgroup_metrics(y, scores, np.array(["all"] * len(y)), 1.0)["all"]
    assert {v["few_positives"] for v in group["ci"].values()} == {few}


# --- coverage, quickly (benchmarks/statistics_intervals.py measures it properly) -------------


def _population_ap(mu: float, prevalence: float) -> float:
    grid = np.linspace(mu - 10, mu + 10, 200_001)
    hit, alarm = prevalence * stats.norm.sf(grid - mu), (1 - prevalence) * stats.norm.sf(grid)
    return float(np.trapezoid(stats.norm.pdf(grid - mu) * hit / (hit + alarm), grid))


@pytest.mark.parametrize(("positives", "holdouts"), [(10, 800), (60, 300)])
def test_intervals_cover_the_population_value_at_10_and_60_positives(positives, holdouts):
    # Positives score N(1.5, 1), negatives N(0, 1), 3 % prevalence, threshold 1.5. A coverage
    # from H holdouts has a Monte Carlo SE of sqrt(0.95 x 0.05 / H): 0.5 points for the 2,000
    # holdouts of the threshold figures, 0.8 / 1.3 for PR-AUC's 800 / 300. The bounds are
    # 93-97 % widened by 2 SE; at 10 positives ("few positives") only the low one is held. On
    # the same holdouts the percentile bootstrap this replaced covered PR-AUC 0.89 at 10.
    mu, threshold = 1.5, 1.5
    negatives = round(positives / 0.03) - positives
    share = positives / (positives + negatives)
    rng = np.random.default_rng(positives)
    y = np.r_[np.ones(positives, int), np.zeros(negatives, int)]
    truth, covered = _population_ap(mu, share), 0
    for _ in range(holdouts):
        scores = np.r_[rng.normal(mu, 1, positives), rng.normal(0, 1, negatives)]
        layout = intervals.rank_layout(y, scores)
        pos, gap, tied, rest = layout
        point = intervals.rank_metrics(pos[None] * 1.0, gap[None] * 1.0, tied[None] * 1.0, [rest])
        replicates = intervals.pr_auc_replicates(layout, 500, rng)
        low, high = intervals.pr_auc_interval(point["pr_auc"], replicates[None], positives)
        covered += low[0] <= truth <= high[0]
    se = np.sqrt(0.95 * 0.05 / holdouts)
    assert 0.93 - 2 * se <= covered / holdouts <= (0.97 + 2 * se if positives >= 60 else 1.0)

    # At the second threshold the model flags a ninth of the prevalence: the old bootstrap's
    # F1 interval collapsed to [0, 0] there whenever nothing was caught.
    for threshold in (1.5, 3.0):
        recall, fpr = stats.norm.sf(threshold - mu), stats.norm.sf(threshold)
        tp = rng.binomial(positives, recall, 2000)
        fp = rng.binomial(negatives, fpr, 2000)
        found = intervals.threshold_intervals(
            tp, fp, positives, negatives, 2.0, rng=rng, draws=2000
        )
        truths = intervals.confusion_figures(
            recall * positives, fpr * negatives, positives, negatives, 2.0
        )
        truths |= {"flag_rate": share * recall + (1 - share) * fpr, "specificity": 1 - fpr}
        se = np.sqrt(0.95 * 0.05 / 2000)
        for name, value in truths.items():
            low, high = found[name]
            coverage = np.mean((low <= value) & (value <= high))
            assert 0.93 - 2 * se <= coverage <= (0.97 + 2 * se if positives >= 60 else 1.0), name


def test_the_operating_point_quotes_the_interval_ends_only():
    from imbal_pipeline.core.settings import Settings
    from imbal_pipeline.core.train import threshold

    y = np.r_[np.ones(12, int), np.zeros(300, int)]
    scores = np.r_[np.linspace(0.3, 0.9, 12), np.linspace(0.0, 0.6, 300)]
    ci = metrics.bootstrap_intervals(y, scores, 0.5, 2.0)
    point = threshold.verify_operating_point(y, scores, 0.5, Settings(objective="recall"), ci)
    assert set(point["reached"]) == {"recall", "ci_low", "ci_high"}
    assert point["reached"]["ci_low"] == ci["recall"]["ci_low"]
