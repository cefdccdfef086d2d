"""Retraining: a schedule, and a sensor that requests a run when the raw file's content changes."""

import dagster as dg

from imbal_pipeline.assets.common import RAW_FILE
from imbal_pipeline.core.data import data_fingerprint
from imbal_pipeline.core.settings import Settings
from imbal_pipeline.resources import PipelineConfig
from imbal_pipeline.storage import DATA_VERSION_TAG


def build_automation(job, project: Settings) -> tuple[list, list]:
    """The retraining schedule and the data-change sensor for `job`."""
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

    return [schedule], [raw_data_changed]
