"""The command line as a user runs it: through a Dagster instance, on the multiprocess executor
where a test is about step processes, else on the one `auto` picks for its small data."""

import errno
import json
import os
import re
import sqlite3
import subprocess
import time
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from conftest import CLI, run_cli, start_cli, training_assets

from imbal_pipeline.cli.arguments import build_parser
from imbal_pipeline.core.data.versions import file_digest
from imbal_pipeline.core.project import PROJECT_FILE
from imbal_pipeline.core.settings import Settings, SettingsError


def _failed_with_fault(args, tmp_path, **fault) -> tuple[str, str]:
    """Run the CLI with a test-only fault of tests/faults switched on; it must fail. Its stderr
    and that stderr's last line."""
    faults = str(Path(__file__).parent / "faults")
    proc = run_cli(args, tmp_path / "home", tmp_path, PYTHONPATH=faults, **fault)
    assert proc.returncode == 1, proc.stderr[-3000:]
    return proc.stderr, proc.stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_failed_step_exits_non_zero_with_a_one_line_reason(tmp_path, split_files):
    train_csv, test_csv = split_files
    args = ["--target", "is_fraud", "--out", str(tmp_path / "out"), "--folds", "3"]
    # A file that cannot be read as told is refused before a run starts (exit 2), the training
    # file and a --test-data file alike, and nothing is written or saved.
    semicolons = tmp_path / "train.csv"
    pd.read_csv(train_csv).to_csv(semicolons, sep=";", index=False)
    for files in (
        ["--data", str(semicolons)],
        ["--data", str(train_csv), "--test-data", str(semicolons)],
    ):
        proc = run_cli(["run", *files, *args], tmp_path / "home", tmp_path)
        said = "train.csv has one column; it looks ';'-separated: pass --sep ';'"
        assert (proc.returncode, proc.stderr.strip()) == (2, f"imbal-pipeline: error: {said}")
        assert not (tmp_path / "out").exists() and not (tmp_path / "imbal_pipeline.yaml").exists()
    # What only the step finds fails the step, in one line: a holdout file without the target.
    no_target = tmp_path / "test.csv"
    pd.read_csv(test_csv).drop(columns="is_fraud").to_csv(no_target, index=False)
    proc = run_cli(
        ["run", "--data", str(train_csv), "--test-data", str(no_target), *args],
        tmp_path / "home",
        tmp_path,
    )
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("imbal-pipeline: error: step holdout_split failed: holdout file ")
    assert "target column 'is_fraud' not in the data" in last
    assert not (tmp_path / "out").exists()
    # Dagster's own ERROR lines and stack stay in the event log unless --verbose asks for them.
    assert " - dagster - " not in proc.stderr and "Traceback" not in proc.stderr
    # The fix is in the arguments, so the way on is a new run, not a rerun of this one.
    assert re.search(r"\(run [0-9a-f-]{36}\)$", last) and "imbal-pipeline rerun" not in last


def _crashed_run(step: str, exit_code: int):
    """A run whose step process died as the multiprocess executor reports it: an engine event
    in Dagster's own words beside a ChildProcessCrashException step failure."""
    from types import SimpleNamespace

    from dagster._utils import get_run_crash_explanation

    said = get_run_crash_explanation(
        f"Multiprocess executor: child process for step {step}", exit_code
    )
    error = SimpleNamespace(cls_name="ChildProcessCrashException", cause=None, message="crashed")
    events = [
        SimpleNamespace(step_key=step, event_type_value="STEP_START", is_step_failure=False),
        SimpleNamespace(
            step_key=step, event_type_value="ENGINE_EVENT", is_step_failure=False, message=said
        ),
        SimpleNamespace(
            step_key=step,
            event_type_value="STEP_FAILURE",
            is_step_failure=True,
            message=None,
            step_failure_data=SimpleNamespace(error=error),
        ),
    ]
    return SimpleNamespace(run_id="0123abcd-0000-4000-8000-000000000000", all_events=events)


def test_a_step_process_that_died_is_named_with_its_cause_and_the_rerun_command():
    from imbal_pipeline.cli.runs import failure_line

    rerun = "; rerun only what failed: imbal-pipeline rerun 0123abcd-0000-4000-8000-000000000000"
    assert failure_line(_crashed_run("raw_data", -9)) == (
        "step raw_data failed: its process was killed (SIGKILL), most often by the operating "
        "system when memory runs out; free memory or lower --max-negatives" + rerun
    )
    assert failure_line(_crashed_run("fold_0_models", -15)) == (
        "step fold_0_models failed: its process was stopped by signal 15 (SIGTERM)" + rerun
    )
    assert failure_line(_crashed_run("fold_0_models", 3)) == (
        "step fold_0_models failed: its process exited with code 3 and no Python error" + rerun
    )


