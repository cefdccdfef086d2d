"""The bad-input catalogue: what a careless or hostile user can feed the pipeline, and the answer.

Each case writes its inputs into a folder and names the settings a user would give. The data
stages' science runs as the assets run it (`core.inputs`), without Dagster, so the catalogue
costs seconds; `test_contracts.py` shows on whole graphs that an error stops everything
downstream and a warning does not.
"""

import dataclasses
import gzip
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from imbal_pipeline.core import inputs, upfront
from imbal_pipeline.core.data import contracts, data, derived, split, versions
from imbal_pipeline.core.data.synthetic import make_fraud_data
from imbal_pipeline.core.settings import LABEL, ROW_ID, SCORE, STRATEGY, Settings, SettingsError
from imbal_pipeline.core.train import training

SMALL = {"n_folds": 3, "n_estimators": 40, "num_leaves": 15}


def _base(n=1500, rate=0.05, seed=1) -> pd.DataFrame:
    return make_fraud_data(n, rate, seed=seed)


def _write(frame: pd.DataFrame, path: Path, **kwargs) -> str:
    frame.to_csv(path, index=False, **kwargs)
    return str(path)


def _separable(n=1200, positives=8, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = np.zeros(n, dtype=int)
    y[rng.choice(n, positives, replace=False)] = 1
    return pd.DataFrame({"x": y * 6 + rng.normal(size=n), "z": rng.normal(size=n), "y": y})


def run_data_stages(folder: Path, fit_fold: bool = False, **overrides) -> tuple[str, str]:
    """("error", message) for the first error or blocking gate, else ("ok", the warnings)."""
    contracts_dir = folder / "contracts"
    try:
        s = Settings(**{**SMALL, "contracts_dir": str(contracts_dir), **overrides})
        read = versions.TableReader(s.read_options)
        raw, _ = inputs.load_raw(s, read)
        found = inputs.raw_gates(raw, s, contracts_dir, read)
        if not any(g.blocks for g in found):
            marked, _, lost = inputs.split_raw(raw, s)
            found += inputs.split_gates(marked, s, lost)
        notes = []
        if not any(g.blocks for g in found):
            train = split.training_part(marked)
            folds = split.make_folds(train, s.n_folds, s.seed)
            if fit_fold:
                schema = data.feature_schema(train, s)
                sets = training.build_fold_training_sets(train, folds, 0, schema, s)
                notes = [json.dumps(a) for a in sets.audits.values()]
    except (data.DataError, SettingsError, contracts.ContractError) as exc:
        return "error", str(exc)
    blocking = [g for g in found if g.blocks]
    if blocking:
        return "error", f"{blocking[0].name}: {blocking[0].message}"
    return "ok", "\n".join([g.message for g in found if not g.passed] + notes)


# --- the first catalogue ---------------------------------------------------------------------


def _missing_file(d):
    return {"data_path": str(d / "nope.csv")}


def _empty_file(d):
    (d / "empty.csv").write_text("")
    return {"data_path": str(d / "empty.csv")}


def _header_only(d):
    (d / "header.csv").write_text("amount,is_fraud\n")
    return {"data_path": str(d / "header.csv")}


def _semicolon(d):
    return {"data_path": _write(_base(), d / "semi.csv", sep=";")}


def _unparseable(d):
    (d / "ragged.csv").write_text("a,b,is_fraud\n1,2,0\n3,4,1,5,6\n")
    return {"data_path": str(d / "ragged.csv")}


def _no_target(d):
    return {"data_path": _write(_base().drop(columns="is_fraud"), d / "x.csv")}


def _one_class(d):
    return {"data_path": _write(_base().assign(is_fraud=0), d / "x.csv")}


def _three_classes(d):
    frame = _base().assign(is_fraud=lambda f: np.where(f.index % 10 == 0, 2, f["is_fraud"]))
    return {"data_path": _write(frame, d / "x.csv")}


def _missing_labels(d):
    frame = _base()
    frame["is_fraud"] = frame["is_fraud"].astype(float).where(frame.index % 50 != 0)
    return {"data_path": _write(frame, d / "x.csv")}


def _fewer_positives_than_folds(d):
    frame = _base(rate=0.05)
    keep = (
        frame[frame["is_fraud"] == 0].index.tolist()
        + frame[frame["is_fraud"] == 1].index[:3].tolist()
    )
    return {"data_path": _write(frame.loc[sorted(keep)], d / "x.csv")}


def _few_positives_for_neighbours(d):
    return {
        "data_path": _write(_separable(positives=9), d / "x.csv"),
        "target": "y",
        "holdout_fraction": 0.3,
    }


def _no_positive_in_danger(d):
    # 25 positives far from every negative: each one's nearest neighbours are positives, so
    # BorderlineSMOTE finds none "in danger" and makes no rows (2 of 3 seeds failed the run).
    rng = np.random.default_rng(0)
    y = (np.arange(2000) < 25).astype(int)
    x = rng.normal(size=(2000, 3)) + 8 * y[:, None]
    frame = pd.DataFrame(x, columns=["a", "b", "c"]).assign(y=y)
    strategies = ("none", "class_weight", "borderline_smote")
    return {"data_path": _write(frame, d / "x.csv"), "target": "y", "strategies": strategies}


def _empty_column(d):
    return {"data_path": _write(_base().assign(blank=np.nan), d / "x.csv")}


def _constant_column(d):
    return {"data_path": _write(_base().assign(same=7), d / "x.csv")}


def _infinities(d):
    frame = _base()
    frame.loc[::100, "amount"] = np.inf
    return {"data_path": _write(frame, d / "x.csv")}


def _mixed_types(d):
    frame = _base()
    frame["amount"] = frame["amount"].astype(object)
    frame.loc[::97, "amount"] = "unknown"
    return {"data_path": _write(frame, d / "x.csv")}


def _duplicate_columns(d):
    text = _base().to_csv(index=False).splitlines()
    text[0] = text[0].replace("hour", "amount")
    (d / "x.csv").write_text("\n".join(text) + "\n")
    return {"data_path": str(d / "x.csv")}


def _non_unique_id(d):
    frame = _base().assign(tx_id=lambda f: f.index // 2)
    return {"data_path": _write(frame, d / "x.csv"), "id_column": "tx_id"}


def _leaking_feature(d):
    frame = _base().assign(chargeback_flag=lambda f: f["is_fraud"] * 3 + 1)
    return {"data_path": _write(frame, d / "x.csv")}


def _explicit_holdout(d, train: pd.DataFrame, test: pd.DataFrame, **extra):
    return {
        "data_path": _write(train, d / "train.csv"),
        "test_data_path": _write(test, d / "test.csv"),
        **extra,
    }


def _unseen_category(d):
    frame = _base()
    test = frame.iloc[1200:].copy()
    test.loc[test.index[:20], "channel"] = "telephone"
    return _explicit_holdout(d, frame.iloc[:1200], test)


def _odd_column_names(d):
    frame = _base().rename(columns={"amount": "montant payé €", "hour": "heure du jour"})
    return {"data_path": _write(frame, d / "x.csv"), "categorical": ("merchant_category",)}


def _holdout_columns_differ(d):
    frame = _base()
    return _explicit_holdout(d, frame.iloc[:1200], frame.iloc[1200:].drop(columns="hour"))


# --- contracts are data, never code ----------------------------------------------------------

EVIL = "@logging.os.system('touch PWNED') != 0"


def _suite(*expectations) -> dict:
    return {"name": "my_rules", "expectations": list(expectations)}


def _not_null(column="amount", **kwargs) -> dict:
    return {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": column, **kwargs}}


def _contract(d, suite, name="suite.json"):
    path = d / name
    path.write_text(suite if isinstance(suite, str) else json.dumps(suite))
    return {"data_path": _write(_base(), d / "x.csv"), "contract_path": str(path)}


def _pandas_row_condition(d):
    return _contract(d, _suite(_not_null(row_condition=EVIL, condition_parser="pandas")))


def _python_row_condition(d):
    return _contract(d, _suite(_not_null(row_condition=EVIL, condition_parser="python")))


def _structured_row_condition(d):
    condition = {
        "type": "comparison",
        "column": {"name": "amount"},
        "operator": ">",
        "parameter": 0,
    }
    return _contract(d, _suite(_not_null(row_condition=condition)))


def _unknown_expectation(d):
    suite = _suite({"type": "expect_colum_values_to_not_be_null", "kwargs": {"column": "amount"}})
    return _contract(d, suite)


def _empty_suite(d):
    return _contract(d, _suite())


def _misspelt_argument(d):
    suite = _suite({"type": "expect_column_values_to_not_be_null", "kwargs": {"columnn": "amount"}})
    return _contract(d, suite)


def _contract_missing_column(d):
    return _contract(d, _suite(_not_null("amout")))


def _contract_not_json(d):
    return _contract(d, "{'expectations': []")


def _contract_not_a_suite(d):
    return _contract(d, [_not_null()])


def _contract_any_suffix(d):
    return _contract(d, _suite(_not_null()), name="rules.txt")


def _planted_contract(d):
    data_path = _write(_base(), d / "x.csv")
    name = derived.derived_contract_name(data_path, "is_fraud")
    (d / "contracts").mkdir()
    planted = _suite(_not_null(row_condition=EVIL, condition_parser="pandas"))
    (d / "contracts" / name).write_text(json.dumps(planted))
    return {"data_path": data_path}


# --- contracts are data: literal values, allowed expectations only (issue 30) ---------------

SECRET = {"type": "string"}  # read as the schema, it would decide the check


def _json_schema(ref: str) -> dict:
    return {
        "type": "expect_column_values_to_match_json_schema",
        "kwargs": {"column": "merchant_category", "json_schema": {"$ref": ref}},
    }


def _json_schema_file(d):
    (d / "secret.json").write_text(json.dumps(SECRET))
    return _contract(d, _suite(_json_schema((d / "secret.json").as_uri())))


def _json_schema_url(d):
    return _contract(d, _suite(_json_schema("http://127.0.0.1:9/schema.json")))


def _ref_in_an_allowed_argument(d):
    (d / "secret.json").write_text(json.dumps(["fuel", "grocery"]))
    expectation = {
        "type": "expect_column_values_to_be_in_set",
        "kwargs": {"column": "merchant_category", "value_set": {"$ref": "secret.json"}},
    }
    return _contract(d, _suite(expectation))


def _between(**kwargs) -> dict:
    return {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "amount", **kwargs},
    }


def _parameter_expression(d):
    return _contract(d, _suite(_between(min_value={"$PARAMETER": "9^9^9"})))


def _parameter_name(d):
    return _contract(d, _suite(_between(min_value={"$PARAMETER": "min_rows"})))


def _sql_expectation(d):
    query = {
        "type": "expect_query_results_to_match_comparison",
        "kwargs": {
            "base_query": "SELECT COUNT(*) FROM {batch}",
            "comparison_data_source_name": "warehouse",
            "comparison_query": "SELECT COUNT(*) FROM payments",
        },
    }
    return _contract(d, _suite(query))


def _like_pattern(d):
    like = {
        "type": "expect_column_values_to_match_like_pattern",
        "kwargs": {"column": "region", "like_pattern": "%th"},
    }
    return _contract(d, _suite(like))


def _mostly_zero(d):
    return _contract(d, _suite(_between(min_value=1e9, mostly=0)))


def _nested_meta(d):
    meta: dict = {"why": "deep"}
    for _ in range(50):
        meta = {"more": meta}
    return _contract(d, _suite({**_not_null(), "meta": meta}))


def _nested_beyond_json(d):
    depth = 100_000  # deeper than json.loads can recurse
    text = json.dumps(_suite(_between(min_value=0)))
    text = text.replace('"min_value": 0', '"min_value": ' + "[" * depth + "]" * depth)
    return _contract(d, text)


def _regex_not_compiling(d):
    regex = {
        "type": "expect_column_values_to_match_regex",
        "kwargs": {"column": "region", "regex": "(north|south"},
    }
    return _contract(d, _suite(regex))


def _nan_bound(d):
    return _contract(d, _suite(_between(min_value=float("nan"))))


def _no_bounds(d):
    return _contract(d, _suite(_between()))


def _result_format(d):
    return _contract(d, _suite(_not_null(result_format="COMPLETE")))


def _long_value_set(d):
    listed = {
        "type": "expect_column_values_to_be_in_set",
        "kwargs": {"column": "hour", "value_set": list(range(100_001))},
    }
    return _contract(d, _suite(listed))


def _huge_contract_file(d):
    overrides = _contract(d, _suite(_not_null()))
    with open(overrides["contract_path"], "r+b") as f:
        f.truncate(33 * 2**20)  # a sparse file: its size is refused before it is read
    return overrides


def _allowed_expectations(d):
    suite = _suite(
        _not_null(mostly=0.99),
        _between(min_value=0, max_value=1e7, mostly=0.9),
        {
            "type": "expect_column_values_to_match_regex",
            "kwargs": {"column": "region", "regex": "^(?:north|south|east|west)$"},
        },
        {
            "type": "expect_column_quantile_values_to_be_between",
            "kwargs": {
                "column": "hour",
                "quantile_ranges": {"quantiles": [0.1, 0.9], "value_ranges": [[0, 6], [17, 23]]},
            },
        },
        {
            "type": "expect_column_pair_values_a_to_be_greater_than_b",
            "kwargs": {"column_A": "account_age_days", "column_B": "hour", "mostly": 0.5},
        },
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 100}},
    )
    return _contract(d, suite)


