"""The leak panel: a measured counterfactual that never reaches the real model."""

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from conftest import graph

from imbal_pipeline.core import data, leak
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
    shown = leak.panel(claim, {"pr_auc": 0.06}, {"f1": 0.0})
    assert shown["inflation"]["pr_auc"]["points"] == pytest.approx(claim["pr_auc"] - 0.06)
    assert shown["inflation"]["f1_at_0_5"]["relative"] is None  # nothing to divide by


def test_the_panel_is_skipped_with_a_reason_where_smote_cannot_run():
    frame = _frame(positives=1, n=400)
    claim = leak.leaky_claim(frame, data.feature_schema(frame, SETTINGS), SETTINGS)
    assert claim["skipped"].startswith("SMOTE cannot run on this data")
    assert leak.panel(claim, {"pr_auc": 0.5}, {"f1": 0.4}) == {"skipped": claim["skipped"]}


def test_the_counterfactual_feeds_the_report_and_nothing_else(tmp_path):
    asset_graph = graph(tmp_path).resolve_asset_graph()
    children = asset_graph.get(dg.AssetKey("leak_panel")).child_keys
    assert children == {dg.AssetKey("evaluation_report")}


def test_a_counterfactual_without_synthetic_test_rows_is_flagged_but_blocks_nothing():
    from imbal_pipeline.core import quality

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
