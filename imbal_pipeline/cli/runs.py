"""The runs in the Dagster instance as the CLI sees them: the home, who orchestrates a run,
runs orphaned by a killed process, and what a run says when it ends."""

import errno
import os
import re
import socket
import tempfile
from pathlib import Path

from imbal_pipeline.core.report_model import Report
from imbal_pipeline.core.writable import free_mb
from imbal_pipeline.defs.instance import DEFAULT_HOME, STEP_PRELOAD

DAGSTER_YAML = """\
# Written by imbal-pipeline: a local SQLite instance. See README for Postgres.
telemetry:
  enabled: false
# The level of Dagster's console lines written outside a run's loggers (each step process
# announces itself at DEBUG). imbal-pipeline prints its own line per step; events are stored
# whatever the level, so the UI and `--verbose` still have them.
python_logs:
  python_log_level: WARNING
"""


class HomeError(OSError):
    """A DAGSTER_HOME this process cannot use."""


# A run writes its events into the instance's SQLite files and (by default) its values into
# the store, both under DAGSTER_HOME; with less free space than this it would fail part way.
MIN_FREE_MB = 100


def space_problem(home: Path) -> str | None:
    """The one line for a DAGSTER_HOME too full to run in, or None."""
    free = free_mb(home)
    if free >= MIN_FREE_MB:
        return None
    return (
        f"no space left under DAGSTER_HOME ({home}: {free} MB free); free space or point "
        "DAGSTER_HOME elsewhere"
    )


def disk_full(exc: BaseException) -> str | None:
    """`space_problem` when `exc` is how a full disk shows: SQLite's `disk I/O error` or
    `database or disk is full` (also wrapped by SQLAlchemy), or No space left on device."""
    chain = [exc]
    cause = exc.__cause__ or exc.__context__
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    for error in chain:
        full = isinstance(error, OSError) and error.errno == errno.ENOSPC
        if full or (type(error).__name__ == "OperationalError" and "disk" in str(error)):
            home = Path(os.environ.get("DAGSTER_HOME") or DEFAULT_HOME).resolve()
            return space_problem(home)
    return None


def ensure_home() -> Path:
    """Use $DAGSTER_HOME, or create a local SQLite instance with telemetry off."""
    home = prepare_home()
    _create_instance_once(home)
    return home


def prepare_home() -> Path:
    """The Dagster home folder, its dagster.yaml and $DAGSTER_HOME, without opening the instance
    (which imports Dagster)."""
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


def start_step_server() -> None:
    """Start that server now, in the background, rather than when the first step is launched.

    Its imports (about 7 s) then overlap the command's own (Dagster, the code location) and the
    run's creation instead of following them. It must start after $DAGSTER_HOME and the project
    file are in place: the code location it imports reads both.
    """
    import multiprocessing
    from multiprocessing import forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload(STEP_PRELOAD)
    forkserver.ensure_running()


def _create_instance_once(home: Path) -> None:
    """Open the instance under a lock, so its first opening creates its tables exactly once.

    Two commands started at once on a new home would otherwise both create the SQLite schema
    and one would fail (UNIQUE constraint failed: alembic_version.version_num).
    """
    import fcntl

    import dagster as dg

    from imbal_pipeline.cli.instance_errors import instance_problem, quiet_retries

    with open(home / ".imbal_instance.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with quiet_retries():
                dg.DagsterInstance.get().dispose()
        except Exception as exc:  # noqa: BLE001 - PostgreSQL's config or server, in one line
            problem = instance_problem(exc, home)
            if problem is None:
                raise
            raise HomeError(problem) from None


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
        "BatchError",
        "MissingColumnsError",
        "ModelFileError",
        "Failure",
    }
)


# A step process that dies without a Python error (killed, out of memory) fails its step with
# ChildProcessCrashException; how it died is only in the executor's engine event beside it.
CRASH = re.compile(r"terminated by signal (\d+) \((\w+)\)|exited with code (-?\d+)")


def _crash(result, step_key: str) -> str:
    """How a step's process died, in words, with the usual cause and fix."""
    for event in result.all_events:
        if event.step_key != step_key or event.event_type_value != "ENGINE_EVENT":
            continue
        found = CRASH.search(event.message or "")
        if found is None:
            continue
        number, name, code = found.groups()
        if name == "SIGKILL":
            return (
                "its process was killed (SIGKILL), most often by the operating system when "
                "memory runs out; free memory or lower --max-negatives"
            )
        if name:
            return f"its process was stopped by signal {number} ({name})"
        return f"its process exited with code {code} and no Python error"
    return "its process ended without a Python error"


def failure_line(result) -> str:
    """The last line of a failed run: what failed, the fix, and how to go on.

    Our own errors and failed checks name a fix in the data or the settings, so a new run is
    the way on; anything else (a killed process, a transient error, a bug) gets the exact
    command that reruns only what failed.
    """
    reason, rerunnable = _failure(result)
    if rerunnable:
        return f"{reason}; rerun only what failed: imbal-pipeline rerun {result.run_id}"
    return f"{reason} (run {result.run_id})"


def failure_reason(result) -> str:
    """The first failed blocking check, else the first failed step, as one line."""
    return _failure(result)[0]


