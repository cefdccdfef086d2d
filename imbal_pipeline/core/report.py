"""Render the evaluation report dict as Markdown or self-contained HTML.

Both renderers share one intermediate document (a list of blocks) so the two outputs always
carry the same content in the same order. The order is deliberate: for a rare positive class
accuracy is misleading, so the summary leads with PR-AUC against the no-skill level and
accuracy only appears last in the holdout table, with a caveat.
"""

from __future__ import annotations

import html
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from imbal_pipeline.core import metrics
from imbal_pipeline.core.split import describe_fitting_rows

NA = "n/a"
ACCURACY_REMARK = "(not a headline: a model predicting all-negative scores 1 - prevalence)"
# Below this many positives a group's precision/recall swing wildly with one or two cases.
FEW_POSITIVES = 10


# --------------------------------------------------------------------------- formatting


def _is_missing(x: Any) -> bool:
    if x is None:
        return True
    if isinstance(x, numbers.Real) and not isinstance(x, numbers.Integral):
        return math.isnan(float(x))
    if isinstance(x, str | bytes | Mapping | Sequence):
        return False
    try:
        # NaN-like markers (e.g. pandas.NA) are not equal to themselves.
        return bool(x != x)
    except (TypeError, ValueError):
        # pandas.NA refuses bool(); anything that ambiguous is a missing marker.
        return True


def _num(x: Any) -> str:
    """Format a metric-like number to 3 decimals; None/NaN become 'n/a'."""
    if _is_missing(x):
        return NA
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, numbers.Real):
        v = float(x)
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return f"{v:.3f}"
    return str(x)


def _count(x: Any) -> str:
    """Format a count with thousands separators; non-integral values fall back to _num."""
    if _is_missing(x):
        return NA
    if isinstance(x, bool):
        return str(int(x))
    if isinstance(x, numbers.Integral):
        return f"{int(x):,}"
    if isinstance(x, numbers.Real) and math.isfinite(float(x)) and float(x).is_integer():
        return f"{int(x):,}"
    return _num(x)


def _param(x: Any) -> str:
    if isinstance(x, Mapping):
        return ", ".join(f"{k}={_param(v)}" for k, v in x.items()) or "{}"
    if isinstance(x, list | tuple):
        return "[" + ", ".join(_param(v) for v in x) + "]"
    if isinstance(x, numbers.Integral) and not isinstance(x, bool):
        return _count(x)
    return _num(x)


def _ratio(num: Any, den: Any) -> float | None:
    try:
        n, d = float(num), float(den)
    except (TypeError, ValueError):
        return None
    if math.isnan(n) or math.isnan(d) or d == 0:
        return None
    return n / d


def _get(d: Any, key: str, default: Any = None) -> Any:
    return d.get(key, default) if isinstance(d, Mapping) else default


def _map(d: Any, key: str) -> Mapping:
    """The sub-mapping at ``key``, or an empty one when missing, None or malformed."""
    value = _get(d, key)
    return value if isinstance(value, Mapping) else {}


def _cm_cells(cm: Any) -> tuple[Any, Any, Any, Any] | None:
    try:
        (tn, fp), (fn, tp) = cm
    except (TypeError, ValueError):
        return None
    return tn, fp, fn, tp


# ------------------------------------------------------------------ intermediate document


@dataclass
class _Span:
    text: str
    style: str = ""  # "", "b", "em", "code"


Rich = list[_Span]


def _rich(*parts: str | _Span) -> Rich:
    return [p if isinstance(p, _Span) else _Span(str(p)) for p in parts]


def _b(text: Any) -> _Span:
    return _Span(str(text), "b")


def _em(text: Any) -> _Span:
    return _Span(str(text), "em")


def _code(text: Any) -> _Span:
    return _Span(str(text), "code")


@dataclass
class _Heading:
    level: int
    text: str
    anchor: str = ""


@dataclass
class _Para:
    content: Rich
    css: str = ""


@dataclass
class _Table:
    headers: list[str]
    rows: list[list[Rich]]
    highlight: set[int] = field(default_factory=set)
    css: str = ""


@dataclass
class _List:
    items: list[Rich]
    ordered: bool = False


@dataclass
class _Image:
    alt: str
    src: str


Block = _Heading | _Para | _Table | _List | _Image
# The document model under public names, for the monitoring report.
Heading, Para, Image, ListBlock = _Heading, _Para, _Image, _List


def _cell(x: Any) -> Rich:
    if isinstance(x, list):
        return x
    if isinstance(x, _Span):
        return [x]
    return [_Span(str(x))]


