"""Render the evaluation report dict as Markdown or self-contained HTML.

Both renderers share one intermediate document (a list of blocks) so the two outputs always
carry the same content in the same order. The order is deliberate: for a rare positive class
accuracy is misleading, so the summary leads with PR-AUC against the no-skill level and
accuracy only appears last in the holdout table, with a caveat.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from imbal_pipeline.core.report.document import (
    NA,
    Block,
    Heading,
    Para,
    bold,
    cm_cells,
    code,
    count,
    em,
    figure,
    get,
    html_page,
    interval,
    is_missing,
    markdown,
    num,
    param,
    ratio,
    rich,
    submap,
    table,
    threshold_text,
    undefined,
    undefined_note,
)
from imbal_pipeline.core.report.report_advice import (
    leak_section,
    learning_section,
    recommendation_section,
)
from imbal_pipeline.core.report.report_choice import (
    chosen,
    same_threshold,
    strategies_section,
    threshold_section,
)
from imbal_pipeline.core.report.report_evidence import (
    audits_section,
    checks_section,
    diagnostics_section,
    notes_section,
    plots_section,
    subgroups_section,
)
from imbal_pipeline.core.report.report_promotion import promotion_section
from imbal_pipeline.core.stats import metrics
from imbal_pipeline.core.train.strategies import plain_name
from imbal_pipeline.core.train.threshold import describe_choice

ACCURACY_REMARK = "(not a headline: a model predicting all-negative scores 1 - prevalence)"


_HOLDOUT_METRICS: list[tuple[str, str]] = [
    *((key, label) for key, label in metrics.LABELS.items() if key != "saving_per_1000"),
    # Kept last on purpose: with rare positives it is dominated by the negative class.
    ("accuracy", f"Accuracy {ACCURACY_REMARK}"),
]


FEW = "few positives"


def _few(report: Mapping, key: str) -> bool:
    """Whether the holdout figure's interval was drawn from too few positives to cover."""
    return get(get(submap(report, "holdout_ci"), key), "few_positives") is True


def _with_ci(report: Mapping, key: str) -> str:
    """A holdout figure with its 95 % interval, as the headline quotes it; n/a, saying why,
    where it is 0/0."""
    why = undefined(submap(report, "holdout"), key)
    if why:
        return f"{NA} ({why})"
    value = num(get(submap(report, "holdout"), key))
    ci = interval(get(submap(report, "holdout_ci"), key))
    if not ci:
        return value
    return f"{value} (95% CI {ci}; {FEW})" if _few(report, key) else f"{value} (95% CI {ci})"


def few_positives_note(report: Mapping) -> list[Block]:
    """One sentence on what the "few positives" marker means, when some figure carries it."""
    intervals = submap(report, "holdout_ci")
    if not any(_few(report, key) for key in intervals):
        return []
    below = get(intervals, "few_positives_below")
    return [
        Para(
            rich(
                bold("Few positives: "),
                f"the holdout has {count(get(submap(report, 'dataset'), 'holdout_positives'))} "
                f"positives, fewer than the {count(below)} below which the 95 % intervals' "
                "simulated coverage left 93-97 %, mostly above (wider than they need be) and at "
                'times below (BENCHMARKS.md, "Intervals at few positives"); read the figures '
                "marked so as rough, and give more positives (more data or a larger "
                "--holdout-fraction) for firm ones.",
            )
        )
    ]


def _lift(report: Mapping, lift: float | None, prevalence: float | None) -> str:
    """PR-AUC over the no-skill level, with the PR-AUC interval's ends over it: at a few
    positives a point lift of 127x may be anything from 3x to 430x."""
    if lift is None or not prevalence:
        return ""
    ci = submap(submap(report, "holdout_ci"), "pr_auc")
    low, high = get(ci, "ci_low"), get(ci, "ci_high")
    if is_missing(low) or is_missing(high):
        return f"; {num(lift)}× lift"
    return f"; {num(lift)}× lift, 95% CI {num(low / prevalence)}-{num(high / prevalence)}×"


def _holdout_prevalence(report: Mapping) -> float | None:
    ds = submap(report, "dataset")
    prev = ratio(get(ds, "holdout_positives"), get(ds, "holdout_rows"))
    if prev is not None:
        return prev
    # Fall back to the holdout confusion matrix when the dataset block is incomplete.
    for key in ("holdout", "holdout_at_0_5", "baseline_holdout"):
        cells = cm_cells(get(submap(report, key), "confusion_matrix"))
        if cells is None:
            continue
        tn, fp, fn, tp = cells
        prev = ratio(_safe_sum(fn, tp), _safe_sum(tn, fp, fn, tp))
        if prev is not None:
            return prev
    return None


def _safe_sum(*xs: Any) -> float | None:
    try:
        return float(sum(float(x) for x in xs))
    except (TypeError, ValueError):
        return None


def _title(report: Mapping) -> str:
    strategy = get(report, "selected_strategy")
    suffix = f" — {plain_name(strategy)}" if strategy else ""
    return f"Rare-event classifier evaluation{suffix}"


