"""The evaluation's verdict: the evidence the report adds around the holdout figures, the quality
gate, and whether the model is released (exported and deployed) at all."""

from __future__ import annotations

import pandas as pd

from imbal_pipeline.core import advice, diagnostics, evaluation, leak, split
from imbal_pipeline.core.gates import Gate
from imbal_pipeline.core.learning import LastDoubling
from imbal_pipeline.core.preprocess import Preprocessor
from imbal_pipeline.core.promotion_rows import TrainedRows
from imbal_pipeline.core.quality import quality_gate
from imbal_pipeline.core.settings import LABEL, Settings
from imbal_pipeline.core.values import Bag, Decision


def add_evidence(
    report: dict,
    marked: pd.DataFrame,
    leak_claim: dict,
    learning_curve: dict,
    data_diagnostics: dict,
    settings: Settings,
) -> pd.DataFrame | None:
    """Add the leak panel, the learning curve, the grouping and the data diagnostics to
    `report`, each with its note; return the diagnostics' projection (plotted, not stored)."""
    report["leak_panel"] = leak.panel(leak_claim, report["holdout"], report["holdout_at_0_5"])
    report["learning_curve"] = learning_curve
    if learning_curve["last_doubling"]:
        report["plots"]["learning_curve"] = "learning_curve.png"
    report["grouping"] = split.grouping_summary(marked, settings)
    grouped = split.describe_grouping(report["grouping"])
    if grouped:
        report["notes"].append(grouped)
    report["diagnostics"] = {k: v for k, v in data_diagnostics.items() if k != "projection"}
    clash = diagnostics.contradiction(data_diagnostics, report["selected_strategy"])
    report["diagnostics_contradiction"] = clash
    if clash:
        report["notes"].append(clash)
    return data_diagnostics.get("projection")


def judge(report: dict, upstream: list[dict]) -> list[Gate]:
    """The quality gate on the holdout; `report` records its verdict beside every upstream
    check's (`upstream`: one row per check, as the report lists them)."""
    quality = quality_gate(report)
    report["checks"] = upstream + [
        {
            "asset": "evaluation_report",
            "check": g.name,
            "passed": g.passed,
            "severity": g.severity,
            "message": g.message,
            "observed": g.observed,
        }
        for g in quality
    ]
    report["quality_gate"] = "failed" if any(g.blocks for g in quality) else "passed"
    return quality


def trained_rows(marked: pd.DataFrame, final: Bag) -> TrainedRows:
    """The keys of the training split's rows under the final model's features: what a later
    model is never compared with this one on."""
    train = split.training_part(marked)
    pre = Preprocessor.from_json(final.preprocessor)
    schema = {"numeric": pre.numeric, "categorical": pre.categorical}
    return TrainedRows.of(train, schema, train[LABEL].to_numpy())


def advise(report: dict, quality: list[Gate]) -> advice.Recommendation:
    """The report's one recommendation from the tier, the diagnostics, the learning curve and
    the quality gate's verdict (`quality`, as `judge` returned it); stored in `report`."""
    doubling = (report.get("learning_curve") or {}).get("last_doubling")
    found = report.get("diagnostics")
    recommendation = advice.recommend(
        advice.Tier.from_dataset(report["dataset"]),
        report["selected_strategy"],
        advice.DataPicture.from_diagnostics(found) if found else None,
        LastDoubling.from_json(doubling) if doubling else None,
        quality,
        report["dataset"]["holdout_positives"],
    )
    report["recommendation"] = recommendation.to_json()
    return recommendation


def released(report: dict, final: Bag, decision: Decision, settings: Settings) -> dict | None:
    """The deployed model's stored value, or None when the report failed its quality gate: such
    a model gets its report but is neither exported nor deployed."""
    if report["quality_gate"] != "passed":
        return None
    return evaluation.deployable(final, decision, report, settings)
