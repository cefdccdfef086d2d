"""Data contracts: the bad-input catalogue, blocking gates, refusal of failed versions, drift."""

import json
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from conftest import SMALL, failed_checks, run_graph, value

from imbal_pipeline.cli import failure_reason
from imbal_pipeline.core.synthetic import make_fraud_data
from imbal_pipeline.definitions import build_definitions
from imbal_pipeline.resources import PipelineConfig
from imbal_pipeline.storage import BundleIOManager

ALL_ASSETS = {
    k.to_user_string() for k in build_definitions(3).resolve_asset_graph().materializable_asset_keys
}


def _base(n=1500, rate=0.05, seed=1) -> pd.DataFrame:
    return make_fraud_data(n, rate, seed=seed)


def _write(frame: pd.DataFrame, path: Path) -> str:
    frame.to_csv(path, index=False)
    return str(path)


def _separable(n=1200, positives=8, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = np.zeros(n, dtype=int)
    y[rng.choice(n, positives, replace=False)] = 1
    return pd.DataFrame({"x": y * 6 + rng.normal(size=n), "z": rng.normal(size=n), "y": y})


# Each case: a function writing the inputs into a folder and returning run overrides, the
# expected text of the one-line message, and whether the run must still succeed (warnings).
def _missing_file(d):
    return {"data_path": str(d / "nope.csv")}


def _empty_file(d):
    (d / "empty.csv").write_text("")
    return {"data_path": str(d / "empty.csv")}


def _semicolon(d):
    _base().to_csv(d / "semi.csv", index=False, sep=";")
    return str(d / "semi.csv")


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
    frame = _base()
    text = frame.to_csv(index=False).splitlines()
    text[0] = text[0].replace("hour", "amount")
    (d / "x.csv").write_text("\n".join(text) + "\n")
    return {"data_path": str(d / "x.csv")}


def _non_unique_id(d):
    frame = _base().assign(tx_id=lambda f: f.index // 2)
    return {"data_path": _write(frame, d / "x.csv"), "id_column": "tx_id"}


def _leaking_feature(d):
    frame = _base().assign(chargeback_flag=lambda f: f["is_fraud"] * 3 + 1)
    return {"data_path": _write(frame, d / "x.csv")}


def _unseen_category(d):
    frame = _base()
    train, test = frame.iloc[:1200], frame.iloc[1200:].copy()
    test.loc[test.index[:20], "channel"] = "telephone"
    return {
        "data_path": _write(train, d / "train.csv"),
        "test_data_path": _write(test, d / "test.csv"),
    }


def _odd_column_names(d):
    frame = _base().rename(columns={"amount": "montant payé €", "hour": "heure du jour"})
    return {"data_path": _write(frame, d / "x.csv"), "categorical": ["merchant_category"]}


def _holdout_columns_differ(d):
    frame = _base()
    return {
        "data_path": _write(frame.iloc[:1200], d / "train.csv"),
        "test_data_path": _write(frame.iloc[1200:].drop(columns="hour"), d / "test.csv"),
    }


CATALOGUE = [
    ("missing file", _missing_file, "data file not found", False),
    ("empty file", _empty_file, "data file is empty", False),
    ("wrong delimiter", lambda d: {"data_path": _semicolon(d)}, "pass --sep ';'", False),
    ("unparseable file", _unparseable, "cannot parse", False),
    ("target column missing", _no_target, "target column 'is_fraud' not in the data", False),
    ("target with one class", _one_class, "only one class", False),
    ("more than two classes", _three_classes, "multi-class is not yet supported", False),
    ("missing labels", _missing_labels, "missing labels", False),
    ("fewer positives than folds", _fewer_positives_than_folds, "lower --folds", False),
    (
        "too few positives for neighbours",
        _few_positives_for_neighbours,
        "k_neighbors lowered",
        True,
    ),
    ("column entirely null", _empty_column, "column 'blank' is entirely empty", False),
    ("constant column", _constant_column, "column 'same' is constant", True),
    ("infinities", _infinities, "column 'amount' has 15 infinite values", False),
    ("mixed types", _mixed_types, "column 'amount' mixes numbers and text", False),
    ("duplicate column names", _duplicate_columns, "duplicate column name 'amount'", False),
    ("non-unique id column", _non_unique_id, "id column 'tx_id' has duplicate values", False),
    ("leaking feature", _leaking_feature, "feature 'chargeback_flag' alone separates", True),
    ("unseen holdout category", _unseen_category, "categories never seen in training", True),
    ("spaces and non-ASCII names", _odd_column_names, None, True),
    ("holdout columns differ", _holdout_columns_differ, "columns differ", False),
]


def _messages(result) -> str:
    """Every check message and audit note of a run, to look for warnings."""
    texts = [e.metadata["message"].value for e in result.get_asset_check_evaluations()]
    for key in ("fold_0_training_sets", "fold_1_training_sets", "fold_2_training_sets"):
        for mat in result.asset_materializations_for_node(key):
            texts.append(json.dumps(mat.metadata["audits"].value))
    return "\n".join(texts)


@pytest.mark.parametrize(
    ("case", "make", "message", "succeeds"), CATALOGUE, ids=[c[0] for c in CATALOGUE]
)
def test_bad_input_catalogue(tmp_path, case, make, message, succeeds):
    overrides = make(tmp_path)
    result = run_graph(tmp_path, "run", expect_success=False, **overrides)
    materialized = {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()}
    if succeeds:
        assert result.success, failure_reason(result)
        assert materialized == ALL_ASSETS
        if message:
            assert message in _messages(result)
        return
    assert not result.success
    reason = failure_reason(result)
    assert message in reason, reason
    assert "\n" not in reason
    # Nothing downstream of the failure was written.
    assert materialized <= {"raw_data", "holdout_split"}, materialized
    assert "cv_folds" not in materialized
    stored = {p.name for p in (tmp_path / "run" / "storage").glob("*")}
    assert stored <= {"raw_data", "holdout_split"}
    assert not (tmp_path / "run" / "report").exists()


def test_catalogue_covers_the_issue_list():
    assert len(CATALOGUE) == 20


def _resources(tmp_path, **overrides):
    values = {
        **SMALL,
        "output_dir": str(tmp_path / "report"),
        "contracts_dir": str(tmp_path / "contracts"),
        **overrides,
    }
    return {
        "pipeline": PipelineConfig(**values),
        "io_manager": BundleIOManager(base_dir=str(tmp_path / "storage")),
    }


def test_failed_gate_blocks_downstream_and_a_lone_downstream_run_refuses_it(tmp_path):
    assets = list(build_definitions(3).assets)
    good = _write(_base(), tmp_path / "data.csv")
    assert dg.materialize(assets, resources=_resources(tmp_path, data_path=good)).success
    bad = _base()
    bad.loc[::100, "amount"] = np.inf
    _write(bad, tmp_path / "data.csv")
    failed = dg.materialize(
        assets, resources=_resources(tmp_path, data_path=good), raise_on_error=False
    )
    assert not failed.success
    assert "raw_data:no_infinities" in failed_checks(failed)
    ran = {m.asset_key.to_user_string() for m in failed.get_asset_materialization_events()}
    assert ran == {"raw_data"}  # written (Dagster's rule) but nothing downstream ran
    lone = dg.materialize(
        assets,
        selection="holdout_split",
        resources=_resources(tmp_path, data_path=good),
        raise_on_error=False,
    )
    assert not lone.success
    reason = failure_reason(lone)
    assert "upstream raw_data failed its checks (no_infinities)" in reason
    assert "rematerialize raw_data" in reason


def test_schema_drift_is_caught_by_the_derived_contract(tmp_path):
    path = _write(_base(), tmp_path / "data.csv")
    first = run_graph(tmp_path, "first", data_path=path, contracts_dir=str(tmp_path / "c"))
    [saved] = (tmp_path / "c").glob("data__*__is_fraud.json")
    derived = next(
        e for e in first.get_asset_check_evaluations() if e.check_name == "schema_contract"
    )
    assert "derived a contract" in derived.metadata["message"].value
    _write(_base(seed=2).drop(columns="hour").assign(extra=1.0), tmp_path / "data.csv")
    second = run_graph(
        tmp_path, "second", expect_success=False, data_path=path, contracts_dir=str(tmp_path / "c")
    )
    message = failed_checks(second)["raw_data:schema_contract"]
    assert "schema drift" in message and str(saved) in message
    typed = _base(seed=3).assign(amount=lambda f: f["amount"].astype(str) + " EUR")
    _write(typed, tmp_path / "data.csv")
    third = run_graph(
        tmp_path,
        "third",
        expect_success=False,
        data_path=path,
        contracts_dir=str(tmp_path / "c"),
        categorical=["amount"],
    )
    assert "'amount'" in failed_checks(third)["raw_data:schema_contract"]


def test_a_user_suite_gates_the_raw_data(tmp_path):
    suite = {
        "name": "my_rules",
        "expectations": [
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "amount", "min_value": 0, "max_value": 100},
                "meta": {"why": "amounts above 100 are test transactions"},
            },
        ],
    }
    (tmp_path / "suite.json").write_text(json.dumps(suite))
    path = _write(_base(), tmp_path / "data.csv")
    result = run_graph(
        tmp_path,
        "run",
        expect_success=False,
        data_path=path,
        contract_path=str(tmp_path / "suite.json"),
    )
    message = failed_checks(result)["raw_data:schema_contract"]
    assert message.startswith("my_rules: 'amount' column values to be between failed")
    assert "amounts above 100 are test transactions" in message


