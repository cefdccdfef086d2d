"""report.json as types (core/report_model.py): the typed report writes the file the untyped
dict wrote, and reads the reports older versions wrote, which the renderers still render."""

import copy
import json
from pathlib import Path

from imbal_pipeline.core.report import report
from imbal_pipeline.core.report_model import (
    Interval,
    Metrics,
    Promotion,
    Release,
    Report,
    Verdict,
)

GOLDEN = Path(__file__).parent / "golden"


def _golden() -> dict:
    return json.loads((GOLDEN / "report.json").read_text())


def _older(found: dict) -> dict:
    """The golden report as a version before the exact tests, the negative labels, the
    specificity and flag rate, and the intervals' few-positives marks wrote it."""
    old = copy.deepcopy(found)
    del old["skill"]
    del old["dataset"]["negative_labels"]
    for name in ("holdout", "holdout_at_0_5", "baseline_holdout", "baseline_holdout_tuned"):
        del old[name]["specificity"], old[name]["flag_rate"]
    del old["holdout_ci"]["few_positives_below"], old["holdout_ci"]["methods"]
    for section in ("holdout_ci", "vs_baseline"):
        for figure in old[section].values():
            if isinstance(figure, dict):
                figure.pop("few_positives", None)
    return old


def test_the_golden_report_reads_into_types_and_writes_back_the_same():
    found = _golden()
    typed = Report.from_json(found)
    assert typed.to_json() == found
    assert typed.dataset.holdout_positives == 24 and typed.dataset.negative_labels == ["0"]
    assert isinstance(typed.holdout, Metrics) and typed.holdout.confusion_matrix == [
        [565, 11],
        [6, 18],
    ]
    assert typed.threshold.fallback.startswith("the tuned one did not beat 0.5")
    assert isinstance(typed.holdout_ci.get("pr_auc"), Interval)
    assert typed.skill.ranking.permutations == 2499 and typed.skill.decisions.flagged == 29
    assert typed.vs_baseline.figures["recall"].diff == 0.375
    assert typed.operating_point.met
    # The core's entry point adds nothing after the evaluation: no verdict, no release.
    assert (typed.evidence, typed.verdict, typed.release, typed.trained_rows) == (None,) * 4
    assert not typed.passed and typed.extra == {}


def test_an_older_report_still_loads_and_renders():
    old = _older(_golden())
    typed = Report.from_json(old)
    assert typed.skill is None and typed.dataset.negative_labels is None
    assert typed.holdout.specificity is None and typed.holdout_ci.methods is None
    assert typed.holdout_ci.get("pr_auc").few_positives is None
    assert typed.to_json() == old  # keys an older report lacks are not made up on the way back
    md, html = report.render_markdown(old), report.render_html(old)
    assert "## Holdout performance" in md and "PR-AUC" in html


def test_a_graph_run_report_reads_its_verdict_evidence_and_release():
    found = json.loads((GOLDEN / "graph_report.json").read_text())
    typed = Report.from_json(found)
    assert isinstance(typed.verdict, Verdict) and typed.passed
    assert typed.verdict.checks[0].check == "model_sane"
    assert typed.evidence.diagnostics_contradiction is None
    assert typed.evidence.learning_curve["strategy"] == typed.selected_strategy
    assert typed.release.model_version == found["model_version"]
    written = typed.to_json()
    # Written back in the order the stages add them; the release's promotion is null there.
    later = ["leak_panel", "learning_curve", "grouping", "diagnostics"]
    later += ["diagnostics_contradiction", "checks", "quality_gate", "model_version", "promotion"]
    assert list(written)[-len(later) :] == later
    assert written["promotion"] is None and written["checks"] == found["checks"]
    # The file was written by the untyped dict, keys in the order it added them: the typed
    # report writes every key in the same place, but the two this older run did not write.
    del written["promotion"], written["threshold"]["fallback"]
    assert json.dumps(written, indent=2) == json.dumps(found, indent=2)


def test_keys_this_version_does_not_know_are_kept_after_the_known_ones():
    found = _golden()
    found["from_a_newer_version"] = {"a": 1}
    found["dataset"]["newer_fact"] = 3
    typed = Report.from_json(found)
    assert typed.extra == {"from_a_newer_version": {"a": 1}}
    written = typed.to_json()
    assert written == found and list(written)[-1] == "from_a_newer_version"
    assert list(written["dataset"])[-1] == "newer_fact"


def test_the_later_stages_sections_are_absent_until_set_and_a_failed_release_is_null():
    typed = Report.from_json(_golden())
    assert "quality_gate" not in typed.to_json() and "model_version" not in typed.to_json()
    typed.verdict = Verdict(checks=[], quality_gate="failed")
    typed.release = Release(model_version=None, promotion=None)
    written = typed.to_json()
    assert (written["quality_gate"], written["model_version"], written["promotion"]) == (
        "failed",
        None,
        None,
    )
    assert "trained_rows" not in written  # only a model that passed the gate has them
    line = "model v promoted: the first champion (none in service)"
    promotion = {"verdict": "first", "challenger": "v", "champion": None, "line": line}
    promotion |= {"judgement": None, "sources": [], "schema": {"added": [], "removed": []}}
    typed.release = Release(model_version="v", promotion=Promotion.from_json(promotion))
    assert typed.to_json()["promotion"] == promotion and typed.release.promotion.line == line
