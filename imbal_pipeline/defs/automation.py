"""Automation: retraining on a schedule, on new data and on evidence; scoring what arrives.

- `retrain_schedule` and `raw_data_changed` run the training job on time or on a new file;
- `inbox_sensor` scores every new batch file once, when whole (a `scored_batch` partition per
  content; a copy under another name, a file still being written and a link are not taken);
- `labels_sensor` evaluates a scored batch once its labels file arrives (`batch_outcomes`);
- `retrain_on_alert` runs the training job when a batch's monitoring says the model no longer
  fits the world (a judged, significant and large enough shift; never a batch too small to
  judge), tagged with the batch, the checks that failed and their figures; each failing check
  asks once per episode (until a batch large enough to judge it passes) and model in service.
"""

import json
import math
from pathlib import Path

import dagster as dg

from imbal_pipeline.core.data import inbox
from imbal_pipeline.core.data.versions import data_fingerprint
from imbal_pipeline.core.monitor.monitor_checks import RETRAIN_ON
from imbal_pipeline.core.project import load_project
from imbal_pipeline.core.settings import Settings, SettingsError
from imbal_pipeline.defs.assets.common import ALERTS_KEY, EVIDENCE_KEY, JUDGED_KEY, RAW_FILE
from imbal_pipeline.defs.assets.operating import BATCHES, BATCHES_NAME
from imbal_pipeline.defs.lineage import DATA_VERSION_TAG
from imbal_pipeline.defs.loaded import project_digest
from imbal_pipeline.defs.resources import PipelineConfig
from imbal_pipeline.store.storage import CorruptValueError


def stale_location(project: Settings, project_file: Path | None) -> str | None:
    """Why a training run requested now would be refused: the project file changed since this
    code location loaded `project` from it (`loaded.launch_problem`). None when it did not, or
    when the code location was not built from a file."""
    if project_file is None:
        return None
    try:
        now = load_project(project_file)
    except SettingsError as exc:
        return f"the project file cannot be read ({exc}); fix it, then reload the code location"
    if project_digest(now) == project_digest(project):
        return None
    return (
        f"the project file {project_file} changed after this code location was loaded: reload "
        "it (Deployment, Reload); a training run requested now would be refused"
    )


def build_automation(
    job, score_job, outcomes_job, project: Settings, project_file: Path | None = None
) -> tuple[list, list]:
    """The retraining schedule and the sensors of a project's jobs; `project_file`, when the
    code location was built from it, lets the training sensors wait for a reload."""
    schedule = dg.ScheduleDefinition(
        name="retrain_schedule",
        job=job,
        cron_schedule=project.retrain_cron,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=f"Retrain on the project's retrain_cron ({project.retrain_cron!r}).",
    )

    @dg.sensor(
        name="raw_data_changed",
        job=job,
        minimum_interval_seconds=300,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Requests a run when the configured raw (or holdout) file's content changes.",
    )
    def raw_data_changed(context: dg.SensorEvaluationContext, pipeline: PipelineConfig):
        stale = stale_location(project, project_file)
        if stale:  # the cursor stays: the change is seen after the reload
            return dg.SkipReason(stale)
        try:
            fingerprint = data_fingerprint(pipeline.settings())
        except FileNotFoundError as exc:
            return dg.SkipReason(f"raw file not readable: {exc}")
        if fingerprint == context.cursor:
            return dg.SkipReason(f"raw data unchanged ({fingerprint})")
        context.update_cursor(fingerprint)
        return dg.SensorResult(
            # The run key makes a second request for the same content a no-op.
            run_requests=[
                dg.RunRequest(run_key=fingerprint, tags={"imbal/data_fingerprint": fingerprint})
            ],
            # Recording the new version at once marks the graph unsynced even before the run starts.
            asset_events=[dg.AssetObservation(RAW_FILE, tags={DATA_VERSION_TAG: fingerprint})],
        )

    return [schedule], [
        raw_data_changed,
        inbox_sensor(score_job, project),
        labels_sensor(outcomes_job, project),
        retrain_on_alert(job, project, project_file),
    ]


