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

from imbal_pipeline.core import (
    calibration,
    data,
    diagnostics,
    metrics,
    monitoring,
    plots,
    report,
    skill,
    split,
    strategies,
    writable,
)
from imbal_pipeline.core import model as model_core
from imbal_pipeline.core import threshold as threshold_core
from imbal_pipeline.core.deployed import PROBABILITY_NOTE, Model, model_meta
from imbal_pipeline.core.intervals import FEW_POSITIVES
from imbal_pipeline.core.intervals import METHODS as INTERVAL_METHODS
from imbal_pipeline.core.jsonready import json_ready
from imbal_pipeline.core.preprocess import Preprocessor
from imbal_pipeline.core.settings import FOLD, LABEL, ROW_ID, SCORE, STRATEGY, Settings
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
) -> tuple[dict, dict]:
    """Report dict (JSON-ready) and the arrays the plots need; holdout rows only, scored on
    `threads` threads."""
    settings = threshold_core.as_decided(settings, decision)
    objective = threshold_core.objective_of(settings)
    final = final.with_decision(decision)
    y = holdout[LABEL].to_numpy()
    # Each member's scores: the monitoring reference compares them with their out-of-fold ones.
    members = model_core.member_scores(final.model, final.preprocessor, holdout, threads)
    scores = members.mean(axis=0)
    # When `none` is selected both are the same fold models (most runs): score them once.
    same = final.strategy == baseline.strategy and final.fit_info == baseline.fit_info
    base_scores = (
        scores
        if same
        else model_core.score_rows(baseline.model, baseline.preprocessor, holdout, threads)
    )
    threshold = final.decided_threshold
    # F-beta at the user's beta whatever the objective (F2 by default), beside F1.
    beta = settings.beta
    holdout_metrics = metrics.binary_metrics(y, scores, threshold, beta)
    intervals = metrics.holdout_intervals(y, scores, threshold, beta, seed=settings.seed)
    at_half = metrics.binary_metrics(y, scores, 0.5, beta)
    base_metrics = metrics.binary_metrics(y, base_scores, 0.5, beta)
    # The baseline also gets its own threshold, tuned the same way on its out-of-fold scores,
    # so the comparison separates "handling imbalance" from "tuning the threshold".
    oof = comparison.oof
    base_oof = oof[oof[STRATEGY] == "none"]
    base_threshold = threshold_core.tune_per_fold(
        base_oof[LABEL], base_oof[SCORE], base_oof[FOLD], base_oof[ROW_ID], settings
    )["value"]
    base_tuned = metrics.binary_metrics(y, base_scores, base_threshold, beta)
    # The same resampled rows scored by both, so the difference's interval is the paired one.
    versus = metrics.paired_bootstrap(
        y,
        scores,
        base_scores,
        threshold,
        0.5,
        beta,
        costs=(settings.fp_cost, settings.fn_cost) if objective.priced else None,
        seed=settings.seed,
    )
    subgroups = {
        column: metrics.subgroup_metrics(
            y, scores, metrics.subgroup_labels(holdout[column]), threshold, seed=settings.seed
        )
        for column in settings.subgroup_columns
        if column in holdout.columns
    }
    # Everything the selection rule used: per-fold values, the paired gap to the best and its
    # corrected SE, and the thresholds each fold was scored at; a reader can redo the choice.
    cv = {name: dict(row) for name, row in comparison.table.items()}
    selected = comparison.selected
    calibrated = calibration.apply(final.calibrator, scores)
    notes = [PROBABILITY_NOTE]
    if selected != "none":
        notes.append(
            f"The baseline column is the no-handling model (`none`) at 0.5, the naive default; "
            f"the selected `{selected}` is evaluated at its tuned threshold."
        )
    notes += strategies.made_nothing_notes(comparison.audits)
    departure = split.tier_departure(profile, selected, comparison.reason)
    if departure:
        notes.append(departure)
    best_cv = comparison.table[selected]["pr_auc_mean"]
    if holdout_metrics["pr_auc"] is not None and best_cv is not None:
        notes.append(
            f"CV estimate of PR-AUC {best_cv:.3f} vs holdout {holdout_metrics['pr_auc']:.3f}."
        )
    sample = final.audit.get("fitting_rows") or {}
    sampled = split.describe_fitting_rows(sample)
    if sampled:
        notes.append(
            f"Negatives were sampled: {sampled}. That multiplies scores' odds by about "
            f"{1 / sample['fraction_kept']:.2f} on top of any strategy's shift; multiply the odds "
            f"by {sample['fraction_kept']:.4f} to undo it before comparing rates."
        )
    audits = {f"final model ({selected})": final.audit}
    chosen = oof[oof[STRATEGY] == selected]
    reference = monitoring.build_reference(
        train,
        Preprocessor.from_json(final.preprocessor),
        y,
        members,
        chosen[SCORE].to_numpy(),
        threshold,
        beta,
        final.calibrator,
    )
    report_dict = {
        "dataset": {
            "target": profile.target,
            "positive_label": profile.positive_label,
            "negative_labels": data.negative_labels_of(train, settings),
            "rows": profile.rows,
            "features": len(final.preprocessor["numeric"]) + len(final.preprocessor["categorical"]),
            "positives": profile.positives,
            "negatives": profile.negatives,
            "ratio": profile.ratio,
            "tier": profile.tier,
            "recommendation": profile.recommendation,
            "holdout_rows": int(len(y)),
            "holdout_positives": int(y.sum()),
            "source": settings.data_path or "generated fraud-like data",
        },
        "fitting_rows": sample,
        "selected_strategy": selected,
        "selection_reason": comparison.reason,
        "threshold": {
            "value": threshold,
            "objective": decision.objective,
            "params": decision.params,
            "tuned_on_rows": decision.tuned_on_rows,
            # How the value was reached, so a reader can redo it: the per-fold thresholds,
            # and the cross-fitted check against 0.5 that can overrule their median.
            "rule": decision.rule,
            "fold_values": decision.fold_values,
            "versus_default": decision.versus_default,
            "fallback": decision.fallback,
        },
        "cv": cv,
        "holdout": holdout_metrics,
        # Where each holdout figure may lie, by the method whose coverage held best (seeded);
        # below `few_positives_below` holdout positives most over-cover: each figure says so.
        "holdout_ci": {
            "level": metrics.INTERVAL_LEVEL,
            "few_positives_below": FEW_POSITIVES,
            "methods": INTERVAL_METHODS,
            **intervals,
        },
        # The quality gate's evidence: exact tests of the ranking and the decisions vs chance.
        "skill": skill.holdout_skill(y, scores, threshold, seed=settings.seed),
        "operating_point": threshold_core.verify_operating_point(
            y, scores, threshold, settings, intervals
        ),
        "calibration": calibration.holdout_summary(
            final.calibrator, y, scores, calibrated, settings.seed
        ),
        "holdout_at_0_5": at_half,
        "baseline_holdout": base_metrics,
        "baseline_holdout_tuned": base_tuned,
        "vs_baseline": {
            "baseline": "none @ 0.5",
            "same_model": selected == "none",
            "level": metrics.INTERVAL_LEVEL,
            **versus,
        },
        "subgroups": subgroups,
        "audits": audits,
        "fold_audits": comparison.audits,
        "plots": {
            "pr_curve": "pr_curve.png",
            "threshold_curve": "threshold_curve.png",
            "confusion_matrix": "confusion_matrix.png",
            "reliability": "reliability.png",
            "diagnostics_pca": "diagnostics_pca.png",
        },
        "notes": notes,
        # What the deployed model is expected to see and produce; scored batches are checked
        # against it (see imbal_pipeline.core.monitoring).
        "monitoring_reference": reference.to_json(),
        "settings": settings.to_dict(),
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "run_id": None,
    }
    arrays = {"y": y, "scores": scores, "baseline_scores": base_scores, "calibrated": calibrated}
    return json_ready(report_dict, strict=True), arrays


