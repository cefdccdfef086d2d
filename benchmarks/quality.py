"""Holdout quality of the pipeline against four hand-written LightGBM peers on real datasets.

Run from the project root with the project's virtualenv:

    .venv/bin/python benchmarks/quality.py                          # all datasets, seeds 0,1,2
    .venv/bin/python benchmarks/quality.py --datasets ecoli,oil --seeds 0
    .venv/bin/python benchmarks/quality.py --report-only            # rebuild the tables only

Datasets are the CSV files (`.csv` or `.csv.gz`, label column `target`, 1 = positive) in
`../shared/datasets` next to the repository (override with --datasets-dir). For every dataset
and seed there is one stratified 80/20 holdout split (`train_test_split(..., test_size=0.2,
stratify=y, random_state=seed)`) that every method shares:

* pipeline: the training and the test part are written as CSV files and the pipeline runs
  exactly as a user runs it, `imbal-pipeline run --data train.csv --test-data test.csv
  --target target --seed SEED --out OUT`, in a subprocess with a fresh, empty DAGSTER_HOME,
  default settings (F1 objective); the holdout metrics are read from OUT/report.json;
* plain_lgbm: LGBMClassifier with default parameters, threshold 0.5;
* spw_lgbm: the same with scale_pos_weight = negatives / positives of the training part;
* smote_lgbm: SMOTE then LGBMClassifier (imblearn Pipeline), threshold 0.5; skipped on datasets
  with categorical columns;
* tuned_spw_lgbm: spw_lgbm inside TunedThresholdClassifierCV (F1, stratified 5-fold CV).

Peers use n_jobs=1, random_state=seed, verbose=-1, pandas `category` columns for string features
(categories taken from the training part) and NaN left as NaN. Everything runs sequentially,
peers under threadpool_limits(1). PR-AUC is average precision of the positive-class scores; F1
and MCC come from the predicted labels. Wall times are the fit and prediction of a peer, and the
whole `imbal-pipeline` process (interpreter start included) for the pipeline.

Each (dataset, seed, method) result is appended as one JSON line to the results file (default
benchmarks/results/quality.jsonl). Rows already in it, including failed or skipped ones, are not
run again, so an interrupted benchmark continues where it stopped; --fresh starts over (or delete
single lines to redo them). At the end it prints a Markdown table per dataset, a summary over
datasets with the best peer per dataset in hindsight, and the goal check (pipeline mean PR-AUC
and mean F1 at least those of the hindsight best peer); the same text replaces the section
between `<!-- quality:start -->` and `<!-- quality:end -->` of the --write-md file (default
BENCHMARKS.md at the repository root), leaving the rest of that file as it is.
"""

import argparse
import contextlib
import json
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASETS_DIR = REPO_ROOT.parent / "shared" / "datasets"
DEFAULT_RESULTS = REPO_ROOT / "benchmarks" / "results" / "quality.jsonl"
DEFAULT_MD = REPO_ROOT / "BENCHMARKS.md"
TARGET = "target"
PIPELINE = "pipeline"
PEERS = ("plain_lgbm", "spw_lgbm", "smote_lgbm", "tuned_spw_lgbm")
METHODS = (PIPELINE, *PEERS)
METRICS = ("pr_auc", "f1", "mcc")
METRIC_LABELS = {"pr_auc": "PR-AUC", "f1": "F1", "mcc": "MCC"}
MD_START = "<!-- quality:start -->"
MD_END = "<!-- quality:end -->"
STDERR_TAIL = 20


# --------------------------------------------------------------------------- arguments


def _names(text: str) -> list[str]:
    """'a, b,,c' -> ['a', 'b', 'c']."""
    return [part.strip() for part in text.split(",") if part.strip()]


def _seeds(text: str) -> list[int]:
    """'0,1,2' -> [0, 1, 2]; argparse reports a bad value."""
    try:
        return [int(part) for part in _names(text)]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"seeds must be integers: {text!r}") from exc


