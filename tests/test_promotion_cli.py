"""`promote`, `rollback`, and what `versions`, `show`, `score` and `load_model()` say about the
champion: one source of truth, so they never disagree."""

import json
import shutil
from pathlib import Path

import dagster as dg
import pytest
from conftest import fresh_python, value

import imbal_pipeline
from imbal_pipeline.cli import commands as cli
from imbal_pipeline.core.data.synthetic import make_fraud_data
from imbal_pipeline.core.monitor import promotion
from imbal_pipeline.core.project import PROJECT_ENV, save_project
from imbal_pipeline.core.settings import Settings
from imbal_pipeline.store.champion import DEPLOYED, Champions
from imbal_pipeline.store.storage import AssetStore, content_hash


@pytest.fixture
def project(small_run, tmp_path, monkeypatch):
    """A copy of the small run's store (its model the first champion) with a second model a run
    produced and did not promote, a project file naming the store, and a Dagster home."""
    report = value(small_run, "evaluation_report")
    store_dir = tmp_path / "storage"
    shutil.copytree(Path(report["settings"]["output_dir"]).parent / "storage", store_dir)
    store = AssetStore(store_dir)
    champions = Champions(store)
    first = champions.version()
    assert first == report["model_version"]
    served = store.load(DEPLOYED, first)
    # The same trees at a lower threshold: another model, with other decisions.
    other = {"model": served["model"], "meta": {**served["meta"], "threshold": 0.02}}
    second = content_hash(other)
    store.write(DEPLOYED, other, second, "passed", "run-2")
    line = f"model {second} not promoted, {first} stays in service: too few shared positives"
    champions.add_challenger(
        second, "run-2", "passed", promotion.evidence(promotion.UNDECIDED, second, first, line)
    )
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(PROJECT_ENV, str(tmp_path / "imbal_pipeline.yaml"))
    save_project(Settings(store=str(store_dir)), tmp_path / "imbal_pipeline.yaml")
    batch = tmp_path / "batch.csv"
    make_fraud_data(400, 0.04, seed=11).drop(columns="is_fraud").to_csv(batch, index=False)
    return store, first, second, batch


def _run(capsys, *argv) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _score(capsys, batch: Path, out: Path) -> bytes:
    status, printed, err = _run(capsys, "score", "--data", str(batch), "--out", str(out))
    assert status == 0, err
    return out.read_bytes()


def test_promote_and_rollback_change_what_every_reader_serves_and_rollback_restores_scores(
    project, capsys, tmp_path
):
    store, first, second, batch = project
    before = _score(capsys, batch, tmp_path / "a.parquet")
    status, out, err = _run(capsys, "promote", second, "--reason", "catches more on the labels")
    assert status == 0, err
    assert f"deployed_model: {second} is the champion now (was {first})" in out
    assert "note:" not in out  # the same target, the same data: nothing to warn of
    assert imbal_pipeline.load_model().version == second
    promoted = _score(capsys, batch, tmp_path / "b.parquet")
    assert promoted != before
    # `versions` and `show` name the champion `score` served, and since when and why.
    status, out, err = _run(capsys, "versions", "deployed_model")
    assert status == 0, err
    assert f"champion: {second} since " in out and "catches more on the labels" in out
    assert f"{second}  in service (promoted by hand (catches more on the labels), " in out
    assert f"{first}  replaced (by {second}, promoted by hand " in out and "run none" not in out
    [served] = [line for line in out.splitlines() if line.endswith("[champion]")]
    assert served.startswith(second) and "trained by run run-2 at " in served
    status, out, _ = _run(capsys, "show", "deployed_model")
    assert out.startswith(f"deployed_model version {second}: the champion since ")

    status, out, err = _run(capsys, "rollback", "--reason", "it flags too much")
    assert status == 0, err
    assert f"deployed_model: {first} is the champion now (was {second})" in out
    assert _score(capsys, batch, tmp_path / "c.parquet") == before  # byte for byte
    assert imbal_pipeline.load_model().version == first
    records = Champions(store).records()
    assert [r["action"] for r in records] == ["first", "promote", "rollback"]
    assert records[-1]["reason"] == "it flags too much" and records[1]["evidence"]["line"]
    # Each change is an event in deployed_model's history in the Dagster instance.
    with dg.DagsterInstance.get() as instance:
        events = instance.fetch_materializations(dg.AssetKey(DEPLOYED), limit=5).records
    versions = [r.asset_materialization.tags["dagster/data_version"] for r in events]
    assert versions == [first, second]
    assert events[0].asset_materialization.metadata["verdict"].value == "rollback"


