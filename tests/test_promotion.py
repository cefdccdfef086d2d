"""Promotion on evidence, the core: the verdict on scores, and the rows it may be made on."""

import numpy as np
import pandas as pd
import pytest

from imbal_pipeline.core.data.data import DataError
from imbal_pipeline.core.monitor import promotion
from imbal_pipeline.core.monitor.deployed import BatchError
from imbal_pipeline.core.monitor.promotion_rows import (
    BATCH,
    HOLDOUT,
    Source,
    TrainedRows,
    row_keys,
    schema_change,
    shared_rows,
)
from imbal_pipeline.core.report import document
from imbal_pipeline.core.report.report_promotion import promotion_section

SCHEMA = {"numeric": ["x", "z"], "categorical": {"city": []}}


def _scores(positives: int, negatives: int, separation: float, seed: int):
    """Labels, and a model's scores with the positives `separation` SDs above the negatives."""
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(positives, int), np.zeros(negatives, int)]
    return y, separation * y + rng.standard_normal(len(y))


# --- the verdict on scores -------------------------------------------------------------------


def test_a_challenger_as_good_as_the_champion_on_many_positives_is_promoted():
    y, a = _scores(300, 6000, 2.5, seed=1)
    j = promotion.judge(y, a, 2.0, a + 1e-9, 2.0, 0.05)  # the same ranking and decisions
    assert j.verdict == promotion.PROMOTE, j.reason
    assert j.diff == pytest.approx(0.0) and j.low >= -0.05
    assert "not lower beyond the -0.05 margin" in j.reason


def test_a_challenger_that_passed_its_gate_by_luck_is_refused_as_worse():
    # Shuffled labels: its scores say next to nothing about these rows.
    y, a = _scores(150, 6000, 2.5, seed=2)
    _, b = _scores(150, 6000, 0.3, seed=3)
    j = promotion.judge(y, a, 2.0, b, 2.0, 0.05)
    assert j.verdict == promotion.WORSE
    assert j.high < -0.05 and "lower beyond the -0.05 margin" in j.reason
    assert j.challenger_pr_auc < j.champion_pr_auc


def test_a_challenger_missing_the_positives_the_champion_catches_is_refused_on_decisions():
    y, a = _scores(150, 6000, 2.5, seed=4)
    # The same scores but for the positives the champion flags by a little, which the
    # challenger puts just below the same threshold: the same false alarms, fewer catches.
    b = np.where((y == 1) & (a >= 2.0) & (a < 2.6), 1.99, a)
    j = promotion.judge(y, a, 2.0, b, 2.0, 0.05)
    d = j.decisions
    assert (d.only_challenger, d.false_only_champion, d.false_only_challenger) == (0, 0, 0)
    assert d.only_champion == 35 and d.p_misses_more < promotion.ALPHA
    assert j.high >= -0.05  # the ranking alone would not refuse it
    assert j.verdict == promotion.WORSE
    assert "misses more of the same positives (35 caught by the champion alone" in j.reason


def test_more_false_alarms_alone_are_shown_not_refused_while_the_ranking_holds():
    y, a = _scores(150, 6000, 2.5, seed=4)
    b = np.where((y == 0) & (a >= 1.6) & (a < 2.0), 2.01, a)  # negatives pushed over
    j = promotion.judge(y, a, 2.0, b, 2.0, 0.05)
    d = j.decisions
    assert j.low >= -0.05 and d.false_only_challenger == 229 and d.false_only_champion == 0
    assert d.p_more_false < promotion.ALPHA and d.worse is None
    assert j.verdict == promotion.PROMOTE
    assert "flagged 7.27% vs 3.54%" in promotion.figures_text(j)  # shown


def test_trading_catches_for_fewer_false_alarms_is_the_thresholds_choice_not_a_refusal():
    y, a = _scores(150, 6000, 2.5, seed=4)
    j = promotion.judge(y, a, 1.0, a, 3.5, 0.05)  # the same ranking, a far higher threshold
    d = j.decisions
    assert d.p_misses_more < promotion.ALPHA and d.p_fewer_false < promotion.ALPHA
    assert d.worse is None and j.verdict == promotion.PROMOTE


def test_with_too_few_shared_positives_the_verdict_is_undecided_and_says_why():
    y, a = _scores(promotion.MIN_POSITIVES - 1, 900, 3.0, seed=5)
    j = promotion.judge(y, a, 1.5, a, 1.5, 0.05)
    assert j.verdict == promotion.UNDECIDED and j.diff is None
    assert f"too few shared positives to decide ({promotion.MIN_POSITIVES - 1}" in j.reason


