"""A team deployment, run for real: runs and events in PostgreSQL, steps on Dask workers.

The CLI runs the whole graph with the project's executor set to a local Dask cluster (two
single-threaded workers, so folds run in parallel on them) against an instance whose storage
is a throwaway PostgreSQL cluster; the checks gate as they do on one machine.
"""

import os
import subprocess

import dagster as dg
import pytest
from conftest import CLI
from servers import Dask, Postgres

from imbal_pipeline.core.data.synthetic import make_fraud_data

pytestmark = [pytest.mark.slow, pytest.mark.servers]


@pytest.fixture(scope="module")
def postgres():
    server = Postgres()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def team(tmp_path_factory, postgres):
    """A project folder, an instance on PostgreSQL, and a Dask cluster serving it."""
    folder = tmp_path_factory.mktemp("team")
    home = folder / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(postgres.dagster_yaml())
    env = {**os.environ, "DAGSTER_HOME": str(home), "GX_ANALYTICS_ENABLED": "false"}
    cluster = Dask(workers=2, cwd=folder, env=env)
    yield folder, home, env, cluster
    cluster.stop()


def _run(folder, env, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, "run", *args], cwd=folder, env=env, capture_output=True, text=True, timeout=900
    )


ARGS = ("--folds", "3", "--trees", "40", "--strategies", "none,class_weight,undersample")


def test_the_graph_runs_on_postgres_and_dask_with_folds_in_parallel_on_the_workers(team):
    folder, home, env, cluster = team
    make_fraud_data(3000, 0.04, seed=7).to_csv(folder / "data.csv", index=False)
    done = _run(
        folder,
        env,
        *("--data", "data.csv", "--target", "is_fraud", *ARGS),
        *("--executor", "dask", "--dask-address", cluster.address),
        *("--store", str(folder / "store"), "--out", str(folder / "out")),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "report: " in done.stdout
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        [run] = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.SUCCESS
        records = instance.get_records_for_run(run.run_id).records
        starts = {
            r.event_log_entry.step_key: r.event_log_entry.dagster_event.pid
            for r in records
            if r.event_log_entry.dagster_event
            and r.event_log_entry.dagster_event.event_type_value == "STEP_START"
        }
        assert set(starts.values()) <= cluster.worker_pids  # every step ran on a worker
        assert len(set(starts.values())) == 2
        stats = {s.step_key: s for s in instance.get_run_step_stats(run.run_id)}
        # Each fold fits in two steps (fold_k_models, fold_k_smote_models); two of them at once
        # is what two workers are for.
        folds = [stats[f"fold_{k}_{p}"] for k in range(3) for p in ("models", "smote_models")]
        overlapping = any(
            a.start_time < b.end_time and b.start_time < a.end_time
            for i, a in enumerate(folds)
            for b in folds[i + 1 :]
        )
        assert overlapping, "no two fold model steps ran at once on the two workers"
        checks = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey("cv_folds"), "folds_partition")]
        )
        assert checks, "the checks ran on the workers and were recorded in PostgreSQL"
    assert (folder / "store" / "evaluation_report").is_dir()
    assert (folder / "out" / "report.json").is_file()
    # The workers could size every step's result (dask_sizes): no warning per result.
    assert "distributed.sizeof" not in cluster.worker_log()


def test_a_failing_gate_stops_the_run_on_the_workers_too(team):
    folder, home, env, cluster = team
    frame = make_fraud_data(3000, 0.04, seed=7)
    frame.loc[::100, "amount"] = float("inf")
    frame.to_csv(folder / "bad.csv", index=False)
    failed = _run(
        folder,
        env,
        *("--data", "bad.csv", "--target", "is_fraud", *ARGS),
        *("--executor", "dask", "--dask-address", cluster.address),
        *("--store", str(folder / "store"), "--out", str(folder / "out_bad")),
    )
    assert failed.returncode == 1
    last = failed.stderr.strip().splitlines()[-1]
    assert "check raw_data:no_infinities failed" in last
    run_id = last.rsplit("(run ", 1)[1].rstrip(")")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        records = instance.get_records_for_run(
            run_id=run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        ).records
    # raw_data is written with its failed verdict (Dagster's rule); every step downstream,
    # sent to the workers as usual, refuses that version and materializes nothing.
    assert {r.asset_key.to_user_string() for r in records} == {"raw_data"}
    assert not (folder / "out_bad").exists()