def inbox_sensor(score_job, project: Settings) -> dg.SensorDefinition:
    """One `scored_batch` partition per new file in the inbox, each content scored once."""

    @dg.sensor(
        name="inbox_sensor",
        job=score_job,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Scores each new batch file in the inbox ({project.inbox}) once.",
    )
    def _sensor(context: dg.SensorEvaluationContext):
        # The cursor keeps each file's hash by name, size, mtime and inode (a big inbox is not
        # re-read), and what was said about the files not taken (each is said once).
        known, said = _read_cursor(context.cursor)
        look = inbox.look(project.inbox, known)
        scored = set(context.instance.get_dynamic_partitions(BATCHES_NAME))
        by_content = {inbox.key_digest(k): k for k in scored}
        notes, new = dict(look.notes), []
        for batch in look.batches:
            if batch.key in scored:
                continue
            earlier = by_content.get(inbox.key_digest(batch.key))
            if earlier is not None:  # the same bytes arrived before under another name
                notes[batch.path.name] = inbox.copy_note(batch.path.name, earlier)
            else:
                new.append(batch)
        said = _say_once(context, notes, said)
        context.update_cursor(json.dumps({"hashes": known, "said": sorted(said)}))
        if not new:
            return dg.SkipReason(_skip_message(f"no new batch in {project.inbox}", notes))
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=b.key,
                    partition_key=b.key,
                    tags={"imbal/batch": b.key, "imbal/batch_file": str(b.path)},
                )
                for b in new
            ],
            dynamic_partitions_requests=[BATCHES.build_add_request([b.key for b in new])],
        )

    return _sensor


def labels_sensor(outcomes_job, project: Settings) -> dg.SensorDefinition:
    """Evaluates a scored batch when its labels file arrives (again if the labels change)."""

    @dg.sensor(
        name="labels_sensor",
        job=outcomes_job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Joins each labels file in the inbox with its scored batch.",
    )
    def _sensor(context: dg.SensorEvaluationContext):
        scored = set(context.instance.get_dynamic_partitions(BATCHES_NAME))
        look = inbox.look(project.inbox)
        requests, notes = [], {}
        for batch in (*look.batches, *look.copies):
            if batch.key not in scored:
                continue
            if batch.labels_note is not None:  # a link, or still being written
                notes[batch.key] = batch.labels_note
            if batch.labels_path is None:
                continue
            try:  # The run key names the labels' content: the same labels are evaluated once.
                digest = inbox.file_sha256(batch.labels_path)[:12]
            except OSError as exc:  # replaced or rewritten since the look: the next one sees it
                notes[batch.key] = str(exc)
                continue
            requests.append(
                dg.RunRequest(
                    run_key=f"{batch.key}:{digest}",
                    partition_key=batch.key,
                    tags={"imbal/batch": batch.key, "imbal/labels_file": str(batch.labels_path)},
                )
            )
        _, said = _read_cursor(context.cursor)
        context.update_cursor(json.dumps({"said": sorted(_say_once(context, notes, said))}))
        return requests or dg.SkipReason(_skip_message("no new labels", notes))

    return _sensor


def _read_cursor(cursor: str | None) -> tuple[dict[str, str], set[str]]:
    """An inbox sensor's cursor: the files' hashes, and the notes already said."""
    state = json.loads(cursor) if cursor else {}
    if "said" not in state:  # an older release kept the hashes alone
        return state, set()
    return state.get("hashes", {}), set(state["said"])


def _say_once(
    context: dg.SensorEvaluationContext, notes: dict[str, str], said: set[str]
) -> set[str]:
    """Log each note the first time it holds; what holds now is what has been said."""
    now = set(notes.values())
    for line in sorted(now - said):
        context.log.info(line)
    return now


