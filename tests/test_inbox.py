"""The inbox: which files are batches, their keys, and labelled batches as training data."""

import hashlib
import os

import pandas as pd
import pytest
from conftest import project, settled

from imbal_pipeline.core import inputs
from imbal_pipeline.core.data import inbox
from imbal_pipeline.core.data.data import DataError
from imbal_pipeline.core.data.synthetic import make_fraud_data
from imbal_pipeline.core.data.versions import data_fingerprint


def test_batches_are_keyed_by_name_and_content_and_labels_files_are_not_batches(tmp_path):
    (tmp_path / "week 1.csv").write_text("a,b\n1,2\n")
    (tmp_path / "week 1.labels.csv").write_text("row,is_fraud\n0,1\n")
    (tmp_path / ".upload.csv").write_text("a\n1\n")  # hidden: an upload in progress
    (tmp_path / "notes.txt").write_text("not data")
    settled(*tmp_path.iterdir())
    known: dict[str, str] = {}
    [batch] = inbox.list_batches(tmp_path, known)
    assert batch.key == f"week_1_{batch.digest[:12]}"
    assert batch.labels_path == tmp_path / "week 1.labels.csv"
    assert len(known) == 1  # the hash is remembered by name, size and mtime
    (tmp_path / "week 1.csv").write_text("a,b\n1,3\n")  # same name, new content: a new batch
    settled(tmp_path / "week 1.csv")
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
    settled(folder / "b.csv")
    s = project(data_path=str(tmp_path / "train.csv"), inbox=str(folder), labelled_batches=True)
    alone = data_fingerprint(s)
    labels = batch[["is_fraud"]].rename_axis("row").reset_index().iloc[:200]
    labels["is_fraud"] = labels["is_fraud"].astype(float)  # 1.0 where training has 1
    labels.to_csv(folder / "b.labels.csv", index=False)
    settled(folder / "b.labels.csv")
    frame, source = inputs.load_raw(s)
    assert len(frame) == 1200 and "b.csv (200 labelled rows)" in source
    assert frame["is_fraud"].dtype == train["is_fraud"].dtype
    assert frame["is_fraud"].iloc[1000:].tolist() == batch["is_fraud"].iloc[:200].tolist()
    assert data_fingerprint(s) != alone  # new labels are a new data version
    # Without the option, labels in the inbox are not training data.
    assert data_fingerprint(project(data_path=s.data_path, inbox=str(folder))) == alone
    pd.DataFrame({"id": [0], "is_fraud": [1]}).to_csv(folder / "b.labels.csv", index=False)
    settled(folder / "b.labels.csv")
    with pytest.raises(DataError, match="b.labels.csv needs the columns 'row' and 'is_fraud'"):
        inputs.load_raw(s)


# --- only whole, real files, each content once ----------------------------------------------


def _write(path, text: str, mtime: float | None = None):
    path.write_text(text)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_a_file_still_being_written_is_taken_once_it_has_settled_and_scored_whole(tmp_path):
    half = _write(tmp_path / "week 2.csv", "a,b\n1,2\n")  # mtime now: a writer is at work
    assert inbox.list_batches(tmp_path) == []  # the default clock and settle time
    written = half.stat().st_mtime
    found = inbox.look(tmp_path, now=written + 3, settle=10)
    assert found.batches == ()
    assert found.notes == {
        "week 2.csv": "week 2.csv is still being written; it is taken once unchanged for 10 s"
    }
    with open(half, "a") as fh:  # the writer goes on
        fh.write("3,4\n")
    whole = half.stat().st_mtime
    assert inbox.list_batches(tmp_path, now=written + 10, settle=10) == []  # it moved again
    [batch] = inbox.list_batches(tmp_path, now=whole + 10, settle=10)
    assert batch.digest == _sha("a,b\n1,2\n3,4\n")  # all its rows
    # A copy dated in the future waits too, and says why.
    _write(tmp_path / "ahead.csv", "a\n1\n", mtime=whole + 3600)
    assert "modified in the future" in inbox.look(tmp_path, now=whole + 10).notes["ahead.csv"]


