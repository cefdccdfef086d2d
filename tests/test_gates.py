"""Each Python gate fails when its rule is broken (so a passing gate means something)."""

import copy
import dataclasses

import numpy as np
import pandas as pd
import pytest
from conftest import SMALL, value

from imbal_pipeline.core.data import data_gates
from imbal_pipeline.core.data.split import training_part
from imbal_pipeline.core.evaluate import leak, quality
from imbal_pipeline.core.report_model import OperatingPoint, Report
from imbal_pipeline.core.settings import FOLD, LABEL, ROW_ID, SPLIT, STRATEGY, Settings
from imbal_pipeline.core.stats import metrics, skill
from imbal_pipeline.core.train import gates

RUN = Settings(**SMALL)  # the settings of `small_run`


@pytest.fixture(scope="module")
def parts(small_run):
    split = value(small_run, "holdout_split")
    return {
        "train": training_part(split),
        "split": split,
        "folds": value(small_run, "cv_folds"),
        "sets": value(small_run, "fold_0_training_sets"),
        "comparison": value(small_run, "strategy_comparison"),
        "decision": value(small_run, "decision_threshold"),
        "final": value(small_run, "final_model"),
        "report": value(small_run, "evaluation_report"),
    }


def test_folds_partition_fails_on_a_missing_row_or_a_fold_without_positives(parts):
    train, folds = parts["train"], parts["folds"]
    assert gates.folds_partition(folds, train, 3).passed
    assert not gates.folds_partition(folds.iloc[1:], train, 3).passed
    positives = set(train.loc[train[LABEL] == 1, ROW_ID])
    moved = folds.copy()
    moved.loc[moved[ROW_ID].isin(positives), FOLD] = 0  # folds 1 and 2 lose every positive
    gate = gates.folds_partition(moved, train, 3)
    assert not gate.passed and "no positives" in gate.message


def test_fold_hygiene_fails_on_touched_validation_or_synthetic_leak(parts):
    train, folds, sets = parts["train"], parts["folds"], parts["sets"]
    assert gates.fold_sets_hygiene(sets, train, folds, RUN).passed
    touched = copy.deepcopy(sets)
    touched.validation.loc[0, "f0"] += 1e-9
    gate = gates.fold_sets_hygiene(touched, train, folds, RUN)
    assert not gate.passed and "differs from the untouched rows" in gate.message
    first_validation_row = pd.DataFrame({STRATEGY: ["none"], ROW_ID: [sets.validation[ROW_ID][0]]})
    leaked = dataclasses.replace(
        sets, membership=pd.concat([sets.membership, first_validation_row])
    )
    gate = gates.fold_sets_hygiene(leaked, train, folds, RUN)
    assert not gate.passed and "outside this fold's training portion" in gate.message
    refit = copy.deepcopy(sets)
    refit.preprocessor["fitted_on"]["row_ids_sha256"] = "0" * 16
    assert "not fitted on exactly" in gates.fold_sets_hygiene(refit, train, folds, RUN).message


def test_resampling_promise_fails_when_a_sampler_misses_its_ratio(parts):
    sets = parts["sets"]
    assert gates.resampling_promise(sets, 0.5).passed
    broken = copy.deepcopy(sets)
    broken.audits["undersample"]["rows_after"]["0"] *= 2
    gate = gates.resampling_promise(broken, 0.5)
    assert not gate.passed and "undersample" in gate.message


def test_oof_coverage_fails_on_a_duplicate_or_missing_row(parts):
    oof, train = parts["comparison"].oof, parts["train"]
    assert gates.oof_coverage(oof, train[ROW_ID], "training").passed
    assert not gates.oof_coverage(pd.concat([oof, oof.head(1)]), train[ROW_ID], "x").passed
    assert not gates.oof_coverage(oof.iloc[1:], train[ROW_ID], "x").passed


