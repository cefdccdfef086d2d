"""The report's evidence beyond the headline: subgroups, the fitting audits, plots, the data
diagnostics, every check, and notes."""

from __future__ import annotations

import numbers
from collections.abc import Mapping

from imbal_pipeline.core.data.split import describe_fitting_rows
from imbal_pipeline.core.report import document as doc

# Reports written before `holdout_ci.few_positives_below` flag groups below this many positives.
LEGACY_FEW_POSITIVES = 10


def subgroups_section(report: Mapping) -> list[doc.Block]:
    sub = doc.submap(report, "subgroups")
    blocks: list[doc.Block] = [doc.Heading(2, "Subgroup performance (holdout)", "subgroups")]
    if not sub:
        blocks.append(doc.Para(doc.rich("No subgroup breakdown was computed.")))
        return blocks
    below = doc.get(doc.submap(report, "holdout_ci"), "few_positives_below")
    if below is None:
        below = LEGACY_FEW_POSITIVES
        said = "their precision and recall can swing by a large amount with one or two cases."
    else:
        said = (
            "below that count the 95 % intervals' coverage in simulation left 93-97 %, mostly "
            'above (BENCHMARKS.md, "Intervals at few positives"); read their figures as rough.'
        )
    blocks.append(
        doc.Para(
            doc.rich(f"Groups with fewer than {doc.count(below)} positives are flagged: {said}")
        )
    )
    reasons: list[str | None] = []
    for attribute, groups in sub.items():
        blocks.append(doc.Heading(3, str(attribute)))
        groups = groups or {}
        if not isinstance(groups, Mapping) or not groups:
            blocks.append(doc.Para(doc.rich("No groups.")))
            continue
        rows = []
        for group, m in groups.items():
            m = m or {}
            pos = doc.get(m, "positives")
            reasons += [doc.undefined(m, key) for key in ("precision", "recall", "f1")]
            few = isinstance(pos, numbers.Real) and not doc.is_missing(pos) and pos < below
            cells = doc.cm_cells(doc.get(m, "confusion_matrix"))
            rows.append(
                [
                    str(group),
                    doc.count(doc.get(m, "n")),
                    doc.count(pos),
                    doc.figure(m, "precision"),
                    doc.figure(m, "recall"),
                    doc.interval(doc.get(doc.submap(m, "ci"), "recall")),
                    doc.figure(m, "f1"),
                    " / ".join(doc.count(c) for c in cells) if cells else doc.NA,
                    "few positives" if few else "",
                ]
            )
        blocks.append(
            doc.table(
                [
                    "Group",
                    "n",
                    "Positives",
                    "Precision",
                    "Recall",
                    "Recall 95% CI",
                    "F1",
                    "TN / FP / FN / TP",
                    "Flag",
                ],
                rows,
                css="metrics",
            )
        )
    why = doc.undefined_note(reasons)  # once, under the last table
    return blocks + ([doc.Para(doc.rich(why))] if why else [])


def audits_section(report: Mapping) -> list[doc.Block]:
    audits = doc.submap(report, "audits")
    selected = doc.get(report, "selected_strategy")
    blocks: list[doc.Block] = [doc.Heading(2, "Resampling / weighting audits", "audits")]
    if not audits:
        blocks.append(doc.Para(doc.rich("No audits were recorded.")))
        return blocks
    for name, audit in audits.items():
        audit = audit or {}
        blocks.append(doc.Heading(3, f"{name} (selected)" if name == selected else str(name)))
        steps = doc.get(audit, "steps") or []
        if steps:
            items = []
            for step in steps:
                params = doc.get(step, "params") or {}
                item = doc.rich(doc.code(doc.get(step, "step") or doc.NA))
                if params:
                    item += doc.rich(f" — {doc.param(params)}")
                items.append(item)
            blocks.append(doc.ListBlock(items, ordered=True))
        else:
            blocks.append(doc.Para(doc.rich("No resampling or weighting steps.")))

        # Class keys may arrive as ints or (after a JSON round-trip) strings; unify them.
        before_s = {str(k): v for k, v in doc.submap(audit, "rows_before").items()}
        after_s = {str(k): v for k, v in doc.submap(audit, "rows_after").items()}
        classes = list(dict.fromkeys([*before_s, *after_s]))
        if classes:
            blocks.append(
                doc.table(
                    ["Class", "Rows before", "Rows after"],
                    [[c, doc.count(before_s.get(c)), doc.count(after_s.get(c))] for c in classes],
                    css="metrics",
                )
            )
        facts = [
            doc.rich("Seed: ", doc.param(doc.get(audit, "seed"))),
            doc.rich("Synthetic rows: ", doc.count(doc.get(audit, "synthetic_rows"))),
        ]
        if doc.get(audit, "note"):
            facts.append(doc.rich("Note: ", str(doc.get(audit, "note"))))
        sampled = describe_fitting_rows(doc.submap(audit, "fitting_rows"))
        if sampled:
            facts.append(doc.rich("Fit rows: ", sampled))
        blocks.append(doc.ListBlock(facts))
    return blocks