def build_parser() -> argparse.ArgumentParser:
    """Benchmark options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets-dir",
        type=Path,
        default=DEFAULT_DATASETS_DIR,
        help="folder with the dataset CSV files (default: %(default)s)",
    )
    parser.add_argument(
        "--datasets",
        type=_names,
        help="comma-separated dataset names without extension (default: every file; with "
        "--report-only: every dataset in the results file)",
    )
    parser.add_argument(
        "--seeds",
        type=_seeds,
        help="comma-separated split/model seeds (default: 0,1,2; with --report-only: every "
        "seed in the results file)",
    )
    parser.add_argument(
        "--methods",
        type=_names,
        help=f"comma-separated subset of {','.join(METHODS)} (default: all)",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=DEFAULT_RESULTS,
        help="JSON-lines results file, appended to and resumed from (default: %(default)s)",
    )
    parser.add_argument(
        "--fresh", action="store_true", help="delete the results file first and run everything"
    )
    parser.add_argument(
        "--write-md",
        default=str(DEFAULT_MD),
        help="Markdown file whose quality section is replaced by the tables; '' to skip "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing; rebuild the tables from the results file",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=0.0,
        help="seconds before a pipeline run is killed and recorded as failed; 0 = no limit "
        "(default: %(default)s)",
    )
    return parser


# --------------------------------------------------------------------------- data


def list_datasets(folder: Path) -> dict[str, Path]:
    """Dataset name -> file for every .csv / .csv.gz in the folder, sorted by name."""
    found = {}
    for path in sorted(folder.iterdir()):
        for suffix in (".csv.gz", ".csv"):
            if path.is_file() and path.name.endswith(suffix):
                found[path.name[: -len(suffix)]] = path
                break
    return found


def load_dataset(path: Path):
    """The dataset as a DataFrame with an integer 0/1 target."""
    import pandas as pd

    frame = pd.read_csv(path)
    if TARGET not in frame.columns:
        raise ValueError(f"{path.name} has no {TARGET!r} column")
    frame[TARGET] = frame[TARGET].astype(int)
    return frame


def categorical_columns(features) -> list[str]:
    """Feature columns that are neither numeric nor boolean (strings, objects)."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    return [
        name
        for name in features.columns
        if not (is_numeric_dtype(features[name]) or is_bool_dtype(features[name]))
    ]


def split(frame, seed: int):
    """The shared stratified 80/20 holdout split of the whole frame (target included)."""
    from sklearn.model_selection import train_test_split

    return train_test_split(frame, test_size=0.2, stratify=frame[TARGET], random_state=seed)


def pipeline_split(path: Path, seed: int):
    """The pipeline's settings, training part and holdout part of one dataset's shared split,
    read as `imbal-pipeline run --data train.csv --test-data test.csv` reads them (for the
    studies that call the core functions directly)."""
    from imbal_pipeline.cli import arguments
    from imbal_pipeline.core import inputs
    from imbal_pipeline.core.data import split as split_core
    from imbal_pipeline.core.settings import Settings

    train_part, test_part = split(load_dataset(path), seed)
    with tempfile.TemporaryDirectory() as tmp:
        train_part.to_csv(f"{tmp}/train.csv", index=False)
        test_part.to_csv(f"{tmp}/test.csv", index=False)
        argv = ["run", "--data", f"{tmp}/train.csv", "--test-data", f"{tmp}/test.csv"]
        argv += ["--target", TARGET, "--seed", str(seed), "--out", f"{tmp}/out"]
        settings = arguments.settings_from_args(
            arguments.build_parser().parse_args(argv), Settings()
        )
        raw, _ = inputs.load_raw(settings)
        marked, _, _ = inputs.split_raw(raw, settings)
    return settings, split_core.training_part(marked), split_core.holdout_part(marked)


