"""Shared fixtures: small generated data and an in-process run of the whole asset graph."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")

import dagster as dg  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from imbal_pipeline.core.data.synthetic import make_fraud_data  # noqa: E402
from imbal_pipeline.core.settings import Settings, from_values  # noqa: E402
from imbal_pipeline.defs.build import build_definitions  # noqa: E402

# The CLI as a user runs it, in a child process.
CLI = [sys.executable, "-m", "imbal_pipeline.cli"]


def fresh_python(code: str) -> str:
    """What `code` prints in a new interpreter, whose modules start from nothing (what a
    user's process imports); a failure shows its traceback."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


def cli_env(home, **extra_env) -> dict[str, str]:
    """The environment of a CLI child process on the Dagster home `home`."""
    return {**os.environ, "DAGSTER_HOME": str(home), "GX_ANALYTICS_ENABLED": "false", **extra_env}


def run_cli(args: list[str], home, cwd, **extra_env) -> subprocess.CompletedProcess:
    """The CLI with `args`, on the Dagster home `home`, run from `cwd`; its output captured."""
    env = cli_env(home, **extra_env)
    return subprocess.run(CLI + args, capture_output=True, text=True, env=env, cwd=cwd, timeout=900)


def start_cli(args: list[str], home, cwd, **extra_env) -> subprocess.Popen:
    """`run_cli` started, not awaited: `.communicate()` gives its output."""
    env = cli_env(home, **extra_env)
    pipe = subprocess.PIPE
    return subprocess.Popen(CLI + args, stdout=pipe, stderr=pipe, text=True, env=env, cwd=cwd)


SMALL = {
    "generated_rows": 3000,
    "generated_positive_rate": 0.04,
    "n_folds": 3,
    "n_estimators": 40,
    "num_leaves": 15,
}


# Modules whose tests share a module-scoped fixture (a trained model, a UI, servers, one CLI
# run): each runs whole on one worker, so the fixture is made once. Every other test goes alone
# to whichever worker is free, which keeps both cores busy to the end.
SHARED_FIXTURE_MODULES = {
    f"tests/{path.name}"  # as in node ids, from the root
    for path in Path(__file__).parent.glob("test_*.py")
    if 'scope="module"' in path.read_text()
}


# Session-scoped runs that tests of several modules read: those tests run on one worker, so
# the runs are made once (a session fixture is made once per worker that asks for it).
SHARED_RUNS = ("flipped_holdout_runs", "small_run_again")
SHARED_RUN_TESTS = {
    f"tests/{path.name}::{name}": fixture
    for path in Path(__file__).parent.glob("test_*.py")
    for name, params in re.findall(r"^def (test_\w+)\(([^)]*)\)", path.read_text(), re.M)
    for fixture in SHARED_RUNS
    if re.search(rf"\b{fixture}\b", params)
}


def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist's scheduling unit: the tests reading one shared run, a shared-fixture
    module, else a single test. (xdist's own `xdist_group` marks grouped nothing here, with
    pytest 9.2 and xdist 3.8.)"""
    from xdist.scheduler import LoadScopeScheduling

    class SharedFixtureScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            test = nodeid.split("[", 1)[0]
            if test in SHARED_RUN_TESTS:
                return SHARED_RUN_TESTS[test]
            module = nodeid.split("::", 1)[0]
            return module if module in SHARED_FIXTURE_MODULES else nodeid

    return SharedFixtureScheduling(config, log)


# The durations guard: every test's own time (setup, call and teardown) is recorded; under
# CI=true the slowest are written to DURATIONS_FILE and printed, with those over the budget named.
# Nothing fails on time: speed is measured by benchmarks, never asserted.
DURATIONS_FILE = "test-durations-{tier}.txt"  # in the root; one file per tier (fast, slow)
BUDGET_SECONDS = 60.0  # no test should take longer alone (issue 35)
SLOWEST_SHOWN = 15
_durations: dict[str, dict[str, float]] = {}


def pytest_runtest_logreport(report):
    """Record each phase's time; with xdist the controller gets every worker's reports."""
    _durations.setdefault(report.nodeid, {})[report.when] = report.duration


def slowest(durations: dict[str, dict[str, float]]) -> list[tuple[float, str, str]]:
    """(total s, node id, its phases) of every test, slowest first."""
    rows = []
    for nodeid, phases in durations.items():
        parts = ", ".join(f"{when} {s:.1f}" for when, s in phases.items() if s >= 0.05)
        rows.append((sum(phases.values()), nodeid, parts))
    return sorted(rows, reverse=True)


def pytest_terminal_summary(terminalreporter, config):
    """Under CI=true: the slowest tests to DURATIONS_FILE and the terminal (never a failure)."""
    if os.environ.get("CI") != "true" or hasattr(config, "workerinput") or not _durations:
        return
    tier = "slow" if config.option.markexpr == "slow" else "fast"
    rows = slowest(_durations)
    path = Path(config.rootpath) / DURATIONS_FILE.format(tier=tier)
    path.write_text(
        "".join(f"{total:8.1f} s  {nodeid}  ({parts})\n" for total, nodeid, parts in rows)
    )
    over = [nodeid for total, nodeid, _ in rows if total > BUDGET_SECONDS]
    terminalreporter.section(f"slowest tests of the {tier} tier (all {len(rows)} in {path.name})")
    for total, nodeid, parts in rows[:SLOWEST_SHOWN]:
        terminalreporter.write_line(f"{total:8.1f} s  {nodeid}  ({parts})")
    if over:
        terminalreporter.write_line(
            f"{len(over)} test(s) over the {BUDGET_SECONDS:.0f} s budget (not a failure; make them "
            f"faster or split them): {', '.join(over)}"
        )


def settled(*paths, ago: float = 60.0) -> None:
    """Date the files' mtime `ago` seconds back: written and left alone since, as the inbox
    requires before it takes a file (its settle time is seconds)."""
    then = time.time() - ago
    for path in paths:
        os.utime(path, (then, then))


def project(**values) -> Settings:
    """Small, fast settings for tests, with `values` on top."""
    return from_values({**SMALL, **values})


def graph(root, **values) -> dg.Definitions:
    """The code location of a small project whose values, report and contracts live in `root`."""
    return build_definitions(
        project(
            **{
                "output_dir": str(root / "report"),
                "contracts_dir": str(root / "contracts"),
                "store": str(root / "storage"),
                "inbox": str(root / "inbox"),
                "scored_dir": str(root / "scored"),
                **values,
            }
        )
    )


def training_assets(defs: dg.Definitions) -> list:
    """The training graph: every asset but the per-batch (partitioned) ones."""
    return [a for a in defs.assets if getattr(a, "partitions_def", None) is None]


def training_keys(defs: dg.Definitions) -> set[str]:
    """The names of the training graph's materializable assets (the raw file is observed)."""
    graph_ = defs.resolve_asset_graph()
    return {
        a.key.to_user_string()
        for a in training_assets(defs)
        if a.key in graph_.materializable_asset_keys
    }


def run_graph(
    tmp_path, name: str = "run", expect_success: bool = True, **overrides
) -> dg.ExecuteInProcessResult:
    """Materialize the whole graph in-process; storage and report under tmp_path/name."""
    defs = graph(tmp_path / name, **overrides)
    result = dg.materialize(
        training_assets(defs), resources=defs.resources, raise_on_error=expect_success
    )
    assert result.success or not expect_success
    return result


def failed_checks(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    """Failed check evaluations of a run: "asset:check" -> message."""
    out = {}
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed:
            key = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            out[key] = evaluation.metadata["message"].value
    return out


def data_versions(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    """The data version Dagster recorded for each asset a run materialized."""
    return {
        e.asset_key.to_user_string(): e.step_materialization_data.materialization.tags[
            "dagster/data_version"
        ]
        for e in result.get_asset_materialization_events()
    }


def value(result: dg.ExecuteInProcessResult, key: str):
    """The stored value of one asset from a run."""
    return result.asset_value(dg.AssetKey(key))


@pytest.fixture(scope="session")
def small_run_at(tmp_path_factory):
    """One whole-graph run shared by the read-only tests, and its folder (store, report,
    contracts): a test that writes copies the folder first."""
    root = tmp_path_factory.mktemp("small")
    return root / "run", run_graph(root)


@pytest.fixture(scope="session")
def small_run(small_run_at):
    """One whole-graph run shared by the read-only tests."""
    return small_run_at[1]


@pytest.fixture(scope="session")
def small_run_again(tmp_path_factory):
    """`small_run` made again from scratch (a store of its own): what the same settings and
    seed give a second time."""
    return run_graph(tmp_path_factory.mktemp("again"))


@pytest.fixture(scope="session")
def flipped_holdout_runs(tmp_path_factory, split_files):
    """Two runs on one training file, each with a store of its own and one output folder:
    `a` with its holdout file, then `b` with that holdout's labels flipped (its quality gate
    fails). Returns a, b, whether `a` had exported a model before `b` ran, and the folder."""
    train_csv, test_csv = split_files
    root = tmp_path_factory.mktemp("flipped")
    flipped = pd.read_csv(test_csv)
    flipped["is_fraud"] = 1 - flipped["is_fraud"]
    flipped.to_csv(root / "flipped.csv", index=False)
    out = root / "out"
    common = {"data_path": str(train_csv), "target": "is_fraud", "subgroups": ["region"]}
    a = run_graph(root, "a", test_data_path=str(test_csv), output_dir=str(out), **common)
    exported = (out / "model.txt").is_file()
    b = run_graph(
        root,
        "b",
        expect_success=False,
        test_data_path=str(root / "flipped.csv"),
        output_dir=str(out),
        **common,
    )
    return a, b, exported, out


@pytest.fixture(scope="session")
def split_files(tmp_path_factory):
    """A training CSV and an explicit holdout CSV cut from generated data."""
    frame = make_fraud_data(3000, 0.04, seed=7)
    folder = tmp_path_factory.mktemp("files")
    train, test = frame.iloc[:2400], frame.iloc[2400:]
    train.to_csv(folder / "train.csv", index=False)
    test.to_csv(folder / "test.csv", index=False)
    return folder / "train.csv", folder / "test.csv"