def test_check_results_reach_the_report_with_observed_values(small_run):
    report = value(small_run, "evaluation_report")
    checks = {(c["asset"], c["check"]): c for c in report["checks"]}
    for asset in ALL_ASSETS:
        assert any(a == asset for a, _ in checks), f"no check beside {asset}"
    assert checks[("cv_folds", "folds_partition")]["passed"] is True
    assert checks[("evaluation_report", "beats_no_skill")]["message"].startswith("holdout PR-AUC")
    evaluation = next(
        e for e in small_run.get_asset_check_evaluations() if e.check_name == "split_rates"
    )
    assert "rates" in evaluation.metadata["observed"].value


def test_a_model_failing_the_quality_gate_replaces_no_export_and_leaves_none(tmp_path, split_files):
    train_csv, test_csv = split_files
    flipped = pd.read_csv(test_csv).assign(is_fraud=lambda f: 1 - f["is_fraud"])
    flipped_csv = _write(flipped, tmp_path / "flipped.csv")
    out = str(tmp_path / "out")
    common = {"data_path": str(train_csv), "output_dir": out}
    run_graph(tmp_path, "good", test_data_path=str(test_csv), **common)
    assert (tmp_path / "out" / "model.txt").is_file()
    bad = run_graph(tmp_path, "bad", expect_success=False, test_data_path=flipped_csv, **common)
    assert "evaluation_report:beats_no_skill" in failed_checks(bad)
    assert json.loads((tmp_path / "out" / "report.json").read_text())["quality_gate"] == "failed"
    assert not (tmp_path / "out" / "model.txt").exists()
    assert not (tmp_path / "out" / "model.json").exists()