# The same, through real processes: a step process killed while the CLI waits on it (the unit
# test above holds the wording; this one that Dagster's executor reports the death as it reads).
@pytest.mark.slow
def test_a_killed_step_process_says_so_with_the_likely_cause_and_the_rerun_command(
    tmp_path, split_files
):
    train_csv, _ = split_files
    args = ["run", "--data", str(train_csv), "--target", "is_fraud", "--out", str(tmp_path / "out")]
    stderr, last = _failed_with_fault(
        [*args, "--executor", "multiprocess"], tmp_path, IMBAL_TEST_KILL_RAW="1"
    )
    assert "step raw_data failed: its process was killed (SIGKILL)" in last, last
    assert "when memory runs out; free memory or lower --max-negatives" in last
    assert re.search(r"; rerun only what failed: imbal-pipeline rerun [0-9a-f-]{36}$", last)
    assert "ChildProcessCrashException" not in stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--data", "missing.csv", "--target", "y"], "file not found"),
        (["run", "--data", "x.csv"], "--target is required"),
        (["run", "--folds", "1"], "--folds must be a whole number from 2 to 20, got 1"),
        (["run", "--strategies", "smote,none"], "must start with 'none'"),
        (["run", "--objective", "accuracy"], "invalid choice"),
        (["run", "--max-negatives", "-1"], "--max-negatives must be 0 (no limit) or at least 100"),
    ],
)
def test_bad_arguments_exit_2_with_one_line_before_any_run(tmp_path, args, message):
    proc = run_cli(args, tmp_path / "home", tmp_path)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert not (tmp_path / "home" / "history").exists()  # no run was launched


def test_help_explains_every_option():
    text = build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    for option in (
        "--data",
        "--target",
        "--out",
        "--positive-label",
        "--test-data",
        "--objective",
        "--beta",
        "--fp-cost",
        "--fn-cost",
        "--recall-target",
        "--folds",
        "--seed",
        "--categorical",
        "--subgroup",
        "--id",
    ):
        assert option in text, option


def _data_versions(home) -> dict[str, str]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        out = {}
        for key in instance.get_asset_keys():
            event = instance.get_latest_materialization_event(key)
            if event is None:  # the observed raw file: its observed content version
                entry = instance.get_latest_data_version_record(key, is_source=True).event_log_entry
                out[key.to_user_string()] = entry.tags["dagster/data_version"]
                continue
            out[key.to_user_string()] = event.asset_materialization.tags["dagster/data_version"]
        return out


