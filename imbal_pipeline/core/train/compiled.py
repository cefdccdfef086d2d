"""LightGBM's trees compiled to C: `Booster.predict`'s probabilities, bit for bit, faster.

Each tree of a member's text model becomes one C function of straight `if`s; a loop takes the
rows in blocks and, for each block, adds the trees' outputs in LightGBM's order, starting from
0.0 as LightGBM does, so every row's sum is LightGBM's own sum, then applies LightGBM's sigmoid
with the C library's `exp`. Blocking the rows (not the trees, which would change the order of
the sum) keeps one tree's code hot for a block of rows.

A C compiler (`$CC`, else `cc` or `gcc`) builds one shared library per member, once; it is kept
in a cache folder under the digest of the member's text, this module's code generation and the
compiler, and checked against LightGBM on rows of the batch right after compiling; a library
(or its folder) that another user wrote or may change is never loaded. Without a
compiler, or for a model this code does not generate (not binary, linear trees), scoring stays
with LightGBM (`CompileError` says why).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Part of every library's cache key: a change to the generated code must not reuse old libraries.
CODEGEN = "imbal_pipeline.compiled/1"
# -O1: the straight-line trees gain little from -O2 and compile about twice as fast; no
# -ffast-math and no contraction, so every addition and the sigmoid round as LightGBM's do.
FLAGS = ("-O1", "-shared", "-fPIC", "-ffp-contract=off", "-fno-fast-math")
ROW_BLOCK = 256  # rows per block: 256 rows x 100 features of doubles stay in the L2 cache

_CATEGORICAL, _DEFAULT_LEFT = 1, 2  # LightGBM's decision_type bits
_MISSING_ZERO, _MISSING_NAN = 1, 2  # LightGBM's missing types (bits 2-3 of decision_type)

_PRELUDE = """\
#include <math.h>
#include <stdint.h>

/* LightGBM's IsZero: within its kZeroThreshold (1e-35f); NaN reads as 0 when NaN is not its
   missing type. */
static inline int is_zero(double v) {
    return isnan(v) || (v >= -1e-35f && v <= 1e-35f);
}

/* LightGBM's CategoricalDecision: NaN and negative codes go right; a code casts to int as
   LightGBM's does (-0.5 is category 0) and goes left when its bit is set. */
static inline int in_set(double v, const uint32_t *bits, int words) {
    if (!(v > -1.0) || !(v < 2147483648.0)) return 0;
    int code = (int)v;
    if (code / 32 >= words) return 0;
    return (bits[code / 32] >> (code % 32)) & 1;
}
"""


class CompileError(RuntimeError):
    """A model this module cannot compile, or no compiler; the message says which."""


@dataclass(frozen=True)
class Tree:
    """One tree of LightGBM's text model, as its fields name them."""

    split_feature: list[int]
    threshold: list[float]
    decision_type: list[int]
    left_child: list[int]
    right_child: list[int]
    leaf_value: list[float]
    cat_boundaries: list[int]
    cat_threshold: list[int]


@dataclass(frozen=True)
class Forest:
    """A binary LightGBM model: its trees, feature count and sigmoid."""

    trees: list[Tree]
    n_features: int
    sigmoid: float


def _numbers(fields: dict, key: str, kind: type) -> list:
    text = fields.get(key, "").strip()
    return [kind(v) for v in text.split(" ")] if text else []


