"""Runs started by the CLI are ordinary Dagster runs of the `imbal_pipeline` code location.

`dagster.execute_job` records a run with no code-location origin, and the UI cannot re-execute
such a run ("Expected non-None value" on its origin). Here the run is created the way the UI
creates one, naming the code location, repository and job, and then executed in this process,
so that this process orchestrates it (a killed CLI takes its steps down with it) while the UI
can re-execute it like any other run.

The job is rebuilt from the run's own project values (`definitions.job_for`), so every step
process, on this machine or a Dask worker, builds the graph the run was started with.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import dagster as dg
from dagster import JobExecutionResult

from imbal_pipeline.cli.progress import SIZE_TAG, last_pace, progress
from imbal_pipeline.cli.runs import console_log, is_verbose
from imbal_pipeline.core.data.data import data_size
from imbal_pipeline.core.settings import Settings
from imbal_pipeline.definitions import JOB_NAME
from imbal_pipeline.defs.build import LOCATION_NAME
from imbal_pipeline.defs.dagster_private import (
    PARENT_RUN_ID_TAG,
    RESUME_RETRY_TAG,
    ROOT_RUN_ID_TAG,
    SINGLETON_REPOSITORY_NAME,
    KnownExecutionState,
    LoadableTargetOrigin,
    ManagedGrpcPythonEnvCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
    create_execution_plan,
    execute_run,
    recon_job_from_origin,
)
from imbal_pipeline.defs.instance import DATA_TAG, TARGET_TAG
from imbal_pipeline.defs.loaded import DATA_DIGEST_TAG, PROJECT_TAG, launch_tags
from imbal_pipeline.defs.resources import run_config

MODULE = "imbal_pipeline.definitions"


def remote_job_origin(working_directory: str | None = None) -> RemoteJobOrigin:
    """The job as the webserver and daemon know it: location `imbal_pipeline`, its one job."""
    location = ManagedGrpcPythonEnvCodeLocationOrigin(
        LoadableTargetOrigin(
            executable_path=sys.executable,
            module_name=MODULE,
            working_directory=working_directory or os.getcwd(),
        ),
        location_name=LOCATION_NAME,
    )
    return RemoteJobOrigin(RemoteRepositoryOrigin(location, SINGLETON_REPOSITORY_NAME), JOB_NAME)


def reconstructable_job(settings: Settings):
    """The project's job, rebuildable in any process from the values it carries."""
    return dg.build_reconstructable_job(
        MODULE, "job_for", reconstructable_kwargs=settings.to_dict()
    )


def run_job(
    instance: dg.DagsterInstance, settings: Settings, tags: dict, verbose: bool
) -> JobExecutionResult:
    """Create a run of the project's job with these settings and its code-location origin, and
    execute it here, printing a line per finished step (Dagster's step log too when `verbose`)."""
    config = run_config(settings) | console_log(verbose)
    job = reconstructable_job(settings)
    definition = job.get_definition()
    tags = {**launch_tags(settings), **tags}  # what it trains on, named before it starts
    total = len(definition.nodes_in_topological_order)
    size = data_size(settings)
    cells = size[0] * size[1] if size else None
    if cells is not None:
        tags = {**tags, SIZE_TAG: str(cells)}
    # How the last run of this graph on data of about this size went, if any.
    pace = last_pace(instance, definition.name, total, cells)
    run = instance.create_run_for_job(
        job_def=definition,
        run_config=config,
        tags=tags,
        remote_job_origin=remote_job_origin(),
        job_code_origin=job.get_python_origin(),
    )
    with progress(instance, run.run_id, total=total, pace=pace, bar=not verbose):
        return execute_run(job, run, instance)


def rerun_from_failure(
    instance: dg.DagsterInstance, parent: dg.DagsterRun, run_config: dict, tags: dict
) -> JobExecutionResult:
    """Re-execute a failed run's failed and unfinished steps; the rest is loaded from storage.

    The job is the parent's own (rebuilt from the project values it was started with), and
    the new run keeps the parent's code-location origin, so it too can be re-executed in the UI.
    """
    if parent.job_code_origin is None:  # every run a code location starts records one
        raise ValueError(f"run {parent.run_id} records no job to rebuild; start a new run")
    job = recon_job_from_origin(parent.job_code_origin)
    step_keys, known_state = KnownExecutionState.build_resume_retry_reexecution(
        instance=instance, parent_run=parent
    )
    plan = create_execution_plan(
        job,
        run_config,
        step_keys_to_execute=step_keys,
        known_state=known_state,
        tags=parent.tags,
    )
    # The parent's dataset tags: its first step, which sets them, is not run again.
    dataset = (DATA_TAG, TARGET_TAG, DATA_DIGEST_TAG, PROJECT_TAG)
    named = {k: v for k, v in parent.tags.items() if k in dataset}
    root = parent.root_run_id or parent.run_id
    # The tags by which Dagster finds a run group (the UI's re-executions of a run), as its own
    # "from failure" re-execution sets them.
    group = {PARENT_RUN_ID_TAG: parent.run_id, ROOT_RUN_ID_TAG: root, RESUME_RETRY_TAG: "true"}
    run = instance.create_run_for_job(
        job_def=job.get_definition(),
        execution_plan=plan,
        run_config=run_config,
        tags=named | tags | group,
        root_run_id=root,
        parent_run_id=parent.run_id,
        remote_job_origin=parent.remote_job_origin or remote_job_origin(),
        job_code_origin=parent.job_code_origin,
    )
    with progress(instance, run.run_id, total=len(step_keys), bar=not is_verbose(run_config)):
        return execute_run(job, run, instance)


def project_of(run: dg.DagsterRun) -> Settings:
    """The project a run was started with: the values its job was rebuilt from, if it carries
    them (every run the CLI starts), else this folder's project file."""
    from imbal_pipeline.core.project import load_project
    from imbal_pipeline.core.settings import from_values

    pointer = getattr(run.job_code_origin, "repository_origin", None)
    pointer = getattr(pointer, "code_pointer", None)
    kwargs = getattr(pointer, "reconstructable_kwargs", None)
    if kwargs:
        return from_values(dict(kwargs))
    return load_project()


def write_workspace(home: Path, folder: Path | None = None) -> Path:
    """A workspace file naming the code location as CLI runs name it, for `dagster dev`."""
    import yaml

    folder = (folder or Path.cwd()).resolve()
    location = {
        "module_name": MODULE,
        "location_name": LOCATION_NAME,
        "working_directory": str(folder),
    }
    path = home / "workspace.yaml"
    path.write_text(
        f"# Written by `imbal-pipeline ui`: the code location of the project in {folder}.\n"
        + yaml.safe_dump({"load_from": [{"python_module": location}]}, sort_keys=False)
    )
    return path
