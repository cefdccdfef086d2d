"""An asset's versions as the instance recorded them, for `imbal-pipeline versions` and `show`.

Dagster's event log is the one history both read: the store holds the values, and its own
`latest.json` serves only the readers that have no instance (`load_model`, a scoring run).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

INPUT_TAG = "dagster/input_data_version/"  # Dagster's tag: the version of an upstream read


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
                run_id=record.run_id,
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
