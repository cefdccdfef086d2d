"""One recommendation that reconciles the tier, the diagnostics, the learning curve and the gate."""

import pytest

from imbal_pipeline.core.evaluate import advice, learning, release
from imbal_pipeline.core.report import report
from imbal_pipeline.core.report_model import Report
from imbal_pipeline.core.train.gates import WARN, fail, ok

TIER = advice.Tier("moderate", 41.0, "class weighting, then SMOTE variants inside the folds")
# 77 % of the positives borderline, rare or outliers: the diagnostics said "start with class
# weights" (graph_report.json, thyroid_sick).
OVERLAP = advice.DataPicture(prefers="weights", hard_share=0.77, n3=0.021, label_conflicts=0)
NO_SKILL = fail(
    "beats_no_skill",
    "holdout PR-AUC 0.120 (95% CI 0.020 to 0.300) against the no-skill level 0.024: the holdout "
    "cannot show that the model ranks positives better than chance; check the features and "
    "labels, or give more positives (more data or a larger --holdout-fraction)",
)
PASSED = [ok("beats_no_skill", "fine"), fail("cv_holdout_gap", "a warning", severity=WARN)]


def _doubling(low, high):
    return learning.LastDoubling(
        gain=(low + high) / 2,
        ci_low=low,
        ci_high=high,
        se=(high - low) / 5.5,
        fold_gains=[],
        from_positives=74,
        to_positives=148,
        verdict=learning.verdict_of(low, high),
    )


def test_the_issues_three_pieces_of_advice_become_one_consistent_paragraph():
    # Diagnostics: "start with class weights"; learning curve: "the folds cannot tell"; the
    # gate's failure: "give more positives". One action, with each part's reason.
    cannot_tell = _doubling(-0.000, 0.066)
    out = advice.recommend(TIER, "class_weight", OVERLAP, cannot_tell, [NO_SKILL, *PASSED], 5)
    assert out.action == "collect_positives"
    assert set(out.reasons) == {"tier", "diagnostics", "learning_curve", "quality_gate"}
    text = out.paragraph
    assert text.startswith("Collect more positives before relying on this model")
    assert "\n" not in text and text.count("Why:") == 1
    assert "the quality gate failed on 5 holdout positives" in text
    assert "cannot show that the model ranks positives better than chance" in text
    assert "the folds cannot tell whether more positives raise PR-AUC" in text
    assert "so more positives are needed to judge the model at all" in text
    assert "77% of the positives are borderline, rare or outliers" in text
    assert "favours class weights over resampling, as class_weight does" in text
    assert "the moderate tier (1:41)" in text
    # Nothing in it pulls another way: no second instruction, and not the gate's own fix.
    for other in ("Start with", "won't help", "Work on the features", "holdout-fraction"):
        assert other not in text


@pytest.mark.parametrize(
    ("interval", "gate", "action", "opening"),
    [
        ((-0.01, 0.01), [NO_SKILL], "improve_features", "Work on the features (or the labels)"),
        ((0.01, 0.05), [NO_SKILL], "collect_positives", "Collect more positives"),
        ((0.01, 0.05), PASSED, "collect_positives", "The model is released, and collecting"),
        ((-0.01, 0.01), PASSED, "improve_features", "The model is released; to do better"),
        ((-0.03, 0.06), PASSED, "keep", "The model is released: keep class_weight"),
        ((-0.03, -0.01), PASSED, "keep", "The model is released: keep class_weight"),
    ],
)
def test_one_action_from_the_gate_and_the_last_doubling(interval, gate, action, opening):
    out = advice.recommend(TIER, "class_weight", OVERLAP, _doubling(*interval), gate, 60)
    assert out.action == action and out.paragraph.startswith(opening)
    # The curve's reason is the curve's own verdict, never "flat" with an interval above 0.
    flat = learning.verdict_of(*interval) == "flat"
    assert ("gained nothing measurable" in out.paragraph) == flat


def test_a_strategy_chosen_against_the_diagnostics_is_named_with_what_to_check():
    out = advice.recommend(TIER, "smote", OVERLAP, _doubling(0.01, 0.05), PASSED, 60)
    assert "favours class weights, yet the folds chose smote beyond noise" in out.paragraph
    assert "check its recall on the borderline and island positives" in out.paragraph
    unmeasured = advice.recommend(TIER, "smote", None, None, PASSED, 1)
    assert unmeasured.action == "keep"
    assert "the learning curve could not be measured" in unmeasured.paragraph
    assert "on 1 holdout positive;" in unmeasured.paragraph


def test_the_report_carries_the_paragraph_near_its_top_from_the_typed_pieces():
    diagnostics = {
        "typology": {"safe": 23, "borderline": 40, "rare": 20, "outlier": 17},
        "n3": 0.021,
        "label_conflicts": 2,
        "prefers": "weights",
    }
    rep = {
        "dataset": {
            "tier": "moderate",
            "ratio": 41.0,
            "recommendation": TIER.starts_from,
            "holdout_positives": 5,
            "holdout_rows": 210,
        },
        "selected_strategy": "class_weight",
        "diagnostics": diagnostics,
        "learning_curve": {"last_doubling": _doubling(-0.000, 0.066).__dict__},
    }
    typed = Report.from_json(rep)
    made = release.advise(typed, [NO_SKILL])
    assert typed.recommendation == made.to_json()
    assert "2 identical feature rows carry both labels (check them)" in made.paragraph
    md = report.render_markdown({**rep, "recommendation": typed.recommendation})
    assert md.count("## What to do next") == 1 and made.paragraph.split(":")[0] in md
    assert md.index("## What to do next") < md.index("## Holdout performance")
