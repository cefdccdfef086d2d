"""Data contracts: the bad-input catalogue, blocking gates, refusal of failed versions, drift."""

import http.server
import importlib.resources
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import test_bad_input as bad
from conftest import failed_checks, graph, run_graph, training_assets, training_keys, value

from imbal_pipeline.cli.runs import failure_reason
from imbal_pipeline.core.data import contract_rules as rules
from imbal_pipeline.core.data import contracts
from imbal_pipeline.core.data.synthetic import make_fraud_data

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


def test_a_model_failing_the_quality_gate_replaces_no_export_and_leaves_none(flipped_holdout_runs):
    # A good run exported a model to the folder; a run whose holdout labels are flipped then
    # fails the gate, into the same folder.
    _, bad, exported, out = flipped_holdout_runs
    assert exported
    assert "evaluation_report:beats_no_skill" in failed_checks(bad)
    assert json.loads((out / "report.json").read_text())["quality_gate"] == "failed"
    assert not (out / "model.txt").exists()
    assert not (out / "model.json").exists()


# --- contracts are data: what reaches Great Expectations (issue 30) ---------------------------

_HOOKED, _OPENED, _WATCHED = [], [], set()


def _record_opens(event: str, args: tuple) -> None:
    if event == "open" and args and str(args[0]) in _WATCHED:
        _OPENED.append(str(args[0]))


@pytest.fixture
def opened():
    """Paths of watched files opened by anything in this process (an audit hook: Python cannot
    remove one, so it is added once and only records the files a test watches)."""
    if not _HOOKED:
        sys.addaudithook(_record_opens)
        _HOOKED.append(True)
    yield _WATCHED, _OPENED
    _WATCHED.clear()
    _OPENED.clear()


@pytest.fixture
def schema_server():
    """A local HTTP server serving a JSON schema; the paths it was asked for."""
    asked = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            asked.append(self.path)
            body = json.dumps(bad.SECRET).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/schema.json", asked
    server.shutdown()
    server.server_close()


def _gx_verdict(frame: pd.DataFrame, suite: dict) -> bool:
    """Great Expectations on a suite as given, bypassing the contract check (the control)."""
    import great_expectations as gx

    batch = contracts._batch_definition().get_batch(batch_parameters={"dataframe": frame})
    return batch.validate(gx.ExpectationSuite(**suite)).success


def test_a_json_schema_contract_reads_no_file_and_fetches_no_url(tmp_path, opened, schema_server):
    watched, opens = opened
    url, asked = schema_server
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps(bad.SECRET))
    watched.add(str(secret))
    # JSON text, so that Great Expectations gets as far as the schema in the control below.
    frame = pd.DataFrame({"merchant_category": ['"fuel"', '"grocery"', "3"]})
    for ref in (secret.as_uri(), url):
        suite = bad._suite(bad._json_schema(ref))
        with pytest.raises(contracts.ContractError, match="may not be used in a contract"):
            contracts.validate(frame, suite)
        (tmp_path / "suite.json").write_text(json.dumps(suite))
        verdict, message = bad.run_data_stages(
            tmp_path,
            data_path=bad._write(_base(), tmp_path / "x.csv"),
            contract_path=str(tmp_path / "suite.json"),
        )
        assert verdict == "error" and bad.JSON_SCHEMA_REFUSED in message, message
    assert opens == [] and asked == []
    # The control: Great Expectations given the same suites reads the file and asks the server
    # once per row, so the refusal above is what kept them untouched.
    for ref in (secret.as_uri(), url):
        _gx_verdict(frame, bad._suite(bad._json_schema(ref)))
    assert opens and len(asked) == len(frame)


def test_every_expectation_gx_registers_is_allowed_or_refused_with_a_reason():
    from great_expectations.expectations.registry import (
        list_registered_expectation_implementations,
    )

    registered = set(list_registered_expectation_implementations())
    assert registered == set(rules.ALLOWED) | set(rules.REFUSED)
    assert not set(rules.ALLOWED) & set(rules.REFUSED)


