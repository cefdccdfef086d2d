"""The command line's arguments: one option per declared setting, and the settings they give."""

import argparse
import typing
from pathlib import Path

from imbal_pipeline.core import affects
from imbal_pipeline.core import settings as settings_core
from imbal_pipeline.core.project import PROJECT_FILE
from imbal_pipeline.core.settings import PROJECT, Settings, SettingsError, flag_of
from imbal_pipeline.defs.instance import DEFAULT_HOME


def _columns(values: list[str] | None) -> tuple[str, ...]:
    """`--x a,b --x c` -> ("a", "b", "c"); names may contain spaces."""
    out: list[str] = []
    for value in values or []:
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return tuple(out)


def _shown(value) -> str:
    if isinstance(value, tuple):
        return ",".join(value) or "none"
    return "unset" if value is None else str(value)


def add_setting_options(parser: argparse.ArgumentParser) -> None:
    """One option per declared setting, typed, with its choices and description.

    Every default is None here, so that the options a user gave can be told from the rest:
    those override the project file, the rest keep its values.
    """
    for field in settings_core.fields():
        if not field.metadata["cli"]:
            continue
        kind = settings_core.types()[field.name]
        choices = settings_core.choices(field.name)
        scope = " [project: shapes the code location]" if field.metadata["scope"] == PROJECT else ""
        bounds = field.metadata["bounds"]
        allowed = f"; {bounds.text(kind is int)}" if bounds else ""
        help_text = f"{field.metadata['help']} (default: {_shown(field.default)}{allowed}){scope}"
        options: dict = {"dest": field.name, "default": None, "help": help_text}
        if typing.get_origin(kind) is tuple:
            options.update(action="append", metavar="A,B")
            if choices:
                options["help"] += f"; from {', '.join(choices)}"
        elif choices:
            options["choices"] = choices
        elif kind is bool:
            options["action"] = argparse.BooleanOptionalAction  # --x / --no-x
        else:
            base = next(t for t in typing.get_args(kind) or (kind,) if t is not type(None))
            options["type"] = base
        parser.add_argument(flag_of(field), **options)


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
    _add_training_commands(sub)
    _add_store_commands(sub)
    _add_operating_commands(sub)
    return parser


def _add_training_commands(sub) -> None:
    """`run` and `init`: one option per setting, the project file kept in step."""
    reuse = (
        f"Settings not given are taken from ./{PROJECT_FILE}, except that another dataset (--data, "
        "or the generated data's --rows or --positive-rate) starts its settings from the defaults "
        "(the project's folds, threads, store and executor stay). The settings used are written "
        "back to it, so the UI, the daemon and every worker build the same graph; settings that "
        "do not fit the data file (a target it lacks, a --positive-label that is no class) are "
        "refused first and never written."
    )
    run = sub.add_parser(
        "run",
        help="run the whole asset graph and write report.json/.html/.md and plots",
        description="Run the whole asset graph through Dagster on the project's dataset: the "
        "file of --data, or the embedded generated fraud-like data when no file was ever given "
        "or --rows or --positive-rate asks for it. " + reuse,
    )
    add_setting_options(run)
    run.add_argument("--verbose", action="store_true", help="show Dagster's step log")
    run.add_argument(
        "--force",
        action="store_true",
        help="run even when the data, settings and code are those of the last complete run "
        "(which is otherwise reported, not repeated)",
    )
    init = sub.add_parser(
        "init",
        help=f"write the project file ({PROJECT_FILE}) without running",
        description=f"Write ./{PROJECT_FILE} for `dagster dev`, schedules and sensors. " + reuse,
    )
    add_setting_options(init)


def _add_store_commands(sub) -> None:
    """`versions`, `show`, `promote` and `rollback`: what the store and the champion hold."""
    versions = sub.add_parser(
        "versions",
        help="list an asset's stored versions with run, time, code and upstream versions",
    )
    versions.add_argument("asset", help="asset name, e.g. final_model or fold_0_models")
    versions.add_argument("--limit", type=int, default=20, help="newest N (default %(default)s)")
    show = sub.add_parser("show", help="summarize one stored version of an asset")
    show.add_argument("asset", help="asset name, e.g. evaluation_report")
    show.add_argument(
        "--version", help="data version (default: the latest; of deployed_model, the champion)"
    )
    promote = sub.add_parser(
        "promote",
        help="put a stored model in service (the champion), overriding its run's comparison",
        description="Make VERSION the champion: the model `score`, `load_model()` and the inbox "
        "apply. Recorded with the time, who, the reason and the comparison its run made.",
    )
    promote.add_argument("version", help="a version from `imbal-pipeline versions deployed_model`")
    promote.add_argument("--reason", default="", help="why, for the record")
    rollback = sub.add_parser(
        "rollback",
        help="put the previous champion back in service",
        description="Undo the last promotion: the model in service before it becomes the "
        "champion again. Recorded like a promotion.",
    )
    rollback.add_argument("--reason", default="", help="why, for the record")