def test_an_interval_that_reaches_past_the_margin_is_undecided_and_a_wider_margin_decides():
    y, a = _scores(20, 2000, 2.0, seed=7)
    _, noise = _scores(20, 2000, 0.0, seed=107)
    b = (a + 0.3 * noise) / np.sqrt(1.09)  # the same model, rows ranked a little differently
    j = promotion.judge(y, a, 1.5, b, 1.5, 0.0)
    assert j.low < 0 < j.high, (j.low, j.high)
    assert j.verdict == promotion.UNDECIDED and "too few" not in j.reason  # 20 positives
    assert j.reason == (
        f"its PR-AUC difference's one-sided 95% bounds {j.low:+.3f} to {j.high:+.3f} reach "
        "across the -0 margin: it is shown neither within the margin nor below it"
    )
    wide = promotion.at_margin(j, 1.0)
    assert wide.verdict == promotion.PROMOTE and wide.diff == j.diff  # the same figures


def _measured(diff: float, low: float, high: float) -> promotion.Judgement:
    """A comparison whose decisions are alike: only the PR-AUC difference decides."""
    same = promotion.Decisions(40, 40, 30, 30, 2, 2, 3, 3)
    return promotion.Judgement(
        promotion.UNDECIDED, 3400, 138, 0.05, 0.705, 0.705 + diff, diff, low, high, same, ""
    )


def test_a_challenger_promoted_while_it_scored_worse_says_it_scored_worse():
    # A user's trial: "promoted ... difference -0.022, one-sided 95% bounds -0.048 to -0.006"
    # read as if it were no worse. The whole interval is below 0: worse beyond noise.
    j = promotion.at_margin(_measured(-0.022, -0.048, -0.006), 0.05)
    assert j.verdict == promotion.PROMOTE
    assert j.reason == (
        "its PR-AUC is worse by 0.022, beyond noise (one-sided 95% bounds -0.048 to -0.006, "
        "both below 0), but within the 0.05 margin allowed"
    )
    # Below 0 but within noise: still said to be worse, and that noise cannot tell.
    j = promotion.at_margin(_measured(-0.010, -0.040, 0.020), 0.05)
    assert j.verdict == promotion.PROMOTE and j.reason.startswith(
        "its PR-AUC is worse by 0.010, within noise (one-sided 95% bounds -0.040 to +0.020)"
    )
    assert j.reason.endswith("within the 0.05 margin allowed")
    # Not below 0: nothing to confess.
    j = promotion.at_margin(_measured(0.004, -0.020, 0.030), 0.05)
    assert j.reason == "its PR-AUC is not lower beyond the -0.05 margin"
    # Lower by less than the figures show (0.000): not said to be worse by 0.000.
    j = promotion.at_margin(_measured(-0.0004, -0.0006, -0.0001), 0.05)
    assert j.reason == "its PR-AUC is not lower beyond the -0.05 margin"


def test_mcnemar_is_the_exact_binomial_tail_of_the_discordant_rows():
    assert promotion.mcnemar(0, 0) == 1.0
    assert promotion.mcnemar(5, 0) == pytest.approx(1 / 32)
    assert promotion.mcnemar(3, 3) == pytest.approx(42 / 64)


# --- which rows ----------------------------------------------------------------------------


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "z": rng.integers(0, 5, n),
            "city": rng.choice(["a", "b", "c"], n),
            "note": ["free text"] * n,  # not a feature: never part of a row's key
        }
    )


def test_a_rows_key_is_its_features_and_label_wherever_it_comes_from():
    frame = _frame(50, seed=1)
    y = np.arange(50) % 2
    keys = row_keys(frame, SCHEMA, y)
    # Another file: columns in another order, whole numbers read as floats, another note,
    # rows shuffled.
    other = frame[["city", "note", "z", "x"]].assign(z=frame["z"].astype(float), note="other")
    order = np.random.default_rng(2).permutation(50)
    assert np.array_equal(row_keys(other.iloc[order], SCHEMA, y[order]), keys[order])
    assert not np.isin(row_keys(frame, SCHEMA, 1 - y), keys).any()  # the label is part of it
    moved = frame.assign(x=frame["x"] + 1e-9)
    assert not np.isin(row_keys(moved, SCHEMA, y), keys).any()


