"""The champion records: one source of truth for the model in service, and every change to it."""

import json
from datetime import UTC, datetime

import pytest

from imbal_pipeline.core.monitor import promotion
from imbal_pipeline.store.champion import (
    BY_HAND,
    DEPLOYED,
    PROMOTED,
    ROLLBACK,
    Champions,
    PromotionError,
    enact,
)
from imbal_pipeline.store.storage import AssetStore, CorruptValueError, content_hash


def _value(n: int) -> dict:
    return {"meta": {"n": n}}


def _produced(store: AssetStore, champions: Champions, n: int, run: str = "run") -> str:
    """A version a run wrote (its gate passed) and recorded as a challenger."""
    value = _value(n)
    version = content_hash(value)
    store.write(DEPLOYED, value, version, "passed", f"{run}-{n}")
    champions.add_challenger(version, f"{run}-{n}", "passed", {"verdict": promotion.UNDECIDED})
    return version


@pytest.fixture
def store(tmp_path):
    return AssetStore(tmp_path / "storage")


def test_the_first_model_is_promoted_then_a_promoted_challenger_replaces_it(store):
    champions = Champions(store)
    assert champions.current() is None
    a = _produced(store, champions, 1)
    first = enact(champions, store.load(DEPLOYED, a), promotion.first(a), "run-1", exported=True)
    assert (first.champion, first.verdict, first.promoted) == (a, promotion.FIRST, True)
    b = _produced(store, champions, 2)
    evidence = {**promotion.first(b), "verdict": promotion.PROMOTE, "champion": a, "line": "ok"}
    second = enact(champions, store.load(DEPLOYED, b), evidence, "run-2", exported=True)
    assert second.champion == b and second.promoted
    record = champions.current()
    assert (record["version"], record["action"], record["previous"]) == (b, PROMOTED, a)
    assert record["by"] == "run run-2" and record["evidence"]["line"] == "ok"


@pytest.mark.parametrize("verdict", [promotion.WORSE, promotion.UNDECIDED])
def test_a_challenger_not_promoted_leaves_the_champion_in_service_and_waits(store, verdict):
    champions = Champions(store)
    a = _produced(store, champions, 1)
    enact(champions, store.load(DEPLOYED, a), promotion.first(a), "run-1", exported=True)
    b = _produced(store, champions, 2)
    line = f"model {b} not promoted, {a} stays in service: ..."
    kept = enact(
        champions,
        store.load(DEPLOYED, b),
        promotion.evidence(verdict, b, a, line),
        "run-2",
        exported=True,
    )
    assert (kept.champion, kept.verdict, kept.promoted, kept.line) == (a, verdict, False, line)
    assert champions.version() == a
    assert champions.waiting()["version"] == b  # shadow scoring's challenger


def test_a_promotion_whose_champion_changed_since_the_comparison_is_not_made(store):
    champions = Champions(store)
    a, c = _produced(store, champions, 1), _produced(store, champions, 3)
    enact(champions, store.load(DEPLOYED, a), promotion.first(a), "run-1", exported=True)
    champions.promote(c, "by hand meanwhile", "tester")
    b = _produced(store, champions, 2)
    evidence = {**promotion.first(b), "verdict": promotion.PROMOTE, "champion": a, "line": "ok"}
    raced = enact(champions, store.load(DEPLOYED, b), evidence, "run-2", exported=True)
    assert raced.champion == c and not raced.promoted
    assert f"the champion changed from {a} to {c}" in raced.line


def test_a_runs_challenger_not_promoted_is_stored_and_can_be_put_in_service_by_hand(store):
    champions = Champions(store)
    a = _produced(store, champions, 1)
    enact(champions, store.load(DEPLOYED, a), promotion.first(a), "run-1", exported=True)
    b = content_hash(_value(2))  # never written by the IO manager: the run kept the champion
    line = f"model {b} not promoted, {a} stays in service: ..."
    evidence = promotion.evidence(promotion.UNDECIDED, b, a, line)
    enact(champions, _value(2), evidence, "run-2", exported=True)
    assert store.load(DEPLOYED, b) == _value(2)
    champions.promote(b, "by hand", "tester")
    assert champions.version() == b