def _skip_message(head: str, notes: dict[str, str], shown: int = 5) -> str:
    """One line: the skip, then why files are not taken (the first few), `|` between them."""
    lines = sorted(notes.values())
    more = [f"and {len(lines) - shown} more files not taken"] if len(lines) > shown else []
    return " | ".join([head, *lines[:shown], *more])


def retrain_reasons(alerts: str, evidence: dict) -> list[tuple[str, str]]:
    """The failed checks of one materialization that ask for retraining, with their figures.

    A check fails only on a judged, significant and large enough shift (a batch too small to
    judge passes), and its figures travel beside the alert; an alert without them (written
    before the checks were sized) is no evidence.
    """
    failing = [a for a in alerts.split(", ") if a in RETRAIN_ON]
    return [(check, str(evidence[check])) for check in failing if check in evidence]


def champion_of(project: Settings) -> str | None:
    """The version in service (`champion.py`), or None before the first."""
    from imbal_pipeline.store.champion import Champions
    from imbal_pipeline.store.storage import AssetStore, storage_dir

    return Champions(AssetStore(storage_dir(project))).version()


def _alert_cursor(cursor: str | None) -> tuple[int | None, str | None, dict[str, int], set[str]]:
    """The retrain sensor's cursor: the last record read, the model in service then, each
    failing check's episode (the record its failures started at) and the checks a retraining
    was already requested for in their episode."""
    if not cursor:
        return None, None, {}, set()
    if cursor.isdigit():  # an older release kept the last record alone
        return int(cursor), None, {}, set()
    state = json.loads(cursor)
    asked = set(state.get("asked", []))
    # An older release kept no episodes: each check it asked for is failing since unknown.
    failing = state.get("failing", dict.fromkeys(asked, 0))
    return state.get("after"), state.get("champion"), failing, asked


def retrain_key(champion: str | None, episodes: dict[str, int]) -> str:
    """The run key of a retraining requested for checks failing under `champion`, each named
    with the record its episode started at: the same request is never run twice (Dagster runs
    a key once), and a check failing again after a judged pass gets a new key. With the cursor
    lost, checks asked for in separate evaluations are asked for together once more."""
    named = "+".join(f"{check}@{start}" for check, start in sorted(episodes.items()))
    return f"retrain:{champion or 'none'}:{named}"


def _follow(events, failing: dict[str, int], asked: set[str]) -> list:
    """Each check's episodes through `events` (record id, batch, check, figures; figures None
    for a judged pass), in record order: a failure opens an episode unless one is open, a
    judged pass closes it; `failing` and `asked` are updated. The failures, as reasons."""
    reasons = []
    for record_id, batch, check, figures in sorted(events):
        if figures is None:
            failing.pop(check, None)
            asked.discard(check)
        else:
            failing.setdefault(check, record_id)
            reasons.append((batch, check, figures, record_id))
    return reasons


# Records read per asset and evaluation; a backlog is read over several evaluations.
FETCH_LIMIT = 1000


def _alerts_since(context, champion: str | None, after: int | None):
    """The verdicts that bear on retraining recorded after `after` on batches the champion
    scored: (record id, batch, check, figures) for each failure that asks for retraining and
    with figures None for each pass on a batch large enough to judge; the last record id read,
    and how many records were not counted."""
    fetched = {
        asset: context.instance.fetch_materializations(
            dg.AssetRecordsFilter(dg.AssetKey(asset), after_storage_id=after),
            limit=FETCH_LIMIT,
            ascending=True,
        ).records
        for asset in ("scored_batch", "batch_outcomes")
    }
    # An asset with more records than one read holds unread ones beyond its last: read the
    # other asset no further, so the next evaluation misses none of either.
    cap = min(
        (records[-1].storage_id for records in fetched.values() if len(records) == FETCH_LIMIT),
        default=None,
    )
    events: list[tuple[int, str, str, str | None]] = []
    last, others = after, 0
    for record in (r for records in fetched.values() for r in records):
        if cap is not None and record.storage_id > cap:
            continue
        last = max(last or 0, record.storage_id)
        mat = record.asset_materialization
        if mat is None or mat.partition is None:  # a batch's record names its batch
            continue
        scored_by = getattr(mat.metadata.get("model_version"), "value", None)
        if champion is not None and scored_by != champion:
            others += 1
            continue
        alerts = str(getattr(mat.metadata.get(ALERTS_KEY), "value", "none"))
        evidence = getattr(mat.metadata.get(EVIDENCE_KEY), "value", None) or {}
        for check, figures in retrain_reasons(alerts, evidence):
            events.append((record.storage_id, mat.partition, check, figures))
        judged = str(getattr(mat.metadata.get(JUDGED_KEY), "value", "none"))
        for check in set(judged.split(", ")) & set(RETRAIN_ON):
            events.append((record.storage_id, mat.partition, check, None))
    return events, last, others


