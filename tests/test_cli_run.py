"""One CLI run on the multiprocess executor, read by three tests: the files it writes, the run
and its steps in the instance, and `versions`/`show` on what it stored."""

import json
import os
import re
import shutil
import subprocess

import dagster as dg
import pandas as pd
import pytest
from conftest import run_cli

from imbal_pipeline.cli import commands as cli
from imbal_pipeline.cli import launch
from imbal_pipeline.cli.unchanged import RECIPE_TAG, unchanged_run
from imbal_pipeline.core.data.versions import file_digest
from imbal_pipeline.core.settings import LADDER
from imbal_pipeline.defs.assets.training import make_final_model


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory, split_files):
    train_csv, _ = split_files
    root = tmp_path_factory.mktemp("cli")
    out = root / "out"
    data_csv = root / "data.csv"
    pd.read_csv(train_csv).assign(same=1).to_csv(data_csv, index=False)  # a warning to print
    args = [
        "run",
        "--data",
        str(data_csv),
        "--target",
        "is_fraud",
        "--out",
        str(out),
        "--folds",
        "3",
        "--trees",  # the model's size is beside the point here: small and quick
        "40",
        "--num-leaves",
        "15",
        "--subgroup",
        "region",
        "--objective",
        "cost",
        "--fp-cost",
        "1",
        "--fn-cost",
        "20",
        "--seed",
        "3",
        # Small data would run in one process (`auto`); these tests are about steps in theirs.
        "--executor",
        "multiprocess",
    ]
    proc = run_cli(args, root / "home", root)
    return proc, out, root / "home", args


@pytest.fixture
def cli_here(monkeypatch, capsys):
    """`imbal-pipeline ARGS` in this process (a few seconds of start-up saved per call), with
    its exit status and output as `run_cli` gives them."""

    def call(args: list[str], home, cwd) -> subprocess.CompletedProcess:
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        monkeypatch.chdir(cwd)
        status = cli.main(args)
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, status, out.out, out.err)

    return call


@pytest.mark.slow
def test_cli_run_writes_the_report_files(cli_run):
    proc, out, _, _ = cli_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in (
        "report.json",
        "report.html",
        "report.md",
        "pr_curve.png",
        "threshold_curve.png",
        "confusion_matrix.png",
    ):
        assert (out / name).is_file(), name
    report = json.loads((out / "report.json").read_text())
    assert report["threshold"]["objective"] == "cost"
    assert report["threshold"]["params"] == {"fp_cost": 1.0, "fn_cost": 20.0}
    assert report["settings"]["seed"] == 3
    assert list(report["cv"]) == list(LADDER)  # every rung, in ladder order
    assert "report:" in proc.stdout and "PR-AUC" in proc.stdout
    # The cost it was tuned for, as reached on the holdout, against flagging nothing or all.
    assert re.search(
        r"^operating point on the holdout: cost [\d.]+ per 1,000 rows; flagging nothing costs",
        proc.stdout,
        re.M,
    )
    assert "warning: raw_data:constant_columns: column 'same' is constant" in proc.stdout
    # One progress line per finished step, counted up to the graph's 25 steps (3 folds).
    lines = re.findall(r"^\[\s*(\d+)/(\d+)\] (\w+) done \(\d+", proc.stderr, re.M)
    assert [int(n) for n, _, _ in lines] == list(range(1, 26))
    assert {total for _, total, _ in lines} == {"25"} and lines[-1][2] == "deployed_model"
    # No Dagster console line (a step process announcing itself at DEBUG) among the progress.
    assert " - dagster - " not in proc.stderr, proc.stderr[:2000]


@pytest.mark.slow
def test_cli_run_is_recorded_in_the_instance_with_one_step_per_fold(cli_run):
    proc, _, home, _ = cli_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert len(runs) == 1
        assert runs[0].job_name == "imbal_pipeline"
        # The runs list names what each run trained on.
        assert runs[0].tags["imbal/data"].endswith("data.csv")
        assert runs[0].tags["imbal/target"] == "is_fraud"
        stats = instance.get_run_step_stats(runs[0].run_id)
        steps = {s.step_key for s in stats}
        for k in range(3):
            assert {f"fold_{k}_training_sets", f"fold_{k}_models"} <= steps
        records = instance.get_records_for_run(runs[0].run_id).records
        pids = {
            r.event_log_entry.dagster_event.pid
            for r in records
            if r.event_log_entry.step_key and r.event_log_entry.dagster_event
        }
        assert len(pids) > 1, "steps must run in their own processes (multiprocess executor)"
        # Steps overlap (folds in parallel) but never more than the cores allow.
        spans = [(s.start_time, s.end_time) for s in stats if s.start_time and s.end_time]
        overlap = max(sum(a <= t < b for a, b in spans) for t, _ in spans)
        assert min(2, os.cpu_count() or 1) <= overlap <= (os.cpu_count() or 1)
        materialized = instance.get_latest_materialization_event(dg.AssetKey("evaluation_report"))
        assert materialized is not None and materialized.run_id == runs[0].run_id


