"""Hash what is read; serve nothing its digest does not vouch for.

A run's data version is the digest of the bytes it parsed, not of what the path holds later; a
recipe, `latest.json` and an exported model are each checked against what they point at.
"""

import dataclasses
import json
import shutil
from pathlib import Path

import dagster as dg
import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from conftest import graph, training_assets

import imbal_pipeline
from imbal_pipeline.cli import commands as cli
from imbal_pipeline.core import inputs
from imbal_pipeline.core.data import data, versions
from imbal_pipeline.core.data.data import ReadOptions
from imbal_pipeline.core.data.synthetic import make_fraud_data
from imbal_pipeline.core.data.versions import file_digest
from imbal_pipeline.core.jsonready import json_ready
from imbal_pipeline.core.monitor.deployed import Model, ModelFileError, model_meta
from imbal_pipeline.core.monitor.monitoring import build_reference
from imbal_pipeline.core.settings import Settings
from imbal_pipeline.core.train import model as model_core
from imbal_pipeline.core.train import preprocess
from imbal_pipeline.core.train.content import recipe_of, with_recipe
from imbal_pipeline.core.values import Bag
from imbal_pipeline.defs.lineage import DATA_VERSION_TAG
from imbal_pipeline.store.champion import Champions
from imbal_pipeline.store.models import champion_version
from imbal_pipeline.store.storage import AssetStore, CorruptValueError, content_hash

# --- the data version is what was parsed ---------------------------------------------------


@pytest.mark.parametrize("name", ["t.csv", "t.csv.gz", "t.parquet"])
def test_a_table_is_hashed_as_it_is_parsed(tmp_path, name):
    frame = pd.DataFrame({"x": np.arange(5000) / 7, "y": ["a", "b"] * 2500})
    path = tmp_path / name
    if name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    read = versions.TableReader(ReadOptions())
    pd.testing.assert_frame_equal(read(path), data.read_table(path))
    assert read.digests == {str(path): file_digest(path)}


def test_a_text_files_repeated_names_are_found_in_the_bytes_parsed(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,a\n1,2,3\n")
    with pytest.raises(data.DataError, match="duplicate column name 'a' in t.csv"):
        data.read_table_hashed(tmp_path / "t.csv")


def test_the_version_of_what_was_read_survives_the_file_being_replaced(tmp_path):
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    full = make_fraud_data(1200, 0.05, seed=3)
    full.iloc[:900].to_csv(train, index=False)
    full.iloc[900:].to_csv(test, index=False)
    s = Settings(data_path=str(train), test_data_path=str(test))
    read = versions.TableReader(s.read_options)
    inputs.split_raw(inputs.load_raw(s, read)[0], s, read)
    parsed = versions.data_fingerprint(s)
    full.iloc[950:].to_csv(test, index=False)  # replaced after the run read it
    assert versions.data_fingerprint(s, read.digests) == parsed
    assert versions.data_fingerprint(s) != parsed


def test_files_replaced_mid_run_are_recorded_as_the_bytes_each_step_parsed(tmp_path, monkeypatch):
    """The raw file is replaced just after `raw_data` read it, the holdout file just before
    `holdout_split` reads it: the lineage names the raw file and the holdout file parsed."""
    full = make_fraud_data(3000, 0.04, seed=7)
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    full.iloc[:2400].to_csv(train, index=False)
    full.iloc[2400:].to_csv(test, index=False)
    raw_parsed = file_digest(train)
    load_raw, split_raw = inputs.load_raw, inputs.split_raw

    def load_then_replace(settings, *read):
        out = load_raw(settings, *read)
        full.iloc[:2300].to_csv(train, index=False)
        return out

    def replace_then_split(raw, settings, *read):
        full.iloc[2500:].to_csv(test, index=False)
        return split_raw(raw, settings, *read)

    monkeypatch.setattr(inputs, "load_raw", load_then_replace)
    monkeypatch.setattr(inputs, "split_raw", replace_then_split)
    defs = graph(tmp_path, data_path=str(train), test_data_path=str(test))
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            training_assets(defs),
            selection=dg.AssetSelection.assets("raw_file", "raw_data", "holdout_split"),
            instance=instance,
            resources=defs.resources,
        )
    observed = [
        e.event_specific_data.asset_observation.tags[DATA_VERSION_TAG]
        for e in result.all_events
        if e.event_type_value == "ASSET_OBSERVATION"
    ]
    tags = {
        e.asset_key.to_user_string(): e.step_materialization_data.materialization.tags
        for e in result.get_asset_materialization_events()
    }
    parsed = f"{raw_parsed}-{file_digest(test)}"
    assert observed[-1] == parsed != observed[0]
    assert tags["holdout_split"]["dagster/input_data_version/raw_file"] == parsed


