"""The one way values become JSON here: stored bundles, report.json, contracts' findings and
the checks' metadata."""

from __future__ import annotations

import math

JSON_SCALARS = (str, int, float, bool, type(None))


def json_ready(value, *, strict: bool = False):
    """Plain JSON types: numpy scalars become Python ones, tuples lists, keys strings.

    With `strict` the result is strict JSON, as report.json and Dagster's metadata need: NaN and
    infinities become None, and any other object its text. Without it they are kept as they
    are (a stored bundle keeps its NaN).
    """
    if isinstance(value, dict):
        return {str(k): json_ready(v, strict=strict) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v, strict=strict) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # a numpy scalar
    if not strict:
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value if isinstance(value, JSON_SCALARS) else str(value)
