"""The loadable model, `imbal-pipeline score`, and the batches a model refuses."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import value

import imbal_pipeline
from imbal_pipeline.cli import commands as cli
from imbal_pipeline.core.data.synthetic import make_fraud_data
from imbal_pipeline.core.monitor.deployed import BatchError, Model, ModelFileError, score_batch


@pytest.fixture(scope="module")
def exported(small_run, tmp_path_factory):
    """The small run's exported model folder and its deployed value."""
    report = value(small_run, "evaluation_report")
    return report["settings"]["output_dir"], value(small_run, "deployed_model")


@pytest.fixture(scope="module")
def batch():
    return make_fraud_data(800, 0.04, seed=11).drop(columns="is_fraud")


def test_an_exported_model_applies_its_own_preprocessing_and_threshold(exported, batch):
    folder, deployed = exported
    model = imbal_pipeline.load_model(folder)
    proba = model.predict_proba(batch)
    assert proba.shape == (len(batch), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    decisions = model.predict(batch)
    # Decisions on the raw scores the threshold was tuned on; probabilities calibrated.
    assert decisions.tolist() == (model.scores(batch) >= model.threshold).astype(int).tolist()
    assert model.calibrator is not None
    # The same trees and threshold the store's deployed model has: one model, two homes.
    assert model.threshold == pytest.approx(deployed["meta"]["threshold"])
    assert set(model.feature_schema["categorical"]) >= {"channel", "region"}
    assert model.feature_schema["categorical"]["channel"]  # category codes travel with it
    assert model.reference.expected_rate > 0


def test_the_exported_version_is_the_deployed_models_data_version(small_run, exported):
    from conftest import data_versions

    folder, _ = exported
    assert imbal_pipeline.load_model(folder).version == data_versions(small_run)["deployed_model"]


def test_score_writes_ids_scores_decisions_and_the_model_version(exported, batch, tmp_path):
    folder, _ = exported
    model = Model.load(folder)
    scored, notes = score_batch(model, batch.assign(note="free text"))
    assert list(scored.columns) == ["row", "score", "probability", "decision", "model_version"]
    # The raw score decides; the probability is what predict_proba returns for the same rows.
    np.testing.assert_allclose(scored["probability"], model.predict_proba(batch)[:, 1])
    assert scored["decision"].tolist() == model.predict(batch).tolist()
    assert scored["row"].tolist() == list(range(len(batch)))
    assert set(scored["model_version"]) == {model.version}
    assert notes.ignored_columns == ["note"]
    # The members are scored once: their mean is the score, and their calibrated
    # probabilities, averaged per row, are the positives the prevalence rule adds up.
    from imbal_pipeline.core.train import calibration
    from imbal_pipeline.core.train.model import member_scores

    members = member_scores(model.booster, model.meta["preprocessor"], batch, 1)
    assert len(members) > 1
    np.testing.assert_allclose(scored["score"], members.mean(axis=0))
    calibrated = np.mean([calibration.apply(model.calibrator, m) for m in members], axis=0)
    assert notes.expected_positives == pytest.approx(calibrated.sum())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: b.drop(columns="amount"), "lacks feature column 'amount'"),
        (lambda b: b.drop(columns=["amount", "hour"]), "'amount' (and 1 more)"),
        (lambda b: b.iloc[:0], "the batch has no rows"),
        (
            lambda b: b.assign(amount=b["amount"].astype(str).where(b.index > 3, "n/a")),
            "batch column 'amount' has 4 values that are not numbers (e.g. 'n/a')",
        ),
    ],
)
def test_a_batch_the_model_cannot_score_is_refused_by_name(exported, batch, change, message):
    model = Model.load(exported[0])
    with pytest.raises(BatchError) as info:
        model.predict(change(batch))
    assert message in str(info.value)


def test_an_unseen_category_is_scored_and_counted(exported, batch):
    model = Model.load(exported[0])
    shifted = batch.assign(channel=np.where(np.arange(len(batch)) < 10, "kiosk", batch["channel"]))
    notes = model.check(shifted)
    assert notes.unseen_categories == {"channel": 10}
    assert np.isfinite(model.scores(shifted)).all()


