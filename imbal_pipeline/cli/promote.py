"""`imbal-pipeline promote` and `rollback`, and how `versions` and `show` name the champion.

Each change is written to the store's champion records first (`champion.py`, what every
consumer reads), then reported to the Dagster instance as a materialization of
`deployed_model` without a run, so that the UI shows it in the asset's history.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from imbal_pipeline.store.champion import DEPLOYED, Champions, PromotionError, by_hand
from imbal_pipeline.store.storage import AssetStore, CorruptValueError, StoreNameError

UNREADABLE = "champion: none can be read: "


def _error(message: str, status: int) -> int:
    print(f"imbal-pipeline: error: {message}", file=sys.stderr)
    return status


def _store() -> AssetStore:
    from imbal_pipeline.core.project import load_project
    from imbal_pipeline.store.storage import storage_dir

    return AssetStore(storage_dir(load_project()))


def report_to_instance(record: dict) -> None:
    """The change as an event in deployed_model's history in the Dagster UI."""
    import dagster as dg

    from imbal_pipeline.defs.lineage import DATA_VERSION_TAG
    from imbal_pipeline.store.storage import GATE_KEY

    with dg.DagsterInstance.get() as instance:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                DEPLOYED,
                description=f"{record['action']} by hand{_because(record)}",
                metadata={
                    "champion": record["version"],
                    "verdict": record["action"],
                    "promotion": f"{record['action']} by hand{_because(record)}",
                    "previous": str(record["previous"]),
                    "by": record["by"],
                    GATE_KEY: "passed",
                },
                tags={DATA_VERSION_TAG: record["version"]},
            )
        )


def _carry_out(change: Callable[[], dict], store: AssetStore) -> int:
    """Make a change to the champion records and report it: 0 when made, 2 when it cannot be
    made, 1 when the records or the version are damaged or missing."""
    try:
        record = change()
    except PromotionError as exc:
        return _error(str(exc), 2)
    except (FileNotFoundError, CorruptValueError) as exc:
        return _error(str(exc), 1)
    report_to_instance(record)
    print(
        f"deployed_model: {record['version']} is the champion now (was "
        f"{record['previous'] or 'none'}): `score`, `load_model()` and the inbox use it; "
        f"recorded in {store.folder(DEPLOYED) / 'champion'}"
    )
    other = _predicts_otherwise(store, record)
    if other:
        print(other)
    return 0


def _predicts_otherwise(store: AssetStore, record: dict) -> str | None:
    """A note when the new champion predicts another target, or is the demo's, unlike the one
    it replaced: batches of the user's data are then refused (two rollbacks can do this)."""
    if not record.get("previous"):
        return None

    from imbal_pipeline.core.monitor.deployed import predicts

    try:  # the change is made: a damaged record of the previous model only loses the note
        now, before = (
            predicts(store.load(DEPLOYED, record[k])["meta"]) for k in ("version", "previous")
        )
    except (FileNotFoundError, CorruptValueError):
        return None
    if now == before:
        return None
    return (
        f"note: {record['version']} predicts {now}, unlike {record['previous']} ({before}): "
        "batches made for that one may be refused or scored for another target; "
        f"`imbal-pipeline promote {record['previous']}` puts it back"
    )


def cmd_promote(args: argparse.Namespace) -> int:
    """Make a stored version the champion; 2 when it cannot be, 1 when it is damaged."""
    from imbal_pipeline.cli.runs import ensure_home

    ensure_home()
    store = _store()
    try:
        store.version_folder(DEPLOYED, args.version)
    except StoreNameError as exc:
        return _error(str(exc), 2)
    champions = Champions(store)
    try:
        current = champions.current()
    except CorruptValueError:
        current = None  # a promotion by hand is how a damaged pointer is repaired
    if current is not None and current["version"] == args.version:
        print(f"deployed_model: {args.version} is the champion already, {since(current)}")
        return 0
    return _carry_out(
        lambda: champions.promote(args.version, args.reason, by_hand("promote")), store
    )


def cmd_rollback(args: argparse.Namespace) -> int:
    """Put the previous champion back; 2 when there is none, 1 when it is damaged."""
    from imbal_pipeline.cli.runs import ensure_home

    ensure_home()
    store = _store()
    return _carry_out(lambda: Champions(store).rollback(args.reason, by_hand("rollback")), store)


def _because(record: dict) -> str:
    return f": {record['reason']}" if record.get("reason") else ""


def since(record: dict) -> str:
    """Since when and why a champion is in service, in words."""
    return f"since {record['time']} ({record['action']} by {record['by']}{_because(record)})"


def model_lines(store: AssetStore, limit: int) -> list[str]:
    """`versions deployed_model`: the store's newest `limit` model versions (each with what it
    is and the run that trained it), then the champion and a challenger that waits."""
    import dataclasses

    from imbal_pipeline.cli.history import with_run_data
    from imbal_pipeline.store.model_history import model_versions

    champion, about = champion_lines(store)
    try:
        models = with_run_data(model_versions(Champions(store))[:limit])
    except CorruptValueError as exc:  # a damaged record
        return [f"{UNREADABLE}{exc}"]
    refused = bool(about) and about[0].startswith(UNREADABLE)
    lines = []
    for model in models:
        if refused:  # no status read from records the champion's readers refuse
            model = dataclasses.replace(model, status="status unknown", detail="see below")
        mark = "  [champion]" if model.version == champion else ""
        lines.append(model.line() + mark)
    return lines + about


def champion_lines(store: AssetStore) -> tuple[str | None, list[str]]:
    """The champion's version and what `versions deployed_model` says about it (and about a
    challenger that waits); the same records `score` reads."""
    champions = Champions(store)
    try:
        record = champions.current()
        waiting = champions.waiting()
    except CorruptValueError as exc:
        return None, [f"{UNREADABLE}{exc}"]
    if record is None and not store.history(DEPLOYED):
        return None, []  # nothing stored yet
    if record is None:
        return None, [
            "champion: none (stored before champions were recorded); put one in "
            "service with `imbal-pipeline promote VERSION`"
        ]
    lines = [f"champion: {record['version']} {since(record)}"]
    if waiting is not None:
        lines.append(
            f"waiting: {waiting['version']} from run {waiting['run_id']} at {waiting['time']} "
            f"({waiting.get('line') or 'not promoted'})"
        )
    return record["version"], lines