def test_a_model_that_is_not_its_exports_value_is_never_promoted(store):
    champions = Champions(store)
    a = _produced(store, champions, 1)
    done = enact(champions, store.load(DEPLOYED, a), promotion.first(a), "run-1", exported=False)
    assert not done.promoted and champions.current() is None
    assert "not the model its run exported" in done.line


def test_promote_and_rollback_by_hand_are_recorded_and_rollback_walks_back(store):
    champions = Champions(store)
    a, b, c = (_produced(store, champions, n) for n in (1, 2, 3))
    enact(champions, store.load(DEPLOYED, a), promotion.first(a), "run-1", exported=True)
    champions.promote(b, "better on last week's labels", "alice")
    champions.promote(c, "try c", "bob")
    back = champions.rollback("c flags too much", "bob")
    assert (back["version"], back["action"], back["previous"]) == (b, ROLLBACK, c)
    assert back["reason"] == "c flags too much" and back["time"]
    assert champions.rollback("again", "bob")["version"] == a
    with pytest.raises(PromotionError, match=rf"no previous champion to roll back to \({a} is"):
        champions.rollback("once more", "bob")
    actions = [r["action"] for r in champions.records()]
    assert actions == [promotion.FIRST, BY_HAND, BY_HAND, ROLLBACK, ROLLBACK]
    # A promotion by hand keeps the comparison its run made as its evidence.
    assert champions.records()[1]["evidence"]["version"] == b


def test_a_rolled_back_model_is_not_put_back_by_a_later_run_and_the_line_says_how(store):
    from types import SimpleNamespace

    from imbal_pipeline.core.settings import Settings
    from imbal_pipeline.store.challenge import challenge

    champions = Champions(store)
    a, b = _produced(store, champions, 1), _produced(store, champions, 2)
    enact(champions, store.load(DEPLOYED, a), promotion.first(a), "run-1", exported=True)
    evidence = {**promotion.first(b), "verdict": promotion.PROMOTE, "champion": a, "line": "ok"}
    assert enact(champions, store.load(DEPLOYED, b), evidence, "run-2", exported=True).promoted
    back = champions.rollback("test", "bob")
    # The same run again: its model is the one rolled back, so it is not compared at all.
    rerun = challenge(store, Settings(), SimpleNamespace(version=b, n_jobs=1), None, None)
    assert rerun["verdict"] == promotion.ROLLED_BACK and rerun["champion"] == a
    assert rerun["line"] == (
        f"model {b} not promoted, {a} stays in service: {b} was rolled back on {back['time']} "
        "(test), and a run never puts a rolled-back model back; `imbal-pipeline promote "
        f"{b}` puts it back"
    )
    done = enact(champions, store.load(DEPLOYED, b), rerun, "run-3", exported=True)
    assert (done.champion, done.promoted, done.line) == (a, False, rerun["line"])
    assert champions.version() == a
    assert champions.waiting() is None  # not scored in shadow beside the model put back
    # Put back by hand, it is a model like any other again.
    champions.promote(b, "fixed upstream", "bob")
    assert champions.rolled_back(b) is None and champions.rolled_back(a) is None


def test_a_model_replacing_the_demo_model_is_put_in_service_as_promoted(store):
    champions = Champions(store)
    a, b = _produced(store, champions, 1), _produced(store, champions, 2)
    enact(champions, store.load(DEPLOYED, a), promotion.first(a), "run-1", exported=True)
    line = f"model {b} promoted, replacing {a} without a comparison: ..."
    evidence = promotion.evidence(promotion.REPLACES_DEMO, b, a, line)
    done = enact(champions, store.load(DEPLOYED, b), evidence, "run-2", exported=True)
    assert (done.champion, done.promoted, done.line) == (b, True, line)
    assert champions.current()["action"] == PROMOTED