def test_a_file_that_changes_while_it_is_hashed_is_not_taken(tmp_path, monkeypatch):
    path = _write(tmp_path / "grows.csv", "a\n1\n", mtime=1e9)
    real = hashlib.sha256

    class Appending:  # the writer appends with every block read: the read must still end
        def __init__(self):
            self.inner = real()

        def update(self, block):
            self.inner.update(block)
            with open(path, "a") as fh:
                fh.write("2\n")

        def hexdigest(self):
            return self.inner.hexdigest()

    monkeypatch.setattr(inbox.hashlib, "sha256", Appending)
    found = inbox.look(tmp_path, now=2e9)
    assert found.batches == () and "grows.csv changed while it was read" in found.notes["grows.csv"]


def test_the_same_bytes_under_a_second_name_are_one_batch(tmp_path):
    first = _write(tmp_path / "monday.csv", "a,b\n1,2\n", mtime=1e9)
    copy = _write(tmp_path / "monday (1).csv", "a,b\n1,2\n", mtime=1e9 + 60)
    _write(tmp_path / "tuesday.csv", "a,b\n5,6\n", mtime=1e9 + 120)
    assert [b.path.name for b in inbox.list_batches(tmp_path)] == ["monday.csv", "tuesday.csv"]
    found = inbox.look(tmp_path, now=2e9)
    assert [b.path for b in found.batches] == [first, tmp_path / "tuesday.csv"]
    [twin] = found.copies
    assert twin.path == copy and twin.digest == found.batches[0].digest
    key = found.batches[0].key
    assert found.notes == {
        "monday (1).csv": f"monday (1).csv has the same bytes as batch {key}; the same bytes are "
        "scored once (delete the copy)"
    }
    assert len(inbox.list_batches(tmp_path, now=2e9)) == 2
    # A partition made for the copy by an earlier release still finds its file.
    assert inbox.find_batch(tmp_path, twin.key, now=2e9).path == copy
    # Labels beside the copy are the batch's labels when it has none of its own.
    labels = _write(tmp_path / "monday (1).labels.csv", "row,y\n0,1\n", mtime=1e9)
    assert inbox.look(tmp_path, now=2e9).batches[0].labels_path == labels


def test_links_are_never_followed_wherever_they_point(tmp_path):
    outside = tmp_path / "secret"
    outside.mkdir()
    _write(outside / "passwords.csv", "user,password\nroot,hunter2\n", mtime=1e9)
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "passwords.csv").symlink_to(outside / "passwords.csv")
    (folder / "folder.csv").symlink_to(outside, target_is_directory=True)
    (folder / "mine.csv").symlink_to(folder / "real.csv")  # inside the inbox: refused too
    _write(folder / "real.csv", "a\n1\n", mtime=1e9)
    (folder / "real.labels.csv").symlink_to(outside / "passwords.csv")
    os.mkfifo(folder / "pipe.csv")  # not a file: does not block the look
    assert [b.path for b in inbox.list_batches(folder)] == [folder / "real.csv"]
    known: dict[str, str] = {}
    found = inbox.look(folder, known, now=2e9)
    [batch] = found.batches
    assert batch.path == folder / "real.csv" and found.copies == ()
    assert len(known) == 1  # the links' targets were never read
    link = "is a symbolic link; the inbox never follows links: put the file itself in"
    assert found.notes == {
        "passwords.csv": f"passwords.csv {link}",
        "folder.csv": f"folder.csv {link}",
        "mine.csv": f"mine.csv {link}",
        "real.labels.csv": f"real.labels.csv {link}",
        "pipe.csv": "pipe.csv is not a regular file; put a data file in the inbox",
    }
    assert batch.labels_path is None and batch.labels_note == f"real.labels.csv {link}"
    assert not inbox.is_batch_file(folder / "passwords.csv")
    with pytest.raises(OSError, match="not a regular file"):
        inbox.file_sha256(folder / "passwords.csv")


