"""Tests for the report renderers and the evaluation plots."""

from __future__ import annotations

import copy
import math
import re

import numpy as np
import pytest

from imbal_pipeline.core.report import plots, report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
XSS = "<script>alert('x')</script>"


def _metrics(threshold, pr_auc, f1, recall, precision, mcc, cm):
    return {
        "threshold": threshold,
        "pr_auc": pr_auc,
        "roc_auc": 0.912,
        "f1": f1,
        "fbeta": 0.6012,
        "beta": 2.0,
        "mcc": mcc,
        "balanced_accuracy": 0.801,
        "precision": precision,
        "recall": recall,
        "accuracy": 0.987654,
        "confusion_matrix": cm,
    }


@pytest.fixture
def rep() -> dict:
    return {
        "dataset": {
            "rows": 1000,
            "features": 12,
            "positives": 10,
            "negatives": 990,
            "ratio": 99.0,
            "tier": "severe",
            "holdout_rows": 250,
            "holdout_positives": 5,
            "source": "synthetic fraud sample",
        },
        "selected_strategy": "class_weight",
        "selection_reason": "class_weight had the highest mean PR-AUC across folds.",
        "threshold": {
            "value": 0.31,
            "objective": "fbeta",
            "params": {"beta": 2.0},
            "rule": "median of the thresholds tuned on each fold's out-of-fold scores; kept",
        },
        "cv": {
            "none": {
                "pr_auc_mean": 0.5,
                "pr_auc_std": 0.03,
                "f1_mean": 0.4,
                "f1_std": 0.02,
                "mcc_mean": 0.41,
                "mcc_std": 0.025,
                "folds": 5,
                "skipped": None,
                "pr_auc_folds": [0.47, 0.52, 0.5, 0.49, 0.52],
                "pr_auc_gap_to_best": 0.1123,
                "pr_auc_gap_se": 0.0211,
            },
            "class_weight": {
                "pr_auc_mean": 0.6123,
                "pr_auc_std": 0.0456,
                "f1_mean": 0.52,
                "f1_std": 0.03,
                "mcc_mean": 0.5,
                "mcc_std": 0.04,
                "folds": 5,
                "skipped": None,
                "pr_auc_gap_to_best": 0.0,
            },
            "borderline_smote": {
                "pr_auc_mean": None,
                "pr_auc_std": None,
                "f1_mean": None,
                "f1_std": None,
                "mcc_mean": None,
                "mcc_std": None,
                "folds": 0,
                "skipped": "too few positives per fold for k_neighbors=5",
            },
        },
        "holdout": _metrics(0.31, 0.6789, 0.5555, 0.8, 0.4444, 0.5812, [[240, 5], [1, 4]]),
        "holdout_ci": {
            "level": 0.95,
            "pr_auc": {"ci_low": 0.52, "ci_high": 0.81},
            "recall": {"ci_low": 0.376, "ci_high": 1.0},
        },
        "operating_point": {
            "objective": "fbeta",
            "asked": {"maximize": "fbeta", "beta": 2.0},
            "reached": {"fbeta": 0.6012, "ci_low": 0.31, "ci_high": 0.83},
            "met": True,
            "clearly_missed": False,
        },
        "holdout_at_0_5": _metrics(0.5, 0.6789, 0.4, 0.4, 0.6667, 0.45, [[244, 1], [3, 2]]),
        "baseline_holdout": _metrics(0.5, 0.4321, 0.25, 0.2, 0.3333, 0.24, [[243, 2], [4, 1]]),
        "subgroups": {
            "region": {
                "north": {
                    "n": 130,
                    "positives": 3,
                    "precision": 0.4286,
                    "recall": 0.6667,
                    "f1": 0.5217,
                    "confusion_matrix": [[123, 4], [1, 2]],
                },
                "south": {
                    "n": 120,
                    "positives": 2,
                    "precision": 0.6667,
                    "recall": 1.0,
                    "f1": 0.8,
                    "confusion_matrix": [[117, 1], [0, 2]],
                },
            }
        },
        "audits": {
            "class_weight": {
                "steps": [
                    {"step": "scale_pos_weight", "params": {"scale_pos_weight": 99.0}},
                    {"step": "calibrate", "params": {"method": "isotonic"}},
                ],
                "seed": 0,
                "rows_before": {"0": 990, "1": 10},
                "rows_after": {"0": 990, "1": 10},
                "synthetic_rows": 0,
                "note": None,
            },
            "random_oversample": {
                "steps": [{"step": "random_oversample", "params": {"sampling_strategy": 0.5}}],
                "seed": 7,
                "rows_before": {0: 792, 1: 8},
                "rows_after": {0: 792, 1: 396},
                "synthetic_rows": 388,
                "note": "fold 0 only",
            },
        },
        "plots": {
            "pr_curve": "pr_curve.png",
            "threshold_curve": "threshold_curve.png",
            "confusion_matrix": "confusion_matrix.png",
        },
        "notes": ["scale_pos_weight distorts predicted probabilities; do not read them as risks."],
        "generated_at": "2024-05-01T12:00:00+00:00",
        "run_id": "run-abc123",
    }