def _add_operating_commands(sub) -> None:
    """`rerun`, `score` and `ui`: re-execution, scoring a batch, and the Dagster UI."""
    rerun = sub.add_parser(
        "rerun",
        help="re-execute a failed run from its failure: only failed steps and what is downstream",
    )
    rerun.add_argument("run_id", help="id of the failed run (printed by `run`, shown in the UI)")
    rerun.add_argument("--verbose", action="store_true", help="show Dagster's step log")
    score = sub.add_parser(
        "score",
        help="score a batch with a trained model and compare it with what the model expects",
        description="Score a CSV or Parquet batch: writes its id (or row number), `score` (the "
        "raw score the threshold applies to), `probability` (what predict_proba returns: the "
        "calibrated probability, or the raw score where calibration did not earn its place), "
        "`decision` and `model_version`, and runs the monitoring checks. Exit status: 0 written "
        "with every check passed or warning, 3 written but a monitoring check failed, 1 a batch "
        "it refuses (nothing written), 2 bad arguments or no model.",
    )
    score.add_argument("--data", required=True, help="the batch (CSV, .csv.gz or Parquet)")
    score.add_argument(
        "--model",
        help="a run's --out folder, or a version from `versions deployed_model` "
        "(default: the champion, the model in service)",
    )
    score.add_argument(
        "--out",
        help="where to write the scores, .parquet or .csv (default: the batch's name with "
        ".scores.parquet, in the current folder: --data in/monday.csv writes "
        "./monday.scores.parquet)",
    )
    add_batch_read_options(score)
    score.add_argument(
        "--exit-zero",
        action="store_true",
        help="exit 0 when the scores are written even if a monitoring check failed (default: 3)",
    )
    ui = sub.add_parser(
        "ui",
        help="open the Dagster UI (dagster dev) on the same instance and project the runs use",
        description="Start `dagster dev` on the code location of this folder's project.",
    )
    ui.add_argument("--port", type=int, default=3000, help="web port (default %(default)s)")


# How a CSV file is written: `run` reads them for its data, `score` for one batch.
READ_OPTIONS = ("sep", "encoding", "decimal", "thousands")


def add_batch_read_options(parser: argparse.ArgumentParser) -> None:
    """`--sep`, `--encoding`, `--decimal` and `--thousands` of one batch file, declared as the
    settings declare them; unset, each is what the model's training file had."""
    declared = {field.name: field for field in settings_core.fields()}
    for name in READ_OPTIONS:
        field = declared[name]
        parser.add_argument(
            flag_of(field),
            dest=name,
            default=None,
            help=f"this batch's {field.metadata['help']} (default: the model's training file's)",
        )


# The options that describe the generated data alone: given without --data, they mean that data.
GENERATED = frozenset(settings_core.affecting(affects.GENERATED, only=True))


def settings_from_args(args: argparse.Namespace, project: Settings) -> Settings:
    """The project's settings with the options given on top; validated."""
    given = {}
    for field in settings_core.fields():
        value = getattr(args, field.name, None)
        if value is None:
            continue
        if isinstance(value, list):
            value = _columns(value)
        elif field.metadata["path"]:
            value = str(Path(value).resolve())
        given[field.name] = value
    if "data_path" in given and "target" not in given:
        raise SettingsError("--target is required with --data: name the label column")
    base = project.to_dict()
    # Another dataset (a file, or the generated data asked for by its size or rate): its
    # settings start afresh; the project's own (folds, threads, store, executor) stay.
    generated = "data_path" not in given and GENERATED & given.keys()
    if "data_path" in given or (generated and project.data_path is not None):
        base = {**Settings().to_dict(), **project.scoped(PROJECT)}
    settings = settings_core.from_values({**base, **given})
    check_cron(settings.retrain_cron)
    return settings


def check_cron(cron: str) -> None:
    """Refuse a retrain schedule Dagster cannot run, before the project file keeps it.

    Dagster's own check, which is here rather than in the settings because the core imports
    no Dagster; the default needs no check (and no Dagster import).
    """
    if cron == Settings.retrain_cron:
        return
    from imbal_pipeline.defs.dagster_private import is_valid_cron_string

    if not is_valid_cron_string(cron):
        raise SettingsError(
            f"--retrain-cron {cron!r} is not a cron schedule Dagster can run; give five fields, "
            "minute hour day month weekday, e.g. '0 3 * * 1' (Mondays at 03:00)"
        )
