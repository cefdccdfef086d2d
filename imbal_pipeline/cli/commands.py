"""`imbal-pipeline`: run the asset graph on a user's file through Dagster and write the report.

Every option of `run` and `init` is derived (in `arguments.py`) from the settings declared in
`core/fields.py`; the values a run uses are written to the project file, which the UI, the
daemon and every step worker read too.
"""

import argparse
import contextlib
import os
import sys
from pathlib import Path

from imbal_pipeline.cli.arguments import build_parser, flag_of, settings_from_args
from imbal_pipeline.cli.errors import _error
from imbal_pipeline.cli.runs import (
    HomeError,
    console_log,
    disk_full,
    ensure_home,
    fail_orphaned_runs,
    failure_line,
    orchestrator_tags,
    prepare_home,
    print_summary,
    space_problem,
    start_step_server,
)
from imbal_pipeline.cli.score import ALERT_EXIT as ALERT_EXIT  # the exit status of an alert
from imbal_pipeline.cli.score import cmd_score
from imbal_pipeline.core import settings as settings_core
from imbal_pipeline.core.affects import DATA
from imbal_pipeline.core.project import load_project, save_project
from imbal_pipeline.core.settings import Settings, SettingsError
from imbal_pipeline.core.writable import folder_problem, local_store
from imbal_pipeline.defs.instance import contracts_dir


def _check_inputs(settings: Settings) -> str | None:
    """What is wrong with the files a run would read or replace, before anything runs."""
    from imbal_pipeline.core.data.data import file_problem

    for field in settings_core.fields():  # the files the data is read from
        path = getattr(settings, field.name)
        if field.metadata["path"] and DATA in field.metadata["affects"] and path is not None:
            problem = file_problem(path, f"{flag_of(field)} file")
            if problem is not None:
                return problem
    from imbal_pipeline.core.upfront import settings_problem

    problem = settings_problem(settings)  # a target or label the file lacks is never saved
    if problem is not None:
        return problem
    from imbal_pipeline.core.evaluate.evaluation import OutputError, check_output_dir

    try:
        check_output_dir(settings.output_dir)
    except OutputError as exc:
        return str(exc)
    # A folder or file:// URL is tried here; a remote store's scheme by settings.validate.
    folder = local_store(settings.store) if settings.store else None
    if folder is not None:
        problem = folder_problem(folder, "--store", replaced=False)
        if problem is not None:
            return problem
    from imbal_pipeline.core.data.contracts import ContractError, load_suite
    from imbal_pipeline.core.data.derived import derived_contract_name

    contract: str | Path | None = settings.contract_path
    if contract is None:  # the contract an earlier run saved (or someone planted) is read too
        saved = contracts_dir(settings) / derived_contract_name(settings.data_path, settings.target)
        contract = saved if saved.is_file() else None
    if contract is not None:
        try:
            load_suite(contract)
        except ContractError as exc:
            return str(exc)
    return None


def _project_settings(args: argparse.Namespace) -> Settings:
    """The project's settings with the options given on top; `main` turns a SettingsError into
    its one line and status 2."""
    return settings_from_args(args, load_project())