def test_trained_rows_round_trip_and_refuse_keys_that_are_not_the_recorded_ones():
    rows = TrainedRows.of(_frame(40, seed=3), SCHEMA, np.arange(40) % 2)
    record = rows.record()
    assert record["rows"] == 40 and record["positives"] == 20
    back = TrainedRows.verified(rows.to_frame()["row_key"], record)
    assert np.array_equal(back.keys, rows.keys)
    tampered = rows.keys.copy()
    tampered[0] ^= np.uint64(1)
    with pytest.raises(DataError, match="do not match the digest"):
        TrainedRows.verified(tampered, record)


class Spy:
    """A scoring model over the features x and z; it remembers every row it is asked to score."""

    def __init__(self, version: str, weight: float, threshold: float = 0.0, features=SCHEMA):
        self.version, self.weight, self.threshold = version, weight, threshold
        self.feature_schema = features
        self.meta = {"target": "y", "positive_label": "1"}
        self.scored: list[pd.DataFrame] = []

    def check(self, frame: pd.DataFrame) -> None:
        missing = [c for c in [*self.feature_schema["numeric"], "city"] if c not in frame]
        if missing:
            raise BatchError(f"the batch lacks feature column {missing[0]!r}")

    def scores(self, frame: pd.DataFrame) -> np.ndarray:
        self.check(frame)
        self.scored.append(frame)
        return self.weight * frame["x"].to_numpy() + 0.01 * frame["z"].to_numpy()