def study_parser(description: str, results: Path) -> argparse.ArgumentParser:
    """Options of the studies run per dataset and seed (`run_study`)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--datasets-dir", type=Path, default=DEFAULT_DATASETS_DIR)
    parser.add_argument("--datasets", type=_names)
    parser.add_argument("--seeds", type=_seeds, default=[0, 1, 2])
    parser.add_argument("--results", type=Path, default=results)
    parser.add_argument("--workers", type=int, default=2)
    return parser


def run_study(run_one, args: argparse.Namespace) -> tuple[list[dict], list[str]]:
    """`run_one((name, path, seed))` for every dataset and seed not yet in the results file
    (appended as they finish, largest datasets first so the workers end together); then every
    row of the chosen datasets, and their names."""
    found = list_datasets(args.datasets_dir)
    names = args.datasets or sorted(found)
    done = set()
    if args.results.is_file():
        done = {(r["dataset"], r["seed"]) for r in map(json.loads, args.results.open())}
    jobs = [(n, str(found[n]), s) for n in names for s in args.seeds if (n, s) not in done]
    jobs.sort(key=lambda j: -Path(j[1]).stat().st_size)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        if args.workers > 1:
            import multiprocessing

            pool = stack.enter_context(multiprocessing.get_context("spawn").Pool(args.workers))
            finished = pool.imap_unordered(run_one, jobs)
        else:
            finished = map(run_one, jobs)
        for row in finished:
            with args.results.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            print(f"{row['dataset']} seed {row['seed']} done", flush=True)
    return [r for r in map(json.loads, args.results.open()) if r["dataset"] in names], names


def peer_frames(train, test, categorical: list[str]):
    """Features and labels for the peers; string columns become `category` with the
    training part's categories, so test values unseen in training become NaN."""
    import pandas as pd

    x_train = train.drop(columns=TARGET)
    x_test = test.drop(columns=TARGET)
    for name in categorical:
        categories = sorted(x_train[name].dropna().unique())
        x_train[name] = pd.Categorical(x_train[name], categories=categories)
        x_test[name] = pd.Categorical(x_test[name], categories=categories)
    return x_train, train[TARGET].to_numpy(), x_test, test[TARGET].to_numpy()


# --------------------------------------------------------------------------- results file


def read_results(path: Path) -> list[dict]:
    """Rows of the results file; unreadable lines (e.g. cut by a kill) are reported and skipped."""
    if not path.is_file():
        return []
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            print(f"warning: {path}:{number} is not valid JSON; ignored", file=sys.stderr)
    return rows


