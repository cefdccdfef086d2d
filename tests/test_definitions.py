"""The code location: one asset per fold, lineage, executor limits and a lone fold rerun."""

import os
import shutil
from pathlib import Path

import dagster as dg
import pytest
from conftest import fresh_python, graph, project, training_assets, training_keys
from dagster._config import ConfigTypeKind

from imbal_pipeline.core.data.data import executor_of
from imbal_pipeline.core.data.synthetic import COLUMNS
from imbal_pipeline.core.settings import LADDER, OBJECTIVES, Settings
from imbal_pipeline.definitions import job_for
from imbal_pipeline.defs.assets.common import RAW_FILE
from imbal_pipeline.defs.build import build_definitions, executor_config


def _deps(d: dg.Definitions) -> dict[str, set[str]]:
    """Data dependencies; the observed raw file, which every asset depends on, is left out."""
    graph = d.resolve_asset_graph()
    return {
        key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys - {RAW_FILE}}
        for key in graph.materializable_asset_keys
    }


def test_every_training_asset_depends_directly_on_the_observed_raw_file():
    defs = build_definitions(Settings())
    graph = defs.resolve_asset_graph()
    assert graph.get(RAW_FILE).is_observable
    for name in training_keys(defs):
        assert RAW_FILE in graph.get(dg.AssetKey(name)).parent_keys, name
    # A new training file does not unsync batches already scored: they hang off the model.
    for name in ("scored_batch", "batch_outcomes"):
        assert RAW_FILE not in graph.get(dg.AssetKey(name)).parent_keys
    assert graph.get(dg.AssetKey("scored_batch")).parent_keys == {dg.AssetKey("deployed_model")}


def test_default_location_has_every_stage_and_five_fold_assets():
    deps = _deps(build_definitions(Settings()))
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
        # Two model steps per fold: the SMOTE family apart, so the steps pack both cores.
        assert deps[f"fold_{k}_models"] == {f"fold_{k}_training_sets"}
        assert deps[f"fold_{k}_smote_models"] == {f"fold_{k}_training_sets"}
    parts = {f"fold_{k}_{p}" for k in range(5) for p in ("models", "smote_models")}
    assert deps["strategy_comparison"] == parts | {"holdout_split"}
    # The threshold is attached at export: a threshold-only change leaves the model as it was.
    assert deps["final_model"] == parts | {"holdout_split", "strategy_comparison"}
    assert {"final_model", "decision_threshold"} <= deps["deployed_model"]
    # The baseline is `none`, fitted in the first part: it need not wait for the SMOTE family.
    assert deps["baseline_model"] == {f"fold_{k}_models" for k in range(5)} | {"holdout_split"}
    assert deps["decision_threshold"] == {"strategy_comparison"}
    assert "holdout_split" not in deps["decision_threshold"]
    assert deps["imbalance_profile"] == {"holdout_split"}
    # The learning curve's fits: two steps, whatever the folds, combined by one fitting nothing.
    curve_parts = {"learning_curve_part_0", "learning_curve_part_1"}
    for name in curve_parts:
        assert deps[name] == {"holdout_split", "cv_folds", "strategy_comparison"}
    assert deps["learning_curve"] == curve_parts | {"strategy_comparison"}


def test_fold_count_shapes_the_graph(tmp_path):
    deps = _deps(graph(tmp_path))
    assert sum(name.endswith("_training_sets") and name.startswith("fold_") for name in deps) == 3
    assert sum(name.endswith("_models") and name.startswith("fold_") for name in deps) == 2 * 3
    assert sum(name.startswith("learning_curve_part_") for name in deps) == 2


def test_threads_times_concurrent_steps_never_exceed_cores():
    for threads in (1, 2, 4):
        config = executor_config(threads)
        assert 1 <= config["max_concurrent"] * threads <= max(threads, os.cpu_count() or 1)
    job = build_definitions(Settings()).resolve_job_def("imbal_pipeline")
    assert job.executor_def.name == "multiprocess"
    assert Settings().lgbm_threads == 1


def test_steps_only_the_report_needs_yield_their_core_to_the_fold_steps():
    from dagster._core.execution.api import create_execution_plan

    # The multiprocess executor starts ready steps by descending `dagster/priority` (default 0).
    plan = create_execution_plan(build_definitions(Settings()).resolve_job_def("imbal_pipeline"))
    priority = {
        s.key: int(s.tags.get("dagster/priority", 0)) for s in plan.get_all_steps_in_topo_order()
    }
    later = {k for k, p in priority.items() if p < 0}
    assert later == {"leak_panel", "data_diagnostics"}
    assert all(priority[k] == 0 for k in priority if k.startswith("fold_"))


def test_no_step_of_the_training_job_can_run_beside_the_report():
    # The report scores the holdout on every core (`threads_alone`): that keeps threads x
    # concurrent steps within the cores only because each other step of the training job is
    # upstream or downstream of it.
    defs = build_definitions(Settings())
    graph = defs.resolve_asset_graph()
    report = dg.AssetSelection.assets("evaluation_report")
    linked = (report.upstream() | report.downstream()).resolve(graph)
    job = set(training_keys(defs)) | {"deployed_model"}
    assert "deployed_model" in {k.to_user_string() for k in linked}
    assert job - {k.to_user_string() for k in linked} == set()


