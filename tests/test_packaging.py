"""What the package imports is what it declares, at the versions the lock pins; what it uses of
Dagster is public and current, or named in one place."""

import ast
import importlib
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import dagster as dg
import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "imbal_pipeline"


def _name(requirement: str) -> str:
    """A distribution's name as pip compares them: `great_expectations` == `Great-Expectations`."""
    return re.sub(r"[-_.]+", "-", re.split(r"[=<>!~\[; ]", requirement, maxsplit=1)[0]).lower()


def _imported_modules() -> set[str]:
    """The top-level modules that imbal_pipeline imports by absolute name, anywhere in a file."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"imbal_pipeline"}


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def test_every_imported_package_is_declared_in_pyproject():
    project = _pyproject()
    declared = {_name(r) for r in project["dependencies"]}
    # dagster_dask is imported only when the project asks for the Dask executor (the scale extra).
    optional = {_name(r) for r in project["optional-dependencies"]["scale"]}
    providers = importlib.metadata.packages_distributions()
    undeclared = {}
    for module in sorted(_imported_modules()):
        distributions = {_name(d) for d in providers.get(module, [module])}
        if not distributions & (declared | optional):
            undeclared[module] = sorted(distributions)
    assert not undeclared, f"imported but not in pyproject's dependencies: {undeclared}"


def test_declared_versions_are_the_locked_ones():
    locked = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            locked[_name(name)] = version
    project = _pyproject()
    requirements = project["dependencies"] + [
        r for extra in project["optional-dependencies"].values() for r in extra
    ]
    differ = {}
    for requirement in requirements:
        name, version = _name(requirement), requirement.split("==")[1]
        if locked.get(name) != version:
            differ[name] = (version, locked.get(name))
    assert not differ, f"pyproject pins vs requirements.lock: {differ}"


def test_every_private_dagster_name_the_code_location_uses_still_imports():
    """Dagster may move a `dagster._...` name in any release; an upgrade that does fails here,
    by name, and nowhere else: every private name is imported in one module."""
    import importlib

    private = importlib.import_module("imbal_pipeline.defs.dagster_private")
    missing = [name for name in private.__all__ if getattr(private, name, None) is None]
    assert not missing and len(private.__all__) == 14
    users = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            modules = []
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            if any(m.startswith("dagster._") for m in modules):
                users.setdefault(path.name, set()).update(modules)
    assert set(users) == {"dagster_private.py"}, users


def test_a_deprecated_dagster_api_called_from_our_code_or_tests_fails_the_test():
    """pyproject's filterwarnings turns Dagster's deprecations at our call sites into errors
    (the assets once read this very property); a blanket ignore would let this pass silently."""
    context = dg.build_asset_context()
    with pytest.raises(DeprecationWarning, match="AssetExecutionContext.run_id is deprecated"):
        _ = context.run_id


def test_every_entry_point_pyproject_declares_names_a_module_and_function_that_exist():
    # A module moved into a package without its entry point breaks the console script or, for
    # dask.sizeof, every Dask worker's import of dask.sizeof; neither shows until it is used.
    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    declared = {**project["scripts"]}
    for group in project["entry-points"].values():
        declared |= group
    assert declared
    for name, target in declared.items():
        module, _, attribute = target.partition(":")
        assert callable(getattr(importlib.import_module(module), attribute)), name
