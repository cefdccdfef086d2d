"""Leakage properties of the whole graph: split first, fit on training portions only."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import failed_checks, run_graph, value

from imbal_pipeline.core.data.split import HOLDOUT, TRAIN
from imbal_pipeline.core.evaluate import diagnostics, leak
from imbal_pipeline.core.settings import FOLD, ROW_ID, SPLIT, STRATEGY
from imbal_pipeline.core.train import model as model_core
from imbal_pipeline.core.train import preprocess, strategies, threshold
from imbal_pipeline.core.train.preprocess import Preprocessor, fingerprint


def _ids(frame: pd.DataFrame, part: str) -> set[int]:
    return set(frame.loc[frame[SPLIT] == part, ROW_ID].astype(int))


def test_whole_graph_materializes_and_writes_the_report(small_run, tmp_path_factory):
    report = value(small_run, "evaluation_report")
    for key in ("dataset", "selected_strategy", "threshold", "cv", "holdout", "baseline_holdout"):
        assert key in report
    for key in ("rows", "features", "positives", "ratio", "tier"):
        assert key in report["dataset"]
    assert set(report["threshold"]) >= {"value", "objective"}
    for key in (
        "pr_auc",
        "roc_auc",
        "f1",
        "fbeta",
        "mcc",
        "balanced_accuracy",
        "precision",
        "recall",
        "confusion_matrix",
    ):
        assert key in report["holdout"] and key in report["baseline_holdout"]
    cm = np.array(report["holdout"]["confusion_matrix"])
    split = value(small_run, "holdout_split")
    holdout = split[split[SPLIT] == HOLDOUT]
    assert cm.sum() == len(holdout)
    assert cm[1].sum() == holdout["__label"].sum()
    assert report["dataset"]["rows"] == (split[SPLIT] == TRAIN).sum()
    for name, row in report["cv"].items():
        assert set(row) >= {"pr_auc_mean", "pr_auc_std", "f1_mean", "mcc_mean"}, name
    assert report["subgroups"]["region"]
    # In the UI the report's first entry is the page a person opens, beside the JSON.
    [event] = [
        e
        for e in small_run.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "evaluation_report"
    ]
    metadata = event.materialization.metadata
    assert next(iter(metadata)) == "report"
    page, data = Path(metadata["report"].path), Path(metadata["report_json"].path)
    assert page.name == "report.html" and page.is_file() and data == page.with_name("report.json")


def test_no_holdout_row_reaches_any_fit(tmp_path, monkeypatch):
    seen: dict[str, set[int]] = {
        "preprocess": set(),
        "resample": set(),
        "lgbm": set(),
        "threshold": set(),
        "diagnostics": set(),
    }

    # The leak panel's counterfactual fits see holdout rows on purpose, marked as such.
    counterfactual: dict[str, set[int]] = {name: set() for name in seen}

    def spy(name, fn, ids_of):
        def wrapper(*args, **kwargs):
            into = counterfactual if leak.COUNTERFACTUAL.get() else seen
            into[name].update(int(i) for i in ids_of(*args, **kwargs))
            return fn(*args, **kwargs)

        return wrapper

    def pre_ids(frame, schema, row_ids):
        assert list(frame[ROW_ID]) == list(row_ids)
        return row_ids

    def lgbm_ids(X, y, row_ids, **_):
        assert len(row_ids) == len(y) == X.shape[0]
        return [i for i in row_ids if i >= 0]  # negative ids are synthetic rows

    monkeypatch.setattr(
        preprocess, "fit_preprocessor", spy("preprocess", preprocess.fit_preprocessor, pre_ids)
    )
    monkeypatch.setattr(
        strategies, "resample", spy("resample", strategies.resample, lambda X, y, ids, *a, **k: ids)
    )
    monkeypatch.setattr(model_core, "fit_lgbm", spy("lgbm", model_core.fit_lgbm, lgbm_ids))
    monkeypatch.setattr(
        diagnostics,
        "diagnose",
        spy("diagnostics", diagnostics.diagnose, lambda frame, *a, **k: frame[ROW_ID]),
    )
    monkeypatch.setattr(
        threshold,
        "tune_threshold",
        spy("threshold", threshold.tune_threshold, lambda y, s, ids, *a: ids),
    )

    # About 2,300 training negatives against a limit of 1,500: fits use a sample of them.
    result = run_graph(tmp_path, max_negatives=1500)
    split = value(result, "holdout_split")
    holdout, train = _ids(split, HOLDOUT), _ids(split, TRAIN)
    assert holdout and train
    for name, ids in seen.items():
        assert ids, f"{name} was never called: the spy is not wired"
        assert not ids & holdout, f"holdout rows reached {name}"
        assert ids <= train, name
    # Unsampled negatives reach no model's resampling or fit (the diagnostics still see the
    # whole training split), yet every training row is scored out of fold and the threshold is
    # tuned on all of them.
    train_rows = split[split[SPLIT] == TRAIN]
    negatives = set(train_rows.loc[train_rows["__label"] == 0, ROW_ID])
    assert len(negatives) > 1500
    for name in ("resample", "lgbm"):
        assert len(seen[name] & negatives) == 1500, name
    assert seen["threshold"] == train
    # The counterfactual did resample and fit holdout rows (so the marker is wired), and
    # only it: every real fit above stayed on the training split.
    for name in ("preprocess", "resample", "lgbm"):
        assert counterfactual[name] & holdout, name
    report = value(result, "evaluation_report")
    assert report["fitting_rows"]["negatives_kept"] == 1500
    assert any("multiply the odds by" in note for note in report["notes"])


def test_folds_partition_the_training_split(small_run):
    split = value(small_run, "holdout_split")
    folds = value(small_run, "cv_folds")
    assert sorted(folds[ROW_ID]) == sorted(_ids(split, TRAIN))
    assert folds[ROW_ID].is_unique
    labels = folds.merge(split[[ROW_ID, "__label"]], on=ROW_ID)
    assert (labels.groupby(FOLD)["__label"].sum() > 0).all()


@pytest.mark.parametrize("fold", [0, 1, 2])
def test_fold_preprocessing_fitted_on_exactly_its_training_rows(small_run, fold):
    split = value(small_run, "holdout_split")
    folds = value(small_run, "cv_folds")
    sets = value(small_run, f"fold_{fold}_training_sets")
    fit_ids = folds.loc[folds[FOLD] != fold, ROW_ID].to_numpy()
    pre = Preprocessor.from_json(sets.preprocessor)
    assert pre.fitted_on["row_ids_sha256"] == fingerprint(fit_ids)
    assert pre.fitted_on["rows"] == len(fit_ids)
    # The numbers themselves come from those rows, not just the label on them.
    rows = split.set_index(ROW_ID).loc[fit_ids]
    assert pre.medians["amount"] == pytest.approx(rows["amount"].median())
    assert pre.means["hour"] == pytest.approx(rows["hour"].mean())
    assert set(sets.train[ROW_ID]) == set(fit_ids)


@pytest.mark.parametrize("fold", [0, 1, 2])
def test_validation_portion_is_untouched_and_free_of_synthetic_rows(small_run, fold):
    split = value(small_run, "holdout_split")
    folds = value(small_run, "cv_folds")
    sets = value(small_run, f"fold_{fold}_training_sets")
    val = sets.validation
    expected = folds.loc[folds[FOLD] == fold, ROW_ID]
    assert sorted(val[ROW_ID]) == sorted(expected)
    assert (val[ROW_ID] >= 0).all()
    synthetic = sets.synthetic
    assert len(synthetic) > 0, "the ladder has oversamplers; they must have made rows"
    assert (synthetic[ROW_ID] < 0).all()
    assert not set(synthetic[ROW_ID]) & set(val[ROW_ID])
    # Untouched: exactly the fold preprocessor applied to the raw validation rows.
    pre = Preprocessor.from_json(sets.preprocessor)
    raw = split.set_index(ROW_ID).loc[val[ROW_ID].to_numpy()].reset_index()
    features = [c for c in val.columns if c.startswith("f")]
    np.testing.assert_array_equal(val[features].to_numpy(), pre.transform(raw))
    # Validation rows are never resampled: no strategy's training rows include them.
    assert not set(sets.membership[ROW_ID]) & set(val[ROW_ID])


def test_out_of_fold_scores_cover_each_training_row_once_per_strategy(small_run):
    comparison = value(small_run, "strategy_comparison")
    folds = value(small_run, "cv_folds")
    for strategy, part in comparison.oof.groupby(STRATEGY):
        assert part[ROW_ID].is_unique, strategy
        assert set(part[ROW_ID]) == set(folds[ROW_ID]), strategy


def test_audits_record_steps_params_seed_and_counts(small_run):
    sets = value(small_run, "fold_0_training_sets")
    smote = sets.audits["smote"]
    assert smote["steps"][0]["step"] in {"SMOTE", "SMOTENC"}
    assert smote["steps"][0]["params"]["random_state"] == 0
    assert smote["seed"] == 0
    assert smote["synthetic_rows"] == int((sets.synthetic[STRATEGY] == "smote").sum())
    assert smote["rows_after"]["1"] == smote["rows_before"]["1"] + smote["synthetic_rows"]
    enn = sets.audits["smoteenn"]
    assert [s["step"] for s in enn["steps"]] == [
        smote["steps"][0]["step"],
        "EditedNearestNeighbours",
    ]
    weights = sets.audits["class_weight"]
    before = weights["rows_before"]
    assert weights["scale_pos_weight"] == pytest.approx(before["0"] / before["1"])


def test_changing_holdout_labels_changes_neither_threshold_nor_selection(flipped_holdout_runs):
    a, b, _, _ = flipped_holdout_runs  # two stores: nothing of a's is reused by b
    assert value(a, "decision_threshold").value == value(b, "decision_threshold").value
    assert value(a, "strategy_comparison").selected == value(b, "strategy_comparison").selected
    # The flip did reach the holdout evaluation: its quality gate now fails.
    assert "evaluation_report:beats_no_skill" not in failed_checks(a)
    assert "evaluation_report:beats_no_skill" in failed_checks(b)


def test_same_seed_same_selection_and_threshold(small_run, small_run_again):
    again = small_run_again
    first = value(small_run, "decision_threshold")
    second = value(again, "decision_threshold")
    assert first.value == second.value
    assert (
        value(small_run, "strategy_comparison").table == value(again, "strategy_comparison").table
    )
    report_a = json.dumps(value(small_run, "evaluation_report")["holdout"], sort_keys=True)
    report_b = json.dumps(value(again, "evaluation_report")["holdout"], sort_keys=True)
    assert report_a == report_b


def test_the_evaluation_judges_a_stored_threshold_by_the_objective_it_was_tuned_for(small_run):
    # Materializing the report alone after the objective changed reads the stored decision
    # (tuned for F1); the operating point, the baseline's own threshold and the paired cost
    # must follow that decision, not the new settings.
    from conftest import project

    from imbal_pipeline.core.data import split
    from imbal_pipeline.core.evaluate import evaluation

    marked = value(small_run, "holdout_split")
    decision = value(small_run, "decision_threshold")
    assert decision.objective == "f1"
    inputs = [
        split.training_part(marked),
        split.holdout_part(marked),
        value(small_run, "final_model"),
        value(small_run, "baseline_model"),
        value(small_run, "strategy_comparison"),
        decision,
        value(small_run, "imbalance_profile"),
    ]
    as_tuned, _ = evaluation.build_report(*inputs, project(), threads=1)
    changed, _ = evaluation.build_report(
        *inputs, project(objective="cost", fp_cost=1.0, fn_cost=50.0), threads=1
    )
    assert changed.operating_point == as_tuned.operating_point
    assert changed.operating_point.objective == "f1"
    assert changed.baseline_holdout_tuned == as_tuned.baseline_holdout_tuned
    assert changed.vs_baseline == as_tuned.vs_baseline


def test_the_cores_one_entry_point_makes_what_the_graph_makes(small_run, tmp_path):
    # The method without Dagster (scripts, the benchmarks' plain side) and the asset graph must
    # not drift apart: the same settings give the same choice, threshold and holdout figures.
    from conftest import project

    from imbal_pipeline.core import method

    phases: list[str] = []
    outcome = method.fit_and_evaluate(project(output_dir=str(tmp_path / "out")), phases.append)
    graph_report = value(small_run, "evaluation_report")
    assert outcome.report["selected_strategy"] == graph_report["selected_strategy"]
    assert outcome.report["threshold"] == graph_report["threshold"]
    assert outcome.report["holdout"] == graph_report["holdout"]
    assert outcome.report["cv"] == graph_report["cv"]
    assert phases == [
        "data",
        "fold_training_sets",
        "fold_models",
        "comparison_threshold",
        "final_baseline",
    ]
    # The report-only assets' work too: the same curve, counterfactual, diagnostics, verdict and
    # the one recommendation drawn from them.
    method.add_evidence(outcome, project(output_dir=str(tmp_path / "out")))
    for section in (
        "learning_curve",
        "leak_panel",
        "diagnostics",
        "quality_gate",
    ):
        assert outcome.report[section] == graph_report[section], section
    # The one recommendation, but for what became of the model: the graph exported and promoted
    # it, the method exports nothing, so only the paragraph's first sentence differs.
    from imbal_pipeline.core.evaluate.advice import service

    core, graph = outcome.report["recommendation"], graph_report["recommendation"]
    assert {k: v for k, v in core.items() if k != "paragraph"} == {
        k: v for k, v in graph.items() if k != "paragraph"
    }
    assert core["paragraph"].startswith(service(None))
    rest = core["paragraph"][len(service(None)) :]
    assert graph["paragraph"].endswith(rest) and graph["paragraph"] != core["paragraph"]