def test_threshold_valid_fails_outside_the_open_interval_or_on_other_rows(parts):
    def decision(value, rows):
        return dataclasses.replace(parts["decision"], value=value, tuned_on_rows=rows)

    assert gates.threshold_valid(decision(0.3, 10), 10).passed
    assert not gates.threshold_valid(decision(1.0, 10), 10).passed
    assert not gates.threshold_valid(decision(0.0, 10), 10).passed
    assert not gates.threshold_valid(decision(0.3, 12), 10).passed


def test_model_sane_fails_when_not_fitted_on_the_training_split(parts):
    final, train = parts["final"], parts["train"]
    assert gates.model_sane(final, train, RUN).passed
    assert not gates.model_sane(final, train.iloc[5:], RUN).passed


def _holdout_report(y, scores, base_scores, *, selected="class_weight", objective="f1", cv=None):
    """The parts of report.json the quality gate reads, computed as the evaluation does."""
    from sklearn.metrics import average_precision_score

    pr_auc = average_precision_score(y, scores)
    return {
        "dataset": {"holdout_rows": len(y), "holdout_positives": int(y.sum())},
        "selected_strategy": selected,
        "threshold": {"value": 0.5, "objective": objective},
        "holdout": {"pr_auc": pr_auc},
        "holdout_ci": metrics.bootstrap_intervals(y, scores, 0.5, 2.0),
        "skill": skill.holdout_skill(y, scores, 0.5),
        "vs_baseline": {
            "same_model": selected == "none",
            **metrics.paired_bootstrap(y, scores, base_scores, 0.5, 0.5, 2.0),
        },
        "cv": {selected: cv or {"pr_auc_mean": pr_auc, "pr_auc_std": 0.02, "folds": 5}},
        "operating_point": {"objective": objective, "asked": {}, "reached": {objective: 0.5}},
    }


def _quality(report):
    return {g.name: g for g in quality.quality_gate(Report.from_json(report))}


def _data(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.05).astype(int)
    return y, np.clip(y * 0.45 + rng.random(n) * 0.55, 0, 1), rng.random(n)


def test_the_quality_gate_passes_a_model_that_beats_chance_and_the_baseline():
    y, good, noise = _data()
    result = _quality(_holdout_report(y, good, noise))
    assert all(g.passed for g in result.values()), [g.message for g in result.values()]
    assert "PR-AUC +0." in result["not_worse_than_baseline"].message


def test_a_model_whose_interval_reaches_no_skill_is_blocked():
    # A weak signal on a small holdout: the point PR-AUC is above the positive rate, but its
    # interval is not; the old point-only rule passed this.
    rng = np.random.default_rng(4)
    y = (rng.random(300) < 0.05).astype(int)
    weak = np.clip(y * 0.08 + rng.random(300), 0, 1)
    report = _holdout_report(y, weak, rng.random(300))
    assert report["holdout"]["pr_auc"] > y.mean()
    gate = _quality(report)["beats_no_skill"]
    assert gate.blocks and "cannot show that the model ranks positives better" in gate.message


def test_a_model_worse_than_the_baseline_beyond_noise_is_blocked():
    y, good, noise = _data()
    gate = _quality(_holdout_report(y, noise, good))["not_worse_than_baseline"]
    assert gate.blocks and "worse than the baseline on PR-AUC, F1 beyond noise" in gate.message


def test_when_the_baseline_is_selected_the_gate_compares_the_decisions_not_a_zero():
    y, good, _ = _data()
    # `none` selected, with a threshold far too high: same ranking, worse decisions than 0.5.
    report = _holdout_report(y, good, good, selected="none")
    report["vs_baseline"] |= metrics.paired_bootstrap(y, good, good, 0.97, 0.5, 2.0)
    gate = _quality(report)["not_worse_than_baseline"]
    assert "pr_auc" not in gate.observed and "rankings are the same" in gate.message
    assert gate.observed["f1"]["ci_high"] < 0 and gate.blocks
    # The fix names the threshold, not a strategy list the selection already had.
    assert "threshold chosen on out-of-fold scores did not hold" in gate.message
    assert "--strategies" not in gate.message


