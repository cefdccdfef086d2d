"""`imbal-pipeline`: run the asset graph on a user's file through Dagster and write the report."""

import argparse
import json
import os
import re
import socket
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from imbal_pipeline.core.settings import LADDER, OBJECTIVES, Settings, SettingsError

DEFAULT_HOME = ".dagster_home"
DAGSTER_YAML = """\
# Written by imbal-pipeline: a local SQLite instance. See README for Postgres.
telemetry:
  enabled: false
"""


def _columns(values: list[str] | None) -> tuple[str, ...]:
    """`--x a,b --x c` -> ("a", "b", "c"); names may contain spaces."""
    out: list[str] = []
    for value in values or []:
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return tuple(out)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="imbal-pipeline",
        description=(
            "Train, threshold-tune and honestly evaluate a classifier for a rare positive class. "
            "Every stage is a Dagster asset in the instance at $DAGSTER_HOME "
            f"(default ./{DEFAULT_HOME})."
        ),
    )
    parser.add_argument(
        "--traceback", action="store_true", help="show the full traceback of an unexpected error"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="run the whole asset graph and write report.json/.html/.md and plots",
        description=(
            "Run the whole asset graph through Dagster. Without --data it runs on the embedded "
            "generated fraud-like data."
        ),
    )
    run.add_argument("--data", help="CSV (optionally .gz) or Parquet file with features and target")
    run.add_argument(
        "--target", help="name of the target column (default for generated data: is_fraud)"
    )
    run.add_argument(
        "--out", default="imbal_output", help="directory for the report (default: %(default)s)"
    )
    run.add_argument(
        "--positive-label",
        help="target value of the positive (rare) class; default 1/True, else the rarer class; "
        "with more than two classes it trains this class against the rest",
    )
    run.add_argument(
        "--test-data", help="explicit holdout file (e.g. out-of-time) with the same columns"
    )
    run.add_argument(
        "--objective",
        choices=OBJECTIVES,
        default="f1",
        help="threshold objective: f1, fbeta (see --beta), cost (min FP*fp-cost + FN*fn-cost), "
        "recall (best precision at --recall-target); default %(default)s",
    )
    run.add_argument("--beta", type=float, default=2.0, help="beta of F-beta (default %(default)s)")
    run.add_argument(
        "--fp-cost", type=float, default=1.0, help="cost of a false positive (default %(default)s)"
    )
    run.add_argument(
        "--fn-cost", type=float, default=10.0, help="cost of a false negative (default %(default)s)"
    )
    run.add_argument(
        "--recall-target",
        type=float,
        default=0.8,
        help="recall the 'recall' objective must reach (default %(default)s)",
    )
    run.add_argument(
        "--folds", type=int, default=5, help="stratified CV folds (default %(default)s)"
    )
    run.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed for splits, samplers and LightGBM (default %(default)s)",
    )
    run.add_argument(
        "--holdout-fraction",
        type=float,
        default=0.2,
        help="stratified holdout share when no --test-data is given (default %(default)s)",
    )
    run.add_argument(
        "--categorical",
        action="append",
        metavar="COLS",
        help="columns to treat as categorical (comma-separated or repeated); "
        "text columns are categorical anyway",
    )
    run.add_argument(
        "--subgroup",
        action="append",
        metavar="COLS",
        help="columns to report confusion matrices by (comma-separated or repeated)",
    )
    run.add_argument(
        "--id", dest="id_column", help="column with a unique row id (excluded from features)"
    )
    run.add_argument(
        "--strategies",
        default=",".join(LADDER),
        help="comma-separated ladder subset, starting with none (default: %(default)s)",
    )
    run.add_argument(
        "--smoteenn-max-rows",
        type=int,
        default=150_000,
        help="skip SMOTEENN on training portions with more rows; its cleaning grows about "
        "with rows^2 (default %(default)s)",
    )
    run.add_argument(
        "--max-negatives",
        type=int,
        default=Settings.max_negatives,
        help="above this many negatives in the training split, fit on every positive and a "
        "seeded sample of this many negatives (validation and holdout rows are all scored); "
        "0 fits on all rows (default %(default)s)",
    )
    run.add_argument(
        "--rows",
        type=int,
        default=50_000,
        help="rows of generated data when no --data (default %(default)s)",
    )
    run.add_argument(
        "--contract",
        help="your GX 1.x suite (JSON) for the raw data; without it a contract is derived from "
        "the first run and later runs are checked against it",
    )
    run.add_argument("--sep", default=",", help="CSV delimiter (default %(default)r)")
    run.add_argument(
        "--encoding", default="utf-8", help="text encoding of CSV files (default %(default)s)"
    )
    run.add_argument(
        "--decimal", default=".", help="decimal mark in CSV files, e.g. ',' (default %(default)r)"
    )
    run.add_argument("--thousands", help="thousands separator in CSV files, e.g. ',' or '.'")
    run.add_argument(
        "--drop",
        action="append",
        metavar="COLS",
        help="columns to leave out of everything (comma-separated or repeated)",
    )
    run.add_argument("--verbose", action="store_true", help="show Dagster's step log")
    versions = sub.add_parser(
        "versions",
        help="list an asset's stored versions with run, time, code and upstream versions",
    )
    versions.add_argument("asset", help="asset name, e.g. final_model or fold_0_models")
    versions.add_argument("--limit", type=int, default=20, help="newest N (default %(default)s)")
    show = sub.add_parser("show", help="summarize one stored version of an asset")
    show.add_argument("asset", help="asset name, e.g. evaluation_report")
    show.add_argument("--version", help="data version (default: the latest)")
    rerun = sub.add_parser(
        "rerun",
        help="re-execute a failed run from its failure: only failed steps and what is downstream",
    )
    rerun.add_argument("run_id", help="id of the failed run (printed by `run`, shown in the UI)")
    rerun.add_argument("--verbose", action="store_true", help="show Dagster's step log")
    ui = sub.add_parser(
        "ui",
        help="open the Dagster UI (dagster dev) on the same instance the runs use",
        description="Start `dagster dev` with $DAGSTER_HOME set up as for `run`.",
    )
    ui.add_argument("--port", type=int, default=3000, help="web port (default %(default)s)")
    ui.add_argument(
        "--folds", type=int, default=5, help="fold assets in the graph (default %(default)s)"
    )
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Validated settings from parsed arguments."""
    if args.data is not None and not args.target:
        raise SettingsError("--target is required with --data: name the label column")
    return Settings(
        data_path=str(Path(args.data).resolve()) if args.data else None,
        target=args.target or "is_fraud",
        positive_label=args.positive_label,
        test_data_path=str(Path(args.test_data).resolve()) if args.test_data else None,
        id_column=args.id_column,
        categorical=_columns(args.categorical),
        subgroups=_columns(args.subgroup),
        holdout_fraction=args.holdout_fraction,
        n_folds=args.folds,
        seed=args.seed,
        strategies=_columns([args.strategies]),
        smoteenn_max_rows=args.smoteenn_max_rows,
        max_negatives=args.max_negatives,
        objective=args.objective,
        beta=args.beta,
        fp_cost=args.fp_cost,
        fn_cost=args.fn_cost,
        recall_target=args.recall_target,
        generated_rows=args.rows,
        output_dir=str(Path(args.out).resolve()),
        sep=args.sep,
        encoding=args.encoding,
        decimal=args.decimal,
        thousands=args.thousands,
        drop=_columns(args.drop),
        contract_path=str(Path(args.contract).resolve()) if args.contract else None,
    )


class HomeError(OSError):
    """A DAGSTER_HOME this process cannot use."""


def ensure_home() -> Path:
    """Use $DAGSTER_HOME, or create a local SQLite instance with telemetry off."""
    home = Path(os.environ.get("DAGSTER_HOME") or DEFAULT_HOME).resolve()
    try:
        home.mkdir(parents=True, exist_ok=True)
        config = home / "dagster.yaml"
        if not config.exists():
            config.write_text(DAGSTER_YAML)
        # The instance's SQLite files and the asset store are written here.
        tempfile.TemporaryFile(dir=home).close()
    except OSError as exc:
        raise HomeError(
            f"cannot use {home} as the Dagster home ({exc.strerror or exc}); "
            "point DAGSTER_HOME at a writable folder"
        ) from exc
    os.environ["DAGSTER_HOME"] = str(home)
    return home


# Tags naming the process that orchestrates a CLI run, so a later command can tell that a run
# left STARTED was orphaned by a killed process.
HOST_TAG, PID_TAG = "imbal/host", "imbal/pid"


def orchestrator_tags() -> dict[str, str]:
    """This process as the orchestrator of the run it is about to start."""
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_orphaned_runs(instance, runs) -> list[str]:
    """Mark runs whose orchestrating process on this machine is gone as failed.

    A CLI killed with SIGKILL cannot say so itself; its run would stay STARTED forever and
    could not be rerun. Returns the ids marked.
    """
    import dagster as dg

    marked = []
    for run in runs:
        tags = run.tags or {}
        if run.status not in (dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING):
            continue
        if tags.get(HOST_TAG) != socket.gethostname() or not tags.get(PID_TAG, "").isdigit():
            continue
        if _alive(int(tags[PID_TAG])):
            continue
        instance.report_run_failed(
            run,
            message=f"the process that ran it (pid {tags[PID_TAG]}) ended before the run did "
            "(killed?); its steps were stopped with it",
        )
        marked.append(run.run_id)
    return marked


def run_config(settings: Settings, verbose: bool) -> dict:
    """Dagster run config carrying the settings to every asset."""
    values = settings.to_dict()
    return {
        "resources": {"pipeline": {"config": values}},
        "loggers": {"console": {"config": {"log_level": "INFO" if verbose else "WARNING"}}},
    }


# Our own errors, whose messages say what happened and the fix; any other error keeps its
# class name in the one line, because "No space left on device" alone hides that it is OSError.
KNOWN_ERRORS = frozenset(
    {
        "DataError",
        "SettingsError",
        "ContractError",
        "FailedGateError",
        "CorruptValueError",
        "OutputError",
        "Failure",
    }
)


def failure_reason(result) -> str:
    """The first failed blocking check, else the first failed step, as one line."""
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if not evaluation.passed and evaluation.severity.value == "ERROR":
                message = evaluation.metadata.get("message")
                message = getattr(message, "value", message) or "see the Dagster UI"
                asset = evaluation.asset_key.to_user_string()
                return f"check {asset}:{evaluation.check_name} failed: {message}"
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            retried = error.cls_name == "RetryRequested"
            # User-caused errors are raised inside the step, wrapped by Dagster (and by a
            # retry request when the error was transient); the innermost holds the cause.
            while error.cause is not None and (
                error.cls_name.startswith("DagsterExecution") or error.cls_name == "RetryRequested"
            ):
                error = error.cause
            message = error.message.strip().splitlines()[0]
            # Drop the exception's (possibly dotted) class name in front of our own message.
            message = re.sub(rf"^[\w.]*{re.escape(error.cls_name)}: ", "", message)
            if error.cls_name not in KNOWN_ERRORS:
                message = f"{error.cls_name}: {message}"
            if retried:
                from imbal_pipeline.assets.common import MAX_RETRIES

                message = f"{message} (after {MAX_RETRIES + 1} attempts)"
            return f"step {event.step_key} failed: {message}"
    return "the run failed; see the Dagster UI for the step log"


def _error(message: str, status: int) -> int:
    """Print the one-line error every command uses and return its exit status."""
    print(f"imbal-pipeline: error: {message}", file=sys.stderr)
    return status


def cmd_run(args: argparse.Namespace) -> int:
    """Run the graph; 0 on success, 1 on a failed step, 2 on a bad argument."""
    try:
        settings = settings_from_args(args)
    except SettingsError as exc:
        return _error(str(exc), 2)
    for label, path in (
        ("--data", settings.data_path),
        ("--test-data", settings.test_data_path),
        ("--contract", settings.contract_path),
    ):
        if path is not None and not Path(path).is_file():
            return _error(f"{label} file not found: {path}; check the path", 2)
    from imbal_pipeline.core.evaluation import OutputError, check_output_dir

    try:
        check_output_dir(settings.output_dir)
    except OutputError as exc:
        return _error(str(exc), 2)
    if settings.contract_path is not None:
        from imbal_pipeline.core.contracts import ContractError, load_suite

        try:
            load_suite(settings.contract_path)
        except ContractError as exc:
            return _error(str(exc), 2)
    home = ensure_home()
    # The graph has one asset per fold, so the fold count is fixed when the code loads,
    # in this process and in every step process the multiprocess executor starts.
    os.environ["IMBAL_PIPELINE_FOLDS"] = str(settings.n_folds)
    import dagster as dg

    from imbal_pipeline.definitions import imbal_job

    instance = dg.DagsterInstance.get()
    fail_orphaned_runs(instance, instance.get_runs(limit=50))
    result = dg.execute_job(
        dg.reconstructable(imbal_job),
        instance=instance,
        run_config=run_config(settings, args.verbose),
        tags=orchestrator_tags(),
    )
    if not result.success:
        return _error(f"{failure_reason(result)} (run {result.run_id})", 1)
    print_summary(instance, result.run_id, home)
    return 0


def print_summary(instance, run_id: str, home: Path) -> None:
    """What this run produced, read from its own materialization, never from --out.

    Another run with the same --out may have replaced that folder since.
    """
    import dagster as dg

    from imbal_pipeline.definitions import storage_dir
    from imbal_pipeline.storage import AssetStore

    records = instance.get_records_for_run(
        run_id=run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    materialization = next(
        r.event_log_entry.asset_materialization
        for r in records
        if r.asset_key == dg.AssetKey("evaluation_report")
    )
    version = materialization.tags["dagster/data_version"]
    report = AssetStore(storage_dir()).load("evaluation_report", version)
    report_path = Path(materialization.metadata["report"].value)
    holdout, dataset = report["holdout"], report["dataset"]
    print(
        f"positive class: {dataset['target']} = {dataset['positive_label']} "
        f"({dataset['positives']:,} of {dataset['rows']:,} training rows)"
    )
    print(
        f"strategy {report['selected_strategy']}, threshold {report['threshold']['value']:.3f} "
        f"({report['threshold']['objective']}); holdout PR-AUC {holdout['pr_auc']:.3f}, "
        f"F1 {holdout['f1']:.3f}, recall {holdout['recall']:.3f}, MCC {holdout['mcc']:.3f}"
    )
    for check in report.get("checks", []):
        if not check["passed"]:
            print(f"warning: {check['asset']}:{check['check']}: {check['message']}")
    print(f"report: {report_path} (also report.html, report.md); run {run_id} in {home}")


INPUT_TAG = "dagster/input_data_version/"


def cmd_versions(args: argparse.Namespace) -> int:
    """Print the asset's materializations, newest first, from the instance's event log."""
    home = ensure_home()
    import dagster as dg

    from imbal_pipeline.storage import ASSET_NAME

    if not ASSET_NAME.fullmatch(args.asset):
        return _error(f"{args.asset!r} is not an asset name (letters, digits, _ and /)", 2)
    with dg.DagsterInstance.get() as instance:
        key = dg.AssetKey.from_user_string(args.asset)
        records = instance.fetch_materializations(key, limit=args.limit).records
        if not records:
            return _error(
                f"no materializations of {args.asset!r} in {home}; "
                "check the name or run `imbal-pipeline run` first",
                1,
            )
        for record in records:
            mat = record.asset_materialization
            tags = mat.tags or {}
            upstream = (
                ", ".join(
                    f"{k.removeprefix(INPUT_TAG)}={v}"
                    for k, v in sorted(tags.items())
                    if k.startswith(INPUT_TAG)
                )
                or "none"
            )
            when = datetime.fromtimestamp(record.timestamp, UTC).isoformat(timespec="seconds")
            gate = getattr(mat.metadata.get("gate"), "value", "unchecked")
            print(
                f"{tags.get('dagster/data_version', '?')}  run {record.run_id}  {when}  "
                f"code {tags.get('dagster/code_version', '?')}  gate {gate}  "
                f"upstream {upstream}"
            )
    return 0


def _summarize(value) -> list[str]:
    import lightgbm as lgb
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        return [
            f"table: {len(value):,} rows x {value.shape[1]} columns",
            value.head(5).to_string(max_cols=12),
        ]
    lines = []
    for key, item in value.items():
        if isinstance(item, pd.DataFrame):
            lines.append(f"{key}: table {len(item):,} rows x {item.shape[1]} columns")
        elif isinstance(item, lgb.Booster):
            lines.append(f"{key}: LightGBM model, {item.num_trees()} trees")
        else:
            text = json.dumps(item, default=str)
            lines.append(f"{key}: {text[:300]}{'...' if len(text) > 300 else ''}")
    return lines


def cmd_show(args: argparse.Namespace) -> int:
    """Print a summary of one stored version (the latest by default)."""
    ensure_home()
    from imbal_pipeline.definitions import storage_dir
    from imbal_pipeline.storage import AssetStore, CorruptValueError, StoreNameError

    store = AssetStore(storage_dir())
    try:
        if args.version is not None:
            store.version_folder(args.asset, args.version)
        latest = store.latest(args.asset)
        if latest is None:
            return _error(
                f"nothing stored for {args.asset!r} in {storage_dir()}; "
                "check the name or run `imbal-pipeline run` first",
                1,
            )
        version = args.version or latest["version"]
        value = store.load(args.asset, version)
    except StoreNameError as exc:
        return _error(str(exc), 2)
    except (FileNotFoundError, CorruptValueError) as exc:
        return _error(str(exc), 1)
    record = next((r for r in reversed(store.history(args.asset)) if r["version"] == version), {})
    print(
        f"{args.asset} version {version}: gate {record.get('gate', '?')}, "
        f"run {record.get('run_id', '?')}, {record.get('time', '?')}"
    )
    print("\n".join(_summarize(value)))
    return 0


def cmd_rerun(args: argparse.Namespace) -> int:
    """Re-execute a failed run from failure, loading every other step's output from storage."""
    home = ensure_home()
    import dagster as dg

    instance = dg.DagsterInstance.get()
    parent = instance.get_run_by_id(args.run_id)
    if parent is None:
        return _error(
            f"no run {args.run_id} in {home}; copy the id from `imbal-pipeline run` or the UI", 2
        )
    if fail_orphaned_runs(instance, [parent]):
        parent = instance.get_run_by_id(args.run_id)
        print(f"run {args.run_id} was left running by a killed process; marked it failed")
    status = parent.status
    if status == dg.DagsterRunStatus.SUCCESS:
        return _error(
            f"run {args.run_id} succeeded, so there is nothing to rerun; "
            "start a new one with `imbal-pipeline run`",
            2,
        )
    if status not in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED):
        return _error(f"run {args.run_id} is {status.value.lower()}; rerun it once it has ended", 2)
    folds = parent.run_config.get("resources", {}).get("pipeline", {}).get("config", {})
    os.environ["IMBAL_PIPELINE_FOLDS"] = str(folds.get("n_folds", 5))
    from imbal_pipeline.definitions import imbal_job

    run_config = dict(parent.run_config)
    run_config["loggers"] = {
        "console": {"config": {"log_level": "INFO" if args.verbose else "WARNING"}}
    }
    result = dg.execute_job(
        dg.reconstructable(imbal_job),
        instance=instance,
        run_config=run_config,
        tags=orchestrator_tags(),
        reexecution_options=dg.ReexecutionOptions.from_failure(args.run_id, instance),
    )
    steps = sorted(e.step_key for e in result.all_events if e.is_step_success)
    if not result.success:
        return _error(f"{failure_reason(result)} (run {result.run_id})", 1)
    print(
        f"rerun {result.run_id} of {args.run_id}: reran {len(steps)} steps "
        f"({', '.join(steps)}); the rest was loaded from storage"
    )
    print_summary(instance, result.run_id, home)
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    """Replace this process with `dagster dev` on the local instance."""
    home = ensure_home()
    os.environ["IMBAL_PIPELINE_FOLDS"] = str(args.folds)
    print(f"Dagster UI on http://127.0.0.1:{args.port} with instance {home}")
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "dev", "-m", "imbal_pipeline.definitions", "-p", str(args.port)]
    os.execv(command[0], command)
    return 0  # not reached


def main(argv: list[str] | None = None) -> int:
    """Entry point of `imbal-pipeline`."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    args = build_parser().parse_args(argv)
    commands = {
        "run": cmd_run,
        "rerun": cmd_rerun,
        "versions": cmd_versions,
        "show": cmd_show,
        "ui": cmd_ui,
    }
    try:
        return commands[args.command](args)
    except HomeError as exc:
        return _error(str(exc), 2)
    except KeyboardInterrupt:
        return _error("interrupted; `imbal-pipeline rerun RUN_ID` picks up a stopped run", 130)
    except Exception as exc:  # noqa: BLE001 - every failure ends in one line, not a traceback
        if args.traceback:
            raise
        first = (str(exc).strip().splitlines() or [""])[0]
        return _error(f"{type(exc).__name__}: {first} (add --traceback for the details)", 1)


if __name__ == "__main__":
    sys.exit(main())
