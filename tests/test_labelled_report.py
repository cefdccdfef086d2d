"""A retraining on labelled inbox batches names the batches it added: which files, their rows
and positives, in report.json's dataset section, report.md and report.html."""

import dataclasses
import types

import dagster as dg
import pytest
from conftest import graph, settled

from imbal_pipeline.core import inputs
from imbal_pipeline.core.data import versions
from imbal_pipeline.core.data.synthetic import make_fraud_data
from imbal_pipeline.core.report import report
from imbal_pipeline.defs.assets import evaluation


@pytest.fixture
def inbox_with_labels(tmp_path):
    """A training file and two labelled batches in the inbox (and one without labels)."""
    make_fraud_data(1000, 0.05, seed=1).to_csv(tmp_path / "train.csv", index=False)
    folder = tmp_path / "inbox"
    folder.mkdir()
    expected = {}
    for name, rows, seed, ago in (("monday", 300, 2, 120), ("tuesday", 200, 3, 60)):
        batch = make_fraud_data(rows, 0.1, seed=seed)
        batch.drop(columns="is_fraud").to_csv(folder / f"{name}.csv", index=False)
        labels = batch[["is_fraud"]].rename_axis("row").reset_index()
        labels.to_csv(folder / f"{name}.labels.csv", index=False)
        settled(folder / f"{name}.csv", folder / f"{name}.labels.csv", ago=ago)
        expected[f"{name}.csv"] = (rows, int(batch["is_fraud"].sum()))
    make_fraud_data(50, 0.1, seed=4).drop(columns="is_fraud").to_csv(folder / "wed.csv")
    settled(folder / "wed.csv")
    values = dict(data_path=str(tmp_path / "train.csv"), target="is_fraud", inbox=str(folder))
    return tmp_path, values, expected


def test_load_raw_counts_the_rows_and_positives_of_each_batch_it_adds(inbox_with_labels):
    root, values, expected = inbox_with_labels
    s = graph(root, labelled_batches=True, **values).resources["pipeline"].settings()
    read = versions.TableReader(s.read_options)
    frame, _ = inputs.load_raw(s, read)
    assert len(frame) == 1500
    found = {b["batch"]: (b["rows"], b["positives"]) for b in read.labelled}
    assert found == expected
    assert {b["labels"] for b in read.labelled} == {"monday.labels.csv", "tuesday.labels.csv"}


def test_the_report_names_each_labelled_batch_the_run_added(inbox_with_labels):
    root, values, expected = inbox_with_labels
    defs = graph(root, labelled_batches=True, **values)
    s = defs.resources["pipeline"].settings()
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [a for a in defs.assets if a.key.to_user_string() in ("raw_file", "raw_data")],
            instance=instance,
            resources=defs.resources,
        )
        run = types.SimpleNamespace(run_id=result.run_id)
        context = types.SimpleNamespace(instance=instance, run=run)
        added = evaluation._labelled_batches(context, s)
        plain = dataclasses.replace(s, labelled_batches=False)
        assert evaluation._labelled_batches(context, plain) is None  # not asked for: not said
    dataset = {"labelled_batches": added}
    assert {b["batch"]: (b["rows"], b["positives"]) for b in added} == expected
    page = {"dataset": {"rows": 1200, "positives": 70, **dataset}}
    md, html = report.render_markdown(page), report.render_html(page)
    rows = sum(r for r, _ in expected.values())
    positives = sum(p for _, p in expected.values())
    for text in (md, html):
        assert "Trained with 2 labelled inbox batches added to the training file" in text
        assert f"{rows} rows, {positives} positives" in text
        for name in expected:
            assert name in text and name.replace(".csv", ".labels.csv") in text
    assert "| `monday.csv` | monday.labels.csv | 300 |" in md
    none = report.render_markdown({"dataset": {"labelled_batches": []}})
    assert "none had arrived" in none
