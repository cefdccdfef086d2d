"""The champion: which stored model is in service, and the record of every change to it.

One source of truth for `score`, `load_model()`, the inbox's `scored_batch`, the retrain
sensor, `versions` and `show`. Layout under the store's `deployed_model/` folder:

    champion/records/<time>-<id>.json   every promotion and rollback, never rewritten
    champion.json                       the newest record, read first
    challengers/<time>-<id>.json        every model a run produced whose gate passed,
                                        with the comparison its run made
    trained_rows/<digest>.parquet       each model's training rows' keys (`promotion_rows`)

The champion is the version the newest record names; `champion.json` is refused unless it is
that record, and a record is refused unless it names a version some run of this store produced
with its gate passed. That catches an edited pointer, a version copied in from another store
and a damaged file; it cannot catch someone who writes a whole consistent set of records, for
an unsigned store cannot tell its own writers from others (README, "Versions").

No Dagster here: `load_model` reads it.
"""

from __future__ import annotations

import getpass
import io
import json
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from imbal_pipeline.core.monitor.promotion import FIRST, PROMOTING, SAME, UNREADABLE
from imbal_pipeline.core.monitor.promotion_rows import TrainedRows
from imbal_pipeline.store.storage import (
    LATEST_LOOKS,
    LATEST_WAIT,
    VERSION,
    AssetStore,
    CorruptValueError,
    _put_text,
    content_hash,
    is_local,
    write_bundle,
)

DEPLOYED = "deployed_model"  # the asset: the champion, and every model that passed its gate

# How a version came into service: the first model of a store, a run's comparison, by hand.
PROMOTED, BY_HAND, ROLLBACK = "promoted", "promote", "rollback"


class PromotionError(ValueError):
    """A promotion or rollback that cannot be made; the message names the fix."""


def _now() -> tuple[str, str]:
    """The time as ISO text, and a file name that sorts by it."""
    now = datetime.now(UTC)
    return now.isoformat(timespec="seconds"), f"{now:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}"


