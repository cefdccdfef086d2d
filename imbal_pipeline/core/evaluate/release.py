"""The evaluation's verdict: the evidence the report adds around the holdout figures, the quality
gate, and whether the model is released at all: exported as a challenger, which the promotion
then puts in service or not."""

from __future__ import annotations

import pandas as pd

from imbal_pipeline.core.data import split
from imbal_pipeline.core.evaluate import advice, diagnostics, evaluation, leak
from imbal_pipeline.core.evaluate.learning import LastDoubling
from imbal_pipeline.core.evaluate.quality import quality_gate
from imbal_pipeline.core.monitor.promotion_rows import TrainedRows
from imbal_pipeline.core.report_model import CheckRow, Evidence, Report, Verdict
from imbal_pipeline.core.settings import LABEL, Settings
from imbal_pipeline.core.train.gates import Gate
from imbal_pipeline.core.train.preprocess import Preprocessor
from imbal_pipeline.core.values import Bag, Decision


def add_evidence(
    report: Report,
    marked: pd.DataFrame,
    leak_claim: dict,
    learning_curve: dict,
    data_diagnostics: dict,
    settings: Settings,
) -> pd.DataFrame | None:
    """Add the leak panel, the learning curve, the grouping and the data diagnostics to
    `report`, each with its note; return the diagnostics' projection (plotted, not stored)."""
    if learning_curve["last_doubling"]:
        report.plots["learning_curve"] = "learning_curve.png"
    grouping = split.grouping_summary(marked, settings)
    grouped = split.describe_grouping(grouping)
    if grouped:
        report.notes.append(grouped)
    clash = diagnostics.contradiction(data_diagnostics, report.selected_strategy)
    if clash:
        report.notes.append(clash)
    report.evidence = Evidence(
        leak_panel=leak.panel(
            leak_claim, report.holdout.to_json(), report.holdout_at_0_5.to_json()
        ),
        learning_curve=learning_curve,
        grouping=grouping,
        diagnostics={k: v for k, v in data_diagnostics.items() if k != "projection"},
        diagnostics_contradiction=clash,
    )
    return data_diagnostics.get("projection")


def judge(report: Report, upstream: list[CheckRow]) -> list[Gate]:
    """The quality gate on the holdout; `report` records its verdict beside every upstream
    check's (`upstream`: one row per check)."""
    quality = quality_gate(report)
    rows = [
        CheckRow(
            asset="evaluation_report",
            check=g.name,
            passed=g.passed,
            severity=g.severity,
            message=g.message,
            observed=g.observed,
        )
        for g in quality
    ]
    verdict = "failed" if any(g.blocks for g in quality) else "passed"
    report.verdict = Verdict(checks=[*upstream, *rows], quality_gate=verdict)
    return quality


def trained_rows(marked: pd.DataFrame, final: Bag) -> TrainedRows:
    """The keys of the training split's rows under the final model's features: what a later
    model is never compared with this one on."""
    train = split.training_part(marked)
    pre = Preprocessor.from_json(final.preprocessor)
    schema = {"numeric": pre.numeric, "categorical": pre.categorical}
    return TrainedRows.of(train, schema, train[LABEL].to_numpy())


def advise(report: Report, quality: list[Gate]) -> advice.Recommendation:
    """The report's one recommendation from the tier, the diagnostics, the learning curve and
    the quality gate's verdict (`quality`, as `judge` returned it), with what the promotion
    decided (`report.release`, when the model was released: advise after releasing); stored
    in `report`."""
    evidence = report.evidence
    doubling = (evidence.learning_curve or {}).get("last_doubling") if evidence else None
    found = evidence.diagnostics if evidence else None
    recommendation = advice.recommend(
        advice.Tier.from_dataset(report.dataset),
        report.selected_strategy,
        advice.DataPicture.from_diagnostics(found) if found else None,
        LastDoubling.from_json(doubling) if doubling else None,
        quality,
        report.dataset.holdout_positives,
        report.threshold,
        report.release.promotion if report.release else None,
        caveats=tuple(
            c.message.rstrip(".")
            for c in (report.verdict.checks if report.verdict else [])
            if c.check in advice.CAVEATS and not c.passed
        ),
    )
    report.recommendation = recommendation.to_json()
    return recommendation


def released(report: Report, final: Bag, decision: Decision, settings: Settings) -> dict | None:
    """The deployed model's stored value, or None when the report failed its quality gate: such
    a model gets its report but is neither exported nor deployed."""
    if not report.passed:
        return None
    return evaluation.deployable(final, decision, report, settings)
