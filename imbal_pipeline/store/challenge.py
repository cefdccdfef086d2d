"""A run's challenger against the champion in service: the rows to compare on, and the verdict.

Gathers what `core.promotion.compare` needs from the store and the inbox: the champion (by the
champion records, `champion.py`), the rows each model trained on, the challenger's holdout rows
and every labelled inbox batch that arrived after the champion was produced (a batch arrives
when the inbox scores it; one never scored, when its file was last written). No Dagster here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from imbal_pipeline.core.data import inbox
from imbal_pipeline.core.data.data import is_label, read_table, refuse_stray_labels
from imbal_pipeline.core.monitor import promotion
from imbal_pipeline.core.monitor.deployed import Model, ModelFileError
from imbal_pipeline.core.monitor.promotion_rows import BATCH, HOLDOUT, Source, TrainedRows
from imbal_pipeline.core.settings import LABEL, Settings
from imbal_pipeline.store.champion import DEPLOYED, FIRST, PROMOTED, Champions
from imbal_pipeline.store.models import from_store_value
from imbal_pipeline.store.storage import AssetStore, CorruptValueError


def arrived(batch: inbox.Batch, scored_dir: str | Path) -> str:
    """When a batch arrived: when the inbox scored it, else when its file was last written."""
    summary = Path(scored_dir) / batch.key / "summary.json"
    try:
        return json.loads(summary.read_text())["scored_at"]
    except (OSError, ValueError, KeyError):
        stamp = datetime.fromtimestamp(batch.path.stat().st_mtime, UTC)
        return stamp.isoformat(timespec="seconds")


def labelled_batches(settings: Settings, champion: Model, since: str | None) -> list[Source]:
    """The inbox's labelled batches that arrived after `since`, labelled 0/1 by the champion's
    positive class; a batch whose labels cannot be read is a source that is not comparable."""
    sources = []
    for batch in inbox.list_batches(settings.inbox):
        if batch.labels_path is None or (since and arrived(batch, settings.scored_dir) < since):
            continue
        try:
            rows = inbox.labelled_rows(
                batch,
                lambda path: read_table(path, settings.read_options),
                settings.target,
                settings.id_column,
            )
            classes = [champion.positive_label, *(champion.meta.get("negative_labels") or [])]
            refuse_stray_labels(rows[settings.target], classes, f"labels of {batch.path.name}")
            y = is_label(rows[settings.target], champion.positive_label).astype(np.int8)
        except (ValueError, OSError) as exc:  # DataError is a ValueError
            empty = pd.DataFrame()
            sources.append(Source(batch.key, BATCH, empty, np.zeros(0, np.int8), note=str(exc)))
            continue
        sources.append(Source(batch.key, BATCH, rows.drop(columns=[settings.target]), y))
    return sources


def challenge(
    store: AssetStore,
    settings: Settings,
    challenger: Model,
    challenger_rows: TrainedRows,
    holdout: pd.DataFrame,
) -> dict:
    """The comparison with the champion in service and its verdict (`core.promotion`)."""
    champions = Champions(store)
    try:
        record = champions.current()
    except CorruptValueError as exc:
        return promotion.kept(challenger.version, None, f"the champion cannot be read: {exc}")
    if record is None:
        return promotion.first(challenger.version)
    version = str(record["version"])
    if version == challenger.version:
        # The comparison that put it in service: an identical rerun reports what the run
        # before it did, so its report (and that report's version) is the same.
        return (
            record["evidence"] if record["action"] in (FIRST, PROMOTED) else promotion.same(version)
        )
    rollback = champions.rolled_back(challenger.version)
    if rollback is not None:
        return promotion.rolled_back(challenger.version, version, rollback)
    try:
        champion = from_store_value(store.load(DEPLOYED, version), version, challenger.n_jobs)
    except (FileNotFoundError, CorruptValueError, ModelFileError) as exc:
        return promotion.kept(challenger.version, version, f"the champion cannot be read: {exc}")
    source = Path(settings.data_path).name if settings.data_path else "none"
    demo = promotion.replaces_demo(champion, challenger, source)
    if demo is not None:
        return demo
    sources = [
        Source("holdout", HOLDOUT, holdout, holdout[LABEL].to_numpy()),
        *labelled_batches(settings, champion, champions.trained_at(version)),
    ]
    return promotion.compare(
        champion,
        challenger,
        champions.trained_rows(champion.meta),
        challenger_rows,
        sources,
        settings.promotion_margin,
        seed=settings.seed,
    )
