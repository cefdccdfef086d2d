"""One recommendation that reconciles the tier, the diagnostics, the learning curve and the gate."""

import dataclasses

import pytest

from imbal_pipeline.core.evaluate import advice, learning, release
from imbal_pipeline.core.monitor import promotion
from imbal_pipeline.core.report import report
from imbal_pipeline.core.report_model import Promotion, Release, Report, ThresholdChoice
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


# A model that passed the gate where no promotion was decided (the core's entry point).
UNDECIDED = "The model passed the quality gate; no promotion was decided for it."


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
        ((0.01, 0.05), PASSED, "collect_positives", f"{UNDECIDED} Collecting more positives"),
        ((-0.01, 0.01), PASSED, "improve_features", f"{UNDECIDED} To do better, work on"),
        ((-0.03, 0.06), PASSED, "keep", f"{UNDECIDED} For the next training, keep class_weight"),
        ((-0.03, -0.01), PASSED, "keep", f"{UNDECIDED} For the next training, keep class_weight"),
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


def _section(md: str, heading: str) -> str:
    return md.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]


def _promotion(verdict, champion="a" * 16):
    return Promotion(
        verdict=verdict,
        challenger="b" * 16,
        champion=champion,
        line="",
        judgement=None,
        sources=[],
        schema={},
    )


@pytest.mark.parametrize(
    ("verdict", "said"),
    [
        (promotion.FIRST, "then promoted: the first model in service."),
        (promotion.PROMOTE, f"then promoted: it replaces {'a' * 16} in service."),
        (promotion.SAME, "; it is the model in service already."),
        (
            promotion.REPLACES_DEMO,
            f"then promoted: it replaces {'a' * 16}, the model of the generated demo data, in "
            "service.",
        ),
        (
            promotion.ROLLED_BACK,
            ", but not promoted: it was rolled back once, and a run never puts it back in place "
            f"of {'a' * 16}, which stays in service; `imbal-pipeline promote {'b' * 16}`",
        ),
        (
            promotion.WORSE,
            f", but promotion refused it as worse than {'a' * 16}, which stays in service; "
            f"`imbal-pipeline promote {'b' * 16}` puts it in service anyway.",
        ),
        (
            promotion.UNDECIDED,
            ", but not promoted: too few shared positives to show it is not worse than "
            f"{'a' * 16}, which stays in service; `imbal-pipeline promote {'b' * 16}`",
        ),
        (
            promotion.UNREADABLE,
            ", but not promoted: it could not be compared with the champion (see Promotion), "
            "which stays in service",
        ),
    ],
)
def test_a_model_that_passed_the_gate_is_said_promoted_only_when_it_was(verdict, said):
    # A user's trial: "The model is released" in reports whose model promotion refused as
    # worse, or did not promote: passing the gate exports a challenger, it serves nothing.
    champion = None if verdict == promotion.UNREADABLE else "a" * 16
    out = advice.recommend(
        TIER,
        "none",
        OVERLAP,
        _doubling(-0.03, 0.06),
        PASSED,
        60,
        None,
        _promotion(verdict, champion),
    )
    lead = out.paragraph.split(" Why:")[0]
    assert lead.startswith("The model passed the quality gate and was exported as a challenger")
    assert said in lead and "released" not in out.paragraph
    assert lead.endswith("For the next training, keep none and its tuned threshold.")


def test_undecided_says_too_few_positives_only_below_the_minimum_else_names_the_interval():
    # A user's trial: "too few shared positives" with 13, 18 or 48 of them, where the PR-AUC
    # difference's interval reached across the margin.
    few = dataclasses.replace(
        _promotion(promotion.UNDECIDED), judgement={"positives": 7, "margin": 0.05}
    )
    assert (
        ", but not promoted: too few shared positives (7; at least 10 needed) to show it is "
        f"not worse than {'a' * 16}, which stays in service; "
    ) in advice.service(few)
    across = {"positives": 48, "margin": 0.05, "low": -0.106, "high": -0.020, "diff": -0.06}
    said = advice.service(dataclasses.replace(few, judgement=across))
    assert "too few" not in said
    assert (
        f", but not promoted against {'a' * 16}: its PR-AUC difference's one-sided 95% bounds "
        "-0.106 to -0.020 reach across the -0.05 margin: it is shown neither within the margin "
        f"nor below it; {'a' * 16} stays in service; `imbal-pipeline promote {'b' * 16}`"
    ) in said


def test_a_fallback_threshold_is_never_called_tuned_in_the_advice():
    fallback = "the tuned one did not beat 0.5 beyond noise, so 0.5 is used"
    threshold = ThresholdChoice.from_json({"value": 0.5, "fallback": fallback})
    out = advice.recommend(TIER, "none", OVERLAP, _doubling(-0.03, 0.06), PASSED, 60, threshold)
    assert "tuned threshold" not in out.paragraph
    assert f"keep none and the threshold (0.5, the fallback: {fallback})." in out.paragraph


def _moderate_report() -> Report:
    """A passed class_weight model at 1:41 with 60 holdout positives, before its advice."""
    return Report.from_json(
        {
            "dataset": {
                "tier": "moderate",
                "ratio": 41.0,
                "recommendation": TIER.starts_from,
                "holdout_positives": 60,
            },
            "selected_strategy": "class_weight",
            "threshold": {"value": 0.31, "fallback": None},
        }
    )


def test_the_report_advises_after_the_release_with_what_promotion_decided():
    typed = _moderate_report()
    typed.release = Release(model_version="b" * 16, promotion=_promotion(promotion.WORSE))
    made = release.advise(typed, PASSED)
    assert f"promotion refused it as worse than {'a' * 16}" in made.paragraph
    md = report.render_markdown(typed.to_json())
    assert "promotion refused it as worse" in _section(md, "What to do next")


def test_a_group_too_large_for_the_folds_is_named_in_the_advice():
    # mammography: 2,324 identical rows in one group; the advice said "keep" with no word of it.
    from imbal_pipeline.core.report_model import CheckRow, Verdict

    typed = _moderate_report()
    warned = "2,324 rows with identical feature values (29% of the rows) form one group"
    typed.verdict = Verdict(
        checks=[
            CheckRow(
                asset="holdout_split",
                check="groups_fit_the_folds",
                passed=False,
                severity=WARN,
                message=warned,
                observed={},
            )
        ],
        quality_gate="passed",
    )
    made = release.advise(typed, PASSED)
    assert made.paragraph.endswith(f"Mind a warning that bears on this: {warned}.")
    typed.verdict.checks[0].passed = True
    assert "Mind a warning" not in release.advise(typed, PASSED).paragraph


def test_the_advice_says_what_the_selection_rule_did():
    kept = advice.recommend(TIER, "none", OVERLAP, None, PASSED, 60).reasons["tier"]
    assert kept.endswith("the folds kept none: no strategy beat every simpler one beyond noise")
    chose = advice.recommend(TIER, "smote", OVERLAP, None, PASSED, 60).reasons["tier"]
    assert chose.endswith("the folds selected smote: it beat every simpler strategy beyond noise")