def test_a_damaged_or_foreign_model_folder_is_refused(exported, tmp_path):
    folder, _ = exported
    with pytest.raises(ModelFileError, match="has no model.json"):
        Model.load(tmp_path)
    copy = tmp_path / "m"
    copy.mkdir()
    for name in ("model.txt", "model.json"):
        (copy / name).write_bytes((Path(folder) / name).read_bytes())
    meta = json.loads((copy / "model.json").read_text())
    (copy / "model.json").write_text(json.dumps({**meta, "format": "something else"}))
    with pytest.raises(ModelFileError, match="retrain with this version"):
        Model.load(copy)
    (copy / "model.json").write_text(json.dumps(meta))
    (copy / "model.txt").write_text((copy / "model.txt").read_text().replace("tree", "tref", 1))
    with pytest.raises(ModelFileError, match="does not match the digest"):
        Model.load(copy)


def test_load_model_by_version_reads_the_store(small_run, exported, tmp_path):
    folder, _ = exported
    store = str(Path(folder).parent / "storage")
    version = imbal_pipeline.load_model(folder).version
    assert imbal_pipeline.load_model(version, store=store).version == version
    assert imbal_pipeline.load_model(store=store).version == version  # the newest
    with pytest.raises(ModelFileError, match="has no version 0123456789abcdef"):
        imbal_pipeline.load_model("0123456789abcdef", store=store)
    # Scored from another folder, the store there is empty: the message says where models are.
    with pytest.raises(ModelFileError, match="no trained model in") as empty:
        imbal_pipeline.load_model(store=str(tmp_path))
    assert "or run this from the project's folder (or set $DAGSTER_HOME" in str(empty.value)
    with pytest.raises(ModelFileError, match="neither a model folder nor a model version"):
        imbal_pipeline.load_model("last-tuesday", store=store)


def test_the_score_command_writes_its_file_and_compares_the_rate(exported, batch, tmp_path, capsys):
    folder, _ = exported
    data = tmp_path / "batch.csv"
    batch.to_csv(data, index=False)
    out = tmp_path / "scores.parquet"
    status = cli.main(["score", "--data", str(data), "--model", folder, "--out", str(out)])
    printed = capsys.readouterr().out
    assert status == 0, printed
    scored = pd.read_parquet(out)
    assert len(scored) == len(batch)
    flagged = int(scored["decision"].sum())
    assert f"{flagged} of {len(batch)} rows flagged" in printed
    assert "expected" in printed and "positive_rate" in printed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "nowhere"], "neither a model folder nor a model version"),
        (["--data", "missing.csv"], "--data file not found"),
        (["--data", "/dev/zero"], "--data file /dev/zero is not a regular file (a device)"),
    ],
)
def test_score_refuses_bad_arguments_in_one_line(exported, batch, tmp_path, capsys, args, message):
    data = tmp_path / "batch.csv"
    batch.to_csv(data, index=False)
    base = {"--data": str(data), "--model": exported[0], "--out": str(tmp_path / "s.parquet")}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    status = cli.main(["score", *[x for kv in base.items() for x in kv]])
    err = capsys.readouterr().err
    assert status == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s.parquet").exists()


def test_score_exits_3_when_a_monitoring_check_fails_and_0_with_exit_zero(
    exported, batch, tmp_path, capsys
):
    folder, _ = exported
    data = tmp_path / "shifted.csv"
    batch.assign(amount=batch["amount"] * 8).to_csv(data, index=False)  # a drifted feed
    out = tmp_path / "scores.parquet"
    args = ["score", "--data", str(data), "--model", folder, "--out", str(out)]
    status = cli.main(args)
    printed = capsys.readouterr().out
    assert status == cli.ALERT_EXIT == 3, printed
    assert out.is_file()  # the scores are written all the same
    assert "monitoring check failed: " in printed and "feature_psi" in printed.splitlines()[-1]
    out.unlink()
    assert cli.main([*args, "--exit-zero"]) == 0
    assert out.is_file()