def append_result(path: Path, row: dict) -> None:
    """Append one row as a JSON line, starting a new line if the file ends mid-line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = ""
    if path.is_file() and path.stat().st_size > 0:
        with path.open("rb") as handle:
            handle.seek(-1, os.SEEK_END)
            prefix = "" if handle.read(1) == b"\n" else "\n"
    with path.open("a") as handle:
        handle.write(prefix + json.dumps(row) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def row_key(row: dict) -> tuple[str, int, str]:
    """The (dataset, seed, method) a row belongs to."""
    return row["dataset"], int(row["seed"]), row["method"]


# --------------------------------------------------------------------------- methods


def code_version() -> str:
    """`git describe --always --dirty` of the repository, or 'unknown'."""
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() or "unknown"


def pipeline_command() -> list[str]:
    """`imbal-pipeline` beside this interpreter, else the CLI module."""
    beside = Path(sys.executable).parent / "imbal-pipeline"
    if beside.exists():
        return [str(beside)]
    return [sys.executable, "-m", "imbal_pipeline.cli"]


def _kill_group(process: subprocess.Popen) -> None:
    """Kill the process group this benchmark started for one pipeline run."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _failure_line(stderr: str, returncode: int) -> str:
    """The CLI's one-line error from stderr, else its last non-empty line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("imbal-pipeline: error"):
            # The run id points into the temporary instance, which is gone by now.
            return re.sub(r" \(run [0-9a-f-]+\)$", "", line)
    return lines[-1] if lines else f"exit status {returncode} without output on stderr"


def run_pipeline(train, test, seed: int, timeout: float) -> dict:
    """Run the pipeline CLI on the split in a fresh Dagster instance; the result fields."""
    with tempfile.TemporaryDirectory(prefix="quality_pipeline_") as tmp_name:
        tmp = Path(tmp_name)
        train.to_csv(tmp / "train.csv", index=False)
        test.to_csv(tmp / "test.csv", index=False)
        home, out = tmp / "dagster_home", tmp / "out"
        home.mkdir()
        command = [*pipeline_command(), "run", "--data", str(tmp / "train.csv")]
        command += ["--test-data", str(tmp / "test.csv"), "--target", TARGET]
        command += ["--seed", str(seed), "--out", str(out)]
        env = os.environ.copy()
        env.update(
            DAGSTER_HOME=str(home), GX_ANALYTICS_ENABLED="false", DAGSTER_DISABLE_TELEMETRY="1"
        )
        start = time.perf_counter()
        # Own session, so a timeout or Ctrl-C can end the run's step processes too.
        process = subprocess.Popen(
            command,
            cwd=tmp,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        timed_out = False
        try:
            stdout, stderr = process.communicate(timeout=timeout or None)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(process)
            stdout, stderr = process.communicate()
        except BaseException:
            _kill_group(process)
            process.wait()
            raise
        wall = time.perf_counter() - start
        result = {
            "wall_s": wall,
            "warnings": [line for line in stdout.splitlines() if line.startswith("warning:")],
        }
        report_path = out / "report.json"
        if timed_out or process.returncode != 0 or not report_path.is_file():
            if timed_out:
                note = f"timed out after {timeout:g} s"
            elif process.returncode != 0:
                note = _failure_line(stderr, process.returncode)
            else:
                note = "exit status 0 but no report.json"
            tail = stderr.splitlines()[-STDERR_TAIL:]
            return {**result, "status": "failed", "note": note, "stderr_tail": tail}
        report = json.loads(report_path.read_text())
        holdout = report["holdout"]
        leak = report.get("leak_panel") or {}
        claim = leak.get("counterfactual") or {}
        return {
            **result,
            "status": "ok",
            **{metric: float(holdout[metric]) for metric in METRICS},
            "selected_strategy": report["selected_strategy"],
            "threshold": float(report["threshold"]["value"]),
            # What the report says about how far each figure can be trusted.
            "ci": {
                metric: [report["holdout_ci"][metric][k] for k in ("ci_low", "ci_high")]
                for metric in METRICS
                if metric in report.get("holdout_ci", {})
            },
            "cv_f1_nested": report["cv"][report["selected_strategy"]].get("f1_mean"),
            "cv_pr_auc": {name: row.get("pr_auc_mean") for name, row in report["cv"].items()},
            "quality_gate": report.get("quality_gate"),
            "failed_checks": [
                c["check"]
                for c in report.get("checks", [])
                if c["asset"] == "evaluation_report" and not c["passed"]
            ],
            "f1_at_0_5": float(report["holdout_at_0_5"]["f1"]),
            "leak": {
                "skipped": leak.get("skipped"),
                "pr_auc": claim.get("pr_auc"),
                "f1_at_0_5": claim.get("f1_at_0_5"),
            },
        }


def make_peer(method: str, seed: int, y_train, has_categorical: bool):
    """The peer's unfitted estimator and a note, or (None, reason) when it is skipped."""
    from lightgbm import LGBMClassifier

    positives = int((y_train == 1).sum())
    negatives = int((y_train == 0).sum())
    common = {"n_jobs": 1, "random_state": seed, "verbose": -1}
    if method == "plain_lgbm":
        return LGBMClassifier(**common), ""
    spw = LGBMClassifier(scale_pos_weight=negatives / positives, **common)
    if method == "spw_lgbm":
        return spw, ""
    if method == "tuned_spw_lgbm":
        from sklearn.model_selection import StratifiedKFold, TunedThresholdClassifierCV

        cv = StratifiedKFold(5, shuffle=True, random_state=seed)
        tuned = TunedThresholdClassifierCV(spw, scoring="f1", cv=cv, random_state=seed)
        return tuned, ""
    if method == "smote_lgbm":
        if has_categorical:
            return None, "skipped: categorical columns"
        if positives < 2:
            return None, f"skipped: {positives} positive in the training part"
        from imblearn.over_sampling import SMOTE
        from imblearn.pipeline import Pipeline

        k_neighbors = min(5, positives - 1)
        note = "" if k_neighbors == 5 else f"k_neighbors={k_neighbors} ({positives} positives)"
        smote = SMOTE(k_neighbors=k_neighbors, random_state=seed)
        return Pipeline([("smote", smote), ("lgbm", LGBMClassifier(**common))]), note
    raise ValueError(f"unknown peer {method!r}")


