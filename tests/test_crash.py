"""Crash and concurrency safety of the store.

A run killed with SIGKILL leaves no partial value visible to readers and the rerun completes;
two runs at once in one instance and one store neither corrupt nor mix each other's values.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import CLI, data_versions

from imbal_pipeline.storage import MANIFEST, AssetStore


def _assert_store_whole(storage):
    store = AssetStore(storage)
    for folder in storage.iterdir():
        latest = store.latest(folder.name)
        if latest is not None:
            assert (folder / "versions" / latest["version"] / MANIFEST).is_file(), folder.name
        for version in (folder / "versions").iterdir() if (folder / "versions").is_dir() else []:
            if version.name.startswith("."):
                continue  # a writer's temp folder: never read, never pointed at
            manifest = json.loads((version / MANIFEST).read_text())
            for key in manifest["tables"]:
                assert (version / f"{key}.parquet").stat().st_size > 0
            for key in manifest["models"]:
                assert (version / f"{key}.txt").stat().st_size > 0


def test_sigkill_mid_run_leaves_whole_versions_and_the_rerun_completes(tmp_path, split_files):
    train_csv, _ = split_files
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home"), "GX_ANALYTICS_ENABLED": "false"}
    args = [
        *CLI,
        "run",
        "--data",
        str(train_csv),
        "--target",
        "is_fraud",
        "--folds",
        "3",
        "--out",
        str(tmp_path / "out"),
    ]
    proc = subprocess.Popen(
        args,
        env=env,
        cwd=tmp_path,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    marker = tmp_path / "home" / "storage" / "fold_0_training_sets" / "latest.json"
    deadline = time.monotonic() + 300
    while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert marker.exists(), "the run never reached the folds"
    os.killpg(proc.pid, signal.SIGKILL)  # the CLI, the forkserver and every step process
    proc.wait(timeout=60)
    assert not (tmp_path / "out" / "report.json").exists()
    _assert_store_whole(tmp_path / "home" / "storage")
    rerun = subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert (tmp_path / "out" / "report.json").is_file()
    _assert_store_whole(tmp_path / "home" / "storage")


# One whole-graph run in its own process, in the instance at $DAGSTER_HOME and a shared store.
_CHILD = """
import json, sys
import dagster as dg
from conftest import SMALL
from imbal_pipeline.definitions import build_definitions
from imbal_pipeline.resources import PipelineConfig
from imbal_pipeline.storage import BundleIOManager

root, name, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
defs = build_definitions(SMALL["n_folds"])
config = PipelineConfig(
    **SMALL, seed=seed, output_dir=f"{root}/{name}", contracts_dir=f"{root}/contracts"
)
with dg.DagsterInstance.get() as instance:
    result = dg.materialize(
        list(defs.assets),
        instance=instance,
        resources={"pipeline": config, "io_manager": BundleIOManager(base_dir=f"{root}/storage")},
    )
    versions = {
        e.asset_key.to_user_string(): e.step_materialization_data.materialization.tags[
            "dagster/data_version"
        ]
        for e in result.get_asset_materialization_events()
    }
    print("VERSIONS " + json.dumps(versions))
"""


def test_two_runs_at_once_neither_corrupt_nor_mix_the_store(tmp_path, small_run):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "GX_ANALYTICS_ENABLED": "false",
        "PYTHONPATH": str(Path(__file__).parent),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(tmp_path), name, str(seed)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, seed in (("a", 0), ("b", 1))
    ]
    outputs = [proc.communicate(timeout=900) for proc in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
    a, b = (
        json.loads(next(x for x in out.splitlines() if x.startswith("VERSIONS "))[9:])
        for out, _ in outputs
    )
    # Run a, with run b writing the same assets beside it, equals the same run made alone.
    assert a == data_versions(small_run)
    # Different seeds give different values, except the profile: same row and positive counts.
    assert len(a) == 16 and [k for k in a if a[k] == b[k]] == ["imbalance_profile"]
    store = AssetStore(tmp_path / "storage")
    for asset in a:
        assert {r["version"] for r in store.history(asset)} == {a[asset], b[asset]}
        for version in (a[asset], b[asset]):
            store.load(asset, version)  # whole and readable
    _assert_store_whole(tmp_path / "storage")
