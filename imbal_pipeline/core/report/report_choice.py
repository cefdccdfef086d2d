"""The report's account of the choice: how the strategies compared over folds, and the threshold
with the operating point it was chosen for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from imbal_pipeline.core.report.document import (
    NA,
    Block,
    Heading,
    ListBlock,
    Para,
    aside,
    bold,
    code,
    figure,
    get,
    interval,
    is_missing,
    mean_std,
    num,
    param,
    rich,
    submap,
    table,
    threshold_text,
    undefined,
    undefined_note,
)
from imbal_pipeline.core.report_model import ThresholdChoice, target_verdict
from imbal_pipeline.core.train import calibration
from imbal_pipeline.core.train.threshold import describe_choice


def chosen(report: Mapping) -> ThresholdChoice:
    """The report's threshold section, typed: it alone knows whether the threshold is a
    fallback, and names it accordingly (`ThresholdChoice.named`)."""
    return ThresholdChoice.from_json(submap(report, "threshold"))


def same_threshold(report: Mapping) -> bool:
    """The selected model's threshold is 0.5 itself: its figures at both are one and the same."""
    at = get(submap(report, "holdout"), "threshold")
    return not is_missing(at) and at == get(submap(report, "holdout_at_0_5"), "threshold")


def _gap(m: Mapping) -> str:
    gap, se = get(m, "pr_auc_gap_to_best"), get(m, "pr_auc_gap_se")
    if is_missing(gap):
        return NA
    return "best" if gap == 0 else f"{num(gap)} ± {num(se)}"


def _per_fold(values: Any) -> str:
    return " · ".join(num(v) for v in values) if values else NA


def strategies_section(report: Mapping) -> list[Block]:
    cv = submap(report, "cv")
    selected = get(report, "selected_strategy")
    blocks: list[Block] = [Heading(2, "Strategy comparison (cross-validation)", "strategies")]
    if not cv:
        blocks.append(Para(rich("No cross-validation results were recorded.")))
    else:
        rows, highlight = [], set()
        for i, (name, m) in enumerate(cv.items()):
            m = m or {}
            skipped = get(m, "skipped")
            if name == selected:
                status: Any = bold("✔ selected")
                highlight.add(i)
            elif skipped:
                status = f"skipped: {skipped}"
            else:
                status = "evaluated"
            rows.append(
                [
                    code(name),
                    mean_std(m, "pr_auc"),
                    _gap(m),
                    mean_std(m, "f1"),
                    mean_std(m, "fbeta"),
                    mean_std(m, "mcc"),
                    _per_fold(get(m, "pr_auc_folds")),
                    status,
                ]
            )
        blocks.append(
            table(
                [
                    "Strategy",
                    "PR-AUC",
                    "Gap to best ± SE",
                    "F1",
                    "F-beta",
                    "MCC",
                    "PR-AUC per fold",
                    "Status",
                ],
                rows,
                highlight=highlight,
                css="metrics",
            )
        )
        blocks.append(
            aside(
                "Mean ± standard deviation over CV folds. F1, F-beta and MCC are nested: "
                "each fold is scored at a threshold tuned on the other folds only. The "
                "gap is the mean per-fold PR-AUC difference to the best strategy, paired "
                "by fold, with its standard error corrected for overlapping training "
                "portions (Nadeau & Bengio). The selection rule (below) compares each strategy "
                "with every simpler one the same way."
            )
        )
    reason = get(report, "selection_reason")
    blocks.append(
        Para(
            rich(
                "Selected: ",
                code(selected or NA),
                f". {reason}" if reason else ". No selection reason was recorded.",
            )
        )
    )
    return blocks


# Per-fold thresholds this many times apart are said to disagree: at a few positives per fold
# the recall rule landed anywhere from 1e-06 to 0.5 (hypothyroid, --recall-target 0.95), and a
# flat F1 curve spreads them too.
UNSTABLE_FACTOR = 10.0


