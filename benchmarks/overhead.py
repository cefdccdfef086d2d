"""Overhead of the Dagster pipeline against a plain script doing exactly the same fits.

Run from the project root with the project's virtualenv:

    .venv/bin/python benchmarks/overhead.py                      # 100k rows x 30 features, 5 folds
    .venv/bin/python benchmarks/overhead.py --rows 10000 --folds 3 --repeat 3
    .venv/bin/python benchmarks/overhead.py --rows 1000000 --skip-plain   # pipeline only
    .venv/bin/python benchmarks/overhead.py --features 0         # old data: make_fraud_data
    .venv/bin/python benchmarks/overhead.py --file ../shared/datasets/ecoli.csv --target target

Data. By default (`--features 30`) the orchestrator generates, once per invocation and before
any timing, `sklearn.datasets.make_classification(n_samples=ROWS, n_features=N,
n_informative=max(2, N // 4), n_redundant=N // 10, weights=[1 - positive rate], flip_y=0,
class_sep=1.0, random_state=SEED)`: float32 columns `x0..x{N-1}` plus a 0/1 target `y`, written
as Parquet (pyarrow) into the temp dir. With the default positive rate 0.01 the weights are
[0.99] and no label is flipped, so about 1 % of the rows are positive (the share obtained is
printed with the table). Both sides read that same file, so the generation time counts
in neither side's wall time (it is printed separately); reading the Parquet file counts in both.
`--file PATH --target COLUMN` times a file of your own instead (a real dataset: CSV or
Parquet, read by both sides as `imbal-pipeline run --data` reads it; `--rows`, `--features`
and `--positive-rate` are then unused). `--features 0` keeps the earlier data: each side
generates the embedded fraud-like data itself (`make_fraud_data`, about a dozen columns,
`--rows` rows) inside its timed process, as the earlier figures were measured.

Both sides run with the same settings, each in a fresh process:

* pipeline: `imbal-pipeline run --data TMP/data.parquet --target y --folds K --seed S
  --out TMP/out` (with `--features 0`: `--rows N` instead of `--data/--target`) with
  DAGSTER_HOME set to a fresh empty directory (no cached state), i.e. Dagster's multiprocess
  executor with LightGBM at 1 thread per step and as many concurrent steps as cores;
* plain: `python benchmarks/overhead.py --plain-only ...`, which reads the same file through
  the same core calls as the `raw_data` asset (`data.read_table`, `data.prepare_frame`) and
  then makes the same core calls as the other assets (per-fold preprocessing and every
  strategy's resampling, one LightGBM per strategy and fold, comparison, threshold, final
  model, baseline model, then the report-only assets' work: data diagnostics, the learning
  curve's fits, the leak panel's counterfactual fits, the quality gate, report files)
  serially in one process, giving LightGBM all cores since it runs one fit at a time.

Wall time is the whole process, interpreter start and imports included, on both sides. Peak RSS
is `ru_maxrss` of RUSAGE_CHILDREN in a small measuring process that starts the side: the
resident set of the single largest process in the side's process tree, not the sum of
processes running at once. The measuring process makes itself a child subreaper (Linux), so the
step processes Dagster's forkserver starts, which the run process never waits for, are counted
too. It prints a table and `ratio pipeline/plain` of the wall times (medians with --repeat),
prints the pipeline's steps with their start and end times (read from the run's event log
after the run, so outside its wall time), warns when other processes loaded the machine during
a run (from /proc/stat), and checks that
both sides selected the same strategy and threshold; the exit status is 1 if a side failed or
they disagree, whatever the ratio.
"""

import argparse
import ctypes
import dataclasses
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from imbal_pipeline.core.settings import LADDER, Settings

# Goals on the wall-time ratio by data size (#15): small data pays a fixed cost a script does not.
GOALS = ((5_000, 2.0), (10_000, 1.5), (None, 1.15))


def goal_for(rows: int) -> float:
    """The ratio goal for a table of `rows` rows."""
    return next(goal for limit, goal in GOALS if limit is None or rows <= limit)


PR_SET_CHILD_SUBREAPER = 36
REAP_TIMEOUT_S = 60.0
THRESHOLD_TOLERANCE = 1e-6
OTHER_LOAD_SHARE = 0.05  # warn when other processes used more than 5 % of one core
WARMUP_IMPORTS = "import dagster, imblearn, lightgbm, matplotlib, pandas, pyarrow, sklearn"
TARGET = "y"  # target column of the make_classification data
DATA_FILE = "data.parquet"
FLIP_Y = 0.0  # no random relabelling: the positive share stays at the asked 1 %
CLASS_SEP = 1.0


