"""The scoring side of the bad-input catalogue: batches a model must refuse in one line, or read
as training read its rows.

Each model here is trained by the core (`method.fit_and_evaluate`, one rung, 20 trees) in
about a second, so every case runs without a graph.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import settled

from imbal_pipeline.core import method
from imbal_pipeline.core.data.synthetic import make_fraud_data
from imbal_pipeline.core.evaluate import evaluation
from imbal_pipeline.core.monitor.deployed import BatchError, Model, score_batch
from imbal_pipeline.core.settings import Settings

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
    value = evaluation.deployable(outcome.final, outcome.decision, outcome.typed, s)
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


# --- batches refused in one line -------------------------------------------------------------


def _amount(render):
    return lambda b: b.assign(amount=b["amount"].map(render))


def _some(values):
    """`amount` with its first rows replaced by `values`, as an object column."""

    def change(b):
        amount = b["amount"].astype(object)
        amount.iloc[: len(values)] = values
        return b.assign(amount=amount)

    return change


REFUSED = [
    ("infinity", _some([np.inf, -np.inf]), "batch column 'amount' has 2 infinite values"),
    ("infinity read from text", _amount(lambda v: "inf"), "has 300 infinite values"),
    ("1e200", _some([1e200, -3e150]), "'amount' has 2 values beyond 1e100 in size (e.g. 1e+200)"),
    ("1e200 read from text", _amount(lambda v: "1e200"), "has 300 values beyond 1e100 in size"),
    ("True/False", _amount(lambda v: v > 50), "batch column 'amount' holds True/False"),
    ("True/False with gaps", _some([True, False, None]), "'amount' holds True/False"),
    ("formulas", _amount(lambda v: f'="{v:.2f}"'), "holds numbers wrapped in spreadsheet"),
    ("apostrophes", _amount(lambda v: f"'{v:.2f}"), "marked as text by a leading apostrophe"),
    ("non-breaking spaces", _amount(lambda v: f"{v:.2f}\u00a0"), "padded with invisible spaces"),
    ("currency", _amount(lambda v: f"${v:.2f}"), "holds amounts with a currency sign"),
    ("a Unicode minus", _amount(lambda v: f"\u2212{v:.2f}"), "holds numbers in look-alike"),
    ("a zero-width space", _amount(lambda v: f"{v:.2f}\u200b"), "or zero-width spaces, a byte"),
    ("negatives in parentheses", _amount(lambda v: f"({v:.2f})"), "with a leading minus (-47.87)"),
    ("dates", _amount(lambda v: "Jun 11, 2020"), "holds dates or times (e.g. 'Jun 11, 2020')"),
    (
        "durations",
        lambda b: b.assign(amount=pd.to_timedelta(b["amount"], unit="s")),
        "batch column 'amount' is stored as durations",
    ),
    (
        "timestamps",
        lambda b: b.assign(amount=pd.Timestamp("2020-01-04")),
        "'amount' is stored as dates or times",
    ),
]


@pytest.mark.parametrize(("case", "change", "message"), REFUSED, ids=[c[0] for c in REFUSED])
def test_a_batch_the_model_would_misread_is_refused_in_one_line(
    model, batch, case, change, message
):
    with pytest.raises(BatchError) as info:
        score_batch(model, change(batch))
    said = str(info.value)
    assert message in said and "\n" not in said, said


def test_a_batch_refused_by_the_score_command_leaves_no_file(model, batch, tmp_path, capsys):
    from imbal_pipeline.cli import commands as cli

    folder = tmp_path / "model"
    model.save(folder)
    data = tmp_path / "batch.csv"
    batch.assign(amount=batch["amount"].where(batch.index != 3, np.inf)).to_csv(data, index=False)
    out = tmp_path / "scores.parquet"
    status = cli.main(["score", "--data", str(data), "--model", str(folder), "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 1 and not out.exists()  # 1: a batch refused (2: bad arguments)
    assert "batch column 'amount' has 1 infinite values" in err
    assert len(err.strip().splitlines()) == 1


# --- labels matched exactly against the model's classes --------------------------------------


def _scores(n: int = 4) -> pd.DataFrame:
    return pd.DataFrame({"row": range(n), "score": np.linspace(0.1, 0.9, n)})


def _labels(*values) -> pd.DataFrame:
    return pd.DataFrame({"row": range(len(values)), "churned": list(values)})


TEXT_CLASSES = {"id_column": None, "target": "churned", "version": "v1"}
TEXT_CLASSES |= {"positive_label": "yes", "negative_labels": ["no"]}


@pytest.mark.parametrize(
    ("labels", "stray"),
    [
        (_labels("yes", "no", "unknown", "no"), "'unknown'"),
        (_labels("no", "Yes", "no", "yes"), "'Yes'"),
        (_labels("no", " yes", "no", "no"), "' yes'"),
    ],
)
def test_a_label_that_is_neither_class_is_refused_not_counted_negative(labels, stray):
    from imbal_pipeline.core.data.data import DataError
    from imbal_pipeline.core.report.monitor_report import join_labels

    with pytest.raises(DataError) as info:
        join_labels(_scores(), labels, TEXT_CLASSES)
    said = str(info.value)
    assert f"label values that are no class the model learns (e.g. {stray})" in said, said
    assert "the classes are 'yes' (positive), 'no'" in said and "\n" not in said
    y, _ = join_labels(_scores(), _labels("yes", "no", "no", "yes"), TEXT_CLASSES)
    assert y.tolist() == [1, 0, 0, 1]


def test_a_model_records_its_negative_labels_for_the_labels_to_come(model):
    from imbal_pipeline.core.report.monitor_report import join_labels, model_summary

    summary = model_summary(model)
    assert (summary["positive_label"], summary["negative_labels"]) == ("1", ["0"])
    y, _ = join_labels(
        _scores(), _labels(1.0, 0.0, 0, 1).rename(columns={"churned": "is_fraud"}), summary
    )
    assert y.tolist() == [1, 0, 0, 1]  # 1.0 is the training file's 1


def test_labels_for_a_model_that_did_not_record_its_negative_class():
    from imbal_pipeline.core.data.data import DataError
    from imbal_pipeline.core.report.monitor_report import join_labels

    older = {k: v for k, v in TEXT_CLASSES.items() if k != "negative_labels"}
    with pytest.raises(DataError, match="model v1 does not record its negative class"):
        join_labels(_scores(), _labels("yes", "no", "no", "yes"), older)
    # 0/1 and True/False models have a conventional negative class and are checked against it.
    binary = older | {"target": "is_fraud", "positive_label": "1"}
    with pytest.raises(DataError, match="e.g. '2'"):
        join_labels(_scores(), _labels(1, 0, 2, 0).rename(columns={"churned": "is_fraud"}), binary)


def test_labelled_batches_whose_labels_are_no_training_class_are_refused(tmp_path):
    from imbal_pipeline.core import inputs
    from imbal_pipeline.core.data.data import DataError

    train_rows = _table(600, 5).assign(is_fraud=lambda f: np.where(f["is_fraud"] == 1, "yes", "no"))
    train_rows.to_csv(tmp_path / "train.csv", index=False)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _table(50, 6, labelled=False).to_csv(inbox / "b.csv", index=False)
    s = Settings(
        data_path=str(tmp_path / "train.csv"),
        inbox=str(inbox),
        labelled_batches=True,
        positive_label="yes",
    )
    for stray in ("Yes", "unknown"):
        _labels("no", stray, "yes").rename(columns={"churned": "is_fraud"}).to_csv(
            inbox / "b.labels.csv", index=False
        )
        settled(*inbox.iterdir())  # the inbox takes whole files only
        with pytest.raises(DataError) as info:
            inputs.load_raw(s)
        said = str(info.value)
        assert "labels file b.labels.csv has label values that are no class" in said, said
        assert f"(e.g. {stray!r}); the classes are 'no', 'yes'" in said
    _labels("no", "no", "yes").rename(columns={"churned": "is_fraud"}).to_csv(
        inbox / "b.labels.csv", index=False
    )
    settled(*inbox.iterdir())
    frame, _ = inputs.load_raw(s)
    assert frame["is_fraud"].iloc[600:].tolist() == ["no", "no", "yes"]


def test_a_damaged_labelled_batch_is_named_with_the_fix_a_rerun_cannot_give(tmp_path):
    import gzip

    from imbal_pipeline.core import inputs
    from imbal_pipeline.core.data.data import DataError

    _table(600, 5).to_csv(tmp_path / "train.csv", index=False)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    whole = gzip.compress(_table(50, 6, labelled=False).to_csv(index=False).encode())
    (inbox / "b.csv.gz").write_bytes(whole[: len(whole) // 2])
    _labels(0, 1, 0).rename(columns={"churned": "is_fraud"}).to_csv(
        inbox / "b.labels.csv", index=False
    )
    settled(*inbox.iterdir())
    s = Settings(data_path=str(tmp_path / "train.csv"), inbox=str(inbox), labelled_batches=True)
    with pytest.raises(DataError) as info:
        inputs.load_raw(s)
    said = str(info.value)
    assert said.startswith("labelled batch b.csv.gz: b.csv.gz in the inbox is a damaged gzip")
    assert "remove it (and its labels file) from the inbox, or upload it again whole" in said
    assert "\n" not in said


def test_labels_repeating_an_id_with_another_label_are_refused_not_last_wins():
    from imbal_pipeline.core.data.data import DataError
    from imbal_pipeline.core.report.monitor_report import join_labels

    conflicting = pd.DataFrame({"row": [0, 1, 1, 2, 3, 3], "churned": ["no", "yes", "no"] * 2})
    with pytest.raises(DataError) as info:
        join_labels(_scores(), conflicting, TEXT_CLASSES)
    said = str(info.value)
    assert (
        "the labels file repeats ids with different labels (2 id(s), e.g. id '1': 'yes' and 'no')"
        in said
    )
    assert "\n" not in said
    # The same label twice is one label: the row counts once.
    repeated = pd.DataFrame({"row": [0, 1, 1, 2, 3], "churned": ["no", "yes", "yes", "no", "yes"]})
    y, scores = join_labels(_scores(), repeated, TEXT_CLASSES)
    assert y.tolist() == [0, 1, 0, 1] and len(scores) == 4


def test_a_labelled_batch_repeating_an_id_with_another_label_is_refused(tmp_path):
    from imbal_pipeline.core import inputs
    from imbal_pipeline.core.data.data import DataError

    _table(600, 5).to_csv(tmp_path / "train.csv", index=False)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _table(50, 6, labelled=False).to_csv(inbox / "b.csv", index=False)
    s = Settings(data_path=str(tmp_path / "train.csv"), inbox=str(inbox), labelled_batches=True)
    for labels, refused in (([0, 1, 0, 0], True), ([0, 1, 1, 0], False)):
        rows = pd.DataFrame({"row": [0, 1, 1, 2], "is_fraud": labels})
        rows.to_csv(inbox / "b.labels.csv", index=False)
        settled(*inbox.iterdir())
        if refused:
            with pytest.raises(DataError) as info:
                inputs.load_raw(s)
            said = str(info.value)
            assert said.startswith(
                "labelled batch b.csv: labels file b.labels.csv repeats ids with"
            )
            assert "(1 id(s), e.g. id '1': 1 and 0); keep the one right label of each id" in said
        else:  # an identical repeat is one label
            frame, _ = inputs.load_raw(s)
            assert frame["is_fraud"].iloc[600:].tolist() == [0, 1, 0]


def test_a_renamed_feature_column_is_named_beside_the_one_missing(model, batch):
    from imbal_pipeline.core.monitor.deployed import MissingColumnsError

    renamed = batch.rename(columns={"amount": "amount_v2"})
    with pytest.raises(MissingColumnsError) as refused:
        model.check(renamed)
    assert "lacks feature column 'amount' (the batch has 'amount_v2': renamed?) that" in str(
        refused.value
    )
    # Nothing close: no guess.
    with pytest.raises(MissingColumnsError) as refused:
        model.check(batch.drop(columns="amount"))
    assert "renamed?" not in str(refused.value)
