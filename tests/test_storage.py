"""Storage and export: Parquet, LightGBM text and JSON, never a pickle."""

import json
from pathlib import Path

import dagster as dg
import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from conftest import data_versions, training_assets, value

from imbal_pipeline.core.data.split import HOLDOUT
from imbal_pipeline.core.monitor.deployed import Model, ModelFileError
from imbal_pipeline.core.settings import LABEL, SPLIT, Settings
from imbal_pipeline.core.train import model as model_core
from imbal_pipeline.core.train.content import recipe_of, with_recipe
from imbal_pipeline.core.values import fields_of
from imbal_pipeline.store.storage import (
    MANIFEST,
    AssetStore,
    CorruptValueError,
    StoreNameError,
    content_hash,
    read_bundle,
    write_bundle,
)


def _booster():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 3)), rng.integers(0, 2, 200)
    return lgb.train(
        {"objective": "binary", "verbosity": -1, "num_threads": 1},
        lgb.Dataset(X, y),
        num_boost_round=3,
    ), X


def test_bundle_round_trip_without_pickles(tmp_path):
    booster, X = _booster()
    frame = pd.DataFrame({"a b": [1.0, 2.0], "ü": ["x", "y"]})
    write_bundle(
        tmp_path / "thing",
        {"table": frame, "model__none": booster, "info": {"k": np.int64(3), "t": (1, 2)}},
    )
    files = sorted(p.name for p in (tmp_path / "thing").iterdir())
    assert files == ["manifest.json", "model__none.txt", "table.parquet"]
    back = read_bundle(tmp_path / "thing")
    pd.testing.assert_frame_equal(back["table"], frame)
    np.testing.assert_array_equal(back["model__none"].predict(X), booster.predict(X))
    assert back["info"] == {"k": 3, "t": [1, 2]}
    write_bundle(tmp_path / "frame", frame)
    pd.testing.assert_frame_equal(read_bundle(tmp_path / "frame"), frame)


def test_a_stage_value_comes_back_as_its_own_class_with_its_models_by_name(tmp_path):
    from imbal_pipeline.core.values import Comparison, FoldModels

    booster, X = _booster()
    oof = pd.DataFrame({"__row_id": [1, 2], "score": [0.2, 0.7]})
    fitted = FoldModels(
        fold=1,
        strategies=["none", "smote"],
        models={"none": booster},
        oof=oof,
        fit_info={"none": {"rows": 200}},
        skipped={"smote": "too few positives"},
        audits={},
        preprocessor={"numeric": ["a"]},
    )
    write_bundle(tmp_path / "v", fitted)
    files = sorted(p.name for p in (tmp_path / "v").iterdir())
    assert files == ["manifest.json", "models.none.txt", "oof.parquet"]
    back = read_bundle(tmp_path / "v")
    assert type(back) is FoldModels and back.skipped == fitted.skipped and back.fold == 1
    np.testing.assert_array_equal(back.models["none"].predict(X), booster.predict(X))
    pd.testing.assert_frame_equal(back.oof, oof)
    assert content_hash(back) == content_hash(fitted)
    # The kind is part of the content: the same fields as a plain dict are another value.
    assert content_hash(fitted) != content_hash(fields_of(fitted))
    # Keys JSON writes as text come back as the numbers they were declared as (folds).
    compared = Comparison({}, "none", "none", "only one", oof, audits={0: {}, 1: {}})
    write_bundle(tmp_path / "c", compared)
    assert read_bundle(tmp_path / "c").audits == {0: {}, 1: {}}


def test_failed_write_leaves_the_previous_bundle_whole(tmp_path):
    write_bundle(tmp_path / "x", {"v": 1})

    class Unserializable:
        pass

    with pytest.raises(TypeError):
        write_bundle(tmp_path / "x", {"v": Unserializable()})
    assert read_bundle(tmp_path / "x") == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x"]  # no temp debris


def test_no_stored_asset_is_a_pickle(small_run):
    report = value(small_run, "evaluation_report")
    storage = Path(report["settings"]["output_dir"]).parent / "storage"
    assert len(list(storage.iterdir())) == 24  # every asset of a 3-fold graph, batches aside
    suffixes = {p.suffix for p in storage.rglob("*") if p.is_file()}
    assert suffixes <= {".json", ".jsonl", ".parquet", ".txt"}, suffixes


