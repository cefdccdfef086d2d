"""Where `groups_fit_the_folds` warns: the largest group of identical feature rows per dataset.

Run from the project root with the project's virtualenv:

    .venv/bin/python benchmarks/group_sizes.py                  # every file in the datasets folder
    .venv/bin/python benchmarks/group_sizes.py --datasets-dir DIR

Each file is read and split as `imbal-pipeline run --data FILE` splits it (the last column is
the target; identical feature rows form groups, kept together), and the check's verdict is
printed beside the largest group and the bound (half a fold's share of the rows). The check is
no statistical test: on a given file it always says the same, so this table is its record.
"""

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imbal_pipeline.core import inputs  # noqa: E402
from imbal_pipeline.core.data import data  # noqa: E402
from imbal_pipeline.core.settings import GROUP, Settings  # noqa: E402
from imbal_pipeline.core.train import gates  # noqa: E402

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def row(path: Path) -> str:
    """One dataset's line of the table."""
    frame = pd.read_csv(path)
    settings = Settings(target=str(frame.columns[-1]), data_path=str(path))
    marked, _, _ = inputs.split_raw(data.prepare_frame(frame, settings), settings)
    gate = gates.groups_fit_the_folds(marked, settings)
    largest = int(marked[GROUP].value_counts().iloc[0]) if GROUP in marked.columns else 1
    bound = len(marked) / (2 * settings.n_folds)
    verdict = "passed" if gate.passed else "warns"
    name = path.name.split(".")[0]
    return f"| {name} | {len(marked):,} | {largest:,} | {bound:,.0f} | {verdict} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets-dir", type=Path, default=DATASETS)
    args = parser.parse_args(argv)
    files = sorted(p for p in args.datasets_dir.glob("*.csv*") if not p.name.startswith("."))
    if not files:
        print(f"no CSV files in {args.datasets_dir}")
        return 1
    print("| dataset | rows | largest group | bound | groups_fit_the_folds |")
    print("|---|---:|---:|---:|---|")
    for path in files:
        print(row(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
