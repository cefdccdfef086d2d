"""The scoring side of the bad-input catalogue: batches a model must refuse in one line, or read
as training read its rows.

Each model here is trained by the core (`method.fit_and_evaluate`, one rung, 20 trees) in
about a second, so every case runs without a graph.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from imbal_pipeline.core import evaluation, method
from imbal_pipeline.core.deployed import BatchError, Model, score_batch
from imbal_pipeline.core.settings import Settings
from imbal_pipeline.core.synthetic import make_fraud_data

FAST = {"n_folds": 3, "n_estimators": 20, "num_leaves": 7, "strategies": ("none",)}


def _table(n: int, seed: int, labelled: bool = True) -> pd.DataFrame:
    """Fraud-like rows with an integer category `shop` that matters and a True/False `flag`."""
    frame = make_fraud_data(n, 0.06, seed=seed)
    rng = np.random.default_rng(seed)
    frame["shop"] = rng.integers(1, 6, n)
    frame["amount"] += 300.0 * frame["is_fraud"] * (frame["shop"] == 2)
    frame["flag"] = rng.random(n) < 0.3
    return frame if labelled else frame.drop(columns="is_fraud")


def _with_empty_shop(frame: pd.DataFrame) -> pd.DataFrame:
    # One empty cell is enough for a CSV reader to read the whole integer column as floats.
    return frame.astype({"shop": float}).assign(shop=lambda f: f["shop"].where(f.index != 5))


def train(folder: Path, frame: pd.DataFrame, holdout: pd.DataFrame | None = None) -> Model:
    """The model a run on these files would deploy."""
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / "train.csv", index=False)
    paths = {"data_path": str(folder / "train.csv")}
    if holdout is not None:
        holdout.to_csv(folder / "test.csv", index=False)
        paths["test_data_path"] = str(folder / "test.csv")
    s = Settings(**FAST, **paths, categorical=("shop",), output_dir=str(folder / "out"))
    outcome = method.fit_and_evaluate(s)
    value = evaluation.deployable(outcome.final, outcome.decision, outcome.report, s)
    return Model(value["model"], {**value["meta"], "version": "test"})


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Model:
    return train(tmp_path_factory.mktemp("model"), _with_empty_shop(_table(1500, 3)))


@pytest.fixture(scope="module")
def batch() -> pd.DataFrame:
    return _table(300, 4, labelled=False)


# --- categories read alike everywhere --------------------------------------------------------


@pytest.mark.parametrize("empty_cell_in", ["training file", "holdout file"])
def test_an_integer_category_with_an_empty_cell_keeps_its_integer_names(
    tmp_path, batch, empty_cell_in
):
    frame = _table(1500, 3)
    if empty_cell_in == "training file":
        fitted = train(tmp_path, _with_empty_shop(frame))
    else:  # the holdout's empty cell turns the stacked training column into floats too
        fitted = train(tmp_path, frame.iloc[:1100], _with_empty_shop(frame.iloc[1100:]))
    assert set(fitted.preprocessor.categories["shop"]) >= {"1", "2", "3", "4", "5"}
    # A clean batch of integers is scored on the categories the model learned, and reads the
    # same as the batch written with floats (1.0) or as text ("1").
    assert fitted.check(batch).unseen_categories == {}
    scores = fitted.scores(batch)
    for written in (batch.astype({"shop": float}), batch.astype({"shop": str})):
        np.testing.assert_array_equal(fitted.scores(written), scores)


def test_an_unseen_integer_category_is_still_unseen(model, batch):
    notes = model.check(batch.assign(shop=np.where(batch.index < 7, 9, batch["shop"])))
    assert notes.unseen_categories == {"shop": 7}


def test_true_false_is_read_as_a_category_where_training_had_it(model, batch):
    assert model.feature_schema["categorical"]["flag"]
    assert model.check(batch).unseen_categories == {}