def _table(headers: list[str], rows: list[list[Any]], **kw: Any) -> _Table:
    return _Table(headers=headers, rows=[[_cell(c) for c in r] for r in rows], **kw)


table, rich, bold = _table, _rich, _b


# ------------------------------------------------------------------------ section builders

_HOLDOUT_METRICS: list[tuple[str, str]] = [
    *((key, label) for key, label in metrics.LABELS.items() if key != "saving_per_1000"),
    # Kept last on purpose: with rare positives it is dominated by the negative class.
    ("accuracy", f"Accuracy {ACCURACY_REMARK}"),
]


def _ci(interval: Any) -> str:
    """An interval as "a-b", or empty when there is none."""
    low, high = _get(interval or {}, "ci_low"), _get(interval or {}, "ci_high")
    if _is_missing(low) or _is_missing(high):
        return ""
    return f"{_num(low)}-{_num(high)}"


def _with_ci(report: Mapping, key: str) -> str:
    """A holdout figure with its 95 % interval, as the headline quotes it."""
    value = _num(_get(_map(report, "holdout"), key))
    ci = _ci(_get(_map(report, "holdout_ci"), key))
    return f"{value} (95% CI {ci})" if ci else value


def _holdout_prevalence(report: Mapping) -> float | None:
    ds = _map(report, "dataset")
    prev = _ratio(_get(ds, "holdout_positives"), _get(ds, "holdout_rows"))
    if prev is not None:
        return prev
    # Fall back to the holdout confusion matrix when the dataset block is incomplete.
    for key in ("holdout", "holdout_at_0_5", "baseline_holdout"):
        cells = _cm_cells(_get(_map(report, key), "confusion_matrix"))
        if cells is None:
            continue
        tn, fp, fn, tp = cells
        prev = _ratio(_safe_sum(fn, tp), _safe_sum(tn, fp, fn, tp))
        if prev is not None:
            return prev
    return None


def _safe_sum(*xs: Any) -> float | None:
    try:
        return float(sum(float(x) for x in xs))
    except (TypeError, ValueError):
        return None


def _title(report: Mapping) -> str:
    strategy = _get(report, "selected_strategy")
    suffix = f" — {strategy}" if strategy else ""
    return f"Rare-event classifier evaluation{suffix}"


def _summary(report: Mapping) -> list[Block]:
    ds = _map(report, "dataset")
    thr = _map(report, "threshold")
    ho = _map(report, "holdout")
    strategy = _get(report, "selected_strategy") or NA
    prev = _holdout_prevalence(report)
    lift = _ratio(_get(ho, "pr_auc"), prev)

    params = _get(thr, "params") or {}
    objective = str(_get(thr, "objective") or NA)
    if params:
        objective = f"{objective} ({_param(params)})"

    content = _rich(
        "Positive class: ",
        _code(f"{_get(ds, 'target') or NA} = {_get(ds, 'positive_label') or NA}"),
        ". Trained on ",
        _b(_count(_get(ds, "rows"))),
        f" rows × {_count(_get(ds, 'features'))} features with ",
        _b(_count(_get(ds, "positives"))),
        f" positives and {_count(_get(ds, 'negatives'))} negatives (negative:positive ratio ",
        _b(f"{_num(_get(ds, 'ratio'))}:1"),
        ", imbalance tier ",
        _b(str(_get(ds, "tier") or NA)),
        "). Selected strategy ",
        _code(strategy),
        " with decision threshold ",
        _b(_num(_get(thr, "value"))),
        f" tuned for {objective}. On the holdout ({_count(_get(ds, 'holdout_rows'))} rows, "
        f"{_count(_get(ds, 'holdout_positives'))} positives) PR-AUC is ",
        _b(_with_ci(report, "pr_auc")),
        " against a no-skill level of ",
        _b(_num(prev)),
        " (the holdout prevalence",
        f"; {_num(lift)}× lift" if lift is not None else "",
        "); F1 ",
        _b(_with_ci(report, "f1")),
        ", recall ",
        _b(_with_ci(report, "recall")),
        ", precision ",
        _b(_with_ci(report, "precision")),
        ", MCC ",
        _b(_with_ci(report, "mcc")),
        ".",
    )
    cells = _cm_cells(_get(ho, "confusion_matrix"))
    if cells is not None:
        tn, fp, fn, tp = cells
        content += _rich(
            f" At the tuned threshold the model catches {_count(tp)} of "
            f"{_count(_safe_sum(fn, tp))} holdout positives ({_count(fn)} missed) "
            f"at the cost of {_count(fp)} false alarms."
        )
    blocks: list[Block] = [_Para(content, css="summary")]

    meta = []
    if _get(ds, "source"):
        meta.append(f"source: {_get(ds, 'source')}")
    if _get(report, "run_id"):
        meta.append(f"run: {_get(report, 'run_id')}")
    if _get(report, "generated_at"):
        meta.append(f"generated: {_get(report, 'generated_at')}")
    if meta:
        blocks.append(_Para([_em(" · ".join(meta))], css="meta"))
    return blocks