def _planted_json_schema(d):
    data_path = _write(_base(), d / "x.csv")
    (d / "contracts").mkdir()
    (d / "secret.json").write_text(json.dumps(SECRET))
    planted = _suite(_json_schema((d / "secret.json").as_uri()))
    name = derived.derived_contract_name(data_path, "is_fraud")
    (d / "contracts" / name).write_text(json.dumps(planted))
    return {"data_path": data_path}


# --- contracts: the kind of every key and ranges that can hold (attack on issue 30) ----------


def _keyed(**keys):
    return lambda d: _contract(d, _suite({**_not_null(), **keys}))


def _row_count(d):
    count = {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 10}}
    return _contract(d, _suite({**count, "kwargs": {"min_value": 10, "max_value": 1}}))


def _outliers(multiplier):
    kwargs = {"column": "amount", "multiplier": multiplier}
    return lambda d: _contract(
        d, _suite({"type": "expect_column_values_to_not_be_outliers", "kwargs": kwargs})
    )


def _z_scores_below_zero(d):
    kwargs = {"column": "amount", "threshold": -5, "double_sided": True}
    z = {"type": "expect_column_value_z_scores_to_be_less_than", "kwargs": kwargs}
    return _contract(d, _suite(z))


def _quantile_range_reversed(d):
    ranges = {"quantiles": [0.5], "value_ranges": [[30, 3]]}
    kwargs = {"column": "hour", "quantile_ranges": ranges}
    q = {"type": "expect_column_quantile_values_to_be_between", "kwargs": kwargs}
    return _contract(d, _suite(q))


def _between_strict(d):
    return _contract(d, _suite(_between(min_value=5, max_value=5, strict_min=True)))