def test_labelled_training_takes_only_whole_labels_files_and_each_batch_once(tmp_path):
    train = make_fraud_data(1000, 0.05, seed=1)
    train.to_csv(tmp_path / "train.csv", index=False)
    folder = tmp_path / "inbox"
    folder.mkdir()
    batch = make_fraud_data(300, 0.05, seed=2)
    labels = batch[["is_fraud"]].rename_axis("row").reset_index()
    for name, ago in (("b", 120), ("b copy", 60)):  # the same batch twice, each with labels
        batch.drop(columns="is_fraud").to_csv(folder / f"{name}.csv", index=False)
        labels.to_csv(folder / f"{name}.labels.csv", index=False)
        settled(folder / f"{name}.csv", folder / f"{name}.labels.csv", ago=ago)
    s = project(data_path=str(tmp_path / "train.csv"), inbox=str(folder), labelled_batches=True)
    frame, source = inputs.load_raw(s)
    assert len(frame) == 1300 and "b copy.csv" not in source  # its rows count once
    version = data_fingerprint(s)
    # Labels still being written wait; labels behind a link are never read.
    os.remove(folder / "b copy.csv")
    labels.iloc[:10].to_csv(folder / "b.labels.csv", index=False)  # mtime now: being written
    assert len(inputs.load_raw(s)[0]) == 1000 and data_fingerprint(s) != version
    outside = tmp_path / "elsewhere.labels.csv"
    labels.to_csv(outside, index=False)
    os.remove(folder / "b.labels.csv")
    (folder / "b.labels.csv").symlink_to(outside)
    settled(outside)
    frame, source = inputs.load_raw(s)
    assert len(frame) == 1000 and source.endswith("no labelled batch yet")


def test_a_batch_replaced_between_being_found_and_read_is_not_scored_as_that_batch(tmp_path):
    from imbal_pipeline.core.data.data import read_table_hashed

    path = tmp_path / "monday.csv"
    make_fraud_data(50, 0.1, seed=1).to_csv(path, index=False)
    settled(path)
    [batch] = inbox.list_batches(tmp_path)
    assert len(inbox.read_batch(batch, read_table_hashed)) == 50
    make_fraud_data(60, 0.1, seed=2).to_csv(path, index=False)  # another upload, same name
    with pytest.raises(FileNotFoundError, match="changed between being found .* and being read"):
        inbox.read_batch(batch, read_table_hashed)


def _in_service(capsys, inbox_path) -> str:
    """The line a run prints when its model is put in service, naming the inbox."""
    from types import SimpleNamespace

    from imbal_pipeline.cli.runs import _print_promotion

    reference = {
        "expected_rate": 0.02,
        "training_rows": 1000,
        "holdout_rate": 0.02,
        "holdout_interval": [0.01, 0.03],
    }
    release = SimpleNamespace(model_version="0123456789abcdef", promotion=None)
    report = SimpleNamespace(release=release, monitoring_reference=reference)
    said = SimpleNamespace(metadata={"champion": "0123456789abcdef", "promotion": "promoted"})
    _print_promotion(report, said, str(inbox_path))
    return capsys.readouterr().out.splitlines()[-1]


def test_the_inbox_a_run_tells_the_user_to_drop_batches_into_is_there(tmp_path, capsys):
    folder = tmp_path / "imbal_inbox"
    line = _in_service(capsys, folder)
    assert folder.is_dir()  # made, so that the user can drop a file into it
    assert f"or drop it into {folder} while `imbal-pipeline ui` runs" in line
    (tmp_path / "taken").write_text("a file where the inbox would be")
    line = _in_service(capsys, tmp_path / "taken")
    assert f"or make the folder {tmp_path / 'taken'} (File exists) and drop it there" in line