def test_a_run_is_not_unchanged_for_data_it_did_not_read(tmp_path):
    """The recipe tag says what the files held at launch; the run's record says what it read."""
    from imbal_pipeline.cli.unchanged import RECIPE_TAG, unchanged_run

    @dg.asset(name="evaluation_report")
    def report(context: dg.AssetExecutionContext):
        context.log_event(dg.AssetObservation("raw_file", tags={DATA_VERSION_TAG: "as-read"}))
        html = tmp_path / "report.html"
        html.write_text("report")
        (tmp_path / "report.json").write_text(json.dumps({"run_id": context.run.run_id}))
        return dg.MaterializeResult(metadata={"report": str(html)})

    with dg.DagsterInstance.ephemeral() as instance:
        run = dg.materialize([report], instance=instance, tags={RECIPE_TAG: "r"})
        assert unchanged_run(instance, "r", "as-read").run_id == run.run_id
        assert unchanged_run(instance, "r", "at-launch") is None


# --- the store: a recipe and latest.json are vouched for -----------------------------------


def _booster(seed: int = 0, rounds: int = 5) -> lgb.Booster:
    rng = np.random.default_rng(seed)
    X, y = rng.normal(size=(300, 2)), rng.integers(0, 2, 300)
    params = {"objective": "binary", "verbosity": -1, "num_threads": 1, "seed": seed}
    return lgb.train(params, lgb.Dataset(X, y), num_boost_round=rounds)


def _made(trees: int) -> tuple[dict, str]:
    """A value as a fit stores it, carrying its recipe, and that recipe."""
    value = with_recipe({"trees": trees}, {"asset": "fold_models", "config": {"trees": trees}})
    return value, recipe_of(value)


def _two_versions(tmp_path):
    store = AssetStore(tmp_path)
    (sixty, r60), (thirty, r30) = _made(60), _made(30)
    for recipe, value in ((r60, sixty), (r30, thirty)):
        store.write("fold_models", value, content_hash(value), "passed", f"run-{recipe}")
        store.remember("fold_models", recipe, content_hash(value))
    return store, content_hash(sixty), content_hash(thirty)


def test_a_recipe_pointed_at_another_whole_version_is_not_reused(tmp_path):
    store, sixty, _ = _two_versions(tmp_path)
    (thirty, r30), (_, r60) = _made(30), _made(60)
    assert store.recall("fold_models", r30) == thirty
    (tmp_path / "fold_models" / "recipes" / f"{r30}.json").write_text(
        json.dumps({"version": sixty})
    )
    assert store.recall("fold_models", r30) is None  # refitted, never the 60 trees
    # Nor with a record in the other version's folder vouching for this recipe, as the
    # attack wrote one: what made a value is inside it, covered by its version.
    records = tmp_path / "fold_models" / "versions" / sixty / "recipes"
    records.mkdir(parents=True, exist_ok=True)
    (records / f"{r30}.json").write_text(json.dumps({"recipe": r30, "version": sixty}))
    assert store.recall("fold_models", r30) is None
    assert store.recall("fold_models", r60)["trees"] == 60


def test_a_value_whose_own_recipe_is_another_is_never_served_for_it(tmp_path):
    store, _, thirty = _two_versions(tmp_path)
    store.remember("fold_models", "0123456789abcdef", thirty)  # an index entry alone
    assert store.recall("fold_models", "0123456789abcdef") is None
    # A recipe edited inside the value changes its content, so its version no longer matches:
    # the value is damaged, never served.
    stored = tmp_path / "fold_models" / "versions" / thirty / "manifest.json"
    manifest = json.loads(stored.read_text())
    manifest["values"]["made_from"]["recipe"] = "0123456789abcdef"
    stored.write_text(json.dumps(manifest))
    with pytest.raises(CorruptValueError, match="its content hashes to"):
        store.load("fold_models", thirty)
    assert store.recall("fold_models", "0123456789abcdef") is None


def test_a_value_stored_before_values_carried_their_recipe_is_refitted_once(tmp_path):
    store, old = AssetStore(tmp_path), {"trees": 30}  # as older releases stored it, vouched
    store.write("fold_models", old, content_hash(old), "passed", "run-1")
    store.remember("fold_models", "0123456789abcdef", content_hash(old))
    records = tmp_path / "fold_models" / "versions" / content_hash(old) / "recipes"
    records.mkdir(parents=True)
    (records / "0123456789abcdef.json").write_text(
        json.dumps({"recipe": "0123456789abcdef", "version": content_hash(old)})
    )
    assert store.recall("fold_models", "0123456789abcdef") is None  # no error: refitted
    refit, recipe = _made(30)
    store.write("fold_models", refit, content_hash(refit), "passed", "run-2")
    store.remember("fold_models", recipe, content_hash(refit))
    assert store.recall("fold_models", recipe) == refit