def _labelled(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    frame = _frame(n, seed)
    y = (frame["x"] + np.random.default_rng(seed + 100).normal(0, 0.7, n) > 1.6).astype(int)
    return frame, y.to_numpy()


def test_no_row_either_model_trained_on_is_ever_scored_in_the_comparison():
    champion_train, y_a = _labelled(400, seed=10)
    challenger_train, y_b = _labelled(400, seed=11)
    fresh, y_fresh = _labelled(300, seed=12)
    # The challenger's holdout: fresh rows, rows the champion trained on, and one row the
    # challenger trained on (a duplicate across its split).
    holdout = pd.concat([fresh, champion_train.iloc[:100], challenger_train.iloc[:1]])
    y_holdout = np.r_[y_fresh, y_a[:100], y_b[:1]]
    batch = pd.concat([_labelled(200, seed=13)[0], challenger_train.iloc[50:80]])
    y_batch = np.r_[_labelled(200, seed=13)[1], y_b[50:80]]
    a, b = Spy("a" * 16, 1.0), Spy("b" * 16, 1.2)
    sources = [
        Source("holdout", HOLDOUT, holdout.reset_index(drop=True), y_holdout),
        Source("monday", BATCH, batch.reset_index(drop=True), y_batch),
    ]
    trained_a = TrainedRows.of(champion_train, SCHEMA, y_a)
    trained_b = TrainedRows.of(challenger_train, SCHEMA, y_b)
    y, sa, sb, used = shared_rows(a, b, trained_a, trained_b, sources)
    for model in (a, b):  # the spy: every scored row, by its key, against both training sets
        scored = pd.concat(model.scored)
        keys = row_keys(scored, SCHEMA, y)
        assert not np.isin(keys, trained_a.keys).any() and not np.isin(keys, trained_b.keys).any()
        assert len(scored) == len(y) == 500
    holdout_used, batch_used = used
    assert (holdout_used.champion_trained, holdout_used.challenger_trained) == (100, 1)
    assert (holdout_used.compared, batch_used.compared) == (300, 200)
    assert batch_used.challenger_trained == 30 and batch_used.compared_positives == y[300:].sum()


def test_a_row_in_the_holdout_and_in_a_labelled_batch_is_compared_once():
    # `--labelled-batches`: the batch was merged into the challenger's data, so the batch rows
    # it did not train on are in its holdout too, and offered again by the batch.
    challenger_train, y_b = _labelled(400, seed=14)
    fresh, y_fresh = _labelled(300, seed=15)
    merged = pd.concat([fresh.iloc[:80], challenger_train.iloc[:120]]).reset_index(drop=True)
    y_merged = np.r_[y_fresh[:80], y_b[:120]]
    # A repeat within the holdout (two identical rows of the data) is two observations.
    holdout = pd.concat([fresh, fresh.iloc[:1]]).reset_index(drop=True)
    y_holdout = np.r_[y_fresh, y_fresh[:1]]
    # Repeats in the batch: rows 0 and 1 once more each; the holdout compared row 0 twice (a
    # copy of the same row), row 1 once, so the batch's second row 1 is a new observation.
    batch = pd.concat([merged, fresh.iloc[[0, 1]], _labelled(50, seed=16)[0]])
    y_batch = np.r_[y_merged, y_fresh[[0, 1]], _labelled(50, seed=16)[1]]
    a, b = Spy("a" * 16, 1.0), Spy("b" * 16, 1.2)
    none = TrainedRows.of(fresh.iloc[:0], SCHEMA, y_fresh[:0])
    trained_b = TrainedRows.of(challenger_train, SCHEMA, y_b)
    sources = [
        Source("holdout", HOLDOUT, holdout, y_holdout),
        Source("monday", BATCH, batch.reset_index(drop=True), y_batch),
    ]
    y, _, _, used = shared_rows(a, b, none, trained_b, sources)
    holdout_used, batch_used = used
    # Left out of the batch: 120 rows the challenger trained on, and 81 the holdout compared
    # (its 80 merged rows and row 0's repeat); kept: its 50 new rows and row 1's repeat.
    new_positives = _labelled(50, seed=16)[1].sum() + y_fresh[1]
    assert y.sum() == y_holdout.sum() + new_positives  # each positive counted once
    assert len(y) == len(pd.concat(b.scored)) == 301 + 51
    assert (holdout_used.compared, batch_used.compared) == (301, 51)
    assert batch_used.challenger_trained == 120 and batch_used.compared_positives == new_positives
    assert batch_used.compared_before == {"holdout": 81} and holdout_used.compared_before == {}
    found = promotion.compare(a, b, none, trained_b, sources, 0.05)
    assert found["sources"][1]["compared_before"] == {"holdout": 81}
    assert found["judgement"]["rows"] == 352, found["judgement"]
    assert (
        "+ 51 rows of 1 labelled batch that arrived since the champion (120 left out as trained "
        "on, 81 already compared in holdout)" in found["line"]
    )


def test_the_reports_rows_table_says_how_many_rows_an_earlier_source_already_compared():
    frame, y = _labelled(200, seed=17)
    a, b = Spy("a" * 16, 1.0), Spy("b" * 16, 1.2)
    none = TrainedRows.of(frame.iloc[:0], SCHEMA, y[:0])
    sources = [
        Source("holdout", HOLDOUT, frame, y),
        Source("monday", BATCH, frame.iloc[:40], y[:40]),
    ]
    evidence = promotion.compare(a, b, none, none, sources, 0.05)
    text = document.markdown("t", promotion_section({"promotion": evidence}))
    assert "| left out: already compared in a source above |" in text
    assert f"| holdout | 200 | 0 | 0 | 0 | 200 ({y.sum()}) |" in text
    assert "| monday | 40 | 0 | 0 | 40 in holdout | 0 (0) |" in text
    # Evidence written before the count existed renders it as none.
    del evidence["sources"][1]["compared_before"]
    older = document.markdown("t", promotion_section({"promotion": evidence}))
    assert "| monday | 40 | 0 | 0 | 0 | 0 (0) |" in older


def test_a_source_a_model_cannot_score_is_not_comparable_and_the_others_are_compared():
    old, y_old = _labelled(200, seed=20)
    new, y_new = _labelled(200, seed=21)
    wider = {"numeric": ["x", "z", "w"], "categorical": {"city": []}}
    a, b = Spy("a" * 16, 1.0), Spy("b" * 16, 1.0, features=wider)
    empty = TrainedRows.of(old.iloc[:0], SCHEMA, y_old[:0])
    sources = [
        Source("holdout", HOLDOUT, new.assign(w=1.0), y_new),
        Source("old_batch", BATCH, old, y_old),  # written before the feature w existed
    ]
    none_b = TrainedRows.of(new.assign(w=1.0).iloc[:0], wider, [])
    y, _, _, used = shared_rows(a, b, empty, none_b, sources)
    assert len(y) == 200 and used[0].compared == 200
    assert used[1].compared == 0 and "lacks feature column 'w'" in used[1].not_comparable
    assert schema_change(a.feature_schema, b.feature_schema) == {"added": ["w"], "removed": []}
    text = promotion.compare(a, b, empty, empty, sources[1:], 0.05)["line"]
    assert "not comparable on old batches (the batch lacks feature column 'w')" in text


def test_without_the_champions_training_rows_nothing_is_compared_and_the_champion_stays():
    frame, y = _labelled(300, seed=30)
    a, b = Spy("a" * 16, 1.0), Spy("b" * 16, 1.0)
    rows = TrainedRows.of(frame.iloc[:0], SCHEMA, y[:0])
    found = promotion.compare(a, b, None, rows, [Source("holdout", HOLDOUT, frame, y)], 0.05)
    assert found["verdict"] == promotion.UNDECIDED and not a.scored
    assert "record of the rows it trained on is missing" in found["line"]
    assert f"`imbal-pipeline promote {'b' * 16}` overrides" in found["line"]


def test_the_comparison_says_its_verdict_figures_and_rows_in_one_line():
    frame, y = _labelled(4000, seed=40)
    champion, worse = Spy("a" * 16, 1.0, threshold=1.5), Spy("b" * 16, 0.0, threshold=0.04)
    none = TrainedRows.of(frame.iloc[:0], SCHEMA, y[:0])
    source = [Source("holdout", HOLDOUT, frame, y)]
    found = promotion.compare(champion, worse, none, none, source, 0.05)
    assert found["verdict"] == promotion.WORSE
    line = found["line"]
    assert "\n" not in line and line.startswith(f"model {'b' * 16} not promoted, {'a' * 16} stays")
    for part in ("PR-AUC", "difference", "caught", "flagged", "4,000 holdout rows"):
        assert part in line, line
    better = promotion.compare(worse, champion, none, none, source, 0.05)
    assert better["verdict"] == promotion.PROMOTE
    assert better["line"].startswith(f"model {'a' * 16} promoted, replacing {'b' * 16}")
    other = Spy("c" * 16, 1.0)
    other.meta = {"target": "y", "positive_label": "yes"}
    assert promotion.compare(champion, other, none, none, source, 0.05)["line"] == (
        f"model {'c' * 16} (target 'y' = yes) not put in service: the model in service, "
        f"{'a' * 16}, predicts another thing (target 'y' = 1), and a store serves one model at a "
        f"time; `imbal-pipeline promote {'c' * 16}` puts {'c' * 16} in its place, or run each "
        "dataset in a folder of its own (its own project, store and model in service)"
    )
    assert not other.scored  # not compared at all
    # The same target on another dataset (no feature in common): said alike, not compared.
    elsewhere = Spy("d" * 16, 1.0, features={"numeric": ["mcg", "gvh"], "categorical": {}})
    assert promotion.compare(champion, elsewhere, none, none, source, 0.05)["line"] == (
        f"model {'d' * 16} (target 'y' = 1) not put in service: the model in service, "
        f"{'a' * 16}, was trained on other columns (none of this model's 2 features), and a "
        f"store serves one model at a time; `imbal-pipeline promote {'d' * 16}` puts {'d' * 16} "
        "in its place, or run each dataset in a folder of its own (its own project, store and "
        "model in service)"
    )
    assert not elsewhere.scored


def test_a_model_of_the_users_own_file_replaces_the_demo_model_and_never_a_real_one():
    demo, own = Spy("a" * 16, 1.0), Spy("b" * 16, 1.0)
    demo.meta = {"target": "is_fraud", "positive_label": "1", "generated_data": True}
    own.meta = {"target": "target", "positive_label": "1", "generated_data": False}
    found = promotion.replaces_demo(demo, own, "thyroid_sick.csv")
    assert found["verdict"] == promotion.REPLACES_DEMO in promotion.PROMOTING
    assert found["line"] == (
        f"model {'b' * 16} promoted, replacing {'a' * 16} without a comparison: {'a' * 16} was "
        "trained on the generated demo data (target 'is_fraud' = 1), and a model trained on "
        "your own file (thyroid_sick.csv) takes its place (never between two models of your own "
        f"data); `imbal-pipeline rollback` puts {'a' * 16} back"
    )
    # Two models of real files, two demo models, or a champion that does not record its data
    # (made before it was recorded): compared as ever.
    real = Spy("c" * 16, 1.0)
    real.meta = {**own.meta}
    older = Spy("d" * 16, 1.0)  # its meta has no generated_data
    again = Spy("e" * 16, 1.0)
    again.meta = {**demo.meta}
    for champion, challenger in ((real, own), (older, own), (demo, again), (own, demo)):
        assert promotion.replaces_demo(champion, challenger, "x.csv") is None


def test_a_rollback_without_a_reason_is_named_without_empty_brackets():
    given = promotion.rolled_back("b", "a", {"time": "T", "reason": "drifted"})["line"]
    bare = promotion.rolled_back("b", "a", {"time": "T", "reason": ""})["line"]
    assert "b was rolled back on T (drifted), and a run never" in given
    assert "b was rolled back on T, and a run never" in bare