def _section(md: str, heading: str) -> str:
    """The Markdown text from ``heading`` up to the next level-2 heading."""
    start = md.index(heading)
    nxt = md.find("\n## ", start + len(heading))
    return md[start : nxt if nxt != -1 else len(md)]


def _table_rows(section: str) -> list[list[str]]:
    rows = []
    for line in section.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([c.strip() for c in line.strip("|").split(" | ")])
    return rows


# ----------------------------------------------------------------------- markdown content


def test_markdown_headline_content(rep):
    md = report.render_markdown(rep)
    summary = md.split("\n## ", 1)[0]
    assert "class_weight" in summary
    assert "0.310" in summary  # threshold
    assert "0.679" in summary  # holdout PR-AUC, 3 decimals
    assert "0.679 (95% CI 0.520-0.810)" in summary  # quoted with its interval
    assert "0.020" in summary  # no-skill level = 5 / 250 holdout prevalence
    assert "99.000:1" in summary and "severe" in summary
    assert "0.581" in summary  # MCC
    # The summary must not lead with (or mention) accuracy for a rare-event model.
    assert "accuracy" not in summary.lower()
    assert "0.988" not in summary


def test_markdown_section_order(rep):
    md = report.render_markdown(rep)
    headings = [
        "## Holdout performance",
        "## Strategy comparison",
        "## Decision threshold",
        "## Subgroup performance",
        "## Resampling / weighting audits",
        "## Plots",
        "## Notes",
    ]
    positions = [md.index(h) for h in headings]
    assert positions == sorted(positions)
    assert md.startswith("# ")


def test_holdout_table_order_and_columns(rep):
    md = report.render_markdown(rep)
    rows = _table_rows(_section(md, "## Holdout performance"))
    header, metric_rows = rows[0], rows[1:10]
    assert "Selected @ tuned threshold" in header[1]
    assert header[2] == "95% CI (selected @ tuned)"
    assert "Selected @ 0.5" in header[3]
    assert "Baseline" in header[4]
    assert metric_rows[0][2] == "0.520-0.810"  # PR-AUC's interval beside its value
    assert not any(r[0] == "F2" for r in metric_rows)  # beta is 2: the F-beta row is F2

    labels = [r[0] for r in metric_rows]
    assert "PR-AUC" in labels[0]
    assert labels[-1].startswith("Accuracy")
    assert "not a headline" in labels[-1]
    assert "F-beta (beta=2.000)" in labels
    assert all(r[0].startswith("Accuracy") is False for r in metric_rows[:-1])

    # Columns come from the right dicts.
    assert metric_rows[0][1:] == ["0.679", "0.520-0.810", "0.679", "0.432"]
    assert labels.index("Recall") and metric_rows[labels.index("Recall")][1:] == [
        "0.800",
        "0.376-1.000",
        "0.400",
        "0.200",
    ]


def test_accuracy_not_before_pr_auc_in_holdout_text(rep):
    md = report.render_markdown(rep)
    section = _section(md, "## Holdout performance")
    first_accuracy = re.search(r"^\| Accuracy", section, re.MULTILINE)
    assert first_accuracy is not None
    assert section.index("PR-AUC") < first_accuracy.start()


def test_confusion_matrices_rendered(rep):
    md = report.render_markdown(rep)
    section = _section(md, "## Holdout performance")
    assert "| Selected @ tuned threshold | 240 | 5 | 1 | 4 |" in section
    assert "| Baseline (none) @ 0.5 | 243 | 2 | 4 | 1 |" in section


def test_strategy_table_marks_selected_and_skipped(rep):
    md = report.render_markdown(rep)
    section = _section(md, "## Strategy comparison")
    assert "0.612 ± 0.046" in section
    assert "skipped: too few positives per fold for k_neighbors=5" in section
    selected_line = next(line for line in section.splitlines() if "`class_weight`" in line)
    assert "selected" in selected_line
    none_line = next(line for line in section.splitlines() if "`none`" in line)
    assert "selected" not in none_line
    assert rep["selection_reason"] in section
    skipped_line = next(line for line in section.splitlines() if "borderline_smote" in line)
    assert skipped_line.count("n/a") == 6
    # The selection's evidence: the paired gap with its corrected SE, and the per-fold values.
    assert "0.112 ± 0.021" in none_line and "0.470 · 0.520 · 0.500 · 0.490 · 0.520" in none_line
    assert "| **best** |" in selected_line
    assert "nested" in section


