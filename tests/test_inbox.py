"""The inbox: which files are batches, their keys, and labelled batches as training data."""

import pandas as pd
import pytest
from conftest import project

from imbal_pipeline.core import inbox, inputs
from imbal_pipeline.core.data import DataError
from imbal_pipeline.core.synthetic import make_fraud_data
from imbal_pipeline.core.versions import data_fingerprint


def test_batches_are_keyed_by_name_and_content_and_labels_files_are_not_batches(tmp_path):
    (tmp_path / "week 1.csv").write_text("a,b\n1,2\n")
    (tmp_path / "week 1.labels.csv").write_text("row,is_fraud\n0,1\n")
    (tmp_path / ".upload.csv").write_text("a\n1\n")  # hidden: an upload in progress
    (tmp_path / "notes.txt").write_text("not data")
    known: dict[str, str] = {}
    [batch] = inbox.list_batches(tmp_path, known)
    assert batch.key == f"week_1_{batch.digest[:12]}"
    assert batch.labels_path == tmp_path / "week 1.labels.csv"
    assert len(known) == 1  # the hash is remembered by name, size and mtime
    (tmp_path / "week 1.csv").write_text("a,b\n1,3\n")  # same name, new content: a new batch
    [changed] = inbox.list_batches(tmp_path, known)
    assert changed.key != batch.key and changed.key.startswith("week_1_")
    with pytest.raises(FileNotFoundError, match="moved, deleted or changed since it arrived"):
        inbox.find_batch(tmp_path, batch.key)


def test_labelled_batches_join_the_training_data_and_change_its_version(tmp_path):
    train = make_fraud_data(1000, 0.05, seed=1)
    train.to_csv(tmp_path / "train.csv", index=False)
    folder = tmp_path / "inbox"
    folder.mkdir()
    batch = make_fraud_data(300, 0.05, seed=2)
    batch.drop(columns="is_fraud").to_csv(folder / "b.csv", index=False)
    s = project(data_path=str(tmp_path / "train.csv"), inbox=str(folder), labelled_batches=True)
    alone = data_fingerprint(s)
    labels = batch[["is_fraud"]].rename_axis("row").reset_index().iloc[:200]
    labels["is_fraud"] = labels["is_fraud"].astype(float)  # 1.0 where training has 1
    labels.to_csv(folder / "b.labels.csv", index=False)
    frame, source = inputs.load_raw(s)
    assert len(frame) == 1200 and "b.csv (200 labelled rows)" in source
    assert frame["is_fraud"].dtype == train["is_fraud"].dtype
    assert frame["is_fraud"].iloc[1000:].tolist() == batch["is_fraud"].iloc[:200].tolist()
    assert data_fingerprint(s) != alone  # new labels are a new data version
    # Without the option, labels in the inbox are not training data.
    assert data_fingerprint(project(data_path=s.data_path, inbox=str(folder))) == alone
    pd.DataFrame({"id": [0], "is_fraud": [1]}).to_csv(folder / "b.labels.csv", index=False)
    with pytest.raises(DataError, match="b.labels.csv needs the columns 'row' and 'is_fraud'"):
        inputs.load_raw(s)
