"""The checks of the graph, each declared once: its name, what it tests (as the UI describes
it), the stages it sits beside, whether it only ever warns, whether its alert asks for a
retraining, and the function that makes its gate.

The asset check specs (`defs/assets/common.py`), the UI's descriptions and every gate (`gates.Gate`
refuses a name not declared here) derive from this table, as the threshold objectives derive
from `threshold.OBJECTIVES`. The gate functions live in `gates`, `data_gates`, `inputs`, `leak`,
`diagnostics`, `quality`, `monitor_checks` and `monitor_batch`, and bind themselves to their
entry with `@checks.gate(name)`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from imbal_pipeline.core.stats import monitor_stats as ms


@dataclass(frozen=True)
class Check:
    """One check of the graph."""

    name: str
    description: str  # what it tests, as the UI shows it beside the asset
    stages: tuple[str, ...]  # the assets it sits beside (a fold's assets by their family)
    warn_only: bool = False  # every failure a warning: the spec does not block what follows
    retrains: bool = False  # an alert of it says the model no longer fits the world
    function: Callable | None = None  # what makes its gate, where one function does


CHECKS: dict[str, Check] = {}


def register(*entries: Check) -> None:
    """Declare checks; a name is declared once."""
    for entry in entries:
        if entry.name in CHECKS:
            raise ImportError(f"check {entry.name!r} is declared twice")
        CHECKS[entry.name] = entry


def gate(name: str):
    """Decorator: the function makes the gate of the declared check `name`."""

    def bind(function: Callable) -> Callable:
        if name not in CHECKS:
            raise ImportError(f"{function.__qualname__} makes an undeclared check {name!r}")
        CHECKS[name] = dataclasses.replace(CHECKS[name], function=function)
        return function

    return bind


def of_stage(stage: str) -> tuple[Check, ...]:
    """The checks beside the assets of `stage`, in declaration order."""
    return tuple(check for check in CHECKS.values() if stage in check.stages)


def names(stage: str) -> tuple[str, ...]:
    """The names of the checks beside the assets of `stage`."""
    return tuple(check.name for check in of_stage(stage))


_ALPHA = f"{ms.ALPHA:.1%}"  # the monitoring tests' level, as their descriptions say it
register(
    # Data as read.
    Check(
        "contract",
        "The asset's Great Expectations suite in data_contracts/.",
        (
            "raw_data",
            "holdout_split",
            "cv_folds",
            "fold_training_sets",
            "fold_models",
            "strategy_comparison",
        ),
    ),
    Check(
        "schema_contract",
        "Columns and types against the suite you gave with --contract, or the "
        "one derived from this file by its first run.",
        ("raw_data",),
    ),
    Check(
        "no_empty_columns",
        "No column is entirely missing.",
        ("raw_data",),
    ),
    Check(
        "no_infinities",
        "No numeric column holds +inf, -inf or values beyond +-1e100.",
        ("raw_data",),
    ),
    Check(
        "numbers_as_text",
        "No column of numbers, amounts or dates was read as text (it would become categories).",
        ("raw_data",),
    ),
    Check(
        "no_mixed_types",
        "No text column is mostly numbers with a few words (a data error, not a category).",
        ("raw_data",),
    ),
    Check(
        "enough_positives",
        "Enough positives for a holdout and every fold.",
        ("raw_data",),
    ),
    Check(
        "constant_columns",
        "Columns with one value carry no signal (warning only).",
        ("raw_data",),
        warn_only=True,
    ),
    # The holdout split.
    Check(
        "split_rates",
        "Positives on both sides of the holdout split, each side's rate close to the whole's.",
        ("holdout_split",),
    ),
    Check(
        "holdout_types",
        "Holdout columns read like their training columns (refused above 1 % "
        "non-numbers where training has numbers).",
        ("holdout_split",),
    ),
    Check(
        "missing_shift",
        "No feature is far more often missing in the holdout than in training (warning only).",
        ("holdout_split",),
        warn_only=True,
    ),
    Check(
        "groups_kept_together",
        "No group (--group, or identical feature rows) on both sides of the holdout.",
        ("holdout_split",),
    ),
    Check(
        "groups_fit_the_folds",
        "No group so large that, kept whole, it fills most of one fold: the folds, holdout "
        "and monitoring reference stay samples of the data (warning only).",
        ("holdout_split",),
        warn_only=True,
    ),
    Check(
        "straddling_duplicates",
        "Identical rows on both sides of the split, which leak answers "
        "into the evaluation (warning only).",
        ("holdout_split",),
        warn_only=True,
    ),
    Check(
        "unseen_categories",
        "Holdout categories never seen in training, scored as missing (warning only).",
        ("holdout_split",),
        warn_only=True,
    ),
    Check(
        "leak_suspects",
        "A feature that ranks the target almost alone, which may only be known "
        "after the outcome (warning only).",
        ("holdout_split",),
        warn_only=True,
    ),
    Check(
        "profile_consistent",
        "Class counts, ratio and tier measured on the training split only.",
        ("imbalance_profile",),
    ),
    Check(
        "diagnostics_consistent",
        "The diagnostics' typology accounts for every positive of their "
        "training-split sample, and their figures lie in range.",
        ("data_diagnostics",),
    ),
    Check(
        "learning_curve_consistent",
        "Every share of positives was fitted in every fold, on more "
        "positives the larger the share (warning only).",
        ("learning_curve",),
        warn_only=True,
    ),
    Check(
        "curve_fits_complete",
        "Every fit of the learning curve dealt to this step is in it, scored "
        "(PR-AUC within [0, 1], on at least one positive) or skipped with its reason "
        "(warning only).",
        ("learning_curve_part",),
        warn_only=True,
    ),
    # Folds, models and the threshold.
    Check(
        "folds_partition",
        "The folds partition the training split exactly, with positives in every portion.",
        ("cv_folds",),
    ),
    Check(
        "fold_hygiene",
        "Validation rows untouched and real; synthetic rows only in training; "
        "preprocessing fitted on the fold's training rows.",
        ("fold_training_sets",),
    ),
    Check(
        "resampling_promise",
        "Each sampler delivered the minority-to-majority ratio it promised.",
        ("fold_training_sets",),
    ),
    Check(
        "oof_coverage",
        "Out-of-fold scores cover each expected row exactly once per strategy.",
        ("fold_models", "strategy_comparison"),
    ),
    Check(
        "threshold_valid",
        "The threshold lies inside (0, 1) and was chosen on every training "
        "row's out-of-fold score.",
        ("decision_threshold",),
    ),
    Check(
        "model_sane",
        "The model's preprocessing was fitted on the training split; its scores are "
        "finite and in [0, 1].",
        ("final_model", "baseline_model"),
    ),
    Check(
        "counterfactual_sane",
        "The leak panel measured something real, or says why it could not (warning only).",
        ("leak_panel",),
        warn_only=True,
    ),
    # The holdout's verdict.
    Check(
        "beats_no_skill",
        "The holdout PR-AUC beats the same scores with the labels placed at random "
        "(one-sided permutation test at 5 %; a model without skill passes at most 1 time in 20).",
        ("evaluation_report",),
    ),
    Check(
        "decisions_beat_chance",
        "The deployed threshold flags holdout rows and catches more "
        "positives than flagging as many rows at random (one-sided exact test at 5 %).",
        ("evaluation_report",),
    ),
    Check(
        "not_worse_than_baseline",
        "Paired bootstrap on the holdout: not worse than the "
        "no-handling baseline at 0.5 beyond noise, on PR-AUC and the objective's figure.",
        ("evaluation_report",),
    ),
    Check(
        "cv_holdout_gap",
        "The holdout PR-AUC lies where cross-validation predicted, given both "
        "uncertainties (warning only).",
        ("evaluation_report",),
        warn_only=True,
    ),
    Check(
        "operating_point",
        "The holdout reached what the objective asked for: the recall target, "
        "or a cost below flagging nothing and flagging everything (warning only).",
        ("evaluation_report",),
        warn_only=True,
    ),
    Check(
        "matches_export",
        "The deployed model is the version the evaluation exported as model.txt and model.json.",
        ("deployed_model",),
    ),
    # The operating half: a scored batch and, once they arrive, its labels.
    Check(
        "positive_rate",
        "The batch's flag rate against the deployed model's expected one (from the "
        f"out-of-fold scores of every training row): Fisher's exact test at {_ALPHA}, a move of "
        f"{ms.RATE_FLOOR:.0%} or more; significantly below means retrain.",
        ("scored_batch",),
        retrains=True,
    ),
    Check(
        "score_psi",
        "The batch's score distribution against the expected one: chi-square on the "
        f"reference's bins (merged to {ms.MIN_EXPECTED:.0f} expected rows each) at {_ALPHA}, "
        f"and PSI >= {ms.PSI_FLOOR}.",
        ("scored_batch",),
        retrains=True,
    ),
    Check(
        "feature_psi",
        "Every feature against the training split: chi-square per feature, Holm's "
        f"correction over the features at {_ALPHA}, and PSI >= {ms.PSI_FLOOR}.",
        ("scored_batch",),
        retrains=True,
    ),
    # A degraded feed is fixed at its source, not by retraining.
    Check(
        "missing_and_unseen",
        "Rises in missing rates and categories never seen in training "
        f"(exact tests, Holm's correction at {_ALPHA}).",
        ("scored_batch",),
    ),
    Check(
        "recent_prevalence",
        f"The last batches, pooled until they hold {ms.WINDOW_ROWS:,} rows: the positives the "
        "model expects in them against the reference (a test of the mean at "
        f"{_ALPHA}, a move of {ms.RATE_FLOOR:.0%} or more); catches a prevalence shift that "
        "single small batches cannot show.",
        ("scored_batch",),
        retrains=True,
    ),
    Check(
        "labelled_performance",
        "Realized PR-AUC, precision, recall and Brier score once labels "
        "arrive, against the holdout's intervals.",
        ("batch_outcomes",),
        retrains=True,
    ),
)
# The checks whose every failure is a warning.
WARN_ONLY = frozenset(check.name for check in CHECKS.values() if check.warn_only)