def _holdout(report: Mapping) -> list[Block]:
    columns = [
        ("holdout", "Selected @ tuned threshold"),
        ("holdout_at_0_5", "Selected @ 0.5"),
        ("baseline_holdout", "Baseline (none) @ 0.5"),
    ]
    if _map(report, "baseline_holdout_tuned"):
        columns.append(("baseline_holdout_tuned", "Baseline (none) @ its tuned threshold"))
    data = [_map(report, key) for key, _ in columns]
    headers = ["Metric"]
    for (_, label), d in zip(columns, data, strict=True):
        t = _get(d, "threshold")
        headers.append(f"{label} (t={_num(t)})" if not _is_missing(t) else label)
    intervals = _map(report, "holdout_ci")
    headers.insert(2, "95% CI (selected @ tuned)")

    beta = next((_get(d, "beta") for d in data if not _is_missing(_get(d, "beta"))), None)
    if beta is None:
        beta = _get(_get(_map(report, "threshold"), "params", {}), "beta")

    rows: list[list[Any]] = []
    for key, label in _HOLDOUT_METRICS:
        if key == "fbeta":
            label = f"F-beta (beta={_param(beta)})"
        if key == "f2" and beta == 2.0:
            continue  # the F-beta row is F2 already
        name: Any = _b(label) if key == "pr_auc" else label
        values = [_num(_get(d, key)) for d in data]
        rows.append([name, values[0], _ci(_get(intervals, key)), *values[1:]])

    blocks: list[Block] = [
        _Heading(2, "Holdout performance", "holdout"),
        _table(headers, rows, css="metrics"),
        _Para(
            _rich(
                "No-skill PR-AUC equals the holdout prevalence: ",
                _b(_num(_holdout_prevalence(report))),
                ". MCC and balanced accuracy are 0 and 0.5 for a constant predictor.",
            )
        ),
    ]
    versus = _map(report, "vs_baseline")
    if versus:
        blocks.append(_Para(_rich(_b("Against the baseline:"), " ", _versus(versus))))
    blocks.append(_Heading(3, "Confusion matrices (holdout)", "confusion"))
    cm_rows = []
    for (_, label), d in zip(columns, data, strict=True):
        cells = _cm_cells(_get(d, "confusion_matrix"))
        cm_rows.append([label] + ([_count(c) for c in cells] if cells else [NA] * 4))
    blocks.append(
        _table(
            ["Model", "TN", "FP (false alarms)", "FN (missed positives)", "TP"],
            cm_rows,
            css="metrics",
        )
    )
    return blocks


_VERSUS = ("pr_auc", "f1", "fbeta", "mcc")


def _versus(versus: Mapping) -> str:
    """The paired holdout differences to the baseline at 0.5, each with its interval."""
    keys = _VERSUS[1:] if _get(versus, "same_model") else _VERSUS
    keys += ("saving_per_1000",) if _get(versus, "saving_per_1000") else ()
    parts = []
    for key in keys:
        label = metrics.LABELS[key]
        d = _map(versus, key)
        if d:
            diff = _get(d, "diff")
            sign = "+" if not _is_missing(diff) and diff >= 0 else ""
            interval = f"95% CI {_num(_get(d, 'ci_low'))} to {_num(_get(d, 'ci_high'))}"
            parts.append(f"{label} {sign}{_num(diff)} ({interval})")
    head = (
        "the selected model is the baseline, so only the threshold differs; tuned minus 0.5: "
        if _get(versus, "same_model")
        else "selected model at its tuned threshold minus the baseline (none) at 0.5, on the "
        "same resampled rows (paired bootstrap): "
    )
    return head + "; ".join(parts) + "."


def _mean_std(m: Mapping, key: str) -> str:
    mean, std = _get(m, f"{key}_mean"), _get(m, f"{key}_std")
    if _is_missing(mean):
        return NA
    if _is_missing(std):
        return _num(mean)
    return f"{_num(mean)} ± {_num(std)}"