def _summary(report: Mapping) -> list[Block]:
    ds = submap(report, "dataset")
    thr = submap(report, "threshold")
    ho = submap(report, "holdout")
    strategy = get(report, "selected_strategy") or NA
    prev = _holdout_prevalence(report)
    lift = ratio(get(ho, "pr_auc"), prev)

    params = get(thr, "params") or {}
    objective = str(get(thr, "objective") or NA)
    if params:
        objective = f"{objective} ({param(params)})"

    content = rich(
        "Positive class: ",
        code(f"{get(ds, 'target') or NA} = {get(ds, 'positive_label') or NA}"),
        ". Trained on ",
        bold(count(get(ds, "rows"))),
        f" rows × {count(get(ds, 'features'))} features with ",
        bold(count(get(ds, "positives"))),
        f" positives and {count(get(ds, 'negatives'))} negatives (negative:positive ratio ",
        bold(f"{num(get(ds, 'ratio'))}:1"),
        ", imbalance tier ",
        bold(str(get(ds, "tier") or NA)),
        "). Selected strategy ",
        code(strategy),
        " with decision threshold ",
        bold(threshold_text(get(thr, "value"))),
        f" ({describe_choice(thr)})" if get(thr, "fallback") else f" tuned for {objective}",
        f". On the holdout ({count(get(ds, 'holdout_rows'))} rows, "
        f"{count(get(ds, 'holdout_positives'))} positives) PR-AUC is ",
        bold(_with_ci(report, "pr_auc")),
        " against a no-skill level of ",
        bold(num(prev)),
        " (the holdout prevalence",
        _lift(report, lift, prev),
        "); F1 ",
        bold(_with_ci(report, "f1")),
        ", recall ",
        bold(_with_ci(report, "recall")),
        ", precision ",
        bold(_with_ci(report, "precision")),
        ", MCC ",
        bold(_with_ci(report, "mcc")),
        ".",
    )
    cells = cm_cells(get(ho, "confusion_matrix"))
    if cells is not None:
        tn, fp, fn, tp = cells
        content += rich(
            f" At {chosen(report).named(short=True)} the model catches {count(tp)} of "
            f"{count(_safe_sum(fn, tp))} holdout positives ({count(fn)} missed) "
            f"at the cost of {count(fp)} false alarm{'' if fp == 1 else 's'}."
        )
    blocks: list[Block] = [
        Para(content, css="summary"),
        *few_positives_note(report),
        *_labelled_batches(ds),
    ]

    meta = []
    if get(ds, "source"):
        meta.append(f"source: {get(ds, 'source')}")
    if get(report, "run_id"):
        meta.append(f"run: {get(report, 'run_id')}")
    if get(report, "generated_at"):
        meta.append(f"generated: {get(report, 'generated_at')}")
    if meta:
        blocks.append(Para([em(" · ".join(meta))], css="meta"))
    return blocks


def _labelled_batches(ds: Mapping) -> list[Block]:
    """The labelled inbox batches a retraining added to the training file, each named."""
    batches = get(ds, "labelled_batches")
    if is_missing(batches):  # not trained on labelled batches
        return []
    if not batches:
        return [Para(rich("Labelled inbox batches were asked for; none had arrived."))]
    rows = sum(int(get(b, "rows") or 0) for b in batches)
    positives = sum(int(get(b, "positives") or 0) for b in batches)
    lead = rich(
        f"Trained with {count(len(batches))} labelled inbox "
        f"batch{'es' if len(batches) > 1 else ''} added to the training file: ",
        bold(f"{count(rows)} rows, {count(positives)} positives"),
        " (before the holdout split).",
    )
    cells = [
        [
            code(str(get(b, "batch"))),
            str(get(b, "labels")),
            count(get(b, "rows")),
            count(get(b, "positives")),
        ]
        for b in batches
    ]
    return [Para(lead), table(["batch file", "labels file", "rows", "positives"], cells)]