def test_exported_model_reproduces_the_reported_holdout_decisions(small_run):
    report = value(small_run, "evaluation_report")
    model = Model.load(report["settings"]["output_dir"])
    assert model.threshold == report["threshold"]["value"]
    split = value(small_run, "holdout_split")
    holdout = split[split[SPLIT] == HOLDOUT]
    pred = model.predict(holdout) == 1
    y = holdout[LABEL].to_numpy()
    cm = [
        [int(((y == 0) & ~pred).sum()), int(((y == 0) & pred).sum())],
        [int(((y == 1) & ~pred).sum()), int(((y == 1) & pred).sum())],
    ]
    assert cm == report["holdout"]["confusion_matrix"]
    assert json.loads(json.dumps(model.meta))  # plain JSON
    assert "baseline_holdout_tuned" in report


def test_store_keeps_every_version_and_never_overwrites(tmp_path):
    store = AssetStore(tmp_path)
    first, second = pd.DataFrame({"a": [1, 2]}), pd.DataFrame({"a": [1, 3]})
    v1, v2 = content_hash(first), content_hash(second)
    assert v1 != v2 and content_hash(first.copy()) == v1
    store.write("raw_data", first, v1, "passed", "run-1")
    written = (tmp_path / "raw_data" / "versions" / v1 / "value.parquet").stat().st_mtime_ns
    store.write("raw_data", second, v2, "passed", "run-2")
    store.write("raw_data", first, v1, "passed", "run-3")  # same content again
    assert (tmp_path / "raw_data" / "versions" / v1 / "value.parquet").stat().st_mtime_ns == (
        written
    )
    assert [r["run_id"] for r in store.history("raw_data")] == ["run-1", "run-2", "run-3"]
    assert store.latest("raw_data")["version"] == v1
    pd.testing.assert_frame_equal(store.load("raw_data", v2), second)
    pd.testing.assert_frame_equal(store.load("raw_data"), first)
    with pytest.raises(FileNotFoundError, match="has no version 0000000000000000"):
        store.load("raw_data", "0" * 16)
    # The versions it names are the recent ones, newest first, each once (v1 was written twice).
    with pytest.raises(FileNotFoundError, match=rf"\(recent: {v1}, {v2}\)$"):
        store.load("raw_data", "0" * 16)


def test_content_hash_ignores_run_context_but_not_content():
    report = {
        "holdout": {"f1": 0.5},
        "generated_at": "t1",
        "run_id": "a",
        "settings": {"seed": 0, "output_dir": "/x"},
    }
    same = {
        **report,
        "generated_at": "t2",
        "run_id": "b",
        "settings": {"seed": 0, "output_dir": "/y"},
    }
    assert content_hash(report) == content_hash(same)
    assert content_hash(report) != content_hash({**report, "holdout": {"f1": 0.6}})
    assert content_hash(report) != content_hash({**report, "settings": {"seed": 1}})


def test_same_data_config_and_seed_give_identical_data_versions(small_run, small_run_again):
    first, second = data_versions(small_run), data_versions(small_run_again)
    assert len(first) == 24
    assert first == second


def test_inputs_are_pinned_to_recorded_versions_not_the_newest_file(tmp_path):
    import dagster as dg
    from conftest import graph

    from imbal_pipeline.core.data.synthetic import make_fraud_data

    defs = graph(tmp_path)
    assets, resources = training_assets(defs), defs.resources
    with dg.DagsterInstance.ephemeral() as instance:
        first = dg.materialize(assets, selection="raw_data", resources=resources, instance=instance)
        recorded = first.asset_value("raw_data")
        # A concurrent writer puts another version in the store before recording it.
        other = recorded.head(100)
        AssetStore(tmp_path / "storage").write(
            "raw_data", other, content_hash(other), "passed", "other-run"
        )
        second = dg.materialize(
            assets, selection="holdout_split", resources=resources, instance=instance
        )
        split = second.asset_value("holdout_split")
    assert len(split) == len(recorded) == len(make_fraud_data(3000, 0.04, 0))


# --- a store that verifies what it serves ----------------------------------------------------