def _planted_meta(d):
    data_path = _write(_base(), d / "x.csv")
    (d / "contracts").mkdir()
    name = derived.derived_contract_name(data_path, "is_fraud")
    (d / "contracts" / name).write_text(json.dumps(_suite({**_not_null(), "meta": "x"})))
    return {"data_path": data_path}


def _described(d):
    return _keyed(
        meta={"why": "amounts are always known"},
        notes=["from the payments team", "reviewed"],
        description="no missing amount",
        id="6f1c1f6e-7b4e-4a0e-9a8a-2d8c1a1d2e3f",
        rendered_content=None,
    )(d)


def _contract_device(d):
    return {"data_path": _write(_base(), d / "x.csv"), "contract_path": "/dev/zero"}


def _contract_fifo(d):
    os.mkfifo(d / "rules.json")  # opening it would wait for a writer forever
    return {"data_path": _write(_base(), d / "x.csv"), "contract_path": str(d / "rules.json")}


def _data_fifo(d):
    os.mkfifo(d / "x.csv")
    return {"data_path": str(d / "x.csv")}


def _data_folder(d):
    (d / "x.csv").mkdir()
    return {"data_path": str(d / "x.csv")}


def _gzipped(d, cut) -> str:
    whole = gzip.compress(_base().to_csv(index=False).encode())
    (d / "x.csv.gz").write_bytes(cut(whole))
    return str(d / "x.csv.gz")


