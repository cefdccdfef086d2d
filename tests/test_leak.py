"""The leak panel: a measured counterfactual that never reaches the real model."""

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from conftest import graph

from imbal_pipeline.core.data import data
from imbal_pipeline.core.evaluate import leak
from imbal_pipeline.core.settings import Settings

SETTINGS = Settings(target="target", subgroups=("x0",), n_estimators=60, sampling_ratio=1.0)


def _frame(positives: int, n: int = 1500, seed: int = 0) -> pd.DataFrame:
    """Positives barely differ from negatives: an honest model has little to find."""
    rng = np.random.default_rng(seed)
    y = np.zeros(n, dtype=int)
    y[rng.choice(n, positives, replace=False)] = 1
    frame = pd.DataFrame({f"x{i}": rng.normal(0.15 * y, 1.0) for i in range(6)})
    return data.prepare_frame(frame.assign(target=y), SETTINGS)


def test_smote_before_the_split_claims_a_skill_the_data_does_not_have():
    frame = _frame(positives=60)
    claim = leak.leaky_claim(frame, data.feature_schema(frame, SETTINGS), SETTINGS)
    assert claim["skipped"] is None and claim["synthetic_test_rows"] > 0
    # 4 % positives and almost no signal, yet synthetic neighbours of training positives in the
    # test part make the leaky pipeline look excellent.
    assert claim["pr_auc"] > 0.8
    assert not leak.COUNTERFACTUAL.get()  # the marker is reset after the counterfactual fits
    holdout = {"pr_auc": 0.06, "confusion_matrix": [[280, 8], [9, 3]]}
    shown = leak.panel(claim, holdout, {"f1": 0.0})
    assert shown["inflation"]["pr_auc"]["points"] == pytest.approx(claim["pr_auc"] - 0.06)
    assert shown["inflation"]["f1_at_0_5"]["relative"] is None  # nothing to divide by
    assert shown["honest"]["prevalence"] == pytest.approx(12 / 300)


def test_the_same_leaky_model_is_scored_on_its_test_parts_real_rows_at_the_real_prevalence(
    monkeypatch,
):
    frame = _frame(positives=60)
    scored = []
    original = leak.figures

    def spy(y, scores, weight=None):
        scored.append(len(y))
        return original(y, scores, weight)

    monkeypatch.setattr(leak, "figures", spy)
    claim = leak.leaky_claim(frame, data.feature_schema(frame, SETTINGS), SETTINGS)
    real = claim["real_rows"]
    # Every test row is scored for the claim; only the real ones for the same-prevalence figure.
    assert scored == [claim["test_rows"], claim["test_rows"] - claim["synthetic_test_rows"]]
    assert real["rows"] == claim["test_rows"] - claim["synthetic_test_rows"]
    assert claim["test_positives"] - real["positives"] == claim["synthetic_test_rows"]
    # SMOTE raised the test part's prevalence to a third; its real rows keep the data's 4 %.
    assert claim["test_positives"] / claim["test_rows"] > 0.25
    assert real["prevalence"] == pytest.approx(60 / 1500, abs=0.015)
    # Scored at the real prevalence the claim shrinks, yet the leak still shows: an honest
    # model has almost nothing to find here (PR-AUC near 0.04), the leaky one still 0.6.
    assert 0.3 < real["pr_auc"] < claim["pr_auc"] - 0.2


def test_the_inflation_splits_into_a_prevalence_part_and_a_leakage_part():
    claim = {
        "skipped": None,
        "pr_auc": 0.95,
        "f1_at_0_5": 0.90,
        "test_rows": 450,
        "test_positives": 150,
        "synthetic_test_rows": 135,
        "real_rows": {"rows": 315, "positives": 15, "pr_auc": 0.60, "f1_at_0_5": 0.40},
    }
    holdout = {"pr_auc": 0.26, "confusion_matrix": [[290, 0], [9, 1]]}
    shown = leak.panel(claim, holdout, {"f1": 0.30})
    pr_auc = shown["inflation"]["pr_auc"]
    assert pr_auc["points"] == pytest.approx(0.69)
    assert pr_auc["prevalence"] == pytest.approx(0.35) and pr_auc["leakage"] == pytest.approx(0.34)
    assert pr_auc["prevalence"] + pr_auc["leakage"] == pytest.approx(pr_auc["points"])
    assert shown["inflation"]["f1_at_0_5"]["leakage"] == pytest.approx(0.10)
    assert shown["counterfactual"]["prevalence"] == pytest.approx(1 / 3)
    assert shown["same_prevalence"]["pr_auc"] == 0.60


def test_real_rows_without_a_positive_split_no_inflation_into_parts():
    # kddcup_rootkit, seed 1: the leaky test part's real rows held no positive; F1 there is
    # undefined, not 0, and no "of which leakage -1.000" is made of it.
    real = leak.figures(np.zeros(40, dtype=int), np.linspace(0, 1, 40))
    assert real["positives"] == 0 and real["f1_at_0_5"] is None and real["pr_auc"] is None
    claim = {
        "skipped": None,
        "pr_auc": 1.0,
        "f1_at_0_5": 1.0,
        "test_rows": 60,
        "test_positives": 20,
        "synthetic_test_rows": 20,
        "real_rows": real,
    }
    holdout = {"pr_auc": 1.0, "confusion_matrix": [[400, 0], [0, 4]]}
    shown = leak.panel(claim, holdout, {"f1": 1.0})
    for name in ("pr_auc", "f1_at_0_5"):
        assert shown["inflation"][name]["prevalence"] is None
        assert shown["inflation"][name]["leakage"] is None


def test_the_panel_is_skipped_with_a_reason_where_smote_cannot_run():
    frame = _frame(positives=1, n=400)
    claim = leak.leaky_claim(frame, data.feature_schema(frame, SETTINGS), SETTINGS)
    assert claim["skipped"].startswith("SMOTE cannot run on this data")
    holdout = {"pr_auc": 0.5, "confusion_matrix": [[90, 0], [5, 5]]}
    assert leak.panel(claim, holdout, {"f1": 0.4}) == {"skipped": claim["skipped"]}


def test_the_counterfactual_feeds_the_report_and_nothing_else(tmp_path):
    asset_graph = graph(tmp_path).resolve_asset_graph()
    children = asset_graph.get(dg.AssetKey("leak_panel")).child_keys
    assert children == {dg.AssetKey("evaluation_report")}


def test_a_counterfactual_without_synthetic_test_rows_is_flagged_but_blocks_nothing():
    from imbal_pipeline.core.evaluate import quality

    claim = {"skipped": None, "pr_auc": 0.9, "f1_at_0_5": 0.8, "test_rows": 90}
    assert quality.counterfactual_sane({**claim, "synthetic_test_rows": 30}).passed
    gate = quality.counterfactual_sane({**claim, "synthetic_test_rows": 0})
    assert not gate.passed and not gate.blocks and "report this as a bug" in gate.message
    assert quality.counterfactual_sane({"skipped": "SMOTE cannot run"}).passed


def test_a_counterfactual_whose_synthetic_rows_all_land_in_the_fit_is_skipped_not_a_bug():
    # 90 of 1,000 positive against a target ratio of 0.1: SMOTE adds about one row.
    frame = _frame(positives=90, n=1000)
    settings = Settings(target="target", subgroups=("x0",), n_estimators=20, sampling_ratio=0.1)
    claim = leak.leaky_claim(frame, data.feature_schema(frame, settings), settings)
    assert claim["skipped"] and "none fell in the test part" in claim["skipped"]
