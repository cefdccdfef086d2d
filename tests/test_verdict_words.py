"""What the report and the gates say at few holdout positives: words that match the evidence
(an interval, a measured rate), never more than it shows. The decisions themselves are
tested in test_gates.py and test_skill.py; here only what is said about them."""

import numpy as np
import pytest

from imbal_pipeline.core.evaluate import quality
from imbal_pipeline.core.report.report_choice import operating_beyond_f1, operating_text
from imbal_pipeline.core.report_model import OperatingPoint, Report
from imbal_pipeline.core.stats import metrics, skill
from imbal_pipeline.core.train import gates


def _recall_point(recall, low, high, target):
    return {
        "objective": "recall",
        "asked": {"recall": target},
        "reached": {"recall": recall, "ci_low": low, "ci_high": high},
        "met": recall >= target,
        "clearly_missed": high < target,
    }


def _gate(point, positives):
    return quality.operating_point(OperatingPoint.from_json(point), None, positives)


# --- 1. a recall target: four verdicts, as the interval allows --------------------------------


def test_a_target_reached_on_the_point_only_is_not_called_reached_outright():
    # The audit's case: 4 of 5 positives against a target of 0.8.
    point = _recall_point(0.8, 0.376, 0.995, 0.8)
    said = operating_text(point, None, 5)
    assert said == (
        "recall 0.800 (95% CI 0.376-0.995) against the target 0.800: reached on the point "
        "estimate but not confirmed: the interval reaches down to 0.376, so the holdout cannot "
        "confirm it at 5 holdout positives."
    )
    assert operating_beyond_f1(point, None, 5) == said  # the console's line
    gate = _gate(point, 5)
    assert (
        gate.passed and "not confirmed" in gate.message and "at 5 holdout positives" in gate.message
    )


def test_a_target_the_interval_clears_is_reached_and_confirmed():
    point = _recall_point(0.9, 0.85, 0.95, 0.8)
    assert operating_text(point, None, 200).endswith(
        "reached, and confirmed: the interval's lower end is at or above the target."
    )
    assert _gate(point, 200).passed


def test_a_target_missed_within_the_interval_is_not_said_to_fail():
    # The audit's hypothyroid case: the target lies inside the interval.
    point = _recall_point(0.87, 0.679, 0.955, 0.95)
    said = operating_text(point, None, 23)
    assert "MISSED" not in said and "missed on the point estimate" in said
    assert "the target lies within the interval" in said and "at 23 holdout positives" in said
    gate = _gate(point, 23)
    assert (gate.passed, gate.severity) == (False, gates.WARN)  # the decision is unchanged
    assert "does not hold" not in gate.message and "lower --recall-target" in gate.message


def test_a_target_above_the_intervals_top_is_clearly_missed():
    point = _recall_point(0.8, 0.627, 0.905, 0.95)
    assert "clearly missed: even the interval's top is below the target" in operating_text(
        point, None, 25
    )
    gate = _gate(point, 25)
    assert not gate.passed and "does not hold on the holdout" in gate.message


# --- 2. not worse than the baseline: what a pass shows ----------------------------------------


def _versus_report(f1, pr_auc):
    return Report.from_json(
        {
            "dataset": {"holdout_rows": 500, "holdout_positives": 10},
            "threshold": {"value": 0.3, "objective": "f1", "fallback": None},
            "vs_baseline": {"same_model": False, "f1": f1, "pr_auc": pr_auc},
        }
    )


def test_a_pass_against_the_baseline_says_no_evidence_of_worse_and_names_the_lower_figures():
    f1 = {"diff": -0.332, "ci_low": -0.544, "ci_high": 0.036}
    pr_auc = {"diff": 0.01, "ci_low": -0.1, "ci_high": 0.12}
    gate = quality.not_worse_than_baseline(_versus_report(f1, pr_auc))
    assert gate.passed  # the verdict is unchanged
    assert gate.message.endswith(
        "; lower on the point estimate (F1 -0.332), but each interval includes 0: no evidence "
        "it is worse beyond noise, which does not show it is as good"
    )
    better = {"diff": 0.05, "ci_low": -0.01, "ci_high": 0.1}
    gate = quality.not_worse_than_baseline(_versus_report(better, pr_auc))
    assert gate.message.endswith("; no figure is lower than the baseline's")


# --- 3. too few positives: the measured rate, and no larger holdout for a fallback ------------