def _score_status(capsys, *argv) -> tuple[int, str]:
    status = cli.main(["score", *argv])
    return status, capsys.readouterr().err


def test_score_reads_a_batch_with_its_own_sep_else_the_models_both_ways(
    exported, batch, tmp_path, capsys
):
    # A model trained on a ';' file and one trained on a ',' file, each given the other's
    # batch: the refusal names --sep, and --sep reads the batch (nothing written before).
    comma = Model.load(exported[0])
    trained = {**comma.meta["read_options"], "sep": ";"}
    semicolon = tmp_path / "semicolon_model"
    Model(comma.booster, {**comma.meta, "read_options": trained}).save(semicolon)
    files = {",": tmp_path / "comma.csv", ";": tmp_path / "semicolon.csv"}
    for sep, path in files.items():
        batch.to_csv(path, sep=sep, index=False)
    for model, own, other in ((exported[0], ",", ";"), (str(semicolon), ";", ",")):
        out = tmp_path / f"{own}scores.parquet"
        args = ["--model", model, "--out", str(out), "--exit-zero"]
        status, err = _score_status(capsys, "--data", str(files[other]), *args)
        assert (status, err.strip().splitlines()) == (
            1,
            [
                f"imbal-pipeline: error: {files[other].name} has one column; it looks "
                f"'{other}'-separated: pass --sep '{other}'"
            ],
        )
        assert not out.exists()
        assert _score_status(capsys, "--data", str(files[other]), *args, "--sep", other)[0] == 0
        assert len(pd.read_parquet(out)) == len(batch)
        out.unlink()
        assert _score_status(capsys, "--data", str(files[own]), *args)[0] == 0  # the model's sep
    status, err = _score_status(capsys, "--data", str(files[","]), "--sep", "1", "--model", model)
    assert status == 2 and "--sep" in err and len(err.strip().splitlines()) == 1


def test_score_reads_a_tab_separated_batch_with_the_flag_its_message_names(
    exported, batch, tmp_path, capsys
):
    tabbed = tmp_path / "tabbed.tsv"
    batch.to_csv(tabbed, sep="\t", index=False)
    args = ["--data", str(tabbed), "--model", exported[0], "--exit-zero"]
    status, err = _score_status(capsys, *args, "--out", str(tmp_path / "a.parquet"))
    assert status == 1 and err.strip().endswith("it looks '\\t'-separated: pass --sep '\\t'")
    for typed in ("\\t", "tab"):
        out = tmp_path / f"{typed.strip(chr(92))}.parquet"
        assert _score_status(capsys, *args, "--out", str(out), "--sep", typed)[0] == 0
        assert len(pd.read_parquet(out)) == len(batch)


def test_score_writes_in_the_current_folder_as_its_help_says(tmp_path, monkeypatch, capsys):
    from imbal_pipeline.cli.arguments import build_parser
    from imbal_pipeline.cli.score import _score_out

    args = build_parser().parse_args(["score", "--data", "in/monday.csv.gz"])
    assert _score_out(args) == Path("monday.scores.parquet")  # the current folder
    with pytest.raises(SystemExit):
        build_parser().parse_args(["score", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "in the current folder: --data in/monday.csv writes ./monday.scores.parquet" in shown
    assert "--sep SEP this batch's CSV delimiter (default: the model's training file's)" in shown


def test_a_model_records_whether_it_was_trained_on_the_generated_demo_data(small_run):
    from imbal_pipeline.core.evaluate.evaluation import deployable
    from imbal_pipeline.core.report_model import Report
    from imbal_pipeline.core.settings import Settings

    report = value(small_run, "evaluation_report")
    parts = value(small_run, "final_model"), value(small_run, "decision_threshold")
    demo = deployable(*parts, Report.from_json(report), Settings())
    own = deployable(*parts, Report.from_json(report), Settings(data_path="own.csv"))
    assert (demo["meta"]["generated_data"], own["meta"]["generated_data"]) == (True, False)
    assert value(small_run, "deployed_model")["meta"]["generated_data"] is True