def test_each_allowed_signature_is_a_part_of_gx_s_own():
    from great_expectations.expectations.registry import get_expectation_impl

    for kind, signature in rules.ALLOWED.items():
        fields = get_expectation_impl(kind).__fields__
        assert set(signature.arguments) <= set(fields), kind
        assert {name for name, f in fields.items() if f.required} <= set(signature.required), kind
        assert not set(signature.arguments) & set(rules.FORBIDDEN_ARGUMENTS), kind


RUNS_ON = pd.DataFrame(
    {
        "x": np.arange(100, dtype=float),
        "y": np.arange(100) * 2,
        "s": [f"ab{i}" for i in range(100)],
        "c": ["u", "v"] * 50,
    }
)
BETWEEN = {"min_value": 0, "max_value": 1e6}
# One use of each allowed expectation on RUNS_ON, met or not.
SAMPLES = {
    "expect_table_row_count_to_be_between": {"min_value": 1},
    "expect_table_row_count_to_equal": {"value": 100},
    "expect_table_column_count_to_be_between": {"max_value": 9},
    "expect_table_column_count_to_equal": {"value": 4},
    "expect_table_columns_to_match_set": {"column_set": ["x", "y", "s", "c"], "exact_match": True},
    "expect_table_columns_to_match_ordered_list": {"column_list": ["x", "y", "s", "c"]},
    "expect_column_to_exist": {"column": "x", "column_index": 0},
    "expect_column_values_to_be_in_type_list": {"column": "x", "type_list": ["float64"]},
    "expect_column_values_to_be_of_type": {"column": "x", "type_": "float64"},
    "expect_column_type_to_be": {"column": "x", "type_": "float64"},
    "expect_column_values_to_not_be_null": {"column": "x", "mostly": 0.9},
    "expect_column_values_to_be_null": {"column": "x"},
    "expect_column_proportion_of_non_null_values_to_be_between": {"column": "x", "min_value": 1},
    "expect_column_values_to_be_in_set": {"column": "c", "value_set": ["u", "v"]},
    "expect_column_values_to_not_be_in_set": {"column": "c", "value_set": ["w"]},
    "expect_column_distinct_values_to_be_in_set": {"column": "c", "value_set": ["u", "v"]},
    "expect_column_distinct_values_to_contain_set": {"column": "c", "value_set": ["u"]},
    "expect_column_distinct_values_to_equal_set": {"column": "c", "value_set": ["u", "v"]},
    "expect_column_most_common_value_to_be_in_set": {
        "column": "c",
        "value_set": ["u"],
        "ties_okay": True,
    },
    "expect_column_values_to_be_between": {"column": "x", "min_value": -1, "strict_min": True},
    "expect_column_value_lengths_to_be_between": {"column": "s", "min_value": 3, "max_value": 4},
    "expect_column_value_lengths_to_equal": {"column": "c", "value": 1},
    "expect_column_values_to_match_regex": {"column": "s", "regex": "^ab"},
    "expect_column_values_to_not_match_regex": {"column": "s", "regex": "^zz"},
    "expect_column_values_to_match_regex_list": {
        "column": "s",
        "regex_list": ["^ab", "^x"],
        "match_on": "any",
    },
    "expect_column_values_to_not_match_regex_list": {"column": "s", "regex_list": ["^zz"]},
    "expect_column_values_to_be_unique": {"column": "x"},
    "expect_compound_columns_to_be_unique": {"column_list": ["x", "c"], "ignore_row_if": "never"},
    "expect_select_column_values_to_be_unique_within_record": {"column_list": ["x", "y"]},
    "expect_column_proportion_of_unique_values_to_be_between": {"column": "x", "min_value": 0.5},
    "expect_column_unique_value_count_to_be_between": {"column": "x", "min_value": 10},
    "expect_column_min_to_be_between": {"column": "x", **BETWEEN},
    "expect_column_max_to_be_between": {"column": "x", **BETWEEN},
    "expect_column_mean_to_be_between": {"column": "x", **BETWEEN},
    "expect_column_median_to_be_between": {"column": "x", **BETWEEN},
    "expect_column_stdev_to_be_between": {"column": "x", **BETWEEN},
    "expect_column_sum_to_be_between": {"column": "x", **BETWEEN},
    "expect_column_quantile_values_to_be_between": {
        "column": "x",
        "quantile_ranges": {"quantiles": [0.1, 0.9], "value_ranges": [[0, 20], [80, None]]},
    },
    "expect_column_values_to_be_increasing": {"column": "x", "strictly": True},
    "expect_column_values_to_be_decreasing": {"column": "x", "mostly": 0.5},
    "expect_column_value_z_scores_to_be_less_than": {
        "column": "x",
        "threshold": 3,
        "double_sided": True,
    },
    "expect_column_values_to_not_be_outliers": {"column": "x", "method": "iqr", "multiplier": 1.5},
    "expect_column_pair_values_a_to_be_greater_than_b": {
        "column_A": "y",
        "column_B": "x",
        "or_equal": True,
        "ignore_row_if": "neither",
    },
    "expect_column_pair_values_to_be_equal": {"column_A": "x", "column_B": "y"},
    "expect_column_pair_values_to_be_in_set": {
        "column_A": "c",
        "column_B": "c",
        "value_pairs_set": [["u", "u"], ["v", "v"]],
    },
    "expect_multicolumn_sum_to_equal": {"column_list": ["x", "y"], "sum_total": 0},
    "expect_multicolumn_values_to_be_equal": {"column_list": ["x", "y"]},
}


