"""The one configuration object that flows through every stage."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

# The strategy ladder, simplest first. Selection walks it in this order, so a complex
# strategy is only chosen when it beats every simpler one beyond noise.
LADDER: tuple[str, ...] = (
    "none",
    "class_weight",
    "undersample",
    "smote",
    "borderline_smote",
    "smoteenn",
)

OBJECTIVES: tuple[str, ...] = ("f1", "fbeta", "cost", "recall")

# Reserved column names; a user column may not use them.
ROW_ID = "__row_id"
LABEL = "__label"
SPLIT = "__split"
FOLD = "__fold"
STRATEGY = "__strategy"
SYNTHETIC = "__synthetic"
RESERVED = (ROW_ID, LABEL, SPLIT, FOLD, STRATEGY, SYNTHETIC)


MIN_NEGATIVES = 100  # the smallest sample of negatives --max-negatives may ask for


class SettingsError(ValueError):
    """A configuration a user gave that cannot work; the message names the fix."""


@dataclass(frozen=True)
class Settings:
    """Dataset description, strategies, folds, seed and threshold objective."""

    data_path: str | None = None  # None: the embedded generated fraud-like data
    target: str = "is_fraud"
    positive_label: str | None = None
    test_data_path: str | None = None
    id_column: str | None = None
    categorical: tuple[str, ...] = ()
    subgroups: tuple[str, ...] = ()
    holdout_fraction: float = 0.2
    n_folds: int = 5
    seed: int = 0
    strategies: tuple[str, ...] = LADDER
    # Minority/majority ratio a resampler aims for; 1.0 would be full balance.
    sampling_ratio: float = 0.5
    # SMOTEENN's cleaning step compares every row with its neighbours among all rows, which grows
    # about with n^2 (49 s at 100k x 20 features here, ~80 minutes projected at 1M): above this
    # many rows in a portion it is skipped, with this reason in the audit and the report.
    smoteenn_max_rows: int = 150_000
    # Above this many negatives in the training split, every fit (folds and final) uses all
    # positives and a seeded uniform sample of this many negatives; validation and holdout rows
    # are all scored. 0 fits on every row. See BENCHMARKS.md for what it costs and saves.
    max_negatives: int = 250_000
    objective: str = "f1"
    beta: float = 2.0
    fp_cost: float = 1.0
    fn_cost: float = 10.0
    recall_target: float = 0.8
    generated_rows: int = 50_000
    generated_positive_rate: float = 0.01
    n_estimators: int = 300
    learning_rate: float = 0.05
    num_leaves: int = 31
    lgbm_threads: int = 1
    output_dir: str = "imbal_output"
    sep: str = ","
    encoding: str = "utf-8"
    decimal: str = "."
    thousands: str | None = None
    drop: tuple[str, ...] = ()  # columns left out of everything (an export's row number, a leak)
    contract_path: str | None = None  # the user's GX suite for the raw data
    contracts_dir: str | None = None  # where a derived default contract is kept

    def __post_init__(self) -> None:
        validate(self)

    @property
    def subgroup_columns(self) -> tuple[str, ...]:
        """Subgroups to report; the generated data brings its own `region`."""
        if not self.subgroups and self.data_path is None:
            return ("region",)
        return self.subgroups

    def to_dict(self) -> dict:
        """JSON-ready view, for reports and run tags."""
        out = asdict(self)
        for key in ("categorical", "subgroups", "strategies", "drop"):
            out[key] = list(out[key])
        return out

    @property
    def read_options(self):
        """How the data files are parsed."""
        from imbal_pipeline.core.data import ReadOptions

        return ReadOptions(self.sep, self.encoding, self.decimal, self.thousands)


def validate(s: Settings) -> None:
    """Raise SettingsError with a one-line fix for settings that cannot work."""
    unknown = [name for name in s.strategies if name not in LADDER]
    if unknown:
        raise SettingsError(f"unknown strategy {unknown[0]!r}; choose from {', '.join(LADDER)}")
    if not s.strategies or s.strategies[0] != "none":
        raise SettingsError("the strategy list must start with 'none': it is the baseline")
    if s.objective not in OBJECTIVES:
        raise SettingsError(
            f"unknown objective {s.objective!r}; choose from {', '.join(OBJECTIVES)}"
        )
    if s.n_folds < 2:
        raise SettingsError(f"--folds must be at least 2, got {s.n_folds}")
    if not 0.0 < s.holdout_fraction < 1.0:
        raise SettingsError(f"holdout fraction must be in (0, 1), got {s.holdout_fraction}")
    if s.beta <= 0:
        raise SettingsError(f"--beta must be positive, got {s.beta}")
    if s.fp_cost < 0 or s.fn_cost < 0 or (s.fp_cost == 0 and s.fn_cost == 0):
        raise SettingsError("--fp-cost and --fn-cost must be non-negative and not both zero")
    if not 0.0 < s.recall_target <= 1.0:
        raise SettingsError(f"--recall-target must be in (0, 1], got {s.recall_target}")
    if s.smoteenn_max_rows < 1:
        raise SettingsError(f"smoteenn max rows must be positive, got {s.smoteenn_max_rows}")
    if s.max_negatives < 0 or 0 < s.max_negatives < MIN_NEGATIVES:
        # Fewer would leave some fold without negatives to fit (scale_pos_weight 0).
        raise SettingsError(
            f"--max-negatives must be 0 (no limit) or at least {MIN_NEGATIVES}, "
            f"got {s.max_negatives}"
        )
    if not 0.0 < s.sampling_ratio <= 1.0:
        raise SettingsError(f"sampling ratio must be in (0, 1], got {s.sampling_ratio}")
    if s.lgbm_threads < 1:
        raise SettingsError("lgbm_threads must be at least 1")
    for name in (s.target, s.id_column, *s.categorical, *s.subgroups, *s.drop):
        if name in RESERVED:
            raise SettingsError(f"column name {name!r} is reserved by imbal_pipeline; rename it")
    clash = {s.target, s.id_column, *s.subgroups} & set(s.drop)
    if clash:
        name = sorted(map(str, clash))[0]
        raise SettingsError(f"--drop names {name!r}, the target, id or a subgroup; fix --drop")
    if not 0 <= s.seed < 2**32:
        raise SettingsError(f"--seed must be a whole number from 0 to 4294967295, got {s.seed}")
    _validate_parsing(s)


def _validate_parsing(s: Settings) -> None:
    import codecs

    for flag, char in (("--sep", s.sep), ("--decimal", s.decimal), ("--thousands", s.thousands)):
        if char is not None and len(char) != 1:
            raise SettingsError(f"{flag} must be one character, got {char!r}")
    # A thousands separator may equal --sep: such numbers are quoted ("1,234.5").
    if s.decimal in (s.sep, s.thousands):
        raise SettingsError("--decimal must differ from --sep and from --thousands")
    try:
        codecs.lookup(s.encoding)
    except LookupError:
        raise SettingsError(
            f"unknown --encoding {s.encoding!r}; use a Python codec name such as utf-8 or latin-1"
        ) from None


def max_concurrent_steps(lgbm_threads: int = 1) -> int:
    """Steps that may run at once so that threads x steps never exceed the cores."""
    cores = os.cpu_count() or 1
    return max(1, cores // max(1, lgbm_threads))
