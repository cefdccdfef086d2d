"""Which recorded event of an asset a run reads: its own, else the one of the run it re-executes."""

import functools

import dagster as dg

DATA_VERSION_TAG = "dagster/data_version"  # where Dagster keeps an event's data version


def run_lineage(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """The run and the runs it re-executes, newest first: whose outputs a rerun reads."""
    return [run for run, _ in _lineage(instance, run_id)]


# A run's parent is fixed when the run is created, so its lineage is read once per process
# (an in-process run reads its inputs' lineage about 180 times).
@functools.lru_cache(maxsize=32)
def _lineage(instance: dg.DagsterInstance, run_id: str) -> tuple[tuple[str, float], ...]:
    """(run id, creation time) of the run and of each run it re-executes, newest first."""
    chain: list[tuple[str, float]] = []
    current: str | None = run_id
    while current is not None and current not in (run for run, _ in chain):
        record = instance.get_run_record_by_id(current)
        if record is None:  # not in this instance's run storage: its events still count
            chain.append((current, 0.0))
            break
        chain.append((current, record.create_timestamp.timestamp()))
        current = record.dagster_run.parent_run_id
    return tuple(chain)


PAGE = 50  # records fetched at a time, newest first, while looking for a run's own
# A run's creation time comes from its run storage (PostgreSQL's clock), its events' times from
# the machines that ran its steps: the search starts this much earlier, so that clocks apart by
# less than this never hide a run's own event. Reading a few older events costs next to nothing.
CLOCK_SLACK = 3600.0


def pinned_record(
    instance: dg.DagsterInstance, run_id: str, key: dg.AssetKey, *, this_run_only: bool = False
):
    """The event (materialization, or observation of a source) this run reads for `key`.

    The one this run made, else the one the run it re-executes made, else the latest in the
    instance (a lone asset materialized on its own). Never simply the newest: another run
    going on at the same time may have just recorded its own. With `this_run_only`, only this
    run's own event counts.
    """
    lineage = _lineage(instance, run_id)[: 1 if this_run_only else None]
    runs = {run for run, _ in lineage}
    # Read by asset key (indexed), newest first, back to the oldest run of the lineage: a run
    # re-executes older ones, so the newest event of any run in it is the nearest run's last.
    # Reading each run's events instead decoded every event of the run for every input.
    since = min(created for _, created in lineage) - CLOCK_SLACK if lineage else None
    for fetch in (instance.fetch_materializations, instance.fetch_observations):
        cursor, more = None, True
        while more:
            page = fetch(
                dg.AssetRecordsFilter(asset_key=key, after_timestamp=since),
                limit=PAGE,
                cursor=cursor,
            )
            found = next((r for r in page.records if r.run_id in runs), None)
            if found is not None:
                return found
            cursor, more = page.cursor, page.has_more
    if this_run_only:
        return None
    for fetch in (instance.fetch_materializations, instance.fetch_observations):
        records = fetch(key, limit=1).records
        if records:
            return records[0]
    return None


def pinned_check(instance: dg.DagsterInstance, run_id: str, key: dg.AssetCheckKey):
    """The evaluation of check `key` this run reads: its own, else the run it re-executes'.

    As `pinned_record`: never simply the latest, which another run going on at the same time
    may have just recorded; the latest in the instance only when no run of the lineage made one
    (a lone asset checked on its own). Planned evaluations that never ran are passed over.
    """
    lineage = _lineage(instance, run_id)
    runs = {run for run, _ in lineage}
    since = min(created for _, created in lineage) - CLOCK_SLACK
    history = instance.event_log_storage.get_asset_check_execution_history
    cursor, latest = None, None
    while True:
        page = history(key, limit=PAGE, cursor=cursor)
        for record in page:
            if check_evaluation(record) is None:
                continue
            if record.run_id in runs:
                return record
            latest = latest or record  # newest first
        if len(page) < PAGE or page[-1].create_timestamp < since:
            break
        cursor = page[-1].id
    return latest


def check_evaluation(record):
    """The check evaluation a record carries (None for none, or an evaluation only planned)."""
    event = getattr(getattr(record, "event", None), "dagster_event", None)
    data = getattr(event, "event_specific_data", None)
    return data if hasattr(data, "passed") else None
