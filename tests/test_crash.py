"""A run killed with SIGKILL leaves no partial value visible to readers, and the rerun completes."""

import json
import os
import signal
import subprocess
import sys
import time

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
        sys.executable,
        "-m",
        "imbal_pipeline.cli",
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