def run_peer(method: str, seed: int, frames, has_categorical: bool) -> dict:
    """Fit one peer on the training part and score it on the test part; the result fields."""
    from sklearn.metrics import average_precision_score, f1_score, matthews_corrcoef
    from threadpoolctl import threadpool_limits

    x_train, y_train, x_test, y_test = frames
    estimator, note = make_peer(method, seed, y_train, has_categorical)
    if estimator is None:
        return {"status": "skipped", "note": note}
    start = time.perf_counter()
    try:
        with threadpool_limits(limits=1):
            estimator.fit(x_train, y_train)
            scores = estimator.predict_proba(x_test)[:, 1]
            labels = estimator.predict(x_test)
    except Exception as exc:  # one failing peer must not stop the benchmark
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return {
            "status": "failed",
            "note": f"{type(exc).__name__}: {message}",
            "wall_s": time.perf_counter() - start,
        }
    wall = time.perf_counter() - start
    return {
        "status": "ok",
        "pr_auc": float(average_precision_score(y_test, scores)),
        "f1": float(f1_score(y_test, labels, zero_division=0)),
        "mcc": float(matthews_corrcoef(y_test, labels)),
        "wall_s": wall,
        "note": note,
    }


def describe(row: dict) -> str:
    """One progress line for a finished row."""
    head = f"[{row['dataset']} seed {row['seed']}] {row['method']}:"
    if row["status"] != "ok":
        note = row.get("note", "")
        if not note.startswith(row["status"]):
            note = f"{row['status']}: {note}"
        return f"{head} {note}"
    text = " ".join(f"{METRIC_LABELS[m]} {row[m]:.3f}" for m in METRICS)
    if row["method"] == PIPELINE:
        text += f", {row['selected_strategy']} at {row['threshold']:.3f}"
    return f"{head} {text} ({row['wall_s']:.1f} s)"


def run_benchmark(args, datasets: dict[str, Path], seeds, methods) -> None:
    """Run every missing (dataset, seed, method), appending each result as it finishes."""
    done = {row_key(row) for row in read_results(args.results)}
    version = code_version()
    for name, path in datasets.items():
        todo = [(s, m) for s in seeds for m in methods if (name, s, m) not in done]
        if not todo:
            print(f"[{name}] all {len(seeds) * len(methods)} results present; skipped")
            continue
        frame = load_dataset(path)
        categorical = categorical_columns(frame.drop(columns=TARGET))
        for seed in seeds:
            pending = [m for m in methods if (name, seed, m) not in done]
            skipped = [m for m in methods if m not in pending]
            if skipped:
                print(f"[{name} seed {seed}] already in results: {', '.join(skipped)}")
            if not pending:
                continue
            train, test = split(frame, seed)
            frames = None
            for method in pending:
                if method == PIPELINE:
                    result = run_pipeline(train, test, seed, args.timeout)
                    result["code"] = version
                else:
                    frames = frames or peer_frames(train, test, categorical)
                    result = run_peer(method, seed, frames, bool(categorical))
                row = {
                    "dataset": name,
                    "seed": seed,
                    "method": method,
                    **result,
                    "time": datetime.now(UTC).isoformat(timespec="seconds"),
                }
                append_result(args.results, row)
                print(describe(row), flush=True)


# --------------------------------------------------------------------------- report


