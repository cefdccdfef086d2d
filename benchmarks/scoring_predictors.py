"""The ways to predict the deployed bag's members, timed on one batch (`scoring.py` runs them).

Each option predicts every member on the member's own preprocessed matrix and averages the
members' probabilities as the product does; its output is compared with LightGBM's (one thread)
row by row. Options whose packages are absent are listed as skipped: treelite + tl2cgen and
lleaves are no dependency of the project; install them into the venv to compare them:

    .venv/bin/pip install treelite==4.8.1 tl2cgen==1.0.0 lleaves==1.3.0 llvmlite==0.44.0
"""

from __future__ import annotations

import importlib.util
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imbal_pipeline.core.train import compiled
from imbal_pipeline.core.train.model import model_text
from imbal_pipeline.core.train.preprocess import BatchColumns, Preprocessor


@dataclass
class Row:
    option: str
    compile_s: float | None
    predict_s: float
    cpu_s: float
    max_diff: float
    rows_differing: int


def member_matrices(model, frame) -> tuple[list[np.ndarray], float, float]:
    """Each member's preprocessed matrix; seconds with each member reading the batch alone
    (before) and with one shared read of each column (now)."""
    pres = [Preprocessor.from_json(state) for state in model.booster.inputs]
    start = time.perf_counter()
    for pre in pres:
        pre.transform(frame)
    alone = time.perf_counter() - start
    start = time.perf_counter()
    columns = BatchColumns(frame)
    matrices = [pre.transform(columns) for pre in pres]
    return matrices, alone, time.perf_counter() - start


def _timed(predict: Callable[[np.ndarray, int], np.ndarray], matrices) -> tuple:
    start, cpu = time.perf_counter(), time.process_time()
    bag = np.mean([predict(X, i) for i, X in enumerate(matrices)], axis=0)
    return bag, time.perf_counter() - start, time.process_time() - cpu


def _in_parallel(function, items: list, workers: int) -> list:
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(function, items))


def _lightgbm(members, threads):
    return None, lambda X, i: members[i].predict(X, num_threads=threads)


def _compiled_c(members, threads, folder: Path):
    cc = compiled.compiler()
    if cc is None:
        raise RuntimeError("no C compiler")
    start = time.perf_counter()
    texts = [model_text(m) for m in members]
    paths = _in_parallel(lambda t: compiled.build(t, folder / "c", cc), texts, 2)
    libraries = [compiled.CompiledModel(p) for p in paths]
    return time.perf_counter() - start, lambda X, i: libraries[i].predict(X, threads)


def _tl2cgen(members, threads, folder: Path):
    import tl2cgen
    import treelite

    start = time.perf_counter()

    def build(i: int):
        path = folder / f"tl2cgen{i}.so"
        forest = treelite.frontend.from_lightgbm(members[i])
        tl2cgen.export_lib(forest, "gcc", path, params={"quantize": 1}, nthread=1)
        return tl2cgen.Predictor(path, nthread=threads)

    predictors = _in_parallel(build, list(range(len(members))), 2)

    def predict(X, i):
        return np.asarray(predictors[i].predict(tl2cgen.DMatrix(X))).reshape(-1)

    return time.perf_counter() - start, predict


def _lleaves(members, threads, folder: Path):
    import lleaves

    start = time.perf_counter()

    def build(i: int):
        text = folder / f"lleaves{i}.txt"
        text.write_text(model_text(members[i]))
        model = lleaves.Model(model_file=str(text))
        model.compile(cache=str(folder / f"lleaves{i}.o"))
        return model

    models = _in_parallel(build, list(range(len(members))), 2)
    return time.perf_counter() - start, lambda X, i: models[i].predict(X, n_jobs=threads)


def options(quick: bool) -> list[tuple[str, Callable, int, str | None]]:
    """(name, builder, threads, the package it needs) of every option compared."""
    chosen = "compiled C (this project's `compiled`)"
    rows = [
        ("LightGBM predict", _lightgbm, 1, None),
        ("LightGBM predict", _lightgbm, 2, None),
        (chosen, _compiled_c, 1, None),
        (chosen, _compiled_c, 2, None),
    ]
    if not quick:
        rows += [
            ("treelite 4.8.1 + tl2cgen 1.0.0, quantize=1", _tl2cgen, 2, "tl2cgen"),
            ("lleaves 1.3.0 (llvmlite 0.44.0), fblocksize=34", _lleaves, 2, "lleaves"),
        ]
    return rows


def compare(model, frame, quick: bool) -> tuple[list[Row], float, float]:
    """Every option on the batch; the preprocessing's seconds alone and shared."""
    members = model.booster.members
    matrices, alone, shared = member_matrices(model, frame)
    reference = None
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, builder, threads, package in options(quick):
            if package and importlib.util.find_spec(package) is None:
                print(f"  skipped {name}: {package} is not installed")
                continue
            # One folder per kind: the second thread count finds the first one's libraries.
            folder = Path(tmp) / builder.__name__
            folder.mkdir(exist_ok=True)
            if builder is _lightgbm:
                compile_s, predict = builder(members, threads)
            else:
                compile_s, predict = builder(members, threads, folder)
            bag, seconds, cpu = _timed(predict, matrices)
            reference = bag if reference is None else reference
            diff = np.abs(bag - reference)
            row = Row(f"{name}, {threads} thread(s)", compile_s, seconds, cpu, diff.max(), 0)
            row.rows_differing = int(np.sum(bag != reference))
            rows.append(row)
            print(f"  {row}", flush=True)
    return rows, alone, shared


def table(rows: list[Row], batch_rows: int) -> str:
    """The comparison as a Markdown table."""
    lines = [
        f"| option ({batch_rows:,} rows, 5 members) | compile | predict (wall) | predict (CPU) "
        "| max abs diff | rows differing |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        built = "-" if r.compile_s is None else f"{r.compile_s:.1f} s"
        lines.append(
            f"| {r.option} | {built} | {r.predict_s:.1f} s | {r.cpu_s:.1f} s | "
            f"{r.max_diff:.2g} | {r.rows_differing:,} |"
        )
    return "\n".join(lines)
