"""Promotion through the whole graph: a weak first model, a better retraining that replaces it,
a worse one that does not, and a rollback; the comparison never scores a row either model
trained on."""

import numpy as np
import pandas as pd
import pytest
from conftest import run_graph, value

import imbal_pipeline
from imbal_pipeline.core.data import inbox
from imbal_pipeline.core.data.split import TRAIN
from imbal_pipeline.core.data.synthetic import make_fraud_data
from imbal_pipeline.core.monitor import promotion
from imbal_pipeline.core.settings import ROW_ID, SPLIT
from imbal_pipeline.store.champion import Champions
from imbal_pipeline.store.storage import AssetStore, content_hash

pytestmark = pytest.mark.slow


class Spy:
    """A model in the comparison, remembering every row it scores."""

    def __init__(self, model, seen: list):
        self._model, self._seen = model, seen

    def __getattr__(self, name):
        return getattr(self._model, name)

    def scores(self, frame):
        self._seen.append(frame)
        return self._model.scores(frame)


def _labelled_batch(root, name: str, frame: pd.DataFrame) -> None:
    folder = root / "shared" / "inbox"
    folder.mkdir(parents=True, exist_ok=True)
    frame.drop(columns="is_fraud").to_csv(folder / f"{name}.csv", index=False)
    labels = frame[["is_fraud"]].reset_index(drop=True).rename_axis("row").reset_index()
    labels.to_csv(folder / f"{name}.labels.csv", index=False)


def _line(result) -> str:
    return value(result, "evaluation_report")["promotion"]["line"]


def test_a_better_retraining_is_promoted_a_worse_one_is_not_and_rollback_restores(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(inbox, "SETTLE_SECONDS", 0.0)  # files written here are whole
    scored: list[pd.DataFrame] = []
    original = promotion.shared_rows
    monkeypatch.setattr(
        promotion,
        "shared_rows",
        lambda a, b, *rest: original(Spy(a, scored), Spy(b, scored), *rest),
    )
    data = make_fraud_data(20_000, 0.04, seed=5)
    files = tmp_path / "files"
    files.mkdir()
    data.iloc[:2_000].to_csv(files / "tenth.csv", index=False)
    data.to_csv(files / "all.csv", index=False)
    make_fraud_data(20_000, 0.04, seed=6).iloc[:2_000].to_csv(files / "other.csv", index=False)
    common = {"target": "is_fraud", "promotion_margin": 0.05}

    # A weak first model: trained on a tenth of the data, promoted as the first champion.
    first = run_graph(tmp_path, "shared", data_path=str(files / "tenth.csv"), **common)
    a = value(first, "evaluation_report")["model_version"]
    assert _line(first) == f"model {a} promoted: the first champion (none in service)"
    store = AssetStore(tmp_path / "shared" / "storage")
    assert Champions(store).version() == a
    first_train = value(first, "holdout_split")
    trained_a = set(first_train.loc[first_train[SPLIT] == TRAIN, ROW_ID])
    probe = make_fraud_data(500, 0.04, seed=8).drop(columns="is_fraud")
    scores_a = imbal_pipeline.load_model(store=str(store.base)).predict_proba(probe)

    # Labels arrive for a batch holding 60 rows the first model trained on.
    copied = data.iloc[:2_000].sample(60, random_state=1)
    _labelled_batch(tmp_path, "monday", pd.concat([make_fraud_data(3_000, 0.04, seed=7), copied]))

    # Retrained on all the data (the tenth included): better, so promoted.
    second = run_graph(tmp_path, "shared", data_path=str(files / "all.csv"), **common)
    b = value(second, "evaluation_report")["model_version"]
    evidence = value(second, "evaluation_report")["promotion"]
    assert evidence["verdict"] == promotion.PROMOTE, evidence["line"]
    assert Champions(store).version() == b
    holdout, batch = evidence["sources"]
    assert holdout["champion_trained"] > 100 and batch["champion_trained"] > 30
    # The spy: no row the first model trained on was scored, by id (holdout rows) or by its
    # content (the batch's copies); the second model's holdout holds no row it trained on.
    with_ids = [f for f in scored if ROW_ID in f.columns]
    assert with_ids and not set(pd.concat(with_ids)[ROW_ID]) & trained_a
    in_batch = pd.concat([f for f in scored if ROW_ID not in f.columns])
    trained_amounts = set(first_train.loc[first_train[SPLIT] == TRAIN, "amount"])
    assert not set(in_batch["amount"]) & trained_amounts
    assert len(in_batch) == 2 * batch["compared"]  # each row scored once by each model

    # Labels for a second batch; then a retraining on a tenth of other data: worse, kept out.
    _labelled_batch(tmp_path, "tuesday", make_fraud_data(3_000, 0.04, seed=9))
    third = run_graph(tmp_path, "shared", data_path=str(files / "other.csv"), **common)
    c = value(third, "evaluation_report")["model_version"]
    assert value(third, "evaluation_report")["promotion"]["verdict"] != promotion.PROMOTE
    assert _line(third).startswith(f"model {c} not promoted, {b} stays in service: ")
    assert f"`imbal-pipeline promote {c}` overrides" in _line(third)
    assert Champions(store).version() == b
    assert content_hash(value(third, "deployed_model")) == b  # the champion's value again
    [event] = [
        e
        for e in third.get_asset_materialization_events()
        if e.asset_key.path == ["deployed_model"]
    ]
    shown = {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}
    assert (shown["champion"], shown["challenger"], shown["promotion"]) == (b, c, _line(third))
    assert shown["verdict"] in (promotion.WORSE, promotion.UNDECIDED)
    assert shown["trained_by"] == f"run {second.run_id} (this run kept it in service)"
    assert "PR-AUC" in shown["comparison"] and "false alarms" in shown["comparison"]
    report = (tmp_path / "shared" / "report" / "report.md").read_text()
    assert "## Promotion" in report and f"model {c} not promoted" in report

    # The model kept out is stored: it can be put in service by hand, and taken out again.
    Champions(store).promote(c, "the new data matters more", "tester")
    assert imbal_pipeline.load_model(store=str(store.base)).version == c
    assert Champions(store).rollback("it misses too much", "tester")["version"] == b
    # Rolled back once more: the first model is in service again, and scores as it did.
    Champions(store).rollback("the tenth was better after all", "tester")
    again = imbal_pipeline.load_model(store=str(store.base))
    assert again.version == a
    assert np.array_equal(again.predict_proba(probe), scores_a)
