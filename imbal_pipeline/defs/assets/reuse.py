"""Reusing the value an identical recipe made before; another attempt on a transient error."""

import contextlib
import errno

import dagster as dg

from imbal_pipeline.core.train.content import with_recipe
from imbal_pipeline.defs.assets.common import code_of
from imbal_pipeline.defs.resources import FitCache
from imbal_pipeline.store.storage import content_hash

# Errors worth another attempt: the machine, not the input, was the problem. Anything else (a
# data error, a bug, a full disk) fails at once with its own message.
TRANSIENT_ERRNOS = frozenset(
    {errno.EAGAIN, errno.EINTR, errno.EBUSY, errno.ETIMEDOUT, errno.ECONNRESET, errno.EIO}
)
MAX_RETRIES = 2


def is_transient(exc: BaseException) -> bool:
    """A failure another attempt may not meet: memory pressure, a flaky mount or network."""
    if isinstance(exc, (MemoryError, TimeoutError, ConnectionError)):
        return True
    return isinstance(exc, OSError) and exc.errno in TRANSIENT_ERRNOS


@contextlib.contextmanager
def retry_if_transient():
    """Ask Dagster for another attempt on a transient error; let every other error fail now."""
    try:
        yield
    except Exception as exc:
        if is_transient(exc):
            raise dg.RetryRequested(max_retries=MAX_RETRIES, seconds_to_wait=2) from exc
        raise


def recipe_parts(name: str, code: str, inputs: dict, settings, fields: tuple[str, ...]) -> dict:
    """What determines an expensive asset: its code's digest, input contents and the settings
    that change it."""
    return {
        "asset": name,
        "code": code,
        "inputs": {key: content_hash(value) for key, value in sorted(inputs.items())},
        "config": {f: getattr(settings, f) for f in fields},
    }


def fit_or_reuse(
    context: dg.AssetExecutionContext,
    fit_cache: FitCache,
    inputs: dict,
    settings,
    fields: tuple[str, ...],
    fit,
):
    """The value an identical recipe (the asset's code, `inputs`' contents and the settings
    `fields`) made before, else `fit()`'s, carrying its recipe (see `with_recipe`); with the
    recipe and whether the value was reused. A transient error while fitting asks Dagster for
    another attempt."""
    name = context.asset_key.to_user_string()
    parts = recipe_parts(name, code_of(context), inputs, settings, fields)
    key = content_hash(parts)
    value = fit_cache.recall(name, key)
    if value is not None:
        return value, key, True
    with retry_if_transient():
        return with_recipe(fit(), parts), key, False
