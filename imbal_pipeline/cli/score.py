"""`imbal-pipeline score`: one batch scored by the model in service, with its monitoring checks."""

import argparse
import dataclasses
import os
from pathlib import Path

from imbal_pipeline.cli.arguments import READ_OPTIONS
from imbal_pipeline.cli.errors import _error
from imbal_pipeline.core.fields import ReadOptions
from imbal_pipeline.core.limits import parsing_problem
from imbal_pipeline.core.settings import delimiter_of


def _score_out(args: argparse.Namespace) -> Path:
    """--out, else the batch's name with .scores.parquet in the current folder: not beside the
    batch, where an inbox would take the scores for a new batch (and a read-only folder
    would refuse them)."""
    if args.out:
        return Path(args.out)
    from imbal_pipeline.core.data.inbox import stem

    return Path(f"{stem(Path(args.data))}.scores.parquet")


def batch_read_options(args: argparse.Namespace, trained: ReadOptions) -> ReadOptions:
    """How this batch is read: the options given on the command line, the others as the
    model's training file was read. Refused (ValueError) when they would misread it."""
    given = {n: getattr(args, n) for n in READ_OPTIONS if getattr(args, n, None) is not None}
    if "sep" in given:
        given["sep"] = delimiter_of(given["sep"])
    options = dataclasses.replace(trained, **given)
    problem = parsing_problem(options.sep, options.decimal, options.thousands, options.encoding)
    if problem:
        raise ValueError(problem)
    return options


# `score`'s status when the scores are written but a monitoring check failed: a script or a
# scheduler sees the alert without parsing the output, and tells it from a refused batch (1).
ALERT_EXIT = 3


def cmd_score(args: argparse.Namespace) -> int:
    """Score one batch: 0 when written with no check failed, ALERT_EXIT when written but a
    monitoring check failed (0 with --exit-zero), 1 on a batch it refuses, 2 on arguments."""
    from imbal_pipeline import load_model
    from imbal_pipeline.core.data.data import DataError, file_problem, read_table
    from imbal_pipeline.core.monitor import monitor_batch, monitoring
    from imbal_pipeline.core.monitor.deployed import (
        MissingColumnsError,
        ModelFileError,
        score_batch,
    )
    from imbal_pipeline.core.report import monitor_report

    data, out = Path(args.data), _score_out(args)
    problem = file_problem(data, "--data file")
    if problem is not None:
        return _error(problem, 2)
    if out.suffix.lower() not in (".parquet", ".csv"):
        return _error(f"--out {out} must end in .parquet or .csv", 2)
    try:
        # Scoring alone here, so every core may work (no other step shares them).
        model = load_model(args.model, n_jobs=os.cpu_count() or 1)
    except ModelFileError as exc:
        return _error(str(exc), 2)
    try:
        options = batch_read_options(args, model.read_options)
    except ValueError as exc:
        return _error(str(exc), 2)
    try:
        frame = read_table(data, options)
        scored, notes = score_batch(model, frame)
    except MissingColumnsError as exc:
        # Often a batch for another model than the one in service: say how to name it.
        other = "" if args.model else "; or score with its own model: --model FOLDER|VERSION"
        return _error(f"{exc}{other}", 1)
    except DataError as exc:
        return _error(str(exc), 1)
    # One batch alone: the prevalence rule pools only this one (the inbox pools the recent ones).
    gates = monitor_batch.check_batch(
        model.reference,
        model.preprocessor,
        frame,
        scored["score"],
        expected_positives=notes.expected_positives,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    if out.suffix.lower() == ".csv":
        scored.to_csv(partial, index=False)
    else:
        scored.to_parquet(partial, index=False)
    partial.replace(out)  # a reader never sees half a file
    flagged = int(scored["decision"].sum())
    ref, rows = model.reference, len(scored)
    low, high = monitoring.wilson_interval(flagged, rows, ref.confidence)
    print(f"scored {rows:,} rows with model {model.version} (threshold {model.threshold:.4g})")
    print(model.scorer)
    print(
        f"{flagged} of {rows} rows flagged ({100 * flagged / rows:.2f}%, "
        f"{ref.confidence:.0%} interval {100 * low:.2f}-{100 * high:.2f}%); the model expects "
        f"{100 * ref.expected_rate:.2f}% ({100 * ref.expected_interval[0]:.2f}-"
        f"{100 * ref.expected_interval[1]:.2f}%, from {ref.training_rows:,} training rows)"
    )
    for name, row in monitor_report.checks_table(gates).iterrows():
        print(f"  {name}: {row['status']} - {row['message']}")
    if notes.ignored_columns:
        print(f"ignored columns (not features): {', '.join(notes.ignored_columns)}")
    print(f"wrote {out}")
    failed = [g.name for g in gates if g.blocks]
    if failed and not args.exit_zero:
        names = ", ".join(failed)
        print(f"monitoring check failed: {names} (exit {ALERT_EXIT}; --exit-zero for 0)")
        return ALERT_EXIT
    return 0