def cmd_init(args: argparse.Namespace) -> int:
    """Write the project file; 2 on a bad argument or settings that do not fit the data."""
    from imbal_pipeline.core.upfront import settings_problem

    settings = _project_settings(args)
    problem = settings_problem(settings)
    if problem is not None:
        return _error(problem, 2)
    path = save_project(settings)
    print(
        f"wrote {path}: {settings.data_path or 'generated data'}, target {settings.target}, "
        f"{settings.n_folds} folds, executor {settings.executor}"
    )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run the graph; 0 on success, 1 on a failed step, 2 on a bad argument."""
    settings = _project_settings(args)
    problem = _check_inputs(settings)
    if problem is not None:
        return _error(problem, 2)
    from imbal_pipeline.cli.unchanged import RECIPE_TAG, run_recipe, unchanged_run
    from imbal_pipeline.core.data.data import executor_of
    from imbal_pipeline.core.data.versions import data_fingerprint

    problem = space_problem(prepare_home())
    if problem is not None:
        return _error(problem, 2)
    save_project(settings)
    home = ensure_home()
    import dagster as dg

    from imbal_pipeline.store.storage import storage_dir

    instance = dg.DagsterInstance.get()
    fail_orphaned_runs(instance, instance.get_runs(limit=50))
    version = data_fingerprint(settings)
    recipe = run_recipe(settings, data=version)
    done = None if args.force else unchanged_run(instance, recipe, version)
    if done is not None:
        print(
            f"nothing changed since run {done.run_id} (same data, settings and code), so "
            "nothing was run; --force runs it again"
        )
        print_summary(instance, done.run_id, home, storage_dir(settings), settings.inbox)
        return 0
    if executor_of(settings) == "multiprocess":
        start_step_server()
    from imbal_pipeline.cli import launch

    tags = orchestrator_tags() | {RECIPE_TAG: recipe}
    result = launch.run_job(instance, settings, tags, args.verbose)
    if not result.success:
        return _error(failure_line(result), 1)
    print_summary(instance, result.run_id, home, storage_dir(settings), settings.inbox)
    return 0


def cmd_versions(args: argparse.Namespace) -> int:
    """Print the asset's materializations, newest first, from the instance's event log."""
    home = ensure_home()
    import dagster as dg

    from imbal_pipeline.cli.history import recorded, recorded_assets, unknown_asset
    from imbal_pipeline.store.storage import ASSET_NAME

    if not ASSET_NAME.fullmatch(args.asset):
        return _error(f"{args.asset!r} is not an asset name (letters, digits, _ and /)", 2)
    if args.asset == "deployed_model":
        # Every model the store holds, from the records `score` reads: Dagster's history of
        # deployed_model is the champion after each run, under that run's upstream versions.
        from imbal_pipeline.cli.promote import model_lines
        from imbal_pipeline.store.storage import AssetStore, storage_dir

        store = AssetStore(storage_dir(load_project()))
        lines = model_lines(store, args.limit)
        if not lines:  # the name is right; the store holds no model yet
            return _error(f"no model stored in {store.base} yet; run `imbal-pipeline run` first", 1)
    else:
        with dg.DagsterInstance.get() as instance:
            lines = [m.line() for m in recorded(instance, args.asset, args.limit)]
    if not lines:  # a name no run made: a bad argument, like a name that is no asset's
        with dg.DagsterInstance.get() as instance:
            return _error(unknown_asset(args.asset, home, recorded_assets(instance)), 2)
    print("\n".join(lines))
    return 0


def _newest_stored(store, asset: str, home, known: list[str]) -> str:
    """The store's newest version of an asset this instance never materialized (a store shared
    with another instance); none, the assets the instance `known` records are named."""
    from imbal_pipeline.cli.history import unknown_asset

    latest = store.latest(asset)
    if latest is None:
        raise FileNotFoundError(
            f"nothing stored for {asset!r} in {store.base}, and {unknown_asset(asset, home, known)}"
        )
    return latest["version"]


# How far back `show --version` looks for what the instance recorded about a version.
SHOW_LOOKBACK = 1000


def cmd_show(args: argparse.Namespace) -> int:
    """Print a summary of one stored version: by default the newest the instance recorded, the
    one `versions` lists first."""
    home = ensure_home()
    import dagster as dg

    from imbal_pipeline.cli.history import recorded, recorded_assets, summarize, with_run_data
    from imbal_pipeline.cli.promote import since
    from imbal_pipeline.store.champion import Champions
    from imbal_pipeline.store.model_history import find
    from imbal_pipeline.store.storage import (
        AssetStore,
        CorruptValueError,
        StoreNameError,
        storage_dir,
    )

    where = storage_dir(load_project())
    store = AssetStore(where)
    try:
        store.folder(args.asset)  # a name that is no asset's is refused before any look-up
        if args.version is not None:
            store.version_folder(args.asset, args.version)
    except StoreNameError as exc:
        return _error(str(exc), 2)
    champion = None
    with dg.DagsterInstance.get() as instance:
        found = recorded(instance, args.asset, SHOW_LOOKBACK)
        assets = recorded_assets(instance) if not found else []
    try:
        if args.asset == "deployed_model":  # the champion, as `score` and `load_model()` read it
            champion = Champions(store).current()
        default = champion["version"] if champion else None
        version = args.version or default or (found[0].version if found else None)
        version = version or _newest_stored(store, args.asset, home, assets)
        value = store.load(args.asset, version)
    except FileNotFoundError as exc:
        # No such asset or version is a bad argument; a version the instance recorded whose
        # file is gone is a damaged store.
        return _error(str(exc), 1 if any(m.version == version for m in found) else 2)
    except CorruptValueError as exc:
        return _error(str(exc), 1)
    known = next((m for m in found if m.version == version), None)
    origin = (
        f"gate {known.gate}, run {known.run_id}, {known.time}"
        if known
        else f"not materialized in {home} (stored in {where} by another instance)"
    )
    if args.asset == "deployed_model":  # the run that trained it, from the store's records
        model = find(Champions(store), version)
        model = with_run_data([model])[0] if model else None
        origin = model.origin() if model else origin
        if champion is None or champion["version"] != version:
            origin = f"{model.status} ({model.detail}); {origin}" if model else origin
    if champion is not None and champion["version"] == version:
        origin = f"the champion {since(champion)}; {origin}"
    print(f"{args.asset} version {version}: {origin}")
    print("\n".join(summarize(value)))
    return 0


def cmd_rerun(args: argparse.Namespace) -> int:
    """Re-execute a failed run from failure, loading every other step's output from storage."""
    home = ensure_home()
    problem = space_problem(home)
    if problem is not None:
        return _error(problem, 2)
    import dagster as dg

    from imbal_pipeline.cli import launch
    from imbal_pipeline.cli.unchanged import RECIPE_TAG, run_recipe
    from imbal_pipeline.core.data.data import executor_of
    from imbal_pipeline.store.storage import storage_dir

    instance = dg.DagsterInstance.get()
    parent = instance.get_run_by_id(args.run_id)
    if parent is None:
        return _error(
            f"no run {args.run_id} in {home}; copy the id from `imbal-pipeline run` or the UI", 2
        )
    if fail_orphaned_runs(instance, [parent]):
        parent = instance.get_run_by_id(args.run_id) or parent
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
    project = launch.project_of(parent)
    if executor_of(project) == "multiprocess":
        start_step_server()  # as `run` does: its imports overlap the rerun's set-up
    run_config = dict(parent.run_config) | console_log(args.verbose)
    tags = orchestrator_tags()
    recipe = run_recipe(project)
    if recipe == parent.tags.get(RECIPE_TAG):  # the whole group then has one recipe
        tags[RECIPE_TAG] = recipe
    result = launch.rerun_from_failure(instance, parent, run_config, tags)
    steps = sorted(e.step_key for e in result.all_events if e.is_step_success and e.step_key)
    if not result.success:
        return _error(failure_line(result), 1)
    print(
        f"rerun {result.run_id} of {args.run_id}: reran {len(steps)} steps "
        f"({', '.join(steps)}); the rest was loaded from storage"
    )
    print_summary(instance, result.run_id, home, storage_dir(project), project.inbox)
    return 0