def test_a_stage_value_carries_its_recipe_and_an_older_one_keeps_its_version():
    from imbal_pipeline.core.values import FoldModels

    older = FoldModels(
        fold=0,
        strategies=[],
        models={},
        oof=pd.DataFrame({"x": [1]}),
        fit_info={},
        skipped={},
        audits={},
        preprocessor={},
    )
    made = with_recipe(older, {"asset": "fold_0_models", "config": {"n_estimators": 30}})
    assert recipe_of(older) is None and recipe_of(made) == made.made_from["recipe"]
    assert content_hash(made) != content_hash(older)
    # A value stored before the field existed reads back with it empty and hashes as it did:
    # as the class without the field hashes it.
    fields = [f.name for f in dataclasses.fields(FoldModels) if f.name != "made_from"]
    before = dataclasses.make_dataclass("FoldModels", fields, frozen=True)
    assert content_hash(older) == content_hash(before(**{f: getattr(older, f) for f in fields}))


def test_a_forged_recipe_record_never_serves_the_fits_of_other_settings(tmp_path):
    # The attack: after a 40-tree and a 30-tree run, the 30-tree recipe's index and a record in
    # the 40-tree version's folder both named the 40-tree version; `--trees 30 --force` then
    # reused the 40-tree fits while the report said 30 trees.
    keys = ("raw_file", "raw_data", "holdout_split", "cv_folds", "fold_0_training_sets")

    def run(trees: int) -> dict:
        defs = graph(tmp_path, n_estimators=trees, strategies=("none",))
        # An in-memory instance: what is under test is the store's records, not the event log.
        result = dg.materialize(
            training_assets(defs),
            selection=dg.AssetSelection.assets(*keys, "fold_0_models"),
            resources=defs.resources,
        )
        (event,) = [
            e
            for e in result.get_asset_materialization_events()
            if e.asset_key.to_user_string() == "fold_0_models"
        ]
        meta = event.step_materialization_data.materialization.metadata
        return {k: getattr(v, "value", v) for k, v in meta.items()}

    forty, thirty = run(40), run(30)
    v40, r30 = forty["content_version"], thirty["recipe"]
    folder = tmp_path / "storage" / "fold_0_models"
    (folder / "recipes" / f"{r30}.json").write_text(json.dumps({"version": v40}))
    vouch = folder / "versions" / v40 / "recipes" / f"{r30}.json"
    vouch.parent.mkdir(parents=True, exist_ok=True)
    vouch.write_text(json.dumps({"recipe": r30, "version": v40}))
    again = run(30)
    assert again["reused_without_refit"] is False
    assert again["content_version"] == thirty["content_version"] != v40
    value = AssetStore(tmp_path / "storage").load("fold_0_models", again["content_version"])
    assert value.made_from["config"]["n_estimators"] == 30
    assert value.models["none"].num_trees() <= 30
    assert run(30)["reused_without_refit"] is True  # the index rewritten by the refit


def test_a_hand_edited_latest_json_is_refused(tmp_path):
    store, sixty, thirty = _two_versions(tmp_path)
    assert store.latest("fold_models")["version"] == thirty
    latest = tmp_path / "fold_models" / "latest.json"
    latest.write_text(json.dumps({**json.loads(latest.read_text()), "version": sixty}))
    with pytest.raises(CorruptValueError) as caught:
        store.load("fold_models")
    message = str(caught.value)
    assert "latest fold_models" in message and "not the newest write in its history" in message
    assert "rematerialize fold_models" in message and "\n" not in message


def test_a_version_copied_in_with_an_edited_latest_json_is_never_served(tmp_path):
    mine, theirs = AssetStore(tmp_path / "mine"), AssetStore(tmp_path / "theirs")
    booster = _booster()
    for store, threshold in ((mine, 0.3), (theirs, 0.9)):
        value = {"model": booster, "meta": {"threshold": threshold}}
        store.write("deployed_model", value, content_hash(value), "passed", "run")
    foreign = theirs.latest("deployed_model")["version"]
    shutil.copytree(
        tmp_path / "theirs" / "deployed_model" / "versions" / foreign,
        tmp_path / "mine" / "deployed_model" / "versions" / foreign,
    )
    own = mine.latest("deployed_model")["version"]
    Champions(mine).promote(own, "in service", "tester")
    latest = tmp_path / "mine" / "deployed_model" / "latest.json"
    latest.write_text(json.dumps({**json.loads(latest.read_text()), "version": foreign}))
    # The champion records, not latest.json, say what is in service (what `load_model()`,
    # `score` and the inbox read): the copy is never served.
    assert champion_version(Champions(mine), "mine") == own
    # A history record written by hand beside it changes nothing either.
    record = {"version": foreign, "gate": "passed", "run_id": "run", "time": "2099-01-01"}
    (tmp_path / "mine" / "deployed_model" / "history" / "29990101T0-x.json").write_text(
        json.dumps(record)
    )
    assert champion_version(Champions(mine), "mine") == own
    # Nor is it served when the champion pointer is edited to name it.
    pointer = tmp_path / "mine" / "deployed_model" / "champion.json"
    pointer.write_text(json.dumps({**json.loads(pointer.read_text()), "version": foreign}))
    with pytest.raises(ModelFileError, match="not the newest champion record"):
        imbal_pipeline.load_model(store=str(tmp_path / "mine"))


