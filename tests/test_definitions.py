"""The code location: one asset per fold, lineage, executor limits and a lone fold rerun."""

import os

import dagster as dg
from conftest import SMALL, run_graph

from imbal_pipeline.assets.common import RAW_FILE
from imbal_pipeline.definitions import build_definitions, defs, executor_config
from imbal_pipeline.resources import PipelineConfig
from imbal_pipeline.storage import BundleIOManager


def _deps(d: dg.Definitions) -> dict[str, set[str]]:
    """Data dependencies; the observed raw file, which every asset depends on, is left out."""
    graph = d.resolve_asset_graph()
    return {
        key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys - {RAW_FILE}}
        for key in graph.materializable_asset_keys
    }


def test_every_asset_depends_directly_on_the_observed_raw_file():
    graph = defs.resolve_asset_graph()
    assert graph.get(RAW_FILE).is_observable
    for key in graph.materializable_asset_keys:
        assert RAW_FILE in graph.get(key).parent_keys, key


def test_default_location_has_every_stage_and_five_fold_assets():
    deps = _deps(defs)
    for name in (
        "raw_data",
        "holdout_split",
        "imbalance_profile",
        "cv_folds",
        "strategy_comparison",
        "decision_threshold",
        "final_model",
        "baseline_model",
        "evaluation_report",
    ):
        assert name in deps
    for k in range(5):
        assert deps[f"fold_{k}_training_sets"] == {"holdout_split", "cv_folds"}
        assert deps[f"fold_{k}_models"] == {f"fold_{k}_training_sets"}
    assert deps["strategy_comparison"] == {f"fold_{k}_models" for k in range(5)} | {"holdout_split"}
    assert deps["decision_threshold"] == {"strategy_comparison"}
    assert "holdout_split" not in deps["decision_threshold"]
    assert deps["imbalance_profile"] == {"holdout_split"}


def test_fold_count_shapes_the_graph():
    deps = _deps(build_definitions(3))
    assert sum(name.endswith("_models") and name.startswith("fold_") for name in deps) == 3


def test_threads_times_concurrent_steps_never_exceed_cores():
    for threads in (1, 2, 4):
        config = executor_config(threads)
        assert 1 <= config["max_concurrent"] * threads <= max(threads, os.cpu_count() or 1)
    job = build_definitions(3).resolve_job_def("imbal_pipeline")
    assert job.executor_def.name == "multiprocess"
    assert PipelineConfig().lgbm_threads == 1


def test_a_single_fold_reruns_alone_from_stored_upstream(tmp_path):
    run_graph(tmp_path, "full")
    assets = build_definitions(SMALL["n_folds"]).assets
    again = dg.materialize(
        list(assets),
        selection="fold_1_models",
        resources={
            "pipeline": PipelineConfig(**SMALL, output_dir=str(tmp_path / "full" / "report")),
            "io_manager": BundleIOManager(base_dir=str(tmp_path / "full" / "storage")),
        },
    )
    assert again.success
    ran = {e.step_key for e in again.get_step_success_events()}
    assert ran == {"fold_1_models"}