def test_a_rollback_to_a_model_of_another_target_says_so(project, capsys):
    # The trial: two rollbacks put the demo model back, and the next batch was refused.
    store, first, _, _ = project
    served = store.load(DEPLOYED, first)
    mine = {
        "model": served["model"],
        "meta": {**served["meta"], "target": "sick", "generated_data": False},
    }
    version = content_hash(mine)
    store.write(DEPLOYED, mine, version, "passed", "run-3")
    status, out, err = _run(capsys, "promote", version)
    assert status == 0, err
    assert (
        f"note: {version} predicts target 'sick', unlike {first} (target 'is_fraud', trained on "
        "the generated demo data)"
    ) in out
    status, out, err = _run(capsys, "rollback")
    assert status == 0, err
    assert (
        f"note: {first} predicts target 'is_fraud', trained on the generated demo data, unlike "
        f"{version} (target 'sick'): batches made for that one may be refused or scored for "
        f"another target; `imbal-pipeline promote {version}` puts it back"
    ) in out


def test_promote_and_rollback_refuse_what_cannot_be_done_in_one_line(project, capsys):
    _, first, _, _ = project
    status, out, _ = _run(capsys, "promote", first)
    assert status == 0 and "is the champion already, since " in out
    status, _, err = _run(capsys, "promote", "0123456789abcdef")
    assert status == 2 and "deployed_model has no version 0123456789abcdef that a run" in err
    status, _, err = _run(capsys, "promote", "last-week")
    assert status == 2 and "'last-week' is not a data version" in err
    status, _, err = _run(capsys, "rollback")
    assert status == 2 and f"no previous champion to roll back to ({first} is the first)" in err
    assert err.count("\n") == 1


def test_an_edited_champion_pointer_is_refused_alike_by_score_versions_and_show(
    project, capsys, tmp_path
):
    store, _, second, batch = project
    pointer = store.folder(DEPLOYED) / "champion.json"
    pointer.write_text(json.dumps({**json.loads(pointer.read_text()), "version": second}))
    status, _, err = _run(capsys, "score", "--data", str(batch), "--out", str(tmp_path / "x.csv"))
    assert status == 2 and "not the newest champion record" in err
    status, out, _ = _run(capsys, "versions", "deployed_model")
    assert "champion: none can be read: " in out and "not the newest champion record" in out
    status, _, err = _run(capsys, "show", "deployed_model")
    assert status == 1 and "not the newest champion record" in err
    # A promotion by hand repairs it.
    assert _run(capsys, "promote", second)[0] == 0
    assert imbal_pipeline.load_model().version == second


def test_load_model_imports_no_dagster(project):
    store, first, _, _ = project
    code = (
        "import sys, imbal_pipeline; "
        f"m = imbal_pipeline.load_model(store={str(store.base)!r}); "
        "print(m.version, 'dagster' in sys.modules)"
    )
    assert fresh_python(code).split() == [first, "False"]


def test_a_run_says_its_promotion_in_one_line_then_what_the_model_in_service_expects(
    small_run, capsys, tmp_path
):
    from imbal_pipeline.cli.runs import _print_promotion
    from imbal_pipeline.core.report_model import Report

    report = Report.from_json(value(small_run, "evaluation_report"))
    mine = report.release.model_version
    promoted = dg.AssetMaterialization(
        DEPLOYED, metadata={"champion": mine, "promotion": f"model {mine} promoted: the first"}
    )
    _print_promotion(report, promoted, str(tmp_path / "inbox"))  # (it makes the folder)
    first, second = capsys.readouterr().out.splitlines()
    assert first == f"promotion: model {mine} promoted: the first"
    assert second.startswith(f"model {mine} in service: expects ")
    kept = dg.AssetMaterialization(
        DEPLOYED, metadata={"champion": "0" * 16, "promotion": f"model {mine} not promoted, ..."}
    )
    _print_promotion(report, kept, str(tmp_path / "inbox"))
    assert capsys.readouterr().out == f"promotion: model {mine} not promoted, ...\n"