_PLOT_TITLES = {
    "pr_curve": "Precision-recall curve",
    "threshold_curve": "Metrics vs threshold on the out-of-fold scores (not the holdout)",
    "confusion_matrix": "Confusion matrix",
    "reliability": "Reliability (calibration) on the holdout",
    "learning_curve": "Learning curve over positives (out of fold)",
    "diagnostics_pca": "PCA of the training split (data diagnostics)",
}


def plots_section(report: Mapping) -> list[doc.Block]:
    plots = doc.submap(report, "plots")
    blocks: list[doc.Block] = [doc.Heading(2, "Plots", "plots")]
    if not plots:
        blocks.append(doc.Para(doc.rich("No plots were produced.")))
        return blocks
    for key, src in plots.items():
        if not src:
            continue
        title = _PLOT_TITLES.get(key, str(key).replace("_", " ").capitalize())
        blocks.append(doc.Heading(3, title))
        blocks.append(doc.Image(alt=title, src=str(src)))
    return blocks


def notes_section(report: Mapping) -> list[doc.Block]:
    notes = doc.get(report, "notes") or []
    if isinstance(notes, str):
        notes = [notes]
    blocks: list[doc.Block] = [doc.Heading(2, "Notes", "notes")]
    if notes:
        blocks.append(doc.ListBlock([doc.rich(str(n)) for n in notes]))
    else:
        blocks.append(doc.Para(doc.rich("No additional notes.")))
    return blocks


def diagnostics_section(report: Mapping) -> list[doc.Block]:
    diag = doc.submap(report, "diagnostics")
    if not diag:
        return []
    typ = doc.submap(diag, "typology")
    share = doc.submap(diag, "typology_share")
    rows = [
        [kind, doc.count(doc.get(typ, kind)), doc.num(doc.get(share, kind))]
        for kind in ("safe", "borderline", "rare", "outlier")
    ]
    facts = [
        doc.rich("N3 (leave-one-out 1-NN error): ", doc.bold(doc.num(doc.get(diag, "n3")))),
        doc.rich(
            "Maximum Fisher's discriminant ratio: ",
            doc.bold(doc.num(doc.get(diag, "fisher_ratio"))),
        ),
        doc.rich(
            "Measured on a stratified subsample of ",
            doc.bold(doc.count(doc.get(diag, "subsample_rows"))),
            " training rows (",
            doc.count(doc.get(diag, "subsample_positives")),
            " positives)",
        ),
        doc.rich(
            "Duplicate feature rows: ",
            doc.count(doc.get(diag, "duplicates")),
            "; identical feature rows with both labels: ",
            doc.count(doc.get(diag, "label_conflicts")),
        ),
        doc.rich("Minority islands: ", str(len(doc.get(diag, "islands") or []))),
    ]
    blocks: list[doc.Block] = [
        doc.Heading(2, "Know the data: overlap and minority typology", "diagnostics"),
        doc.ListBlock(facts),
        doc.table(["Positive type (of 5 neighbours, how many negative)", "Rows", "Share"], rows),
        doc.Heading(3, "Advice", "advice"),
        doc.ListBlock([doc.rich(str(a)) for a in (doc.get(diag, "advice") or [])]),
    ]
    clash = doc.get(report, "diagnostics_contradiction")
    if clash:
        blocks.append(
            doc.Para(
                doc.rich(doc.bold("The selected strategy contradicts this advice: "), str(clash))
            )
        )
    return blocks


def checks_section(report: Mapping) -> list[doc.Block]:
    checks = doc.get(report, "checks") or []
    if not checks:
        return []
    failed = [c for c in checks if not doc.get(c, "passed")]
    gate = doc.get(report, "quality_gate")
    intro = f"{len(checks)} checks ran beside the assets; {len(failed)} did not pass."
    if gate:
        intro += f" Quality gate: {gate}."
    rows = []
    # Failures first: they are what a reader must see.
    for c in sorted(checks, key=lambda c: bool(doc.get(c, "passed"))):
        status = (
            "passed"
            if doc.get(c, "passed")
            else ("WARNING" if doc.get(c, "severity") == "warn" else "FAILED")
        )
        rows.append(
            [
                doc.code(str(doc.get(c, "asset", ""))),
                str(doc.get(c, "check", "")),
                status,
                str(doc.get(c, "message", "")),
            ]
        )
    return [
        doc.Heading(2, "Data contracts and checks", "checks"),
        doc.Para(doc.rich(intro)),
        doc.table(["Asset", "Check", "Status", "What was seen"], rows),
    ]