def test_every_allowed_expectation_runs_on_a_pandas_frame():
    assert set(SAMPLES) == set(rules.ALLOWED)
    suite = {"name": "all", "expectations": [{"type": k, "kwargs": v} for k, v in SAMPLES.items()]}
    result = contracts.validate(RUNS_ON, suite)
    assert result.evaluated == len(SAMPLES)
    errors = {f["expectation"]: f["error"] for f in result.failures if f["error"]}
    assert errors == {}  # met or not, each was computed: none raised
    assert {f["expectation"] for f in result.failures} == {
        "expect_column_values_to_be_null",
        "expect_column_values_to_be_decreasing",
        "expect_column_pair_values_to_be_equal",
        "expect_multicolumn_sum_to_equal",
        "expect_multicolumn_values_to_be_equal",
        "expect_select_column_values_to_be_unique_within_record",
    }


BUILTIN_PARAMETERS = {"raw_data": {"min_rows": 6}, "cv_folds": {"max_fold": 2, "n_folds": 3}}


def test_builtin_suites_reach_gx_with_their_parameters_written_in():
    shipped = importlib.resources.files(contracts.BUILTIN).iterdir()
    names = [Path(p.name).stem for p in shipped if p.name.endswith(".json")]
    assert len(names) == 6
    for name in names:
        suite = contracts.builtin_suite(name, **BUILTIN_PARAMETERS.get(name, {}))
        assert "$PARAMETER" not in json.dumps(suite), name
    # As written, the files name their parameters, and the same check refuses them.
    with pytest.raises(contracts.ContractError, match=r"argument 'min_value' is a suite parameter"):
        contracts.check_suite(contracts._builtin_text("raw_data"), "raw_data.json")
    with pytest.raises(ValueError, match="needs the parameter 'n_folds'"):
        contracts.builtin_suite("cv_folds", max_fold=2)
    with pytest.raises(ValueError, match="takes no parameter 'min_rows'"):
        contracts.builtin_suite("holdout_split", min_rows=6)
    # The written-in value is the one checked: five rows are too few for three folds.
    rows = pd.DataFrame({"__row_id": range(5), "__label": [0, 1, 0, 1, 0]})
    assert contracts.validate(rows, contracts.builtin_suite("raw_data", min_rows=5)).success
    short = contracts.validate(rows, contracts.builtin_suite("raw_data", min_rows=6))
    assert [f["expectation"] for f in short.failures] == ["expect_table_row_count_to_be_between"]


