"""Sizes Dask can take of what a step run on a Dask worker returns.

Each step's task returns its Dagster events, and a worker sizes every result it keeps or
receives. An event is a tuple, so Dask's default walks into its fields, and the `@record`
values in them (asset keys, metadata values, check evaluations) forbid iteration: each worker
logged a `distributed.sizeof - WARNING` per result and counted it as 1 MB. An event's size is
the size of its serialized form, which is what travels between the processes.

Dask calls `register` through the `dask.sizeof` entry point (pyproject.toml) when a worker
imports `dask.sizeof`, before any task: a worker sizes an upstream step's result as it receives
it, before it has loaded our code location.
"""


def register(sizeof) -> None:
    """Register the size of Dagster's events with Dask's `sizeof`, when Dask first meets one
    (Dagster is imported then, not by every program that imports Dask)."""

    @sizeof.register_lazy("dagster")
    def _dagster() -> None:
        import dagster as dg

        @sizeof.register(dg.DagsterEvent)
        def event_size(event: dg.DagsterEvent) -> int:
            """Bytes of the event as Dagster serializes it."""
            return len(dg.serialize_value(event))
