"""The compiled trees: LightGBM's probabilities bit for bit, cached, checked, and a fallback.

Equality is exact (`np.array_equal`, tolerance 0): each row's trees are summed in LightGBM's
order and the sigmoid is LightGBM's, with the same C library `exp`.
"""

import importlib.util
import shutil
import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest
from conftest import value
from servers import unavailable

from imbal_pipeline.core.data.synthetic import make_fraud_data
from imbal_pipeline.core.monitor.deployed import Model, score_batch
from imbal_pipeline.core.train import compiled, fast_scoring
from imbal_pipeline.core.train.preprocess import BatchColumns, Preprocessor


def needs_compiler() -> str:
    cc = compiled.compiler()
    if cc is None:  # skipped here, failed under .ci/run, which installs gcc
        unavailable("no C compiler (cc, gcc or $CC) for the compiled trees: install gcc")
    return cc


def awkward_rows(rng, rows: int) -> np.ndarray:
    """Rows LightGBM's decisions treat specially: NaN, zeros and near-zeros, categories that
    are unseen, negative, fractional or beyond int."""
    X = rng.normal(size=(rows, 6))
    X[:, 4] = rng.integers(-3, 60, rows) + rng.choice([0.0, 0.5, -0.5], rows)
    X[:, 5] = rng.integers(0, 6, rows)
    X[rng.random(rows) < 0.02, 4] = 3e9
    for column in range(6):
        X[rng.random(rows) < 0.05, column] = np.nan
    X[rng.random(rows) < 0.05, 1] = 0.0
    X[rng.random(rows) < 0.02, 1] = 1e-36
    return X


@pytest.mark.parametrize(
    "missing",
    [{}, {"zero_as_missing": True}, {"use_missing": False}],
    ids=["nan-missing", "zero-missing", "no-missing"],
)
def test_compiled_trees_give_lightgbms_probabilities_bit_for_bit(missing, tmp_path):
    cc = needs_compiler()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 6))
    X[:, 4], X[:, 5] = rng.integers(0, 40, 4000), rng.integers(0, 5, 4000)
    X[rng.random(4000) < 0.1, 0] = np.nan
    X[rng.random(4000) < 0.2, 1] = 0.0
    y = (X[:, 2] + (X[:, 4] % 3 == 0) + rng.normal(size=4000) > 1.5).astype(int)
    params = {"objective": "binary", "verbosity": -1, "min_data_per_group": 5, **missing}
    data = lgb.Dataset(X, y, categorical_feature=[4, 5], params=params)
    booster = lgb.train(params, data, 40)
    text = booster.model_to_string()
    kinds = {k for tree in compiled.parse(text).trees for k in tree.decision_type}
    assert any(k & 1 for k in kinds)  # categorical splits are among those compared
    library = compiled.CompiledModel(compiled.build(text, tmp_path, cc))
    rows = awkward_rows(rng, 20_000)
    expected = booster.predict(rows)
    assert np.array_equal(library.predict(rows, 1), expected)
    assert np.array_equal(library.predict(rows, 2), expected)
    # Scoring hands over Fortran-order matrices, read where they lie; any strides are read alike.
    assert np.array_equal(library.predict(np.asfortranarray(rows), 2), expected)
    assert np.array_equal(library.predict(rows[::-3], 2), expected[::-3])


def test_a_library_made_by_other_code_is_never_reused(tmp_path, monkeypatch):
    """The cache key carries a digest of the generating module's source, so a library built by
    an older generator (another `predict` signature) is not loaded: no version to bump by hand."""
    source = Path(compiled.__file__).read_text()
    copy = tmp_path / "compiled_copy.py"
    copy.write_text(source + "\n# one line more\n")
    spec = importlib.util.spec_from_file_location("compiled_copy", copy)
    changed = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, changed)  # its dataclasses look themselves up
    spec.loader.exec_module(changed)
    assert changed.CODEGEN != compiled.CODEGEN
    text = "objective=binary sigmoid:1\nmax_feature_idx=0\n"
    cc = sys.executable  # any program that answers --version: no compiler is needed here
    assert changed.library_key(text, cc) != compiled.library_key(text, cc)


def test_a_model_the_code_does_not_generate_is_refused_by_name():
    text = "tree\nobjective=regression\nmax_feature_idx=1\n"
    with pytest.raises(compiled.CompileError, match="binary only"):
        compiled.parse(text)


@pytest.fixture()
def folder(small_run, tmp_path):
    """A copy of the small run's exported model, so its compiled cache starts empty."""
    report = value(small_run, "evaluation_report")
    copy = tmp_path / "model"
    shutil.copytree(report["settings"]["output_dir"], copy)
    return copy