def _skill_report(y, scores, t=0.5, fallback=None):
    return Report.from_json(
        {
            "dataset": {"holdout_rows": len(y), "holdout_positives": int(y.sum()), "positives": 40},
            "selected_strategy": "none",
            "threshold": {"value": t, "objective": "f1", "fallback": fallback},
            "skill": skill.holdout_skill(y, scores, t),
        }
    )


@pytest.mark.parametrize(
    ("held", "said"),
    [
        (
            5,
            "at 5 holdout positives a model whose PR-AUC is 3x the positive rate failed this gate "
            "in 82-89 % of simulated holdouts",
        ),
        (7, "at 5 holdout positives a model"),
        (3, "at 5 holdout positives (more than yours) a model"),
        (
            12,
            "at 10 holdout positives a model whose PR-AUC is 3x the positive rate failed this "
            "gate in 65-80 %",
        ),
        (
            50,
            "at 45 holdout positives a model whose PR-AUC is 3x the positive rate failed this "
            "gate in 15-25 %",
        ),
    ],
)
def test_too_few_positives_quotes_the_measured_fail_rate_at_the_nearest_size(held, said):
    y = np.zeros(400, int)
    y[:held] = 1
    found = quality.too_few_positives(_skill_report(y, np.linspace(0, 1, 400)))
    assert said in found and "1 time in 5" not in found


def test_the_fail_rate_is_read_from_the_one_measured_table(monkeypatch):
    monkeypatch.setitem(skill.WEAK_MODEL_PASSES, 5, (30.0, 40.0))
    y = np.zeros(400, int)
    y[:5] = 1
    assert "failed this gate in 60-70 %" in quality.too_few_positives(
        _skill_report(y, np.linspace(0, 1, 400))
    )


def test_a_fallback_that_flags_no_holdout_row_is_not_told_a_larger_holdout_helps():
    y = np.zeros(400, int)
    y[:10] = 1
    scores = np.linspace(0, 0.4, 400)  # 0.5 flags nothing
    why = "the tuned one did not beat 0.5 beyond noise, so 0.5 is used"
    gate = quality.decisions_beat_chance(_skill_report(y, scores, 0.5, fallback=why))
    assert gate.blocks and "flags none of the 400 holdout rows" in gate.message
    assert "--holdout-fraction" not in gate.message
    assert "a larger holdout would not change that" in gate.message
    # A tuned threshold that flags nothing at 10 positives still hears what a larger one does.
    tuned = quality.decisions_beat_chance(_skill_report(y, scores, 0.5))
    assert "--holdout-fraction" in tuned.message


# --- 4. the CV-vs-holdout gap, worded by its sign ---------------------------------------------


def _gap_report(cv_mean, std, positives=10, test_data=None):
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(positives, int), np.zeros(400, int)]
    scores = np.clip(0.3 * y + rng.random(len(y)), 0, 1)
    return Report.from_json(
        {
            "dataset": {"holdout_rows": len(y), "holdout_positives": positives},
            "selected_strategy": "none",
            "holdout": {"pr_auc": 0.4},
            "holdout_ci": metrics.bootstrap_intervals(y, scores, 0.5, 2.0)
            | {"pr_auc": {"ci_low": 0.38, "ci_high": 0.42}},
            "cv": {"none": {"pr_auc_mean": cv_mean, "pr_auc_std": std, "folds": 5}},
            "settings": {"test_data_path": test_data},
        }
    )


def test_a_holdout_above_cv_says_the_cv_estimate_may_be_pessimistic():
    gate = quality.cv_holdout_gap(_gap_report(0.2, 0.01))
    assert not gate.passed and gate.observed["gap"] < 0
    assert "the CV estimate may be pessimistic (or the holdout lucky at 10 positives)" in (
        gate.message
    )
    assert "optimistic" not in gate.message and "another distribution" not in gate.message


def test_a_holdout_below_cv_says_the_cv_estimate_may_be_optimistic():
    gate = quality.cv_holdout_gap(_gap_report(0.6, 0.01))
    assert "the CV estimate may be optimistic (or the holdout unlucky at 10 positives)" in (
        gate.message
    )
    assert "another distribution" not in gate.message
    # Only a holdout file given apart can come from another distribution.
    explicit = quality.cv_holdout_gap(_gap_report(0.6, 0.01, test_data="later.csv"))
    assert "the --test-data file comes from another distribution" in explicit.message


def test_a_gap_within_the_noise_is_not_said_to_agree():
    gate = quality.cv_holdout_gap(_gap_report(0.45, 0.2, positives=6))
    assert gate.passed and "lies where CV predicted" not in gate.message
    assert gate.message.endswith(
        "the gap is within the noise of the CV folds and of 6 holdout positives"
    )