def test_the_gate_calls_a_fallback_threshold_the_fallback_and_compares_no_threshold_with_itself():
    y, good, _ = _data()
    # `none` selected, the tuned threshold did not beat 0.5: the same model at the same 0.5.
    report = _holdout_report(y, good, good, selected="none")
    fallback = "the tuned one did not beat 0.5 beyond noise, so 0.5 is used"
    report["threshold"]["fallback"] = fallback
    report["holdout"]["threshold"] = 0.5
    report["holdout_at_0_5"] = {"threshold": 0.5}
    found = _quality(report)
    said = found["not_worse_than_baseline"].message
    assert said == (
        "the selected model is the baseline (`none`) at the chosen threshold (0.5, the fallback), "
        "0.5 itself, so its decisions are the baseline's: nothing to compare"
    )
    assert found["operating_point"].message == (
        "holdout f1 0.500 at the chosen threshold (0.5, the fallback); the f1 objective sets no "
        "target, so this figure is reported, not judged"
    )
    # A tuned threshold keeps its name.
    report["threshold"]["fallback"] = None
    assert "at the tuned threshold" in _quality(report)["operating_point"].message


def test_the_cv_holdout_check_uses_both_uncertainties():
    y, good, noise = _data()
    report = _holdout_report(y, good, noise)
    holdout = report["holdout"]["pr_auc"]
    # 0.1 above the holdout: within the noise of a 100-positive holdout and a wobbly CV ...
    report["cv"]["class_weight"] = {"pr_auc_mean": holdout + 0.1, "pr_auc_std": 0.1, "folds": 5}
    assert _quality(report)["cv_holdout_gap"].passed
    # ... but not when CV is tight: the holdout then lies outside what CV predicted.
    report["cv"]["class_weight"]["pr_auc_std"] = 0.01
    gate = _quality(report)["cv_holdout_gap"]
    assert not gate.passed and gate.severity == gates.WARN and not gate.blocks
    assert "combined standard errors (> 1.96)" in gate.message and "optimistic" in gate.message


def test_split_rates_block_a_skewed_stratified_split_but_only_warn_for_a_holdout_file():
    frame = pd.DataFrame(
        {
            SPLIT: ["train"] * 1000 + ["holdout"] * 1000,
            LABEL: [1] * 50 + [0] * 950 + [1] * 200 + [0] * 800,
        }
    )
    assert gates.split_rates(frame, explicit=False).blocks
    explicit = gates.split_rates(frame, explicit=True)
    assert not explicit.passed and explicit.severity == gates.WARN
    no_positives = frame.assign(**{LABEL: [1] * 50 + [0] * 1950})
    assert "no positives" in gates.split_rates(no_positives, explicit=True).message


def test_mixed_types_block_stray_text_among_numbers_but_a_few_levels_are_a_category():
    settings = Settings(target="y")
    rng = np.random.default_rng(0)
    amounts = pd.Series(rng.normal(100, 20, 400).round(2).astype(str), dtype=object)
    amounts[::50] = "n/a"
    doors = pd.Series(rng.choice(["2", "3", "4", "5more"], 400), dtype=object)
    frame = pd.DataFrame({"amount": amounts, "doors": doors, "y": rng.integers(0, 2, 400)})

    blocked = data_gates.no_mixed_types(frame, settings)
    assert blocked.blocks and "'amount' mixes numbers and text (e.g. 'n/a')" in blocked.message

    warned = data_gates.no_mixed_types(frame.drop(columns="amount"), settings)
    assert not warned.passed and not warned.blocks
    assert "'doors'" in warned.message and "treated as categorical" in warned.message

    listed = Settings(target="y", categorical=("doors",))
    assert data_gates.no_mixed_types(frame.drop(columns="amount"), listed).passed


def _point(objective: str, recall_target: float = 0.8):
    from imbal_pipeline.core.stats import metrics
    from imbal_pipeline.core.train import threshold

    s = Settings(objective=objective, recall_target=recall_target, fp_cost=1.0, fn_cost=10.0)
    y = np.r_[np.ones(40, int), np.zeros(960, int)]
    # 28 of 40 positives and 107 of 960 negatives score 0.4 or more.
    scores = np.r_[np.linspace(0.2, 0.9, 40), np.linspace(0.0, 0.45, 960)]
    ci = metrics.bootstrap_intervals(y, scores, 0.4, s.beta)
    return threshold.verify_operating_point(y, scores, 0.4, s, ci)


