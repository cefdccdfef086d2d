"""A batch's monitoring checks, and the prevalence rule across the batches before it.

One batch of 500 rows cannot show a doubled or halved prevalence; ten of them can. The rule
pools the newest batches scored by the same model until they hold `WINDOW_ROWS` rows and
tests the positives the model expects in them against the reference (its false-alarm rate per
evaluation and its power are measured by `benchmarks/statistics_monitoring.py`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from imbal_pipeline.core import checks
from imbal_pipeline.core.gate import Gate, fail, ok
from imbal_pipeline.core.monitor.monitor_checks import (
    check_feature_psi,
    check_missing_and_unseen,
    check_positive_rate,
    check_score_psi,
    pct,
    too_small,
)
from imbal_pipeline.core.monitor.monitoring import Reference
from imbal_pipeline.core.stats import monitor_stats as ms
from imbal_pipeline.core.train.preprocess import Preprocessor


def window(batches: list[dict], rows: int = ms.WINDOW_ROWS) -> list[dict]:
    """The newest batches (each {"batch", "rows", "flagged", "expected_positives"}, oldest
    first) whose rows reach `rows`: the newest one always, older ones while short."""
    out: list[dict] = []
    total = 0
    for batch in reversed(batches):
        if total >= rows:
            break
        out.insert(0, batch)
        total += int(batch["rows"])
    return out


@checks.gate("recent_prevalence")
def check_recent_prevalence(ref: Reference, batches: list[dict]) -> Gate:
    """The positives the model expects in the latest batches, pooled, against the reference.

    Small batches add up: a doubled or halved prevalence that no single 500-row batch can show
    is caught once the window holds enough rows (the locally most powerful test of a change in
    the class prior is the mean of calibrated probabilities). `batches` are the batches scored
    by this model, oldest first, the current one last.
    """
    pooled = window(batches)
    n = sum(int(b["rows"]) for b in pooled)
    total = sum(float(b["expected_positives"]) for b in pooled)
    flagged = sum(int(b["flagged"]) for b in pooled)
    expected = ref.positives
    observed: dict[str, Any] = {
        "batches": [b["batch"] for b in pooled],
        "rows": n,
        "expected_positives": total,
        "mean": total / max(1, n),
        "expected": expected.value,
        "flag_rate": flagged / max(1, n),
        "expected_rate": ref.expected_rate,
    }
    what = f"last {len(pooled)} batch{'es' if len(pooled) > 1 else ''}"
    needed = math.ceil(ms.MIN_POSITIVES / expected.value) if expected.value > 0 else 10**9
    if n < needed:
        return too_small("recent_prevalence", what, n, needed, **observed)
    _, significant, p = ms.mean_verdicts(total, n, expected)
    ratio = total / n / expected.value
    observed |= {"p_value": float(p), "ratio": ratio, "judged": True}
    said = (
        f"{what} ({n:,} rows): {total:.1f} expected positives ({pct(total / n)}) against "
        f"{pct(expected.value)}, p {p:.2g}; flag rate {pct(flagged / n)} against "
        f"{pct(ref.expected_rate)}"
    )
    observed["evidence"] = f"{pct(total / n)} vs {pct(expected.value)} over {n:,} rows (p {p:.2g})"
    if bool(significant) and bool(ms.moved(ratio)):
        way = "above" if ratio > 1 else "below"
        return fail(
            "recent_prevalence",
            # The expected positives move with the features as with the classes: say both.
            f"predicted prevalence significantly {way} expected: {said}; the class "
            "distribution or the features have shifted: retrain on recent labelled data",
            **observed,
        )
    return ok("recent_prevalence", f"predicted prevalence as expected: {said}", **observed)


def check_batch(
    ref: Reference,
    pre: Preprocessor,
    frame: pd.DataFrame,
    scores,
    recent: list[dict] | None = None,
    expected_positives: float | None = None,
) -> list[Gate]:
    """All monitoring checks of one scored batch (no labels needed).

    `recent` are the batches this model scored before, oldest first (see
    `check_recent_prevalence`); `expected_positives` is this batch's (`BatchNotes`).
    """
    scores = np.asarray(scores, dtype=np.float64)
    flagged = int(np.sum(scores >= ref.threshold))
    current = {
        "batch": "this batch",
        "rows": len(scores),
        "flagged": flagged,
        "expected_positives": expected_positives or 0.0,
    }
    return [
        check_positive_rate(ref, flagged, len(scores)),
        check_score_psi(ref, scores),
        check_feature_psi(ref, frame),
        check_missing_and_unseen(ref, frame, pre),
        check_recent_prevalence(ref, [*(recent or []), current]),
    ]