def fold_thresholds(values: Any) -> str:
    """Each fold's own threshold, and a word when they lie a factor of 10 or more apart."""
    if not isinstance(values, Mapping) or not values:
        return ""
    found = [float(v) for _, v in sorted(values.items(), key=lambda kv: int(kv[0]))]
    text = ", ".join(threshold_text(v) for v in found)
    low, high = min(found), max(found)
    if low > 0 and high / low >= UNSTABLE_FACTOR:
        # A flat objective or few positives per fold: either way the value is no agreed one.
        text += f" (the folds disagree: {high / low:,.0f} times apart)"
    return text


def threshold_section(report: Mapping) -> list[Block]:
    thr = submap(report, "threshold")
    params = get(thr, "params") or {}
    ho, ho05 = submap(report, "holdout"), submap(report, "holdout_at_0_5")
    items = [
        rich(
            "Chosen threshold: ",
            bold(threshold_text(get(thr, "value"))),
            f" ({describe_choice(thr)})" if get(thr, "fallback") else "",
        ),
        rich("Objective: ", code(get(thr, "objective") or NA)),
        rich("Objective parameters: ", param(params) if params else "none"),
        rich("Rule (out-of-fold scores only): ", get(thr, "rule") or NA),
    ]
    folds = fold_thresholds(get(thr, "fold_values"))
    if folds:
        items.append(rich("Per fold (each fold's own out-of-fold scores): ", folds))
    blocks: list[Block] = [Heading(2, "Decision threshold", "threshold"), ListBlock(items)]
    point = submap(report, "operating_point")
    if point:
        blocks.append(
            Para(
                rich(
                    bold("Operating point on the holdout:"),
                    " ",
                    operating_text(
                        point,
                        chosen(report),
                        get(submap(report, "dataset"), "holdout_positives"),
                    ),
                )
            )
        )
    cal = submap(report, "calibration")
    if cal and "applied" in cal:
        blocks.append(Para(calibration_text(cal)))
    elif cal:  # reports written before calibration had to earn its place
        held = submap(cal, "holdout")
        oof = ", ".join(f"{k} {num(v)}" for k, v in submap(cal, "oof_brier").items())
        blocks.append(
            Para(
                rich(
                    bold("Calibration:"),
                    f" {get(cal, 'method')}, chosen by out-of-fold Brier score ({oof}). On the "
                    f"holdout the Brier score goes from {num(get(held, 'brier_raw'))} (raw "
                    f"scores) to {num(get(held, 'brier_calibrated'))}, the expected "
                    f"calibration error from {num(get(held, 'ece_raw'))} to "
                    f"{num(get(held, 'ece_calibrated'))}. ",
                    code("predict_proba"),
                    " returns the calibrated probabilities; decisions use the threshold on the raw "
                    "scores.",
                )
            )
        )
    at = f"At {chosen(report).named(short=True)}"
    figures = [
        f"{at}: precision {figure(ho, 'precision')}, recall {figure(ho, 'recall')}, "
        f"F1 {figure(ho, 'f1')}."
    ]
    shown = [ho]
    if not (chosen(report).fallback and same_threshold(report)):  # else the same figures again
        figures.append(
            f"At the default 0.5: precision {figure(ho05, 'precision')}, "
            f"recall {figure(ho05, 'recall')}, F1 {figure(ho05, 'f1')}."
        )
        shown.append(ho05)
    why = undefined_note(undefined(m, k) for m in shown for k in ("precision", "recall", "f1"))
    figures += [why] if why else []
    blocks.append(Para(rich(" ".join(figures))))
    return blocks


def _brier(figure: Mapping) -> str:
    """A Brier figure with its interval, at four decimals (they are small)."""
    value, low, high = (get(figure, k) for k in ("value", "ci_low", "ci_high"))
    if is_missing(value):
        return NA
    return f"{value:.4f} [{low:.4f}, {high:.4f}]" if not is_missing(low) else f"{value:.4f}"