def by_hand(command: str) -> str:
    """Who made a change by hand: the command, the user and the machine."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        user = "unknown user"
    return f"imbal-pipeline {command} ({user}@{socket.gethostname()})"


class Champions:
    """The champion records of one store."""

    def __init__(self, store: AssetStore):
        self.store = store
        self.base = store.folder(DEPLOYED)

    # --- reading ---------------------------------------------------------------------------

    def _listed(self, folder: str) -> list:
        path = self.base / folder
        if not path.is_dir():
            return []
        return sorted((p for p in path.iterdir() if p.name.endswith(".json")), key=lambda p: p.name)

    def _read(self, path) -> dict:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise CorruptValueError(
                f"the champion record {path} is unreadable ({type(exc).__name__}); restore it "
                "or put a model in service with `imbal-pipeline promote VERSION`"
            ) from exc

    def records(self) -> list[dict]:
        """Every promotion and rollback, oldest first."""
        return [self._read(p) for p in self._listed("champion/records")]

    def challengers(self) -> list[dict]:
        """Every model a run produced with its gate passed, oldest first."""
        return [self._read(p) for p in self._listed("challengers")]

    def current(self) -> dict | None:
        """The record that put the champion in service, or None before the first one.

        Refused (CorruptValueError) when `champion.json` is not the newest record, or names a
        version no run of this store produced with its gate passed.
        """
        pointer = self.base / "champion.json"
        if not pointer.is_file():
            if self._listed("champion/records"):
                raise CorruptValueError(
                    f"{pointer} is missing but champion records exist; put a model in service "
                    "with `imbal-pipeline promote VERSION`"
                )
            return None
        for _ in range(LATEST_LOOKS):  # a reader may come between a record and its pointer
            record = self._read(pointer)
            records = self.records()
            if record == (records[-1] if records else None):
                self._vouch(record)
                return record
            time.sleep(LATEST_WAIT)
        raise CorruptValueError(
            f"the champion pointer {pointer} is not the newest champion record (edited or "
            "copied in); put a model in service with `imbal-pipeline promote VERSION`"
        )

    def _vouch(self, record: dict) -> None:
        version = str(record.get("version"))
        if not VERSION.fullmatch(version) or version not in self.produced():
            raise CorruptValueError(
                f"the champion record names deployed_model version {version}, which no run of "
                f"this store produced with its quality gate passed (copied in?); put a model in "
                "service with `imbal-pipeline promote VERSION`"
            )

    def produced(self) -> set[str]:
        """The versions a run of this store produced with its gate passed: the challengers,
        and the deployed models written before challengers were recorded."""
        made = {str(c["version"]) for c in self.challengers() if c.get("gate") == "passed"}
        made |= {r["version"] for r in self.store.history(DEPLOYED) if r.get("gate") == "passed"}
        return made

    def version(self) -> str | None:
        """The champion's version, or None before the first."""
        record = self.current()
        return None if record is None else str(record["version"])

    def stack(self) -> list[str]:
        """The champions in service in turn: a promotion pushes one, a rollback pops one."""
        stack: list[str] = []
        for record in self.records():
            if record["action"] == ROLLBACK and len(stack) > 1:
                stack.pop()
            if stack[-1:] != [record["version"]]:  # a rollback lands on the one below
                stack.append(record["version"])
        return stack

    def rolled_back(self, version: str) -> dict | None:
        """The rollback that took `version` out of service, unless it was put back since (by
        hand, or rolled back to); a run never puts such a version back."""
        withdrawn = None
        for record in self.records():
            if record["action"] == ROLLBACK and record.get("previous") == version:
                withdrawn = record
            elif record["version"] == version:
                withdrawn = None
        return withdrawn

    def waiting(self) -> dict | None:
        """The newest challenger produced since the champion came into service and not
        promoted: the one shadow scoring runs beside the champion. Not one that was rolled
        back, nor one that cannot be compared with the champion (another dataset's): scored
        beside it, they would tell the user nothing on every batch."""
        current = self.current()
        since = current["time"] if current else ""
        seen = set()  # a version's newest record says what it is (a rerun records it again)
        for challenger in reversed(self.challengers()):
            if challenger["time"] < since:
                return None
            if challenger["version"] in seen:
                continue
            seen.add(challenger["version"])
            if (
                challenger.get("gate") == "passed"
                and challenger["version"] != (current or {}).get("version")
                and challenger.get("verdict") != UNREADABLE
                and self.rolled_back(challenger["version"]) is None
            ):
                return challenger
        return None

    def trained_at(self, version: str) -> str | None:
        """When a version was produced: its first challenger record, else its first write."""
        for record in [*self.challengers(), *self.store.history(DEPLOYED)]:
            if record.get("version") == version:
                return record["time"]
        return None

    # --- training rows -----------------------------------------------------------------------

    def _rows_path(self, digest: str):
        return self.base / "trained_rows" / f"{digest[:32]}.parquet"

    def save_trained_rows(self, rows: TrainedRows) -> None:
        path = self._rows_path(rows.record()["sha256"])
        if path.is_file():
            return  # named by its keys' digest: the same keys
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        rows.to_frame().to_parquet(buffer, index=False)
        if not is_local(path):
            path.write_bytes(buffer.getvalue())  # one put: whole or absent
            return
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_bytes(buffer.getvalue())
        tmp.replace(path)

    def trained_rows(self, meta: dict) -> TrainedRows | None:
        """The training rows a model's JSON half records, or None when it records none (made
        by an older release) or they are missing or do not match their digest."""
        record = meta.get("trained_rows")
        if not record:
            return None
        path = self._rows_path(record["sha256"])
        try:
            keys = pd.read_parquet(io.BytesIO(path.read_bytes()))["row_key"].to_numpy()
            return TrainedRows.verified(keys, record)
        except Exception:  # noqa: BLE001 - missing, unreadable or not these keys: not recorded
            return None

    # --- changing ---------------------------------------------------------------------------

    def add_challenger(
        self,
        version: str,
        run_id: str | None,
        gate: str,
        evidence: dict,
        value=None,
        source: dict | None = None,
    ) -> dict:
        """Record that a run produced `version` (its gate verdict, the comparison, and with
        `source` what it was trained on: `data` and `target`); with `value`, store it first,
        so that a challenger not promoted can be put in service (or shadow-score) later and no
        record names a version the store lacks."""
        if value is not None:
            write_bundle(self.store.version_folder(DEPLOYED, version), value, gate=gate)
        moment, name = _now()
        record = {
            "version": version,
            "run_id": run_id,
            "time": moment,
            "gate": gate,
            "verdict": evidence.get("verdict"),
            "line": evidence.get("line"),
            **(source or {}),
        }
        _put_text(self.base / "challengers" / f"{name}.json", json.dumps(record))
        return record

    def _append(self, version: str, action: str, by: str, reason: str, evidence: dict | None):
        try:
            previous = self.version()
        except CorruptValueError:
            previous = None  # a damaged pointer is what a promotion by hand repairs
        moment, name = _now()
        record = {
            "version": version,
            "action": action,
            "by": by,
            "time": moment,
            "reason": reason,
            "previous": previous,
            "evidence": evidence or {},
        }
        _put_text(self.base / "champion" / "records" / f"{name}.json", json.dumps(record))
        pointed = None
        while (newest := self.records()[-1]) != pointed:  # with writers overlapping, the
            _put_text(self.base / "champion.json", json.dumps(newest))  # newest ends up there
            pointed = newest
        return record

    def promote_by_run(self, version: str, run_id: str | None, evidence: dict) -> dict:
        """A run's challenger put in service on its comparison (or as the first model)."""
        action = FIRST if evidence.get("verdict") == FIRST else PROMOTED
        return self._append(version, action, f"run {run_id}", evidence.get("line", ""), evidence)

    def promote(self, version: str, reason: str, by: str) -> dict:
        """Put a stored version in service by hand (`imbal-pipeline promote`)."""
        if version not in self.produced():
            raise PromotionError(
                f"deployed_model has no version {version} that a run of this store produced with "
                "its quality gate passed; pick one from `imbal-pipeline versions deployed_model`"
            )
        self.store.load(DEPLOYED, version)  # refused when damaged, before it is served
        evidence: dict = next(
            (c for c in reversed(self.challengers()) if c["version"] == version), {}
        )
        return self._append(version, BY_HAND, by, reason, evidence)

    def rollback(self, reason: str, by: str) -> dict:
        """Put the previous champion back in service."""
        stack = self.stack()
        if len(stack) < 2:
            now = f" ({stack[-1]} is the first)" if stack else ""
            raise PromotionError(
                f"there is no previous champion to roll back to{now}; put another version in "
                "service with `imbal-pipeline promote VERSION`"
            )
        self.store.load(DEPLOYED, stack[-2])
        return self._append(stack[-2], ROLLBACK, by, reason, None)


