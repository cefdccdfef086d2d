"""Storage and export: Parquet, LightGBM text and JSON, never a pickle."""

import json
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from conftest import value

from imbal_pipeline.core.evaluation import load_model
from imbal_pipeline.core.preprocess import Preprocessor
from imbal_pipeline.core.settings import LABEL, SPLIT
from imbal_pipeline.core.split import HOLDOUT
from imbal_pipeline.storage import read_bundle, write_bundle


def _booster():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 3)), rng.integers(0, 2, 200)
    return lgb.train(
        {"objective": "binary", "verbosity": -1, "num_threads": 1},
        lgb.Dataset(X, y),
        num_boost_round=3,
    ), X


def test_bundle_round_trip_without_pickles(tmp_path):
    booster, X = _booster()
    frame = pd.DataFrame({"a b": [1.0, 2.0], "ü": ["x", "y"]})
    write_bundle(
        tmp_path / "thing",
        {"table": frame, "model__none": booster, "info": {"k": np.int64(3), "t": (1, 2)}},
    )
    files = sorted(p.name for p in (tmp_path / "thing").iterdir())
    assert files == ["manifest.json", "model__none.txt", "table.parquet"]
    back = read_bundle(tmp_path / "thing")
    pd.testing.assert_frame_equal(back["table"], frame)
    np.testing.assert_array_equal(back["model__none"].predict(X), booster.predict(X))
    assert back["info"] == {"k": 3, "t": [1, 2]}
    write_bundle(tmp_path / "frame", frame)
    pd.testing.assert_frame_equal(read_bundle(tmp_path / "frame"), frame)


def test_failed_write_leaves_the_previous_bundle_whole(tmp_path):
    write_bundle(tmp_path / "x", {"v": 1})

    class Unserializable:
        pass

    with pytest.raises(TypeError):
        write_bundle(tmp_path / "x", {"v": Unserializable()})
    assert read_bundle(tmp_path / "x") == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x"]  # no temp debris


def test_no_stored_asset_is_a_pickle(small_run):
    report = value(small_run, "evaluation_report")
    storage = Path(report["settings"]["output_dir"]).parent / "storage"
    assert len(list(storage.iterdir())) == 16  # every asset of a 3-fold graph
    suffixes = {p.suffix for p in storage.rglob("*") if p.is_file()}
    assert suffixes <= {".json", ".parquet", ".txt"}, suffixes


def test_exported_model_reproduces_the_reported_holdout_decisions(small_run):
    report = value(small_run, "evaluation_report")
    booster, meta = load_model(report["settings"]["output_dir"])
    assert meta["threshold"] == report["threshold"]["value"]
    split = value(small_run, "holdout_split")
    holdout = split[split[SPLIT] == HOLDOUT]
    pre = Preprocessor.from_json(meta["preprocessor"])
    pred = booster.predict(pre.transform(holdout)) >= meta["threshold"]
    y = holdout[LABEL].to_numpy()
    cm = [
        [int(((y == 0) & ~pred).sum()), int(((y == 0) & pred).sum())],
        [int(((y == 1) & ~pred).sum()), int(((y == 1) & pred).sum())],
    ]
    assert cm == report["holdout"]["confusion_matrix"]
    assert json.loads(json.dumps(meta))  # plain JSON
    assert "baseline_holdout_tuned" in report