def test_threshold_subgroups_audits_plots_notes(rep):
    md = report.render_markdown(rep)
    thr = _section(md, "## Decision threshold")
    assert "0.310" in thr and "fbeta" in thr and "beta=2.000" in thr
    assert "**Operating point on the holdout:** fbeta 0.601 (95% CI 0.310-0.830)" in thr
    assert "Rule (out-of-fold scores only): median of the thresholds tuned on each fold" in thr

    sub = _section(md, "## Subgroup performance")
    assert "region" in sub
    north = next(line for line in sub.splitlines() if "| north |" in line)
    assert "0.429" in north and "0.667" in north and "0.522" in north
    assert "123 / 4 / 1 / 2" in north
    assert "few positives" in north

    audits = _section(md, "## Resampling / weighting audits")
    assert "class_weight (selected)" in audits
    assert audits.index("scale_pos_weight") < audits.index("calibrate")  # steps in order
    assert "scale_pos_weight=99.000" in audits
    assert "| 1 | 8 | 396 |" in audits  # int class keys, before/after
    assert "Synthetic rows: 388" in audits
    assert "Seed: 7" in audits

    plots_md = _section(md, "## Plots")
    assert "(pr_curve.png)" in plots_md and "(confusion_matrix.png)" in plots_md
    # Its precision at the threshold differs from the holdout table's: the heading says why.
    assert "### Metrics vs threshold on the out-of-fold scores (not the holdout)" in plots_md
    assert "distorts predicted probabilities" in _section(md, "## Notes")


def test_audits_say_when_fits_used_a_sample_of_negatives(rep):
    name = next(iter(rep["audits"]))
    assert "Fit rows:" not in report.render_markdown(rep)
    rep["audits"][name]["fitting_rows"] = {
        "negatives": 792_000,
        "negatives_kept": 250_000,
        "fraction_kept": 250_000 / 792_000,
        "max_negatives": 250_000,
        "seed": 0,
        "sampled": True,
    }
    audits = _section(report.render_markdown(rep), "## Resampling / weighting audits")
    assert "Fit rows: fits used every positive and 250,000 of 792,000 negatives (31.6%" in audits
    assert "--max-negatives 250,000" in audits


# ------------------------------------------------------------------------------- html


def test_html_contains_key_content(rep):
    out = report.render_html(rep)
    assert out.startswith("<!DOCTYPE html>")
    assert "<style>" in out and "</html>" in out
    assert "class_weight" in out
    assert "0.310" in out and "0.679" in out
    assert "too few positives per fold for k_neighbors=5" in out
    assert 'src="pr_curve.png"' in out
    assert '<tr class="selected">' in out
    # No external resources: the page must render offline.
    assert "http://" not in out and "https://" not in out
    body = out.split("<main>", 1)[1]
    assert body.index("PR-AUC") < body.index("Accuracy")


def test_html_escapes_user_strings(rep):
    rep["dataset"]["source"] = XSS
    rep["selection_reason"] = XSS
    rep["selected_strategy"] = XSS
    rep["notes"] = [XSS]
    rep["cv"]["borderline_smote"]["skipped"] = XSS
    rep["subgroups"]["region"][XSS] = rep["subgroups"]["region"].pop("north")
    rep["audits"]["class_weight"]["note"] = XSS
    rep["plots"]["pr_curve"] = 'x.png" onerror="alert(1)'
    rep["run_id"] = XSS

    out = report.render_html(rep)
    assert "<script>" not in out
    assert "&lt;script&gt;" in out
    assert 'onerror="alert' not in out
    assert "&quot; onerror=&quot;" in out


def test_markdown_shows_text_from_the_data_as_text(rep):
    rep["dataset"]["source"] = XSS
    rep["subgroups"][XSS] = rep["subgroups"].pop("region")
    rep["subgroups"][XSS]["<img src=x onerror=alert(1)>"] = rep["subgroups"][XSS].pop("north")
    rep["notes"] = [XSS]
    # A code span holds data too (the positive label); a line break in it must not end it.
    rep["dataset"]["positive_label"] = "yes\n<script>alert(1)</script>"
    out = report.render_markdown(rep)
    # The one literal <script> is inside the code span, on its line: shown as code, not run.
    assert out.count("<script>") == 1 and " = yes <script>alert(1)</script>`" in out
    assert "<img" not in out
    assert "&lt;script&gt;" in out and "&lt;img src=x" in out