def write_report(report_dict: dict, arrays: dict, curve: pd.DataFrame, out_dir: str | Path) -> Path:
    """Write report.json, report.md, report.html and the PNG plots; returns report.json."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    y = arrays["y"]
    selected = report_dict["selected_strategy"]
    threshold = report_dict["threshold"]["value"]
    curves, points = {}, {}
    for label, scores in (
        (f"selected ({selected})", arrays["scores"]),
        ("baseline (none)", arrays["baseline_scores"]),
    ):
        precision, recall, _ = precision_recall_curve(y, scores)
        curves[label] = (recall, precision)
    for label, m in (
        ("tuned threshold", report_dict["holdout"]),
        ("0.5", report_dict["holdout_at_0_5"]),
    ):
        points[label] = (m["recall"], m["precision"])
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


def deployable(final: Bag, decision: Decision, report: dict, settings: Settings) -> dict:
    """The deployed model's stored value: the trees, the decision tuned for them and everything
    needed to apply and watch them.

    Built the same way for the export and for the `deployed_model` asset, so both have one
    content hash: the version `load_model` reports.
    """
    final = final.with_decision(decision)
    meta = model_meta(
        final,
        reference=monitoring.Reference.from_json(report["monitoring_reference"]),
        positive_label=report["dataset"]["positive_label"],
        negative_labels=report["dataset"].get("negative_labels"),
        target=report["dataset"]["target"],
        id_column=settings.id_column,
        read_options=settings.read_options,
        beta=settings.beta,
        run_id=report.get("run_id"),
        trained_rows=report.get("trained_rows"),
    )
    return {"model": final.model, "meta": json_ready(meta, strict=True)}


def export_model(model: Model, out_dir: str | Path) -> None:
    """Write the model as LightGBM text plus model.json (with the text's digest)."""
    model.save(out_dir)