def _stored_model(tmp_path):
    booster, X = _booster()
    value = {"model": booster, "threshold": 0.3}
    version = content_hash(value)
    store = AssetStore(tmp_path)
    path = store.write("final_model", value, version, "passed", "run-1")
    store.remember("final_model", "recipe-1", version)
    return store, version, path / "model.txt", X


def _same_length_edit(path: Path) -> None:
    text = path.read_text()
    at = text.index("leaf_value=") + len("leaf_value=")
    digit = "1" if text[at] != "1" else "2"
    path.write_text(text[:at] + digit + text[at + 1 :])
    assert len(path.read_text()) == len(text)


def test_a_same_length_edit_of_a_stored_model_is_refused_and_never_served(tmp_path):
    store, version, model_txt, _ = _stored_model(tmp_path)
    _same_length_edit(model_txt)
    with pytest.raises(CorruptValueError) as caught:
        store.load("final_model", version)
    message = str(caught.value)
    assert f"stored final_model version {version} is damaged" in message
    assert "model.txt does not match" in message and "\n" not in message
    assert store.recall("final_model", "recipe-1") is None  # the cache rebuilds instead


def test_a_truncated_model_is_refused_before_lightgbm_reads_it(tmp_path):
    store, version, model_txt, _ = _stored_model(tmp_path)
    model_txt.write_text(model_txt.read_text()[:200])  # LightGBM would abort the process
    with pytest.raises(CorruptValueError, match="model.txt does not match"):
        store.load("final_model", version)


def test_rebuilding_a_damaged_version_replaces_it(tmp_path):
    store, version, model_txt, X = _stored_model(tmp_path)
    _same_length_edit(model_txt)
    fresh, _ = _booster()
    store.write("final_model", {"model": fresh, "threshold": 0.3}, version, "passed", "run-2")
    back = store.load("final_model", version)
    np.testing.assert_array_equal(back["model"].predict(X), fresh.predict(X))
    aside = [p.name for p in model_txt.parent.parent.iterdir() if p.name.startswith(".corrupt")]
    assert len(aside) == 1  # kept aside for inspection, never served


def test_an_edited_manifest_value_is_caught_by_the_content_hash(tmp_path):
    store, version, model_txt, _ = _stored_model(tmp_path)
    manifest = model_txt.parent / MANIFEST
    manifest.write_text(manifest.read_text().replace('"threshold": 0.3', '"threshold": 0.9'))
    with pytest.raises(CorruptValueError, match="its content hashes to"):
        store.load("final_model", version)


def test_an_unreadable_manifest_or_table_is_one_line(tmp_path):
    store = AssetStore(tmp_path)
    frame = pd.DataFrame({"a": [1.0, 2.0]})
    version = content_hash(frame)
    path = store.write("raw_data", frame, version, "passed", "run-1")
    (path / "value.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(CorruptValueError, match="value.parquet does not match"):
        store.load("raw_data", version)
    (path / MANIFEST).write_text("{ not json")
    with pytest.raises(CorruptValueError, match="its manifest is unreadable"):
        store.load("raw_data", version)


@pytest.mark.parametrize(
    ("asset", "version"),
    [("../../etc", None), ("raw_data", "../../../etc/passwd"), ("/abs", None), ("a/../b", None)],
)
def test_names_and_versions_never_leave_the_store(tmp_path, asset, version):
    with pytest.raises(StoreNameError):
        AssetStore(tmp_path / "store").load(asset, version)


# --- the report folder is published whole ----------------------------------------------------


@pytest.fixture
def publishable(small_run):
    from imbal_pipeline.core.train import threshold

    report = value(small_run, "evaluation_report")
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.1).astype(int)
    scores = np.clip(0.3 * y + rng.random(400) * 0.7, 0, 1)
    arrays = {"y": y, "scores": scores, "baseline_scores": scores[::-1].copy()}
    curve = threshold.threshold_curve(y, scores, Settings())
    deployed = value(small_run, "deployed_model")
    return report, arrays, curve, Model(deployed["model"], {**deployed["meta"], "version": "v"})