def test_the_positive_class_is_stated_in_both_formats(rep):
    rep["dataset"].update(target="churned", positive_label="yes")
    for text in (report.render_markdown(rep), report.render_html(rep)):
        assert "Positive class: " in text and "churned = yes" in text


# --------------------------------------------------------------------- missing values


def test_none_and_nan_render_as_na(rep):
    rep["holdout"]["pr_auc"] = None
    rep["holdout"]["mcc"] = float("nan")
    rep["holdout_at_0_5"]["roc_auc"] = np.float64("nan")
    rep["dataset"]["ratio"] = None
    rep["threshold"]["value"] = math.nan
    rep["subgroups"]["region"]["north"]["precision"] = float("nan")

    for out in (report.render_markdown(rep), report.render_html(rep)):
        assert not re.search(r"\bnan\b", out, re.IGNORECASE)
        assert "None" not in out
        assert "n/a" in out

    md = report.render_markdown(rep)
    rows = _table_rows(_section(md, "## Holdout performance"))
    assert rows[1][1] == "n/a"  # PR-AUC, selected @ tuned
    assert "n/a" in next(line for line in md.splitlines() if "| north |" in line)


def test_sparse_report_does_not_crash():
    minimal = {"selected_strategy": "none", "holdout": {"pr_auc": 0.2}}
    md = report.render_markdown(minimal)
    out = report.render_html(minimal)
    assert "0.200" in md and "0.200" in out
    assert "No subgroup breakdown" in md
    assert "No audits were recorded" in md
    assert "No additional notes" in md

    partial = copy.deepcopy(minimal)
    partial.update(subgroups={"region": {"east": {"n": 4}}}, audits={"none": {}}, notes=None)
    md = report.render_markdown(partial)
    assert "| east | 4 |" in md
    assert "No resampling or weighting steps" in md


# -------------------------------------------------------------------------------- plots


def _assert_png(path):
    data = path.read_bytes()
    assert len(data) > 1000
    assert data[:8] == PNG_MAGIC


def test_plot_pr_curve(tmp_path):
    recall = np.array([1.0, 0.8, 0.5, 0.2, 0.0])
    precision = np.array([0.02, 0.3, 0.5, 0.8, 1.0])
    out = plots.plot_pr_curve(
        {
            "selected (class_weight)": (recall, precision),
            "baseline (none)": (recall, precision / 2),
        },
        prevalence=0.02,
        path=tmp_path / "pr_curve.png",
        points={"tuned threshold": (0.8, 0.3), "0.5": (0.5, 0.5), "cost $x$ {": (0.2, 0.8)},
    )
    assert out == tmp_path / "pr_curve.png"
    _assert_png(out)


def test_plot_threshold_curve(tmp_path):
    t = np.linspace(0.01, 0.99, 50)
    out = plots.plot_threshold_curve(
        t,
        {
            "precision": t,
            "recall": 1 - t,
            "f1": 2 * t * (1 - t),
            "expected cost": 100 * (t - 0.3) ** 2,
        },
        chosen=0.31,
        objective="f1",
        path=str(tmp_path / "sub" / "threshold_curve.png"),
    )
    _assert_png(out)


def test_plot_threshold_curve_rejects_mismatched_lengths(tmp_path):
    with pytest.raises(ValueError):
        plots.plot_threshold_curve(
            np.linspace(0, 1, 5), {"f1": np.zeros(4)}, 0.5, "f1", tmp_path / "bad.png"
        )


def test_plot_confusion_matrix(tmp_path):
    out = plots.plot_confusion_matrix([[240, 5], [1, 4]], "Holdout @ 0.310", tmp_path / "cm.png")
    _assert_png(out)
    with pytest.raises(ValueError):
        plots.plot_confusion_matrix([[1, 2, 3]], "bad", tmp_path / "bad.png")


def test_plots_close_figures(tmp_path):
    import matplotlib.pyplot as plt

    before = len(plt.get_fignums())
    plots.plot_confusion_matrix([[1, 2], [3, 4]], "t", tmp_path / "a.png")
    plots.plot_pr_curve({}, 0.1, tmp_path / "b.png")
    assert len(plt.get_fignums()) == before


def test_check_summary_lists_failures_first_in_both_formats(rep):
    checks = [
        {
            "asset": "raw_data",
            "check": "no_infinities",
            "passed": True,
            "severity": "error",
            "message": "no infinite values",
        },
        {
            "asset": "holdout_split",
            "check": "leak_suspects",
            "passed": False,
            "severity": "warn",
            "message": "feature 'x' alone separates the classes",
        },
    ]
    rendered = dict(rep, checks=checks, quality_gate="passed")
    md = report.render_markdown(rendered)
    assert "## Data contracts and checks" in md
    assert md.index("leak_suspects") < md.index("no_infinities")
    assert "WARNING" in md and "Quality gate: passed" in md
    assert "feature &#x27;x&#x27; alone" in report.render_html(rendered)