def md_table(header: list[str], rows: list[list[str]], align: str) -> str:
    """A Markdown table; `align` has one 'l' or 'r' per column."""
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = [header, rule, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def mean_std(values: list[float]) -> str:
    """'mean ± std' (sample std over seeds), or just the mean for one value."""
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def fmt(value: float | None, signed: bool = False) -> str:
    """A metric with three decimals, '–' for missing."""
    if value is None:
        return "–"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def dataset_means(rows: list[dict]) -> dict[tuple[str, str], dict[str, float]]:
    """(dataset, method) -> mean of each metric over its successful seeds."""
    grouped: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        if row["status"] == "ok":
            grouped.setdefault((row["dataset"], row["method"]), []).append(row)
    return {
        key: {m: statistics.mean(r[m] for r in group) for m in METRICS}
        for key, group in grouped.items()
    }


def dataset_section(name: str, rows: list[dict], methods: list[str]) -> str:
    """The per-dataset table: metrics over seeds, wall time and notes per method."""
    body = []
    for method in methods:
        mine = sorted((r for r in rows if r["method"] == method), key=lambda r: r["seed"])
        if not mine:
            continue
        ok = [r for r in mine if r["status"] == "ok"]
        cells = [method, f"{len(ok)}/{len(mine)}"]
        cells += [mean_std([r[m] for r in ok]) for m in METRICS]
        walls = [r["wall_s"] for r in mine if r.get("wall_s") is not None]
        cells.append(f"{statistics.mean(walls):.1f}" if walls else "–")
        notes = []
        if method == PIPELINE and ok:
            chosen = ", ".join(f"{r['seed']}: {r['selected_strategy']}" for r in ok)
            notes.append(f"strategy by seed {chosen}")
        for row in mine:
            if row["status"] != "ok" or row.get("note"):
                notes.append(f"seed {row['seed']}: {row.get('note') or row['status']}")
        cells.append("; ".join(notes).replace("|", "\\|"))
        body.append(cells)
    header = ["method", "ok seeds", "PR-AUC", "F1", "MCC", "wall s", "notes"]
    return f"### {name}\n\n" + md_table(header, body, "llrrrrl")


def summary_section(rows: list[dict], datasets: list[str], methods: list[str]) -> str:
    """Means over datasets per method, the hindsight best peer and the goal check."""
    means = dataset_means(rows)
    n = len(datasets)
    body = []
    for method in methods:
        covered = [d for d in datasets if (d, method) in means]
        cells = [method, f"{len(covered)}/{n}"]
        for metric in METRICS:
            values = [means[d, method][metric] for d in covered]
            cells.append(fmt(statistics.mean(values)) if values else "–")
        body.append(cells)

    # Best peer per dataset in hindsight, chosen separately for each metric.
    best: dict[str, dict[str, tuple[str, float]]] = {metric: {} for metric in METRICS}
    for dataset in datasets:
        available = [p for p in PEERS if (dataset, p) in means]
        for metric in METRICS:
            if available:
                peer = max(available, key=lambda p, d=dataset, m=metric: means[d, p][m])
                best[metric][dataset] = (peer, means[dataset, peer][metric])
    cells = ["best peer per dataset (hindsight)", f"{len(best['pr_auc'])}/{n}"]
    for metric in METRICS:
        values = [value for _, value in best[metric].values()]
        cells.append(fmt(statistics.mean(values)) if values else "–")
    body.append(cells)
    header = ["method", "datasets", "mean PR-AUC", "mean F1", "mean MCC"]
    lines = ["### Summary over datasets", "", md_table(header, body, "lrrrr"), ""]
    for metric in ("pr_auc", "f1"):
        if best[metric]:
            picks = ", ".join(f"{d}: {p}" for d, (p, _) in best[metric].items())
            lines.append(f"Best peer by {METRIC_LABELS[metric]}: {picks}.  ")
    lines.append("")
    lines.append(goal_check(means, best, datasets))
    return "\n".join(lines)


def goal_check(means: dict, best: dict, datasets: list[str]) -> str:
    """Pipeline mean PR-AUC and F1 against the hindsight best peer, on the datasets where
    both have results (so a failed pipeline run cannot flatter or hurt the comparison)."""
    paired = [d for d in datasets if (d, PIPELINE) in means and d in best["pr_auc"]]
    if not paired:
        return "**Goal check:** not possible: no dataset has both pipeline and peer results."
    parts = []
    for metric in ("pr_auc", "f1"):
        mine = statistics.mean(means[d, PIPELINE][metric] for d in paired)
        theirs = statistics.mean(best[metric][d][1] for d in paired)
        verdict = "met" if mine >= theirs else "NOT met"
        label = METRIC_LABELS[metric]
        parts.append(
            f"pipeline mean {label} {mine:.3f} ≥ best peer {theirs:.3f}? "
            f"{verdict} ({fmt(mine - theirs, signed=True)})"
        )
    scope = f"on {len(paired)}/{len(datasets)} datasets with pipeline and peer results"
    missing = [d for d in datasets if d not in paired]
    if missing:
        scope += f" (excluded: {', '.join(missing)})"
    return f"**Goal check** {scope}: " + "; ".join(parts) + "."


def command_line() -> str:
    """This invocation as a shell command, with paths relative to the working directory."""

    def relative(path: str) -> str:
        try:
            return str(Path(path).absolute().relative_to(Path.cwd()))
        except ValueError:
            return path

    return shlex.join([relative(sys.executable), relative(sys.argv[0]), *sys.argv[1:]])


def build_report(rows: list[dict], results_path: Path, report_only: bool) -> str:
    """The whole Markdown section: provenance, per-dataset tables, summary and goal check."""
    datasets = list(dict.fromkeys(row["dataset"] for row in rows))
    methods = [m for m in METHODS if any(row["method"] == m for row in rows)]
    seeds = sorted({int(row["seed"]) for row in rows})
    when = datetime.now().astimezone().isoformat(timespec="seconds")
    provenance = [
        "## Quality against hand-written peers",
        "",
        f"Generated {when} on a machine with os.cpu_count() = {os.cpu_count()} by",
        "",
        f"    {command_line()}",
        "",
    ]
    if report_only:
        shown = results_path.resolve()
        if shown.is_relative_to(REPO_ROOT):
            shown = shown.relative_to(REPO_ROOT)
        provenance += [
            f"(tables rebuilt from `{shown}`, written by `.venv/bin/python benchmarks/quality.py`)",
            "",
        ]
    provenance += [
        f"Datasets: {len(datasets)}, seeds: {','.join(map(str, seeds))}; one stratified 80/20 "
        "holdout split per seed shared by all methods; metrics on the 20 % holdout, mean ± "
        "sample std over seeds; wall s = mean seconds per run (pipeline: whole CLI process).",
    ]
    sections = ["\n".join(provenance)]
    for name in datasets:
        sections.append(dataset_section(name, [r for r in rows if r["dataset"] == name], methods))
    sections.append(summary_section(rows, datasets, methods))
    for extra in (ladder_section(rows, datasets), honesty_section(rows, datasets)):
        if extra:
            sections.append(extra)
    return "\n\n".join(sections) + "\n"


def ladder_section(rows: list[dict], datasets: list[str]) -> str | None:
    """Cross-validated PR-AUC of every rung the pipeline compared, and how often it was chosen."""
    ours = [r for r in rows if r["method"] == PIPELINE and r.get("status") == "ok"]
    ours = [r for r in ours if r.get("cv_pr_auc")]
    if not ours:
        return None
    rungs = list(dict.fromkeys(name for r in ours for name in r["cv_pr_auc"]))
    lines = [
        "### The pipeline's ladder",
        "",
        "Cross-validated PR-AUC of each rung (mean over seeds, on the training part only), and "
        "in brackets the number of seeds whose selection chose it; – where a rung was skipped.",
        "",
        "| dataset | " + " | ".join(rungs) + " |",
        "|---|" + "---:|" * len(rungs),
    ]
    for name in datasets:
        runs = [r for r in ours if r["dataset"] == name]
        if not runs:
            continue
        cells = []
        for rung in rungs:
            values = [r["cv_pr_auc"].get(rung) for r in runs]
            values = [v for v in values if v is not None]
            chosen = sum(r["selected_strategy"] == rung for r in runs)
            cell = f"{statistics.mean(values):.3f}" if values else "–"
            cells.append(f"{cell} ({chosen})" if chosen else cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _interval(row: dict, metric: str) -> str:
    low, high = row["ci"][metric]
    return f"{row[metric]:.3f} [{low:.3f}, {high:.3f}]"


def honesty_section(rows: list[dict], datasets: list[str]) -> str | None:
    """The pipeline's intervals, quality verdicts and leak-panel inflation, per dataset."""
    ours = [r for r in rows if r["method"] == PIPELINE and r.get("status") == "ok" and "ci" in r]
    if not ours:
        return None
    lines = [
        "### The pipeline's own uncertainty, verdicts and the leak it prevented",
        "",
        "Per dataset: the lowest seed's holdout PR-AUC and F1 with their 95 % stratified-bootstrap "
        "intervals (1,000 replicates, as report.json gives them), the nested CV F1 of the selected "
        "strategy, the quality gate's verdicts over the seeds, and the leak panel: holdout PR-AUC "
        "that SMOTE before the split claims on the same data beside the honest holdout PR-AUC, "
        "means over seeds.",
        "",
        "| dataset | PR-AUC [95 % CI] | F1 [95 % CI] | nested CV F1 | gate (passed/runs) | "
        "failed or warned checks | leaky PR-AUC | honest PR-AUC | inflation |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in datasets:
        runs = sorted((r for r in ours if r["dataset"] == name), key=lambda r: int(r["seed"]))
        if not runs:
            continue
        first = runs[0]
        passed = sum(r.get("quality_gate") == "passed" for r in runs)
        failed = sorted({c for r in runs for c in r.get("failed_checks", [])})
        leaks = [r for r in runs if (r.get("leak") or {}).get("pr_auc") is not None]
        if leaks:
            leaky = statistics.mean(r["leak"]["pr_auc"] for r in leaks)
            honest = statistics.mean(r["pr_auc"] for r in leaks)
            leak_cells = [f"{leaky:.3f}", f"{honest:.3f}", f"{leaky - honest:+.3f}"]
        else:
            reason = next((r["leak"].get("skipped") for r in runs if r.get("leak")), None)
            leak_cells = [f"skipped: {reason}" if reason else "n/a", "", ""]
        nested = first.get("cv_f1_nested")
        lines.append(
            "| "
            + " | ".join(
                [
                    name,
                    _interval(first, "pr_auc"),
                    _interval(first, "f1"),
                    f"{nested:.3f}" if nested is not None else "n/a",
                    f"{passed}/{len(runs)}",
                    ", ".join(failed) or "none",
                    *leak_cells,
                ]
            )
            + " |"
        )
    return "\n".join(lines)


def write_markdown(path: Path, text: str) -> None:
    """Replace the quality section between the markers, creating the file or markers if absent."""
    block = f"{MD_START}\n{text}{MD_END}"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# Benchmarks\n\n{block}\n")
        return
    current = path.read_text()
    start, end = current.find(MD_START), current.find(MD_END)
    if start != -1 and end > start:
        updated = current[:start] + block + current[end + len(MD_END) :]
    else:
        updated = current.rstrip("\n") + f"\n\n{block}\n"
    path.write_text(updated)


# --------------------------------------------------------------------------- main


def select(rows: list[dict], datasets, seeds, methods) -> list[dict]:
    """Rows restricted to the given datasets, seeds and methods (None = no restriction)."""
    return [
        row
        for row in rows
        if (datasets is None or row["dataset"] in datasets)
        and (seeds is None or int(row["seed"]) in seeds)
        and (methods is None or row["method"] in methods)
    ]


def main(argv: list[str] | None = None) -> int:
    """Run the missing results (unless --report-only), then print and write the tables."""
    args = build_parser().parse_args(argv)
    if args.report_only and args.fresh:
        print("error: --fresh would delete the results --report-only reads", file=sys.stderr)
        return 2
    unknown = sorted(set(args.methods or []) - set(METHODS))
    if unknown:
        print(f"error: unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
        return 2
    methods = [m for m in METHODS if args.methods is None or m in args.methods]

    if args.report_only:
        rows = select(read_results(args.results), args.datasets, args.seeds, methods)
        if not rows:
            print(f"error: no matching results in {args.results}", file=sys.stderr)
            return 2
    else:
        folder = args.datasets_dir.resolve()
        if not folder.is_dir():
            print(
                f"error: datasets folder not found: {folder}; put the shared datasets there "
                "or pass --datasets-dir",
                file=sys.stderr,
            )
            return 2
        available = list_datasets(folder)
        names = args.datasets or list(available)
        missing = [name for name in names if name not in available]
        if missing or not names:
            print(
                f"error: no dataset file for {', '.join(missing) or 'any name'} in {folder}; "
                f"available: {', '.join(available) or 'none'}",
                file=sys.stderr,
            )
            return 2
        seeds = args.seeds if args.seeds is not None else [0, 1, 2]
        if args.fresh and args.results.exists():
            args.results.unlink()
        run_benchmark(args, {name: available[name] for name in names}, seeds, methods)
        rows = select(read_results(args.results), names, seeds, methods)

    text = build_report(rows, args.results, args.report_only)
    print()
    print(text)
    if args.write_md:
        write_markdown(Path(args.write_md), text)
        print(f"wrote the quality section of {args.write_md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
