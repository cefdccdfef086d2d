"""Retraining on a schedule and on new data: sensor and schedule, and a tick into a real run."""

import json
import logging

import dagster as dg
import pytest
from conftest import graph, settled, training_keys
from dagster._core.definitions.data_version import StaleStatus
from dagster._utils.test.data_versions import get_stale_status_resolver

from imbal_pipeline.core.data import inbox
from imbal_pipeline.core.data.synthetic import make_fraud_data
from imbal_pipeline.core.settings import Settings
from imbal_pipeline.defs import automation
from imbal_pipeline.defs.assets.common import ALERTS_KEY, EVIDENCE_KEY, JUDGED_KEY, RAW_FILE
from imbal_pipeline.defs.assets.operating import BATCHES
from imbal_pipeline.defs.build import JOB_NAME


def _sensor_and_resources(tmp_path, data_path):
    defs = graph(tmp_path, data_path=str(data_path))
    return defs, defs.resolve_sensor_def("raw_data_changed"), defs.resources


def _request(result) -> dg.RunRequest:
    """The one run request of a sensor result, after checking it also observes the file."""
    assert isinstance(result, dg.SensorResult), result
    (request,) = result.run_requests
    (observation,) = result.asset_events
    assert observation.asset_key == RAW_FILE
    assert observation.tags[automation.DATA_VERSION_TAG] == request.run_key
    return request


def _stale(instance, defs) -> dict[str, list[str]]:
    """Dagster's own staleness verdict (what the UI shows as unsynced): asset -> root causes."""
    resolver = get_stale_status_resolver(instance, list(defs.assets))
    out = {}
    for key in map(dg.AssetKey.from_user_string, training_keys(defs)):
        assert resolver.get_status(key) != StaleStatus.MISSING, key
        if resolver.get_status(key) == StaleStatus.STALE:
            causes = resolver.get_stale_root_causes(key)
            out[key.to_user_string()] = [c.asset_key.to_user_string() for c in causes]
    return out


def test_sensor_requests_a_run_only_when_the_file_content_changes(tmp_path):
    path = tmp_path / "data.csv"
    make_fraud_data(600, 0.05, seed=0).to_csv(path, index=False)
    _, sensor, resources = _sensor_and_resources(tmp_path, path)
    with dg.build_sensor_context(resources=resources) as ctx:
        first = _request(sensor(ctx))
        cursor = ctx.cursor
    with dg.build_sensor_context(cursor=cursor, resources=resources) as ctx:
        assert isinstance(sensor(ctx), dg.SkipReason)
    path.touch()  # same bytes, new mtime: not a change
    with dg.build_sensor_context(cursor=cursor, resources=resources) as ctx:
        assert isinstance(sensor(ctx), dg.SkipReason)
    make_fraud_data(600, 0.05, seed=1).to_csv(path, index=False)
    with dg.build_sensor_context(cursor=cursor, resources=resources) as ctx:
        second = _request(sensor(ctx))
        assert second.run_key != first.run_key and ctx.cursor != cursor


def test_sensor_skips_with_a_reason_when_the_file_is_missing(tmp_path):
    _, sensor, resources = _sensor_and_resources(tmp_path, tmp_path / "gone.csv")
    with dg.build_sensor_context(resources=resources) as ctx:
        result = sensor(ctx)
    assert isinstance(result, dg.SkipReason) and "not readable" in result.skip_message


def test_schedule_cron_comes_from_the_project_and_targets_the_job(tmp_path):
    schedule = graph(tmp_path, retrain_cron="15 2 * * *").resolve_schedule_def("retrain_schedule")
    assert schedule.cron_schedule == "15 2 * * *"
    assert schedule.job_name == JOB_NAME
    default = graph(tmp_path).resolve_schedule_def("retrain_schedule").cron_schedule
    assert default == Settings().retrain_cron == "0 3 * * 1"
    with dg.build_schedule_context() as ctx:
        request = schedule.evaluate_tick(ctx).run_requests[0]
    assert isinstance(request, dg.RunRequest)