def test_the_paired_comparison_with_the_baseline_is_rendered_with_its_intervals(rep):
    rep["vs_baseline"] = {
        "same_model": False,
        "pr_auc": {"diff": 0.0123, "ci_low": -0.0201, "ci_high": 0.0456},
        "f1": {"diff": 0.1, "ci_low": 0.02, "ci_high": 0.18},
    }
    section = _section(report.render_markdown(rep), "## Holdout performance")
    assert "PR-AUC +0.012 (95% CI -0.020 to 0.046); F1 +0.100 (95% CI 0.020 to 0.180)" in section
    rep["vs_baseline"]["same_model"] = True
    section = _section(report.render_markdown(rep), "## Holdout performance")
    assert "only the threshold differs" in section and "PR-AUC +" not in section


def test_the_leak_panel_shows_the_claim_beside_the_honest_figure(rep):
    rep["leak_panel"] = {
        "counterfactual": {
            "pr_auc": 0.982,
            "f1_at_0_5": 0.91,
            "test_rows": 80,
            "synthetic_test_rows": 30,
        },
        "honest": {"pr_auc": 0.494, "f1_at_0_5": 0.5},
        "inflation": {
            "pr_auc": {"points": 0.488, "relative": 0.988},
            "f1_at_0_5": {"points": 0.41, "relative": 0.82},
        },
    }
    section = _section(report.render_markdown(rep), "## The leak this pipeline prevented")
    assert "| PR-AUC | 0.982 | 0.494 | 0.488 | +99% |" in section
    assert "30 of its 80 test rows are synthetic" in section and "Counterfactual" in section
    rep["leak_panel"] = {"skipped": "SMOTE cannot run on this data: only 1 minority row(s)"}
    section = _section(report.render_markdown(rep), "## The leak this pipeline prevented")
    assert "Not measured: SMOTE cannot run on this data" in section


def test_the_leak_panel_splits_the_inflation_into_prevalence_and_leakage(rep):
    from imbal_pipeline.core.evaluate import leak

    claim = {
        "skipped": None,
        "pr_auc": 0.95,
        "f1_at_0_5": 0.90,
        "test_rows": 450,
        "test_positives": 150,
        "synthetic_test_rows": 135,
        "real_rows": {
            "rows": 315,
            "positives": 15,
            "prevalence": 15 / 315,
            "pr_auc": 0.60,
            "f1_at_0_5": 0.40,
        },
    }
    holdout = {"pr_auc": 0.26, "confusion_matrix": [[290, 0], [9, 1]]}
    rep["leak_panel"] = leak.panel(claim, holdout, {"f1": 0.30})
    section = _section(report.render_markdown(rep), "## The leak this pipeline prevented")
    assert "what it would have printed (its test part, 33.3% positives)" in section
    assert "that part's real rows (4.8%)" in section and "(holdout, 3.3%)" in section
    assert "| PR-AUC | 0.950 | 0.600 | 0.260 | +0.690 | +0.350 | +0.340 |" in section
    assert "135 of its 450 test rows are synthetic" in section
    assert "test part's 315 real rows alone (15 positives" in section


def test_the_calibration_paragraph_says_whether_predict_proba_calibrates_and_why(rep):
    brier = {"value": 0.0092, "ci_low": 0.0061, "ci_high": 0.0123}
    rep["calibration"] = {
        "applied": False,
        "method": None,
        "candidate": "isotonic",
        "oof_brier_difference": {"diff": -0.0003, "ci_low": -0.0011, "ci_high": 0.0004},
        "ece_bins": 10,
        "holdout": {"brier_raw": brier, "ece_raw": {"value": 0.0041, "noise": 0.0063}},
    }
    section = _section(report.render_markdown(rep), "## Decision threshold")
    assert (
        "**Calibration:** not applied: the better map (isotonic) did not beat the raw scores on "
        "out-of-fold Brier (-0.0003 [-0.0011, +0.0004]; cross-fitted, paired), so "
        "`predict_proba` returns the raw scores. On the holdout their Brier score is 0.0092 "
        "[0.0061, 0.0123] and their expected calibration error (10 equal-frequency bins) 0.0041 "
        "(noise alone: up to 0.0063)"
    ) in section
    rep["calibration"] |= {
        "applied": True,
        "method": "sigmoid",
        "oof_brier_difference": {"diff": -0.0021, "ci_low": -0.0030, "ci_high": -0.0012},
    }
    rep["calibration"]["holdout"] |= {
        "brier_calibrated": {"value": 0.0081, "ci_low": 0.0052, "ci_high": 0.0110},
        "ece_calibrated": {"value": 0.0032, "noise": 0.0060},
        "brier_difference": {"diff": -0.0011, "ci_low": -0.0020, "ci_high": -0.0002},
    }
    section = _section(report.render_markdown(rep), "## Decision threshold")
    assert "**Calibration:** sigmoid applied: it beat the raw scores on out-of-fold" in section
    assert "0.0081 [0.0052, 0.0110] for the calibrated probabilities (difference -0.0011" in section
    assert "`predict_proba` returns the calibrated probabilities" in section