def parse(text: str) -> Forest:
    """A LightGBM text model's trees; `CompileError` for what `c_source` cannot generate."""
    header: dict[str, str] = {}
    blocks: list[dict[str, str]] = []
    for line in text.splitlines():
        if line.startswith("end of trees"):
            break
        key, sep, value = line.partition("=")
        if not sep:
            continue
        if key == "Tree":
            blocks.append({})
        (blocks[-1] if blocks else header)[key] = value
    objective = header.get("objective", "").split(" ")
    if objective[0] != "binary" or header.get("num_tree_per_iteration", "1") != "1":
        raise CompileError(f"objective {' '.join(objective)!r} is not compiled (binary only)")
    if any(b.get("is_linear", "0") != "0" for b in blocks):
        raise CompileError("linear trees are not compiled")
    sigmoid = dict(part.split(":") for part in objective[1:]).get("sigmoid", "1")
    trees = [
        Tree(
            split_feature=_numbers(b, "split_feature", int),
            threshold=_numbers(b, "threshold", float),
            decision_type=_numbers(b, "decision_type", int),
            left_child=_numbers(b, "left_child", int),
            right_child=_numbers(b, "right_child", int),
            leaf_value=_numbers(b, "leaf_value", float),
            cat_boundaries=_numbers(b, "cat_boundaries", int),
            cat_threshold=_numbers(b, "cat_threshold", int),
        )
        for b in blocks
    ]
    return Forest(trees, int(header["max_feature_idx"]) + 1, float(sigmoid))


def _literal(value: float) -> str:
    """A C literal of exactly this double (hexadecimal: no decimal rounding)."""
    if np.isinf(value):
        return "INFINITY" if value > 0 else "-INFINITY"
    return float(value).hex()


def _condition(tree: Tree, node: int, sets: list[str], name: str) -> str:
    """The C test that sends a row left at `node`, as LightGBM's Tree::Decision decides it."""
    x = f"x[{tree.split_feature[node]}]"
    kind = tree.decision_type[node]
    if kind & _CATEGORICAL:
        k = int(tree.threshold[node])
        start, end = tree.cat_boundaries[k], tree.cat_boundaries[k + 1]
        words = ", ".join(f"{w}u" for w in tree.cat_threshold[start:end])
        sets.append(f"static const uint32_t {name}_{node}[] = {{{words}}};")
        return f"in_set({x}, {name}_{node}, {end - start})"
    threshold = _literal(tree.threshold[node])
    left = int(bool(kind & _DEFAULT_LEFT))
    missing = (kind >> 2) & 3
    if missing == _MISSING_NAN:
        return f"(isnan({x}) ? {left} : {x} <= {threshold})"
    if missing == _MISSING_ZERO:
        return f"(is_zero({x}) ? {left} : {x} <= {threshold})"
    # No missing type: LightGBM reads NaN as 0.0, which goes where 0.0 <= threshold says.
    return f"!({x} > {threshold})" if tree.threshold[node] >= 0 else f"{x} <= {threshold}"


def _tree_function(tree: Tree, name: str) -> list[str]:
    """`static double name(const double *x)`: the tree's leaf value for one row."""
    sets: list[str] = []
    body: list[str] = []

    def walk(node: int, depth: int) -> None:
        pad = "    " * depth
        if node < 0:
            body.append(f"{pad}return {_literal(tree.leaf_value[~node])};")
            return
        body.append(f"{pad}if ({_condition(tree, node, sets, name)}) {{")
        walk(tree.left_child[node], depth + 1)
        body.append(f"{pad}}}")
        walk(tree.right_child[node], depth)

    walk(0 if tree.split_feature else -1, 1)
    return [*sets, f"static double {name}(const double *x) {{", *body, "}"]


