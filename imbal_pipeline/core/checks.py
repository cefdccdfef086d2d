"""What each check of the training graph tests, as the UI describes it, and which only warn.

The gates themselves live in `gates`, `data_gates`, `inputs`, `leak` and `quality`; the
operating half's checks are described in `monitor_checks.DESCRIPTIONS`.
"""

DESCRIPTIONS = {
    # Data as read.
    "contract": "The asset's Great Expectations suite in data_contracts/.",
    "schema_contract": "Columns and types against the suite you gave with --contract, or the "
    "one derived from this file by its first run.",
    "no_empty_columns": "No column is entirely missing.",
    "no_infinities": "No numeric column holds +inf, -inf or values beyond +-1e100.",
    "numbers_as_text": "No column of numbers, amounts or dates was read as text (it would "
    "become categories).",
    "no_mixed_types": "No text column is mostly numbers with a few words (a data error, not a "
    "category).",
    "enough_positives": "Enough positives for a holdout and every fold.",
    "constant_columns": "Columns with one value carry no signal (warning only).",
    # The holdout split.
    "split_rates": "Positives on both sides of the holdout split, each side's rate close to "
    "the whole's.",
    "holdout_types": "Holdout columns read like their training columns (refused above 1 % "
    "non-numbers where training has numbers).",
    "missing_shift": "No feature is far more often missing in the holdout than in training "
    "(warning only).",
    "groups_kept_together": "No group (--group, or identical feature rows) on both sides of "
    "the holdout.",
    "straddling_duplicates": "Identical rows on both sides of the split, which leak answers "
    "into the evaluation (warning only).",
    "unseen_categories": "Holdout categories never seen in training, scored as missing "
    "(warning only).",
    "leak_suspects": "A feature that ranks the target almost alone, which may only be known "
    "after the outcome (warning only).",
    "profile_consistent": "Class counts, ratio and tier measured on the training split only.",
    "diagnostics_consistent": "The diagnostics' typology accounts for every positive of their "
    "training-split sample, and their figures lie in range.",
    "learning_curve_consistent": "Every share of positives was fitted in every fold, on more "
    "positives the larger the share (warning only).",
    "curve_fits_complete": "Every fit of the learning curve dealt to this step is in it, scored "
    "(PR-AUC within [0, 1], on at least one positive) or skipped with its reason (warning only).",
    # Folds, models and the threshold.
    "folds_partition": "The folds partition the training split exactly, with positives in "
    "every portion.",
    "fold_hygiene": "Validation rows untouched and real; synthetic rows only in training; "
    "preprocessing fitted on the fold's training rows.",
    "resampling_promise": "Each sampler delivered the minority-to-majority ratio it promised.",
    "oof_coverage": "Out-of-fold scores cover each expected row exactly once per strategy.",
    "threshold_valid": "The threshold lies inside (0, 1) and was chosen on every training "
    "row's out-of-fold score.",
    "model_sane": "The model's preprocessing was fitted on the training split; its scores are "
    "finite and in [0, 1].",
    "counterfactual_sane": "The leak panel measured something real, or says why it could not "
    "(warning only).",
    # The holdout's verdict.
    "beats_no_skill": "The holdout PR-AUC beats the same scores with the labels placed at random "
    "(one-sided permutation test at 5 %; a model without skill passes at most 1 time in 20).",
    "decisions_beat_chance": "The deployed threshold flags holdout rows and catches more "
    "positives than flagging as many rows at random (one-sided exact test at 5 %).",
    "not_worse_than_baseline": "Paired bootstrap on the holdout: not worse than the "
    "no-handling baseline at 0.5 beyond noise, on PR-AUC and the objective's figure.",
    "cv_holdout_gap": "The holdout PR-AUC lies where cross-validation predicted, given both "
    "uncertainties (warning only).",
    "operating_point": "The holdout reached what the objective asked for: the recall target, "
    "or a cost below flagging nothing and flagging everything (warning only).",
    "matches_export": "The deployed model is the version the evaluation exported as "
    "model.txt and model.json.",
}

# Checks whose every failure is a warning: their specs do not block what follows, so the UI
# does not mark them "blocking".
WARN_ONLY = frozenset(
    {
        "constant_columns",
        "missing_shift",
        "straddling_duplicates",
        "unseen_categories",
        "leak_suspects",
        "learning_curve_consistent",
        "curve_fits_complete",
        "counterfactual_sane",
        "cv_holdout_gap",
        "operating_point",
    }
)
