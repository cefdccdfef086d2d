"""One declaration per setting: what each affects, and every subset of settings derived from it.

A fit is reused when its recipe (its code, its inputs' contents and the settings it reads) is
unchanged, so a setting a fit reads but its recipe leaves out would hand back a stale fit with
no error. These tests read what the fits really read, and change each setting in turn.
"""

import dataclasses
import re
import sys
import typing

import dagster as dg
import numpy as np
import pandas as pd
import pydantic
import pytest
from conftest import graph

from imbal_pipeline.cli.arguments import GENERATED
from imbal_pipeline.cli.unchanged import WHERE_AND_WHEN, run_recipe
from imbal_pipeline.core import affects, inputs
from imbal_pipeline.core import settings as settings_core
from imbal_pipeline.core.data import data, split
from imbal_pipeline.core.evaluate import leak, learning
from imbal_pipeline.core.settings import LADDER, RUN, Settings
from imbal_pipeline.core.train import training
from imbal_pipeline.core.train.content import content_hash
from imbal_pipeline.core.train.preprocess import fit_preprocessor
from imbal_pipeline.defs.assets import data as data_assets
from imbal_pipeline.defs.assets.evaluation import LEAK_FIELDS
from imbal_pipeline.defs.assets.folds import SAMPLING_FIELDS
from imbal_pipeline.defs.assets.reuse import recipe_parts
from imbal_pipeline.defs.assets.training import MODEL_FIELDS
from imbal_pipeline.defs.resources import PipelineConfig

NAMES = frozenset(f.name for f in settings_core.fields())
FITS = {
    "fold_training_sets": SAMPLING_FIELDS,
    "fold_models": MODEL_FIELDS,
    "leak_panel": LEAK_FIELDS,
    "learning_curve_part": MODEL_FIELDS,
}


def test_every_setting_declares_what_it_affects_in_the_known_words():
    for field in settings_core.fields():
        declared = field.metadata["affects"]
        assert declared and declared <= affects.AFFECTS.keys(), field.name
    with pytest.raises(ImportError, match="a setting affects one or more of data, "):
        settings_core.setting(1, "a new setting", affects="the weather")
    with pytest.raises(ImportError):
        settings_core.setting(1, "a new setting", affects=())


def test_the_subsets_are_the_declared_ones():
    assert {"generated_rows", "generated_positive_rate"} == GENERATED
    assert {"executor", "dask_address", "retrain_cron"} == WHERE_AND_WHEN
    assert settings_core.result_free() == {
        "output_dir",
        "contracts_dir",
        "store",
        "inbox",
        "scored_dir",
        *WHERE_AND_WHEN,
    }
    assert set(SAMPLING_FIELDS) < set(MODEL_FIELDS) < set(LEAK_FIELDS)
    # The threshold's settings change no fit: a new objective reuses every fold model.
    assert not set(settings_core.affecting(affects.THRESHOLD)) & set(LEAK_FIELDS)


# --- what the fits read ----------------------------------------------------------------------

READ: set[str] = set()


class _Recording(Settings):
    """Settings that note each setting read, except by the settings' own code (validation, the
    properties) and dataclasses' (a copy made with `replace` reads every field)."""

    def __getattribute__(self, name):
        if name in NAMES:
            caller = sys._getframe(1).f_code.co_filename
            if caller not in (settings_core.__file__, dataclasses.__file__):
                READ.add(name)
        return super().__getattribute__(name)


def _reads(fit) -> set[str]:
    READ.clear()
    fit()
    return set(READ)


@pytest.fixture(scope="module")
def small():
    s = _Recording(
        generated_rows=400,
        generated_positive_rate=0.08,
        n_folds=3,
        n_estimators=4,
        smoteenn_max_rows=10_000,
    )
    raw, _ = inputs.load_raw(s)
    marked, _, _ = inputs.split_raw(raw, s)
    train = split.training_part(marked)
    folds = split.make_folds(train, s.n_folds, s.seed)
    return s, marked, train, folds


def test_every_setting_a_fit_reads_is_in_its_recipe(small):
    s, marked, train, folds = small
    sets = []

    def fold_training_sets():
        schema = data.feature_schema(train, s)
        sets.append(training.build_fold_training_sets(train, folds, 0, schema, s))

    schema = data.feature_schema(train, s)
    read = {
        "fold_training_sets": _reads(fold_training_sets),
        "fold_models": _reads(lambda: training.fit_fold_models(sets[0], s)),
        "leak_panel": _reads(lambda: leak.leaky_claim(marked, data.feature_schema(marked, s), s)),
        "learning_curve_part": _reads(
            lambda: learning.curve_part(train, folds, schema, "smote", s, 0, 2)
        ),
    }
    reused_across = set(settings_core.affecting(affects.THREADS, only=True))
    for fit, fields in FITS.items():
        assert "seed" in read[fit], fit  # the recording sees what the fits read
        assert read[fit] - reused_across <= set(fields), fit
    assert {"strategies", "sampling_ratio", "smoteenn_max_rows"} <= read["fold_training_sets"]
    assert {"n_estimators", "num_leaves", "learning_rate"} <= read["fold_models"]
    assert "holdout_fraction" in read["leak_panel"]


# --- changing each setting in turn -------------------------------------------------------------

OTHER = {
    "positive_label": "1",
    "test_data_path": "later.csv",
    "id_column": "id",
    "group": "customer",
    "categorical": ("kind",),
    "subgroups": ("region",),
    "drop": ("row",),
    "sep": ";",
    "encoding": "latin-1",
    "decimal": ";",
    "thousands": "'",
    "contract_path": "suite.json",
    "strategies": LADDER[:3],
    "executor": "in_process",
    "dask_address": "tcp://10.0.0.5:8786",
    "retrain_cron": "0 4 * * 2",
    "store": "s3://bucket/values",
    "contracts_dir": "contracts",
}