def c_source(forest: Forest) -> str:
    """The C file of one model: `n_features()` and `predict(x, rows, out)` on row-major doubles."""
    lines = [_PRELUDE]
    for i, tree in enumerate(forest.trees):
        lines += _tree_function(tree, f"tree{i}")
    nf = forest.n_features
    lines += [
        f"int n_features(void) {{ return {nf}; }}",
        "void predict(const double *x, int64_t rows, double *out) {",
        f"    double sum[{ROW_BLOCK}];",
        f"    for (int64_t start = 0; start < rows; start += {ROW_BLOCK}) {{",
        f"        int64_t n = rows - start < {ROW_BLOCK} ? rows - start : {ROW_BLOCK};",
        f"        const double *block = x + start * {nf};",
        "        for (int64_t r = 0; r < n; r++) sum[r] = 0.0;",
    ]
    lines += [
        f"        for (int64_t r = 0; r < n; r++) sum[r] += tree{i}(block + r * {nf});"
        for i in range(len(forest.trees))
    ]
    # LightGBM's sigmoid: 1 / (1 + exp(-sigmoid * score)).
    sigmoid = _literal(-forest.sigmoid)
    lines += [
        "        for (int64_t r = 0; r < n; r++)",
        f"            out[start + r] = 1.0 / (1.0 + exp({sigmoid} * sum[r]));",
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def compiler() -> str | None:
    """The C compiler to use: $CC, else `cc` or `gcc` on the PATH; None when there is none."""
    named = os.environ.get("CC")
    if named:
        return shutil.which(named)
    return shutil.which("cc") or shutil.which("gcc")


@functools.lru_cache(maxsize=8)
def _compiler_identity(cc: str) -> str:
    done = subprocess.run([cc, "--version"], capture_output=True, text=True, check=False)
    return done.stdout.splitlines()[0] if done.stdout else cc


def library_key(text: str, cc: str) -> str:
    """The cache key of a member's library: its text, the code generation and the compiler."""
    parts = [CODEGEN, " ".join(FLAGS), _compiler_identity(cc), text]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def build(text: str, cache: Path, cc: str) -> Path:
    """The shared library of one member's text model, compiled into `cache` unless already
    there; written under a temporary name and renamed, so a reader never loads half a file."""
    path = cache / f"{library_key(text, cc)}.so"
    if path.is_file():
        trusted(cache)
        return trusted(path)
    source = c_source(parse(text))
    if not cache.is_dir():
        # Members compile on several threads at once: the first to get here makes the folder.
        cache.mkdir(parents=True, exist_ok=True)
        cache.chmod(0o755)  # whatever the umask: no one else may add a library
    with tempfile.TemporaryDirectory(dir=trusted(cache)) as tmp:
        c_file, partial = Path(tmp) / "model.c", Path(tmp) / "model.so"
        c_file.write_text(source)
        done = subprocess.run(
            [cc, *FLAGS, "-o", str(partial), str(c_file), "-lm"], capture_output=True, text=True
        )
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise CompileError(f"{cc} failed on the generated model: {last}")
        partial.chmod(0o755)
        partial.replace(path)
    return path


def trusted(path: Path) -> Path:
    """`path` when this user wrote it and no one else may change it: loading a library runs
    its code, so one that another user wrote or could have replaced is never loaded (a model
    folder itself holds no code: nothing in it is pickled)."""
    info = path.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise CompileError(
            f"{path} was written by another user or others may change it; remove it (or make "
            "it this user's, writable by no one else) to compile the trees again"
        )
    return path


class CompiledModel:
    """One member's compiled library, called like `model.predict(X, num_threads)`."""

    def __init__(self, path: Path):
        self.path = path
        self._lib = ctypes.CDLL(str(path))
        self._lib.predict.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p]
        self._lib.predict.restype = None
        self.n_features = int(self._lib.n_features())

    def predict(self, X: np.ndarray, num_threads: int = 1) -> np.ndarray:
        """Positive-class probabilities; rows are split over `num_threads` threads (the C code
        runs without the GIL, and each row's sum is the same whichever thread computes it)."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected {self.n_features} features, got shape {X.shape}")
        out = np.empty(len(X), dtype=np.float64)
        parts = np.array_split(np.arange(len(X)), max(1, min(num_threads, len(X))))
        bounds = [(int(p[0]), int(p[-1]) + 1) for p in parts if p.size]

        def run(bound: tuple[int, int]) -> None:
            start, end = bound
            self._lib.predict(X[start:].ctypes.data, end - start, out[start:].ctypes.data)

        if len(bounds) == 1:
            run(bounds[0])
        else:
            with ThreadPoolExecutor(len(bounds)) as pool:
                list(pool.map(run, bounds))
        return out