def retrain_on_alert(job, project: Settings, project_file: Path | None) -> dg.SensorDefinition:
    """Requests the training job when a batch's monitoring fails a check that means drift.

    Only the alerts on batches the champion scored count: an alert on a batch another model
    scored (replaced, or rolled back since) says nothing about the model in service. A check
    asks once per episode and model in service: while a shifted batch stays in the pooled
    window every new batch fails `recent_prevalence` again, and retraining on the same
    evidence again would only repeat the run. The episode ends when a batch large enough to
    judge the check passes it, so the same check failing later (a new shift, months on, under
    a champion the first retraining did not replace) asks again; so do a newly failing check
    and a new model in service.
    """

    @dg.sensor(
        name="retrain_on_alert",
        job=job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Retrains when a scored batch fails "
        + ", ".join(RETRAIN_ON)
        + " (once per episode of a failing check under the model in service).",
    )
    def _sensor(context: dg.SensorEvaluationContext):
        stale = stale_location(project, project_file)
        if stale:  # the cursor stays: the alerts ask once the code location is reloaded
            return dg.SkipReason(stale)
        after, asked_under, failing, asked = _alert_cursor(context.cursor)
        try:
            champion = champion_of(project)
        except CorruptValueError as exc:
            return dg.SkipReason(f"the champion cannot be read: {exc}")
        if asked_under != champion:  # a new model in service: nothing asked for it yet
            failing, asked = {}, set()
        events, last, others = _alerts_since(context, champion, after)
        # Only the failures of an episode still open are reasons: one a later judged pass
        # ended asks for nothing.
        reasons = [
            r for r in _follow(events, failing, asked) if r[3] >= failing.get(r[1], math.inf)
        ]
        checks = {c for _, c, _, _ in reasons}
        new = {c: failing[c] for c in checks if c not in asked}
        state = {
            "after": last,
            "champion": champion,
            "failing": failing,
            "asked": sorted(asked | set(new)),
        }
        context.update_cursor(json.dumps(state))
        if not reasons:
            ignored = (
                f" ({others} batches scored by another model than the champion {champion} "
                "were not counted)"
                if others
                else ""
            )
            return dg.SkipReason(f"no scored batch asks for retraining{ignored}")
        if not new:
            return dg.SkipReason(
                f"retraining already requested for model {champion} on {', '.join(sorted(checks))}"
                "; a check failing again after a batch large enough to judge it passed, a newly "
                "failing check or a new model in service asks again"
            )
        batches = sorted({b for b, _, _, _ in reasons})
        return dg.RunRequest(
            run_key=retrain_key(champion, new),
            tags={
                "imbal/retrain_reason": "monitoring alert",
                "imbal/model_version": str(champion),
                "imbal/batches": ",".join(batches)[:200],
                "imbal/failed_checks": ",".join(sorted(checks)),
                # Which check said what, on which batch: the run says why it started.
                "imbal/evidence": "; ".join(f"{b} {c}: {f}" for b, c, f, _ in reasons)[:500],
            },
        )

    return _sensor