def test_a_missed_recall_target_warns_with_the_interval():
    point = _point("recall", recall_target=0.9)
    assert point["reached"]["recall"] == pytest.approx(0.7)
    gate = quality.operating_point(OperatingPoint.from_json(point))
    assert (gate.passed, gate.severity) == (False, gates.WARN)
    assert gate.message.startswith("holdout recall 0.700 (95% CI 0.")
    assert "against the recall target 0.9: clearly missed" in gate.message
    assert "lower --recall-target" in gate.message
    assert quality.operating_point(
        OperatingPoint.from_json(_point("recall", recall_target=0.65))
    ).passed


def test_the_cost_objective_is_compared_with_flagging_nothing_and_everything():
    point = _point("cost")
    reached = point["reached"]
    assert reached["flag_nothing_per_1000"] == pytest.approx(400.0)  # 40 positives x 10
    assert reached["flag_everything_per_1000"] == pytest.approx(960.0)
    assert reached["cost_per_1000"] == pytest.approx(107 + 12 * 10) and point["met"]
    assert "per 1,000 rows" in quality.operating_point(OperatingPoint.from_json(point)).message


def test_the_leak_check_ranks_features_as_scikit_learns_roc_auc_does():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = (rng.random(5000) < 0.03).astype(int)
    for values in (
        rng.normal(y * 0.7, 1.0),  # continuous
        np.round(rng.normal(y * 0.7, 1.0)),  # heavy ties
        rng.integers(0, 3, 5000) + 2 * y,  # a few levels
        -rng.normal(y * 2.0, 1.0),  # ranks the other way
        np.ones(5000),  # constant
    ):
        assert leak.rank_auc(y, values) == pytest.approx(roc_auc_score(y, values), abs=1e-12)


def test_a_constant_column_is_told_apart_as_nunique_would_without_hashing_it():
    cases = [
        pd.Series([1.5] * 5),
        pd.Series([1.5, 1.5, np.nan]),  # a missing value is a second value
        pd.Series([np.nan] * 3),
        pd.Series([], dtype=float),
        pd.Series(["a", "a", "a"]),
        pd.Series(["a", "b", "a"]),
        pd.Series(["x", "x"], dtype="category"),
        pd.Series([0, 0, 1]),
        pd.Series([True, True]),
    ]
    for values in cases:
        constant = values.nunique(dropna=False) <= 1
        assert data_gates.is_constant(values) == constant, values.tolist()


def test_the_profile_gate_wants_counts_that_add_up_and_a_positive_for_every_fold():
    from imbal_pipeline.core.values import Profile

    profile = Profile("y", "1", 100, 5, 95, 19.0, "1:19.0", 0.05, "mild", "class weights", [])
    assert gates.profile_consistent(profile, 100, 5).passed
    gate = gates.profile_consistent(profile, 100, 10)
    assert not gate.passed and "lower --folds or give more data" in gate.message
    assert not gates.profile_consistent(profile, 101, 5).passed  # a row counted nowhere


def test_the_diagnostics_gate_catches_a_typology_missing_positives_or_an_n3_off_scale():
    from imbal_pipeline.core.evaluate import diagnostics

    result = {"typology": {"safe": 3, "rare": 2}, "subsample_positives": 5, "subsample_rows": 90}
    result["n3"] = 0.2
    assert diagnostics.consistent(result).passed
    missing = diagnostics.consistent({**result, "subsample_positives": 6})
    assert not missing.passed and "report this as a bug" in missing.message
    assert not diagnostics.consistent({**result, "n3": 1.5}).passed


def test_the_deployed_model_must_be_the_exported_one():
    from imbal_pipeline.core.monitor import monitor_checks

    assert monitor_checks.matches_export("ab" * 8, "ab" * 8, "out").passed
    gate = monitor_checks.matches_export("ab" * 8, None, "out")
    assert not gate.passed and "rerun the evaluation" in gate.message