def test_a_tiny_threshold_is_written_so_a_reader_can_check_it(rep):
    # A cost objective can choose 0.000135; three decimals would print 0.000.
    tiny = {**rep, "threshold": {**rep["threshold"], "value": 0.000135}}
    md = report.render_markdown(tiny)
    assert "Chosen threshold: **0.000135**" in _section(md, "## Decision threshold")
    assert "decision threshold **0.000135**" in md and "0.000**" not in md
    assert "Chosen threshold: **0.310**" in report.render_markdown(rep)  # as before above it


def test_an_interval_with_a_negative_end_reads_as_a_range():
    from imbal_pipeline.core.report.document import interval

    assert interval({"ci_low": 0.31, "ci_high": 0.83}) == "0.310-0.830"
    assert interval({"ci_low": -0.004, "ci_high": 0.815}) == "-0.004 to 0.815"
    assert interval({"ci_low": None, "ci_high": 0.8}) == ""


def test_every_plot_the_report_writes_has_a_title_of_its_own(rep):
    # A heading made from the file name read "Diagnostics pca".
    plots = {**rep["plots"], "diagnostics_pca": "diagnostics_pca.png"}
    md = report.render_markdown({**rep, "plots": plots})
    assert "### PCA of the training split (data diagnostics)" in _section(md, "## Plots")
    assert "Diagnostics pca" not in md


def test_one_false_alarm_is_singular(rep):
    one = {**rep, "holdout": {**rep["holdout"], "confusion_matrix": [[500, 1], [2, 8]]}}
    assert "at the cost of 1 false alarm." in report.render_markdown(one)
    assert "false alarms." in report.render_markdown(rep)


def test_a_fallback_threshold_is_called_a_fallback_never_tuned(rep):
    fallback = "the tuned one did not beat 0.5 beyond noise, so 0.5 is used"
    rep = dict(rep, threshold={**rep["threshold"], "value": 0.5, "fallback": fallback})
    md = report.render_markdown(rep)
    summary = md.split("\n## ", 1)[0]
    assert f"(fallback: {fallback})" in summary and "tuned for" not in summary
    assert f"(fallback: {fallback})" in _section(md, "Decision threshold")
    earned = dict(rep, threshold={**rep["threshold"], "fallback": None})
    assert "tuned for fbeta (beta=2.000)" in report.render_markdown(earned).split("\n## ", 1)[0]


def test_figures_from_few_positives_are_marked_beside_the_figure_with_what_it_means(rep):
    plain = report.render_markdown(rep)
    assert "few positives" not in plain.split("\n## ", 1)[0] and "Few positives:" not in plain
    rep["holdout_ci"]["few_positives_below"] = 20
    for name in ("pr_auc", "recall"):
        rep["holdout_ci"][name]["few_positives"] = True
    rep["vs_baseline"] = {
        "same_model": False,
        "pr_auc": {"diff": 0.0123, "ci_low": -0.0201, "ci_high": 0.0456, "few_positives": True},
    }
    md = report.render_markdown(rep)
    summary = md.split("\n## ", 1)[0]
    assert "0.679 (95% CI 0.520-0.810; few positives)" in summary
    assert "0.800 (95% CI 0.376-1.000; few positives)" in summary
    assert "positives, fewer than the 20 below which the 95 % intervals' simulated" in summary
    holdout = _section(md, "## Holdout performance")
    rows = {r[0]: r for r in _table_rows(holdout)}
    assert rows["**PR-AUC**"][2] == "0.520-0.810 (few positives)"
    assert rows["Recall"][2] == "0.376-1.000 (few positives)"
    assert "PR-AUC +0.012 (95% CI -0.020 to 0.046; few positives)" in holdout
    # Subgroups are flagged below the same count, with what it means.
    sub = _section(md, "## Subgroup performance")
    assert "Groups with fewer than 20 positives are flagged" in sub and "simulation" in sub
    html = report.render_html(rep)
    assert "0.520-0.810 (few positives)" in html and "Few positives:" in html


