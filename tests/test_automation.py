"""Retraining on a schedule and on new data: sensor and schedule, and a tick into a real run."""

import dagster as dg
import pytest
from conftest import graph, training_keys
from dagster._core.definitions.data_version import StaleStatus
from dagster._utils.test.data_versions import get_stale_status_resolver

from imbal_pipeline import automation
from imbal_pipeline.assets.common import RAW_FILE
from imbal_pipeline.core.settings import Settings
from imbal_pipeline.core.synthetic import make_fraud_data
from imbal_pipeline.definitions import JOB_NAME


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
    with dg.instance_for_test() as instance:
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

    with dg.instance_for_test() as instance:
        observe([file], instance=instance)
        dg.materialize([file, a, b], selection=[a, b], instance=instance)
        version["file"] = "2"
        observe([file], instance=instance)
        resolver = get_stale_status_resolver(instance, [file, a, b])
        assert resolver.get_status(a.key) == StaleStatus.STALE
        assert resolver.get_status(b.key) == StaleStatus.FRESH
