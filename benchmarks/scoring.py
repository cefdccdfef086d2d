"""`imbal-pipeline score` on a large batch: wall time and peak memory, CSV and Parquet.

Run from the project root with the project's virtualenv:

    .venv/bin/python benchmarks/scoring.py                  # 1M rows x 30 features
    .venv/bin/python benchmarks/scoring.py --rows 200000
    .venv/bin/python benchmarks/scoring.py --quick          # 100k rows, 50 trees, about a minute

Setup (not timed): one `make_classification` draw (30 features, 24 numeric and 6 turned into
categories of 5-40 levels, 1 % positives); a model fitted on its first 100k rows with the
pipeline's own preprocessing, LightGBM parameters (300 trees, 31 leaves, one thread) and
`class_weight`, its holdout the next 25k rows, saved as model.txt + model.json; its
monitoring reference is made as the pipeline makes it, from the fold models' out-of-fold scores
and the holdout's paired members. The rest of the draw is the batch, written as CSV and Parquet;
each is scored by the CLI in a fresh process: read, check, score, the monitoring checks, write
scores.parquet; by LightGBM (no compiler: `CC` names none), then by the compiled trees with an
empty cache (the compile included) and with the cache filled.
Peak memory is the child's own maximum resident set (VmHWM). Runs with the cache filled are
repeated (`--repeat`, 3 by default) and their median is reported: one run varies by a few seconds.

Before that, every way of predicting the members is timed on the batch's preprocessed rows
(`scoring_predictors.py`), with the bag's probabilities compared with LightGBM's row by row.
"""

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import make_classification

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from imbal_pipeline.core.data import split  # noqa: E402
from imbal_pipeline.core.monitor import monitoring  # noqa: E402
from imbal_pipeline.core.monitor.deployed import Model, model_meta  # noqa: E402
from imbal_pipeline.core.settings import LABEL, ROW_ID, SCORE, STRATEGY, Settings  # noqa: E402
from imbal_pipeline.core.train import training  # noqa: E402
from imbal_pipeline.core.train.model import member_scores  # noqa: E402
from imbal_pipeline.core.train.preprocess import Preprocessor  # noqa: E402

CATEGORICAL = dict(zip([f"x{i}" for i in range(24, 30)], (5, 8, 12, 20, 30, 40), strict=True))


def frame(rows: int, seed: int = 0) -> pd.DataFrame:
    """30 features, 6 of them categorical, ~1 % positives; one draw, so one distribution."""
    X, y = make_classification(
        n_samples=rows,
        n_features=30,
        n_informative=7,
        n_redundant=3,
        weights=[0.99],
        flip_y=0,
        random_state=seed,
    )
    out = pd.DataFrame(X, columns=[f"x{i}" for i in range(30)])
    for column, levels in CATEGORICAL.items():
        codes = pd.qcut(out[column], levels, labels=False, duplicates="drop")
        out[column] = "c" + codes.astype(str)
    out["is_fraud"] = y
    return out


def train_model(data: pd.DataFrame, folder: Path, trees: int = 300) -> Model:
    """The pipeline's deployed model (the class-weighted fold models, bagged) and reference:
    4/5 of `data` to fit, 1/5 as holdout."""
    settings = Settings(strategies=("none", "class_weight"), n_estimators=trees)
    data = data.copy()
    data.insert(0, ROW_ID, np.arange(len(data)))
    data[LABEL] = data["is_fraud"]
    cut = len(data) * 4 // 5
    train, holdout = data.iloc[:cut], data.iloc[cut:]
    schema = {"numeric": [f"x{i}" for i in range(24)], "categorical": list(CATEGORICAL)}
    folds = split.make_folds(train, settings.n_folds, settings.seed)
    fold_models = [
        training.fit_fold_models(
            training.build_fold_training_sets(train, folds, k, schema, settings), settings
        )
        for k in range(settings.n_folds)
    ]
    final = training.fold_bag(fold_models, "class_weight", train, schema, settings)
    final = dataclasses.replace(final, threshold=0.5, objective="f1")
    pre = Preprocessor.from_json(final.preprocessor)
    members = member_scores(final.model, final.preprocessor, holdout, settings.lgbm_threads)
    # The members' out-of-fold scores of every training row, as the pipeline's reference takes.
    oof = pd.concat([fitted.oof for fitted in fold_models])
    oof = oof[oof[STRATEGY] == "class_weight"]
    reference = monitoring.build_reference(
        train,
        pre,
        holdout[LABEL].to_numpy(),
        members,
        oof[SCORE].to_numpy(),
        final.threshold,
        beta=1.0,
    )
    meta = model_meta(
        final,
        reference=reference,
        positive_label="1",
        negative_labels=["0"],
        target="is_fraud",
        id_column=None,
        read_options=settings.read_options,
        beta=1.0,
        run_id="benchmark",
    )
    model = Model(final.model, {**meta, "version": "benchmark"})
    model.save(folder)
    return model


