"""Diagnostics on constructed data where the truth is known."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import value

from imbal_pipeline.core.evaluate import diagnostics
from imbal_pipeline.core.settings import LABEL, ROW_ID

SCHEMA_2D = {"numeric": ["a", "b"], "categorical": []}


def _frame(X: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame({"a": X[:, 0], "b": X[:, 1]})
    frame[LABEL] = y.astype(np.int8)
    frame.insert(0, ROW_ID, np.arange(len(y), dtype=np.int64))
    return frame


def _two_blobs(shift: float, n_neg=4000, n_pos=200, seed=0):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(size=(n_neg, 2)), rng.normal(shift, 1.0, size=(n_pos, 2))])
    return X, np.r_[np.zeros(n_neg), np.ones(n_pos)].astype(int)


def test_well_separated_classes_give_safe_positives_and_low_n3():
    X, y = _two_blobs(shift=8.0)
    result, _ = diagnostics.diagnose(_frame(X, y), SCHEMA_2D, "moderate", seed=0)
    assert result["typology"]["safe"] / 200 > 0.95
    assert result["n3"] < 0.01
    assert result["fisher_ratio"] > 10
    assert "well separated" in result["advice"][0]


def test_severe_advice_follows_the_tier_table_and_prefers_nothing_by_itself():
    # A mixed picture: the data itself argues neither for weights nor for resampling.
    result = {
        "typology": {"safe": 60, "borderline": 30, "rare": 5, "outlier": 5},
        "n3": 0.1,
        "islands": [],
        "label_conflicts": 0,
    }
    advice, prefers = diagnostics.advise(result, "severe")
    assert "SMOTE variants" in advice[-1] and "balanced_bagging" in advice[-1]
    assert "more positives" in advice[-1] and "learning curve" in advice[-1]
    # The tier names where to start; it adds no preference a selection could contradict.
    assert prefers is None and diagnostics.advise(result, "moderate")[1] is None


def test_scattered_positives_with_a_low_1nn_error_are_not_said_to_overlap():
    # kddcup_rootkit: 18 positives in small clusters, one feature separates them (N3 0.001),
    # yet half of them have negatives among their five neighbours.
    result = {
        "typology": {"safe": 9, "borderline": 5, "rare": 3, "outlier": 1},
        "n3": 0.001,
        "islands": [],
        "label_conflicts": 0,
    }
    advice, prefers = diagnostics.advise(result, "severe")
    assert "rather than overlapping them" in advice[0] and "the classes overlap" not in advice[0]
    assert "N3) is only 0.001" in advice[0] and prefers == "weights"
    result["n3"] = 0.2  # a high 1-NN error: they do overlap
    assert "the classes overlap" in diagnostics.advise(result, "severe")[0][0]


def test_heavy_overlap_gives_borderline_and_rare_positives_and_high_n3():
    X, y = _two_blobs(shift=0.3)
    result, _ = diagnostics.diagnose(_frame(X, y), SCHEMA_2D, "moderate", seed=0)
    hard = (
        result["typology"]["borderline"]
        + result["typology"]["rare"]
        + result["typology"]["outlier"]
    )
    assert hard / 200 > 0.8
    assert result["n3"] > 0.05
    assert result["fisher_ratio"] < 0.2
    assert "oversampling is risky" in result["advice"][0]
    assert result["prefers"] == "weights"


def test_planted_islands_are_found():
    rng = np.random.default_rng(1)
    neg = rng.normal(size=(5000, 2)) * 3
    main = rng.normal(0, 0.5, size=(150, 2)) + [12, 0]
    island_a = rng.normal(0, 0.05, size=(6, 2)) + [-14, 12]
    island_b = rng.normal(0, 0.05, size=(4, 2)) + [-14, -12]
    X = np.vstack([neg, main, island_a, island_b])
    y = np.r_[np.zeros(5000), np.ones(160)].astype(int)
    result, _ = diagnostics.diagnose(_frame(X, y), SCHEMA_2D, "moderate", seed=0)
    assert sorted(i["rows"] for i in result["islands"]) == [4, 6]
    assert any("island" in line for line in result["advice"])
    X, y = _two_blobs(shift=8.0)  # one compact minority blob: no islands
    assert diagnostics.diagnose(_frame(X, y), SCHEMA_2D, "moderate", seed=0)[0]["islands"] == []


def test_planted_label_conflicts_and_duplicates_are_counted():
    X, y = _two_blobs(shift=3.0)
    X[10:15] = X[4000:4005]  # five negatives copy five positives' features: conflicts
    X[20:23] = X[30]  # three more copies of one negative: duplicates, no conflict
    result, _ = diagnostics.diagnose(_frame(X, y), SCHEMA_2D, "moderate", seed=0)
    assert result["label_conflicts"] == 5
    assert result["duplicates"] == 5 + 3
    assert any("both labels" in line for line in result["advice"])


def test_large_data_uses_a_stated_stratified_subsample():
    X, y = _two_blobs(shift=2.0, n_neg=24000, n_pos=600)
    result, arrays = diagnostics.diagnose(_frame(X, y), SCHEMA_2D, "moderate", seed=0)
    assert result["subsample_rows"] == 10000
    assert result["subsample_positives"] == pytest.approx(10000 * 600 / 24600, abs=1)
    assert sum(result["typology"].values()) == result["subsample_positives"]
    assert result["training_positives"] == 600
    assert len(arrays["y"]) == 10000


def test_contradiction_is_stated_when_the_winner_goes_against_the_advice():
    assert "against the diagnostics' advice" in diagnostics.contradiction(
        {"prefers": "weights"}, "smote"
    )
    assert diagnostics.contradiction({"prefers": "weights"}, "class_weight") is None
    assert diagnostics.contradiction({"prefers": None}, "smote") is None


def test_report_json_carries_the_diagnostics(small_run):
    report = value(small_run, "evaluation_report")
    diag = report["diagnostics"]
    for key in (
        "typology",
        "n3",
        "fisher_ratio",
        "subsample_rows",
        "duplicates",
        "label_conflicts",
        "advice",
    ):
        assert key in diag, key
    assert set(diag["typology"]) == {"safe", "borderline", "rare", "outlier"}
    assert sum(diag["typology"].values()) == diag["subsample_positives"]
    assert diag["subsample_positives"] == report["dataset"]["positives"]  # small: no subsample
    out = report["settings"]["output_dir"]
    md = (Path(out) / "report.md").read_text()
    assert md.index("Know the data") < md.index("Strategy comparison")
    assert (Path(out) / "diagnostics_pca.png").read_bytes()[:4] == (b"\x89PNG")


def test_exact_duplicates_never_count_a_row_as_its_own_neighbour():
    X = np.repeat(np.arange(20, dtype=float)[:, None] * 10, 2, axis=0)  # pairs at each spot
    X = np.column_stack([X, np.zeros(len(X))])
    y = np.tile([1, 0], 20)  # each positive shares its spot with a negative
    _, _, n3 = diagnostics.typology(X, y)
    assert n3 == 1.0


def test_subsample_never_exceeds_the_limit_and_keeps_a_positive():
    y = np.zeros(1_000_000, dtype=int)
    y[:40] = 1
    picked = diagnostics._subsample(y, 10_000, seed=0)
    assert len(picked) == 10_000 and y[picked].sum() >= 1


def test_undersampling_also_contradicts_weights_first_advice():
    assert diagnostics.contradiction({"prefers": "weights"}, "undersample")
