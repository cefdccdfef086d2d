"""Sizes Dask can take of what a step run on a Dask worker returns.

Each step's task returns its Dagster events, and Dask sizes every result it keeps. An event is
a tuple, so Dask's default walks into its fields, and the `@record` values in them (asset keys,
metadata values, check evaluations) forbid iteration: the worker logged a
`distributed.sizeof - WARNING` per result and counted it as 1 MB. An event's size is the size
of its serialized form, which is what travels back to the client.
"""

import dagster as dg
from dask.sizeof import sizeof


@sizeof.register(dg.DagsterEvent)
def event_size(event: dg.DagsterEvent) -> int:
    """Bytes of the event as Dagster serializes it."""
    return len(dg.serialize_value(event))