def _holdout(report: Mapping) -> list[Block]:
    at = "fallback" if chosen(report).fallback else "tuned"
    columns = [
        ("holdout", f"Selected @ {at} threshold"),
        ("holdout_at_0_5", "Selected @ 0.5"),
        ("baseline_holdout", "Baseline (none) @ 0.5"),
    ]
    base = submap(report, "baseline_holdout_tuned")
    if base:
        # The baseline's own threshold, named as the selected one is: a fallback is not tuned.
        its = "fallback" if get(base, "fallback") else "tuned"
        columns.append(("baseline_holdout_tuned", f"Baseline (none) @ its {its} threshold"))
    data = [submap(report, key) for key, _ in columns]
    headers = ["Metric"]
    for (_, label), d in zip(columns, data, strict=True):
        t = get(d, "threshold")
        headers.append(f"{label} (t={threshold_text(t)})" if not is_missing(t) else label)
    intervals = submap(report, "holdout_ci")
    headers.insert(2, f"95% CI (selected @ {at})")

    beta = next((get(d, "beta") for d in data if not is_missing(get(d, "beta"))), None)
    if beta is None:
        beta = get(get(submap(report, "threshold"), "params", {}), "beta")

    rows: list[list[Any]] = []
    reasons: list[str | None] = []
    for key, label in _HOLDOUT_METRICS:
        if key == "fbeta":
            label = f"F-beta (beta={param(beta)})"
        if key == "f2" and beta == 2.0:
            continue  # the F-beta row is F2 already
        if all(is_missing(get(d, key)) for d in data):
            continue  # a figure reports written before it existed do not hold
        name: Any = bold(label) if key == "pr_auc" else label
        values = [figure(d, key) for d in data]
        reasons += [undefined(d, key) for d in data]
        ci = interval(get(intervals, key))
        if ci and _few(report, key):
            ci = f"{ci} ({FEW})"
        rows.append([name, values[0], ci, *values[1:]])

    blocks: list[Block] = [
        Heading(2, "Holdout performance", "holdout"),
        table(headers, rows, css="metrics"),
        Para(
            rich(
                "No-skill PR-AUC equals the holdout prevalence: ",
                bold(num(_holdout_prevalence(report))),
                ". MCC and balanced accuracy are 0 and 0.5 for a constant predictor.",
                # Their intervals come from recall and the false-positive rate at the holdout's
                # class counts: the prevalence in service is another source of change.
                " Precision, F1 and MCC also depend on the share of positives: their intervals "
                "hold the holdout's share fixed, and in service they move with the share there."
                if intervals
                else "",
                f" {undefined_note(reasons)}" if any(reasons) else "",
            )
        ),
    ]
    versus = submap(report, "vs_baseline")
    if versus:
        said = _versus(versus, chosen(report), same_threshold(report))
        blocks.append(Para(rich(bold("Against the baseline:"), " ", said)))
    blocks.append(Heading(3, "Confusion matrices (holdout)", "confusion"))
    cm_rows = []
    for (_, label), d in zip(columns, data, strict=True):
        cells = cm_cells(get(d, "confusion_matrix"))
        cm_rows.append([label] + ([count(c) for c in cells] if cells else [NA] * 4))
    blocks.append(
        table(
            ["Model", "TN", "FP (false alarms)", "FN (missed positives)", "TP"],
            cm_rows,
            css="metrics",
        )
    )
    return blocks


_VERSUS = ("pr_auc", "f1", "fbeta", "mcc")


def _versus(versus: Mapping, threshold, same_threshold: bool) -> str:
    """The paired holdout differences to the baseline at 0.5, each with its interval."""
    if get(versus, "same_model") and same_threshold:
        # The same model at the same threshold: every difference is 0 by construction.
        why = (
            f"at 0.5 too (the fallback: {threshold.fallback})"
            if threshold.fallback
            else "and its tuned threshold is 0.5 too"
        )
        return (
            f"the selected model is the baseline (none), {why}: the same decisions, so there "
            "is nothing to compare."
        )
    keys: tuple[str, ...] = _VERSUS[1:] if get(versus, "same_model") else _VERSUS
    keys += ("saving_per_1000",) if get(versus, "saving_per_1000") else ()
    parts = []
    for key in keys:
        label = metrics.LABELS[key]
        d = submap(versus, key)
        if d:
            diff = get(d, "diff")
            sign = "+" if not is_missing(diff) and diff >= 0 else ""
            interval = f"95% CI {num(get(d, 'ci_low'))} to {num(get(d, 'ci_high'))}"
            interval += f"; {FEW}" if get(d, "few_positives") is True else ""
            parts.append(f"{label} {sign}{num(diff)} ({interval})")
    at = threshold.named(short=True, tuned="its tuned threshold")
    head = (
        f"the selected model is the baseline, so only the threshold differs; {at} minus 0.5: "
        if get(versus, "same_model")
        else f"selected model at {at} minus the baseline (none) at 0.5, on the "
        "same resampled rows (paired bootstrap): "
    )
    return head + "; ".join(parts) + "."


def _document(report: Mapping) -> tuple[str, list[Block]]:
    if not isinstance(report, Mapping):
        raise TypeError(f"report must be a mapping, got {type(report).__name__}")
    blocks: list[Block] = []
    for builder in (
        _summary,
        promotion_section,
        recommendation_section,
        _holdout,
        diagnostics_section,
        strategies_section,
        threshold_section,
        leak_section,
        learning_section,
        subgroups_section,
        audits_section,
        checks_section,
        plots_section,
        notes_section,
    ):
        blocks.extend(builder(report))
    return _title(report), blocks


def render_markdown(report: dict) -> str:
    """Render the evaluation report as GitHub-flavoured Markdown."""
    return markdown(*_document(report))


def render_html(report: dict) -> str:
    """Render the evaluation report as a self-contained HTML page (inline CSS, relative images)."""
    return html_page(*_document(report))
