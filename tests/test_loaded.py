"""The UI tells the truth: what the `pipeline` resource shows (the project file as the code
location loaded it) is what a run trains on, or the run refuses in one line; a run's tags name
the dataset (path, content digest, target) before it starts."""

import types

import dagster as dg
import pytest
from conftest import project

from imbal_pipeline.cli import launch
from imbal_pipeline.core.data.synthetic import make_fraud_data
from imbal_pipeline.core.data.versions import file_digest
from imbal_pipeline.core.project import load_project, save_project
from imbal_pipeline.core.settings import SettingsError
from imbal_pipeline.definitions import JOB_NAME, build_definitions
from imbal_pipeline.defs import loaded
from imbal_pipeline.defs.instance import DATA_TAG, TARGET_TAG


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A project folder with two data files; its project file names a.csv."""
    for name, seed in (("a.csv", 1), ("b.csv", 2)):
        make_fraud_data(400, 0.05, seed=seed).to_csv(tmp_path / name, index=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("IMBAL_PIPELINE_PROJECT", raising=False)
    values = dict(store=str(tmp_path / "store"), executor="in_process", n_folds=2)
    save_project(project(data_path=str(tmp_path / "a.csv"), **values))
    return tmp_path, values


def _resource(defs):
    return defs.resources["pipeline"]


def test_the_ui_shows_the_dataset_and_the_job_names_it_at_launch(folder):
    root, _ = folder
    defs = build_definitions(load_project())
    resource = _resource(defs)
    # What the UI shows of the resource: the file, its content digest, the target.
    digest = file_digest(root / "a.csv")
    shown = type(resource).__doc__
    assert f"data {root / 'a.csv'} (sha256 {digest}), target is_fraud" in shown
    assert "refuses to start: reload the code location" in shown
    # Every run launched from the training job carries these tags from its creation on.
    tags = defs.resolve_job_def(JOB_NAME).run_tags
    assert tags[DATA_TAG] == str(root / "a.csv") and tags[TARGET_TAG] == "is_fraud"
    assert tags[loaded.DATA_DIGEST_TAG] == digest
    assert tags[loaded.PROJECT_TAG] == loaded.project_digest(load_project())


def _launched_from(instance, defs) -> dg.DagsterRun:
    """A run as the UI creates it: from the code location it loaded, with the job's tags."""
    job = defs.resolve_job_def(JOB_NAME)
    # Its first asset alone: the whole graph's plan takes seconds to make and says no more.
    return instance.create_run_for_job(
        job_def=job, run_config={}, tags=job.run_tags, asset_selection={dg.AssetKey("raw_data")}
    )


def test_a_run_launched_before_the_project_file_changed_refuses_in_one_line(folder):
    root, values = folder
    ui = build_definitions(load_project())  # the UI loads the code location
    with dg.instance_for_test() as instance:
        run = _launched_from(instance, ui)
        # A CLI run switches the project to another file; the UI still shows a.csv.
        save_project(project(data_path=str(root / "b.csv"), **values))
        now = build_definitions(load_project())  # what the run's process loads
        context = types.SimpleNamespace(instance=instance, run=run)
        with pytest.raises(SettingsError) as refused:
            _resource(now).setup_for_execution(context)
        message = str(refused.value)
        assert "\n" not in message
        assert f"data_path '{root / 'a.csv'}' -> '{root / 'b.csv'}'" in message
        assert "reload the code location" in message
        # The same project as at launch trains.
        _resource(ui).setup_for_execution(context)


def _errors(result) -> list[str]:
    """Every error message the run's events carry, causes included."""
    said = []
    for event in result.all_events:
        error = getattr(event.event_specific_data, "error", None)
        while error is not None:
            said.append(error.message)
            error = error.cause
    return said


def test_a_real_run_of_the_old_launch_stops_before_any_step(folder):
    """Executed by Dagster as a launched run is: its resources refuse, nothing is trained."""
    root, values = folder
    ui = build_definitions(load_project())
    with dg.instance_for_test() as instance:
        run = _launched_from(instance, ui)
        save_project(project(data_path=str(root / "b.csv"), **values))
        result = launch.execute_run(launch.reconstructable_job(load_project()), run, instance)
        assert not result.success
        assert not [e for e in result.all_events if e.is_step_success]
        assert any(
            "changed after this run's code location was loaded" in m for m in _errors(result)
        )
        assert not instance.get_latest_materialization_event(dg.AssetKey("raw_data"))


def test_a_run_of_dagsters_own_asset_job_is_named_at_its_first_step(folder):
    defs = build_definitions(load_project())
    with dg.instance_for_test() as instance:
        job = defs.resolve_implicit_global_asset_job_def()
        run = instance.create_run_for_job(
            job_def=job, run_config={}, asset_selection={dg.AssetKey("raw_data")}
        )
        assert loaded.PROJECT_TAG not in run.tags
        context = types.SimpleNamespace(instance=instance, run=run)
        _resource(defs).setup_for_execution(context)
        tags = instance.get_run_by_id(run.run_id).tags
        assert tags[loaded.PROJECT_TAG] == loaded.project_digest(load_project())
        assert tags[loaded.DATA_DIGEST_TAG] == file_digest(folder[0] / "a.csv")


def test_a_batchs_run_goes_on_whatever_the_project_file_says_now(folder):
    """Scoring a batch (a partition) trains nothing: the inbox keeps working until a reload."""
    root, values = folder
    ui = build_definitions(load_project())
    with dg.instance_for_test() as instance:
        job = ui.resolve_job_def("score_batches")
        run = instance.create_run_for_job(
            job_def=job, run_config={}, tags={"dagster/partition": "monday_3f9c0a1b2c3d"}
        )
        save_project(project(data_path=str(root / "b.csv"), **values))
        now = build_definitions(load_project())
        context = types.SimpleNamespace(instance=instance, run=run)
        _resource(now).setup_for_execution(context)
        assert loaded.PROJECT_TAG not in instance.get_run_by_id(run.run_id).tags


def test_the_training_sensors_wait_for_a_reload_after_the_project_file_changed(folder):
    """A request now would be refused, and would spend its run key: the sensors skip, keeping
    their cursor, until the code location is reloaded."""
    root, values = folder
    ui = build_definitions()  # from the project file, as the daemon loads it
    with dg.instance_for_test() as instance:

        def tick(name: str):
            context = dg.build_sensor_context(instance=instance, cursor="7", resources=ui.resources)
            with context:
                return ui.resolve_sensor_def(name)(context), context.cursor

        result, _ = tick("raw_data_changed")
        assert isinstance(result, dg.SensorResult) and result.run_requests
        save_project(project(data_path=str(root / "b.csv"), **values))
        for name in ("retrain_on_alert", "raw_data_changed"):
            result, cursor = tick(name)
            assert isinstance(result, dg.SkipReason), (name, result)
            assert "changed after this code location was loaded: reload" in result.skip_message
            assert cursor == "7"
