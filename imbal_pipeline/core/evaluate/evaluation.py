"""The holdout evaluation: metrics, baseline, subgroups, plots and report files."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from sklearn.metrics import precision_recall_curve

from imbal_pipeline.core import writable
from imbal_pipeline.core.evaluate import diagnostics
from imbal_pipeline.core.evaluate import report_sections as sections
from imbal_pipeline.core.jsonready import json_ready
from imbal_pipeline.core.monitor import monitoring
from imbal_pipeline.core.monitor.deployed import Model, model_meta
from imbal_pipeline.core.report import plots, report
from imbal_pipeline.core.report_model import Metrics, OperatingPoint, Report, Skill, ThresholdChoice
from imbal_pipeline.core.settings import Settings
from imbal_pipeline.core.stats import metrics, skill
from imbal_pipeline.core.train import calibration
from imbal_pipeline.core.train import threshold as threshold_core
from imbal_pipeline.core.values import Bag, Comparison, Decision, Profile


def build_report(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    final: Bag,
    baseline: Bag,
    comparison: Comparison,
    decision: Decision,
    profile: Profile,
    settings: Settings,
    *,
    threads: int,
) -> tuple[Report, dict]:
    """The report and the arrays the plots need; holdout rows only, scored on `threads`
    threads."""
    settings = threshold_core.as_decided(settings, decision)
    final = final.with_decision(decision)
    s = sections.score_holdout(holdout, final, baseline, threads)
    threshold, beta, seed = final.decided_threshold, settings.beta, settings.seed
    intervals = metrics.holdout_intervals(s.y, s.scores, threshold, beta, seed=seed)
    holdout_metrics = Metrics.from_json(metrics.binary_metrics(s.y, s.scores, threshold, beta))
    choice = ThresholdChoice.of(decision, threshold)
    draft = Report(
        dataset=sections.dataset_section(train, s.y, final, profile, settings),
        fitting_rows=final.audit.get("fitting_rows") or {},
        selected_strategy=comparison.selected,
        selection_reason=comparison.reason,
        threshold=choice,
        # Everything the selection rule used: per-fold values, the paired gap to the best and
        # its corrected SE, and the thresholds each fold was scored at; a reader can redo it.
        cv={name: dict(row) for name, row in comparison.table.items()},
        holdout=holdout_metrics,
        holdout_ci=sections.intervals_section(intervals),
        # The quality gate's evidence: exact tests of the ranking and the decisions vs chance.
        skill=Skill.from_json(skill.holdout_skill(s.y, s.scores, threshold, seed=seed)),
        operating_point=OperatingPoint.from_json(
            threshold_core.verify_operating_point(s.y, s.scores, threshold, settings, intervals)
        ),
        calibration=calibration.holdout_summary(
            final.calibrator, s.y, s.scores, s.calibrated, seed
        ),
        holdout_at_0_5=Metrics.from_json(metrics.binary_metrics(s.y, s.scores, 0.5, beta)),
        baseline_holdout=Metrics.from_json(metrics.binary_metrics(s.y, s.baseline, 0.5, beta)),
        baseline_holdout_tuned=sections.baseline_tuned_section(comparison, s, settings),
        vs_baseline=sections.versus_section(s, threshold, comparison.selected, settings),
        subgroups=sections.subgroups_section(holdout, s, threshold, settings),
        audits={f"final model ({comparison.selected})": final.audit},
        fold_audits=comparison.audits,
        plots=dict(sections.PLOTS),
        notes=sections.notes_section(final, comparison, profile, holdout_metrics, choice),
        monitoring_reference=sections.reference_section(
            train, s, final, comparison, threshold, beta
        ),
        settings=settings.to_dict(),
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        run_id=None,
    )
    # Read back from its JSON: in process the report holds what a reader of report.json gets
    # (plain numbers, text keys), and a value that is no JSON fails here.
    report = Report.from_json(json_ready(draft.to_json(), strict=True))
    arrays = {"y": s.y, "scores": s.scores, "baseline_scores": s.baseline}
    return report, arrays | {"calibrated": s.calibrated}


def pr_points(report_dict: dict) -> dict[str, tuple[float, float]]:
    """The PR plot's marked points, (recall, precision) by legend label: the deployed threshold
    as `ThresholdChoice.named` names it (a fallback is never called tuned), and 0.5."""
    at = ThresholdChoice.from_json(report_dict["threshold"]).named(
        short=True, tuned="tuned threshold"
    )
    return {
        label: (m["recall"], m["precision"])
        for label, m in ((at, report_dict["holdout"]), ("0.5", report_dict["holdout_at_0_5"]))
    }


def write_report(report_dict: dict, arrays: dict, curve: pd.DataFrame, out_dir: str | Path) -> Path:
    """Write report.json, report.md, report.html and the PNG plots; returns report.json."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    y = arrays["y"]
    selected = report_dict["selected_strategy"]
    threshold = report_dict["threshold"]["value"]
    curves = {}
    for label, scores in (
        (f"selected ({selected})", arrays["scores"]),
        ("baseline (none)", arrays["baseline_scores"]),
    ):
        precision, recall, _ = precision_recall_curve(y, scores)
        curves[label] = (recall, precision)
    points = pr_points(report_dict)
    plots.plot_pr_curve(curves, float(y.mean()), out / "pr_curve.png", points=points)
    objective = report_dict["threshold"]["objective"]
    plots.plot_threshold_curve(
        curve["threshold"].to_numpy(),
        {m: curve[m].to_numpy() for m in threshold_core.OBJECTIVES[objective].plotted},
        threshold,
        objective,
        out / "threshold_curve.png",
    )
    plots.plot_confusion_matrix(
        report_dict["holdout"]["confusion_matrix"],
        f"holdout, {selected} at threshold {threshold:.3f}",
        out / "confusion_matrix.png",
    )
    bins = (report_dict.get("calibration") or {}).get("reliability")
    if bins:
        # What predict_proba returns is the calibrated curve when the map was applied, else raw.
        named = {"raw scores": bins["raw"], "calibrated (predict_proba)": bins.get("calibrated")}
        if not bins.get("calibrated"):
            named = {"raw scores (predict_proba)": bins["raw"]}
        plots.plot_reliability(named, out / "reliability.png")
    learning = report_dict.get("learning_curve") or {}
    if learning.get("last_doubling"):
        plots.plot_learning_curve(learning, out / "learning_curve.png")
    (out / "report.md").write_text(report.render_markdown(report_dict))
    (out / "report.html").write_text(report.render_html(report_dict))
    path = out / "report.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report_dict, indent=2, allow_nan=False))
    tmp.replace(path)
    return path