# The CLI in a fresh interpreter that reports its own peak resident set when done: VmHWM, which
# starts afresh at exec (getrusage's ru_maxrss keeps the parent's peak across exec on Linux, so
# it printed this script's 2.3 GB for every child).
CHILD = (
    "import sys\n"
    "from imbal_pipeline.cli import main\n"
    "status = main(sys.argv[1:])\n"
    "peak = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n"
    "print('PEAK_KB', peak, file=sys.stderr)\n"
    "sys.exit(status)\n"
)


def score(folder: Path, data: Path, out: Path, compiler: bool = True) -> tuple[float, float]:
    """Seconds and peak MB of one `imbal-pipeline score` in a fresh process; without a
    compiler, LightGBM scores."""
    env = {**os.environ, **({} if compiler else {"CC": "no-such-compiler"})}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, "score", "--data", str(data), "--model", str(folder)]
        + ["--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    peak_kb = int(done.stderr.split("PEAK_KB")[-1].split()[0])
    print("    " + done.stdout.strip().replace("\n", "\n    "))
    return seconds, peak_kb / 1024


def end_to_end(folder: Path, tmp: Path, names: list[str], repeat: int) -> None:
    """Each batch file scored by LightGBM and by the compiled trees with the cache filled (the
    median of `repeat` runs); the first file also with an empty cache (the compile included)."""
    for name in names:
        size = (tmp / name).stat().st_size / 2**20
        for scorer, compiler in (("LightGBM", False), ("compiled, first", True), ("cached", True)):
            if scorer == "compiled, first":
                if name != names[0]:
                    continue  # compiled once, for the first file
                shutil.rmtree(folder / "compiled", ignore_errors=True)
            runs = repeat if scorer == "cached" else 1
            out = tmp / "scores.parquet"
            timed = [score(folder, tmp / name, out, compiler) for _ in range(runs)]
            seconds = sorted(t for t, _ in timed)
            peak = max(p for _, p in timed)
            each = f" (runs: {', '.join(f'{t:.1f}' for t in seconds)})" if runs > 1 else ""
            print(
                f"{name} ({size:.0f} MB), {scorer}: {seconds[len(seconds) // 2]:.1f} s wall"
                f"{each}, peak {peak:.0f} MB"
            )


def main(argv: list[str] | None = None) -> int:
    from scoring_predictors import compare, table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the batch")
    parser.add_argument(
        "--model-rows", type=int, default=125_000, help="rows the model is fitted (4/5) on"
    )
    parser.add_argument("--quick", action="store_true", help="100k rows, 50 trees, Parquet only")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs with the cache filled; the median is reported"
    )
    args = parser.parse_args(argv)
    rows, model_rows = (100_000, 10_000) if args.quick else (args.rows, args.model_rows)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        # One draw: the model's rows, then the batch from the same distribution.
        data = frame(model_rows + rows)
        model = train_model(data.iloc[:model_rows], tmp / "model", 50 if args.quick else 300)
        batch = data.iloc[model_rows:].drop(columns="is_fraud").reset_index(drop=True)
        del data
        batch.to_parquet(tmp / "batch.parquet", index=False)
        if not args.quick:
            batch.to_csv(tmp / "batch.csv", index=False)
        print(f"setup {time.perf_counter() - start:.1f} s; batch {rows:,} rows x 30")
        compared, alone, shared = compare(model, batch, args.quick)
        print(
            f"preprocessing, each member alone: {alone:.1f} s; sharing each column: {shared:.1f} s"
        )
        print(table(compared, rows))
        del batch
        names = ["batch.parquet"] if args.quick else ["batch.parquet", "batch.csv"]
        end_to_end(tmp / "model", tmp, names, 1 if args.quick else args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
