"""Reruns refit only what changed: fits are counted, data versions compared."""

import shutil

import pytest
from conftest import data_versions, run_graph, value

from imbal_pipeline.cli.runs import failure_reason
from imbal_pipeline.core.train import model as model_core


def _counting_fits(monkeypatch) -> list[str]:
    """Every LightGBM fit from now on, one entry each."""
    fits: list[str] = []
    original = model_core.fit_lgbm
    monkeypatch.setattr(
        model_core, "fit_lgbm", lambda *a, **k: fits.append("fit") or original(*a, **k)
    )
    return fits


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """One whole run and the fits it made; each test reruns on a copy of its folder."""
    root = tmp_path_factory.mktemp("reruns")
    with pytest.MonkeyPatch.context() as monkeypatch:
        fits = _counting_fits(monkeypatch)
        result = run_graph(root, "shared")
    return root / "shared", result, len(fits)


def _rerun_beside(first_run, tmp_path, monkeypatch, **overrides):
    """A rerun on a copy of the first run's store, report and contracts; its fits counted."""
    shutil.copytree(first_run[0], tmp_path / "shared")
    fits = _counting_fits(monkeypatch)
    return run_graph(tmp_path, "shared", **overrides), fits


def test_no_change_refits_nothing_and_a_new_objective_refits_no_fold(
    first_run, tmp_path, monkeypatch
):
    _, first, fitted = first_run
    fold_fits = sum(
        len(info.get("members", [info]))  # a bagged model is one fit per member
        for k in range(3)
        for part in ("models", "smote_models")
        for info in value(first, f"fold_{k}_{part}").fit_info.values()
    )
    # Every fold model, the leak panel's counterfactual and the learning curve's fits; the final
    # model and the baseline are made of fold models and fit nothing.
    assert fitted == fold_fits + 1 + value(first, "learning_curve")["fits"] > fold_fits + 1

    again, fits = _rerun_beside(first_run, tmp_path, monkeypatch)
    assert fits == []
    assert data_versions(again) == data_versions(first)
    [event] = [
        e
        for e in again.get_asset_materialization_events()
        if e.asset_key.path == ["deployed_model"]
    ]
    trained_by = event.materialization.metadata["trained_by"].value
    assert trained_by == f"run {first.run_id} (this run trained it again, identically)"

    cost = run_graph(tmp_path, "shared", objective="cost")
    assert fits == []  # the threshold moved; no booster was refitted
    before, after = data_versions(first), data_versions(cost)
    changed = {name for name in before if before[name] != after[name]}
    # The model asset keeps its version: the threshold is attached where the model is exported.
    assert changed == {"decision_threshold", "evaluation_report", "deployed_model"}
    assert value(cost, "decision_threshold").objective == "cost"
    deployed = value(cost, "deployed_model")["meta"]
    assert deployed["threshold"] == value(cost, "decision_threshold").value
    assert deployed["objective"] == "cost"


def test_a_changed_model_setting_refits_every_model(first_run, tmp_path, monkeypatch):
    _, _, fitted = first_run
    _, fits = _rerun_beside(first_run, tmp_path, monkeypatch, n_estimators=41)
    assert len(fits) == fitted


def _failing_fold(monkeypatch, fold: int, error, attempts: int | None = None) -> list[int]:
    """Make fitting `fold`'s models (the step fitting `none`, fold_<k>_models) raise `error`
    on its first `attempts` tries, or always."""
    from imbal_pipeline.core.train import training

    fit, tries = training.fit_fold_models, []

    def failing(sets, settings, rungs=None):
        if sets.fold == fold and (rungs is None or "none" in rungs):
            tries.append(fold)
            if attempts is None or len(tries) <= attempts:
                raise error
        return fit(sets, settings, rungs)

    monkeypatch.setattr(training, "fit_fold_models", failing)
    return tries


def _restarted(result) -> list[str]:
    return [e.step_key for e in result.all_events if e.event_type_value == "STEP_RESTARTED"]


def test_a_transient_fold_failure_is_retried_and_the_run_succeeds(tmp_path, monkeypatch):
    _failing_fold(monkeypatch, 1, ConnectionError("mount went away"), attempts=1)
    result = run_graph(tmp_path)  # asserts success
    assert _restarted(result) == ["fold_1_models"]


def test_a_deterministic_failure_is_not_retried_and_names_its_cause(tmp_path, monkeypatch):
    tries = _failing_fold(monkeypatch, 1, ValueError("scale_pos_weight should be > 0"))
    result = run_graph(tmp_path, expect_success=False)
    assert tries == [1] and _restarted(result) == []
    reason = failure_reason(result)
    assert reason == "step fold_1_models failed: ValueError: scale_pos_weight should be > 0"


def test_a_transient_failure_that_persists_ends_with_its_cause(tmp_path, monkeypatch):
    import errno

    error = OSError(errno.EIO, "Input/output error")
    tries = _failing_fold(monkeypatch, 0, error)
    result = run_graph(tmp_path, expect_success=False)
    assert tries == [0, 0, 0]
    reason = failure_reason(result)
    assert reason.startswith("step fold_0_models failed: OSError: [Errno 5] Input/output error")
    assert reason.endswith("(after 3 attempts)") and "max_retries" not in reason