def test_a_sensor_tick_drives_a_real_run_and_a_changed_file_makes_every_asset_unsynced(tmp_path):
    path = tmp_path / "data.csv"
    make_fraud_data(1500, 0.05, seed=3).to_csv(path, index=False)
    defs, sensor, resources = _sensor_and_resources(tmp_path, path)
    with dg.DagsterInstance.ephemeral() as instance:
        with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
            request = _request(sensor(ctx))
            cursor = ctx.cursor
        local = dg.Definitions(
            assets=defs.assets,
            jobs=defs.jobs,
            resources=resources,
            executor=dg.in_process_executor,
        )
        result = local.resolve_job_def(request.job_name or JOB_NAME).execute_in_process(
            instance=instance, tags=request.tags, run_config=request.run_config
        )
        assert result.success
        run = instance.get_run_by_id(result.run_id)
        assert run.tags["imbal/data_fingerprint"] == request.run_key
        assert instance.get_latest_materialization_event(dg.AssetKey("evaluation_report"))
        # The run observed the file first, so nothing is unsynced after it.
        observed = instance.get_latest_data_version_record(RAW_FILE, is_source=True)
        assert observed.event_log_entry.run_id == result.run_id
        assert observed.event_log_entry.tags[automation.DATA_VERSION_TAG] == request.run_key
        assert _stale(instance, defs) == {}

        make_fraud_data(1500, 0.05, seed=4).to_csv(path, index=False)
        with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources) as ctx:
            result = sensor(ctx)
        # The daemon records a tick's asset events; the test records them the same way.
        for event in result.asset_events:
            instance.report_runless_asset_event(event)
        stale = _stale(instance, defs)
        materializable = training_keys(defs)
        assert set(stale) == materializable and len(materializable) == 24
        assert all(causes == ["raw_file"] for causes in stale.values()), stale


@pytest.mark.filterwarnings("ignore::dagster.BetaWarning")  # observable_source_asset
def test_dagster_unsyncs_only_direct_dependents_so_every_asset_hangs_off_the_file():
    """Why the lineage has an edge from raw_file to every asset (the README says so): in a chain
    file -> a -> b, Dagster marks only `a` unsynced when the file changes. Should an upgrade of
    Dagster pass staleness on, this fails, and the edges to every asset can go."""
    from dagster._core.definitions.observe import observe

    version = {"file": "1"}

    @dg.observable_source_asset
    def file():
        return dg.DataVersion(version["file"])

    @dg.asset(deps=[file])
    def a() -> int:
        return 1

    @dg.asset
    def b(a: int) -> int:
        return a + 1

    with dg.DagsterInstance.ephemeral() as instance:
        observe([file], instance=instance)
        dg.materialize([file, a, b], selection=[a, b], instance=instance)
        version["file"] = "2"
        observe([file], instance=instance)
        resolver = get_stale_status_resolver(instance, [file, a, b])
        assert resolver.get_status(a.key) == StaleStatus.STALE
        assert resolver.get_status(b.key) == StaleStatus.FRESH


class _Lines(logging.Handler):
    """What a sensor tick logs."""

    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def _inbox_tick(defs, instance, name: str, cursor: str | None, said: _Lines):
    """One evaluation of an inbox sensor: its requests (partitions added as the daemon adds
    them) or its skip message, and the new cursor."""
    with dg.build_sensor_context(instance=instance, cursor=cursor) as context:
        context.log.addHandler(said)
        result = defs.resolve_sensor_def(name)(context)
        cursor = context.cursor
    if isinstance(result, dg.SkipReason):
        return result.skip_message, cursor
    if isinstance(result, dg.SensorResult):
        for request in result.dynamic_partitions_requests or []:
            instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)
        result = result.run_requests
    return [r.partition_key for r in result], cursor


@pytest.fixture
def settle_40s(monkeypatch):
    """A settle time a busy test machine cannot outlast between writing and looking, shorter
    than the minute `settled` dates files back."""
    monkeypatch.setattr(inbox, "SETTLE_SECONDS", 40.0)