def test_a_publish_replaces_the_whole_folder(tmp_path, publishable):
    from imbal_pipeline.core.evaluate.evaluation import OUTPUT_MARKER, publish

    report, arrays, curve, final = publishable
    out = tmp_path / "out"
    publish({**report, "run_id": "first"}, arrays, curve, out, model=final)
    names = {p.name for p in out.iterdir()}
    assert {"report.json", "model.txt", "model.json", OUTPUT_MARKER} <= names
    publish({**report, "run_id": "second"}, arrays, curve, out, model=None)
    names = {p.name for p in out.iterdir()}
    assert "model.txt" not in names and "model.json" not in names  # the gate failed this time
    assert json.loads((out / "report.json").read_text())["run_id"] == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging or old folder left


def test_a_full_disk_during_export_leaves_the_previous_run_whole(
    tmp_path, publishable, monkeypatch
):
    import errno

    from imbal_pipeline.core.evaluate import evaluation
    from imbal_pipeline.core.evaluate.evaluation import OUTPUT_MARKER

    report, arrays, curve, final = publishable
    out = tmp_path / "out"
    evaluation.publish({**report, "run_id": "first"}, arrays, curve, out, model=final)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def full_disk(model, folder):
        (Path(folder) / "model.txt").write_text(model.booster.model_to_string()[:1000])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(evaluation, "export_model", full_disk)
    with pytest.raises(OSError, match="No space left"):
        evaluation.publish({**report, "run_id": "second"}, arrays, curve, out, model=final)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert (out / OUTPUT_MARKER).read_text().strip() == "first"
    assert Model.load(out).booster.num_trees() > 0


def test_a_folder_of_other_files_is_never_replaced(tmp_path, publishable):
    from imbal_pipeline.core.evaluate.evaluation import OutputError, publish

    report, arrays, curve, final = publishable
    (tmp_path / "thesis.tex").write_text("years of work")
    with pytest.raises(OutputError, match="holds files no imbal-pipeline run wrote"):
        publish(report, arrays, curve, tmp_path, model=final)
    assert (tmp_path / "thesis.tex").read_text() == "years of work"


def test_a_damaged_exported_model_is_refused_on_load(tmp_path, publishable):
    from imbal_pipeline.core.evaluate.evaluation import publish

    report, arrays, curve, final = publishable
    publish(report, arrays, curve, tmp_path / "out", model=final)
    model_txt = tmp_path / "out" / "model.txt"
    model_txt.write_text(model_txt.read_text()[:-10])
    with pytest.raises(ModelFileError, match="does not match the digest in model.json"):
        Model.load(tmp_path / "out")


def test_the_store_works_on_any_fsspec_filesystem_not_only_local_disk(tmp_path, monkeypatch):
    """An in-memory fsspec filesystem stands in for s3:// or a network mount: no local rename.

    The settings refuse memory:// (values there die with the process); this in-process run is
    the one place it can stand in for an object store, so the test admits it as one.
    """
    import fsspec
    from conftest import run_graph

    from imbal_pipeline.core import limits

    monkeypatch.setattr(limits, "SHARED_STORES", (*limits.SHARED_STORES, "memory"))

    store = "memory://imbal-test-store"
    result = run_graph(tmp_path, store=store)
    versions = data_versions(result)
    memory = fsspec.filesystem("memory")
    assert memory.isdir("/imbal-test-store/evaluation_report/versions")
    assert not (tmp_path / "run" / "storage").exists()
    remote = AssetStore(store)
    for asset, version in versions.items():
        assert remote.latest(asset)["version"] == version
        remote.load(asset, version)  # verified against its digests and content hash
    model = memory.ls(
        f"/imbal-test-store/final_model/versions/{versions['final_model']}", detail=False
    )
    assert {p.rsplit("/", 1)[1] for p in model} >= {"manifest.json", "model.txt"}
    memory.rm("/imbal-test-store", recursive=True)


def test_a_model_is_serialized_once_to_hash_store_and_check_it(tmp_path, monkeypatch):
    calls = []
    original = lgb.Booster.model_to_string

    def counting(self, *args, **kwargs):
        calls.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(lgb.Booster, "model_to_string", counting)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(300, 3)), rng.integers(0, 2, 300)
    booster, _ = model_core.fit_lgbm(
        X, y, np.arange(300), settings=Settings(n_estimators=5), cat_idx=[]
    )
    assert calls == []  # LightGBM's own round trip through the text is skipped
    value = {"model": booster, "threshold": 0.3}
    version = content_hash(value)
    store = AssetStore(tmp_path)
    store.write("final_model", value, version, "passed", "run-1")
    assert len(calls) == 1
    back = store.load("final_model", version)  # checks the content hash of what it read
    assert len(calls) == 1
    np.testing.assert_array_equal(back["model"].predict(X), booster.predict(X))


