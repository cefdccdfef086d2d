"""Fits are keyed on a digest of the code that made them, not on a number bumped by hand."""

import dagster as dg
import pytest
from conftest import graph

from imbal_pipeline.core.settings import Settings
from imbal_pipeline.core.train.content import content_hash
from imbal_pipeline.defs.assets import code
from imbal_pipeline.defs.assets.reuse import recipe_parts

FITS = ("training_sets", "_models", "leak_panel", "learning_curve_part")


@pytest.fixture(scope="module")
def stages(tmp_path_factory):
    """Each materializable asset of a 2-fold graph: its code version and its function."""
    defs = graph(tmp_path_factory.mktemp("code"), n_folds=2)
    found = {}
    for assets in defs.assets:
        if isinstance(assets, dg.AssetsDefinition) and assets.is_executable and assets.op:
            for key, version in assets.code_versions_by_key.items():
                found[key.to_user_string()] = (version, assets.op.compute_fn.decorated_fn)
    return found


def _edited(monkeypatch, module: str) -> None:
    original = code.source_of
    monkeypatch.setattr(
        code, "source_of", lambda m: original(m) + ("\n# edited\n" if m == module else "")
    )
    code.forget()


def _changed(stages) -> set[str]:
    return {name for name, (version, fn) in stages.items() if code.stage_code(fn) != version}


def test_each_asset_is_versioned_by_the_digest_of_its_code(stages):
    assert len(stages) > 20
    for name, (version, fn) in stages.items():
        assert version == code.stage_code(fn) and len(version) == 16, name
    assert stages["fold_0_training_sets"][0] == stages["fold_1_training_sets"][0]  # same code
    assert stages["fold_0_training_sets"][0] != stages["fold_0_models"][0]


def test_editing_a_core_module_invalidates_exactly_the_stages_that_use_it(stages, monkeypatch):
    users = {
        name
        for name, (_, fn) in stages.items()
        if "calibration" in code.core_reach(code._walk(fn)[1])
    }
    _edited(monkeypatch, "calibration")
    try:
        changed = _changed(stages)
    finally:
        monkeypatch.undo()
        code.forget()
    assert changed == users
    assert {"decision_threshold", "evaluation_report", "deployed_model"} <= changed
    # No fit reads the calibration: every stored fit stays reusable.
    assert not {name for name in changed if any(fit in name for fit in FITS)}
    assert _changed(stages) == set()  # the source as it is gives the versions as built


def test_editing_the_samplers_invalidates_the_fits_that_resample(stages, monkeypatch):
    _edited(monkeypatch, "strategies")
    try:
        changed = _changed(stages)
    finally:
        monkeypatch.undo()
        code.forget()
    assert {"fold_0_training_sets", "fold_1_models", "leak_panel", "learning_curve_part_0"} <= (
        changed
    )


def test_a_fits_recipe_changes_with_its_code():
    s = Settings()
    one = recipe_parts("fold_0_models", "a" * 16, {}, s, ("n_estimators",))
    other = recipe_parts("fold_0_models", "b" * 16, {}, s, ("n_estimators",))
    assert content_hash(one) != content_hash(other)
