"""A value's content hash: its data version, the same for the same content wherever it is.

Tables by their columns, types and rows; models by their LightGBM text; stage values by their
class and fields; everything else as JSON, with run-context fields left out. The store checks
every value it serves against it, and an exported model claims it as its version.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pandas as pd

from imbal_pipeline.core.jsonready import json_ready
from imbal_pipeline.core.settings import result_free
from imbal_pipeline.core.train import model as model_core
from imbal_pipeline.core.values import fields_of

# Run-context fields, by where they live in a value: they differ between identical runs, so
# they are not content. A report's clock, run and upstream verdicts, a scored batch's verdicts,
# the run that exported a model, and the settings that change no result (where values are kept,
# where steps run). Only there: a key of the same name elsewhere (a feature named `store` in a
# preprocessor, a category `run_id`) is content like any other.
VOLATILE = frozenset(
    {
        ("generated_at",),
        ("run_id",),
        ("checks",),
        ("meta", "run_id"),
        *(("settings", name) for name in result_free()),
    }
)
_ON_THE_WAY = frozenset(path[:depth] for path in VOLATILE for depth in range(1, len(path)))


# What made a reused value, stored inside it (a field of a stage value, a key of a dict), so
# that its version, the hash of its content, covers it: see `with_recipe`.
MADE_FROM = "made_from"


def _feed(digest, value, path: tuple[str, ...] | None = ()) -> None:
    """Feed `value`'s content to `digest`; `path` is where it lies in the value hashed, while
    it may still lead to a VOLATILE field (else None)."""
    if isinstance(value, pd.DataFrame):
        digest.update(b"frame")
        digest.update(json.dumps([str(c) for c in value.columns]).encode())
        digest.update(json.dumps([str(t) for t in value.dtypes]).encode())
        digest.update(pd.util.hash_pandas_object(value, index=False).to_numpy().tobytes())
    elif model_core.is_model(value):
        digest.update(model_core.model_text(value).encode())
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        digest.update(type(value).__name__.encode())
        fields = fields_of(value)
        if fields.get(MADE_FROM, "") is None:  # none recorded: hashed as before there was one
            del fields[MADE_FROM]
        _feed(digest, fields, path)
    elif isinstance(value, dict):
        for key in sorted(value, key=str):
            here = None if path is None else (*path, str(key))
            if here in VOLATILE:
                continue
            digest.update(json.dumps(str(key)).encode())
            _feed(digest, value[key], here if here in _ON_THE_WAY else None)
    elif isinstance(value, (list, tuple)):
        digest.update(b"[")
        for item in value:
            _feed(digest, item, None)
        digest.update(b"]")
    else:
        digest.update(json.dumps(json_ready(value), sort_keys=True, default=str).encode())


def content_hash(value) -> str:
    """Data version of an output: a hash of its content, run-context fields left out."""
    digest = hashlib.sha256()
    _feed(digest, value)
    return digest.hexdigest()[:16]


def with_recipe(value, parts: dict):
    """`value` carrying what made it: the recipe (the hash of `parts`: the code, the inputs'
    versions and the settings that shape it) and the parts themselves, inside its content.

    Its version, the content hash, then covers the recipe: a store edited to serve it for
    another recipe must write a new version with a re-hashed recipe inside, a deliberate
    forgery no unsigned store can prevent, rather than point a record at it.
    """
    made = {"recipe": content_hash(parts), **parts}
    if isinstance(value, dict):
        return {**value, MADE_FROM: made}
    return dataclasses.replace(value, **{MADE_FROM: made})


def recipe_of(value) -> str | None:
    """The recipe a value's own content says made it, or None: none recorded (stored before
    recipes were), or parts that do not hash to it."""
    made = value.get(MADE_FROM) if isinstance(value, dict) else getattr(value, MADE_FROM, None)
    if not isinstance(made, dict):
        return None
    parts = {key: part for key, part in made.items() if key != "recipe"}
    return made.get("recipe") if content_hash(parts) == made.get("recipe") else None


def without_recipe(value: dict) -> dict:
    """A dict value without its recipe: the figures alone, as a report shows them."""
    return {key: item for key, item in value.items() if key != MADE_FROM}