def _fallback_at_half(rep: dict) -> dict:
    """A user's trial: `none` selected, its tuned threshold did not beat 0.5, so 0.5 is used."""
    fallback = "the tuned one did not beat 0.5 beyond noise, so 0.5 is used"
    zero = {"diff": 0.0, "ci_low": 0.0, "ci_high": 0.0}
    return dict(
        rep,
        selected_strategy="none",
        threshold={**rep["threshold"], "objective": "f1", "value": 0.5, "fallback": fallback},
        holdout={**rep["holdout_at_0_5"]},
        operating_point={
            "objective": "f1",
            "asked": {"maximize": "f1"},
            "reached": {"f1": 0.4, "ci_low": 0.1, "ci_high": 0.7},
            "met": True,
            "clearly_missed": False,
        },
        vs_baseline={"same_model": True, "f1": zero, "fbeta": zero, "mcc": zero},
    )


def test_every_sentence_naming_a_fallback_threshold_calls_it_the_fallback(rep):
    md = report.render_markdown(_fallback_at_half(rep))
    for tuned in ("tuned threshold", "selected @ tuned", "the threshold maximizes", "minus 0.5"):
        assert tuned not in md, tuned
    summary = md.split("\n## ", 1)[0]
    assert "At the chosen threshold (0.5, the fallback) the model catches 2 of 5" in summary
    holdout = _section(md, "## Holdout performance")
    assert "| Selected @ fallback threshold (t=0.500) | 95% CI (selected @ fallback) |" in holdout
    # The same model at the same threshold: no comparison of a threshold with itself.
    assert (
        "the selected model is the baseline (none), at 0.5 too (the fallback: the tuned one "
        "did not beat 0.5 beyond noise, so 0.5 is used): the same decisions, so there is "
        "nothing to compare." in holdout
    )
    choice = _section(md, "## Decision threshold")
    assert "f1 0.400 (95% CI 0.100-0.700) at the threshold (0.5, the fallback: the tuned" in choice
    assert "At the chosen threshold (0.5, the fallback): precision 0.667" in choice
    assert "At the default 0.5" not in choice  # the same figures again


def test_a_fallback_that_is_not_0_5_is_compared_with_0_5_under_its_own_name(rep):
    # Where 0.5 flags no out-of-fold row the tuned median stays, as a fallback.
    found = _fallback_at_half(rep)
    found["threshold"]["value"] = found["holdout"]["threshold"] = 0.0123
    found["vs_baseline"]["f1"] = {"diff": 0.1, "ci_low": 0.02, "ci_high": 0.18}
    holdout = _section(report.render_markdown(found), "## Holdout performance")
    assert (
        "only the threshold differs; the chosen threshold (0.0123, the fallback) minus 0.5: F1"
        in holdout
    )
    # A tuned threshold keeps its name.
    tuned = dict(found, threshold={**found["threshold"], "fallback": None})
    holdout = _section(report.render_markdown(tuned), "## Holdout performance")
    assert "only the threshold differs; its tuned threshold minus 0.5: F1 +0.100" in holdout


def test_the_title_names_the_no_handling_strategy_in_words(rep):
    assert report.render_markdown(rep).startswith(
        "# Rare-event classifier evaluation — class_weight\n"
    )
    md = report.render_markdown(dict(rep, selected_strategy="none"))
    assert md.startswith("# Rare-event classifier evaluation — no imbalance handling\n")
    html = report.render_html(dict(rep, selected_strategy="none"))
    assert "<title>Rare-event classifier evaluation — no imbalance handling</title>" in html


def test_the_note_on_raw_scores_holds_for_a_fallback_threshold_too():
    # Every report and every deployed model carries it, whether the threshold was tuned or not.
    from imbal_pipeline.core.monitor.deployed import PROBABILITY_NOTE

    assert "tuned threshold" not in PROBABILITY_NOTE
    assert "decide with the model's threshold on the raw scores" in PROBABILITY_NOTE


def test_the_baselines_own_fallback_threshold_is_never_called_tuned(rep):
    fallback = "the tuned one did not beat 0.5 beyond noise, so 0.5 is used"
    base = _metrics(0.5, 0.4321, 0.25, 0.2, 0.3333, 0.24, [[243, 2], [4, 1]])
    rep["baseline_holdout_tuned"] = {**base, "fallback": fallback}
    md = report.render_markdown(rep)
    header = _table_rows(_section(md, "## Holdout performance"))[0]
    assert header[-1] == "Baseline (none) @ its fallback threshold (t=0.500)"
    assert "Baseline (none) @ its tuned threshold" not in md
    rep["baseline_holdout_tuned"] = base  # tuned: no fallback key
    header = _table_rows(_section(report.render_markdown(rep), "## Holdout performance"))[0]
    assert header[-1] == "Baseline (none) @ its tuned threshold (t=0.500)"


