"""The one configuration: every setting declared once, with its type, choices and description.

The CLI's flags (`arguments.py`), the Dagster resource the Launchpad shows (`resources.py`) and the
project file every process loads (`project.py`) are all derived from the fields below.

Settings come in two scopes. *Run* settings may differ from one run to the next. *Project*
settings shape the code location itself (one asset per fold, the executor, where values are
stored), so every process that loads it must read the same ones: they come from the project
file, never from a run's config.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Literal

from imbal_pipeline.core import limits
from imbal_pipeline.core.affects import (
    DATA,
    FOLDS,
    GENERATED,
    HOLDOUT,
    MODELS,
    PLACES,
    PROMOTION,
    REPORT,
    SAMPLES,
    THREADS,
    THRESHOLD,
    WHERE,
    declared,
)

# The strategy ladder, simplest first. Selection walks it in this order, so a complex
# strategy is only chosen when it beats every simpler one beyond noise.
Strategy = Literal[
    "none",
    "class_weight",
    "undersample",
    "smote",
    "borderline_smote",
    "smoteenn",
    "balanced_bagging",
]
LADDER: tuple[str, ...] = typing.get_args(Strategy)
Objective = Literal["f1", "fbeta", "cost", "recall"]
OBJECTIVES: tuple[str, ...] = typing.get_args(Objective)
Executor = Literal["auto", "multiprocess", "in_process", "dask"]

# Reserved column names; a user column may not use them.
ROW_ID = "__row_id"
LABEL = "__label"
SPLIT = "__split"
FOLD = "__fold"
STRATEGY = "__strategy"
SYNTHETIC = "__synthetic"
GROUP = "__group"
RESERVED = (ROW_ID, LABEL, SPLIT, FOLD, STRATEGY, SYNTHETIC, GROUP)
SCORE = "score"  # the out-of-fold score column, in frames that hold no user column

MIN_NEGATIVES = 100  # the smallest sample of negatives --max-negatives may ask for
# Up to this many rows `--executor auto` runs every step in one process: there a step's work is
# smaller than what starting its own process costs (BENCHMARKS.md, "Small data"). A narrow table
# does less work per row, so it runs in one process up to NARROW_ROWS rows while its cells (rows
# times columns) stay within NARROW_CELLS: 20,000 x 6 took 40.5 s so against 46.0 s.
IN_PROCESS_ROWS = 10_000
NARROW_ROWS, NARROW_CELLS = 25_000, 150_000

RUN, PROJECT = "run", "project"


class SettingsError(ValueError):
    """A configuration a user gave that cannot work; the message names the fix."""


def setting(
    default,
    help: str,
    *,
    flag: str | None = None,
    scope: str = RUN,
    path: bool = False,
    cli: bool = True,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    affects: str | tuple[str, ...],
):
    """A field with what every face of the configuration needs to know about it.

    `flag` is the CLI option (default: the name with dashes); `path` marks a file or folder
    that is made absolute where it is given; `cli=False` keeps it off the command line;
    `ge`, `gt`, `le` and `lt` bound a number (which must then also be finite); `affects`
    names what a change of it changes (see `affects.AFFECTS`).
    """
    bounds = limits.Bounds(ge, gt, le, lt) if (ge, gt, le, lt) != (None,) * 4 else None
    metadata: dict[str, object] = dict(
        help=help, flag=flag, scope=scope, path=path, cli=cli, bounds=bounds
    )
    metadata["affects"] = declared(affects)
    if isinstance(default, list | tuple):
        return dataclasses.field(default=tuple(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class ReadOptions:
    """How a delimited text file is parsed; Parquet carries its own types."""

    sep: str = ","
    encoding: str = "utf-8"
    decimal: str = "."
    thousands: str | None = None


@dataclass(frozen=True)
class Fields:
    """Every setting's declaration: `Settings` adds their validation and derived views."""

    # --- the data ---
    data_path: str | None = setting(
        None,
        "CSV (optionally .gz) or Parquet file with the features and the target; unset: the "
        "embedded generated fraud-like data",
        flag="--data",
        path=True,
        affects=DATA,
    )
    target: str = setting("is_fraud", "the label column", affects=(DATA, SAMPLES))
    positive_label: str | None = setting(
        None,
        "target value of the rare (positive) class; default 1 or True, else the rarer class; "
        "with more than two classes it trains this one against the rest",
        affects=DATA,
    )
    test_data_path: str | None = setting(
        None,
        "explicit holdout file with the same columns, e.g. a later period; unset: a "
        "stratified holdout of --holdout-fraction",
        flag="--test-data",
        path=True,
        affects=(DATA, HOLDOUT),
    )
    id_column: str | None = setting(
        None,
        "column with a unique row id (excluded from the features)",
        flag="--id",
        affects=(DATA, SAMPLES),
    )
    group: str | None = setting(
        None,
        "column naming who or what a row belongs to (a patient, a customer, a device): every "
        "group stays on one side of the holdout and within one fold; excluded from the features",
        affects=(HOLDOUT, FOLDS, SAMPLES),
    )
    duplicates_together: bool = setting(
        True,
        "without --group, rows with identical features form a group, so a repeat never sits "
        "on both sides of the holdout or of a fold; --no-duplicates-together splits them freely",
        affects=(HOLDOUT, FOLDS),
    )
    categorical: tuple[str, ...] = setting(
        (),
        "columns to treat as categorical; text columns are categorical anyway",
        affects=(DATA, SAMPLES),
    )
    subgroups: tuple[str, ...] = setting(
        (), "columns to report confusion matrices by", flag="--subgroup", affects=REPORT
    )
    drop: tuple[str, ...] = setting(
        (),
        "columns left out of everything (an export's row number, a timestamp, a leak)",
        affects=DATA,
    )
    sep: str = setting(",", "CSV delimiter", affects=DATA)
    encoding: str = setting("utf-8", "text encoding of CSV files, e.g. latin-1", affects=DATA)
    decimal: str = setting(".", "decimal mark in CSV files, e.g. ','", affects=DATA)
    thousands: str | None = setting(
        None, "thousands separator in CSV files, e.g. ','", affects=DATA
    )
    contract_path: str | None = setting(
        None,
        "your GX 1.x suite (JSON) for the raw data; unset: a contract derived from the first "
        "run on the file, against which later runs are checked",
        flag="--contract",
        path=True,
        affects=DATA,
    )
    generated_rows: int = setting(
        50_000,
        "rows of generated data when no --data",
        flag="--rows",
        ge=100,
        le=10_000_000,
        affects=GENERATED,
    )
    generated_positive_rate: float = setting(
        0.01,
        "positive share of generated data",
        flag="--positive-rate",
        gt=0,
        lt=0.5,
        affects=GENERATED,
    )
    labelled_batches: bool = setting(
        False,
        "also train on every inbox batch whose labels have arrived (joined by id), so a "
        "retraining learns from what the deployed model saw",
        affects=DATA,
    )
    # --- splits and folds ---
    holdout_fraction: float = setting(
        0.2, "stratified holdout share when no --test-data is given", gt=0, lt=1, affects=HOLDOUT
    )
    n_folds: int = setting(
        5,
        "stratified cross-validation folds; one asset per fold, so it shapes the graph",
        flag="--folds",
        scope=PROJECT,
        ge=2,
        le=limits.MAX_FOLDS,
        affects=FOLDS,
    )
    seed: int = setting(
        0,
        "seed for splits, samplers and LightGBM",
        ge=0,
        le=2**32 - 1,
        affects=(GENERATED, HOLDOUT, FOLDS, SAMPLES, MODELS),
    )
    # --- imbalance strategies ---
    strategies: tuple[Strategy, ...] = setting(
        LADDER,
        "the strategy ladder to compare, simplest first, starting with none",
        affects=(SAMPLES, MODELS),
    )
    sampling_ratio: float = setting(
        0.5,
        "minority/majority ratio a resampler aims for; 1.0 is full balance",
        gt=0,
        le=1,
        affects=(SAMPLES, MODELS),
    )
    # SMOTEENN's cleaning step compares every row with its neighbours among all rows, which grows
    # about with n^2 (49 s at 100k x 20 features here, ~80 minutes projected at 1M).
    smoteenn_max_rows: int = setting(
        150_000,
        "skip SMOTEENN on training portions with more rows (its cleaning grows ~rows^2)",
        ge=1,
        affects=SAMPLES,
    )
    # See BENCHMARKS.md for what the sample costs and saves at 1M rows.
    max_negatives: int = setting(
        250_000,
        "above this many negatives in the training split, fit on every positive and a seeded "
        "sample of this many negatives (validation and holdout rows are all scored); 0: no limit",
        affects=SAMPLES,
    )
    # --- LightGBM ---
    n_estimators: int = setting(
        300, "LightGBM boosting rounds", flag="--trees", ge=1, le=limits.MAX_TREES, affects=MODELS
    )
    learning_rate: float = setting(0.05, "LightGBM learning rate", gt=0, le=1, affects=MODELS)
    num_leaves: int = setting(
        31, "LightGBM leaves per tree", ge=2, le=limits.MAX_LEAVES, affects=MODELS
    )
    lgbm_threads: int = setting(
        1,
        "threads per LightGBM fit; the executor runs at most cores // threads steps at once",
        flag="--threads",
        scope=PROJECT,
        ge=1,
        le=limits.MAX_THREADS,
        affects=THREADS,
    )
    # --- the decision threshold ---
    objective: Objective = setting(
        "f1",
        "threshold objective: f1, fbeta (see --beta), cost (least FP*fp-cost + FN*fn-cost), "
        "recall (best precision at --recall-target)",
        affects=THRESHOLD,
    )
    beta: float = setting(2.0, "beta of F-beta", gt=0, le=limits.MAX_BETA, affects=THRESHOLD)
    fp_cost: float = setting(
        1.0, "cost of a false positive", ge=0, le=limits.MAX_COST, affects=THRESHOLD
    )
    fn_cost: float = setting(
        10.0, "cost of a false negative", ge=0, le=limits.MAX_COST, affects=THRESHOLD
    )
    recall_target: float = setting(
        0.8, "recall the 'recall' objective must reach", gt=0, le=1, affects=THRESHOLD
    )
    # --- outputs ---
    output_dir: str = setting(
        "imbal_output",
        "folder for the report and the exported model; replaced whole by each run",
        flag="--out",
        path=True,
        affects=PLACES,
    )
    contracts_dir: str | None = setting(
        None,
        "where derived contracts are kept; unset: $DAGSTER_HOME/contracts",
        path=True,
        cli=False,
        affects=PLACES,
    )
    # --- the deployment (project scope) ---
    store: str | None = setting(
        None,
        "where asset values are stored: a folder or an fsspec URL (s3://..., a network "
        "mount) every worker can reach; unset: $DAGSTER_HOME/storage",
        scope=PROJECT,
        affects=PLACES,
    )
    executor: Executor = setting(
        "auto",
        "how steps run: multiprocess (this machine, folds in parallel), in_process (one "
        "process, one step at a time), auto (in_process for data of at most "
        f"{IN_PROCESS_ROWS:,} rows, or {NARROW_ROWS:,} with at most {NARROW_CELLS:,} cells, "
        "else multiprocess), or dask (the workers of a Dask cluster, see --dask-address)",
        scope=PROJECT,
        affects=WHERE,
    )
    dask_address: str | None = setting(
        None,
        "the Dask scheduler, e.g. tcp://10.0.0.5:8786, with --executor dask",
        scope=PROJECT,
        affects=WHERE,
    )
    retrain_cron: str = setting(
        "0 3 * * 1",
        "when retrain_schedule runs (cron; default Mondays 03:00)",
        scope=PROJECT,
        affects=WHERE,
    )
    # --- the operating half (project scope: the sensors read them) ---
    inbox: str = setting(
        "imbal_inbox",
        "folder where new batches arrive (CSV or Parquet); labels follow as "
        "<name>.labels.csv beside their batch",
        scope=PROJECT,
        path=True,
        affects=PLACES,
    )
    scored_dir: str = setting(
        "imbal_scored",
        "folder for scored batches and the monitoring report (one subfolder per batch)",
        scope=PROJECT,
        path=True,
        affects=PLACES,
    )
    # --- promotion: a retrained model replaces the deployed one on evidence ---
    promotion_margin: float = setting(
        0.05,
        "non-inferiority margin in PR-AUC: a retrained model (the challenger) replaces the "
        "deployed one (the champion) when, on rows neither trained on, its PR-AUC is shown to "
        "be at most this much lower",
        ge=0,
        le=0.5,
        affects=PROMOTION,
    )
    shadow_scoring: bool = setting(
        False,
        "while a challenger that was not promoted waits, the inbox scores each batch with it "
        "too (its decisions are shown, never served)",
        scope=PROJECT,
        affects=PROMOTION,
    )