def test_the_inbox_sensor_takes_whole_files_each_content_once_and_never_a_link(
    tmp_path, settle_40s
):
    defs = graph(tmp_path)
    folder = tmp_path / "inbox"
    folder.mkdir()
    said, tick = _Lines(), lambda c: _inbox_tick(defs, instance, "inbox_sensor", c, said)
    with dg.instance_for_test() as instance:
        (folder / "monday.csv").write_text("a,b\n1,2\n")  # half written: mtime now
        skip, cursor = tick(None)
        writing = "monday.csv is still being written; it is taken once unchanged for 40 s"
        assert skip == f"no new batch in {folder} | {writing}"
        with open(folder / "monday.csv", "a") as fh:
            fh.write("3,4\n")
        settled(folder / "monday.csv")
        [key], cursor = tick(cursor)  # scored once, whole
        assert key.startswith("monday_")
        assert tick(cursor)[0] == f"no new batch in {folder}"
        # The same bytes under another name, with the original there or gone.
        (folder / "monday again.csv").write_bytes((folder / "monday.csv").read_bytes())
        settled(folder / "monday again.csv")
        copy = f"monday again.csv has the same bytes as batch {key}; the same bytes are scored once"
        for _ in range(2):
            skip, cursor = tick(cursor)
            assert skip.startswith(f"no new batch in {folder} | {copy}")
        (folder / "monday.csv").unlink()
        skip, cursor = tick(cursor)
        assert skip.startswith(f"no new batch in {folder} | {copy}")
        # A link to a file outside the inbox is never read.
        secret = tmp_path / "secret.csv"
        secret.write_text("user,password\nroot,hunter2\n")
        settled(secret)
        (folder / "secret.csv").symlink_to(secret)
        skip, cursor = tick(cursor)
        assert "secret.csv is a symbolic link; the inbox never follows links" in skip
        assert instance.get_dynamic_partitions(BATCHES.name) == [key]
        assert all(secret.name not in known for known in json.loads(cursor)["hashes"])
        # Each reason is logged once, however many looks see it.
        assert said.lines == [writing, f"{copy} (delete the copy)", skip.split(" | ")[2]]


def test_the_labels_sensor_waits_for_a_whole_labels_file_and_never_reads_a_link(
    tmp_path, settle_40s, monkeypatch
):
    defs = graph(tmp_path)
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "monday.csv").write_text("a,b\n1,2\n")
    settled(folder / "monday.csv")
    said, tick = _Lines(), lambda c: _inbox_tick(defs, instance, "labels_sensor", c, said)
    with dg.instance_for_test() as instance:
        [key], _ = _inbox_tick(defs, instance, "inbox_sensor", None, said)
        labels = folder / "monday.labels.csv"
        labels.write_text("row,is_fraud\n0,1\n")  # being written
        skip, cursor = tick(None)
        assert skip == (
            "no new labels | monday.labels.csv is still being written; it is taken once "
            "unchanged for 40 s"
        )
        settled(labels)
        assert tick(cursor)[0] == [key]
        with monkeypatch.context() as patch:  # rewritten between the look and its hash

            def changed(path):
                raise OSError(f"{path.name} is not a regular file or changed while it was read")

            patch.setattr(inbox, "file_sha256", changed)
            skip, cursor = tick(cursor)
            assert skip.endswith(
                "monday.labels.csv is not a regular file or changed while it was read"
            )
        outside = tmp_path / "elsewhere.csv"
        labels.rename(outside)
        labels.symlink_to(outside)
        skip, cursor = tick(cursor)
        assert skip == (
            "no new labels | monday.labels.csv is a symbolic link; the inbox never follows "
            "links: put the file itself in"
        )


def _scored(
    instance, batch: str, model: str, evidence: dict[str, str], judged: tuple[str, ...] = ()
) -> int:
    """A scored batch's materialization as `scored_batch` records it: its model, its alerts
    and the checks it passed on enough rows to judge; its record id."""
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            "scored_batch",
            partition=batch,
            metadata={
                "model_version": model,
                ALERTS_KEY: ", ".join(evidence) or "none",
                EVIDENCE_KEY: dg.MetadataValue.json(evidence),
                JUDGED_KEY: ", ".join(judged) or "none",
            },
        )
    )
    [record] = instance.fetch_materializations(
        dg.AssetKey("scored_batch"), limit=1, ascending=False
    ).records
    return record.storage_id


def _ticker(sensor, instance):
    """One evaluation of `sensor` from a cursor: what it returned, and its new cursor."""

    def tick(cursor):
        with dg.build_sensor_context(instance=instance, cursor=cursor) as context:
            return sensor(context), context.cursor

    return tick


