"""Assembles assets, jobs, resources and the executor into a project's Definitions."""

import warnings

import dagster as dg

from imbal_pipeline.core.data.data import executor_of
from imbal_pipeline.core.evaluate import learning
from imbal_pipeline.core.project import load_project, project_path
from imbal_pipeline.core.settings import (
    Settings,
    SettingsError,
    max_concurrent_steps,
)
from imbal_pipeline.defs.assets import (
    data,
    decision,
    diagnostics,
    evaluation,
    folds,
    operating,
    training,
)
from imbal_pipeline.defs.automation import build_automation
from imbal_pipeline.defs.instance import STEP_PRELOAD
from imbal_pipeline.defs.io_manager import BundleIOManager
from imbal_pipeline.defs.loaded import launch_tags
from imbal_pipeline.defs.resources import FitCache, pipeline_for
from imbal_pipeline.store.storage import storage_dir

JOB_NAME = "imbal_pipeline"  # the training job
SCORE_JOB = "score_batches"
OUTCOMES_JOB = "batch_outcomes_job"
LOCATION_NAME = "imbal_pipeline"  # as in workspace.yaml and pyproject's [tool.dagster]


def executor_config(lgbm_threads: int) -> dict:
    """Multiprocess executor settings: at most cores // threads steps at once, each forked from
    a server that has imported STEP_PRELOAD (the CLI starts it early: `start_step_server`)."""
    return {
        "max_concurrent": max_concurrent_steps(lgbm_threads),
        "start_method": {"forkserver": {"preload_modules": STEP_PRELOAD}},
    }


def build_executor(project: Settings) -> dg.ExecutorDefinition:
    """The executor the project asks for; each step's fits use `lgbm_threads` threads."""
    executor = executor_of(project)
    if executor == "in_process":
        return dg.in_process_executor
    if executor == "dask":
        try:
            from dagster_dask import dask_executor
        except ImportError as exc:
            raise SettingsError(
                "executor dask needs dagster-dask: pip install 'imbal_pipeline[scale]'"
            ) from exc
        # Each Dask worker should run one task with one thread (dask worker --nthreads 1), so
        # that threads x concurrent steps stay within each machine's cores.
        return dask_executor.configured(
            {"cluster": {"existing": {"address": project.dask_address}}}
        )
    return dg.multiprocess_executor.configured(executor_config(project.lgbm_threads))


def build_definitions(project: Settings | None = None) -> dg.Definitions:
    """The whole graph for a project: one asset per fold, its resources, executor, automation."""
    # Built from the project file (the UI, the daemon, a step): its training sensors wait for a
    # reload when the file changes, as a run launched from here would be refused.
    project_file = project_path() if project is None and project_path().is_file() else None
    project = project or load_project()
    n_folds = project.n_folds
    assets = [
        data.raw_data,
        data.holdout_split,
        data.imbalance_profile,
        diagnostics.data_diagnostics,
        folds.make_cv_folds(n_folds),
        *[folds.make_fold_training_sets(k) for k in range(n_folds)],
        *[training.make_fold_models(k, part) for k in range(n_folds) for part in training.PARTS],
        training.make_strategy_comparison(n_folds),
        decision.decision_threshold,
        training.make_final_model(n_folds),
        training.make_baseline_model(n_folds),
        evaluation.leak_panel,
        *[diagnostics.make_curve_part(k) for k in range(learning.CURVE_PARTS)],
        diagnostics.learning_curve,
    ]
    assets.append(evaluation.make_evaluation_report([key for a in assets for key in a.check_keys]))
    assets.append(operating.deployed_model)
    per_batch = [operating.scored_batch, operating.batch_outcomes]
    # Sources included: each run observes raw_file first, recording the version it trained on.
    # (`include_sources` is marked beta in Dagster 1.13; its warning would greet every run.)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        selection = dg.AssetSelection.all(include_sources=True) - dg.AssetSelection.assets(
            *per_batch
        )
    # Every run launched from the job (the UI, schedules, sensors) names its dataset at launch.
    job = dg.define_asset_job(JOB_NAME, selection=selection, run_tags=launch_tags(project))
    score_job = dg.define_asset_job(SCORE_JOB, selection=[operating.scored_batch])
    outcomes_job = dg.define_asset_job(OUTCOMES_JOB, selection=[operating.batch_outcomes])
    schedules, sensors = build_automation(job, score_job, outcomes_job, project, project_file)
    return dg.Definitions(
        assets=[data.raw_file, *assets, *per_batch],
        jobs=[job, score_job, outcomes_job],
        schedules=schedules,
        sensors=sensors,
        resources={
            "pipeline": pipeline_for(project),
            "io_manager": BundleIOManager(base_dir=storage_dir(project)),
            "fit_cache": FitCache(base_dir=storage_dir(project)),
        },
        executor=build_executor(project),
    )
