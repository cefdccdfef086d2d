"""Assembles assets, jobs, resources and the executor into the `imbal_pipeline` code location."""

import os
import warnings
from pathlib import Path

import dagster as dg

from imbal_pipeline import lifeline
from imbal_pipeline.assets import data, decision, diagnostics, evaluation, folds, training
from imbal_pipeline.automation import build_automation
from imbal_pipeline.core.settings import max_concurrent_steps
from imbal_pipeline.resources import PipelineConfig, configured_folds, configured_threads
from imbal_pipeline.storage import BundleIOManager

JOB_NAME = "imbal_pipeline"
lifeline.install()  # here too in the forkserver, which preloads this module


def storage_dir() -> str:
    """Where asset values live: inside the Dagster instance's home."""
    home = os.environ.get("DAGSTER_HOME") or ".dagster_home"
    return str(Path(home).resolve() / "storage")


def executor_config(lgbm_threads: int) -> dict:
    """Multiprocess executor settings: at most cores // threads steps at once."""
    # Step processes fork from a server that has already imported the heavy libraries
    # (GX too, which the code location itself never imports): a fresh interpreter per step
    # would spend ~6 s importing them on this machine.
    return {
        "max_concurrent": max_concurrent_steps(lgbm_threads),
        "start_method": {
            "forkserver": {"preload_modules": ["imbal_pipeline.definitions", "great_expectations"]}
        },
    }


def build_definitions(n_folds: int, lgbm_threads: int = 1) -> dg.Definitions:
    """The whole graph with one asset per fold for `n_folds` folds."""
    assets = [
        data.raw_data,
        data.holdout_split,
        data.imbalance_profile,
        diagnostics.data_diagnostics,
        folds.make_cv_folds(n_folds),
        *[folds.make_fold_training_sets(k) for k in range(n_folds)],
        *[training.make_fold_models(k) for k in range(n_folds)],
        training.make_strategy_comparison(n_folds),
        decision.decision_threshold,
        training.final_model,
        training.baseline_model,
    ]
    assets.append(evaluation.make_evaluation_report([key for a in assets for key in a.check_keys]))
    # Each LightGBM fit uses `lgbm_threads` threads; steps x threads must not exceed the cores.
    executor = dg.multiprocess_executor.configured(executor_config(lgbm_threads))
    # Sources included: each run observes raw_file first, recording the version it trained on.
    # (`include_sources` is marked beta in Dagster 1.13; its warning would greet every run.)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        selection = dg.AssetSelection.all(include_sources=True)
    job = dg.define_asset_job(JOB_NAME, selection=selection)
    schedules, sensors = build_automation(job)
    return dg.Definitions(
        assets=[data.raw_file, *assets],
        jobs=[job],
        schedules=schedules,
        sensors=sensors,
        resources={
            # Scheduled retraining reads its dataset from the environment of the code location.
            "pipeline": PipelineConfig(
                n_folds=n_folds,
                lgbm_threads=lgbm_threads,
                data_path=os.environ.get("IMBAL_PIPELINE_DATA") or None,
                target=os.environ.get("IMBAL_PIPELINE_TARGET", "is_fraud"),
            ),
            "io_manager": BundleIOManager(base_dir=storage_dir()),
        },
        executor=executor,
    )


defs = build_definitions(configured_folds(), configured_threads())


def imbal_job() -> dg.JobDefinition:
    """The whole graph as one job; a module-level function so child processes can rebuild it."""
    return defs.resolve_job_def(JOB_NAME)