class OutputError(ValueError):
    """An output folder the run may not replace; the message names the fix."""


# Written into every report folder, so a later run knows the folder is one it may replace.
OUTPUT_MARKER = ".imbal_pipeline_output"
MODEL_FILES = ("model.txt", "model.json")


def check_output_dir(out_dir: str | Path) -> None:
    """Refuse an --out folder a run cannot replace: one it cannot write beside, rename or name,
    or one that holds files no run of this product wrote."""
    out = Path(out_dir)
    problem = writable.folder_problem(out, "--out", replaced=True)
    if problem is not None:
        raise OutputError(problem)
    if not out.exists():
        return
    if not out.is_dir():
        raise OutputError(f"--out {out} is a file; give a folder")
    if (out / OUTPUT_MARKER).is_file() or not any(out.iterdir()):
        return
    raise OutputError(
        f"--out {out} holds files no imbal-pipeline run wrote, and a run replaces its --out "
        "folder whole; give a new or empty folder"
    )


def publish(
    report_dict: dict,
    arrays: dict,
    curve: pd.DataFrame,
    out_dir: str | Path,
    *,
    model: Model | None,
    projection: pd.DataFrame | None = None,
) -> Path:
    """Write the report, its plots and (when given) the model, then put the folder in place.

    Everything is written to a staging folder beside `out_dir`, which then replaces it whole:
    a reader of `out_dir` sees the previous run's files or this run's, never a mix, and never
    a model its report does not describe. A failed write leaves `out_dir` as it was.
    """
    out = Path(out_dir).resolve()
    check_output_dir(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".staging", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # a report folder, not a private temp folder
    try:
        write_report(report_dict, arrays, curve, staging)
        if projection is not None:
            plots.plot_projection(
                projection[["pc1", "pc2"]].to_numpy(),
                projection["label"].to_numpy(),
                staging / "diagnostics_pca.png",
                diagnostics.projection_title(report_dict["diagnostics"]),
            )
        if model is not None:
            export_model(model, staging)
        (staging / OUTPUT_MARKER).write_text(f"{report_dict.get('run_id')}\n")
        _sync(staging)
        _swap_in(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out / "report.json"


def _sync(folder: Path) -> None:
    """Flush every file to disk, so a crash after the swap cannot leave empty files behind."""
    for path in folder.iterdir():
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())


def _swap_in(staging: Path, out: Path, attempts: int = 5) -> None:
    """Replace `out` with `staging` by two renames; another run may be swapping at once."""
    for _ in range(attempts):
        old = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.old")
        try:
            if out.exists():
                os.rename(out, old)
            os.rename(staging, out)
        except OSError as exc:
            problem = writable.rename_problem(exc, out)
            if problem is not None:
                raise OutputError(problem) from exc
            continue  # a concurrent run put its folder in place between the two renames
        shutil.rmtree(old, ignore_errors=True)
        return
    raise OutputError(f"could not put the report in place at {out}; another run keeps replacing it")


def deployable(final: Bag, decision: Decision, report: Report, settings: Settings) -> dict:
    """The deployed model's stored value: the trees, the decision tuned for them and everything
    needed to apply and watch them.

    Built the same way for the export and for the `deployed_model` asset, so both have one
    content hash: the version `load_model` reports.
    """
    final = final.with_decision(decision)
    meta = model_meta(
        final,
        reference=monitoring.Reference.from_json(report.monitoring_reference),
        positive_label=report.dataset.positive_label,
        negative_labels=report.dataset.negative_labels,
        target=report.dataset.target,
        id_column=settings.id_column,
        read_options=settings.read_options,
        beta=settings.beta,
        run_id=report.run_id,
        trained_rows=report.trained_rows,
        generated_data=settings.data_path is None,
    )
    return {"model": final.model, "meta": json_ready(meta, strict=True)}


def export_model(model: Model, out_dir: str | Path) -> None:
    """Write the model as LightGBM text plus model.json (with the text's digest)."""
    model.save(out_dir)
