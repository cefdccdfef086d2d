"""An asset's versions as the instance recorded them, for `imbal-pipeline versions` and `show`.

Dagster's event log is the one history both read: the store holds the values. Which model is
in service is the store's champion records' to say (`champion.py`), for every reader.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import UTC, datetime

INPUT_TAG = "dagster/input_data_version/"  # Dagster's tag: the version of an upstream read
BY_HAND_RUN = "none (by hand)"  # the run of an event reported without one (`promote.py`)


@dataclass(frozen=True)
class Recorded:
    """One materialization: the version it stored, where it came from and its gate."""

    version: str
    run_id: str
    time: str
    code: str
    gate: str
    upstream: dict[str, str]

    def line(self) -> str:
        upstream = ", ".join(f"{k}={v}" for k, v in sorted(self.upstream.items())) or "none"
        return (
            f"{self.version}  run {self.run_id}  {self.time}  code {self.code}  "
            f"gate {self.gate}  upstream {upstream}"
        )


def unknown_asset(asked: str, home, known: list[str]) -> str:
    """The one line for an asset name the instance has no record of, naming those it has."""
    from imbal_pipeline.core.data.data import close_name

    close = close_name(asked, known)
    hint = f"did you mean {close!r}? " if close not in (None, asked) else ""
    if not known:
        return f"no materializations of {asked!r} in {home}; run `imbal-pipeline run` first"
    return (
        f"no materializations of {asked!r} in {home}; {hint}"
        f"the assets it records are {', '.join(sorted(known))}"
    )


def recorded_assets(instance) -> list[str]:
    """Every asset the instance holds a materialization or observation of."""
    return sorted(key.to_user_string() for key in instance.get_asset_keys())


def recorded(instance, asset: str, limit: int) -> list[Recorded]:
    """The asset's newest `limit` materializations in the instance, newest first; for a source
    asset (the raw file), which is observed rather than made, its observations."""
    import dagster as dg

    key = dg.AssetKey.from_user_string(asset)
    records = instance.fetch_materializations(key, limit=limit).records
    observed = not records
    if observed:
        records = instance.fetch_observations(key, limit=limit).records
    out = []
    for record in records:
        entry = record.event_log_entry
        mat = entry.asset_observation if observed else entry.asset_materialization
        tags = mat.tags or {}
        out.append(
            Recorded(
                version=tags.get("dagster/data_version", "?"),
                run_id=record.run_id or BY_HAND_RUN,  # a promotion or rollback by hand
                time=datetime.fromtimestamp(record.timestamp, UTC).isoformat(timespec="seconds"),
                code=tags.get("dagster/code_version", "?"),
                gate="observed"
                if observed
                else getattr(mat.metadata.get("gate"), "value", "unchecked"),
                upstream={
                    k.removeprefix(INPUT_TAG): v for k, v in tags.items() if k.startswith(INPUT_TAG)
                },
            )
        )
    return out


def with_run_data(models: list) -> list:
    """Model versions (`model_history.ModelVersion`) whose records predate the challengers'
    `data`, with the data and target their training run's tags name, when this instance ran it."""
    import dagster as dg

    from imbal_pipeline.defs.instance import DATA_TAG, TARGET_TAG

    if all(m.trained.data or not m.trained.run_id for m in models):
        return models
    out = []
    with dg.DagsterInstance.get() as instance:
        for model in models:
            made = model.trained
            run = None if made.data or not made.run_id else instance.get_run_by_id(made.run_id)
            if run is not None and DATA_TAG in run.tags:
                target = made.target or run.tags.get(TARGET_TAG)
                made = dataclasses.replace(made, data=run.tags[DATA_TAG], target=target)
            out.append(dataclasses.replace(model, trained=made))
    return out


def summarize(value) -> list[str]:
    """What `show` prints of a stored value: its kind, its tables' shapes, its models' trees."""
    import pandas as pd

    from imbal_pipeline.core.train import model as model_core
    from imbal_pipeline.core.values import fields_of

    if isinstance(value, pd.DataFrame):
        return [
            f"table: {len(value):,} rows x {value.shape[1]} columns",
            value.head(5).to_string(max_cols=12),
        ]
    lines = (
        [f"kind: {type(value).__name__} (imbal_pipeline.core.values)"]
        if dataclasses.is_dataclass(value)
        else []
    )
    items = fields_of(value) if lines else value
    for key, item in items.items():
        if isinstance(item, pd.DataFrame):
            lines.append(f"{key}: table {len(item):,} rows x {item.shape[1]} columns")
        elif model_core.is_model(item):
            lines.append(f"{key}: LightGBM model, {item.num_trees()} trees")
        elif isinstance(item, dict) and item and all(map(model_core.is_model, item.values())):
            trees = ", ".join(f"{name} {m.num_trees()} trees" for name, m in item.items())
            lines.append(f"{key}: LightGBM models: {trees}")
        else:
            text = json.dumps(item, default=str)
            lines.append(f"{key}: {text[:300]}{'...' if len(text) > 300 else ''}")
    return lines