def _ece(figure: Mapping) -> str:
    value, noise = get(figure, "value"), get(figure, "noise")
    if is_missing(value):
        return NA
    return f"{value:.4f} (noise alone: up to {noise:.4f})" if not is_missing(noise) else num(value)


def _difference(d: Mapping) -> str:
    """A paired Brier difference with its interval, signed."""
    if any(is_missing(get(d, k)) for k in ("diff", "ci_low", "ci_high")):
        return NA
    return calibration.difference_text(d)


def calibration_text(cal: Mapping) -> list:
    """Whether `predict_proba` calibrates, why, and what the holdout says of it."""
    held = submap(cal, "holdout")
    versus = _difference(submap(cal, "oof_brier_difference"))
    bins = f"{get(cal, 'ece_bins') or 10} equal-frequency bins"
    if get(cal, "applied"):
        return rich(
            bold("Calibration:"),
            f" {get(cal, 'method')} applied: it beat the raw scores on out-of-fold Brier "
            f"({versus}; cross-fitted, paired). On the holdout the Brier score is "
            f"{_brier(submap(held, 'brier_raw'))} for the raw scores and "
            f"{_brier(submap(held, 'brier_calibrated'))} for the calibrated probabilities "
            f"(difference {_difference(submap(held, 'brier_difference'))}); the expected "
            f"calibration error ({bins}) {_ece(submap(held, 'ece_raw'))} and "
            f"{_ece(submap(held, 'ece_calibrated'))}. ",
            code("predict_proba"),
            " returns the calibrated probabilities; decisions use the threshold on the raw scores.",
        )
    return rich(
        bold("Calibration:"),
        f" not applied: the better map ({get(cal, 'candidate')}) did not beat the raw scores on "
        f"out-of-fold Brier ({versus}; cross-fitted, paired), so ",
        code("predict_proba"),
        " returns the raw scores. On the holdout their Brier score is "
        f"{_brier(submap(held, 'brier_raw'))} and their expected calibration error ({bins}) "
        f"{_ece(submap(held, 'ece_raw'))}; decisions use the threshold on the raw scores.",
    )


def operating_beyond_f1(
    point: Mapping, threshold: ThresholdChoice | None = None, positives: int | None = None
) -> str | None:
    """`operating_text` for a summary that gives F1 already: None under the f1 objective."""
    if get(point, "objective") in (None, "f1"):
        return None
    return operating_text(point, threshold, positives)


def operating_text(
    point: Mapping, threshold: ThresholdChoice | None = None, positives: int | None = None
) -> str:
    """What the objective asked for against what the holdout reached at `threshold`, in the
    words the interval of a holdout of `positives` allows."""
    reached, asked = submap(point, "reached"), submap(point, "asked")
    ci = interval(reached)
    ci = f" (95% CI {ci})" if ci else ""
    if get(point, "objective") == "recall":
        verdict = target_verdict(point, positives)
        return (
            f"recall {num(get(reached, 'recall'))}{ci} against the target "
            f"{num(get(asked, 'recall'))}: {verdict}."
        )
    if get(point, "objective") == "cost":
        verdict = "cheaper than either" if get(point, "met") else "NOT cheaper than both"
        return (
            f"cost {num(get(reached, 'cost_per_1000'))} per 1,000 rows; flagging nothing "
            f"costs {num(get(reached, 'flag_nothing_per_1000'))}, flagging everything "
            f"{num(get(reached, 'flag_everything_per_1000'))}: {verdict}."
        )
    name = str(get(point, "objective"))
    if threshold is not None and threshold.fallback:  # kept, not tuned for this score
        return f"{name} {num(get(reached, name))}{ci} at {threshold.named()}."
    return f"{name} {num(get(reached, name))}{ci}, the score the threshold maximizes."
