"""Data contracts: the bad-input catalogue, blocking gates, refusal of failed versions, drift."""

import json
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import test_bad_input as bad
from conftest import failed_checks, graph, run_graph, training_assets, training_keys, value

from imbal_pipeline.core.synthetic import make_fraud_data
from imbal_pipeline.runs import failure_reason

# The training graph's assets (the per-batch ones are materialized by the inbox sensor).
ALL_ASSETS = training_keys(graph(Path("x")))


def _base(n=1500, rate=0.05, seed=1) -> pd.DataFrame:
    return make_fraud_data(n, rate, seed=seed)


# These tests are about contracts, not the model: one rung keeps the holdout's verdict out of
# them (on 300 holdout rows the quality gate may rightly refuse a selected strategy).
ONE_RUNG = {"strategies": ("none",)}


def _write(frame: pd.DataFrame, path: Path) -> str:
    frame.to_csv(path, index=False)
    return str(path)


# One error of each kind a stage can raise: an exception in raw_data, a blocking gate in
# raw_data, an exception in holdout_split, a blocking gate in holdout_split. The whole catalogue
# runs against the core in test_bad_input.py; here the graph shows what an error stops.
STOPS = [
    ("target column missing", bad._no_target, "step raw_data failed", ("raw_data",)),
    ("decimal commas", bad._decimal_commas, "check raw_data:numbers_as_text", ("raw_data",)),
    (
        "holdout columns differ",
        bad._holdout_columns_differ,
        "step holdout_split failed",
        ("raw_data",),
    ),
    (
        "holdout with text in a number column",
        bad._holdout_much_text,
        "check holdout_split:holdout_types",
        ("raw_data", "holdout_split"),
    ),
]


@pytest.mark.parametrize(("case", "make", "where", "written"), STOPS, ids=[c[0] for c in STOPS])
def test_an_error_stops_everything_downstream_and_writes_no_report(
    tmp_path, case, make, where, written
):
    overrides = make(tmp_path)
    result = run_graph(tmp_path, "run", expect_success=False, **overrides)
    assert not result.success
    reason = failure_reason(result)
    assert reason.startswith(where) and "\n" not in reason, reason
    materialized = {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()}
    assert materialized <= set(written), materialized
    stored = {p.name for p in (tmp_path / "run" / "storage").glob("*")}
    assert stored <= set(written)
    assert not (tmp_path / "run" / "report").exists()


def test_a_run_with_odd_column_names_succeeds_end_to_end(tmp_path):
    result = run_graph(tmp_path, **bad._odd_column_names(tmp_path), **ONE_RUNG)
    materialized = {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()}
    assert materialized == ALL_ASSETS


def _resources(tmp_path, **overrides):
    return graph(tmp_path, **ONE_RUNG, **overrides).resources


def test_failed_gate_blocks_downstream_and_a_lone_downstream_run_refuses_it(tmp_path):
    assets = training_assets(graph(tmp_path))
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
    first = run_graph(
        tmp_path, "first", data_path=path, contracts_dir=str(tmp_path / "c"), **ONE_RUNG
    )
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
    for asset in ALL_ASSETS - {"deployed_model"}:  # deployed after the report, if it passed
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