@pytest.fixture()
def awkward_batch():
    """A batch with missing values and unseen categories in every feature's kind."""
    frame = make_fraud_data(3000, 0.04, seed=5).drop(columns="is_fraud")
    rng = np.random.default_rng(1)
    for column in frame.columns:
        frame.loc[rng.random(len(frame)) < 0.05, column] = np.nan
    frame.loc[rng.random(len(frame)) < 0.05, "channel"] = "never seen"
    return frame


def test_the_bag_scores_and_probabilities_equal_lightgbms_exactly(
    folder, awkward_batch, monkeypatch
):
    needs_compiler()
    monkeypatch.setattr(fast_scoring, "COMPILE_FROM_ROWS", 0)
    plain = Model.load(folder)
    plain.compiled_cache = None
    expected, _ = score_batch(plain, awkward_batch)
    fast = Model.load(folder, n_jobs=2)
    scored, notes = score_batch(fast, awkward_batch)
    assert fast.scorer.startswith("scored with the compiled trees"), fast.scorer
    assert "compiled in" in fast.scorer
    assert plain.scorer == "scored with LightGBM"
    for column in ("score", "probability", "decision"):
        assert np.array_equal(scored[column], expected[column]), column
    assert notes.expected_positives == score_batch(plain, awkward_batch)[1].expected_positives
    assert np.array_equal(fast.predict_proba(awkward_batch), plain.predict_proba(awkward_batch))
    # A new process finds the libraries in the cache beside the export: no compile.
    again = Model.load(folder)
    score_batch(again, awkward_batch.iloc[:10])
    assert again.scorer == f"scored with the compiled trees ({folder / 'compiled'})"


def test_a_small_batch_is_scored_by_lightgbm_until_the_trees_are_compiled(folder, awkward_batch):
    needs_compiler()  # without one, the line says so instead (the next test)
    model = Model.load(folder)
    score_batch(model, awkward_batch)
    assert "compiled for a batch of 100,000 rows or more" in model.scorer
    assert not (folder / "compiled").exists()


def test_without_a_compiler_scoring_says_so_and_stays_with_lightgbm(
    folder, awkward_batch, monkeypatch
):
    monkeypatch.setattr(fast_scoring, "COMPILE_FROM_ROWS", 0)
    monkeypatch.setenv("CC", "no-such-compiler")
    model = Model.load(folder)
    scored, _ = score_batch(model, awkward_batch)
    assert model.scorer.startswith("scored with LightGBM: no C compiler"), model.scorer
    plain = Model.load(folder)
    plain.compiled_cache = None
    assert np.array_equal(scored["score"], score_batch(plain, awkward_batch)[0]["score"])


def test_a_library_that_differs_from_lightgbm_is_dropped_and_said(
    folder, awkward_batch, monkeypatch
):
    needs_compiler()
    monkeypatch.setattr(fast_scoring, "COMPILE_FROM_ROWS", 0)
    model = Model.load(folder)
    score_batch(model, awkward_batch.iloc[:50])
    first, second = fast_scoring.boosters(model.booster)[:2]
    # The first member given the second's library: its scores differ, so it must be caught.
    fast_scoring._LIBRARIES[first] = fast_scoring._LIBRARIES[second]
    fast_scoring._CHECKED.discard(first)
    scored, _ = score_batch(model, awkward_batch)
    assert model.scorer == fast_scoring.REFUSED
    plain = Model.load(folder)
    plain.compiled_cache = None
    assert np.array_equal(scored["score"], score_batch(plain, awkward_batch)[0]["score"])


def test_members_share_one_read_of_each_column(awkward_batch, small_run):
    """Each member's preprocessing through one `BatchColumns` gives what it gives alone."""
    deployed = value(small_run, "deployed_model")
    columns = BatchColumns(awkward_batch)
    for state in deployed["model"].inputs:
        pre = Preprocessor.from_json(state)
        alone = pre.transform(awkward_batch)
        assert np.array_equal(pre.transform(columns), alone, equal_nan=True)
        # What scoring asks for: the same values, each column in one piece.
        scoring = pre.transform(columns, order="F")
        assert scoring.flags.f_contiguous and np.array_equal(scoring, alone, equal_nan=True)
    assert columns._factors  # the categorical columns were factorized once, for all members


def test_a_library_others_may_change_is_never_loaded(folder, awkward_batch, monkeypatch):
    needs_compiler()
    monkeypatch.setattr(fast_scoring, "COMPILE_FROM_ROWS", 0)
    score_batch(Model.load(folder), awkward_batch.iloc[:20])
    library = next((folder / "compiled").glob("*.so"))
    library.chmod(0o777)  # anyone could have replaced it since
    model = Model.load(folder)
    score_batch(model, awkward_batch.iloc[:20])
    assert model.scorer.startswith(f"scored with LightGBM: {library} was written by another user")
