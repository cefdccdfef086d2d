"""The operating half: the champion in service, batches scored from the inbox, their outcomes.

`deployed_model` is materialized only when the evaluation's quality gate passed, and its value
is the champion after the run's promotion decision (`champion.py`): the run's model when it was
promoted, else the model that stays in service. Every inbox file becomes a partition of
`scored_batch` (scored by the champion, whose version Dagster records as the input version)
and, once its labels arrive, of `batch_outcomes`.
"""

import warnings

import dagster as dg
import pandas as pd
from dagster import AssetExecutionContext

from imbal_pipeline.core import checks
from imbal_pipeline.core.data import inbox
from imbal_pipeline.core.data.data import read_table, read_table_hashed
from imbal_pipeline.core.evaluate import evaluation
from imbal_pipeline.core.monitor import monitor_batch, monitor_checks, monitoring
from imbal_pipeline.core.monitor.deployed import score_batch
from imbal_pipeline.core.monitor.shadow import shadow_scores
from imbal_pipeline.core.report import monitor_report
from imbal_pipeline.core.report.report_promotion import comparison_rows
from imbal_pipeline.core.report_model import Report
from imbal_pipeline.core.values import Bag, Decision
from imbal_pipeline.defs.assets.code import stage_code
from imbal_pipeline.defs.assets.common import gated, md_table, stage_asset
from imbal_pipeline.defs.resources import PipelineConfig
from imbal_pipeline.store.champion import DEPLOYED, Champions, enact
from imbal_pipeline.store.model_history import find
from imbal_pipeline.store.models import load_model
from imbal_pipeline.store.storage import AssetStore, content_hash, storage_dir

BATCHES_NAME = "batches"
BATCHES = dg.DynamicPartitionsDefinition(name=BATCHES_NAME)
MONITORING = "monitoring"


@stage_asset("deployed_model", group_name=MONITORING, kinds={"lightgbm"})
def deployed_model(
    context: AssetExecutionContext,
    pipeline: PipelineConfig,
    final_model: Bag,
    decision_threshold: Decision,
    evaluation_report: dict,
):
    """The champion: the model in service, which `load_model()`, `score` and the inbox apply.

    Runs only after the quality gate passed. This run's model (the challenger) replaces the
    champion when the run's comparison promoted it (`evaluation_report`'s promotion), or when
    no model is in service; otherwise the champion stays, and is this materialization's value
    again, with the reason.
    """
    s = pipeline.settings()
    report = Report.from_json(evaluation_report)
    value = evaluation.deployable(final_model, decision_threshold, report, s)
    version = content_hash(value)
    exported = report.release.model_version if report.release else None
    gate = monitor_checks.matches_export(version, exported, s.output_dir)
    store = AssetStore(storage_dir(s))
    promotion = report.release.promotion if report.release else None
    evidence = promotion.to_json() if promotion else {}
    trained_on = {"data": report.dataset.source, "target": report.dataset.target}
    done = enact(Champions(store), value, evidence, context.run.run_id, gate.passed, trained_on)
    context.log.info(f"promotion: {done.line}")
    served = value if done.champion in (None, version) else store.load(DEPLOYED, done.champion)
    # The champion kept in service is this materialization's value under this run's upstream
    # versions: say which run trained it.
    model = None if done.champion is None else find(Champions(store), done.champion)
    trainer = model.trained.run_id if model else context.run.run_id
    trained_by = f"run {trainer}"
    if trainer != context.run.run_id:  # as `versions` names it: again by, or kept by, this run
        again = done.champion == version
        trained_by += (
            f" (this run {'trained it again, identically' if again else 'kept it in service'})"
        )
    ref = monitoring.Reference.from_json(served["meta"]["reference"])
    compared = comparison_rows(evidence)
    yield from gated(
        context,
        served,
        {
            "champion": done.champion or "none readable",
            "verdict": done.verdict,
            "promotion": done.line,
            "challenger": version,
            "trained_by": trained_by,
            # The first model (or one the gate refused) was compared with nothing: say so
            # rather than show an empty table.
            "comparison": md_table(
                pd.DataFrame(
                    compared, columns=["", "champion", "challenger", "difference"]
                ).set_index("")
            )
            if compared
            else dg.MetadataValue.md(f"no comparison: {done.line}"),
            "strategy": served["meta"]["strategy"],
            "threshold": dg.MetadataValue.float(ref.threshold),
            "expected_positive_rate": dg.MetadataValue.float(ref.expected_rate),
            "expected_interval": dg.MetadataValue.json(list(ref.expected_interval)),
            # The reference's size, and the holdout's own rate that confirms it.
            "reference_rows": dg.MetadataValue.int(ref.training_rows),
            "holdout_positive_rate": dg.MetadataValue.float(ref.holdout_rate),
            "holdout_agrees": str(ref.holdout_agreement["consistent"]),
            "positive_label": str(served["meta"]["positive_label"]),
        },
        [gate],
    )


def _monitoring_specs(asset: str) -> list[dg.AssetCheckSpec]:
    # Not blocking: an alert is news about the world, not a reason to withhold the scores.
    # Partitioned like the asset: unpartitioned checks on a partitioned asset are recorded but
    # the UI shows them as "Not evaluated" (Dagster 1.13, seen here). Partitioned check specs
    # are marked preview in 1.13; the warning would greet every process that loads the code.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return [
            dg.AssetCheckSpec(
                check.name,
                asset=asset,
                description=check.description,
                partitions_def=BATCHES,
            )
            for check in checks.of_stage(asset)
        ]


