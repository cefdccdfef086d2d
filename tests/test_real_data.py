"""Optional checks on the real datasets in ../shared/datasets (skipped when absent)."""

from pathlib import Path

import pandas as pd
import pytest

from imbal_pipeline.core.data import data, data_gates
from imbal_pipeline.core.evaluate import leak
from imbal_pipeline.core.settings import Settings
from imbal_pipeline.core.train import gates

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
needs_data = pytest.mark.skipif(
    not DATASETS.is_dir(), reason=f"real datasets not found at {DATASETS} (optional)"
)


@needs_data
def test_bank_marketing_duration_is_flagged_as_a_possible_leak():
    frame = pd.read_csv(DATASETS / "bank_marketing.csv")
    settings = Settings(target="target", data_path=str(DATASETS / "bank_marketing.csv"))
    prepared = data.prepare_frame(frame, settings)
    gate = leak.leak_suspects(prepared, data.feature_schema(prepared, settings))
    assert not gate.passed and gate.severity == gates.WARN
    assert "'duration'" in gate.message
    without = prepared.drop(columns="duration")
    gate = leak.leak_suspects(without, data.feature_schema(without, settings))
    assert gate.passed, gate.message


@needs_data
def test_hypothyroid_missing_values_and_duplicates_load_cleanly():
    frame = data.read_table(DATASETS / "hypothyroid.csv")
    settings = Settings(target="target", data_path="hypothyroid.csv")
    prepared = data.prepare_frame(frame, settings)
    assert prepared["__row_id"].is_unique  # 77 duplicate rows still get distinct ids
    assert data_gates.no_mixed_types(prepared, settings).passed
    assert data_gates.no_empty_columns(prepared).passed


@needs_data
def test_car_eval_levels_that_look_numeric_are_categories_not_errors():
    frame = data.read_table(DATASETS / "car_eval_4.csv")
    settings = Settings(target="target", data_path="car_eval_4.csv")
    prepared = data.prepare_frame(frame, settings)
    gate = data_gates.no_mixed_types(prepared, settings)
    assert not gate.blocks
    assert set(gate.observed["treated_as_categorical"]) == {"doors", "persons"}
    assert {"doors", "persons"} <= set(data.feature_schema(prepared, settings)["categorical"])
