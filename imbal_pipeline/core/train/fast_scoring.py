"""Scoring a model's members with their compiled trees (`compiled`), where that is exact.

`prepare` gives each LightGBM member of a model its compiled library: from the cache when it
is there, compiled when the batch is large enough to repay the compile (`COMPILE_FROM_ROWS`).
`predict` then uses the library for that member, after checking it once against LightGBM on
the first rows it is given (`CHECK_ROWS`): a library that differs on any of them is dropped
and the member is scored by LightGBM. Everything else is scored by LightGBM as before.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import lightgbm as lgb
import numpy as np

from imbal_pipeline.core.train import compiled

# Below this many rows LightGBM scores a batch in less time than gcc takes to compile the bag
# (about a minute for 5 x 300 trees); a library already in the cache is used for any batch.
COMPILE_FROM_ROWS = 100_000
# Rows of the first batch a library scores that LightGBM scores too, to prove them equal.
CHECK_ROWS = 2_000

# A member's library, and whether it has been checked against LightGBM in this process.
_LIBRARIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_CHECKED: weakref.WeakSet = weakref.WeakSet()
_REFUSED: weakref.WeakSet = weakref.WeakSet()  # libraries that differed: LightGBM scores these
REFUSED = (
    "scored with LightGBM: the compiled trees differed from LightGBM on the batch's first rows "
    "(library removed; please report it)"
)


def boosters(model) -> list[lgb.Booster]:
    """Every LightGBM booster of a model, members of bagged members included."""
    if isinstance(model, lgb.Booster):
        return [model]
    return [b for member in model.members for b in boosters(member)]


def prepare(
    model,
    cache: Path,
    rows: int,
    threads: int = 1,
    text_of: Callable[[lgb.Booster], str] = lgb.Booster.model_to_string,
) -> str:
    """Give the model's boosters their compiled libraries; one line saying which scorer
    scores the batch of `rows` rows, and why not the compiled trees when it is LightGBM.
    `text_of` gives a booster's model text (the caller's cached `model.model_text`)."""
    members = boosters(model)
    if refused(model):
        return REFUSED
    if all(b in _LIBRARIES for b in members):
        return f"scored with the compiled trees ({cache})"
    cc = compiled.compiler()
    if cc is None:
        return "scored with LightGBM: no C compiler (cc, gcc or $CC) found to compile the trees"
    texts = [text_of(b) for b in members]
    paths = [cache / f"{compiled.library_key(t, cc)}.so" for t in texts]
    cached = all(p.is_file() for p in paths)
    if not cached and rows < COMPILE_FROM_ROWS:
        return "scored with LightGBM (the trees are compiled for a batch of 100,000 rows or more)"
    start = time.perf_counter()
    try:
        with ThreadPoolExecutor(max(1, threads)) as pool:
            built = list(pool.map(lambda t: compiled.build(t, cache, cc), texts))
    except (compiled.CompileError, OSError) as exc:
        return f"scored with LightGBM: {exc}"
    for booster, path in zip(members, built, strict=True):
        _LIBRARIES[booster] = compiled.CompiledModel(path)
    took = "" if cached else f", compiled in {time.perf_counter() - start:.1f} s"
    return f"scored with the compiled trees ({cache}{took})"


def predict(booster, X: np.ndarray, num_threads: int) -> np.ndarray | None:
    """The booster's probabilities from its compiled library, or None when it has none (or
    its library differed from LightGBM on the first rows it was checked on)."""
    library = _LIBRARIES.get(booster) if isinstance(booster, lgb.Booster) else None
    if library is None:
        return None
    out = library.predict(X, num_threads)
    if booster not in _CHECKED:
        sample = X[:CHECK_ROWS]
        expected = booster.predict(sample, num_threads=num_threads)
        if not np.array_equal(out[:CHECK_ROWS], expected):
            del _LIBRARIES[booster]
            _REFUSED.add(booster)
            library.path.unlink(missing_ok=True)
            return None
        _CHECKED.add(booster)
    return out


def refused(model) -> bool:
    """Whether a library of the model's boosters differed from LightGBM (and was dropped)."""
    return any(b in _REFUSED for b in boosters(model))