def _failure(result) -> tuple[str, bool]:
    """The failure as one line, and whether rerunning the same run may succeed."""
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if not evaluation.passed and evaluation.severity.value == "ERROR":
                message = evaluation.metadata.get("message")
                message = getattr(message, "value", message) or "see the Dagster UI"
                asset = evaluation.asset_key.to_user_string()
                return f"check {asset}:{evaluation.check_name} failed: {message}", False
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            if error.cls_name == "ChildProcessCrashException":
                return f"step {event.step_key} failed: {_crash(result, event.step_key)}", True
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
                from imbal_pipeline.defs.assets.reuse import MAX_RETRIES

                message = f"{message} (after {MAX_RETRIES + 1} attempts)"
            return f"step {event.step_key} failed: {message}", error.cls_name not in KNOWN_ERRORS
    return "the run failed; see the Dagster UI for the step log", True


def print_summary(instance, run_id: str, home: Path, store: str, inbox: str) -> None:
    """What this run produced, read from its own materialization, never from --out.

    Another run with the same --out may have replaced that folder since.
    """
    import dagster as dg

    from imbal_pipeline.core.report.document import span, threshold_text
    from imbal_pipeline.core.report.report_choice import operating_beyond_f1
    from imbal_pipeline.core.train.threshold import describe_choice
    from imbal_pipeline.store.storage import AssetStore

    records = instance.get_records_for_run(
        run_id=run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    materialization = next(
        r.event_log_entry.asset_materialization
        for r in records
        if r.asset_key == dg.AssetKey("evaluation_report")
    )
    version = materialization.tags["dagster/data_version"]
    report = Report.from_json(AssetStore(store).load("evaluation_report", version))
    html = Path(materialization.metadata["report"].value)  # the page a person opens
    holdout, dataset = report.holdout, report.dataset
    print(
        f"positive class: {dataset.target} = {dataset.positive_label} "
        f"({dataset.positives:,} of {dataset.rows:,} training rows)"
    )

    def figure(name: str) -> str:
        ci = report.holdout_ci.get(name)
        value = f"{getattr(holdout, name):.3f}"
        if not ci:
            return value
        return f"{value} ({span(format(ci.ci_low, '.3f'), format(ci.ci_high, '.3f'))})"

    print(
        f"strategy {report.selected_strategy}, decision threshold "
        f"{threshold_text(report.threshold.value)} "
        f"({describe_choice(report.threshold.to_json())}); holdout PR-AUC {figure('pr_auc')}, "
        f"F1 {figure('f1')}, recall {figure('recall')}, MCC {figure('mcc')} (95% intervals)"
    )
    # F1 is in the line above.
    point = operating_beyond_f1(
        report.operating_point.to_json() if report.operating_point else {},
        report.threshold,
        dataset.holdout_positives,
    )
    if point:
        print(f"operating point on the holdout: {point}")
    checks = report.verdict.checks if report.verdict else []
    for check in checks:
        if not check.passed:
            print(f"warning: {check.asset}:{check.check}: {check.message}")
    print(f"report: {html} (also report.md, report.json); run {run_id} in {home}")
    if report.release and report.release.model_version:
        deployed = next(
            (
                r.event_log_entry.asset_materialization
                for r in records
                if r.asset_key == dg.AssetKey("deployed_model")
            ),
            None,
        )
        _print_promotion(report, deployed, inbox)
    else:
        failed = [
            c.check
            for c in checks
            if c.asset == "evaluation_report" and not c.passed and c.severity == "error"
        ]
        print(
            f"model not deployed: the quality gate failed ({', '.join(failed) or 'see above'}); "
            "the previous model stays in service"
        )


def _print_promotion(report: Report, deployed, inbox: str) -> None:
    """The run's promotion line (what its deployed_model step did), then what the model in
    service expects, when it is this run's."""
    said = {k: getattr(v, "value", v) for k, v in (deployed.metadata if deployed else {}).items()}
    release = report.release
    promotion = release.promotion if release else None
    line = said.get("promotion") or (promotion.line if promotion else "")
    print(f"promotion: {line}")
    version = release.model_version if release else None
    if said.get("champion") != version:
        return
    reference = report.monitoring_reference
    low, high = reference["holdout_interval"]
    print(
        f"model {version} in service: expects "
        f"{100 * reference['expected_rate']:.2f}% of rows flagged (from "
        f"{reference['training_rows']:,} training rows' out-of-fold scores; the holdout "
        f"flagged {100 * reference['holdout_rate']:.2f}%, 99% interval {100 * low:.2f}-"
        f"{100 * high:.2f}%); score a batch with "
        f"`imbal-pipeline score --data BATCH.csv`, or {_inbox_words(inbox)} while "
        "`imbal-pipeline ui` runs"
    )


def _inbox_words(inbox: str) -> str:
    """Where to drop a batch: the inbox folder, made here so that it is there to drop into;
    when it cannot be made, the words say who makes it."""
    folder = Path(inbox).resolve()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file of that name, or no write access
        return f"make the folder {folder} ({exc.strerror or type(exc).__name__}) and drop it there"
    return f"drop it into {folder}"


def console_log(verbose: bool) -> dict:
    """The run's console logger: all of Dagster's step log (what the UI shows) with --verbose,
    else silent.

    Without --verbose a failed step's Dagster ERROR lines and stack would come before the
    command's own line naming the failure and the fix; they stay in the run's event log.
    """
    return {"loggers": {"console": {"config": {"log_level": "DEBUG" if verbose else "CRITICAL"}}}}


def is_verbose(run_config: dict) -> bool:
    """Whether the run's config (`console_log`) prints Dagster's step log on the console."""
    level = run_config.get("loggers", {}).get("console", {}).get("config", {}).get("log_level")
    return level is not None and level != "CRITICAL"