def _another(field: dataclasses.Field):
    """A valid value of the setting other than its default."""
    if field.name in OTHER:
        return OTHER[field.name]
    kind = settings_core.types()[field.name]
    if typing.get_origin(kind) is typing.Literal:
        return next(v for v in typing.get_args(kind) if v != field.default)
    if kind is bool:
        return not field.default
    if kind is int:
        return field.default + 1
    if kind is float:
        return field.default * 0.9
    return f"{field.default}-other"


def _fit_recipes(s: Settings) -> dict[str, str]:
    return {
        fit: content_hash(recipe_parts(fit, "code", {}, s, fields)) for fit, fields in FITS.items()
    }


def _report(s: Settings) -> dict:
    """A report as the graph stores it, as far as the settings go."""
    return {"settings": s.to_dict(), "run_id": "r", "generated_at": "now", "checks": []}


@pytest.mark.parametrize("field", settings_core.fields(), ids=lambda f: f.name)
def test_changing_a_setting_changes_exactly_the_recipes_and_versions_it_affects(field, tmp_path):
    base = Settings(output_dir=str(tmp_path / "out"), inbox=str(tmp_path / "in"))
    value = _another(field)
    if field.name == "contract_path":  # a run's recipe reads the suite's bytes
        value = tmp_path / value
        value.write_text('{"expectations": []}')
    changed = dataclasses.replace(
        base, **{field.name: str(value) if field.metadata["path"] else value}
    )
    fits = _fit_recipes(base)
    refits = {fit for fit, recipe in _fit_recipes(changed).items() if recipe != fits[fit]}
    assert refits == {fit for fit, fields in FITS.items() if field.name in fields}
    free = field.name in settings_core.result_free()
    assert (content_hash(_report(changed)) == content_hash(_report(base))) == free
    same_run = run_recipe(changed, "code", "data") == run_recipe(base, "code", "data")
    assert same_run == (field.name in WHERE_AND_WHEN)


# --- run context is left out by where it lives, never by its name ------------------------------


def test_a_feature_named_like_a_setting_or_the_run_is_content():
    rng = np.random.default_rng(0)
    columns = ("store", "output_dir", "run_id", "checks", "generated_at")
    frame = pd.DataFrame({c: rng.normal(size=50) for c in columns})
    schema = {"numeric": list(columns), "categorical": []}
    fitted = fit_preprocessor(frame, schema, np.arange(50)).to_json()
    for column in columns:
        moved = fit_preprocessor(frame.assign(**{column: frame[column] + 1}), schema, np.arange(50))
        assert content_hash(moved.to_json()) != content_hash(fitted), column
        nested = {"meta": {"preprocessor": moved.to_json()}}
        assert content_hash(nested) != content_hash({"meta": {"preprocessor": fitted}}), column


def test_the_run_context_is_left_out_where_it_lives():
    report = _report(Settings())
    same = {
        **report,
        "run_id": "another run",
        "generated_at": "later",
        "checks": [{"check": "contract", "passed": True}],
        "settings": {**report["settings"], "output_dir": "elsewhere", "executor": "dask"},
    }
    assert content_hash(same) == content_hash(report)
    other = {**report, "settings": {**report["settings"], "n_estimators": 1}}
    assert content_hash(other) != content_hash(report)
    model = {"meta": {"run_id": "a", "threshold": 0.5}}
    assert content_hash({"meta": {"run_id": "b", "threshold": 0.5}}) == content_hash(model)
    assert content_hash({"meta": {"run_id": "a", "threshold": 0.4}}) != content_hash(model)
    # The same words one level deeper are content.
    assert content_hash({"x": {"run_id": "a"}}) != content_hash({"x": {"run_id": "b"}})
    assert content_hash({"x": {"settings": {"store": "a"}}}) != content_hash(
        {"x": {"settings": {"store": "b"}}}
    )


# --- the Launchpad's resource carries each setting's bounds --------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("n_estimators", 0, "n_estimators must be a whole number from 1 to 100000, got 0"),
        ("learning_rate", float("nan"), "learning_rate must be a finite number in (0, 1], got nan"),
        ("recall_target", 1.5, "recall_target must be a finite number in (0, 1], got 1.5"),
        ("seed", True, "seed must be a whole number from 0 to 4294967295, got True"),
    ],
)
def test_the_pipeline_resource_refuses_a_value_out_of_the_settings_range(name, value, said):
    with pytest.raises(pydantic.ValidationError, match=re.escape(said)):
        PipelineConfig(**{name: value})


def test_every_declared_bound_is_on_the_resources_field():
    for field in settings_core.fields(RUN):
        bounds = field.metadata["bounds"]
        metadata = {
            type(m).__name__.lower(): m for m in PipelineConfig.model_fields[field.name].metadata
        }
        for kind in ("ge", "gt", "le", "lt"):
            declared = getattr(bounds, kind) if bounds else None
            assert getattr(metadata.get(kind), kind, None) == declared, (field.name, kind)


def test_a_run_given_an_out_of_range_value_fails_in_the_settings_words(tmp_path):
    defs = graph(tmp_path)
    result = dg.materialize(
        [data_assets.raw_data],
        resources=defs.resources,
        run_config={"resources": {"pipeline": {"config": {"num_leaves": 1}}}},
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_failure)
    assert "num_leaves must be a whole number from 2 to 131072, got 1" in str(
        failure.event_specific_data.error
    )
