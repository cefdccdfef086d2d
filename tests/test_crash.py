"""Crash and concurrency safety of the store.

A run killed with SIGKILL leaves no partial value visible to readers and the rerun completes;
two runs at once in one instance and one store neither corrupt nor mix each other's values.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import CLI, data_versions, training_assets

from imbal_pipeline.store.champion import Champions
from imbal_pipeline.store.storage import ASSET_NAME, MANIFEST, AssetStore

FAULTS = Path(__file__).parent / "faults"


def _assert_store_whole(storage):
    store = AssetStore(storage)
    for folder in storage.iterdir():
        if not ASSET_NAME.fullmatch(folder.name):
            continue  # Dagster's own per-run folders share $DAGSTER_HOME/storage
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


def _session_processes(sid: int) -> list[int]:
    """Live processes of a session (zombies excluded), from /proc."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:300]
    except OSError:
        return "(gone)"


@pytest.mark.slow
def test_sigkill_of_the_cli_takes_its_steps_down_and_the_run_can_be_rerun(tmp_path, split_files):
    train_csv, _ = split_files
    stall = tmp_path / "stalled"
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
        "--trees",  # the models' size and the ladder are beside the point: small and quick
        "40",
        "--strategies",
        "none,class_weight",
        "--out",
        str(tmp_path / "out"),
        "--executor",
        "multiprocess",  # steps in processes of their own, which must not outlive the CLI
    ]
    proc = subprocess.Popen(
        args,
        # fold 0's models step writes `stall` and hangs: a step is busy when the CLI dies
        env={**env, "IMBAL_TEST_STALL_FILE": str(stall), "PYTHONPATH": str(FAULTS)},
        cwd=tmp_path,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while not stall.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert stall.exists(), "the run never reached the folds"
    busy = int(stall.read_text())
    assert busy in _session_processes(proc.pid)  # a step process, beside the CLI
    os.kill(proc.pid, signal.SIGKILL)  # the CLI alone, as `kill -9 <pid>` would
    proc.wait(timeout=60)
    deadline = time.monotonic() + 30
    while _session_processes(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    survivors = {pid: _command_line(pid) for pid in _session_processes(proc.pid)}
    assert survivors == {}, f"processes outlived the CLI: {survivors}"
    assert not (tmp_path / "out" / "report.json").exists()
    _assert_store_whole(tmp_path / "home" / "storage")

    import dagster as dg

    with dg.DagsterInstance.from_config(str(tmp_path / "home")) as instance:
        [run] = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.STARTED  # nobody was left to say otherwise
    rerun = subprocess.run(
        [*CLI, "rerun", run.run_id], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"run {run.run_id} was left running by a killed process; marked it failed" in (
        rerun.stdout
    )
    assert "report: " in rerun.stdout and (tmp_path / "out" / "report.json").is_file()
    _assert_store_whole(tmp_path / "home" / "storage")
    rerun_id = re.search(r"^rerun (\S+) of ", rerun.stdout, re.M).group(1)
    again = subprocess.run(
        [*CLI, "rerun", rerun_id], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert again.returncode == 2
    assert again.stderr.strip().endswith(
        "succeeded, so there is nothing to rerun; start a new one with `imbal-pipeline run`"
    )
    assert "Traceback" not in again.stderr
    # The failed run and its rerun made one complete set of results: the same command reports
    # them rather than repeating them.
    same = subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert same.returncode == 0, same.stderr[-3000:]
    assert f"nothing changed since run {rerun_id}" in same.stdout


# One whole-graph run in its own process, in the instance at $DAGSTER_HOME and a shared store.
# Each run compares its model with the champion in service (none yet), then waits for the other
# run to have compared too before deploying: what is raced for is then the one place in service.
# (A run whose report is built after the other run deployed compares with that model, rightly,
# and its report differs from the run made alone.)
_CHILD = """
import json, sys, time
from pathlib import Path
import dagster as dg
from conftest import graph, training_assets
from imbal_pipeline.defs.assets import evaluation

root, name, seed = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
compare = evaluation._challenge

def compare_then_wait_for_the_other_run(*args):
    promotion = compare(*args)
    (root / (name + ".compared")).touch()
    other = root / (("b" if name == "a" else "a") + ".compared")
    deadline = time.monotonic() + 300
    while not other.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return promotion

evaluation._challenge = compare_then_wait_for_the_other_run
defs = graph(
    root, seed=seed, output_dir=str(root / name), store=str(root / "storage")
)
with dg.DagsterInstance.get() as instance:
    result = dg.materialize(training_assets(defs), instance=instance, resources=defs.resources)
    versions = {
        e.asset_key.to_user_string(): e.step_materialization_data.materialization.tags[
            "dagster/data_version"
        ]
        for e in result.get_asset_materialization_events()
    }
    print("VERSIONS " + json.dumps(versions))
    deployed = result.asset_materializations_for_node("deployed_model")[0].metadata
    print("CHALLENGER " + deployed["challenger"].value)
"""


@pytest.mark.slow
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
    # As every CLI command does first: the instance's tables exist before the runs start.
    subprocess.run(
        [sys.executable, "-c", "from imbal_pipeline.cli.runs import ensure_home; ensure_home()"],
        env=env,
        check=True,
    )
    # Each child writes to files, not pipes: a pipe read only after the other child ends would
    # fill and stop its writer mid-run, which would order the runs instead of overlapping them.
    procs = []
    for name, seed in (("a", 0), ("b", 1)):
        with open(tmp_path / f"{name}.out", "w") as out, open(tmp_path / f"{name}.err", "w") as err:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", _CHILD, str(tmp_path), name, str(seed)],
                    env=env,
                    stdout=out,
                    stderr=err,
                )
            )
    for proc in procs:
        proc.wait(timeout=900)
    outputs = [
        ((tmp_path / f"{name}.out").read_text(), (tmp_path / f"{name}.err").read_text())
        for name in ("a", "b")
    ]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
    a, b = (
        json.loads(next(x for x in out.splitlines() if x.startswith("VERSIONS "))[9:])
        for out, _ in outputs
    )
    challengers = [
        next(x for x in out.splitlines() if x.startswith("CHALLENGER "))[11:] for out, _ in outputs
    ]
    alone = data_versions(small_run)
    # Run a, with run b writing the same assets beside it, equals the same run made alone; its
    # model is the one the run alone made, whether or not it won the race to be in service.
    assert {k: v for k, v in a.items() if k != "deployed_model"} == {
        k: v for k, v in alone.items() if k != "deployed_model"
    }
    assert challengers[0] == alone["deployed_model"] != challengers[1]
    # Different seeds give different values, except the profile: same row and positive counts.
    assert len(a) == 24
    assert [k for k in a if a[k] == b[k] and k != "deployed_model"] == ["imbalance_profile"]
    # One model is in service, the first to finish; the other run, compared with no champion,
    # found one in place and kept it ("raced"): both runs serve the same champion.
    store = AssetStore(tmp_path / "storage")
    champion = Champions(store).current()["version"]
    assert a["deployed_model"] == b["deployed_model"] == champion
    assert champion in challengers
    assert len(Champions(store).records()) == 1
    # Both models are stored and recorded as challengers; only the champion was ever served.
    assert {r["version"] for r in Champions(store).challengers()} == set(challengers)
    for version in challengers:
        store.load("deployed_model", version)  # whole and readable
    for asset in a:
        served = {a[asset], b[asset]}
        assert {r["version"] for r in store.history(asset)} == served
        for version in served:
            store.load(asset, version)
    _assert_store_whole(tmp_path / "storage")


def test_lineage_names_what_this_run_read_while_another_run_records_its_own(tmp_path, monkeypatch):
    """Another run's observation and materialization land mid-run; this run's tags ignore them."""
    import dagster as dg
    from conftest import graph

    from imbal_pipeline.core import inputs
    from imbal_pipeline.defs.assets.common import RAW_FILE

    with dg.DagsterInstance.ephemeral() as instance:
        load_raw, split_raw = inputs.load_raw, inputs.split_raw

        def load_raw_while_another_run_observes(settings, *read):
            other = dg.AssetObservation(RAW_FILE, tags={"dagster/data_version": "other-file"})
            instance.report_runless_asset_event(other)
            return load_raw(settings, *read)

        def split_while_another_run_materializes(raw, settings, *read):
            other = dg.AssetMaterialization("raw_data", tags={"dagster/data_version": "0" * 16})
            instance.report_runless_asset_event(other)
            return split_raw(raw, settings, *read)

        monkeypatch.setattr(inputs, "load_raw", load_raw_while_another_run_observes)
        monkeypatch.setattr(inputs, "split_raw", split_while_another_run_materializes)
        defs = graph(tmp_path)
        result = dg.materialize(
            training_assets(defs),
            selection=dg.AssetSelection.assets("raw_file", "raw_data", "holdout_split"),
            instance=instance,
            resources=defs.resources,
        )
        observed = next(
            e.event_specific_data.asset_observation.tags["dagster/data_version"]
            for e in result.all_events
            if e.event_type_value == "ASSET_OBSERVATION"
        )
        tags = {
            e.asset_key.to_user_string(): e.step_materialization_data.materialization.tags
            for e in result.get_asset_materialization_events()
        }
    assert observed.startswith("generated-")
    assert tags["raw_data"]["dagster/input_data_version/raw_file"] == observed
    assert (
        tags["holdout_split"]["dagster/input_data_version/raw_data"]
        == (tags["raw_data"]["dagster/data_version"])
    )
    assert tags["holdout_split"]["dagster/input_data_version/raw_file"] == observed


def test_commands_started_at_once_on_a_new_home_create_its_instance_once(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home")}
    # What every command does: ensure the home, then open the instance.
    code = (
        "import dagster as dg\nfrom imbal_pipeline.cli.runs import ensure_home\n"
        "ensure_home()\ndg.DagsterInstance.get()\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    errors = [proc.communicate(timeout=120)[1] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0, 0], errors


def test_a_run_reads_its_own_check_verdicts_not_those_another_run_recorded_since():
    """Two runs check the same asset; the report of the first must quote the first's verdicts."""
    import dagster as dg

    from imbal_pipeline.defs.lineage import check_evaluation, pinned_check

    class Verdict(dg.Config):
        passed: bool

    @dg.asset
    def table() -> int:
        return 1

    @dg.asset_check(asset=table)
    def sane(config: Verdict) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=config.passed)

    key = dg.AssetCheckKey(dg.AssetKey("table"), "sane")
    with dg.DagsterInstance.ephemeral() as instance:
        run_ids = [
            dg.materialize(
                [table, sane],
                instance=instance,
                run_config={"ops": {"table_sane": {"config": {"passed": passed}}}},
            ).run_id
            for passed in (True, False)
        ]
        verdicts = [check_evaluation(pinned_check(instance, r, key)).passed for r in run_ids]
        # A run that made no evaluation of its own (a lone asset) reads the latest one.
        lone = check_evaluation(pinned_check(instance, "not-a-run", key)).passed
    assert verdicts == [True, False]
    assert lone is False