def test_only_a_version_a_run_produced_with_its_gate_passed_can_be_promoted(store):
    champions = Champions(store)
    stray = {"meta": {"n": 9}}
    version = content_hash(stray)
    store.write(DEPLOYED, stray, version, "failed: matches_export", "run-9")
    with pytest.raises(PromotionError, match=f"deployed_model has no version {version} that a run"):
        champions.promote(version, "why not", "mallory")
    with pytest.raises(PromotionError, match="no previous champion to roll back to;"):
        champions.rollback("nothing yet", "mallory")


def test_an_edited_pointer_or_a_version_copied_in_is_refused_by_every_reader(store, tmp_path):
    champions = Champions(store)
    a, b = _produced(store, champions, 1), _produced(store, champions, 2)
    enact(champions, store.load(DEPLOYED, a), promotion.first(a), "run-1", exported=True)
    pointer = store.folder(DEPLOYED) / "champion.json"
    honest = pointer.read_text()
    pointer.write_text(json.dumps({**json.loads(honest), "version": b}))
    with pytest.raises(CorruptValueError, match="not the newest champion record"):
        champions.current()
    pointer.write_text(honest)
    # A version copied in from another store, with latest.json and a history record written by
    # hand: it is no champion, and a champion record naming it is refused too.
    other = AssetStore(tmp_path / "other")
    foreign = {"meta": {"n": 99}}
    copied = content_hash(foreign)
    other.write(DEPLOYED, foreign, copied, "passed", "elsewhere")
    store.write(DEPLOYED, foreign, copied, "failed", "hand")  # as if copied, then
    (store.folder(DEPLOYED) / "latest.json").write_text(json.dumps({"version": copied}))
    assert champions.version() == a
    now = datetime.now(UTC)
    record = {**json.loads(honest), "version": copied, "time": now.isoformat(timespec="seconds")}
    forged = store.folder(DEPLOYED) / "champion" / "records" / f"{now:%Y%m%dT%H%M%S%f}-x.json"
    forged.write_text(json.dumps(record))
    pointer.write_text(json.dumps(record))
    with pytest.raises(CorruptValueError, match=f"names deployed_model version {copied}, which no"):
        champions.current()
    # A promotion by hand repairs it.
    champions.promote(b, "repair", "ops")
    assert champions.version() == b


def test_a_models_training_rows_are_read_back_only_as_recorded(store):
    import numpy as np
    import pandas as pd

    from imbal_pipeline.core.monitor.promotion_rows import TrainedRows

    frame = pd.DataFrame({"x": np.arange(30.0), "city": ["a", "b", "c"] * 10})
    rows = TrainedRows.of(frame, {"numeric": ["x"], "categorical": ["city"]}, np.arange(30) % 2)
    champions = Champions(store)
    champions.save_trained_rows(rows)
    meta = {"trained_rows": rows.record()}
    assert np.array_equal(champions.trained_rows(meta).keys, rows.keys)
    assert champions.trained_rows({}) is None  # a model from an older release
    [path] = (store.folder(DEPLOYED) / "trained_rows").iterdir()
    pd.DataFrame({"row_key": rows.keys[1:]}).to_parquet(path)  # a row gone from the record
    assert champions.trained_rows(meta) is None
    path.unlink()
    assert champions.trained_rows(meta) is None


def test_a_challenger_that_cannot_be_compared_is_not_scored_in_shadow(store):
    # Another dataset's model: scored beside the champion it would fail on every batch.
    champions = Champions(store)
    a = _produced(store, champions, 1)
    enact(champions, store.load(DEPLOYED, a), promotion.first(a), "run-1", exported=True)
    b = _produced(store, champions, 2)
    other = promotion.kept(b, a, "the two predict different things")
    enact(champions, store.load(DEPLOYED, b), other, "run-2", exported=True)
    assert other["verdict"] == promotion.UNREADABLE and champions.waiting() is None