def test_the_uis_headline_table_never_calls_a_fallback_tuned(rep):
    from imbal_pipeline.core.report_model import Report
    from imbal_pipeline.defs.assets.evaluation import headline_table

    rep["baseline_holdout_tuned"] = _metrics(
        0.5, 0.4321, 0.25, 0.2, 0.3333, 0.24, [[243, 2], [4, 1]]
    )
    assert list(headline_table(Report.from_json(rep))) == [
        "selected @ tuned",
        "selected @ 0.5",
        "baseline @ 0.5",
        "baseline @ its tuned",
    ]
    fallback = "the tuned one did not beat 0.5 beyond noise, so 0.5 is used"
    rep["threshold"] = {**rep["threshold"], "value": 0.5, "fallback": fallback}
    rep["baseline_holdout_tuned"] = {**rep["baseline_holdout_tuned"], "fallback": fallback}
    columns = list(headline_table(Report.from_json(rep)))
    assert columns[0] == "selected @ fallback" and columns[-1] == "baseline @ its fallback"


def test_the_pr_plots_legend_names_a_fallback_threshold_the_fallback(rep):
    from imbal_pipeline.core.evaluate.evaluation import pr_points

    assert list(pr_points(rep)) == ["tuned threshold", "0.5"]
    fallback = "the tuned one did not beat 0.5 beyond noise, so 0.5 is used"
    rep["threshold"] = {**rep["threshold"], "value": 0.5, "fallback": fallback}
    points = pr_points(rep)
    assert list(points) == ["the chosen threshold (0.5, the fallback)", "0.5"]
    assert points["the chosen threshold (0.5, the fallback)"] == (0.8, 0.4444)


def test_a_figure_that_is_0_over_0_shows_na_and_says_why_once(rep):
    # 0.5 flags no holdout row: its precision is 0/0, its recall a real 0.
    rep["holdout_at_0_5"] = _metrics(0.5, 0.6789, 0.0, 0.0, 0.0, 0.0, [[245, 0], [5, 0]])
    # A group without positives: recall and F1 are 0/0; so is precision when nothing is flagged.
    no_positives = {"n": 28, "positives": 0, "precision": 0.0, "recall": 0.0, "f1": 0.0}
    rep["subgroups"]["region"]["t"] = {**no_positives, "confusion_matrix": [[28, 0], [0, 0]]}
    rep["subgroups"]["region"]["u"] = {**no_positives, "confusion_matrix": [[27, 1], [0, 0]]}
    md = report.render_markdown(rep)
    holdout = _section(md, "## Holdout performance")
    rows = {r[0]: r for r in _table_rows(holdout)}
    assert rows["Precision"][3] == "n/a" and rows["Recall"][3] == "0.000"
    assert rows["Precision"][1] == "0.444"
    assert holdout.count("n/a: precision is undefined where no row is flagged") == 1
    groups = {r[0]: r for r in _table_rows(_section(md, "## Subgroup performance"))}
    assert groups["t"][:7] == ["t", "28", "0", "n/a", "n/a", "", "n/a"]
    assert groups["u"][:7] == ["u", "28", "0", "0.000", "n/a", "", "n/a"]
    sub = _section(md, "## Subgroup performance")
    assert sub.count("recall and F1 are undefined where there are no positives") == 1
    assert "At the default 0.5: precision n/a, recall 0.000" in _section(md, "## Decision thr")
    assert "n/a: precision is undefined where no row is flagged" in report.render_html(rep)
    # The file keeps its 0: only what is shown changes.
    assert rep["holdout_at_0_5"]["precision"] == 0.0


def test_the_threshold_section_shows_each_folds_threshold_and_says_when_they_disagree():
    from imbal_pipeline.core.report.report_choice import fold_thresholds

    # hypothyroid, --recall-target 0.95: five folds from 1e-06 to 0.495.
    spread = {"0": 0.495, "1": 1e-06, "2": 0.0022, "3": 3.2e-05, "4": 0.487}
    said = fold_thresholds(spread)
    assert said.startswith("0.495, ") and said.endswith("(the folds disagree: 495,000 times apart)")
    assert fold_thresholds({"0": 0.30, "1": 0.25, "2": 0.41}) == "0.300, 0.250, 0.410"
    assert fold_thresholds(None) == "" and fold_thresholds({}) == ""
