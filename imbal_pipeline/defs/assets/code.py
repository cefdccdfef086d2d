"""The code that made a stage's value: a digest of what the stage runs, its code version.

A stage's code is the source of its asset function's module and of the Dagster-layer modules
whose functions it calls, every core module those functions use and what the core imports
from there (transitively, imports inside functions included), and the built-in contract suites
and report templates that code names. Fits are reused only under the same digest, and Dagster
shows an asset whose digest changed as stale: a change to the code is a change whether or not
anyone bumped a number, and a change elsewhere in the core leaves the fits that do not depend
on it in place.

Each module is read once per process: digesting all 33 stages of a 5-fold graph took 0.07 s here.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.resources
import inspect
import re
import sys
import types
from collections.abc import Callable
from pathlib import Path

import imbal_pipeline.core
from imbal_pipeline.core.data.contracts import BUILTIN

CORE = imbal_pipeline.core.__name__
CORE_DIR = Path(imbal_pipeline.core.__file__).parent
PACKAGE = CORE.split(".")[0]
# Core modules by file name, unique across the core's packages (`core/train/model.py` is `model`).
CORE_FILES = {path.stem: path for path in CORE_DIR.rglob("*.py") if path.stem != "__init__"}
if len(CORE_FILES) != sum(1 for path in CORE_DIR.rglob("*.py") if path.stem != "__init__"):
    raise ImportError(f"two core modules share a file name under {CORE_DIR}; rename one")
CORE_MODULES = frozenset(CORE_FILES)
# `from imbal_pipeline.core[.x] import a, b` (in parentheses or not) and `import ...core.x`,
# anywhere in a module: the core imports some modules inside functions.
_FROM = re.compile(r"^\s*from\s+(imbal_pipeline\.core[\w.]*)\s+import\s+(\([^)]*\)|.*)$", re.M)
_IMPORT = re.compile(r"^\s*import\s+(imbal_pipeline\.core\.[\w.]+)", re.M)
TEMPLATES = "templates"  # the report's templates, read by jinja2's loader
TEMPLATES_DIR = CORE_DIR / "report" / TEMPLATES


def source_of(module: str) -> str:
    """The source text of a core module, by its name within the core (`calibration`)."""
    return CORE_FILES[module].read_text()


def _core_name(qualified: str) -> str | None:
    """`imbal_pipeline.core[.package].x[.y]` -> `x`, when `x` is a core module."""
    head, _, rest = qualified.partition(CORE + ".")
    folder = CORE_DIR
    for part in [] if head else rest.split("."):
        if not (folder / part).is_dir():
            return part if (folder / f"{part}.py").is_file() else None
        folder = folder / part
    return None


@functools.cache
def _core_facts(module: str) -> tuple[bytes, frozenset[str], frozenset[str]]:
    """A core module's source digest, the core modules it imports, and the package files
    (suites, templates) it names."""
    source = source_of(module)
    imported = {_core_name(name) for name in _IMPORT.findall(source)}
    for package, names in _FROM.findall(source):
        imported.add(_core_name(package))
        for name in re.sub(r"#.*", "", names).strip("()").split(","):
            imported.add(_core_name(f"{package}.{name.split(' as ')[0].strip()}"))
    digest = hashlib.sha256(source.encode()).digest()
    named = frozenset(name for name in imported if name is not None and name != module)
    return digest, named, _named(source)


def core_reach(modules) -> frozenset[str]:
    """`modules` and every core module they import, transitively."""
    seen: set[str] = set()
    todo = list(modules)
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(_core_facts(module)[1])
    return frozenset(seen)


@functools.cache
def _layer_facts(module: str) -> tuple[bytes, dict[int, frozenset[str]], frozenset[str]]:
    """A Dagster-layer module's source digest, the names each of its functions uses (by the
    function's first line, decorators included), and the package files it names."""
    source = inspect.getsource(sys.modules[module])
    names = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            names[first] = frozenset(n.id for n in ast.walk(node) if isinstance(n, ast.Name))
    return hashlib.sha256(source.encode()).digest(), names, _named(source)


def _referenced(fn: Callable) -> list:
    """What the names in `fn`'s body point to: its module's globals and its closure's cells."""
    names = _layer_facts(fn.__module__)[1].get(fn.__code__.co_firstlineno, frozenset())
    cells = dict(zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=True))
    found = [fn.__globals__[n] for n in names if n in fn.__globals__]
    return found + [cells[n].cell_contents for n in names if n in cells]


def _defined_in(obj) -> str | None:
    """The module a module is, or a function or class was defined in; else None."""
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    return obj.__module__ if isinstance(obj, types.FunctionType | type) else None


def _walk(fn: Callable) -> tuple[frozenset[str], frozenset[str]]:
    """The Dagster-layer modules whose functions `fn` runs, and the core modules they use."""
    layer, core, seen, todo = set(), set(), set(), [fn]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        layer.add(current.__module__)
        for obj in _referenced(current):
            module = _defined_in(obj) or ""
            if core_name := _core_name(module):
                core.add(core_name)
            elif module.startswith(PACKAGE + ".") and isinstance(obj, types.FunctionType):
                todo.append(obj)
    return frozenset(layer), frozenset(core)


@functools.cache
def _package_files() -> tuple[tuple[str, bytes], ...]:
    """The built-in suites by name, and the report templates under TEMPLATES."""
    suites = importlib.resources.files(BUILTIN).iterdir()
    files = [(e.name.removesuffix(".json"), e.read_bytes()) for e in suites if ".json" in e.name]
    templates = sorted(TEMPLATES_DIR.iterdir())
    return (*sorted(files), *((TEMPLATES, path.read_bytes()) for path in templates))


def _named(source: str) -> frozenset[str]:
    """The package files a source names: a suite ("cv_folds") or the templates ("templates")."""
    return frozenset(name for name, _ in _package_files() if f'"{name}"' in source)


@functools.cache
def stage_code(fn: Callable) -> str:
    """The code version of the stage computed by `fn`: a digest of the code that makes it."""
    layer, entries = _walk(fn)
    digest = hashlib.sha256()
    named: set[str] = set()
    facts = [_layer_facts(m) for m in sorted(layer)] + [
        _core_facts(m) for m in sorted(core_reach(entries))
    ]
    for source_digest, _, names in facts:
        digest.update(source_digest)
        named |= names
    for name, data in _package_files():
        if name in named:
            digest.update(name.encode() + data)
    return digest.hexdigest()[:16]


def forget() -> None:
    """Read every source afresh (after a test replaced one)."""
    for cached in (_core_facts, _layer_facts, _package_files, stage_code):
        cached.cache_clear()