@pytest.mark.slow
def test_versions_and_show_read_the_instance_and_the_store(cli_run, tmp_path, cli_here):
    proc, _, home, _ = cli_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    listed = cli_here(["versions", "final_model"], home, tmp_path)
    assert listed.returncode == 0, listed.stderr
    line = listed.stdout.strip().splitlines()[0]
    version = line.split()[0]
    # The code version is the digest of the code that makes the model (assets/code.py).
    code = make_final_model(2).code_versions_by_key[dg.AssetKey("final_model")]
    assert len(version) == 16 and "run " in line and f"code {code}" in line
    assert "gate passed" in line
    # The run observed the raw file first, so the model names the file content it came from;
    # it is made of the fold models of the strategy the comparison selected. The threshold is
    # attached where the model is exported, so it is not upstream of the model.
    observed = re.search(r"raw_file=([0-9a-f]{16})\b", line)
    assert observed, line
    # The raw file is observed, not made: `versions` lists its observations.
    raw = cli_here(["versions", "raw_file"], home, tmp_path)
    assert raw.returncode == 0, raw.stderr
    assert raw.stdout.startswith(f"{observed[1]}  run ") and "gate observed" in raw.stdout
    for upstream in ("holdout_split=", "fold_0_models=", "strategy_comparison="):
        assert upstream in line, line
    assert "decision_threshold=" not in line
    deployed = cli_here(["versions", "deployed_model"], home, tmp_path).stdout.splitlines()[0]
    # Each stored model with what it is and the run that trained it, from the champion records.
    run_id = re.search(r"; run (\S+) in ", proc.stdout)[1]
    assert f"  in service (promoted by run {run_id} as the first champion, " in deployed
    assert f"trained by run {run_id} at " in deployed and deployed.endswith("  [champion]")
    shown = cli_here(["show", "final_model", "--version", version], home, tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert f"final_model version {version}: gate passed" in shown.stdout
    assert "model: LightGBM model" in shown.stdout
    assert "kind: Bag (imbal_pipeline.core.values)" in shown.stdout  # the class it reads back as
    missing = cli_here(["show", "final_model", "--version", "0" * 16], home, tmp_path)
    assert missing.returncode == 2 and f"has no version {'0' * 16}" in missing.stderr
    unknown = cli_here(["versions", "no_such_asset"], home, tmp_path)
    assert unknown.returncode == 2 and "no materializations of 'no_such_asset'" in unknown.stderr


class Launched(Exception):
    """Raised instead of starting a run."""


def _refuse_to_launch(*args, **kwargs):
    raise Launched


@pytest.mark.slow
def test_a_run_with_nothing_changed_reports_the_last_run_and_runs_nothing(
    cli_run, monkeypatch, capsys
):
    proc, out, home, args = cli_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_id = re.search(r"; run (\S+) in ", proc.stdout).group(1)
    monkeypatch.chdir(out.parent)  # the folder the run was started from
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setattr(launch, "run_job", _refuse_to_launch)
    monkeypatch.setattr(cli, "start_step_server", lambda: None)  # no step runs here
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert f"nothing changed since run {run_id} (same data, settings and code)" in printed
    assert f"report: {out / 'report.html'}" in printed and "PR-AUC" in printed
    # --force runs anyway (the CLI turns the test's stand-in for a run into an error line).
    assert cli.main([*args, "--force"]) == 1
    assert "error: Launched" in capsys.readouterr().err


@pytest.mark.slow
def test_a_run_is_repeated_once_anything_the_last_one_made_was_replaced(cli_run, tmp_path):
    proc, out, home, _ = cli_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    shutil.copytree(home, tmp_path / "home")  # the other tests read the fixture's own
    with dg.DagsterInstance.from_config(str(tmp_path / "home")) as instance:
        (run,) = instance.get_runs()
        recipe = run.tags[RECIPE_TAG]
        read = file_digest(out.parent / "data.csv")  # the data version: one file, no holdout
        assert unchanged_run(instance, recipe, read).run_id == run.run_id
        assert unchanged_run(instance, "0" * 16, read) is None  # another recipe
        assert unchanged_run(instance, recipe, "0" * 16) is None  # other bytes than it read
        report = out / "report.json"
        report.rename(out / "moved.json")
        try:
            assert unchanged_run(instance, recipe, read) is None  # its report is gone
        finally:
            (out / "moved.json").rename(report)
        assert unchanged_run(instance, recipe, read).run_id == run.run_id
        instance.report_runless_asset_event(dg.AssetMaterialization("final_model"))
        assert unchanged_run(instance, recipe, read) is None  # a newer model than the run's


@pytest.mark.slow
def test_show_and_versions_read_one_history_the_instances(cli_run, tmp_path, cli_here):
    proc, _, home, _ = cli_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    shutil.copytree(home, tmp_path / "home")
    # Another instance sharing the store writes a newer version this instance never recorded.
    from imbal_pipeline.store.storage import AssetStore, content_hash

    other = {"strategy": "none", "note": "written by another instance"}
    AssetStore(tmp_path / "home" / "storage").write(
        "final_model", other, content_hash(other), "passed", "another-run"
    )
    listed = cli_here(["versions", "final_model"], tmp_path / "home", tmp_path)
    newest = listed.stdout.splitlines()[0].split()
    shown = cli_here(["show", "final_model"], tmp_path / "home", tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(
        f"final_model version {newest[0]}: gate passed, run {newest[2]}, {newest[3]}"
    )
    foreign = cli_here(
        ["show", "final_model", "--version", content_hash(other)], tmp_path / "home", tmp_path
    )
    assert f"not materialized in {tmp_path / 'home'}" in foreign.stdout