def _batch_asset(name: str, **options):
    """`dg.asset` of one inbox batch (a partition of BATCHES), with its monitoring checks,
    versioned by the digest of its code."""

    def declare(fn):
        return dg.asset(
            partitions_def=BATCHES,
            group_name=MONITORING,
            code_version=stage_code(fn),
            kinds={"pandas"},
            check_specs=_monitoring_specs(name),
            **options,
        )(fn)

    return declare


def _shadow(s, store: AssetStore, champions: Champions, frame, scored):
    """A waiting challenger's scores of the batch, when the project asks for shadow scoring."""
    waiting = champions.waiting() if s.shadow_scoring else None
    if waiting is None:
        return None
    challenger = load_model(waiting["version"], store=str(store.base), n_jobs=s.lgbm_threads)
    return shadow_scores(challenger, frame, scored)


# The champion is read from its records (`champion.py`), the one source `score` and
# `load_model()` read too, never from Dagster's newest materialization: a promotion or rollback
# by hand changes the champion without a run.
@_batch_asset("scored_batch", deps=[DEPLOYED])
def scored_batch(context: AssetExecutionContext, pipeline: PipelineConfig):
    """One inbox file scored by the champion, with its monitoring checks."""
    s = pipeline.settings()
    batch = inbox.find_batch(s.inbox, context.partition_key)
    store = AssetStore(storage_dir(s))
    champions = Champions(store)
    model = load_model(store=str(store.base), n_jobs=s.lgbm_threads)
    frame = inbox.read_batch(batch, lambda path: read_table_hashed(path, model.read_options))
    scored, notes = score_batch(model, frame)
    shadow = _shadow(s, store, champions, frame, scored)
    # The prevalence rule reads the batches this model scored before, from their summaries.
    recent = monitor_report.recent_batches(s.scored_dir, model.version, batch.key)
    gates = monitor_batch.check_batch(
        model.reference,
        model.preprocessor,
        frame,
        scored["score"],
        recent,
        notes.expected_positives,
    )
    folder = monitor_report.write_batch(
        s.scored_dir, batch.key, scored, gates, model, notes, source=str(batch.path), shadow=shadow
    )
    value = {
        "scores": scored,
        "batch": {"key": batch.key, "path": str(batch.path), "sha256": batch.digest},
        "model": monitor_report.model_summary(model),
        "checks": [monitor_report.gate_record(g) for g in gates],
    }
    flagged = int(scored["decision"].sum())
    yield from gated(
        context,
        value,
        {
            "rows": dg.MetadataValue.int(len(scored)),
            "flagged": dg.MetadataValue.int(flagged),
            "model_version": model.version,
            "ignored_columns": ", ".join(notes.ignored_columns) or "none",
            "unseen_categories": dg.MetadataValue.json(notes.unseen_categories),
            "checks": md_table(monitor_report.checks_table(gates)),
            "report": dg.MetadataValue.path(str(folder / "report.html")),
            "across_batches": dg.MetadataValue.path(str(folder.parent / "index.html")),
            **_shadow_meta(shadow),
        },
        gates,
        alerts_only=True,
        input_versions={DEPLOYED: model.version},
    )


def _shadow_meta(shadow) -> dict:
    if shadow is None:
        return {}
    summary = shadow[0]
    if summary.get("note"):
        return {"shadow_version": summary["version"], "shadow": summary["note"]}
    return {
        "shadow_version": summary["version"],
        "shadow_flagged": dg.MetadataValue.int(summary["flagged"]),
        "decisions_differ": dg.MetadataValue.int(summary["differ"]),
    }


@_batch_asset("batch_outcomes")
def batch_outcomes(context: AssetExecutionContext, pipeline: PipelineConfig, scored_batch: dict):
    """A scored batch joined with its labels file: how the model really did on it."""
    s = pipeline.settings()
    batch = inbox.find_batch(s.inbox, context.partition_key)
    labels_path = batch.labels_path
    if labels_path is None:
        raise FileNotFoundError(
            batch.labels_note  # a link, or a labels file still being written
            or f"no labels for batch {batch.key} yet; put {inbox.labels_name(batch.path)} "
            "beside it in the inbox"
        )
    summary = scored_batch["model"]
    labels = read_table(labels_path)
    y, scores = monitor_report.join_labels(scored_batch["scores"], labels, summary)
    gate = monitor_checks.check_labelled(
        monitoring.Reference.from_json(summary["reference"]),
        y,
        scores,
        summary["beta"],
        calibrator=summary.get("calibrator"),  # absent from batches scored before it was kept
    )
    monitor_report.write_outcome(s.scored_dir, batch.key, gate)
    yield from gated(
        context,
        {"labels": {"path": str(labels_path), "rows": int(len(y))}, "check": gate.observed},
        {
            "labelled_rows": dg.MetadataValue.int(len(y)),
            "positives": dg.MetadataValue.int(int(y.sum())),
            "model_version": summary["version"],
            "outcome": gate.message,
        },
        [gate],
        alerts_only=True,
    )
