"""How the neighbour-based samplers scale with rows: the evidence for `--smoteenn-max-rows`.

Run from the project root with the project's virtualenv:

    .venv/bin/python benchmarks/samplers.py                       # default sizes
    .venv/bin/python benchmarks/samplers.py --rows 25000,50000 --features 20

Each size is one `make_classification` draw (1 % positives) resampled through the pipeline's own
`strategies.resample`, on one thread, the way a fold step runs it. It prints the wall time per
strategy and size, and the exponent of the growth between consecutive sizes (1 = linear,
2 = quadratic). SMOTEENN runs only up to --smoteenn-up-to rows: above that it would take hours.
"""

import argparse
import math
import sys
import time
from pathlib import Path

from sklearn.datasets import make_classification
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imbal_pipeline.core.train import strategies  # noqa: E402

STRATEGIES = ("smote", "borderline_smote", "smoteenn")


def time_strategy(name: str, rows: int, features: int, seed: int) -> float:
    """Seconds `strategies.resample` takes for one strategy on one generated portion."""
    X, y = make_classification(
        n_samples=rows,
        n_features=features,
        n_informative=max(2, features // 4),
        weights=[0.99],
        flip_y=0,
        random_state=seed,
    )
    start = time.perf_counter()
    with threadpool_limits(limits=1):
        result = strategies.resample(
            X, y, list(range(rows)), name, seed=seed, ratio=0.5, cat_idx=[], smoteenn_max_rows=None
        )
    elapsed = time.perf_counter() - start
    if result.skipped:
        raise RuntimeError(f"{name} skipped at {rows} rows: {result.skipped}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    """Print a table of seconds per strategy and size, with growth exponents."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="25000,50000,100000,1000000")
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--smoteenn-up-to", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sizes = [int(r) for r in args.rows.split(",")]
    print(f"{args.features} features, 1 % positives, sampling ratio 0.5, one thread")
    print("| strategy | " + " | ".join(f"{n:,} rows" for n in sizes) + " | growth exponents |")
    print("|---" * (len(sizes) + 2) + "|")
    for name in STRATEGIES:
        times: list[float | None] = []
        for n in sizes:
            if name == "smoteenn" and n > args.smoteenn_up_to:
                times.append(None)
                continue
            times.append(time_strategy(name, n, args.features, args.seed))
        cells = " | ".join("–" if t is None else f"{t:.1f} s" for t in times)
        exps = [
            f"{math.log(times[i + 1] / times[i]) / math.log(sizes[i + 1] / sizes[i]):.2f}"
            for i in range(len(sizes) - 1)
            if times[i] and times[i + 1]
        ]
        print(f"| {name} | {cells} | {', '.join(exps)} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
