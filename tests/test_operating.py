"""The operating half through Dagster: inbox file -> scored_batch -> checks -> retraining."""

import json

import dagster as dg
import pytest
from conftest import data_versions, graph, settled, training_assets

from imbal_pipeline.cli.runs import failure_reason
from imbal_pipeline.core.data.synthetic import make_fraud_data
from imbal_pipeline.defs.assets.common import JUDGED_KEY


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A trained and deployed model in a real instance, an empty inbox beside it."""
    root = tmp_path_factory.mktemp("operating")
    # 6,000 rows: the holdout's 1,200 rows pin the expected rate down enough that a batch with a
    # tenth of the positives lies significantly below it (600 rows left that within the noise).
    defs = graph(root, generated_rows=6000)
    # In-memory storage: the same event log and sensors, without a database on disk.
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(training_assets(defs), instance=instance, resources=defs.resources)
        assert result.success
        yield root, defs, instance, data_versions(result)["deployed_model"]


def _tick(defs, instance, name: str, cursor: str | None = None):
    """One evaluation of a sensor, its partition requests applied as the daemon applies them."""
    with dg.build_sensor_context(instance=instance, cursor=cursor) as context:
        result = defs.resolve_sensor_def(name)(context)
        cursor = context.cursor
    if isinstance(result, dg.SensorResult):
        for request in result.dynamic_partitions_requests or []:
            instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)
        result = result.run_requests or dg.SkipReason("nothing")
    if isinstance(result, dg.RunRequest):
        result = [result]
    return result, cursor


def _score(defs, instance, key: str, job: str = "score_batches"):
    return defs.resolve_job_def(job).execute_in_process(
        instance=instance, partition_key=key, raise_on_error=False
    )


def _checks(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def _batch(root, name: str, rows: int, rate: float, seed: int, **shift):
    frame = make_fraud_data(rows, rate, seed=seed)
    for column, factor in shift.items():
        frame[column] = frame[column] * factor
    path = root / "inbox" / name
    path.parent.mkdir(exist_ok=True)
    frame.drop(columns="is_fraud").to_csv(path, index=False)
    settled(path)
    return frame


def test_a_batch_like_the_training_data_is_scored_once_by_the_deployed_model_without_alerts(
    trained,
):
    root, defs, instance, deployed = trained
    labelled = _batch(root, "monday.csv", 3000, 0.04, seed=21)
    [request], cursor = _tick(defs, instance, "inbox_sensor")
    key = request.partition_key
    assert key.startswith("monday_") and request.run_key == key
    result = _score(defs, instance, key)
    assert result.success
    checks = _checks(result)
    assert set(checks) == {
        "positive_rate",
        "score_psi",
        "feature_psi",
        "missing_and_unseen",
        "recent_prevalence",
    }
    assert all(c.passed for c in checks.values()), {
        n: c.metadata["message"].value for n, c in checks.items()
    }
    [mat] = result.asset_materializations_for_node("scored_batch")
    # Lineage: the deployed model's version is recorded as the batch's input version.
    assert mat.tags["dagster/input_data_version/deployed_model"] == deployed
    assert mat.metadata["model_version"].value == deployed
    assert mat.metadata["alerts"].value == "none"
    # Each check judged the batch and passed: an alarm of it before would be over.
    judged = set(mat.metadata[JUDGED_KEY].value.split(", "))
    assert judged >= {"positive_rate", "score_psi", "feature_psi"}
    folder = root / "scored" / key
    assert {"scores.parquet", "summary.json", "report.html", "psi.png"} <= {
        p.name for p in folder.iterdir()
    }
    assert (root / "scored" / "index.html").is_file()
    assert (root / "scored" / "positive_rate.png").is_file()
    # Seen again, the same file is not scored twice.
    again, _ = _tick(defs, instance, "inbox_sensor", cursor)
    assert isinstance(again, dg.SkipReason)
    skip, _ = _tick(defs, instance, "retrain_on_alert")
    assert isinstance(skip, dg.SkipReason)

    # Its labels arrive: realized performance is not worse than on the holdout beyond noise.
    labels = labelled[["is_fraud"]].rename_axis("row").reset_index()
    labels.to_csv(root / "inbox" / "monday.labels.csv", index=False)
    settled(root / "inbox" / "monday.labels.csv")
    [request], _ = _tick(defs, instance, "labels_sensor")
    assert request.partition_key == key
    outcome = _score(defs, instance, key, job="batch_outcomes_job")
    assert outcome.success
    check = _checks(outcome)["labelled_performance"]
    assert check.passed, check.metadata["message"].value
    assert json.loads((folder / "outcome.json").read_text())["passed"] is True


def test_a_one_row_batch_is_scored_too_small_to_judge_and_requests_no_retraining(trained):
    # Before the shifted batches below: the prevalence rule pools this model's recent batches.
    root, defs, instance, _ = trained
    _, cursor = _tick(defs, instance, "retrain_on_alert")
    one = make_fraud_data(20, 0.5, seed=25).query("is_fraud == 1").head(1)  # a positive
    path = root / "inbox" / "single.csv"
    path.parent.mkdir(exist_ok=True)
    one.drop(columns="is_fraud").to_csv(path, index=False)
    settled(path)  # the inbox takes whole files only
    requests, _ = _tick(defs, instance, "inbox_sensor")
    [key] = [r.partition_key for r in requests if r.partition_key.startswith("single_")]
    result = _score(defs, instance, key)
    assert result.success
    checks = _checks(result)
    assert all(c.passed for c in checks.values())
    small = {n for n, c in checks.items() if "too small to judge" in c.metadata["message"].value}
    assert small >= {"positive_rate", "score_psi", "feature_psi"}
    [mat] = result.asset_materializations_for_node("scored_batch")
    # Passing without judging ends no alarm.
    assert not set(mat.metadata[JUDGED_KEY].value.split(", ")) & small
    skip, _ = _tick(defs, instance, "retrain_on_alert", cursor)
    assert isinstance(skip, dg.SkipReason)


def test_shifted_batches_fail_rate_and_psi_and_the_retrain_sensor_asks_for_a_run(trained):
    root, defs, instance, _ = trained
    _, cursor = _tick(defs, instance, "retrain_on_alert")
    _batch(root, "tuesday.csv", 5000, 0.002, seed=22)  # a tenth of the positives
    _batch(root, "wednesday.csv", 3000, 0.04, seed=23, amount=4.0)  # amounts four times larger
    requests, _ = _tick(defs, instance, "inbox_sensor")
    keys = {r.partition_key.split("_")[0]: r.partition_key for r in requests}
    rate, psi = (_score(defs, instance, keys[day]) for day in ("tuesday", "wednesday"))
    assert rate.success and psi.success  # the scores are written; the checks raise the alarm
    check = _checks(rate)["positive_rate"]
    assert not check.passed
    assert "significantly below expected" in check.metadata["message"].value
    check = _checks(psi)["feature_psi"]
    assert not check.passed and check.metadata["observed"].value["worst"] == "amount"
    [request], _ = _tick(defs, instance, "retrain_on_alert", cursor)
    assert set(request.tags["imbal/batches"].split(",")) == {keys["tuesday"], keys["wednesday"]}
    assert set(request.tags["imbal/failed_checks"].split(",")) >= {"positive_rate", "feature_psi"}
    # The run says which check said what: the figures of each alert.
    assert f"{keys['wednesday']} feature_psi: amount" in request.tags["imbal/evidence"]
    assert "flagged vs" in request.tags["imbal/evidence"]
    assert defs.resolve_sensor_def("retrain_on_alert").job_name == "imbal_pipeline"


def test_a_batch_without_a_feature_column_fails_in_one_line_and_writes_nothing(trained):
    root, defs, instance, version = trained
    frame = make_fraud_data(500, 0.04, seed=24).drop(columns=["is_fraud", "hour"])
    (root / "inbox").mkdir(exist_ok=True)
    frame.to_csv(root / "inbox" / "broken.csv", index=False)
    settled(root / "inbox" / "broken.csv")
    requests, _ = _tick(defs, instance, "inbox_sensor")
    [key] = [r.partition_key for r in requests if r.partition_key.startswith("broken_")]
    result = _score(defs, instance, key)
    assert not result.success
    assert failure_reason(result) == (
        "step scored_batch failed: the batch lacks feature column 'hour' that the model in "
        f"service ({version}, target 'is_fraud', trained on the generated demo data) was "
        "trained on; add it (empty values are allowed)"
    )
    assert not (root / "scored" / key).exists()