def test_a_single_fold_reruns_alone_from_stored_upstream(tmp_path, small_run_at):
    shutil.copytree(small_run_at[0], tmp_path / "full")  # a whole run's store, report, contracts
    defs = graph(tmp_path / "full")
    again = dg.materialize(
        training_assets(defs), selection="fold_1_models", resources=defs.resources
    )
    assert again.success
    ran = {e.step_key for e in again.get_step_success_events()}
    assert ran == {"fold_1_models"}


# --- one configuration, read the same by every process ---------------------------------------


def test_the_project_file_shapes_the_graph_and_sets_what_a_run_trains_on(tmp_path, monkeypatch):
    from imbal_pipeline.core.project import save_project

    data = tmp_path / "data.csv"
    save_project(
        project(n_folds=4, data_path=str(data), target="y"), tmp_path / "imbal_pipeline.yaml"
    )
    monkeypatch.chdir(tmp_path)
    defs = build_definitions()  # what the webserver, the daemon and every worker do
    assert sum(name.startswith("fold_") and name.endswith("_sets") for name in _deps(defs)) == 4
    settings = defs.resources["pipeline"].settings()
    assert (settings.data_path, settings.target, settings.n_folds) == (str(data), "y", 4)


def test_a_run_started_elsewhere_rebuilds_its_own_graph(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no project file here: the defaults would give 5 folds
    job = job_for(**project(n_folds=4).to_dict())
    folds = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert {f"fold_{k}_models" for k in range(4)} <= folds and "fold_4_models" not in folds


def test_the_launchpad_offers_run_settings_typed_with_choices_and_descriptions():
    schema = build_definitions(Settings()).resources["pipeline"]
    fields = type(schema).to_config_schema().as_field().config_type.fields
    assert fields["objective"].config_type.kind == ConfigTypeKind.ENUM
    assert [v.config_value for v in fields["objective"].config_type.enum_values] == list(OBJECTIVES)
    strategies = fields["strategies"].config_type.inner_type.inner_type
    assert [v.config_value for v in strategies.enum_values] == list(LADDER)
    assert fields["max_negatives"].description.startswith("above this many negatives")
    for name in ("n_folds", "lgbm_threads", "store", "executor"):  # they shape the location
        assert name not in fields


def test_an_invalid_run_config_is_refused_before_any_step(tmp_path):
    defs = graph(tmp_path)
    with pytest.raises(dg.DagsterInvalidConfigError, match="objective"):
        dg.materialize(
            training_assets(defs),
            resources=defs.resources,
            run_config={"resources": {"pipeline": {"config": {"objective": "accuracy"}}}},
        )


def test_every_check_is_described_and_blocks_only_where_it_can_stop_a_run():
    import pandas as pd

    from imbal_pipeline.core import checks
    from imbal_pipeline.core.data import data_gates
    from imbal_pipeline.core.settings import LABEL, SPLIT
    from imbal_pipeline.core.train import gates

    graph = build_definitions(Settings()).resolve_asset_graph()
    specs = [spec for key in graph.asset_check_keys for spec in [graph.get_check_spec(key)]]
    assert len(specs) > 30
    for spec in specs:
        assert spec.description, f"{spec.key.name} has no description in the UI"
        if spec.asset_key.path[0] in ("scored_batch", "batch_outcomes"):
            assert not spec.blocking  # monitoring alerts never withhold scores
        else:
            assert spec.blocking == (spec.name not in checks.WARN_ONLY), spec.name
    # The warn-only list is true to the gates: driven to fail, these only warn.
    frame = pd.DataFrame(
        {
            "x": [1.0, 1.0, 2.0],
            "c": ["a", "a", "b"],
            LABEL: [0, 0, 1],
            SPLIT: ["train", "holdout", "holdout"],
        }
    )
    failed = [
        gates.straddling_duplicates(frame, ["x", "c"]),
        gates.unseen_categories(frame, ["c"]),
        data_gates.constant_columns(frame.assign(k=1), Settings()),
    ]
    for gate in failed:
        assert not gate.passed and gate.severity == gates.WARN, gate.name
        assert gate.name in checks.WARN_ONLY


def test_the_cli_starts_the_step_server_the_executor_forks_from_with_the_same_imports():

    from imbal_pipeline.defs.instance import STEP_PRELOAD

    assert executor_config(1)["start_method"]["forkserver"]["preload_modules"] == STEP_PRELOAD
    # In a fresh interpreter: the server is a process-wide singleton.
    code = (
        "from multiprocessing import forkserver\n"
        "from imbal_pipeline.cli.runs import start_step_server\n"
        "start_step_server()\n"
        "server = forkserver._forkserver\n"
        "print(server._forkserver_pid is not None, server._preload_modules)\n"
    )
    assert fresh_python(code) == f"True {STEP_PRELOAD}"


def chosen_executor(data_path: str) -> str:
    return executor_of(Settings(target="y", data_path=data_path))


def test_small_data_runs_in_one_process_whose_fits_keep_the_projects_threads(tmp_path):
    from imbal_pipeline.core.settings import IN_PROCESS_ROWS, NARROW_CELLS, NARROW_ROWS

    def table(name: str, rows: int, columns: int = 2):
        path = tmp_path / name
        header = ",".join([f"x{i}" for i in range(columns - 1)] + ["y"])
        path.write_text(header + "\n" + ("1.5," * (columns - 1) + "0\n") * rows)
        return str(path)

    small, large = table("small.csv", IN_PROCESS_ROWS), table("large.csv", NARROW_ROWS + 1)
    # Above IN_PROCESS_ROWS a narrow table still runs in one process, up to NARROW_CELLS cells.
    columns = NARROW_CELLS // NARROW_ROWS
    narrow = table("narrow.csv", NARROW_ROWS, columns)
    wider = table("wider.csv", NARROW_ROWS, columns + 1)
    assert chosen_executor(narrow) == "in_process" and chosen_executor(wider) == "multiprocess"
    assert chosen_executor(table("just_over.csv", IN_PROCESS_ROWS + 1, 30)) == "multiprocess"

    def chosen(**values):
        defs = build_definitions(Settings(target="y", **values))
        executor = defs.resolve_job_def("imbal_pipeline").executor_def.name
        return executor, defs.resources["pipeline"].settings().lgbm_threads

    # Small fits gain nothing from a second thread, and two runs at once would then oversubscribe
    # the cores (BENCHMARKS "Small data: one process"), so in one process the threads stay 1.
    assert chosen(data_path=small) == ("in_process", 1)
    assert chosen(data_path=large) == ("multiprocess", 1)
    assert chosen(generated_rows=IN_PROCESS_ROWS)[0] == "in_process"
    assert chosen(generated_rows=NARROW_CELLS // COLUMNS)[0] == "in_process"
    assert chosen(generated_rows=NARROW_CELLS // COLUMNS + 1)[0] == "multiprocess"
    # Named, an executor is used whatever the size.
    assert chosen(data_path=small, executor="multiprocess") == ("multiprocess", 1)
    assert chosen(data_path=large, executor="in_process")[0] == "in_process"


def test_a_tables_rows_are_counted_cheaply_and_only_as_far_as_needed(tmp_path):
    import gzip

    import pandas as pd

    from imbal_pipeline.core.data.data import rows_up_to

    frame = pd.DataFrame({"x": range(5000), "y": [0, 1] * 2500})
    frame.to_parquet(tmp_path / "t.parquet", index=False)
    frame.to_csv(tmp_path / "t.csv", index=False)
    with gzip.open(tmp_path / "t.csv.gz", "wt") as fh:
        frame.to_csv(fh, index=False)
    for name in ("t.parquet", "t.csv", "t.csv.gz"):
        assert rows_up_to(tmp_path / name, 10_000) == 5000, name
    # A text file is read in 1 MB pieces until the count passes the limit, not to its end.
    big = tmp_path / "big.csv"
    big.write_text("x\n" + "1\n" * 3_000_000)  # 6 MB
    assert 100 < rows_up_to(big, 100) < 1_000_000


def test_each_folds_assets_share_a_group_named_after_the_fold():
    # In the UI's lineage a group is a box with its name; the nodes' own names are cut short.
    graph = build_definitions(Settings()).resolve_asset_graph()
    group = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    for k in range(5):
        members = {name for name, g in group.items() if g == f"fold_{k}"}
        assert members == {f"fold_{k}_training_sets", f"fold_{k}_models", f"fold_{k}_smote_models"}
    assert group["cv_folds"] == "folds" and group["final_model"] == "training"


def test_dagster_dg_and_the_workspace_name_one_code_location():
    import tomllib

    import yaml

    from imbal_pipeline.defs.build import LOCATION_NAME

    root = Path(__file__).parents[1]
    tool = tomllib.loads((root / "pyproject.toml").read_text())["tool"]
    [entry] = yaml.safe_load((root / "workspace.yaml").read_text())["load_from"]
    dg_project = tool["dg"]["project"]
    assert tool["dg"]["directory_type"] == "project"
    assert dg_project["root_module"] == "imbal_pipeline"
    assert (
        tool["dagster"]["module_name"]
        == dg_project["code_location_target_module"]
        == entry["python_module"]["module_name"]
        == "imbal_pipeline.definitions"
    )
    assert (
        tool["dagster"]["code_location_name"]
        == dg_project["code_location_name"]
        == entry["python_module"]["location_name"]
        == LOCATION_NAME
    )


def test_the_fit_cache_reads_the_store_the_io_manager_writes(tmp_path):
    resources = graph(tmp_path).resources
    assert resources["fit_cache"].base_dir == resources["io_manager"].base_dir
    assert resources["fit_cache"].base_dir == str(tmp_path / "storage")
