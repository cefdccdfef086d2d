"""One table per family. Every check is declared once (core/checks.py): the gates, the asset
check specs and the UI's descriptions derive from that table. Every strategy of the ladder is
one entry of core/strategies.py's table."""

import ast
import re
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

import imbal_pipeline
from imbal_pipeline.core import checks
from imbal_pipeline.core.monitor import monitor_checks
from imbal_pipeline.core.settings import LADDER, Settings
from imbal_pipeline.core.train import gates, strategies
from imbal_pipeline.defs.build import build_definitions

PACKAGE = Path(imbal_pipeline.__file__).parent


def _gate_makers(trees) -> set[str]:
    """Gate and every function whose first parameter is the check's `name` and that returns a
    Gate: the ways code names the check of a gate it makes."""
    makers = {"Gate"}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.args.args:
                returns = ast.unparse(node.returns) if node.returns else ""
                if node.args.args[0].arg == "name" and returns.endswith("Gate"):
                    makers.add(node.name)
    return makers


def _emitted() -> tuple[set[str], list[str]]:
    """The check names the package's code gives the gates it makes, and the calls that pass a
    name that is not written there (only a maker may pass its own `name` on)."""
    trees = {path: ast.parse(path.read_text()) for path in PACKAGE.rglob("*.py")}
    makers = _gate_makers(trees.values())
    names, passed_on = set(), []
    for path, tree in trees.items():
        for outer in ast.walk(tree):
            if not isinstance(outer, ast.FunctionDef):
                continue
            for node in ast.walk(outer):
                if not (isinstance(node, ast.Call) and node.args):
                    continue
                called = node.func.attr if isinstance(node.func, ast.Attribute) else None
                called = called or getattr(node.func, "id", None)
                if called not in makers:
                    continue
                first = node.args[0]
                if isinstance(first, ast.Constant):
                    names.add(first.value)
                elif not (outer.name in makers and ast.unparse(first) == "name"):
                    passed_on.append(f"{path.name}:{node.lineno} {ast.unparse(node)[:60]}")
    return names, passed_on


def test_every_gate_name_the_code_can_emit_is_declared():
    names, passed_on = _emitted()
    assert len(names) > 30
    assert names <= checks.CHECKS.keys(), names - checks.CHECKS.keys()
    assert not passed_on, passed_on
    # And every declared check is made somewhere.
    assert checks.CHECKS.keys() <= names, checks.CHECKS.keys() - names


def test_a_gate_of_an_undeclared_check_is_refused_and_warn_only_checks_only_warn():
    with pytest.raises(KeyError, match="no declared check"):
        gates.fail("no_such_check", "something")
    with pytest.raises(ImportError, match="undeclared check 'no_such_check'"):
        checks.gate("no_such_check")(lambda: None)
    with pytest.raises(ImportError, match="declared twice"):
        checks.register(checks.CHECKS["contract"])
    assert gates.fail("constant_columns", "one value").severity == gates.WARN
    assert gates.fail("folds_partition", "broken").blocks


def test_every_check_but_the_contracts_has_its_function_in_the_core():
    for check in checks.CHECKS.values():
        if check.name == "contract":  # one generic gate over any asset's suite
            assert check.function is None
            continue
        assert check.function is not None, check.name
        assert check.function.__module__.startswith("imbal_pipeline.core."), check.name
    assert checks.CHECKS["positive_rate"].function is monitor_checks.check_positive_rate
    assert checks.CHECKS["fold_hygiene"].function is gates.fold_sets_hygiene


def _stage(key: dg.AssetKey) -> str:
    """The stage of an asset: a fold's and a curve part's assets by their family."""
    name = key.to_user_string()
    name = re.sub(r"^fold_\d+_(smote_)?models$", "fold_models", name)
    name = re.sub(r"^fold_\d+_training_sets$", "fold_training_sets", name)
    return re.sub(r"^learning_curve_part_\d+$", "learning_curve_part", name)


def test_each_assets_check_specs_are_the_tables_entries_for_its_stage():
    graph = build_definitions(Settings(n_folds=3)).resolve_asset_graph()
    specs: dict[dg.AssetKey, list] = {}
    for check_key in graph.asset_check_keys:
        spec = graph.get_check_spec(check_key)
        specs.setdefault(spec.asset_key, []).append(spec)
    stages = set()
    for key in graph.materializable_asset_keys:
        stage = _stage(key)
        stages.add(stage)
        declared = checks.of_stage(stage)
        found = {spec.name: spec for spec in specs.get(key, [])}
        assert sorted(found) == sorted(c.name for c in declared), key
        for check in declared:
            spec = found[check.name]
            assert spec.description == check.description
            monitoring = stage in ("scored_batch", "batch_outcomes")  # alerts never block
            assert spec.blocking == (not check.warn_only and not monitoring), spec.name
    declared_stages = {stage for check in checks.CHECKS.values() for stage in check.stages}
    assert declared_stages <= stages, declared_stages - stages


def test_the_monitoring_lists_are_the_tables():
    assert monitor_checks.MONITORING_CHECKS == (
        "positive_rate",
        "score_psi",
        "feature_psi",
        "missing_and_unseen",
        "recent_prevalence",
    )
    assert "missing_and_unseen" not in monitor_checks.RETRAIN_ON
    assert set(monitor_checks.RETRAIN_ON) == {c.name for c in checks.CHECKS.values() if c.retrains}


def test_the_strategy_table_is_the_ladder_and_each_entry_builds_what_its_audit_names():
    assert tuple(strategies.STRATEGIES) == LADDER
    assert strategies.SYNTHETIC == ("smote", "borderline_smote", "smoteenn")
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.1).astype(int)
    X = rng.normal(size=(400, 3)) + y[:, None]
    ids = np.arange(400)
    portion = strategies.Portion(X, y.astype(np.int8), ids, 0, 0.5, [], None)
    for name, entry in strategies.STRATEGIES.items():
        done = strategies.resample(X, y, ids, name, seed=0, ratio=0.5, cat_idx=[])
        steps = [step["step"] for step in done.audit["steps"]]
        built = [entry.sampler(portion, 5, 10)] if entry.sampler else []
        built += [entry.cleaner()] if entry.cleaner else []
        if built:
            assert steps == [type(sampler).__name__ for sampler in built], name
        assert (len(done.synthetic_X) > 0) == entry.synthetic, name
    with pytest.raises(ValueError, match="unknown strategy 'adasyn'"):
        strategies.resample(X, y, np.arange(400), "adasyn", seed=0, ratio=0.5, cat_idx=[])


def test_the_objective_is_looked_up_in_its_table_once_per_use():
    from imbal_pipeline.core.report.report_choice import operating_beyond_f1
    from imbal_pipeline.core.train import threshold

    assert threshold.tuned_for(Settings(objective="cost"), "fbeta").objective == "fbeta"
    with pytest.raises(KeyError):
        threshold.tuned_for(Settings(), "accuracy")
    assert operating_beyond_f1({}) is None
    cost = {
        "objective": "cost",
        "met": True,
        "asked": {"fp_cost": 1.0, "fn_cost": 10.0},
        "reached": {
            "cost_per_1000": 5.0,
            "flag_nothing_per_1000": 9.0,
            "flag_everything_per_1000": 900.0,
        },
    }
    assert operating_beyond_f1({**cost, "objective": "f1"}) is None  # F1 is in the summary
    assert operating_beyond_f1(cost).startswith("cost 5")