def _gap(m: Mapping) -> str:
    gap, se = _get(m, "pr_auc_gap_to_best"), _get(m, "pr_auc_gap_se")
    if _is_missing(gap):
        return NA
    return "best" if gap == 0 else f"{_num(gap)} ± {_num(se)}"


def _per_fold(values: Any) -> str:
    return " · ".join(_num(v) for v in values) if values else NA


def _strategies(report: Mapping) -> list[Block]:
    cv = _map(report, "cv")
    selected = _get(report, "selected_strategy")
    blocks: list[Block] = [_Heading(2, "Strategy comparison (cross-validation)", "strategies")]
    if not cv:
        blocks.append(_Para(_rich("No cross-validation results were recorded.")))
    else:
        rows, highlight = [], set()
        for i, (name, m) in enumerate(cv.items()):
            m = m or {}
            skipped = _get(m, "skipped")
            if name == selected:
                status: Any = _b("✔ selected")
                highlight.add(i)
            elif skipped:
                status = f"skipped: {skipped}"
            else:
                status = "evaluated"
            rows.append(
                [
                    _code(name),
                    _mean_std(m, "pr_auc"),
                    _gap(m),
                    _mean_std(m, "f1"),
                    _mean_std(m, "fbeta"),
                    _mean_std(m, "mcc"),
                    _per_fold(_get(m, "pr_auc_folds")),
                    status,
                ]
            )
        blocks.append(
            _table(
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
            _Para(
                _rich(
                    _em(
                        "Mean ± standard deviation over CV folds. F1, F-beta and MCC are nested: "
                        "each fold is scored at a threshold tuned on the other folds only. The "
                        "gap is the mean per-fold PR-AUC difference to the best strategy, paired "
                        "by fold, with its standard error corrected for overlapping training "
                        "portions (Nadeau & Bengio): the evidence the selection rule uses."
                    )
                )
            )
        )
    reason = _get(report, "selection_reason")
    blocks.append(
        _Para(
            _rich(
                "Selected: ",
                _code(selected or NA),
                f". {reason}" if reason else ". No selection reason was recorded.",
            )
        )
    )
    return blocks


def _threshold(report: Mapping) -> list[Block]:
    thr = _map(report, "threshold")
    params = _get(thr, "params") or {}
    ho, ho05 = _map(report, "holdout"), _map(report, "holdout_at_0_5")
    items = [
        _rich("Chosen threshold: ", _b(_num(_get(thr, "value")))),
        _rich("Objective: ", _code(_get(thr, "objective") or NA)),
        _rich("Objective parameters: ", _param(params) if params else "none"),
        _rich("Rule (out-of-fold scores only): ", _get(thr, "rule") or NA),
    ]
    blocks: list[Block] = [_Heading(2, "Decision threshold", "threshold"), _List(items)]
    point = _map(report, "operating_point")
    if point:
        blocks.append(_Para(_rich(_b("Operating point on the holdout:"), " ", _operating(point))))
    cal = _map(report, "calibration")
    if cal:
        held = _map(cal, "holdout")
        oof = ", ".join(f"{k} {_num(v)}" for k, v in _map(cal, "oof_brier").items())
        blocks.append(
            _Para(
                _rich(
                    _b("Calibration:"),
                    f" {_get(cal, 'method')}, chosen by out-of-fold Brier score ({oof}). On the "
                    f"holdout the Brier score goes from {_num(_get(held, 'brier_raw'))} (raw "
                    f"scores) to {_num(_get(held, 'brier_calibrated'))}, the expected "
                    f"calibration error from {_num(_get(held, 'ece_raw'))} to "
                    f"{_num(_get(held, 'ece_calibrated'))}. ",
                    _code("predict_proba"),
                    " returns the calibrated probabilities; decisions use the threshold on the raw "
                    "scores.",
                )
            )
        )
    blocks.append(
        _Para(
            _rich(
                f"At the tuned threshold: precision {_num(_get(ho, 'precision'))}, "
                f"recall {_num(_get(ho, 'recall'))}, F1 {_num(_get(ho, 'f1'))}. "
                f"At the default 0.5: precision {_num(_get(ho05, 'precision'))}, "
                f"recall {_num(_get(ho05, 'recall'))}, F1 {_num(_get(ho05, 'f1'))}."
            )
        )
    )
    return blocks


def _operating(point: Mapping) -> str:
    """What the objective asked for against what the holdout reached."""
    reached, asked = _map(point, "reached"), _map(point, "asked")
    ci = _ci(reached)
    ci = f" (95% CI {ci})" if ci else ""
    if _get(point, "objective") == "recall":
        verdict = "reached" if _get(point, "met") else "MISSED"
        return (
            f"recall {_num(_get(reached, 'recall'))}{ci} against the target "
            f"{_num(_get(asked, 'recall'))}: {verdict}."
        )
    if _get(point, "objective") == "cost":
        verdict = "cheaper than either" if _get(point, "met") else "NOT cheaper than both"
        return (
            f"cost {_num(_get(reached, 'cost_per_1000'))} per 1,000 rows; flagging nothing "
            f"costs {_num(_get(reached, 'flag_nothing_per_1000'))}, flagging everything "
            f"{_num(_get(reached, 'flag_everything_per_1000'))}: {verdict}."
        )
    name = str(_get(point, "objective"))
    return f"{name} {_num(_get(reached, name))}{ci}, the score the threshold maximizes."


def _subgroups(report: Mapping) -> list[Block]:
    sub = _map(report, "subgroups")
    blocks: list[Block] = [_Heading(2, "Subgroup performance (holdout)", "subgroups")]
    if not sub:
        blocks.append(_Para(_rich("No subgroup breakdown was computed.")))
        return blocks
    blocks.append(
        _Para(
            _rich(
                f"Groups with fewer than {FEW_POSITIVES} positives are flagged: their precision "
                "and recall can swing by a large amount with one or two cases."
            )
        )
    )
    for attribute, groups in sub.items():
        blocks.append(_Heading(3, str(attribute)))
        groups = groups or {}
        if not isinstance(groups, Mapping) or not groups:
            blocks.append(_Para(_rich("No groups.")))
            continue
        rows = []
        for group, m in groups.items():
            m = m or {}
            pos = _get(m, "positives")
            few = isinstance(pos, numbers.Real) and not _is_missing(pos) and pos < FEW_POSITIVES
            cells = _cm_cells(_get(m, "confusion_matrix"))
            rows.append(
                [
                    str(group),
                    _count(_get(m, "n")),
                    _count(pos),
                    _num(_get(m, "precision")),
                    _num(_get(m, "recall")),
                    _ci(_get(_map(m, "ci"), "recall")),
                    _num(_get(m, "f1")),
                    " / ".join(_count(c) for c in cells) if cells else NA,
                    "few positives" if few else "",
                ]
            )
        blocks.append(
            _table(
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


def _audits(report: Mapping) -> list[Block]:
    audits = _map(report, "audits")
    selected = _get(report, "selected_strategy")
    blocks: list[Block] = [_Heading(2, "Resampling / weighting audits", "audits")]
    if not audits:
        blocks.append(_Para(_rich("No audits were recorded.")))
        return blocks
    for name, audit in audits.items():
        audit = audit or {}
        blocks.append(_Heading(3, f"{name} (selected)" if name == selected else str(name)))
        steps = _get(audit, "steps") or []
        if steps:
            items = []
            for step in steps:
                params = _get(step, "params") or {}
                item = _rich(_code(_get(step, "step") or NA))
                if params:
                    item += _rich(f" — {_param(params)}")
                items.append(item)
            blocks.append(_List(items, ordered=True))
        else:
            blocks.append(_Para(_rich("No resampling or weighting steps.")))

        # Class keys may arrive as ints or (after a JSON round-trip) strings; unify them.
        before_s = {str(k): v for k, v in _map(audit, "rows_before").items()}
        after_s = {str(k): v for k, v in _map(audit, "rows_after").items()}
        classes = list(dict.fromkeys([*before_s, *after_s]))
        if classes:
            blocks.append(
                _table(
                    ["Class", "Rows before", "Rows after"],
                    [[c, _count(before_s.get(c)), _count(after_s.get(c))] for c in classes],
                    css="metrics",
                )
            )
        facts = [
            _rich("Seed: ", _param(_get(audit, "seed"))),
            _rich("Synthetic rows: ", _count(_get(audit, "synthetic_rows"))),
        ]
        if _get(audit, "note"):
            facts.append(_rich("Note: ", str(_get(audit, "note"))))
        sampled = describe_fitting_rows(_map(audit, "fitting_rows"))
        if sampled:
            facts.append(_rich("Fit rows: ", sampled))
        blocks.append(_List(facts))
    return blocks


_PLOT_TITLES = {
    "pr_curve": "Precision-recall curve",
    "threshold_curve": "Metrics vs threshold on the out-of-fold scores (not the holdout)",
    "confusion_matrix": "Confusion matrix",
    "reliability": "Reliability (calibration) on the holdout",
    "learning_curve": "Learning curve over positives (out of fold)",
}


def _plots(report: Mapping) -> list[Block]:
    plots = _map(report, "plots")
    blocks: list[Block] = [_Heading(2, "Plots", "plots")]
    if not plots:
        blocks.append(_Para(_rich("No plots were produced.")))
        return blocks
    for key, src in plots.items():
        if not src:
            continue
        title = _PLOT_TITLES.get(key, str(key).replace("_", " ").capitalize())
        blocks.append(_Heading(3, title))
        blocks.append(_Image(alt=title, src=str(src)))
    return blocks


def _leak(report: Mapping) -> list[Block]:
    """The counterfactual: what resampling before the split would have claimed."""
    leak = _map(report, "leak_panel")
    if not leak:
        return []
    blocks: list[Block] = [
        _Heading(2, "The leak this pipeline prevented (a counterfactual)", "leak")
    ]
    if _get(leak, "skipped"):
        blocks.append(_Para(_rich(f"Not measured: {_get(leak, 'skipped')}.")))
        return blocks
    claim, honest, inflation = (_map(leak, k) for k in ("counterfactual", "honest", "inflation"))
    rows = []
    for key, label in (("pr_auc", "PR-AUC"), ("f1_at_0_5", "F1 at 0.5")):
        grown = _map(inflation, key)
        relative = _get(grown, "relative")
        rows.append(
            [
                label,
                _num(_get(claim, key)),
                _num(_get(honest, key)),
                _num(_get(grown, "points")),
                NA if _is_missing(relative) else f"{relative:+.0%}",
            ]
        )
    blocks.append(
        _table(
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
        _Para(
            _rich(
                _em(
                    "Counterfactual, never used for the model or its threshold: the same data, "
                    "preprocessing, SMOTE settings, model, holdout share and seed, but SMOTE runs "
                    "on every row before a stratified split, so "
                    f"{_count(_get(claim, 'synthetic_test_rows'))} of its "
                    f"{_count(_get(claim, 'test_rows'))} test rows are synthetic interpolations "
                    "of training rows. The inflation is what such a pipeline would have "
                    "reported and this one did not."
                )
            )
        )
    )
    return blocks


def _learning(report: Mapping) -> list[Block]:
    """Would more positives pay? The learning curve's sentence and points."""
    curve = _map(report, "learning_curve")
    if not curve:
        return []
    blocks: list[Block] = [
        _Heading(2, "Would more positives help? (learning curve)", "learning"),
        _Para(_rich(_b(str(_get(curve, "sentence") or NA)))),
    ]
    rows = [
        [
            f"{_get(p, 'fraction'):.0%}",
            _count(round(_get(p, "positives"))),
            _mean_std(
                {"pr_auc_mean": _get(p, "pr_auc_mean"), "pr_auc_std": _get(p, "pr_auc_std")},
                "pr_auc",
            ),
        ]
        for p in _get(curve, "points") or []
        if not _is_missing(_get(p, "positives"))
    ]
    if rows:
        blocks.append(
            _table(["Share of positives", "Positives per fold", "CV PR-AUC"], rows, css="metrics")
        )
        fitting = _map(curve, "fitting_rows")
        kept = (
            f"one seeded sample of {_count(_get(fitting, 'negatives_kept'))} negatives kept"
            if _get(fitting, "sampled")
            else "all negatives kept"
        )
        limit = _get(curve, "validation_negatives")
        scored = (
            "the whole validation fold"
            if _is_missing(limit)
            else f"each validation fold's positives and, where it has more, a seeded sample of "
            f"{_count(limit)} of its negatives weighted back to the whole fold"
        )
        blocks.append(
            _Para(
                _rich(
                    _em(
                        f"The selected strategy ({_get(curve, 'strategy')}) refitted in every fold "
                        f"with a nested share of the training positives ({kept}) and scored on "
                        f"{scored}; the gain per doubling is the mean per-fold slope on "
                        "log2(positives), its interval corrected for overlapping training "
                        "portions."
                    )
                )
            )
        )
    return blocks


def _notes(report: Mapping) -> list[Block]:
    notes = _get(report, "notes") or []
    if isinstance(notes, str):
        notes = [notes]
    blocks: list[Block] = [_Heading(2, "Notes", "notes")]
    if notes:
        blocks.append(_List([_rich(str(n)) for n in notes]))
    else:
        blocks.append(_Para(_rich("No additional notes.")))
    return blocks


def _diagnostics(report: Mapping) -> list[Block]:
    diag = _map(report, "diagnostics")
    if not diag:
        return []
    typ = _map(diag, "typology")
    share = _map(diag, "typology_share")
    rows = [
        [kind, _count(_get(typ, kind)), _num(_get(share, kind))]
        for kind in ("safe", "borderline", "rare", "outlier")
    ]
    facts = [
        _rich("N3 (leave-one-out 1-NN error): ", _b(_num(_get(diag, "n3")))),
        _rich("Maximum Fisher's discriminant ratio: ", _b(_num(_get(diag, "fisher_ratio")))),
        _rich(
            "Measured on a stratified subsample of ",
            _b(_count(_get(diag, "subsample_rows"))),
            " training rows (",
            _count(_get(diag, "subsample_positives")),
            " positives)",
        ),
        _rich(
            "Duplicate feature rows: ",
            _count(_get(diag, "duplicates")),
            "; identical feature rows with both labels: ",
            _count(_get(diag, "label_conflicts")),
        ),
        _rich("Minority islands: ", str(len(_get(diag, "islands") or []))),
    ]
    blocks: list[Block] = [
        _Heading(2, "Know the data: overlap and minority typology", "diagnostics"),
        _List(facts),
        _table(["Positive type (of 5 neighbours, how many negative)", "Rows", "Share"], rows),
        _Heading(3, "Advice", "advice"),
        _List([_rich(str(a)) for a in (_get(diag, "advice") or [])]),
    ]
    clash = _get(report, "diagnostics_contradiction")
    if clash:
        blocks.append(
            _Para(_rich(_b("The selected strategy contradicts this advice: "), str(clash)))
        )
    return blocks


def _checks(report: Mapping) -> list[Block]:
    checks = _get(report, "checks") or []
    if not checks:
        return []
    failed = [c for c in checks if not _get(c, "passed")]
    gate = _get(report, "quality_gate")
    intro = f"{len(checks)} checks ran beside the assets; {len(failed)} did not pass."
    if gate:
        intro += f" Quality gate: {gate}."
    rows = []
    # Failures first: they are what a reader must see.
    for c in sorted(checks, key=lambda c: bool(_get(c, "passed"))):
        status = (
            "passed"
            if _get(c, "passed")
            else ("WARNING" if _get(c, "severity") == "warn" else "FAILED")
        )
        rows.append(
            [
                _code(str(_get(c, "asset", ""))),
                str(_get(c, "check", "")),
                status,
                str(_get(c, "message", "")),
            ]
        )
    return [
        _Heading(2, "Data contracts and checks", "checks"),
        _Para(_rich(intro)),
        _table(["Asset", "Check", "Status", "What was seen"], rows),
    ]


def _document(report: Mapping) -> tuple[str, list[Block]]:
    if not isinstance(report, Mapping):
        raise TypeError(f"report must be a mapping, got {type(report).__name__}")
    blocks: list[Block] = []
    for builder in (
        _summary,
        _holdout,
        _diagnostics,
        _strategies,
        _threshold,
        _leak,
        _learning,
        _subgroups,
        _audits,
        _checks,
        _plots,
        _notes,
    ):
        blocks.extend(builder(report))
    return _title(report), blocks


# ---------------------------------------------------------------------------- markdown


def _md_code(text: str) -> str:
    # A code span must be fenced by more backticks than it contains.
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md_text(text: str) -> str:
    # Text from the data (column names, categories) must not become HTML in a Markdown viewer.
    return html.escape(text.replace("\r", " ").replace("\n", " "), quote=False)


def _md_inline(spans: Rich) -> str:
    out = []
    for s in spans:
        if s.style == "code":  # a code span shows its text literally
            out.append(_md_code(s.text.replace("\r", " ").replace("\n", " ")))
            continue
        text = _md_text(s.text)
        if s.style == "b" and text:
            out.append(f"**{text}**")
        elif s.style == "em" and text:
            out.append(f"_{text}_")
        else:
            out.append(text)
    return "".join(out)


def _md_cell(text: str) -> str:
    # An unescaped pipe would split the cell and break the table layout.
    return text.replace("|", r"\|")


def _md_block(block: Block) -> str:
    if isinstance(block, _Heading):
        return f"{'#' * block.level} {_md_text(block.text)}"
    if isinstance(block, _Para):
        return _md_inline(block.content)
    if isinstance(block, _List):
        lines = []
        for i, item in enumerate(block.items, start=1):
            marker = f"{i}." if block.ordered else "-"
            lines.append(f"{marker} {_md_inline(item)}")
        return "\n".join(lines)
    if isinstance(block, _Table):
        lines = [
            "| " + " | ".join(_md_cell(h) for h in block.headers) + " |",
            "|" + "|".join(["---"] * len(block.headers)) + "|",
        ]
        for i, row in enumerate(block.rows):
            cells = []
            for cell in row:
                if i in block.highlight and all(s.style != "b" for s in cell):
                    cell = [_Span(s.text, "b" if s.style == "" else s.style) for s in cell]
                cells.append(_md_cell(_md_inline(cell)))
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)
    if isinstance(block, _Image):
        alt = block.alt.replace("]", r"\]")
        src = block.src.replace(" ", "%20").replace(")", "%29").replace("(", "%28")
        return f"![{alt}]({src})"
    raise TypeError(f"unknown block {block!r}")


def render_markdown(report: dict) -> str:
    """Render the evaluation report as GitHub-flavoured Markdown."""
    title, blocks = _document(report)
    parts = [f"# {_md_text(title)}"] + [_md_block(b) for b in blocks]
    return "\n\n".join(parts) + "\n"


# -------------------------------------------------------------------------------- html

_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color: #1f2328; margin: 0; background: #f6f8fa; line-height: 1.5; }
main { max-width: 980px; margin: 2rem auto; padding: 2rem 2.5rem; background: #fff;
       border: 1px solid #d0d7de; border-radius: 8px; }
h1 { font-size: 1.7rem; border-bottom: 2px solid #d0d7de; padding-bottom: .4rem; }
h2 { font-size: 1.3rem; margin-top: 2.2rem; border-bottom: 1px solid #eaeef2; }
h3 { font-size: 1.05rem; margin-top: 1.4rem; }
p.summary { font-size: 1.05rem; background: #f0f6ff; border-left: 4px solid #0969da;
            padding: .8rem 1rem; }
p.meta { color: #57606a; font-size: .85rem; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .92rem; }
th, td { border: 1px solid #d0d7de; padding: .35rem .7rem; text-align: left; }
th { background: #f6f8fa; }
table.metrics td:not(:first-child) { font-variant-numeric: tabular-nums; }
tr.selected td { background: #dafbe1; font-weight: 600; }
code { background: #eff1f3; padding: .1rem .3rem; border-radius: 4px; font-size: .9em; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; border: 1px solid #d0d7de; border-radius: 4px; }
figcaption { color: #57606a; font-size: .85rem; }
"""


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _html_inline(spans: Rich) -> str:
    tags = {"b": "strong", "em": "em", "code": "code"}
    out = []
    for s in spans:
        text = _esc(s.text)
        tag = tags.get(s.style)
        out.append(f"<{tag}>{text}</{tag}>" if tag else text)
    return "".join(out)


def _html_block(block: Block) -> str:
    if isinstance(block, _Heading):
        anchor = f' id="{_esc(block.anchor)}"' if block.anchor else ""
        return f"<h{block.level}{anchor}>{_esc(block.text)}</h{block.level}>"
    if isinstance(block, _Para):
        css = f' class="{_esc(block.css)}"' if block.css else ""
        return f"<p{css}>{_html_inline(block.content)}</p>"
    if isinstance(block, _List):
        tag = "ol" if block.ordered else "ul"
        items = "".join(f"<li>{_html_inline(i)}</li>" for i in block.items)
        return f"<{tag}>{items}</{tag}>"
    if isinstance(block, _Table):
        css = f' class="{_esc(block.css)}"' if block.css else ""
        head = "".join(f'<th scope="col">{_esc(h)}</th>' for h in block.headers)
        body = []
        for i, row in enumerate(block.rows):
            tr = ' class="selected"' if i in block.highlight else ""
            cells = "".join(f"<td>{_html_inline(c)}</td>" for c in row)
            body.append(f"<tr{tr}>{cells}</tr>")
        return f"<table{css}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    if isinstance(block, _Image):
        return (
            f'<figure><img src="{_esc(block.src)}" alt="{_esc(block.alt)}">'
            f"<figcaption>{_esc(block.alt)}</figcaption></figure>"
        )
    raise TypeError(f"unknown block {block!r}")


def render_html(report: dict) -> str:
    """Render the evaluation report as a self-contained HTML page (inline CSS, relative images)."""
    return html_page(*_document(report))


def html_page(title: str, blocks: list[Block]) -> str:
    """A self-contained HTML page of blocks (also the monitoring report's)."""
    body = "\n".join(_html_block(b) for b in blocks)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        f"<h1>{_esc(title)}</h1>\n{body}\n</main>\n</body>\n</html>\n"
    )