def test_a_run_reads_its_lineages_own_version_never_a_newer_one_of_another_run(tmp_path):
    from imbal_pipeline.defs.lineage import pinned_record

    @dg.asset
    def thing() -> int:
        return 1

    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        first = dg.materialize([thing], instance=instance).run_id
        second = dg.materialize([thing], instance=instance).run_id  # another, newer run
        rerun = "rerun-of-first"
        instance.add_run(
            dg.DagsterRun(
                job_name="__ASSET_JOB", run_id=rerun, parent_run_id=first, root_run_id=first
            )
        )
        key = dg.AssetKey("thing")
        assert pinned_record(instance, rerun, key).run_id == first
        assert pinned_record(instance, rerun, key, this_run_only=True) is None
        assert pinned_record(instance, second, key).run_id == second
        lone = "a-lone-run"
        instance.add_run(dg.DagsterRun(job_name="__ASSET_JOB", run_id=lone))
        assert pinned_record(instance, lone, key).run_id == second  # the latest in the instance


def test_the_fit_cache_is_a_resource_that_recalls_a_recipe_or_nothing(tmp_path):
    from imbal_pipeline.defs.resources import FitCache

    store = AssetStore(tmp_path)
    value = with_recipe({"claimed": 0.9}, {"asset": "leak_panel"})
    recipe = recipe_of(value)
    store.write("leak_panel", value, content_hash(value), "passed", "run-1")
    store.remember("leak_panel", recipe, content_hash(value))
    assert FitCache(base_dir=str(tmp_path)).recall("leak_panel", recipe) == value
    assert FitCache(base_dir=str(tmp_path)).recall("leak_panel", "recipe-2") is None
    # Off, for an IO manager that does not record recipes: nothing is reused.
    assert FitCache(base_dir=None).recall("leak_panel", recipe) is None


def test_a_recipe_recorded_only_in_the_index_as_older_releases_did_is_refitted(tmp_path):
    store, value = AssetStore(tmp_path), {"claimed": 0.9}
    store.write("leak_panel", value, content_hash(value), "passed", "run-1")
    index = tmp_path / "leak_panel" / "recipes" / "recipe-1.json"
    index.parent.mkdir(parents=True)
    index.write_text(json.dumps({"version": content_hash(value)}))  # no record in the value
    assert store.recall("leak_panel", "recipe-1") is None
    refit = with_recipe(value, {"asset": "leak_panel"})  # as the refit stores it
    store.write("leak_panel", refit, content_hash(refit), "passed", "run-2")
    store.remember("leak_panel", recipe_of(refit), content_hash(refit))
    assert store.recall("leak_panel", recipe_of(refit)) == refit


def test_a_stage_value_stored_by_an_older_release_is_refused_with_what_to_do(tmp_path):
    from imbal_pipeline.core.values import Bag
    from imbal_pipeline.defs.io_manager import BundleIOManager, OutdatedValueError

    store = AssetStore(tmp_path / "store")
    old = {"strategy": "none", "model": _booster()[0], "audit": {}}  # a version-4 final model
    store.write("final_model", old, content_hash(old), "passed", None)
    manager = BundleIOManager(base_dir=str(tmp_path / "store"))
    typed = dg.build_input_context(
        asset_key=dg.AssetKey("final_model"), dagster_type=dg.PythonObjectDagsterType(Bag)
    )
    with pytest.raises(OutdatedValueError, match=r"older imbal_pipeline \(not a Bag\).*--force"):
        manager.load_input(typed)
    # An input that declares no stage value reads the stored dict as before.
    plain = dg.build_input_context(
        asset_key=dg.AssetKey("final_model"), dagster_type=dg.PythonObjectDagsterType(dict)
    )
    assert manager.load_input(plain)["strategy"] == "none"
