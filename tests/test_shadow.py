"""The inbox and the retrain sensor use the champion; a waiting challenger is scored in shadow."""

import dagster as dg
import pandas as pd
import pytest
from conftest import data_versions, graph, settled, training_assets

from imbal_pipeline.core.data.synthetic import make_fraud_data
from imbal_pipeline.core.monitor import promotion
from imbal_pipeline.store.champion import DEPLOYED, Champions
from imbal_pipeline.store.storage import AssetStore, content_hash


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A champion in a real instance with shadow scoring on, and a challenger that waits."""
    root = tmp_path_factory.mktemp("shadow")
    defs = graph(root, shadow_scoring=True)
    # In-memory storage: the same event log and sensors, without a database on disk.
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(training_assets(defs), instance=instance, resources=defs.resources)
        assert result.success
        champion = data_versions(result)[DEPLOYED]
        store = AssetStore(root / "storage")
        value = store.load(DEPLOYED, champion)
        # The same trees at a lower threshold, produced by a later run and not promoted.
        other = {"model": value["model"], "meta": {**value["meta"], "threshold": 0.02}}
        challenger = content_hash(other)
        store.write(DEPLOYED, other, challenger, "passed", "run-2")
        line = f"model {challenger} not promoted, {champion} stays in service: too few"
        evidence = promotion.evidence(promotion.UNDECIDED, challenger, champion, line)
        Champions(store).add_challenger(challenger, "run-2", "passed", evidence)
        yield root, defs, instance, champion, challenger


def _scored(root, defs, instance, name: str, **shift):
    frame = make_fraud_data(2000, 0.04, seed=len(name))
    for column, factor in shift.items():
        frame[column] = frame[column] * factor
    path = root / "inbox" / name
    path.parent.mkdir(exist_ok=True)
    frame.drop(columns="is_fraud").to_csv(path, index=False)
    settled(path)
    key = next(k for k in _new_keys(defs, instance) if k.startswith(path.stem))
    result = defs.resolve_job_def("score_batches").execute_in_process(
        instance=instance, partition_key=key
    )
    [mat] = result.asset_materializations_for_node("scored_batch")
    return key, mat


def _new_keys(defs, instance) -> list[str]:
    with dg.build_sensor_context(instance=instance) as context:
        result = defs.resolve_sensor_def("inbox_sensor")(context)
    for request in result.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)
    return [r.partition_key for r in result.run_requests]


def _retrain(defs, instance, cursor=None):
    with dg.build_sensor_context(instance=instance, cursor=cursor) as context:
        return defs.resolve_sensor_def("retrain_on_alert")(context)


def test_a_waiting_challenger_scores_each_batch_in_shadow_and_is_never_served(served):
    root, defs, instance, champion, challenger = served
    key, mat = _scored(root, defs, instance, "monday.csv")
    assert mat.metadata["model_version"].value == champion
    assert mat.tags["dagster/input_data_version/deployed_model"] == champion
    assert mat.metadata["shadow_version"].value == challenger
    differ = mat.metadata["decisions_differ"].value
    folder = root / "scored" / key
    scores = pd.read_parquet(folder / "scores.parquet")
    shadow = pd.read_parquet(folder / "shadow_scores.parquet")
    assert set(scores["model_version"]) == {champion} and set(shadow["model_version"]) == {
        challenger
    }
    assert differ == int((scores["decision"] != shadow["decision"]).sum()) > 0
    assert mat.metadata["shadow_flagged"].value == int(shadow["decision"].sum())
    page = (folder / "report.html").read_text()
    assert f"challenger {challenger} would flag {int(shadow['decision'].sum()):,} rows" in page
    assert f"their decisions differ on {differ:,} of 2,000 rows" in page
    # Without shadow scoring (the default) the batch is scored by the champion alone.
    plain = graph(root)
    result = plain.resolve_job_def("score_batches").execute_in_process(
        instance=instance, partition_key=key
    )
    [again] = result.asset_materializations_for_node("scored_batch")
    assert "shadow_version" not in again.metadata


def test_the_retrain_sensor_counts_only_alerts_on_batches_the_champion_scored(served):
    root, defs, instance, champion, challenger = served
    with dg.build_sensor_context(instance=instance) as context:
        defs.resolve_sensor_def("retrain_on_alert")(context)
        cursor = context.cursor
    _, mat = _scored(root, defs, instance, "tuesday.csv", amount=4.0)  # amounts shifted
    assert "feature_psi" in mat.metadata["alerts"].value
    store = AssetStore(root / "storage")
    Champions(store).promote(challenger, "by hand", "tester")
    skip = _retrain(defs, instance, cursor)
    assert isinstance(skip, dg.SkipReason)
    assert f"scored by another model than the champion {challenger}" in skip.skip_message
    Champions(store).rollback("back", "tester")
    request = _retrain(defs, instance, cursor)
    assert isinstance(request, dg.RunRequest) and "feature_psi" in request.tags["imbal/evidence"]
