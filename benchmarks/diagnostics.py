"""Time the data_diagnostics computation on generated data (goal: 1M rows in at most 60 s).

Run: .venv/bin/python benchmarks/diagnostics.py [--rows 1000000] [--positive-rate 0.01]
Prints the wall time of each part and the peak RSS of this process.
"""

import argparse
import resource
import time

from imbal_pipeline.core.data import data
from imbal_pipeline.core.data.synthetic import make_fraud_data
from imbal_pipeline.core.evaluate import diagnostics
from imbal_pipeline.core.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--positive-rate", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    start = time.perf_counter()
    frame = make_fraud_data(args.rows, args.positive_rate, args.seed)
    settings = Settings()
    prepared = data.prepare_frame(frame, settings)
    schema = data.feature_schema(prepared, settings)
    ready = time.perf_counter()
    result, _ = diagnostics.diagnose(prepared, schema, "moderate", args.seed)
    done = time.perf_counter()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"rows {args.rows:,} ({len(schema['numeric'])} numeric + "
        f"{len(schema['categorical'])} categorical features), positive rate "
        f"{args.positive_rate}"
    )
    print(f"data generation + row ids: {ready - start:.1f} s (not part of the goal)")
    print(f"diagnostics: {done - ready:.1f} s (goal <= 60 s); peak RSS {peak_mb:.0f} MB")
    print(
        f"subsample {result['subsample_rows']:,} rows, typology {result['typology']}, "
        f"N3 {result['n3']}, Fisher {result['fisher_ratio']}, islands {len(result['islands'])}, "
        f"duplicates {result['duplicates']}, label conflicts {result['label_conflicts']}"
    )


if __name__ == "__main__":
    main()
