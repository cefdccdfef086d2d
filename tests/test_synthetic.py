"""Tests for the generated fraud-like data."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import average_precision_score
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from imbal_pipeline.core.data.synthetic import COLUMNS, make_fraud_data

NUMERIC = [
    "amount",
    "hour",
    "distance_km",
    "velocity_1h",
    "account_age_days",
    "n_prev_tx",
    "amount_vs_avg",
    "risk_score",
]
STRINGS = ["merchant_category", "channel", "card present", "region"]
EXPECTED_COLUMNS = [*NUMERIC, "merchant_category", "channel", "card present", "region", "is_fraud"]


@pytest.fixture(scope="module")
def default_frame() -> pd.DataFrame:
    return make_fraud_data()


def _island_boxes(df: pd.DataFrame) -> dict[str, pd.Series]:
    # Boxes written from the outside, from the story of each island, so a change that
    # moves or dissolves an island fails here. NaN compares False, so missing values
    # can only shrink a box.
    return {
        "card_testing": (df["velocity_1h"] >= 15) & (df["amount"] < 5),
        "night_gambling": (df["merchant_category"] == "gambling")
        & df["hour"].isin([2.0, 3.0])
        & (df["account_age_days"] < 5),
        "big_travel": (df["merchant_category"] == "travel")
        & (df["amount"] > 1500)
        & (df["distance_km"] > 2000),
    }


def test_same_seed_gives_identical_frame():
    pd.testing.assert_frame_equal(make_fraud_data(5_000, 0.02, 7), make_fraud_data(5_000, 0.02, 7))


def test_different_seed_gives_different_frame():
    a = make_fraud_data(5_000, 0.02, 7)
    b = make_fraud_data(5_000, 0.02, 8)
    assert not a.equals(b)
    assert not np.array_equal(a["is_fraud"].to_numpy(), b["is_fraud"].to_numpy())


@pytest.mark.parametrize(
    ("n_rows", "rate", "expected"),
    [(50_000, 0.01, 500), (12_345, 0.037, 457), (1_000, 0.003, 3), (1_000, 0.0001, 1)],
)
def test_exact_positive_count(n_rows, rate, expected):
    df = make_fraud_data(n_rows, rate, seed=1)
    assert len(df) == n_rows
    assert int(df["is_fraud"].sum()) == expected == max(1, round(n_rows * rate))
    assert set(df["is_fraud"].unique()) <= {0, 1}


def test_positive_rate_and_shuffling(default_frame):
    y = default_frame["is_fraud"].to_numpy()
    assert y.mean() == pytest.approx(0.01)
    positions = np.flatnonzero(y)
    # Generated in class blocks; without the shuffle positives would sit at the end.
    assert positions.min() < len(y) * 0.1
    assert positions.max() > len(y) * 0.9
    assert abs(positions.mean() / len(y) - 0.5) < 0.1


def test_columns_dtypes_and_index(default_frame):
    df = default_frame
    assert list(df.columns) == EXPECTED_COLUMNS
    assert len(df.columns) == COLUMNS  # what `--executor auto` counts for generated data
    for name in NUMERIC:
        assert df[name].dtype == np.float64, name
    for name in STRINGS:
        assert pd.api.types.is_string_dtype(df[name]), name
        assert df[name].map(type).eq(str).all(), name
    assert df["is_fraud"].dtype == np.int64
    pd.testing.assert_index_equal(df.index, pd.RangeIndex(len(df)))


def test_category_levels(default_frame):
    df = default_frame
    assert set(df["channel"]) == {"web", "pos", "app"}
    assert set(df["region"]) == {"north", "south", "east", "west"}
    assert set(df["card present"]) == {"yes", "no"}
    assert 6 <= df["merchant_category"].nunique() <= 10
    hours = df["hour"]
    assert hours.between(0, 23).all() and (hours == np.floor(hours)).all()


def test_categoricals_depend_mildly_on_class(default_frame):
    df = default_frame
    pos = df["is_fraud"] == 1
    for name in ("merchant_category", "channel", "region"):
        p = df.loc[pos, name].value_counts(normalize=True)
        n = df.loc[~pos, name].value_counts(normalize=True)
        total_variation = 0.5 * p.sub(n, fill_value=0).abs().sum()
        assert 0.03 < total_variation < 0.4, (name, total_variation)


def test_missing_values_only_where_intended(default_frame):
    na_share = default_frame.isna().mean()
    assert set(na_share[na_share > 0].index) == {"distance_km", "account_age_days"}
    for name in ("distance_km", "account_age_days"):
        assert 0.015 < na_share[name] < 0.025, (name, na_share[name])


def test_no_infinities_and_plausible_ranges(default_frame):
    df = default_frame
    values = df[NUMERIC].to_numpy()
    assert not np.isinf(values).any()
    assert (df[NUMERIC].dropna() >= 0).all().all()
    assert df["risk_score"].between(0, 1).all()


def test_islands_exist_and_are_pure(default_frame):
    df = default_frame
    pos = df["is_fraud"] == 1
    n_pos = int(pos.sum())
    in_any = pd.Series(False, index=df.index)
    for name, box in _island_boxes(df).items():
        in_any |= box
        # Each island holds about a third of the 20 % island share (NaNs may drop a few).
        assert 0.05 * n_pos <= (box & pos).sum() <= 0.08 * n_pos, name
        # Small disjuncts: almost no negatives live there.
        assert (box & ~pos).sum() <= 2, name
    assert 0.17 <= in_any[pos].mean() <= 0.21


def test_islands_are_far_from_main_positive_mass(default_frame):
    df = default_frame
    pos = df["is_fraud"] == 1
    boxes = _island_boxes(df)
    main = df[pos & ~np.logical_or.reduce(list(boxes.values()))]

    def island(name: str) -> pd.DataFrame:
        return df[pos & boxes[name]]

    # An island is "far" when its median lies beyond the 1st/99th percentile of the main
    # positives on the feature that defines it.
    def q(col: str, level: float) -> float:
        return float(main[col].quantile(level))

    card = island("card_testing")
    assert card["velocity_1h"].median() > q("velocity_1h", 0.99)
    assert card["amount"].median() < q("amount", 0.01)
    night = island("night_gambling")
    assert night["account_age_days"].median() < q("account_age_days", 0.01)
    travel = island("big_travel")
    assert travel["distance_km"].median() > q("distance_km", 0.99)
    assert travel["amount"].median() > q("amount", 0.99)
    # Tight: on a log scale each island spreads far less than the main positives do.
    for isle, col in ((card, "amount"), (travel, "distance_km"), (travel, "amount")):
        assert np.log(isle[col]).std() < 0.4 * np.log(main[col].dropna()).std(), col


def test_classes_overlap_but_are_learnable():
    df = make_fraud_data(20_000, 0.01, seed=3)
    x = df.drop(columns="is_fraud")
    for name in STRINGS:
        x[name] = x[name].astype("category")
    y = df["is_fraud"]
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.5, stratify=y, random_state=0)
    model = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0)
    # One thread: on a busy machine OpenMP oversubscription made this test 10x slower.
    with threadpool_limits(1):
        model.fit(x_tr, y_tr)
    score = model.predict_proba(x_te)[:, 1]
    ap = average_precision_score(y_te, score)
    prevalence = y_te.mean()
    assert ap > 5 * prevalence, ap
    assert ap < 0.95, ap
    # The islands alone are worth ~0.2 AP, so the main mass must carry signal of its own
    # and still overlap the negatives.
    main = ~np.logical_or.reduce(list(_island_boxes(df.loc[x_te.index]).values()))
    main_ap = average_precision_score(y_te[main], score[main])
    print(f"average precision {ap:.3f} (main mass only {main_ap:.3f}, prevalence {prevalence:.4f})")
    assert 3 * prevalence < main_ap < 0.8, main_ap


def test_default_size_is_fast():
    start = time.perf_counter()
    make_fraud_data(50_000, 0.01, seed=11)
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize(("n_rows", "rate"), [(1, 0.5), (100, 0.0), (100, 1.0), (100, -0.1)])
def test_rejects_impossible_arguments(n_rows, rate):
    with pytest.raises(ValueError):
        make_fraud_data(n_rows, rate)
