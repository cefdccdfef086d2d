"""The report's evidence beyond the headline: subgroups, the fitting audits, plots, the leak
counterfactual, the learning curve, the data diagnostics, every check, and notes."""

from __future__ import annotations

import numbers
from collections.abc import Mapping

from imbal_pipeline.core.document import (
    NA,
    Block,
    Heading,
    Image,
    ListBlock,
    Para,
    bold,
    cm_cells,
    code,
    count,
    em,
    get,
    interval,
    is_missing,
    mean_std,
    num,
    param,
    rich,
    submap,
    table,
)
from imbal_pipeline.core.split import describe_fitting_rows

# Below this many positives a group's precision/recall swing wildly with one or two cases.
FEW_POSITIVES = 10


def subgroups_section(report: Mapping) -> list[Block]:
    sub = submap(report, "subgroups")
    blocks: list[Block] = [Heading(2, "Subgroup performance (holdout)", "subgroups")]
    if not sub:
        blocks.append(Para(rich("No subgroup breakdown was computed.")))
        return blocks
    blocks.append(
        Para(
            rich(
                f"Groups with fewer than {FEW_POSITIVES} positives are flagged: their precision "
                "and recall can swing by a large amount with one or two cases."
            )
        )
    )
    for attribute, groups in sub.items():
        blocks.append(Heading(3, str(attribute)))
        groups = groups or {}
        if not isinstance(groups, Mapping) or not groups:
            blocks.append(Para(rich("No groups.")))
            continue
        rows = []
        for group, m in groups.items():
            m = m or {}
            pos = get(m, "positives")
            few = isinstance(pos, numbers.Real) and not is_missing(pos) and pos < FEW_POSITIVES
            cells = cm_cells(get(m, "confusion_matrix"))
            rows.append(
                [
                    str(group),
                    count(get(m, "n")),
                    count(pos),
                    num(get(m, "precision")),
                    num(get(m, "recall")),
                    interval(get(submap(m, "ci"), "recall")),
                    num(get(m, "f1")),
                    " / ".join(count(c) for c in cells) if cells else NA,
                    "few positives" if few else "",
                ]
            )
        blocks.append(
            table(
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
    return blocks


def audits_section(report: Mapping) -> list[Block]:
    audits = submap(report, "audits")
    selected = get(report, "selected_strategy")
    blocks: list[Block] = [Heading(2, "Resampling / weighting audits", "audits")]
    if not audits:
        blocks.append(Para(rich("No audits were recorded.")))
        return blocks
    for name, audit in audits.items():
        audit = audit or {}
        blocks.append(Heading(3, f"{name} (selected)" if name == selected else str(name)))
        steps = get(audit, "steps") or []
        if steps:
            items = []
            for step in steps:
                params = get(step, "params") or {}
                item = rich(code(get(step, "step") or NA))
                if params:
                    item += rich(f" — {param(params)}")
                items.append(item)
            blocks.append(ListBlock(items, ordered=True))
        else:
            blocks.append(Para(rich("No resampling or weighting steps.")))

        # Class keys may arrive as ints or (after a JSON round-trip) strings; unify them.
        before_s = {str(k): v for k, v in submap(audit, "rows_before").items()}
        after_s = {str(k): v for k, v in submap(audit, "rows_after").items()}
        classes = list(dict.fromkeys([*before_s, *after_s]))
        if classes:
            blocks.append(
                table(
                    ["Class", "Rows before", "Rows after"],
                    [[c, count(before_s.get(c)), count(after_s.get(c))] for c in classes],
                    css="metrics",
                )
            )
        facts = [
            rich("Seed: ", param(get(audit, "seed"))),
            rich("Synthetic rows: ", count(get(audit, "synthetic_rows"))),
        ]
        if get(audit, "note"):
            facts.append(rich("Note: ", str(get(audit, "note"))))
        sampled = describe_fitting_rows(submap(audit, "fitting_rows"))
        if sampled:
            facts.append(rich("Fit rows: ", sampled))
        blocks.append(ListBlock(facts))
    return blocks


_PLOT_TITLES = {
    "pr_curve": "Precision-recall curve",
    "threshold_curve": "Metrics vs threshold on the out-of-fold scores (not the holdout)",
    "confusion_matrix": "Confusion matrix",
    "reliability": "Reliability (calibration) on the holdout",
    "learning_curve": "Learning curve over positives (out of fold)",
    "diagnostics_pca": "PCA of the training split (data diagnostics)",
}


def plots_section(report: Mapping) -> list[Block]:
    plots = submap(report, "plots")
    blocks: list[Block] = [Heading(2, "Plots", "plots")]
    if not plots:
        blocks.append(Para(rich("No plots were produced.")))
        return blocks
    for key, src in plots.items():
        if not src:
            continue
        title = _PLOT_TITLES.get(key, str(key).replace("_", " ").capitalize())
        blocks.append(Heading(3, title))
        blocks.append(Image(alt=title, src=str(src)))
    return blocks


def leak_section(report: Mapping) -> list[Block]:
    """The counterfactual: what resampling before the split would have claimed."""
    leak = submap(report, "leak_panel")
    if not leak:
        return []
    blocks: list[Block] = [
        Heading(2, "The leak this pipeline prevented (a counterfactual)", "leak")
    ]
    if get(leak, "skipped"):
        blocks.append(Para(rich(f"Not measured: {get(leak, 'skipped')}.")))
        return blocks
    claim, honest, inflation = (submap(leak, k) for k in ("counterfactual", "honest", "inflation"))
    rows = []
    for key, label in (("pr_auc", "PR-AUC"), ("f1_at_0_5", "F1 at 0.5")):
        grown = submap(inflation, key)
        relative = get(grown, "relative")
        rows.append(
            [
                label,
                num(get(claim, key)),
                num(get(honest, key)),
                num(get(grown, "points")),
                NA if is_missing(relative) else f"{relative:+.0%}",
            ]
        )
    blocks.append(
        table(
            [
                "Metric",
                "SMOTE before the split (claimed)",
                "This report (holdout)",
                "Inflation",
                "Relative",
            ],
            rows,
            css="metrics",
        )
    )
    blocks.append(
        Para(
            rich(
                em(
                    "Counterfactual, never used for the model or its threshold: the same data, "
                    "preprocessing, SMOTE settings, model, holdout share and seed, but SMOTE runs "
                    "on every row before a stratified split, so "
                    f"{count(get(claim, 'synthetic_test_rows'))} of its "
                    f"{count(get(claim, 'test_rows'))} test rows are synthetic interpolations "
                    "of training rows. The inflation is what such a pipeline would have "
                    "reported and this one did not."
                )
            )
        )
    )
    return blocks


def learning_section(report: Mapping) -> list[Block]:
    """Would more positives pay? The learning curve's sentence and points."""
    curve = submap(report, "learning_curve")
    if not curve:
        return []
    blocks: list[Block] = [
        Heading(2, "Would more positives help? (learning curve)", "learning"),
        Para(rich(bold(str(get(curve, "sentence") or NA)))),
    ]
    rows = [
        [
            f"{get(p, 'fraction'):.0%}",
            count(round(get(p, "positives"))),
            mean_std(
                {"pr_auc_mean": get(p, "pr_auc_mean"), "pr_auc_std": get(p, "pr_auc_std")},
                "pr_auc",
            ),
        ]
        for p in get(curve, "points") or []
        if not is_missing(get(p, "positives"))
    ]
    if rows:
        blocks.append(
            table(["Share of positives", "Positives per fold", "CV PR-AUC"], rows, css="metrics")
        )
        fitting = submap(curve, "fitting_rows")
        kept = (
            f"one seeded sample of {count(get(fitting, 'negatives_kept'))} negatives kept"
            if get(fitting, "sampled")
            else "all negatives kept"
        )
        limit = get(curve, "validation_negatives")
        scored = (
            "the whole validation fold"
            if is_missing(limit)
            else f"each validation fold's positives and, where it has more, a seeded sample of "
            f"{count(limit)} of its negatives weighted back to the whole fold"
        )
        blocks.append(
            Para(
                rich(
                    em(
                        f"The selected strategy ({get(curve, 'strategy')}) refitted in every fold "
                        f"with a nested share of the training positives ({kept}) and scored on "
                        f"{scored}; the gain per doubling is the mean per-fold slope on "
                        "log2(positives), its interval corrected for overlapping training "
                        "portions."
                    )
                )
            )
        )
    return blocks


def notes_section(report: Mapping) -> list[Block]:
    notes = get(report, "notes") or []
    if isinstance(notes, str):
        notes = [notes]
    blocks: list[Block] = [Heading(2, "Notes", "notes")]
    if notes:
        blocks.append(ListBlock([rich(str(n)) for n in notes]))
    else:
        blocks.append(Para(rich("No additional notes.")))
    return blocks


def diagnostics_section(report: Mapping) -> list[Block]:
    diag = submap(report, "diagnostics")
    if not diag:
        return []
    typ = submap(diag, "typology")
    share = submap(diag, "typology_share")
    rows = [
        [kind, count(get(typ, kind)), num(get(share, kind))]
        for kind in ("safe", "borderline", "rare", "outlier")
    ]
    facts = [
        rich("N3 (leave-one-out 1-NN error): ", bold(num(get(diag, "n3")))),
        rich("Maximum Fisher's discriminant ratio: ", bold(num(get(diag, "fisher_ratio")))),
        rich(
            "Measured on a stratified subsample of ",
            bold(count(get(diag, "subsample_rows"))),
            " training rows (",
            count(get(diag, "subsample_positives")),
            " positives)",
        ),
        rich(
            "Duplicate feature rows: ",
            count(get(diag, "duplicates")),
            "; identical feature rows with both labels: ",
            count(get(diag, "label_conflicts")),
        ),
        rich("Minority islands: ", str(len(get(diag, "islands") or []))),
    ]
    blocks: list[Block] = [
        Heading(2, "Know the data: overlap and minority typology", "diagnostics"),
        ListBlock(facts),
        table(["Positive type (of 5 neighbours, how many negative)", "Rows", "Share"], rows),
        Heading(3, "Advice", "advice"),
        ListBlock([rich(str(a)) for a in (get(diag, "advice") or [])]),
    ]
    clash = get(report, "diagnostics_contradiction")
    if clash:
        blocks.append(
            Para(rich(bold("The selected strategy contradicts this advice: "), str(clash)))
        )
    return blocks


def checks_section(report: Mapping) -> list[Block]:
    checks = get(report, "checks") or []
    if not checks:
        return []
    failed = [c for c in checks if not get(c, "passed")]
    gate = get(report, "quality_gate")
    intro = f"{len(checks)} checks ran beside the assets; {len(failed)} did not pass."
    if gate:
        intro += f" Quality gate: {gate}."
    rows = []
    # Failures first: they are what a reader must see.
    for c in sorted(checks, key=lambda c: bool(get(c, "passed"))):
        status = (
            "passed"
            if get(c, "passed")
            else ("WARNING" if get(c, "severity") == "warn" else "FAILED")
        )
        rows.append(
            [
                code(str(get(c, "asset", ""))),
                str(get(c, "check", "")),
                status,
                str(get(c, "message", "")),
            ]
        )
    return [
        Heading(2, "Data contracts and checks", "checks"),
        Para(rich(intro)),
        table(["Asset", "Check", "Status", "What was seen"], rows),
    ]