def test_the_retrain_sensor_asks_once_per_failing_check_and_model_in_service(tmp_path, monkeypatch):
    sensor = graph(tmp_path).resolve_sensor_def("retrain_on_alert")
    serving = {"version": "m1"}
    monkeypatch.setattr(automation, "champion_of", lambda project: serving["version"])
    pooled = {"recent_prevalence": "2.10% vs 1.00% over 5,000 rows (p 1e-09)"}
    with dg.instance_for_test() as instance:
        tick = _ticker(sensor, instance)
        monday = _scored(instance, "monday", "m1", pooled)
        first, cursor = tick(None)
        assert isinstance(first, dg.RunRequest), first
        assert first.run_key == automation.retrain_key("m1", {"recent_prevalence": monday})
        assert first.tags["imbal/model_version"] == "m1"
        # The shifted batch stays in the pooled window: the next batch fails the check again.
        _scored(instance, "tuesday", "m1", pooled)
        again, cursor = tick(cursor)
        assert isinstance(again, dg.SkipReason), again
        assert "already requested for model m1 on recent_prevalence" in again.skip_message
        # A check that had not failed before is new evidence.
        wednesday = _scored(
            instance, "wednesday", "m1", {**pooled, "feature_psi": "amount shifted"}
        )
        third, cursor = tick(cursor)
        assert third.run_key == automation.retrain_key("m1", {"feature_psi": wednesday})
        assert third.tags["imbal/failed_checks"] == "feature_psi,recent_prevalence"
        # A new model in service: the same evidence on the batches it scored asks again.
        serving["version"] = "m2"
        thursday = _scored(instance, "thursday", "m2", pooled)
        fourth, cursor = tick(cursor)
        assert fourth.run_key == automation.retrain_key("m2", {"recent_prevalence": thursday})
        _, cursor = tick(cursor)
        assert isinstance(tick(cursor)[0], dg.SkipReason)


def test_a_check_failing_again_after_a_judged_pass_asks_again_under_the_same_champion(
    tmp_path, monkeypatch
):
    """The first retraining was not promoted, the shift passed; months on a new one starts."""
    sensor = graph(tmp_path).resolve_sensor_def("retrain_on_alert")
    monkeypatch.setattr(automation, "champion_of", lambda project: "m1")
    shifted = {"feature_psi": "amount shifted; PSI 0.61 on amount"}
    with dg.instance_for_test() as instance:
        tick = _ticker(sensor, instance)
        january = _scored(instance, "january", "m1", shifted)
        first, cursor = tick(None)
        assert first.run_key == automation.retrain_key("m1", {"feature_psi": january})
        # A batch too small to judge passes without judging: the episode goes on.
        _scored(instance, "tiny", "m1", {})
        _scored(instance, "february", "m1", shifted)
        skip, cursor = tick(cursor)
        assert "already requested for model m1 on feature_psi" in skip.skip_message
        # A batch large enough to judge passes: the episode is over, and a new shift asks again.
        _scored(instance, "march", "m1", {}, judged=("feature_psi", "positive_rate"))
        skip, cursor = tick(cursor)
        assert skip.skip_message == "no scored batch asks for retraining"
        june = _scored(instance, "june", "m1", shifted)
        again, cursor = tick(cursor)
        assert isinstance(again, dg.RunRequest), again
        assert again.run_key == automation.retrain_key("m1", {"feature_psi": june})
        assert again.tags["imbal/batches"] == "june"
        # The cursor lost: the history read again gives the same episodes and the same keys,
        # which Dagster runs once each.
        for _ in range(2):
            asked, _ = tick(None)
            assert asked.run_key == automation.retrain_key("m1", {"feature_psi": june})
            assert asked.tags["imbal/batches"] == "june"
        # A failure a judged pass ended within one tick asks nothing.
        _scored(instance, "july", "m1", {"recent_prevalence": "2.1% vs 1.0%"})
        _scored(instance, "august", "m1", {}, judged=("recent_prevalence",))
        skip, _ = tick(cursor)
        assert skip.skip_message == "no scored batch asks for retraining"


def test_a_backlog_longer_than_one_read_misses_no_batch_of_either_asset(tmp_path, monkeypatch):
    # Read two records per asset at a time: the third scored batch lies beyond the first read,
    # and a batch's labels (another asset) after it must not carry the cursor past it.
    sensor = graph(tmp_path).resolve_sensor_def("retrain_on_alert")
    monkeypatch.setattr(automation, "champion_of", lambda project: "m1")
    monkeypatch.setattr(automation, "FETCH_LIMIT", 2)
    with dg.instance_for_test() as instance:
        tick = _ticker(sensor, instance)
        first = _scored(instance, "monday", "m1", {"feature_psi": "amount shifted"})
        _scored(instance, "tuesday", "m1", {})
        third = _scored(instance, "wednesday", "m1", {"recent_prevalence": "2.1% vs 1.0%"})
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                "batch_outcomes", partition="monday", metadata={"model_version": "m1"}
            )
        )
        asked, cursor = tick(None)
        assert asked.run_key == automation.retrain_key("m1", {"feature_psi": first})
        asked, _ = tick(cursor)
        assert isinstance(asked, dg.RunRequest), asked
        assert asked.run_key == automation.retrain_key("m1", {"recent_prevalence": third})