def build_parser() -> argparse.ArgumentParser:
    """Benchmark options; --plain-only (and --measure, parsed in `main`) are child modes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="generated rows (%(default)s)")
    parser.add_argument(
        "--features",
        type=int,
        default=30,
        help="features of the make_classification data both sides read from one Parquet file "
        "(%(default)s); 0: the embedded make_fraud_data (about a dozen columns) as before",
    )
    parser.add_argument(
        "--positive-rate",
        type=float,
        default=Settings.generated_positive_rate,
        help="minority weight of the generated data (%(default)s); with --features 0 the "
        "pipeline CLI has no option for it, "
        "so other values need --skip-pipeline there",
    )
    parser.add_argument("--file", help="time this CSV or Parquet file instead of generated data")
    parser.add_argument("--target", default=TARGET, help="target column of --file (%(default)s)")
    parser.add_argument("--folds", type=int, default=5, help="CV folds (%(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed (%(default)s)")
    parser.add_argument(
        "--strategies", default=",".join(LADDER), help="comma-separated ladder (%(default)s)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per side (%(default)s)")
    parser.add_argument("--skip-pipeline", action="store_true", help="time the plain side only")
    parser.add_argument("--skip-plain", action="store_true", help="time the pipeline only")
    parser.add_argument(
        "--no-warmup",
        action="store_true",
        help="skip the untimed import of the libraries that warms the file cache first",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    # Internal child modes.
    parser.add_argument("--plain-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)  # the data file, for --plain-only
    return parser


# --------------------------------------------------------------------------- data


def informative_redundant(features: int) -> tuple[int, int]:
    """make_classification's informative and redundant feature counts for N features."""
    return max(2, features // 4), features // 10


def write_classification_data(args: argparse.Namespace, path: Path) -> dict:
    """Generate the make_classification data once and write it as Parquet; describe it."""
    import numpy as np
    import pandas as pd
    from sklearn.datasets import make_classification

    n_informative, n_redundant = informative_redundant(args.features)
    x, y = make_classification(
        n_samples=args.rows,
        n_features=args.features,
        n_informative=n_informative,
        n_redundant=n_redundant,
        weights=[1.0 - args.positive_rate],
        flip_y=FLIP_Y,
        class_sep=CLASS_SEP,
        random_state=args.seed,
    )
    frame = pd.DataFrame(x.astype(np.float32), columns=[f"x{i}" for i in range(args.features)])
    del x
    frame[TARGET] = y.astype(np.int8)
    frame.to_parquet(path, engine="pyarrow", index=False)
    positives = int(y.sum())
    return {
        "rows": int(len(y)),
        "features": args.features,
        "positives": positives,
        "share": positives / len(y),
        "file_mb": path.stat().st_size / 1e6,
    }


def data_from_report(report: dict | None) -> dict | None:
    """Rows, features and positives of the whole generated data (training + holdout)."""
    if not report:
        return None
    ds = report["dataset"]
    rows = ds["rows"] + ds["holdout_rows"]
    positives = ds["positives"] + ds["holdout_positives"]
    return {
        "rows": rows,
        "features": ds["features"],
        "positives": positives,
        "share": positives / rows,
    }


# --------------------------------------------------------------------------- plain side


def plain_settings(args: argparse.Namespace, out_dir: str) -> Settings:
    """The settings `imbal-pipeline run` builds from the same options, with all cores."""
    from imbal_pipeline.cli import arguments

    if args.data:
        argv = ["run", "--data", args.data, "--target", args.target]
    else:
        argv = ["run", "--rows", str(args.rows), "--positive-rate", repr(args.positive_rate)]
    argv += ["--folds", str(args.folds), "--seed", str(args.seed)]
    argv += ["--strategies", args.strategies, "--out", out_dir]
    settings = arguments.settings_from_args(arguments.build_parser().parse_args(argv), Settings())
    return dataclasses.replace(settings, lgbm_threads=os.cpu_count() or 1)


def run_plain(args: argparse.Namespace) -> None:
    """The asset graph's core calls, serially in this process; timings go to the out dir."""
    started = time.perf_counter()

    from imbal_pipeline.core import method
    from imbal_pipeline.core.evaluate import evaluation, release
    from imbal_pipeline.core.monitor.deployed import Model

    s = plain_settings(args, args.out)
    phases: dict[str, float] = {"imports": time.perf_counter() - started}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        phases[name] = now - clock
        clock = now

    # The graph's core calls, stage by stage (raw_data … final_model and baseline_model, then
    # the evaluation), from the core's one entry point; then the report-only assets' fits
    # (data diagnostics, learning curve, leak panel) and the quality gate, as the graph makes
    # them, so that both sides make the same fits and write the same report.
    outcome = method.fit_and_evaluate(s, lap)
    projection = method.add_evidence(outcome, s)
    lap("evidence")
    outcome.typed.run_id = "plain"
    deployable = release.released(outcome.typed, outcome.final, outcome.decision, s)
    model = deployable and Model(deployable["model"], {**deployable["meta"], "version": "plain"})
    evaluation.publish(
        outcome.report,
        outcome.arrays,
        outcome.decision.curve,
        s.output_dir,
        model=model,
        projection=projection,
    )
    lap("report")

    info = {
        "phases": phases,
        "compute_seconds": sum(v for k, v in phases.items() if k != "imports"),
        "features": {
            kind: len(outcome.final.preprocessor[kind]) for kind in ("numeric", "categorical")
        },
        "lgbm_threads": s.lgbm_threads,
    }
    (Path(args.out) / "plain_timings.json").write_text(json.dumps(info, indent=1))


# --------------------------------------------------------------------------- measuring


def become_subreaper() -> bool:
    """Orphaned descendants (Dagster's forkserver and its step processes) reparent to us."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def maxrss_mb(value: int) -> float:
    """ru_maxrss is in KiB on Linux and in bytes on macOS."""
    return value / (1024 * 1024) if sys.platform == "darwin" else value / 1024


def busy_cpu_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (Linux), for a load check."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    ticks = [int(v) for v in fields[:8]]
    busy = sum(ticks) - ticks[3] - ticks[4]  # minus idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def run_measured(result_path: str, command: list[str]) -> None:
    """Run `command`, then reap every orphaned descendant; write wall time and peak RSS."""
    subreaper = become_subreaper()
    busy_before = busy_cpu_seconds()
    with open(Path(result_path).with_suffix(".log"), "w") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        # wait4: this child's own rusage, i.e. only the descendants it waited for itself.
        _, status, own = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    reaped, unreaped = 0, False
    deadline = time.monotonic() + REAP_TIMEOUT_S
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid:
            reaped += 1
        elif time.monotonic() > deadline:
            unreaped = True
            break
        else:
            time.sleep(0.05)
    tree = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy_after = busy_cpu_seconds()
    side_cpu = tree.ru_utime + tree.ru_stime
    # CPU the machine spent on anything but this side while it ran: other load skews timings.
    other_cpu = None if busy_before is None else max(0.0, busy_after - busy_before - side_cpu)
    result = {
        "returncode": proc.returncode,
        "wall_seconds": wall,
        "peak_rss_mb": maxrss_mb(tree.ru_maxrss),
        "peak_rss_mb_waited_only": maxrss_mb(own.ru_maxrss),
        "cpu_seconds": side_cpu,
        "other_cpu_seconds": other_cpu,
        "subreaper": subreaper,
        "orphans_reaped": reaped,
        "unreaped": unreaped,
    }
    Path(result_path).write_text(json.dumps(result))


def measure(command: list[str], env: dict, result_path: Path) -> dict:
    """Start the measuring child for one side and return what it recorded."""
    wrapper = [sys.executable, str(Path(__file__).resolve()), "--measure", str(result_path), "--"]
    # Each side runs in its own folder, so a project file elsewhere never shapes it.
    subprocess.run([*wrapper, *command], env=env, check=True, cwd=result_path.parent)
    result = json.loads(result_path.read_text())
    result["log"] = str(result_path.with_suffix(".log"))
    return result


# --------------------------------------------------------------------------- orchestration


def child_env(dagster_home: Path | None = None) -> dict:
    """Environment for a side: analytics and telemetry off, optionally a fresh instance."""
    env = os.environ.copy()
    env["GX_ANALYTICS_ENABLED"] = "false"
    env["DAGSTER_DISABLE_TELEMETRY"] = "1"
    if dagster_home is not None:
        env["DAGSTER_HOME"] = str(dagster_home)
    return env


def pipeline_executable() -> list[str]:
    """`imbal-pipeline` next to this interpreter, else on PATH, else the module."""
    beside = Path(sys.executable).parent / "imbal-pipeline"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("imbal-pipeline")
    return [found] if found else [sys.executable, "-m", "imbal_pipeline.cli"]


def side_commands(
    args: argparse.Namespace, out: Path, data_file: Path | None
) -> tuple[list[str], list[str]]:
    """The plain and the pipeline command lines for one run; data_file None: generated."""
    common = ["--folds", str(args.folds), "--seed", str(args.seed)]
    strategies = [] if args.strategies == ",".join(LADDER) else ["--strategies", args.strategies]
    plain = [sys.executable, str(Path(__file__).resolve()), "--plain-only", *common]
    plain += ["--strategies", args.strategies, "--out", str(out / "plain_out")]
    pipeline = [*pipeline_executable(), "run", *common, *strategies]
    if data_file is None:
        plain += ["--rows", str(args.rows), "--positive-rate", repr(args.positive_rate)]
        pipeline += ["--rows", str(args.rows), "--positive-rate", repr(args.positive_rate)]
    else:
        plain += ["--data", str(data_file), "--target", args.target]
        pipeline += ["--data", str(data_file), "--target", args.target]
    pipeline += ["--out", str(out / "pipeline_out")]
    return plain, pipeline


def step_timeline(dagster_home: Path) -> list[tuple[str, float, float]]:
    """(step, start, end) in seconds from the run's start, from the instance's event log."""
    import dagster as dg

    kinds = {
        dg.DagsterEventType.RUN_START,
        dg.DagsterEventType.STEP_START,
        dg.DagsterEventType.STEP_SUCCESS,
        dg.DagsterEventType.STEP_FAILURE,
    }
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        (run,) = instance.get_runs(limit=1)
        records = instance.get_records_for_run(run.run_id, of_type=kinds, limit=10_000).records
    started, steps, t0 = {}, [], None
    for record in records:
        entry = record.event_log_entry
        kind = entry.dagster_event.event_type
        if kind == dg.DagsterEventType.RUN_START:
            t0 = entry.timestamp
        elif kind == dg.DagsterEventType.STEP_START:
            started[entry.step_key] = entry.timestamp
        else:
            steps.append((entry.step_key, started[entry.step_key], entry.timestamp))
    t0 = t0 if t0 is not None else min(s for _, s, _ in steps)
    return sorted(((key, start - t0, end - t0) for key, start, end in steps), key=lambda s: s[1])


def read_report(out_dir: Path) -> dict | None:
    """report.json a side wrote, or None."""
    path = out_dir / "report.json"
    return json.loads(path.read_text()) if path.is_file() else None


def print_failure(side: str, result: dict) -> None:
    """The tail of a failed side's output."""
    print(f"\n{side} side failed (exit {result['returncode']}); last lines of {result['log']}:")
    lines = Path(result["log"]).read_text(errors="replace").splitlines()
    for line in lines[-20:]:
        print(f"  {line}")


def orchestrate(args: argparse.Namespace) -> int:
    """Run both sides, print the table, the ratio and the agreement check."""
    if args.skip_plain and args.skip_pipeline:
        print("nothing to do: both --skip-plain and --skip-pipeline given", file=sys.stderr)
        return 2
    if args.features < 0 or args.features == 1:
        print(f"--features must be 0 or at least 2, got {args.features}", file=sys.stderr)
        return 2
    if not 0.0 < args.positive_rate < 1.0:
        print(f"--positive-rate must be in (0, 1), got {args.positive_rate}", file=sys.stderr)
        return 2
    if args.repeat < 1:
        print("--repeat must be at least 1", file=sys.stderr)
        return 2
    plain_settings(args, "unused")  # validate strategies and folds before any timing

    root = Path(tempfile.mkdtemp(prefix="imbal-overhead-"))
    cores = os.cpu_count() or 1
    if args.file:
        source = f"the file {args.file} (target {args.target!r}), read by both sides"
    elif args.features:
        n_informative, n_redundant = informative_redundant(args.features)
        source = (
            f"{args.rows} rows x {args.features} features of make_classification data "
            f"({n_informative} informative, {n_redundant} redundant, weights "
            f"[{1.0 - args.positive_rate:g}], flip_y {FLIP_Y}, class_sep {CLASS_SEP}), "
            "one Parquet file both sides read"
        )
    else:
        source = (
            f"{args.rows} rows of generated data (make_fraud_data: about a dozen columns, "
            f"generated inside each side), positive rate {args.positive_rate}"
        )
    print(
        f"overhead benchmark: {source}, {args.folds} folds, seed {args.seed}, "
        f"strategies {args.strategies}; {cores} cores; temp dir {root}"
    )
    print(
        f"plain: one process, serial, LightGBM {cores} threads; pipeline: Dagster multiprocess "
        f"executor, LightGBM 1 thread per step, up to {cores} steps at once"
    )
    if not args.no_warmup:
        print("warm-up (untimed): importing the libraries once to warm the file cache")
        subprocess.run([sys.executable, "-c", WARMUP_IMPORTS], env=child_env(), check=True)
    data_file: Path | None = None
    dataset: dict | None = None
    if args.file:
        data_file = Path(args.file).resolve()
    elif args.features:
        data_file = root / DATA_FILE
        started = time.perf_counter()
        dataset = write_classification_data(args, data_file)
        print(
            f"data (untimed, in neither side's wall time): generated and written in "
            f"{time.perf_counter() - started:.1f} s to {data_file} ({dataset['file_mb']:.1f} MB), "
            f"{dataset['positives']} positives = {dataset['share']:.2%}",
            flush=True,
        )

    runs: dict[str, list[dict]] = {"plain": [], "pipeline": []}
    reports: dict[str, dict | None] = {"plain": None, "pipeline": None}
    failed = False
    for i in range(args.repeat):
        out = root / f"run{i}"
        out.mkdir()
        plain_cmd, pipeline_cmd = side_commands(args, out, data_file)
        sides = []
        if not args.skip_plain:
            sides.append(("plain", plain_cmd, child_env()))
        if not args.skip_pipeline:
            home = out / "dagster_home"  # fresh and empty: no cached state
            sides.append(("pipeline", pipeline_cmd, child_env(home)))
        for side, command, env in sides:
            if i == 0:
                extra = f" (DAGSTER_HOME={env['DAGSTER_HOME']})" if side == "pipeline" else ""
                print(f"{side} command: {' '.join(command)}{extra}")
            result = measure(command, env, out / f"{side}.json")
            print(
                f"  run {i + 1}/{args.repeat} {side}: {result['wall_seconds']:.1f} s, "
                f"peak RSS {result['peak_rss_mb']:.0f} MB, CPU {result['cpu_seconds']:.1f} s",
                flush=True,
            )
            if result["returncode"] != 0:
                print_failure(side, result)
                failed = True
                continue
            result["out"] = out / f"{side}_out"
            if side == "pipeline":
                result["timeline"] = step_timeline(Path(env["DAGSTER_HOME"]))
            runs[side].append(result)
            reports[side] = read_report(result["out"])
        if failed:
            break

    print()
    if dataset is not None:
        what = f"make_classification, {DATA_FILE}"
    elif args.file:
        dataset = data_from_report(reports["pipeline"] or reports["plain"])
        what = f"{Path(args.file).name}; features = the file's columns"
    else:  # make_fraud_data, generated inside the sides: counted from a side's report
        dataset = data_from_report(reports["pipeline"] or reports["plain"])
        what = "make_fraud_data; features = model inputs"
    if dataset is None:
        print(f"data: {args.rows} rows, positive share n/a (no report)")
    else:
        print(
            f"data: {dataset['rows']} rows x {dataset['features']} features ({what}), "
            f"positive share {dataset['share']:.2%} ({dataset['positives']} positives)"
        )
    rows = dataset["rows"] if dataset else args.rows
    print(
        f"{'rows':>8}  {'side':<9}{'run':>4}  {'wall s':>8}  {'peak RSS MB':>11}  "
        f"{'CPU s':>7}  {'other CPU s':>11}"
    )
    medians: dict[str, float] = {}
    loaded = False
    for side in ("plain", "pipeline"):
        for n, result in enumerate(runs[side], 1):
            other = result["other_cpu_seconds"]
            loaded |= other is not None and other > OTHER_LOAD_SHARE * result["wall_seconds"]
            print(
                f"{rows:>8}  {side:<9}{n:>4}  {result['wall_seconds']:>8.1f}  "
                f"{result['peak_rss_mb']:>11.0f}  {result['cpu_seconds']:>7.1f}  "
                f"{'n/a' if other is None else f'{other:.1f}':>11}"
            )
        if runs[side]:
            medians[side] = statistics.median(r["wall_seconds"] for r in runs[side])
            if len(runs[side]) > 1:
                peak = max(r["peak_rss_mb"] for r in runs[side])
                print(f"{rows:>8}  {side:<9}{'med':>4}  {medians[side]:>8.1f}  {peak:>11.0f}")
    if "plain" in medians and "pipeline" in medians:
        ratio = medians["pipeline"] / medians["plain"]
        goal = goal_for(rows)
        verdict = "met" if ratio <= goal else "NOT met"
        print(
            f"ratio pipeline/plain = {ratio:.2f}x (goal <= {goal:.2f}x at {rows} rows: {verdict})"
        )

    print(
        "wall s: whole process incl. interpreter start and imports. peak RSS: ru_maxrss over the "
        "side's process tree = the largest single process, not the sum of concurrent ones. "
        "CPU s: user+system of the side's whole tree. other CPU s: busy CPU time of the machine "
        "outside the side while it ran"
    )
    if loaded:
        print(
            f"WARNING: other processes used more than {OTHER_LOAD_SHARE:.0%} of a core during a "
            "run; its wall time is inflated, rerun on an idle machine"
        )
    if runs["pipeline"]:
        last = runs["pipeline"][-1]
        note = "" if last["subreaper"] else "; subreaper unavailable, so step processes missing"
        if last["unreaped"]:
            note += f"; descendants still alive after {REAP_TIMEOUT_S:.0f} s were not counted"
        print(
            f"pipeline: {last['orphans_reaped']} orphaned descendant(s) (Dagster's forkserver, "
            f"holding the step processes' usage) reaped by the measuring process; without them "
            f"peak RSS would read {last['peak_rss_mb_waited_only']:.0f} MB{note}"
        )
    if runs["pipeline"]:
        print("pipeline steps of the last run, s from its start event (start, end, took):")
        for key, start, end in runs["pipeline"][-1]["timeline"]:
            print(f"  {key:<28}{start:8.1f}{end:8.1f}{end - start:8.1f}")
    if runs["plain"]:
        timings = json.loads((runs["plain"][-1]["out"] / "plain_timings.json").read_text())
        phases = ", ".join(f"{k} {v:.1f}" for k, v in timings["phases"].items())
        print(f"plain phases (s): {phases}; features {timings['features']}")

    mismatch = False
    if reports["plain"] and reports["pipeline"]:
        print("\nagreement (report.json of the last run of each side):")
        for side in ("plain", "pipeline"):
            rep = reports[side]
            print(
                f"  {side:<9} strategy {rep['selected_strategy']:<16} threshold "
                f"{rep['threshold']['value']:.6f}  holdout PR-AUC {rep['holdout']['pr_auc']:.4f}  "
                f"F1 {rep['holdout']['f1']:.4f}"
            )
        same_strategy = (
            reports["plain"]["selected_strategy"] == reports["pipeline"]["selected_strategy"]
        )
        diff = abs(
            reports["plain"]["threshold"]["value"] - reports["pipeline"]["threshold"]["value"]
        )
        mismatch = not same_strategy or diff > THRESHOLD_TOLERANCE
        print(
            f"  same strategy: {'yes' if same_strategy else 'NO'}; threshold difference "
            f"{diff:.2e} ({'within' if diff <= THRESHOLD_TOLERANCE else 'ABOVE'} "
            f"{THRESHOLD_TOLERANCE:.0e})"
        )

    if args.keep:
        print(f"kept {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if failed or mismatch else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: orchestrator, or one of the internal child modes."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--measure"] and argv[2:3] == ["--"]:
        # Internal: `--measure RESULT_JSON -- COMMAND...`, the measuring process of one side.
        run_measured(argv[1], argv[3:])
        return 0
    args = build_parser().parse_args(argv)
    if args.plain_only:
        if not args.out:
            print("--plain-only needs --out DIR", file=sys.stderr)
            return 2
        run_plain(args)
        return 0
    return orchestrate(args)


if __name__ == "__main__":
    sys.exit(main())