def _promote_command(name: str):
    """A command of `promote.py`, imported when run (it imports the model's libraries)."""

    def command(args: argparse.Namespace) -> int:
        from imbal_pipeline.cli import promote

        return getattr(promote, name)(args)

    return command


def cmd_ui(args: argparse.Namespace) -> int:
    """Replace this process with `dagster dev` on this folder's project and the instance."""
    home = ensure_home()
    from imbal_pipeline.cli.launch import write_workspace

    workspace = write_workspace(home)
    print(f"Dagster UI on http://127.0.0.1:{args.port} with instance {home}")
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "dev", "-w", str(workspace), "-p", str(args.port)]
    os.execv(command[0], command)
    return 0  # not reached


# What a shell reports for a command killed by SIGPIPE (128 + 13).
BROKEN_PIPE = 141


def main(argv: list[str] | None = None) -> int:
    """Entry point of `imbal-pipeline`."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    args = build_parser().parse_args(argv)
    commands = {
        "run": cmd_run,
        "init": cmd_init,
        "rerun": cmd_rerun,
        "versions": cmd_versions,
        "show": cmd_show,
        "score": cmd_score,
        "promote": _promote_command("cmd_promote"),
        "rollback": _promote_command("cmd_rollback"),
        "ui": cmd_ui,
    }
    try:
        return commands[args.command](args)
    except (HomeError, SettingsError) as exc:
        return _error(str(exc), 2)
    except KeyboardInterrupt:
        return _error("interrupted; `imbal-pipeline rerun RUN_ID` picks up a stopped run", 130)
    except BrokenPipeError:
        # The reader of the output closed it (`| head`): stop quietly, as a Unix tool would,
        # with no error line; stdout goes nowhere so that the exit's flush cannot fail again.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE
    except Exception as exc:  # noqa: BLE001 - every failure ends in one line, not a traceback
        if args.traceback:
            raise
        full = disk_full(exc)
        if full is not None:
            return _error(full, 1)
        first = (str(exc).strip().splitlines() or [""])[0]
        return _error(f"{type(exc).__name__}: {first} (add --traceback for the details)", 1)


if __name__ == "__main__":
    sys.exit(main())
