"""The report's advice and the evidence it weighs most: the one recommendation, the learning
curve's last doubling, and the leak counterfactual."""

from __future__ import annotations

from collections.abc import Mapping

from imbal_pipeline.core.report import document as doc


def recommendation_section(report: Mapping) -> list[doc.Block]:
    """The one piece of advice, near the top: what to do next and why."""
    advice = doc.submap(report, "recommendation")
    if not advice:
        return []
    return [
        doc.Heading(2, "What to do next", "recommendation"),
        doc.Para(doc.rich(str(doc.get(advice, "paragraph") or doc.NA)), css="summary"),
    ]


def leak_section(report: Mapping) -> list[doc.Block]:
    """The counterfactual: what resampling before the split would have claimed."""
    leak = doc.submap(report, "leak_panel")
    if not leak:
        return []
    blocks: list[doc.Block] = [
        doc.Heading(2, "The leak this pipeline prevented (a counterfactual)", "leak")
    ]
    if doc.get(leak, "skipped"):
        blocks.append(doc.Para(doc.rich(f"Not measured: {doc.get(leak, 'skipped')}.")))
        return blocks
    if doc.submap(leak, "same_prevalence"):
        return blocks + _leak_split(leak)
    # Reports written before the claim was split by prevalence and leakage.
    claim, honest, inflation = (
        doc.submap(leak, k) for k in ("counterfactual", "honest", "inflation")
    )
    rows = []
    for key, label in (("pr_auc", "PR-AUC"), ("f1_at_0_5", "F1 at 0.5")):
        grown = doc.submap(inflation, key)
        relative = doc.get(grown, "relative")
        rows.append(
            [
                label,
                doc.num(doc.get(claim, key)),
                doc.num(doc.get(honest, key)),
                doc.num(doc.get(grown, "points")),
                doc.NA if doc.is_missing(relative) else f"{relative:+.0%}",
            ]
        )
    blocks.append(
        doc.table(
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
        doc.aside(
            "Counterfactual, never used for the model or its threshold: the same data, "
            "preprocessing, SMOTE settings, model, holdout share and seed, but SMOTE runs "
            "on every row before a stratified split, so "
            f"{doc.count(doc.get(claim, 'synthetic_test_rows'))} of its "
            f"{doc.count(doc.get(claim, 'test_rows'))} test rows are synthetic "
            "interpolations of training rows. The inflation is what such a pipeline "
            "would have reported and this one did not."
        )
    )
    return blocks


def _share(x) -> str:
    return doc.NA if doc.is_missing(x) else f"{x:.1%}"


def _signed(x) -> str:
    return doc.NA if doc.is_missing(x) else f"{x:+.3f}"


def _leak_split(leak: Mapping) -> list[doc.Block]:
    """The claim, the same leaky model at the real prevalence, the honest figure, and the
    inflation split into what prevalence and what leakage made."""
    claim, same, honest, inflation = (
        doc.submap(leak, k) for k in ("counterfactual", "same_prevalence", "honest", "inflation")
    )
    rows = []
    for key, label in (("pr_auc", "PR-AUC"), ("f1_at_0_5", "F1 at 0.5")):
        grown = doc.submap(inflation, key)
        rows.append(
            [
                label,
                doc.num(doc.get(claim, key)),
                doc.num(doc.get(same, key)),
                doc.num(doc.get(honest, key)),
                *(_signed(doc.get(grown, k)) for k in ("points", "prevalence", "leakage")),
            ]
        )
    table = doc.table(
        [
            "Metric",
            "SMOTE before the split: what it would have printed (its test part, "
            f"{_share(doc.get(claim, 'prevalence'))} positives)",
            f"The same model on that part's real rows ({_share(doc.get(same, 'prevalence'))})",
            f"This report (holdout, {_share(doc.get(honest, 'prevalence'))})",
            "Inflation",
            "of which prevalence",
            "of which leakage",
        ],
        rows,
        css="metrics",
    )
    note = doc.aside(
        "Counterfactual, never used for the model or its threshold: the same data, "
        "preprocessing, SMOTE settings, model, holdout share and seed, but SMOTE runs on every "
        f"row before a stratified split, so {doc.count(doc.get(claim, 'synthetic_test_rows'))} "
        f"of its {doc.count(doc.get(claim, 'test_rows'))} test rows are synthetic "
        "interpolations of training rows, and its test part holds "
        f"{_share(doc.get(claim, 'prevalence'))} positives. Such a pipeline would have printed "
        "the first column. PR-AUC rises with the share of positives, so the same leaky model is "
        f"also scored on its test part's {doc.count(doc.get(same, 'rows'))} real rows alone "
        f"({doc.count(doc.get(same, 'positives'))} positives, no synthetic ones): what the "
        "synthetic test rows add is the part of the inflation due to prevalence; what remains "
        "against this report's holdout is the leak, the fit part's synthetic neighbours of "
        "those real positives. The holdout is other rows scored by another model, so the "
        "leakage part carries their noise too."
    )
    return [table, note]


def learning_section(report: Mapping) -> list[doc.Block]:
    """Would more positives pay? The learning curve's sentence and points."""
    curve = doc.submap(report, "learning_curve")
    if not curve:
        return []
    blocks: list[doc.Block] = [
        doc.Heading(2, "Would more positives help? (learning curve)", "learning"),
        doc.Para(doc.rich(doc.bold(str(doc.get(curve, "sentence") or doc.NA)))),
    ]
    rows = [
        [
            f"{doc.get(p, 'fraction'):.0%}",
            doc.count(round(doc.get(p, "positives"))),
            doc.mean_std(
                {"pr_auc_mean": doc.get(p, "pr_auc_mean"), "pr_auc_std": doc.get(p, "pr_auc_std")},
                "pr_auc",
            ),
        ]
        for p in doc.get(curve, "points") or []
        if not doc.is_missing(doc.get(p, "positives"))
    ]
    if rows:
        blocks.append(
            doc.table(
                ["Share of positives", "Positives per fold", "CV PR-AUC"], rows, css="metrics"
            )
        )
        fitting = doc.submap(curve, "fitting_rows")
        kept = (
            f"one seeded sample of {doc.count(doc.get(fitting, 'negatives_kept'))} negatives kept"
            if doc.get(fitting, "sampled")
            else "all negatives kept"
        )
        if doc.get(curve, "strategy") in DRAWS_NEGATIVES:  # it keeps a draw of them, not all
            kept = kept.replace("kept", f"offered, of which {doc.get(curve, 'strategy')} draws")
        limit = doc.get(curve, "validation_negatives")
        scored = (
            "the whole validation fold"
            if doc.is_missing(limit)
            else f"each validation fold's positives and, where it has more, a seeded sample of "
            f"{doc.count(limit)} of its negatives weighted back to the whole fold"
        )
        doubling = doc.submap(curve, "last_doubling")
        method = _curve_method(doubling) if doubling else _slope_method()
        blocks.append(
            doc.aside(
                f"The selected strategy ({doc.get(curve, 'strategy')}) refitted in every "
                f"fold with a nested share of the training positives ({kept}) and scored "
                f"on {scored}; {method}"
            )
        )
    return blocks


# The strategies that fit on a draw of the negatives rather than all of them.
DRAWS_NEGATIVES = ("undersample", "balanced_bagging")


def _slope_method() -> str:
    # How reports written before the last-doubling claim measured their gain.
    return (
        "the gain per doubling is the mean per-fold slope on log2(positives), its interval "
        "corrected for overlapping training portions."
    )


def _curve_method(doubling: Mapping) -> str:
    gains = " · ".join(f"{g:+.3f}" for g in doc.get(doubling, "fold_gains") or [])
    return (
        "the 50 % point of a fold is the mean of several seeded draws of half its positives, "
        "the 25 % point one draw, shown for the shape only. The claim is the last doubling: the "
        f"mean per-fold gain from 50 to 100 % (per fold: {gains or doc.NA}), with a 95 % "
        "interval from the strategy ladder's paired standard error, corrected for "
        "overlapping training portions. It is called flat only when that interval lies within "
        f"±{doc.num(doc.get(doubling, 'band'))} of no gain, never when it excludes 0."
    )
