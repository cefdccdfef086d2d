"""The layout shows the architecture: imports run only downward, in no circle, and the public
scoring API imports no Dagster."""

import ast
import functools
from pathlib import Path

from conftest import fresh_python

import imbal_pipeline

PACKAGE = Path(imbal_pipeline.__file__).parent
# From the bottom up; a module may import its own floor and those below, never one above.
FLOORS = ("core", "store", "defs", "cli")
CORE_FLOORS = ("stats", "", "data", "train", "monitor", "report", "evaluate", "top")
CORE_TOP = {"inputs", "method", "upfront"}  # the stages over every core package
FLOOR_OF_ROOT = {"__init__": "store", "definitions": "defs"}  # load_model; the code location


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(path: Path, modules) -> set[str]:
    """The package's modules `path` imports, inside functions too."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                found.add(name if name in modules else node.module)
    return {name for name in found if name in modules}


def _floor(module: str) -> tuple[int, int]:
    parts = module.split(".")[1:] or ["__init__"]
    if len(parts) == 1 and parts[0] not in FLOORS:
        return FLOORS.index(FLOOR_OF_ROOT[parts[0]]), 0
    floor = FLOORS.index(parts[0])
    if parts[0] != "core" or len(parts) == 1:
        return floor, 0
    package = (PACKAGE / "core" / parts[1]).is_dir()
    inner = "top" if parts[1] in CORE_TOP else parts[1] if package else ""
    return floor, CORE_FLOORS.index(inner)


@functools.cache
def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def test_every_import_runs_down_the_floors():
    upward = [
        f"{module} -> {imported}"
        for module, imports in _graph().items()
        for imported in imports
        if _floor(imported) > _floor(module)
    ]
    assert upward == []


def test_no_module_imports_itself_through_others():
    graph, done, circles = _graph(), set(), []

    def visit(module, path):
        if module in path:
            circles.append(path[path.index(module) :])
            return
        if module in done:
            return
        for imported in sorted(graph[module]):
            visit(imported, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    assert circles == []


def test_the_core_and_the_store_import_no_dagster():
    for name, path in _modules().items():
        if _floor(name)[0] <= FLOORS.index("store"):
            nodes = list(ast.walk(ast.parse(path.read_text())))
            imported = {a.name for n in nodes if isinstance(n, ast.Import) for a in n.names}
            imported |= {n.module for n in nodes if isinstance(n, ast.ImportFrom)}
            assert not {m for m in imported if m and m.split(".")[0] == "dagster"}, name


def test_load_model_imports_no_dagster_and_builds_no_code_location(tmp_path):
    # A version that is not stored: load_model goes through the store and the champion records
    # (every import it makes) and refuses it in one line.
    code = (
        "import sys, imbal_pipeline\n"
        "from imbal_pipeline.core.monitor.deployed import ModelFileError\n"
        "try:\n"
        f"    imbal_pipeline.load_model('0' * 16, store={str(tmp_path)!r})\n"
        "except ModelFileError as exc:\n"
        "    print('refused:', exc)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'dagster', 'dagster_webserver'}))\n"
        "print('imbal_pipeline.definitions' in sys.modules, 'imbal_pipeline.defs' in sys.modules)\n"
    )
    refused, dagster, location = fresh_python(code).split("\n")
    assert refused.startswith("refused: ")
    assert (dagster, location) == ("[]", "False False")


def test_scoring_imports_no_plotting_library():
    # `score` prints the checks' table from monitor_report; matplotlib (about 1 s of a 1M-row
    # batch's 18 s) is imported only where a page's plot is drawn.
    code = (
        "import sys\n"
        "from imbal_pipeline import load_model\n"
        "from imbal_pipeline.cli import score\n"
        "from imbal_pipeline.core.data.data import read_table\n"
        "from imbal_pipeline.core.monitor import monitor_batch, monitoring, deployed\n"
        "from imbal_pipeline.core.report import monitor_report\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib')[:3])\n"
    )
    assert fresh_python(code) == "[]"