def _gzip_truncated(d):
    return {"data_path": _gzipped(d, lambda whole: whole[: len(whole) // 2])}


def _gzip_corrupt(d):
    return {"data_path": _gzipped(d, lambda whole: whole[:20] + b"x" * 500 + whole[520:])}


def _target_named_like_a_path(d):
    frame = _base().rename(columns={"is_fraud": "../../escaped"})
    return {"data_path": _write(frame, d / "x.csv"), "target": "../../escaped"}


# --- which class is positive -----------------------------------------------------------------


def _majority_one(d):
    return {"data_path": _write(_base().assign(is_fraud=lambda f: 1 - f["is_fraud"]), d / "x.csv")}


def _majority_true(d):
    frame = _base().assign(is_fraud=lambda f: f["is_fraud"] == 0)
    return {"data_path": _write(frame, d / "x.csv")}


def _fifty_fifty_labels(d):
    frame = _base().assign(is_fraud=lambda f: np.where(f.index % 2 == 0, "spam", "ham"))
    return {"data_path": _write(frame, d / "x.csv")}


def _fifty_fifty_binary(d):
    return {"data_path": _write(_base().assign(is_fraud=lambda f: f.index % 2), d / "x.csv")}


def _majority_confirmed(d):
    return {**_majority_one(d), "positive_label": "1"}


def _holdout_without_the_positive_class(d):
    frame = _base()
    test = frame.iloc[1200:].assign(is_fraud="none")
    return _explicit_holdout(d, frame.iloc[:1200], test)


def _holdout_labels_written_as_floats(d):
    frame = _base()
    test = frame.iloc[1200:].assign(is_fraud=lambda f: f["is_fraud"].astype(float))  # 1.0/0.0
    return _explicit_holdout(d, frame.iloc[:1200], test)


def _training_labels_written_as_floats(d):
    frame = _base()
    train = frame.iloc[:1200].assign(is_fraud=lambda f: f["is_fraud"].astype(float))
    return _explicit_holdout(d, train, frame.iloc[1200:])


# --- numbers in disguise ---------------------------------------------------------------------


def _decimal_commas(d):
    return {"data_path": _write(_base().round(3), d / "x.csv", sep=";", decimal=","), "sep": ";"}


def _decimal_commas_parsed(d):
    return {**_decimal_commas(d), "decimal": ","}


def _with_text(column: str, render) -> pd.DataFrame:
    frame = _base()
    frame[column] = frame[column].map(render)
    return frame


def _thousands(d):
    return {"data_path": _write(_with_text("amount", lambda v: f"{v * 1000:,.2f}"), d / "x.csv")}


def _thousands_parsed(d):
    return {**_thousands(d), "thousands": ","}


def _currency(d):
    return {"data_path": _write(_with_text("amount", lambda v: f"${v:,.2f}"), d / "x.csv")}


def _percent(d):
    frame = _with_text("risk_score", lambda v: f"{v * 100:.1f}%")
    return {"data_path": _write(frame, d / "x.csv")}


def _dates(d):
    days = pd.date_range("2024-01-01", periods=1500, freq="37min").strftime("%Y-%m-%d %H:%M")
    return {"data_path": _write(_base().assign(created=days), d / "x.csv")}


def _dates_dropped(d):
    return {**_dates(d), "drop": ("created",)}


def _formulas(d):
    frame = _with_text("risk_score", lambda v: f'="{v:.2f}"')
    return {"data_path": _write(frame, d / "x.csv")}


def _apostrophes(d):
    return {"data_path": _write(_with_text("risk_score", lambda v: f"'{v:.2f}"), d / "x.csv")}


def _non_breaking_spaces(d):
    frame = _with_text("risk_score", lambda v: f"{v:.2f}\u00a0")
    return {"data_path": _write(frame, d / "x.csv")}


COMMA_FILE_DECIMALS = "save the file with ';' as its separator and pass --sep ';' --decimal ','"


def _amount_written(render):
    return lambda d: {"data_path": _write(_with_text("amount", render), d / "x.csv")}


FULLWIDTH = str.maketrans("0123456789.-", "０１２３４５６７８９．－")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def _clock(v):
    return f"{int(v) % 12 + 1}:{int(v * 60) % 60:02d} PM"


def _with_column(values, **extra):
    return lambda d: {
        "data_path": _write(_base().assign(code=values(1500)), d / "x.csv"),
        **extra,
    }


_ids = _with_column(lambda n: [f"TX{i:06d}" for i in range(n)])
_ids_named = _with_column(lambda n: [f"TX{i:06d}" for i in range(n)], id_column="code")
_patients = _with_column(lambda n: [f"P{i * 2 // 3:05d}" for i in range(n)], group="code")
_product_codes = _with_column(lambda n: [f"A{i % 300}" for i in range(n)])
_notes_as_categories = _with_column(
    lambda n: [f"order {i} of batch {i // 7}" for i in range(n)], categorical=("code",)
)


def _dates_written(fmt: str):
    def make(d):
        days = pd.date_range("2020-01-04", periods=1500, freq="7h").strftime(fmt)
        return {"data_path": _write(_base().assign(created=days), d / "x.csv")}

    return make


def _parquet_typed(values):
    def make(d):
        frame = _base().assign(extra=values(1500))
        frame.to_parquet(d / "x.parquet")
        return {"data_path": str(d / "x.parquet")}

    return make


_durations = _parquet_typed(lambda n: pd.to_timedelta(np.arange(n) * 7, unit="min"))
_timestamps = _parquet_typed(lambda n: pd.date_range("2020-01-04", periods=n, freq="7h"))


def _holdout_text_in_numbers(d, every):
    frame = _base()
    test = frame.iloc[1200:].copy()
    test["amount"] = test["amount"].astype(object)
    test.loc[test.index[::every], "amount"] = "n.a."
    return _explicit_holdout(d, frame.iloc[:1200], test)


def _holdout_with(change, parquet=False):
    def make(d):
        frame = _base()
        test = change(frame.iloc[1200:].copy())
        if not parquet:
            return _explicit_holdout(d, frame.iloc[:1200], test)
        test.to_parquet(d / "test.parquet")
        return {
            "data_path": _write(frame.iloc[:1200], d / "x.csv"),
            "test_data_path": str(d / "test.parquet"),
        }

    return make


_holdout_infinities = _holdout_with(
    lambda t: t.assign(amount=t["amount"].where(t.index % 50 != 0, np.inf))
)
_holdout_huge = _holdout_with(
    lambda t: t.assign(amount=t["amount"].where(t.index % 50 != 0, 1e200))
)
_holdout_true_false = _holdout_with(lambda t: t.assign(amount=t["amount"] > 50))
_holdout_durations = _holdout_with(
    lambda t: t.assign(amount=pd.to_timedelta(t["amount"], unit="s")), parquet=True
)


def _holdout_much_text(d):
    return _holdout_text_in_numbers(d, 10)


def _holdout_little_text(d):
    return _holdout_text_in_numbers(d, 150)


def _holdout_missing(d):
    frame = _base()
    test = frame.iloc[1200:].copy()
    test.loc[test.index[::10], "amount"] = np.nan  # written as empty cells
    return _explicit_holdout(d, frame.iloc[:1200], test)


def _latin1(d):
    frame = _base().assign(channel=lambda f: f["channel"].str.replace("o", "ö"))
    return {"data_path": _write(frame, d / "x.csv", encoding="latin-1")}


def _utf16(d):
    return {"data_path": _write(_base(), d / "x.csv", encoding="utf-16"), "encoding": "utf-16"}


def _latin1_parsed(d):
    return {**_latin1(d), "encoding": "latin-1"}


def _nested(d, column):
    frame = _base()
    frame["extra"] = column(len(frame))
    frame.to_parquet(d / "x.parquet")
    return {"data_path": str(d / "x.parquet")}


def _parquet_list(d):
    return _nested(d, lambda n: [[i, i + 1] for i in range(n)])


def _parquet_struct(d):
    return _nested(d, lambda n: [{"a": i, "b": "x"} for i in range(n)])


def _drop_unknown(d):
    return {"data_path": _write(_base(), d / "x.csv"), "drop": ("nope",)}


# --- settings refused before anything runs ---------------------------------------------------


def _settings(**values):
    return lambda d: {"data_path": _write(_base(), d / "x.csv"), **values}


# --- values a run cannot use, refused as read --------------------------------------------------


def _huge_values(d):
    frame = _base()
    frame.loc[::20, "amount"] *= 1e158  # near 1e160: their squares overflow float64
    return {"data_path": _write(frame, d / "x.csv")}


def _large_values(d):
    frame = _base().assign(amount=lambda f: f["amount"] * 1e95)  # large, yet every sum stays finite
    return {"data_path": _write(frame, d / "x.csv")}


# --- reporting -------------------------------------------------------------------------------


def _single_feature(d):
    rng = np.random.default_rng(3)
    y = (rng.random(2000) < 0.05).astype(int)
    frame = pd.DataFrame({"x": rng.normal(size=2000) + 1.3 * y, "y": y})
    return {"data_path": _write(frame, d / "x.csv"), "target": "y"}


def _text_subgroup_of_ids(d):
    frame = _base().assign(customer=lambda f: [f"c{i}" for i in range(len(f))])
    return {"data_path": _write(frame, d / "x.csv"), "subgroups": ("customer",)}


ERROR, WARN, OK, CLEAN = "error", "warn", "ok", "clean"

# (case, inputs, expected text, outcome). ERROR: the first error names the problem and the
# fix; WARN: the run goes on and a warning says it; OK: the run goes on; CLEAN: the run goes
# on without any warning.
LOOK = "'amount' holds numbers in look-alike characters (a Unicode minus, fullwidth or"
NEGATIVE = "holds negative numbers in parentheses or with a trailing minus"
PER_VALUE = "holds text with a number in nearly every value, 1,409 distinct in 1,500 rows"
JSON_SCHEMA_REFUSED = (
    "(expect_column_values_to_match_json_schema) may not be used in a contract: it resolves '$ref'"
)
SUITE_PARAMETER = "argument 'min_value' is a suite parameter ($PARAMETER)"

CATALOGUE = [
    ("missing file", _missing_file, "data file not found", ERROR),
    ("empty file", _empty_file, "data file is empty", ERROR),
    ("header only", _header_only, "data file has no rows", ERROR),
    ("wrong delimiter", _semicolon, "pass --sep ';'", ERROR),
    ("unparseable file", _unparseable, "cannot parse", ERROR),
    ("target column missing", _no_target, "target column 'is_fraud' not in the data", ERROR),
    (
        "target column in another case",
        _settings(target="IS_FRAUD"),
        "target column 'IS_FRAUD' not in the data: did you mean 'is_fraud'? (13 columns: amount,",
        ERROR,
    ),
    ("target with one class", _one_class, "only one class", ERROR),
    ("more than two classes", _three_classes, "multi-class is not yet supported", ERROR),
    ("missing labels", _missing_labels, "missing labels", ERROR),
    ("fewer positives than folds", _fewer_positives_than_folds, "lower --folds", ERROR),
    (
        "too few positives for neighbours",
        _few_positives_for_neighbours,
        "k_neighbors lowered",
        WARN,
    ),
    (
        "no positive in danger for BorderlineSMOTE",
        _no_positive_in_danger,
        "BorderlineSMOTE made no rows: no minority row is in danger",
        WARN,
    ),
    ("column entirely null", _empty_column, "column 'blank' is entirely empty", ERROR),
    ("constant column", _constant_column, "column 'same' is constant", WARN),
    ("infinities", _infinities, "column 'amount' has 15 infinite values", ERROR),
    ("mixed types", _mixed_types, "column 'amount' mixes numbers and text", ERROR),
    ("duplicate column names", _duplicate_columns, "duplicate column name 'amount'", ERROR),
    ("non-unique id column", _non_unique_id, "id column 'tx_id' has duplicate values", ERROR),
    ("leaking feature", _leaking_feature, "feature 'chargeback_flag' alone separates", WARN),
    ("unseen holdout category", _unseen_category, "categories never seen in training", WARN),
    ("spaces and non-ASCII names", _odd_column_names, "", CLEAN),
    ("holdout columns differ", _holdout_columns_differ, "columns differ", ERROR),
    # contracts are data, never code
    ("contract row condition, pandas", _pandas_row_condition, "sets 'row_condition'", ERROR),
    ("contract row condition, python", _python_row_condition, "sets 'row_condition'", ERROR),
    ("contract structured row condition", _structured_row_condition, "'row_condition'", ERROR),
    (
        "contract expectation type misspelt",
        _unknown_expectation,
        "did you mean 'expect_column_values_to_not_be_null'",
        ERROR,
    ),
    ("contract with no expectations", _empty_suite, "has no expectations", ERROR),
    ("contract argument misspelt", _misspelt_argument, "unknown argument 'columnn'", ERROR),
    (
        "contract names a missing column",
        _contract_missing_column,
        "names column 'amout', which is not in the data (did you mean 'amount'? columns: ",
        ERROR,
    ),
    ("contract not JSON", _contract_not_json, "is not valid JSON", ERROR),
    ("contract not a suite", _contract_not_a_suite, "is not a GX suite", ERROR),
    ("contract file not named .json", _contract_any_suffix, "", OK),
    ("contract planted in the instance", _planted_contract, "sets 'row_condition'", ERROR),
    ("target named like a path", _target_named_like_a_path, "", OK),
    # contracts are data: literal values, allowed expectations only
    ("contract json_schema reading a file", _json_schema_file, JSON_SCHEMA_REFUSED, ERROR),
    ("contract json_schema fetching a URL", _json_schema_url, JSON_SCHEMA_REFUSED, ERROR),
    ("contract $ref in an argument", _ref_in_an_allowed_argument, "holds a '$ref'", ERROR),
    ("contract $PARAMETER expression", _parameter_expression, SUITE_PARAMETER, ERROR),
    ("contract $PARAMETER name", _parameter_name, SUITE_PARAMETER, ERROR),
    ("contract SQL query expectation", _sql_expectation, "runs SQL against a database", ERROR),
    ("contract LIKE pattern", _like_pattern, "is SQL only (LIKE)", ERROR),
    ("contract mostly 0", _mostly_zero, "'mostly' must be a share of rows from 0.5", ERROR),
    ("contract nested 50 levels", _nested_meta, "nests deeper than 20 levels", ERROR),
    ("contract nested 100,000 levels", _nested_beyond_json, "nests deeper than 20", ERROR),
    ("contract regex not compiling", _regex_not_compiling, "Python can compile", ERROR),
    ("contract NaN bound", _nan_bound, "argument 'min_value' is nan; write a finite", ERROR),
    ("contract between without bounds", _no_bounds, "so it checks nothing", ERROR),
    ("contract result_format", _result_format, "sets 'result_format'", ERROR),
    ("contract listing 100,001 values", _long_value_set, "more than the 100,000", ERROR),
    ("contract file of 33 MB", _huge_contract_file, "more than the 32 MB", ERROR),
    ("contract of allowed expectations", _allowed_expectations, "", OK),
    ("contract json_schema planted", _planted_json_schema, JSON_SCHEMA_REFUSED, ERROR),
    ("contract meta as text", _keyed(meta="x"), "'meta' must be an object", ERROR),
    ("contract meta as a list", _keyed(meta=[1]), "'meta' must be an object", ERROR),
    ("contract notes as an object", _keyed(notes={"a": 1}), "'notes' must be text or a", ERROR),
    ("contract rendered_content", _keyed(rendered_content="junk"), "display output", ERROR),
    ("contract id as a number", _keyed(id=5), "'id' must be text", ERROR),
    ("contract meta planted", _planted_meta, "'meta' must be an object ({...})", ERROR),
    ("contract row count 10 to 1", _row_count, "'min_value' (10) is above 'max_value' (1)", ERROR),
    ("contract between 5 and 5, strict", _between_strict, "with a strict bound", ERROR),
    ("contract outliers multiplier -1e300", _outliers(-1e300), "must be a number above 0", ERROR),
    ("contract z-score below 0, two-sided", _z_scores_below_zero, "no |z| is below it", ERROR),
    ("contract quantile range reversed", _quantile_range_reversed, "[30, 3], whose low", ERROR),
    ("contract outliers multiplier 100", _outliers(100), "", OK),
    ("contract with meta, notes, description and id", _described, "", OK),
    ("contract /dev/zero", _contract_device, "/dev/zero is not a regular file (a device)", ERROR),
    ("contract a named pipe", _contract_fifo, "is not a regular file (a named pipe)", ERROR),
    ("data file a named pipe", _data_fifo, "is not a regular file (a named pipe)", ERROR),
    ("data file a folder", _data_folder, "is not a regular file (a folder); give a", ERROR),
    ("gzip file cut short", _gzip_truncated, "x.csv.gz is a damaged gzip file (Compressed", ERROR),
    ("gzip file corrupt", _gzip_corrupt, "is a damaged gzip file (Error -3", ERROR),
    # which class is positive
    ("majority class is 1", _majority_one, "the positive class '1' is the majority", ERROR),
    ("majority class is True", _majority_true, "'True' is the majority", ERROR),
    ("50:50 text labels", _fifty_fifty_labels, "are equally frequent", ERROR),
    ("50:50 binary labels", _fifty_fifty_binary, "are equally frequent", ERROR),
    ("majority confirmed with --positive-label", _majority_confirmed, "", OK),
    (
        "holdout file without the positive class",
        _holdout_without_the_positive_class,
        "its target has no '1' rows",
        ERROR,
    ),
    ("holdout labels 1.0/0.0, training 1/0", _holdout_labels_written_as_floats, "", OK),
    ("training labels 1.0/0.0, holdout 1/0", _training_labels_written_as_floats, "", OK),
    ("--positive-label 1.0 for 1/0 labels", _settings(positive_label="1.0"), "", OK),
    # numbers in disguise
    ("decimal commas", _decimal_commas, "pass --decimal ','", ERROR),
    ("decimal commas with --decimal", _decimal_commas_parsed, "", OK),
    ("thousands separators", _thousands, "pass --thousands ','", ERROR),
    ("thousands separators with --thousands", _thousands_parsed, "", OK),
    ("currency signs", _currency, "holds amounts with a currency sign", ERROR),
    ("percent signs", _percent, "column 'risk_score' holds percentages", ERROR),
    ("dates", _dates, "column 'created' holds dates or times", ERROR),
    ("dates left out with --drop", _dates_dropped, "", OK),
    ("numbers as formulas", _formulas, "'risk_score' holds numbers wrapped in spreadsheet", ERROR),
    ("numbers after an apostrophe", _apostrophes, "marked as text by a leading apostrophe", ERROR),
    ("numbers with a non-breaking space", _non_breaking_spaces, "padded with invisible", ERROR),
    ("numbers with a Unicode minus", _amount_written(lambda v: f"\u2212{v:.2f}"), LOOK, ERROR),
    (
        "numbers in fullwidth digits",
        _amount_written(lambda v: f"{v:.2f}".translate(FULLWIDTH)),
        LOOK,
        ERROR,
    ),
    (
        "numbers in Arabic-Indic digits",
        _amount_written(lambda v: f"{v:.2f}".translate(ARABIC_INDIC)),
        LOOK,
        ERROR,
    ),
    (
        "numbers with a zero-width space",
        _amount_written(lambda v: f"{v:.2f}\u200b"),
        "zero-width",
        ERROR,
    ),
    (
        "numbers after a byte-order mark",
        _amount_written(lambda v: f"\ufeff{v:.2f}"),
        "padded with invisible",
        ERROR,
    ),
    ("negatives in parentheses", _amount_written(lambda v: f"({v:.2f})"), NEGATIVE, ERROR),
    ("negatives with a trailing minus", _amount_written(lambda v: f"{v:.2f}-"), NEGATIVE, ERROR),
    (
        "thousands by thin spaces",
        _amount_written(lambda v: f"{v * 1000:,.2f}".replace(",", "\u2009")),
        "holds numbers with thousands separators",
        ERROR,
    ),
    (
        "times with AM/PM",
        _amount_written(_clock),
        "'amount' holds dates or times written as text",
        ERROR,
    ),
    (
        "scientific with a decimal comma",
        _amount_written(lambda v: f"{v:.2e}".replace(".", ",")),
        COMMA_FILE_DECIMALS,
        ERROR,
    ),
    # "0,58" quoted in a ','-separated file: --decimal ',' is refused beside --sep ','.
    (
        "decimal commas quoted",
        _amount_written(lambda v: f"{v:.2f}".replace(".", ",")),
        COMMA_FILE_DECIMALS,
        ERROR,
    ),
    (
        "numbers with a unit",
        _amount_written(lambda v: f"{v:.2f} km"),
        "holds numbers with a unit",
        ERROR,
    ),
    ("hexadecimal numbers", _amount_written(lambda v: hex(int(v * 100))), PER_VALUE, ERROR),
    ("an id column not named", _ids, "pass --id code or --drop code", ERROR),
    ("an id column named with --id", _ids_named, "", OK),
    ("product codes that repeat", _product_codes, "", OK),
    ("a text --group of patient ids", _patients, "", OK),
    ("text of many values with --categorical", _notes_as_categories, "", OK),
    ("dates with slashes", _dates_written("%Y/%m/%d %H:%M"), "(e.g. '2020/05/20 09:00')", ERROR),
    ("dates with month names", _dates_written("%d-%b-%Y"), "holds dates or times", ERROR),
    ("dates in words", _dates_written("%b %d, %Y"), "'created' holds dates or times", ERROR),
    ("Parquet durations", _durations, "column 'extra' is stored as durations", ERROR),
    ("Parquet timestamps", _timestamps, "'extra' is stored as dates or times", ERROR),
    ("holdout with infinities", _holdout_infinities, "column 'amount' has 6 infinite", ERROR),
    ("holdout with values near 1e200", _holdout_huge, "'amount' has 6 values beyond 1e100", ERROR),
    ("holdout with True/False for numbers", _holdout_true_false, "holds True/False", ERROR),
    ("holdout with Parquet durations", _holdout_durations, "is stored as durations", ERROR),
    ("holdout with 10% text in a number column", _holdout_much_text, "(10.0%)", ERROR),
    ("holdout with a little text", _holdout_little_text, "are not numbers", WARN),
    (
        "holdout with far more missing values",
        _holdout_missing,
        "holdout column 'amount' is 10.0% missing against 0.0% in training",
        WARN,
    ),
    ("latin-1 file", _latin1, "pass --encoding", ERROR),
    ("latin-1 file with --encoding", _latin1_parsed, "", OK),
    ("Parquet list column", _parquet_list, "column 'extra' in x.parquet holds lists", ERROR),
    ("Parquet struct column", _parquet_struct, "holds lists or structs", ERROR),
    ("--drop names a missing column", _drop_unknown, "--drop column 'nope' is not in", ERROR),
    # settings refused before anything runs
    ("negative seed", _settings(seed=-1), "--seed must be a whole number", ERROR),
    ("two-character separator", _settings(sep="ab"), "--sep must be one character", ERROR),
    ("decimal mark equal to separator", _settings(decimal=","), "--decimal must differ", ERROR),
    ("unknown encoding", _settings(encoding="utf-9"), "unknown --encoding 'utf-9'", ERROR),
    ("--max-negatives 1", _settings(max_negatives=1), "or at least 100", ERROR),
    ("--drop the target", _settings(drop=("is_fraud",)), "--drop names 'is_fraud'", ERROR),
    ("--fp-cost nan", _settings(fp_cost=float("nan")), "--fp-cost must be a finite number", ERROR),
    (
        "--beta inf",
        _settings(beta=float("inf")),
        "--beta must be a finite number in (0, 100]",
        ERROR,
    ),
    (
        "--num-leaves 100000000",
        _settings(num_leaves=100_000_000),
        "--num-leaves must be a whole number from 2 to 131072, got 100000000",
        ERROR,
    ),
    ("--trees 10000000", _settings(n_estimators=10**7), "--trees must be a whole number", ERROR),
    ("--learning-rate nan", _settings(learning_rate=float("nan")), "in (0, 1], got nan", ERROR),
    ("--folds 1000", _settings(n_folds=1000), "--folds must be a whole number from 2 to 20", ERROR),
    (
        "--promotion-margin 0.9",
        _settings(promotion_margin=0.9),
        "--promotion-margin must be a finite number in [0, 0.5], got 0.9",
        ERROR,
    ),
    ("--encoding hex", _settings(encoding="hex"), "--encoding 'hex' is not a text encoding", ERROR),
    ("--encoding idna", _settings(encoding="idna"), "'idna' cannot read a CSV file (Unsup", ERROR),
    ("--encoding punycode", _settings(encoding="punycode"), "cannot read a CSV file", ERROR),
    ("a UTF-16 file with --encoding utf-16", _utf16, "", OK),
    ("--thousands 0", _settings(thousands="0"), "--thousands '0' would misread the file", ERROR),
    ("--decimal 1", _settings(decimal="1"), "--decimal '1' would misread the file", ERROR),
    ("--decimal e", _settings(decimal="e"), "digits and letters are part of numbers", ERROR),
    ("--thousands -", _settings(thousands="-"), "'+' and '-' are signs", ERROR),
    ("--thousands a tab", _settings(thousands="\t"), "whitespace ends fields and rows", ERROR),
    ("--thousands no-break space", _settings(thousands="\u00a0"), "ASCII marks only", ERROR),
    ("--thousands a space", _settings(thousands=" "), "", OK),
    ("--sep 0", _settings(sep="0"), "--sep '0' would misread the file", ERROR),
    ("--store memory://x", _settings(store="memory://x"), "memory:// keeps values in one", ERROR),
    ("--store http://", _settings(store="http://host/x"), "http:// is not a store every", ERROR),
    ("--store of an unknown scheme", _settings(store="nope://x"), "nope:// is not a store", ERROR),
    ("--store s3://", _settings(store="s3://bucket/imbal"), "", OK),
    # values a run cannot use, refused as read
    ("feature values near 1e160", _huge_values, "column 'amount' has 75 values beyond", ERROR),
    ("feature values near 1e95", _large_values, "", OK),
    # reporting
    ("a single feature", _single_feature, "", CLEAN),
    ("text subgroup with a value per row", _text_subgroup_of_ids, "1,500 distinct values", ERROR),
]


def refused_up_front(overrides: dict) -> str | None:
    """What `run` says before it starts (`upfront.settings_problem`) with these settings."""
    try:
        s = Settings(**{**SMALL, **overrides})
    except SettingsError:
        return None
    return upfront.settings_problem(s)


# The cases a run refuses before it starts: a file the step cannot read as a table, a column a
# setting names, or the target's labels.
UP_FRONT = {
    "empty file",
    "header only",
    "wrong delimiter",
    "unparseable file",
    "duplicate column names",
    "gzip file cut short",
    "gzip file corrupt",
    "latin-1 file",
    "Parquet list column",
    "Parquet struct column",
    "target column missing",
    "target column in another case",
    "target with one class",
    "more than two classes",
    "missing labels",
    "non-unique id column",
    "majority class is 1",
    "majority class is True",
    "50:50 text labels",
    "50:50 binary labels",
    "--drop names a missing column",
    "text subgroup with a value per row",
}


@pytest.mark.parametrize(
    ("case", "make", "message", "outcome"), CATALOGUE, ids=[c[0] for c in CATALOGUE]
)
def test_bad_input_catalogue(tmp_path, monkeypatch, case, make, message, outcome):
    monkeypatch.chdir(tmp_path)  # where an injected `touch PWNED` would land
    overrides = make(tmp_path)
    early = refused_up_front(overrides)
    verdict, text = run_data_stages(tmp_path, fit_fold=outcome == WARN, **overrides)
    assert not (tmp_path / "PWNED").exists(), "a contract ran code"
    # Settings that do not fit the file are refused before a run starts (nothing is written to
    # the project file), in the words of the step that would refuse them.
    if case in UP_FRONT:
        assert (verdict, text) == (ERROR, early)
    else:
        assert early is None, early
    if outcome == ERROR:
        assert verdict == ERROR, text
        assert message in text, text
        assert "\n" not in text and "Traceback" not in text
    elif outcome == WARN:
        assert verdict == OK, text
        assert message in text, text
    elif outcome == OK:
        assert verdict == OK, text
    else:
        assert (verdict, text) == (OK, ""), text


def test_an_error_of_the_machine_while_reading_is_left_to_the_step(tmp_path, monkeypatch):
    # A flaky mount (EIO) is no fault of the file: the run reads it again; a parse error is.
    path = tmp_path / "x.csv"
    path.write_text("amount,is_fraud\n1,0\n")

    def read_table(p, options):
        raise data.DataError(f"cannot parse {p} (Input/output error)") from OSError(5, "EIO")

    monkeypatch.setattr(data, "read_table", read_table)
    assert refused_up_front({"data_path": str(path), "target": "is_fraud"}) is None

    def parse_error(p, options):
        raise data.DataError(f"cannot parse {p} (bad)") from ValueError("bad")

    monkeypatch.setattr(data, "read_table", parse_error)
    assert refused_up_front({"data_path": str(path), "target": "is_fraud"}).endswith("(bad)")


def test_catalogue_has_grown_to_sixty_cases():
    assert len(CATALOGUE) >= 60
    assert len({c[0] for c in CATALOGUE}) == len(CATALOGUE)


def test_the_readme_counts_the_catalogues_cases():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert f"`tests/test_bad_input.py`, {len(CATALOGUE)} cases run" in readme


def test_a_missing_target_is_named_among_all_the_columns_with_the_one_meant_first():
    wide = pd.DataFrame({**{f"f{i}": [0.0, 1.0] for i in range(52)}, "target": [0, 1]})
    listed = (
        "(53 columns: f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, ... and 41 more ..., target)"
    )
    meant = ": did you mean 'target'?"
    # Unlike in name, in case only, misspelt (difflib's closest name).
    for asked, hint in (("label", ""), ("Target", meant), ("targte", meant)):
        with pytest.raises(data.DataError) as caught:
            data.prepare_frame(wide, Settings(target=asked))
        assert str(caught.value) == (
            f"target column {asked!r} not in the data{hint} {listed}; fix --target"
        )
    few = pd.DataFrame({"a": [1, 2], "y": [0, 1]})
    with pytest.raises(data.DataError) as caught:
        data.prepare_frame(few, Settings(target="x"))
    assert str(caught.value) == "target column 'x' not in the data (2 columns: a, y); fix --target"


def test_a_derived_contract_stays_inside_its_folder_whatever_the_target(tmp_path):
    overrides = _target_named_like_a_path(tmp_path)
    assert run_data_stages(tmp_path, **overrides) == (OK, "")
    saved = [p for p in tmp_path.rglob("*.json")]
    assert len(saved) == 1 and saved[0].parent == tmp_path / "contracts"


def test_a_confirmed_majority_class_is_modelled_as_positive(tmp_path):
    s = Settings(**{**SMALL, **_majority_confirmed(tmp_path)})
    raw, _ = inputs.load_raw(s)
    assert raw["__label"].mean() > 0.9
    assert split.imbalance_profile(raw, s).positive_label == "1"


def test_a_confirmed_majority_class_is_rebalanced_against_the_minority_in_the_folds(tmp_path):
    """thyroid_sick with --positive-label 0 stopped at `resampling_promise`: every resampler
    now takes the negatives as the minority its ratio is about, and keeps its promise."""
    from imbal_pipeline.core.train import gates

    s = Settings(**{**SMALL, **_majority_confirmed(tmp_path)})
    raw, _ = inputs.load_raw(s)
    marked, _, _ = inputs.split_raw(raw, s)
    train = split.training_part(marked)
    folds = split.make_folds(train, s.n_folds, s.seed)
    sets = training.build_fold_training_sets(train, folds, 0, data.feature_schema(train, s), s)
    gate = gates.resampling_promise(sets, s.sampling_ratio)
    assert gate.passed, gate.message
    for name in ("undersample", "smote", "borderline_smote", "smoteenn", "balanced_bagging"):
        audit = sets.audits[name]
        if name == "borderline_smote":  # the fraud data's categorical columns rule it out
            assert "no categorical variant" in audit["skipped"]
            continue
        counts = audit.get("rows_after_oversampling") or audit["rows_after"]
        assert counts["0"] / counts["1"] == pytest.approx(s.sampling_ratio, abs=0.01), name
        assert "the positives are the majority here" in audit["note"], name
    assert (sets.synthetic[LABEL] == 0).all() and len(sets.synthetic) > 0


def test_parsed_decimal_commas_read_the_same_numbers(tmp_path):
    plain = Settings(**{**SMALL, "data_path": _write(_base().round(3), tmp_path / "plain.csv")})
    comma = Settings(**{**SMALL, **_decimal_commas_parsed(tmp_path)})
    a, b = (inputs.load_raw(s)[0] for s in (plain, comma))
    pd.testing.assert_frame_equal(a, b)


def _grouped(thousands: str, decimal: str = "."):
    swap = {",": thousands, ".": decimal}
    return lambda v: "".join(swap.get(c, c) for c in f"{v * 1000:,.2f}")


@pytest.mark.parametrize(
    "marks",
    [
        {"thousands": ","},
        {"thousands": " "},
        {"sep": ";", "decimal": ",", "thousands": "."},
    ],
    ids=["thousands comma", "thousands space", "decimal comma, thousands point"],
)
def test_numbers_read_with_a_thousands_separator_are_a_clean_files_to_the_last_bit(tmp_path, marks):
    # Given `thousands`, pandas' parser reads every decimal number by another routine: about
    # 7 % of the cells came back one unit in the last place off, even in plain columns.
    frame = _base(n=3000)  # unrounded: 15 to 17 significant digits
    written = frame.assign(
        amount=frame["amount"].map(_grouped(marks["thousands"], marks.get("decimal", ".")))
    )
    written.to_csv(
        tmp_path / "marked.csv",
        index=False,
        sep=marks.get("sep", ","),
        decimal=marks.get("decimal", "."),
    )
    clean = frame.assign(amount=frame["amount"].map(lambda v: float(f"{v * 1000:.2f}")))
    plain = Settings(**{**SMALL, "data_path": _write(clean, tmp_path / "plain.csv")})
    marked = Settings(**{**SMALL, "data_path": str(tmp_path / "marked.csv"), **marks})
    a, b = (inputs.load_raw(s)[0] for s in (plain, marked))
    assert b["amount"].dtype == np.float64 and (b["amount"] > 1000).any()
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_settings_are_refused_at_construction(tmp_path):
    base = Settings(**SMALL)
    with pytest.raises(SettingsError, match="--seed"):
        dataclasses.replace(base, seed=2**32)


def test_a_sampler_that_makes_nothing_is_recorded_and_the_run_goes_on(tmp_path):
    from imbal_pipeline.core import method
    from imbal_pipeline.core.train import gates, selection

    s = Settings(**{**SMALL, **_no_positive_in_danger(tmp_path), "output_dir": str(tmp_path)})
    raw, _ = inputs.load_raw(s)
    marked, _, _ = inputs.split_raw(raw, s)
    train = split.training_part(marked)
    folds = split.make_folds(train, s.n_folds, s.seed)
    schema = data.feature_schema(train, s)
    fold_models = []
    for fold in range(s.n_folds):
        sets = training.build_fold_training_sets(train, folds, fold, schema, s)
        audit = sets.audits["borderline_smote"]
        assert audit["synthetic_rows"] == 0 and not audit["skipped"]
        assert "no minority row is in danger" in audit["note"]
        # The fold's gate accepts a shortfall whose reason is recorded; the run goes on.
        assert gates.resampling_promise(sets, s.sampling_ratio).passed
        fold_models.append(training.fit_fold_models(sets, s))
    # Scored as what it is: on the original rows, the same model and scores as `none`.
    oof = selection.compare_folds(fold_models, s).oof
    by = {name: part.sort_values(ROW_ID)[SCORE].to_numpy() for name, part in oof.groupby(STRATEGY)}
    np.testing.assert_array_equal(by["borderline_smote"], by["none"])
    report = method.fit_and_evaluate(s).report
    assert report["cv"]["borderline_smote"]["skipped"] is None
    assert any(
        "`borderline_smote` in fold(s) 0, 1, 2: BorderlineSMOTE made no rows" in n
        for n in report["notes"]
    )


def test_every_number_setting_declares_its_range_and_the_help_shows_it():
    from imbal_pipeline.cli.arguments import build_parser
    from imbal_pipeline.core import settings as settings_core

    numbers = [f for f in settings_core.fields() if settings_core.types()[f.name] in (int, float)]
    # --max-negatives is 0 or at least 100, a range with a hole: its own rule says so.
    assert [f.name for f in numbers if f.metadata["bounds"] is None] == ["max_negatives"]
    text = build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    assert "from 2 to 131072" in " ".join(text.split())  # --num-leaves, LightGBM's limit


def test_a_range_bounded_on_one_side_reads_as_that_side_alone():
    from imbal_pipeline.core.limits import Bounds

    assert Bounds(ge=0).text(whole=False) == ">= 0" and Bounds(gt=0).text(whole=False) == "> 0"
    # An upper bound alone (no setting declares one yet) reads as such, not as "[None, 5]".
    assert Bounds(le=5).text(whole=False) == "<= 5" and Bounds(lt=0.5).text(whole=False) == "< 0.5"


def test_every_store_scheme_taken_is_one_fsspec_writes_to():
    from fsspec.registry import known_implementations
    from upath.registry import available_implementations

    from imbal_pipeline.core.limits import SHARED_STORES

    known = set(known_implementations) | set(available_implementations())
    assert set(SHARED_STORES) <= known
    assert "memory" in known and "memory" not in SHARED_STORES


def test_one_label_rule_reads_1_and_1_0_and_text_1_alike():
    values = pd.Series([1, 1.0, "1", "1.0", True, "True", 0, "0.0", "yes", np.nan], dtype=object)
    text = data.label_text(values)
    assert text.iloc[:-1].tolist() == ["1", "1", "1", "1", "True", "True", "0", "0", "yes"]
    assert pd.isna(text.iloc[-1])
    assert data.is_label(pd.Series([0.0, 1.0]), "1").tolist() == [False, True]
    assert data.is_label(pd.Series(["0", "1"]), 1.0).tolist() == [False, True]
    assert data.is_label(pd.Series([True, False]), "True").tolist() == [True, False]
    assert not data.is_label(pd.Series([True]), "1").any()  # a boolean is not the number 1


def test_a_holdout_written_with_1_0_labels_marks_the_same_positives(tmp_path):
    s = Settings(**{**SMALL, **_holdout_labels_written_as_floats(tmp_path)})
    raw, _ = inputs.load_raw(s)
    marked, _, _ = inputs.split_raw(raw, s)
    holdout = split.holdout_part(marked)
    assert holdout["__label"].sum() == _base().iloc[1200:]["is_fraud"].sum() > 0


def test_a_fold_step_whose_every_strategy_is_skipped_is_a_valid_empty_value(tmp_path):
    # A categorical column rules BorderlineSMOTE out; as the only SMOTE-family rung its fold
    # step fits nothing, and the fold_models contract failed on the empty scores (exit 1).
    from imbal_pipeline.core.train import gates, selection, strategies

    s = Settings(
        **{**SMALL, "strategies": ("none", "borderline_smote"), "contracts_dir": str(tmp_path)}
    )
    raw, _ = inputs.load_raw(s)
    marked, _, _ = inputs.split_raw(raw, s)
    train = split.training_part(marked)
    folds = split.make_folds(train, s.n_folds, s.seed)
    schema = data.feature_schema(train, s)
    parts = []
    for fold in range(s.n_folds):
        sets = training.build_fold_training_sets(train, folds, fold, schema, s)
        parts.append(training.fit_fold_models(sets, s, ("none",)))
        empty = training.fit_fold_models(sets, s, strategies.SYNTHETIC)
        assert empty.strategies == ["borderline_smote"] and not empty.models
        suite = contracts.builtin_suite("fold_models")
        gate = gates.from_contract("contract", contracts.validate(empty.oof, suite))
        assert gate.passed, gate.message
        why = training.unscored_reason(empty)
        assert f"no strategy of this step was fitted in fold {fold}" in why
        assert "borderline_smote skipped: BorderlineSMOTE has no categorical variant" in why
        assert training.unscored_reason(parts[-1]) is None
        parts.append(empty)
    comparison = selection.compare_folds(parts, s)
    assert comparison.selected == "none"
    assert "no categorical variant" in comparison.table["borderline_smote"]["skipped"]


def test_contract_keys_and_ranges_are_checked_before_any_data_is_read(tmp_path):
    # `run` checks the contract up front with `load_suite` (exit 2); before, these passed it and
    # failed at raw_data, some with a raw pydantic ValidationError.
    cases = [
        _keyed(meta="x"),
        _keyed(meta=[1]),
        _keyed(notes={"a": 1}),
        _keyed(rendered_content="junk"),
        _row_count,
        _between_strict,
        _outliers(-1e300),
        _z_scores_below_zero,
        _quantile_range_reversed,
    ]
    for number, make in enumerate(cases):
        folder = tmp_path / str(number)
        folder.mkdir()
        with pytest.raises(contracts.ContractError, match="expectation 1"):
            contracts.load_suite(make(folder)["contract_path"])


def test_run_refuses_a_device_or_a_pipe_up_front_without_opening_it(tmp_path):
    from imbal_pipeline.cli.commands import _check_inputs

    os.mkfifo(tmp_path / "pipe")
    data_path = _write(_base(), tmp_path / "x.csv")
    out = str(tmp_path / "out")
    for field, path, flag in (
        ("contract_path", "/dev/zero", "--contract"),
        ("contract_path", str(tmp_path / "pipe"), "--contract"),
        ("test_data_path", str(tmp_path / "pipe"), "--test-data"),
    ):
        s = Settings(**{**SMALL, "data_path": data_path, field: path, "output_dir": out})
        problem = _check_inputs(s)
        assert problem.startswith(f"{flag} file {path} is not a regular file"), problem


def test_a_damaged_gzip_file_is_named_with_its_fix_wherever_it_is_read(tmp_path):
    path = _gzip_truncated(tmp_path)["data_path"]
    with pytest.raises(data.DamagedFileError, match="compress it again from the original"):
        data.read_table(path)
    # Choosing the executor counts its rows first; the raw_data step then says what is wrong.
    assert data.executor_of(Settings(data_path=path)) == "multiprocess"


@pytest.mark.parametrize(
    "text, said",
    [
        ("seed: [1\n", "expected ',' or ']'"),  # a parse error: what and where
        ("seed: 3\x07\n", "unacceptable character #x0007"),  # a reader error has no `problem`
    ],
)
def test_a_project_file_that_is_not_yaml_is_named_with_its_fix(tmp_path, text, said):
    from imbal_pipeline.core.project import PROJECT_FILE, load_project

    path = tmp_path / PROJECT_FILE
    path.write_text(text)
    with pytest.raises(SettingsError) as raised:
        load_project(path)
    message = str(raised.value)
    assert message.startswith(f"{path} is not valid YAML (") and said in message
    assert message.endswith("; fix the file") and "\n" not in message


def test_a_tab_separated_file_is_refused_with_a_flag_that_then_reads_it(tmp_path):
    path = _write(_base(), tmp_path / "tabbed.csv", sep="\t")
    with pytest.raises(Exception) as info:
        inputs.load_raw(Settings(**{**SMALL, "data_path": path}))
    message = str(info.value)
    assert message.endswith("it looks '\\t'-separated: pass --sep '\\t'")
    # What the message tells the user to type, as the command line or the Launchpad hands it on.
    given = message.rsplit("--sep ", 1)[1].strip("'")
    from imbal_pipeline.core.settings import from_values

    raw, _ = inputs.load_raw(from_values({**SMALL, "data_path": path, "sep": given}))
    assert set(_base().columns) <= set(raw.columns)  # each column read as its own