@pytest.mark.slow
def test_a_failed_fold_reruns_alone_and_ends_like_a_clean_run(tmp_path, split_files):
    train_csv, _ = split_files
    args = [
        "run",
        "--data",
        str(train_csv),
        "--target",
        "is_fraud",
        "--folds",
        "3",
        "--seed",
        "5",
        "--trees",
        "40",
        "--strategies",
        "none,class_weight,undersample",
    ]
    # The clean run to compare with runs meanwhile, from a folder and on a home of its own.
    (tmp_path / "elsewhere").mkdir()
    clean = start_cli(
        [*args, "--out", str(tmp_path / "b")], tmp_path / "clean", tmp_path / "elsewhere"
    )
    stderr, last = _failed_with_fault(
        [*args, "--out", str(tmp_path / "a")], tmp_path, IMBAL_TEST_FAULT_FOLD="1"
    )
    # A deterministic error is not retried, and the line names it.
    assert "step fold_1_models failed: ValueError: injected fault in fold 1 (tests only)" in last
    assert "attempts" not in last
    assert re.search(r"^\[\s*\d+/25\] fold_1_models FAILED", stderr, re.M)
    # Not an input error: the line ends with the exact command that reruns what failed.
    run_id = re.search(r"; rerun only what failed: imbal-pipeline rerun (\S+)$", last)[1]
    rerun = run_cli(["rerun", run_id], tmp_path / "home", tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert (
        "reran 10 steps (baseline_model, decision_threshold, deployed_model, evaluation_report, "
        "final_model, fold_1_models, learning_curve, learning_curve_part_0, "
        "learning_curve_part_1, strategy_comparison)"
    ) in rerun.stdout
    assert "[10/10] " in rerun.stderr  # the rerun counts the steps it reruns
    with dg.DagsterInstance.from_config(str(tmp_path / "home")) as instance:
        again, first = instance.get_runs(limit=2)  # newest first
        # One run group, as the UI shows a run and its re-executions.
        _, group = instance.get_run_group(again.run_id)
        assert {r.run_id for r in group} == {first.run_id, again.run_id}
    # The step that names the data does not run again; the rerun keeps its parent's names.
    assert again.parent_run_id == first.run_id
    assert again.tags["imbal/data"] == first.tags["imbal/data"] == str(train_csv)
    assert again.tags["imbal/target"] == "is_fraud"
    # Its content digest and project too, as the parent named them at launch.
    for tag in ("imbal/data_sha256", "imbal/project"):
        assert again.tags[tag] == first.tags[tag]
    assert first.tags["imbal/data_sha256"] == file_digest(train_csv)
    _, clean_err = clean.communicate(timeout=900)
    assert clean.returncode == 0, clean_err[-3000:]
    rerun_versions, clean_versions = (
        _data_versions(tmp_path / "home"),
        _data_versions(tmp_path / "clean"),
    )
    assert len(clean_versions) == 25  # 24 assets and the observed raw file
    assert rerun_versions == clean_versions
    unknown = run_cli(["rerun", "no-such-run"], tmp_path / "home", tmp_path)
    assert unknown.returncode == 2 and "no run no-such-run" in unknown.stderr


def test_default_instance_is_a_local_sqlite_home_with_telemetry_off(tmp_path, monkeypatch):
    from imbal_pipeline.cli.commands import ensure_home

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    home = ensure_home()
    assert home == tmp_path / ".dagster_home" and os.environ["DAGSTER_HOME"] == str(home)
    assert "telemetry:\n  enabled: false" in (home / "dagster.yaml").read_text()
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "SqliteRunStorage"
        assert instance.root_directory == str(home)


def _main(args, capsys, monkeypatch, home) -> tuple[int, str]:
    """The CLI in this process: exit status and the last line of stderr."""
    from imbal_pipeline.cli.commands import main

    monkeypatch.setenv("DAGSTER_HOME", str(home))
    status = main(args)
    lines = capsys.readouterr().err.strip().splitlines()
    return status, lines[-1] if lines else ""


EVIL_SUITE = {
    "name": "evil",
    "expectations": [
        {
            "type": "expect_column_values_to_not_be_null",
            "kwargs": {
                "column": "amount",
                "row_condition": "@logging.os.system('touch PWNED') != 0",
                "condition_parser": "pandas",
            },
        }
    ],
}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--seed", "-1"], "--seed must be a whole number from 0 to 4294967295"),
        (["run", "--sep", "ab"], "--sep must be one character, got 'ab'"),
        (["run", "--encoding", "utf-9"], "unknown --encoding 'utf-9'"),
        (["run", "--decimal", ","], "--decimal must differ from --sep"),
        (["run", "--contract", "evil.txt"], "sets 'row_condition'"),
        (["run", "--out", "."], "holds files no imbal-pipeline run wrote"),
        (["show", "../../etc"], "'../../etc' is not an asset name"),
        (["show", "final_model", "--version", "../../x"], "'../../x' is not a data version"),
        (["versions", "../x"], "'../x' is not an asset name"),
        # each of these failed only once the run had begun, or was saved to the project file
        (["run", "--fp-cost", "nan"], "--fp-cost must be a finite number in [0, 1e+12], got nan"),
        (["run", "--beta", "inf"], "--beta must be a finite number in (0, 100], got inf"),
        (["run", "--num-leaves", "100000000"], "--num-leaves must be a whole number from 2 to"),
        (["run", "--retrain-cron", "bogus"], "--retrain-cron 'bogus' is not a cron schedule"),
        (["init", "--retrain-cron", "0 0 30 2 *"], "is not a cron schedule Dagster can run"),
        (["run", "--encoding", "hex"], "--encoding 'hex' is not a text encoding"),
        (["init", "--encoding", "hex"], "--encoding 'hex' is not a text encoding"),
        (["run", "--store", "memory://x"], "memory:// keeps values in one process"),
        (["init", "--thousands", "0"], "--thousands '0' would misread the file"),
        (["run", "--out", "o" * 250], "--out name is 250 characters; a run writes beside it"),
        (["run", "--out", "o" * 256 + "/r"], "a name of 256 characters, longer than this"),
        (["run", "--out", "notes.txt/report"], "notes.txt is a file, not a folder"),
    ],
)
def test_refused_before_anything_runs_with_exit_2(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evil.txt").write_text(json.dumps(EVIL_SUITE))
    (tmp_path / "notes.txt").write_text("someone's notes")
    status, last = _main(args, capsys, monkeypatch, tmp_path / "home")
    assert status == 2, last
    assert last.startswith("imbal-pipeline: error: ") and message in last, last
    assert not (tmp_path / "PWNED").exists()
    assert (tmp_path / "notes.txt").read_text() == "someone's notes"
    assert not (tmp_path / PROJECT_FILE).exists()  # nothing saved for later commands


def test_an_empty_or_header_only_data_file_is_refused_before_the_run_and_not_saved(
    tmp_path, capsys, monkeypatch
):
    # They failed in the raw_data step 20 s later, with the path saved for the next plain `run`.
    monkeypatch.chdir(tmp_path)
    assert _main(["init"], capsys, monkeypatch, tmp_path / "home")[0] == 0
    before = (tmp_path / PROJECT_FILE).read_text()
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("a,b,target\n")
    for name, said in (("empty.csv", "data file is empty: "), ("header.csv", "has no rows: ")):
        args = ["run", "--data", name, "--target", "target"]
        status, last = _main(args, capsys, monkeypatch, tmp_path / "home")
        assert status == 2 and said in last and "give a file with a header and rows" in last, last
    assert (tmp_path / PROJECT_FILE).read_text() == before
    assert not (tmp_path / "home" / "storage").exists()  # nothing ran


def test_an_unknown_asset_or_version_is_a_bad_argument_naming_what_exists(
    tmp_path, capsys, monkeypatch
):
    from imbal_pipeline.cli.history import unknown_asset
    from imbal_pipeline.store.storage import AssetStore, content_hash

    monkeypatch.chdir(tmp_path)
    frame = pd.DataFrame({"a": [1.0]})
    version = content_hash(frame)
    store = AssetStore(tmp_path / "home" / "storage")
    for run in ("r1", "r2"):  # the same value written twice is one version
        store.write("raw_data", frame, version, "ok", run)
    args = ["show", "raw_data", "--version", "0" * 16]
    status, last = _main(args, capsys, monkeypatch, tmp_path / "home")
    assert status == 2 and last.endswith(f"has no version {'0' * 16} (recent: {version})"), last
    status, last = _main(["show", "no_such_asset"], capsys, monkeypatch, tmp_path / "home")
    assert status == 2 and "nothing stored for 'no_such_asset'" in last, last
    assert last.endswith("; run `imbal-pipeline run` first"), last  # the instance records none
    status, last = _main(["versions", "no_such_asset"], capsys, monkeypatch, tmp_path / "home")
    assert status == 2 and "no materializations of 'no_such_asset'" in last, last
    assert unknown_asset("final_modle", "h", ["raw_data", "final_model"]) == (
        "no materializations of 'final_modle' in h; did you mean 'final_model'? the assets it "
        "records are final_model, raw_data"
    )


def test_an_out_or_store_a_run_cannot_write_is_refused_before_it_runs(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    mount, locked = tmp_path / "mnt", tmp_path / "locked"
    mount.mkdir()
    locked.mkdir()
    # A test can neither mount a filesystem nor, as root, be refused a write: these two folders
    # answer the checks' questions as an empty mount point and a read-only folder would.
    ismount, access = os.path.ismount, os.access
    monkeypatch.setattr(os.path, "ismount", lambda p: Path(p) == mount or ismount(p))
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != locked and access(p, mode))
    for args, message in (
        (["run", "--out", str(mount)], f"--out {mount} is a mount point, which a run cannot"),
        (["run", "--out", str(mount)], f"give a folder inside it, e.g. --out {mount}/report"),
        (["run", "--out", str(locked / "report")], f"cannot write in {locked} (read-only"),
        (["run", "--out", str(locked)], f"cannot write in {locked} (read-only"),
        (["run", "--store", str(locked / "store")], f"--store {locked}/store: cannot write in"),
    ):
        status, last = _main(args, capsys, monkeypatch, tmp_path / "home")
        assert status == 2 and message in last, last
    assert not (tmp_path / PROJECT_FILE).exists()


def test_an_out_or_store_that_takes_no_file_is_refused_by_a_trial_write(
    tmp_path, capsys, monkeypatch
):
    # As root every permission check passes, yet /proc takes no new file: the run failed late.
    monkeypatch.chdir(tmp_path)
    for args, message in (
        (["run", "--out", "/proc/foo"], "--out /proc/foo: cannot write in /proc (a trial write"),
        (["run", "--store", "file:///proc/x"], "--store /proc/x: cannot write in /proc (a trial"),
        (["run", "--store", "/proc/x"], "--store /proc/x: cannot write in /proc (a trial"),
    ):
        status, last = _main(args, capsys, monkeypatch, tmp_path / "home")
        assert status == 2 and message in last, last
    assert not (tmp_path / PROJECT_FILE).exists()
    assert not list(tmp_path.glob("**/.imbal-write-check-*"))


def test_a_mount_point_met_while_swapping_the_report_in_is_named_not_retried(tmp_path, monkeypatch):
    from imbal_pipeline.core.evaluate import evaluation

    out, staging = tmp_path / "mnt", tmp_path / ".mnt.staging"
    out.mkdir()
    staging.mkdir()
    monkeypatch.setattr(os.path, "ismount", lambda p: Path(p) == out)

    def rename(src, dst):  # what Linux answers to renaming a mount point
        raise OSError(errno.EBUSY, "Device or resource busy", str(src))

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(evaluation.OutputError, match=f"--out {out} is a mount point"):
        evaluation._swap_in(staging, out)


def test_a_full_disk_under_dagster_home_is_named(tmp_path, capsys, monkeypatch):
    from imbal_pipeline.cli import commands as cli
    from imbal_pipeline.cli import runs

    monkeypatch.chdir(tmp_path)
    home = tmp_path / "home"
    monkeypatch.setattr(runs, "free_mb", lambda path: 3)
    full = f"no space left under DAGSTER_HOME ({home}: 3 MB free); free space or point"
    status, last = _main(["run"], capsys, monkeypatch, home)
    assert status == 2 and full in last, last  # before the run
    assert not (tmp_path / PROJECT_FILE).exists()

    def disk_io_error(args):  # how SQLite says it when the instance's files cannot grow
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(cli, "cmd_versions", disk_io_error)
    status, last = _main(["versions", "raw_data"], capsys, monkeypatch, home)
    assert status == 1 and full in last, last
    monkeypatch.setattr(runs, "free_mb", lambda path: 50_000)  # then it is something else
    status, last = _main(["versions", "raw_data"], capsys, monkeypatch, home)
    assert last.endswith("OperationalError: disk I/O error (add --traceback for the details)")


def test_the_retrain_cron_is_dagsters_check(monkeypatch):
    from dagster._utils.schedules import is_valid_cron_string

    from imbal_pipeline.cli.arguments import check_cron

    assert is_valid_cron_string(Settings.retrain_cron)  # the one value check_cron takes as read
    for cron in ("@daily", "*/15 9-17 * * mon-fri", "0 3 * * 1"):
        check_cron(cron)
    for cron in ("bogus", "* * * * * *", "0 0 30 2 *", "61 * * * *"):
        with pytest.raises(SettingsError, match="is not a cron schedule Dagster can run"):
            check_cron(cron)


def test_a_contract_planted_in_the_instance_is_refused_before_anything_runs(
    tmp_path, capsys, monkeypatch
):
    from imbal_pipeline.core.data.derived import derived_contract_name
    from imbal_pipeline.core.data.synthetic import make_fraud_data

    monkeypatch.chdir(tmp_path)
    data = tmp_path / "x.csv"
    make_fraud_data(300, 0.05, seed=1).to_csv(data, index=False)
    home = tmp_path / "home"
    planted = home / "contracts" / derived_contract_name(str(data), "is_fraud")
    planted.parent.mkdir(parents=True)
    schema = {"$ref": (tmp_path / "secret.json").as_uri()}
    suite = {
        "name": "planted",
        "expectations": [
            {
                "type": "expect_column_values_to_match_json_schema",
                "kwargs": {"column": "region", "json_schema": schema},
            }
        ],
    }
    planted.write_text(json.dumps(suite))
    status, last = _main(
        ["run", "--data", str(data), "--target", "is_fraud"], capsys, monkeypatch, home
    )
    assert status == 2, last
    assert last.startswith(f"imbal-pipeline: error: contract {planted}: expectation 1 "), last
    assert "may not be used in a contract: it resolves '$ref'" in last
    assert not (tmp_path / "imbal_pipeline.yaml").exists()  # nothing saved, nothing run


def test_settings_that_do_not_fit_the_data_are_refused_and_never_saved(
    tmp_path, capsys, monkeypatch
):
    from imbal_pipeline.core.data.synthetic import make_fraud_data
    from imbal_pipeline.core.project import save_project

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("IMBAL_PIPELINE_PROJECT", raising=False)
    data = tmp_path / "thy_train.csv"
    make_fraud_data(300, 0.05, seed=1).to_csv(data, index=False)
    project = tmp_path / PROJECT_FILE
    save_project(Settings(data_path=str(data), target="is_fraud", n_folds=3), project)
    before = project.read_text()
    for args, said in (
        (["run", "--data", str(data), "--target", "label"], "target column 'label' not in"),
        (["run", "--target", "Is_Fraud"], "not in the data: did you mean 'is_fraud'? (13 col"),
        (["run", "--positive-label", "7"], "positive label '7' not found in the target"),
        (["run", "--id", "region"], "id column 'region' has duplicate values"),
        (["init", "--target", "label"], "fix --target"),
    ):
        status, last = _main(args, capsys, monkeypatch, tmp_path / "home")
        assert status == 2 and said in last, last
        assert project.read_text() == before, args  # the next plain `run` is not broken
    assert not (tmp_path / "home" / "storage").exists()  # nothing ran


def test_an_unusable_dagster_home_is_one_line(tmp_path, capsys, monkeypatch):
    (tmp_path / "file").write_text("")
    status, last = _main(["versions", "final_model"], capsys, monkeypatch, tmp_path / "file" / "h")
    assert status == 2
    assert "as the Dagster home" in last and "point DAGSTER_HOME at a writable folder" in last


def test_an_unexpected_error_is_one_line_unless_asked_for_the_traceback(
    tmp_path, capsys, monkeypatch
):
    from imbal_pipeline.cli import commands as cli

    def broken(args):
        raise RuntimeError("sqlite3.OperationalError: attempt to write a readonly database\n...")

    monkeypatch.setattr(cli, "cmd_show", broken)
    status, last = _main(["show", "raw_data"], capsys, monkeypatch, tmp_path / "home")
    assert status == 1
    assert last == (
        "imbal-pipeline: error: RuntimeError: sqlite3.OperationalError: attempt to write a "
        "readonly database (add --traceback for the details)"
    )
    with pytest.raises(RuntimeError):
        cli.main(["--traceback", "show", "raw_data"])


def test_show_on_a_damaged_store_is_one_line(tmp_path, capsys, monkeypatch):
    from imbal_pipeline.store.storage import AssetStore, content_hash

    frame = pd.DataFrame({"a": [1.0]})
    version = content_hash(frame)
    path = AssetStore(tmp_path / "home" / "storage").write("raw_data", frame, version, "ok", "r")
    (path / "value.parquet").write_bytes(b"garbage")
    status, last = _main(["show", "raw_data"], capsys, monkeypatch, tmp_path / "home")
    assert status == 1
    assert f"stored raw_data version {version} is damaged" in last
    (path.parent.parent / "latest.json").write_text("{")
    status, last = _main(["show", "raw_data"], capsys, monkeypatch, tmp_path / "home")
    assert status == 1 and "is unreadable" in last


def test_the_summary_is_the_runs_own_whatever_another_run_left_in_out(
    tmp_path, capsys, monkeypatch
):
    from conftest import graph

    from imbal_pipeline.cli.runs import print_summary
    from imbal_pipeline.core.report.document import threshold_text

    monkeypatch.chdir(tmp_path)
    home, out = tmp_path / "home", tmp_path / "out"
    defs = graph(tmp_path, output_dir=str(out))
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(training_assets(defs), instance=instance, resources=defs.resources)
        report = json.loads((out / "report.json").read_text())
        other = {**report, "selected_strategy": "smoteenn", "holdout": {**report["holdout"]}}
        other["holdout"]["pr_auc"] = 0.123456
        (out / "report.json").write_text(json.dumps(other))  # another run, same --out
        print_summary(instance, result.run_id, home, str(tmp_path / "storage"), "inbox")
    printed = capsys.readouterr().out
    assert f"strategy {report['selected_strategy']}," in printed
    # A fallback is called one, never "tuned for f1".
    choice = "(fallback: " if report["threshold"]["fallback"] else "(tuned for f1)"
    assert f"decision threshold {threshold_text(report['threshold']['value'])} {choice}" in printed
    ci = report["holdout_ci"]["pr_auc"]
    pr_auc = f"{report['holdout']['pr_auc']:.3f} ({ci['ci_low']:.3f}-{ci['ci_high']:.3f})"
    assert f"holdout PR-AUC {pr_auc}," in printed and "(95% intervals)" in printed
    # The page a person opens comes first.
    assert f"report: {(out / 'report.html').resolve()} (also report.md, report.json)" in printed
    assert "0.123" not in printed and "smoteenn" not in printed
    assert "positive class: is_fraud = 1 (" in printed
    # Where a batch goes to be scored, as a path the user can copy.
    inbox = (tmp_path / "inbox").resolve()
    assert f"or drop it into {inbox} while `imbal-pipeline ui` runs" in printed


@pytest.mark.slow
def test_a_rerun_after_fixing_the_file_records_the_fixed_files_version(tmp_path, split_files):
    import hashlib

    train_csv, _ = split_files
    data = tmp_path / "data.csv"
    broken = pd.read_csv(train_csv)
    broken.loc[::100, "amount"] = float("inf")
    broken.to_csv(data, index=False)
    args = ["run", "--data", str(data), "--target", "is_fraud", "--folds", "3", "--trees", "40"]
    args += ["--strategies", "none,class_weight", "--out", str(tmp_path / "out")]
    failed = run_cli(args, tmp_path / "home", tmp_path)
    assert failed.returncode == 1 and "no_infinities" in failed.stderr
    run_id = failed.stderr.strip().rsplit("(run ", 1)[1].rstrip(")")
    pd.read_csv(train_csv).to_csv(data, index=False)  # the fix
    fixed = hashlib.sha256(data.read_bytes()).hexdigest()[:16]
    rerun = run_cli(["rerun", run_id], tmp_path / "home", tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    with dg.DagsterInstance.from_config(str(tmp_path / "home")) as instance:
        rerun_id = instance.get_runs(limit=1)[0].run_id
        records = instance.get_records_for_run(
            run_id=rerun_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        ).records
        recorded = {
            r.asset_key.to_user_string(): r.event_log_entry.tags[
                "dagster/input_data_version/raw_file"
            ]
            for r in records
        }
    assert len(recorded) == 24 and set(recorded.values()) == {fixed}, recorded


def test_a_yes_no_setting_is_a_switch_not_a_string_that_is_always_true():
    from imbal_pipeline.cli.arguments import settings_from_args

    parse = build_parser().parse_args
    base = Settings(labelled_batches=True)
    assert (
        settings_from_args(parse(["init", "--no-labelled-batches"]), base).labelled_batches is False
    )
    assert settings_from_args(parse(["init"]), base).labelled_batches is True  # the project's
    with pytest.raises(SystemExit):
        parse(["init", "--labelled-batches", "false"])


# --- the time left, from the last run's pace ---------------------------------------------------


def test_the_time_left_follows_the_last_runs_pace_scaled_to_this_runs():
    from imbal_pipeline.cli.progress import time_left

    pace = [2.0, 5.0, 10.0]  # the last run's steps ended 2, 5 and 10 s after its start
    assert time_left(pace, 1, 2.0) == pytest.approx(8.0)  # at its pace: what it took from here
    assert time_left(pace, 2, 5.0) == pytest.approx(5.0)
    # Twice as slow so far: the slower pace counts by the share of the last run it covers.
    assert time_left(pace, 1, 4.0) == pytest.approx(8.0 * (1 + 1 * 0.2))
    assert time_left(pace, 2, 10.0) == pytest.approx(5.0 * (1 + 1 * 0.5))
    # Nothing to say without a last run, before the first step or after the last.
    assert time_left(None, 1, 2.0) is None
    assert time_left(pace, 0, 1.0) is None and time_left(pace, 3, 10.0) is None


def test_the_pace_is_the_last_successful_run_with_as_many_steps_on_data_of_its_size(tmp_path):
    from imbal_pipeline.cli.progress import SIZE_TAG, last_pace

    @dg.asset
    def first() -> int:
        return 1

    @dg.asset
    def second(first: int) -> int:
        return first + 1

    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        tags = {SIZE_TAG: "50000"}  # a run on 5,000 rows x 10 columns
        run_id = dg.materialize([first, second], instance=instance, tags=tags).run_id
        record = instance.get_run_record_by_id(run_id)
        job = record.dagster_run.job_name
        assert last_pace(instance, "another_job", 2, 50_000) is None
        pace = last_pace(instance, job, 2, 60_000)
        ends = sorted(s.end_time for s in instance.get_run_step_stats(run_id))
        assert pace == pytest.approx([end - record.start_time for end in ends])
        assert 0 < pace[0] <= pace[1]
        assert last_pace(instance, job, 3, 50_000) is None  # another graph, or fewer steps
        # A run on data of another size says nothing of this one's pace: 1,500 rows after a
        # 50k-row run once read "about 2 min 23 s left" and was done in 24 s.
        assert last_pace(instance, job, 2, 15_000) is None
        assert last_pace(instance, job, 2, 500_000) is None
        assert last_pace(instance, job, 2, None) is None


def test_a_progress_line_says_the_time_left_when_a_last_run_gives_the_pace():
    import io
    from types import SimpleNamespace

    from imbal_pipeline.cli.progress import progress

    event = SimpleNamespace(step_key="raw_data", event_type=dg.DagsterEventType.STEP_SUCCESS)
    records = [SimpleNamespace(event_log_entry=SimpleNamespace(dagster_event=event))]

    class Log:
        def get_records_for_run(self, run_id, cursor=None, of_type=None):
            return SimpleNamespace(records=records if cursor is None else [], cursor="end")

    for pace, expected in (
        ([1e-9, 600.0], r"\(0 s; about \d+ min \d\d s left\)$"),
        (None, r"\(0 s\)$"),
    ):
        stream = io.StringIO()
        with progress(Log(), "run", total=2, stream=stream, poll=0.01, pace=pace):
            time.sleep(0.05)
        line = stream.getvalue().strip()
        assert line.startswith("[1/2] raw_data done"), line
        assert re.search(expected, line), line


def test_a_terminal_gets_a_bar_under_the_step_lines_and_a_log_file_does_not():
    import io
    from types import SimpleNamespace

    from imbal_pipeline.cli.progress import CLEAR_LINE, progress
    from imbal_pipeline.cli.runs import console_log, is_verbose

    done = SimpleNamespace(step_key="raw_data", event_type=dg.DagsterEventType.STEP_SUCCESS)
    pending = [[SimpleNamespace(event_log_entry=SimpleNamespace(dagster_event=done))]]

    class Log:
        def get_records_for_run(self, run_id, cursor=None, of_type=None):
            return SimpleNamespace(records=pending.pop() if pending else [], cursor="end")

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    with progress(Log(), "run", total=4, stream=terminal, poll=0.01, pace=[1e-9, 1e-9, 600.0, 601]):
        time.sleep(0.1)
    text = terminal.getvalue()
    # The step line is written whole over the bar; the bar is redrawn in place, then erased.
    assert f"{CLEAR_LINE}[1/4] raw_data done (0 s" in text
    bars = re.findall(r"\[(#*)(\.*)\] (\d)/4, 0 s(, about \d+ min \d\d s left)?", text)
    assert bars and all(len(a + b) == 24 and len(a) == 6 and n == "1" for a, b, n, _ in bars)
    assert any(left for *_, left in bars)  # the last run's pace gives the time left
    assert text.endswith(CLEAR_LINE) and text.count("\n") == 1
    # Written to a file, or piped, the same run gives the step line alone; so does a terminal
    # that shows Dagster's own log lines (--verbose), which would land on the bar.
    for stream, bar in ((io.StringIO(), True), (Terminal(), not is_verbose(console_log(True)))):
        pending.append([SimpleNamespace(event_log_entry=SimpleNamespace(dagster_event=done))])
        with progress(Log(), "run", total=4, stream=stream, poll=0.01, bar=bar):
            time.sleep(0.1)
        assert stream.getvalue() == "[1/4] raw_data done (0 s)\n"
    assert not is_verbose(console_log(False))


def test_the_command_line_starts_without_the_heavy_libraries():
    # Help and argument errors answer at once: scikit-learn, LightGBM, Dagster and GX load only
    # when a command needs them (`load_model` too, on first use).
    code = (
        "import sys, imbal_pipeline, imbal_pipeline.cli\n"
        "heavy = ('sklearn', 'lightgbm', 'dagster', 'great_expectations', 'pandas')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "imbal_pipeline.load_model\n"
        "print('sklearn' in sys.modules)\n"
    )
    out = subprocess.run(CLI[:1] + ["-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split("\n")[:2] == ["[]", "True"]


def test_verbose_prints_dagsters_step_log_and_quiet_prints_none_of_it(capfd):
    from imbal_pipeline.cli.runs import console_log

    @dg.asset
    def thing() -> int:
        return 1

    for verbose in (True, False):
        assert dg.materialize([thing], run_config=console_log(verbose)).success
        err = capfd.readouterr().err
        assert ("STEP_SUCCESS" in err) is verbose, err[-500:]


def test_the_generated_datas_size_means_that_data_whatever_file_the_project_had():
    from imbal_pipeline.cli.arguments import settings_from_args

    parse = build_parser().parse_args
    project = Settings(data_path="/data/thyroid.csv", target="target", n_folds=3, seed=7)
    generated = settings_from_args(parse(["run", "--rows", "3000"]), project)
    assert generated.data_path is None and generated.generated_rows == 3000
    assert generated.target == Settings().target and generated.seed == Settings().seed
    assert generated.n_folds == 3  # the project's own setting stays
    same = settings_from_args(parse(["run", "--seed", "1"]), project)
    assert (same.data_path, same.target, same.seed) == ("/data/thyroid.csv", "target", 1)
    # Already on the generated data, a new size changes the size alone.
    again = settings_from_args(parse(["run", "--rows", "500"]), generated)
    assert (again.generated_rows, again.n_folds) == (500, 3)


def test_output_piped_into_a_reader_that_stops_early_ends_quietly():
    # `imbal-pipeline versions deployed_model | head -1`: the reader closes the pipe while the
    # command still writes; the command stops as a Unix tool does, without an error line.
    import sys

    code = (
        "import sys\nfrom imbal_pipeline.cli import commands\n"
        "commands.cmd_versions = lambda args: [print('x' * 80) for _ in range(100_000)] and 0\n"
        "sys.exit(commands.main(['versions', 'deployed_model']))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stdout.readline().startswith(b"x")
    proc.stdout.close()
    err = proc.communicate(timeout=60)[1].decode()
    assert (proc.returncode, err) == (141, "")