@dataclass(frozen=True)
class Enacted:
    """What a run's deployed_model step did with its challenger."""

    champion: str | None  # the version in service after it (None: none can be read)
    verdict: str
    line: str
    promoted: bool


def enact(
    champions: Champions,
    value: dict,
    evidence: dict,
    run_id: str | None,
    exported: bool,
    source: dict | None = None,
) -> Enacted:
    """Store and record a run's challenger (`value`) and carry out its comparison's verdict.

    Promoted when the comparison says so (or no model is in service) and the champion is still
    the one it was compared with; otherwise the champion stays. `exported`: the stored value is
    the model the run exported (else it is never promoted). `source`: what the run trained on
    (`data`, `target`), kept with the challenger's record.
    """
    version = content_hash(value)
    gate = "passed" if exported else "failed: matches_export"
    champions.add_challenger(version, run_id, gate, evidence, value=value, source=source)
    verdict = evidence.get("verdict", UNREADABLE)
    try:
        record = champions.current()
    except CorruptValueError as exc:
        return Enacted(None, UNREADABLE, f"model {version} not promoted: {exc}", False)
    current = None if record is None else record["version"]
    if record is not None and current == version:
        since = f"in service since {record['time']} ({record['action']} by {record['by']})"
        return Enacted(version, SAME, f"model {version} is the champion already, {since}", False)
    if not exported:
        why = f"model {version} not promoted: its stored value is not the model its run exported"
        return Enacted(current, "refused", why, False)
    if verdict in PROMOTING and current == evidence.get("champion"):
        champions.promote_by_run(version, run_id, evidence)
        return Enacted(version, verdict, evidence["line"], True)
    if verdict in PROMOTING:
        line = (
            f"model {version} not promoted: the champion changed from {evidence.get('champion')} "
            f"to {current} since this run compared them; run again to compare with {current}"
        )
        return Enacted(current, "raced", line, False)
    return Enacted(current, verdict, evidence.get("line", ""), False)