def test_writers_that_overlap_leave_latest_json_at_the_newest_write(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    store = AssetStore(tmp_path)

    def write(i: int) -> None:
        store.write("raw_data", {"i": i}, content_hash({"i": i}), "passed", f"run-{i}")
        store.latest("raw_data")  # a reader among the writers is never refused

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, range(40)))
    assert store.latest("raw_data") == store.history("raw_data")[-1]


# --- the export: its version is checked against its files ----------------------------------


def _export(folder: Path, *, bagged: bool = False) -> str:
    """A small model exported as a run exports one; its version."""
    frame = pd.DataFrame({"a": np.linspace(0, 1, 300), "b": np.linspace(1, 0, 300)})
    pre = preprocess.fit_preprocessor(
        frame, {"numeric": ["a", "b"], "categorical": []}, np.arange(300)
    )
    trees = model_core.Bagged([_booster(0), _booster(1)]) if bagged else _booster()
    final = Bag("none", trees, pre.to_json(), {}, {}, threshold=0.5, objective="f1")
    # The reference of 300 holdout and 900 out-of-fold scores (the bag's members' own).
    scores = np.linspace(0, 1, 300) ** 8
    y = (np.arange(300) % 30 == 0).astype(int)
    reference = build_reference(frame, pre, y, scores, np.tile(scores, 3), 0.5, beta=1.0)
    meta = model_meta(
        final,
        reference=reference,
        positive_label="1",
        negative_labels=["0"],
        target="y",
        id_column=None,
        read_options=ReadOptions(),
        beta=1.0,
        run_id="run-1",
    )
    value = {"model": trees, "meta": json_ready(meta, strict=True)}
    version = content_hash(value)  # the stored deployed_model's data version
    Model(trees, {**value["meta"], "version": version}).save(folder)
    return version


def _edit_json(folder: Path, **changes) -> None:
    path = folder / "model.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


@pytest.mark.parametrize("bagged", [False, True])
def test_an_export_is_the_version_it_claims(tmp_path, bagged):
    version = _export(tmp_path, bagged=bagged)
    assert Model.load(tmp_path).version == version
    _edit_json(tmp_path, run_id="another run")  # run context, not content: still the same model
    assert imbal_pipeline.load_model(tmp_path).version == version


def test_an_edited_threshold_in_model_json_is_refused(tmp_path):
    version = _export(tmp_path)
    _edit_json(tmp_path, threshold=0.0001)
    for load in (Model.load, imbal_pipeline.load_model):
        with pytest.raises(ModelFileError) as caught:
            load(tmp_path)
        message = str(caught.value)
        assert f"model.json does not match the model version it claims ({version}" in message
        assert message.endswith("export the model again") and "\n" not in message


@pytest.mark.parametrize("bagged", [False, True])
def test_a_replaced_model_txt_with_its_digest_fixed_is_refused(tmp_path, bagged):
    import hashlib

    _export(tmp_path, bagged=bagged)
    other = model_core.Bagged([_booster(0), _booster(2)]) if bagged else _booster(seed=3)
    text = model_core.model_text(other)
    (tmp_path / "model.txt").write_text(text)
    _edit_json(tmp_path, model_sha256=hashlib.sha256(text.encode()).hexdigest())
    with pytest.raises(ModelFileError, match="does not match the model version it claims"):
        Model.load(tmp_path)


def test_an_export_without_its_version_is_refused_with_what_to_do(tmp_path):
    _export(tmp_path)
    meta = json.loads((tmp_path / "model.json").read_text())
    del meta["version"]
    (tmp_path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="claims \\(None;.*export the model again"):
        Model.load(tmp_path)


def test_score_refuses_an_edited_export_in_one_line(tmp_path, capsys):
    _export(tmp_path / "model")
    batch = tmp_path / "batch.csv"
    pd.DataFrame({"a": [0.1, 0.9], "b": [0.5, 0.5]}).to_csv(batch, index=False)
    args = ["score", "--model", str(tmp_path / "model"), "--data", str(batch)]
    assert cli.main([*args, "--out", str(tmp_path / "before.csv")]) == 0
    _edit_json(tmp_path / "model", threshold=0.0001)
    assert cli.main([*args, "--out", str(tmp_path / "after.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert "model.json does not match the model version it claims" in err and "\n" not in err
    assert not (tmp_path / "after.csv").exists()
