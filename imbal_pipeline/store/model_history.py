"""Every model version a store holds and what became of it: `versions deployed_model`, `show`.

Read from the store alone (the challengers, the champion records and the asset's history), so
every instance sharing the store says the same. A version is named with the run that trained
it (its data and target), apart from the runs that only kept it in service: a run whose own
model was not promoted materializes `deployed_model` with the champion's value again, and
Dagster's history then shows that run's upstream versions against a model it did not train.

No Dagster here, like the rest of `store/`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from imbal_pipeline.core.monitor.promotion import FIRST, PROMOTING, REPLACES_DEMO
from imbal_pipeline.store.champion import BY_HAND, DEPLOYED, ROLLBACK, Champions
from imbal_pipeline.store.storage import MANIFEST

IN_SERVICE, NOT_PROMOTED, ROLLED_BACK, REPLACED = (
    "in service",
    "challenger not promoted",
    "rolled back",
    "replaced",
)
NEVER_SERVED = "never served"  # its run's export check failed: it may not be promoted
UNRECORDED = "not in service"  # stored before champions were recorded, never promoted since


@dataclass(frozen=True)
class Trained:
    """The run that trained a version: the first run that produced it."""

    run_id: str | None
    time: str
    data: str | None  # the training file as its run named it; None: not recorded (older run)
    target: str | None

    def text(self) -> str:
        on = f" on {self.data}" if self.data else ""
        target = f", target {self.target}" if self.target else ""
        return f"trained by run {self.run_id or 'unknown'} at {self.time}{on}{target}"


@dataclass(frozen=True)
class ModelVersion:
    """One stored model version: who trained it and what it is now."""

    version: str
    trained: Trained
    status: str
    detail: str  # how it came into or left service, or why it never did
    again_by: tuple[str, ...]  # later runs that trained the identical model
    kept_by: tuple[str, ...]  # later runs whose deployed_model is this version again

    def origin(self) -> str:
        """The run that trained it (and any that trained it again, identically), then the
        later runs that kept it in service."""
        again = f", again by run {', '.join(self.again_by)}" if self.again_by else ""
        kept = f"; kept in service by run {', '.join(self.kept_by)}" if self.kept_by else ""
        return f"{self.trained.text()}{again}{kept}"

    def line(self) -> str:
        status = f"{self.status} ({self.detail})" if self.detail else self.status
        return f"{self.version}  {status}  {self.origin()}"


# What `--reason` recorded when none was given, before an empty reason was recorded instead.
OLD_DEFAULT_REASONS = ("promoted by hand", "rolled back by hand")


def _hand(verb: str, record: dict) -> str:
    given = record.get("reason") not in (None, "", *OLD_DEFAULT_REASONS)
    reason = f" ({record['reason']})" if given else ""
    return f"{verb} by hand{reason}, {record['time']}, {record['by']}"


def _came(record: dict) -> str:
    """How a champion record put its version in service, in words."""
    action = record["action"]
    if action == BY_HAND:
        return _hand("promoted", record)
    if action == ROLLBACK:
        return _hand("back in service by a rollback", record)
    how = "on its comparison"
    if action == FIRST:
        how = "as the first champion"
    elif record.get("evidence", {}).get("verdict") == REPLACES_DEMO:
        how = "in place of the demo model, without a comparison"
    return f"promoted by {record['by']} {how}, {record['time']}"


def _left(record: dict) -> tuple[str, str]:
    """The status and words of the version a champion record took out of service."""
    if record["action"] == ROLLBACK:
        return ROLLED_BACK, _hand("rolled back", record)
    return REPLACED, f"by {record['version']}, {_came(record)}"


def served(records: list[dict]) -> dict[str, tuple[str, str]]:
    """Each version that was ever the champion: its status and how it came or went."""
    state: dict[str, tuple[str, str]] = {}
    for record in records:  # oldest first: the last word on a version wins
        previous = record.get("previous")
        if previous and previous != record["version"]:
            state[previous] = _left(record)
        state[record["version"]] = (IN_SERVICE, _came(record))
    champion = records[-1]["version"] if records else None
    for version, (status, detail) in state.items():
        if status == IN_SERVICE and version != champion:  # a record without its `previous`
            state[version] = (REPLACED, detail)
    return state


def _why_not(challenger: dict) -> tuple[str, str]:
    """The status and reason of a challenger that never was the champion."""
    if challenger.get("gate") != "passed":
        return NEVER_SERVED, f"gate {challenger.get('gate')}"
    line = challenger.get("line") or ""
    if challenger.get("verdict") in PROMOTING:  # the champion changed meanwhile
        return NOT_PROMOTED, "the champion changed after its run compared them"
    _, _, why = line.partition(": ")  # "model X not promoted, Y stays in service: why"
    return NOT_PROMOTED, why or line or "no comparison recorded"


def _target_of(champions: Champions, version: str) -> str | None:
    """The target a stored model was trained for, from its manifest (no model is parsed)."""
    path = champions.store.version_folder(DEPLOYED, version) / MANIFEST
    try:
        return json.loads(path.read_text())["values"]["meta"]["target"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def model_versions(champions: Champions) -> list[ModelVersion]:
    """Every model version the store holds, the newest trained first.

    Raises CorruptValueError when a record is unreadable; the caller says so.
    """
    trained: dict[str, Trained] = {}
    again: dict[str, list[str]] = {}  # later runs that trained the same model (same content)
    challengers = champions.challengers()
    for c in challengers:
        if c["version"] in trained:
            again.setdefault(c["version"], []).append(str(c.get("run_id")))
            continue
        target = c.get("target") or _target_of(champions, c["version"])
        trained[c["version"]] = Trained(c.get("run_id"), c["time"], c.get("data"), target)
    gates = {c["version"]: c for c in challengers}  # the newest record of each
    kept: dict[str, list[str]] = {}
    for write in champions.store.history(DEPLOYED):
        version, run = write["version"], str(write.get("run_id"))
        if version not in trained:  # written before challengers were recorded
            target = _target_of(champions, version)
            trained[version] = Trained(write.get("run_id"), write["time"], None, target)
        elif run not in (str(trained[version].run_id), *again.get(version, [])):
            kept.setdefault(version, []).append(run)
    kept = {version: list(dict.fromkeys(runs)) for version, runs in kept.items()}  # once each
    state = served(champions.records())
    out = []
    for version, made in trained.items():
        if version in state:
            status, detail = state[version]
        elif version in gates:
            status, detail = _why_not(gates[version])
        else:
            status, detail = UNRECORDED, "stored before champions were recorded"
        runs = tuple(again.get(version, [])), tuple(kept.get(version, []))
        out.append(ModelVersion(version, made, status, detail, *runs))
    # Records are in order of writing: a stable sort keeps it among times within one second.
    return sorted(out, key=lambda m: m.trained.time)[::-1]


def find(champions: Champions, version: str) -> ModelVersion | None:
    """One version's entry, or None when the store holds no record of it."""
    return next((m for m in model_versions(champions) if m.version == version), None)