def test_the_reports_promotion_section_shows_the_line_the_figures_and_the_rows(small_run):
    from imbal_pipeline.core.data.split import HOLDOUT as HOLDOUT_SPLIT
    from imbal_pipeline.core.monitor.promotion_rows import HOLDOUT, Source, TrainedRows
    from imbal_pipeline.core.report import document
    from imbal_pipeline.core.report.report_promotion import promotion_section
    from imbal_pipeline.core.settings import LABEL, SPLIT

    champion = imbal_pipeline.load_model(
        value(small_run, "evaluation_report")["settings"]["output_dir"]
    )
    split = value(small_run, "holdout_split")
    holdout = split[split[SPLIT] == HOLDOUT_SPLIT].reset_index(drop=True)
    none = TrainedRows.of(holdout.iloc[:0], champion.feature_schema, [])
    source = [Source("holdout", HOLDOUT, holdout, holdout[LABEL].to_numpy())]
    evidence = promotion.compare(champion, champion, none, none, source, 0.05)
    text = document.markdown("t", promotion_section({"promotion": evidence}))
    assert "## Promotion" in text and evidence["line"] in text
    # A verdict, not a record of what serves: the report says where that is told.
    assert "What serves now: `imbal-pipeline versions deployed_model`." in text
    for row in ("| PR-AUC |", "| positives caught (of ", "| false alarms |", "| rows flagged (of "):
        assert row in text, text
    assert f"| holdout | {len(holdout):,} | 0 | 0 | 0 | {len(holdout):,} (" in text
    # Too few positives is one reason for undecided; an interval across the margin the other.
    assert "With more it is undecided when the PR-AUC difference's bounds reach across" in text


def test_the_first_models_materialization_says_it_was_compared_with_nothing(small_run):
    [event] = [
        e
        for e in small_run.get_asset_materialization_events()
        if e.asset_key.path == ["deployed_model"]
    ]
    shown = {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}
    # No model was in service: a sentence with the promotion line, not an empty table.
    assert shown["comparison"] == f"no comparison: {shown['promotion']}"
    assert "promoted" in shown["promotion"]
    assert shown["trained_by"] == f"run {small_run.run_id}"  # this run's own model


def test_a_batch_for_another_model_is_told_which_model_is_in_service(project, capsys, tmp_path):
    # The user's own file's batch given to the demo model in service: the refusal names the
    # model in service, what it predicts and that it is the demo's, and how to name another.
    store, first, _, batch = project
    thyroid = tmp_path / "thyroid.csv"
    thyroid.write_text("f0,f1,target\n1,2,0\n3,4,1\n")
    status, printed, err = _run(capsys, "score", "--data", str(thyroid))
    assert (status, printed, err.strip().splitlines()) == (
        1,
        "",
        [
            f"imbal-pipeline: error: the batch lacks feature column 'amount' (and 11 more) that "
            f"the model in service ({first}, target 'is_fraud', trained on the generated demo "
            "data) was trained on; add it (empty values are allowed); or score with its own "
            "model: --model FOLDER|VERSION"
        ],
    )
    # A model named by hand is named as such, without the advice to name one.
    status, _, err = _run(capsys, "score", "--data", str(thyroid), "--model", first)
    assert status == 1 and f"that model {first} (target 'is_fraud', trained on" in err
    assert "--model" not in err


def test_a_run_on_the_users_own_file_replaces_the_demo_model_in_service(project):
    # The small run's champion was trained on the generated data; a model of a user's file
    # takes its place without a comparison (no rows are needed), and says so.
    from imbal_pipeline.store.challenge import challenge
    from imbal_pipeline.store.models import from_store_value

    store, first, _, _ = project
    served = store.load(DEPLOYED, first)
    assert served["meta"]["generated_data"] is True
    own = {"model": served["model"], "meta": {**served["meta"], "generated_data": False}}
    mine = from_store_value(own, content_hash(own))
    found = challenge(store, Settings(data_path="/data/thyroid_sick.csv"), mine, None, None)
    assert found["verdict"] == promotion.REPLACES_DEMO
    assert found["line"].startswith(f"model {mine.version} promoted, replacing {first} without")
    assert "your own file (thyroid_sick.csv)" in found["line"]
