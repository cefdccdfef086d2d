"""Retraining: a schedule, and a sensor that requests a run when the raw file's content changes."""

import hashlib
import os
from pathlib import Path

import dagster as dg

from imbal_pipeline.resources import PipelineConfig

CRON_ENV = "IMBAL_PIPELINE_RETRAIN_CRON"
DEFAULT_CRON = "0 3 * * 1"  # Mondays 03:00: weekly retraining unless configured


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in chunks (the file may be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def data_fingerprint(pipeline: PipelineConfig) -> str:
    """What the raw data is: the file's content hash, or the generator's parameters."""
    s = pipeline.settings()
    if s.data_path is None:
        return f"generated-{s.generated_rows}-{s.generated_positive_rate}-{s.seed}"
    parts = [file_digest(s.data_path)]
    if s.test_data_path:
        parts.append(file_digest(s.test_data_path))
    return "-".join(parts)


def build_automation(job) -> tuple[list, list]:
    """The retraining schedule and the data-change sensor for `job`."""
    schedule = dg.ScheduleDefinition(
        name="retrain_schedule",
        job=job,
        cron_schedule=os.environ.get(CRON_ENV, DEFAULT_CRON),
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=f"Retrain on a schedule (cron from ${CRON_ENV}, default {DEFAULT_CRON!r}).",
    )

    @dg.sensor(
        name="raw_data_changed",
        job=job,
        minimum_interval_seconds=300,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Requests a run when the configured raw (or holdout) file's content changes.",
    )
    def raw_data_changed(context: dg.SensorEvaluationContext, pipeline: PipelineConfig):
        try:
            fingerprint = data_fingerprint(pipeline)
        except FileNotFoundError as exc:
            return dg.SkipReason(f"raw file not readable: {exc}")
        if fingerprint == context.cursor:
            return dg.SkipReason(f"raw data unchanged ({fingerprint})")
        context.update_cursor(fingerprint)
        # The run key makes a second request for the same content a no-op.
        return dg.RunRequest(run_key=fingerprint, tags={"imbal/data_fingerprint": fingerprint})

    return [schedule], [raw_data_changed]