def test_the_up_front_check_imports_no_great_expectations(tmp_path):
    (tmp_path / "suite.json").write_text(
        json.dumps(
            {"name": "s", "expectations": [{"type": k, "kwargs": v} for k, v in SAMPLES.items()]}
        )
    )
    code = (
        "import sys, time; from imbal_pipeline.core.data import contracts; "
        "t = time.perf_counter(); contracts.load_suite(sys.argv[1]); "
        "print(time.perf_counter() - t, 'great_expectations' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "suite.json")],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, imported = done.stdout.split()
    assert imported == "False" and float(seconds) < 0.5, done.stdout


# --- a time budget on validation --------------------------------------------------------------

# pandas runs most patterns with RE2, but a lookaround sends it to Python's engine, where nested
# repeats backtrack for hours on forty a's and a b.
SLOW = {
    "name": "slow_rules",
    "expectations": [
        {
            "type": "expect_column_values_to_match_regex",
            "kwargs": {"column": "note", "regex": "(?:a+)+$(?!x)"},
        }
    ],
}
OVER_BUDGET = (
    "slow_rules: validation stopped after its budget of 1 s (a regex with nested repeats, such "
    "as '(a+)+', can backtrack for hours on a long value); simplify the contract's regexes"
)


@pytest.fixture
def one_second(monkeypatch):
    monkeypatch.setattr(contracts, "BUDGET_SECONDS", 1.0)
    monkeypatch.setattr(contracts, "BUDGET_PER_ROW_CHECK", 0.0)


def _noted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(note=["a" * 40 + "b"] + ["fine"] * (len(frame) - 1))


def test_validation_budget_grows_with_rows_and_expectations():
    assert contracts.validation_budget(0, 3) == 120
    assert contracts.validation_budget(1_000_000, 30) == pytest.approx(120 + 150)


def test_a_backtracking_regex_fails_its_gate_at_the_budget(tmp_path, one_second):
    (tmp_path / "suite.json").write_text(json.dumps(SLOW))
    data = bad._write(_noted(_base()), tmp_path / "x.csv")
    handler = signal.getsignal(signal.SIGALRM)
    start = time.monotonic()
    verdict, message = bad.run_data_stages(
        tmp_path, data_path=data, contract_path=str(tmp_path / "suite.json")
    )
    assert time.monotonic() - start < 30
    assert (verdict, message) == ("error", f"schema_contract: {OVER_BUDGET}")
    # The timer is put back as it was, and Great Expectations still validates afterwards.
    assert signal.getsignal(signal.SIGALRM) is handler
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    linear = {"column": "note", "regex": "^(?:a+b|fine)$"}
    quick = {"type": "expect_column_values_to_match_regex", "kwargs": linear}
    assert contracts.validate(_noted(_base(n=50)), bad._suite(quick)).success


def test_the_budget_holds_outside_the_main_thread(one_second):
    """Dask's executor runs steps in a worker's threads, where no signal timer can be set."""
    frame = _noted(_base(n=200))
    failing = {
        "name": "rules",
        "expectations": [
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "amount", "max_value": 50},
            },
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "note"}},
        ],
    }
    results = {}

    def work():
        results["slow"] = contracts.validate(frame, SLOW)
        results["failing"] = contracts.validate(frame, failing)

    worker = threading.Thread(target=work)
    start = time.monotonic()
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive() and time.monotonic() - start < 30
    assert results["slow"].summary() == OVER_BUDGET
    assert results["failing"] == contracts.validate(frame, failing)  # the same verdict as here
