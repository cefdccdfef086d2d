"""Strategy comparison over folds and the one-standard-error selection rule."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, f1_score, matthews_corrcoef

from imbal_pipeline.core import threshold
from imbal_pipeline.core.settings import FOLD, LABEL, LADDER, ROW_ID, STRATEGY, Settings

SCORE = "score"


def compare_strategies(oof: pd.DataFrame, skipped: dict[str, str], settings: Settings) -> dict:
    """Per strategy: PR-AUC, F1 and MCC mean and std over folds, and the selection.

    F1 and MCC are taken at each strategy's own F1-optimal threshold on its pooled out-of-fold
    scores, because weights and resampling shift scores and 0.5 would favour some of them. They
    do not depend on the decision objective, so changing it leaves the comparison as it is.
    """
    f1_settings = dataclasses.replace(settings, objective="f1")
    table: dict[str, dict] = {}
    for strategy in settings.strategies:
        if strategy in skipped:
            table[strategy] = {
                "pr_auc_mean": None,
                "pr_auc_std": None,
                "f1_mean": None,
                "f1_std": None,
                "mcc_mean": None,
                "mcc_std": None,
                "folds": 0,
                "skipped": skipped[strategy],
            }
            continue
        part = oof[oof[STRATEGY] == strategy]
        tuned = threshold.tune_threshold(part[LABEL], part[SCORE], part[ROW_ID], f1_settings)[
            "value"
        ]
        pr, f1, mcc = [], [], []
        for _, fold in part.groupby(FOLD):
            y, s = fold[LABEL].to_numpy(), fold[SCORE].to_numpy()
            pr.append(average_precision_score(y, s))
            f1.append(f1_score(y, s >= tuned, zero_division=0))
            mcc.append(matthews_corrcoef(y, s >= tuned))
        table[strategy] = {
            "pr_auc_mean": float(np.mean(pr)),
            "pr_auc_std": float(np.std(pr, ddof=1)),
            "f1_mean": float(np.mean(f1)),
            "f1_std": float(np.std(f1, ddof=1)),
            "mcc_mean": float(np.mean(mcc)),
            "mcc_std": float(np.std(mcc, ddof=1)),
            "folds": len(pr),
            "skipped": None,
            "pr_auc_folds": [float(v) for v in pr],
            "threshold_for_f1_mcc": tuned,
        }
    selected, reason = select_strategy(table)
    for name, (gap, se) in paired_gaps(table)[1].items():
        table[name]["pr_auc_gap_to_best"], table[name]["pr_auc_gap_se"] = gap, se
    baseline = table.get("none", {})
    for row in table.values():
        if row["pr_auc_mean"] is not None and baseline.get("pr_auc_mean") is not None:
            row["pr_auc_vs_none"] = row["pr_auc_mean"] - baseline["pr_auc_mean"]
    return {"table": table, "selected": selected, "reason": reason}


def _gap_and_se(best: list[float], other: list[float]) -> tuple[float, float]:
    """Mean per-fold PR-AUC gap (best - other) and its corrected standard error.

    The folds are shared, so the comparison is paired: fold difficulty, which moves every
    strategy alike, cancels. Training portions overlap between folds, which makes the plain
    paired SE too small; Nadeau & Bengio's correction (1/K + n_val/n_train, = 1/(K-1) for K-fold)
    widens it.
    """
    diff = np.asarray(best, dtype=float) - np.asarray(other, dtype=float)
    k = len(diff)
    if k < 2:
        return float(diff.mean()), float("inf")
    se = float(np.std(diff, ddof=1) * np.sqrt(1.0 / k + 1.0 / (k - 1)))
    return float(diff.mean()), se


def paired_gaps(table: dict[str, dict]) -> tuple[str, dict[str, tuple[float, float]]]:
    """The best strategy by mean PR-AUC, and each evaluated strategy's gap to it with its SE."""
    ran = {name: row for name, row in table.items() if row["pr_auc_mean"] is not None}
    if not ran:
        raise ValueError("no strategy could be evaluated on the folds")
    best = max(ran, key=lambda name: ran[name]["pr_auc_mean"])
    folds = ran[best]["pr_auc_folds"]
    return best, {name: _gap_and_se(folds, row["pr_auc_folds"]) for name, row in ran.items()}


def select_strategy(table: dict[str, dict]) -> tuple[str, str]:
    """Simplest ladder strategy whose PR-AUC is within one corrected paired SE of the best.

    A complex strategy earns its place only when it beats every simpler one by more than the
    noise of the comparison: the standard error of the per-fold differences, corrected for the
    overlap of training portions.
    """
    best, gaps = paired_gaps(table)
    row = table[best]
    for name in LADDER:
        if name not in gaps:
            continue
        if name == best:
            if name == LADDER[0]:
                return name, (
                    f"{name} (no imbalance handling) has the best mean PR-AUC "
                    f"({row['pr_auc_mean']:.4f}); no strategy beat it"
                )
            return name, (
                f"{name} has the best mean PR-AUC ({row['pr_auc_mean']:.4f}) and beats every "
                "simpler strategy by more than one standard error of the paired per-fold "
                "difference (corrected for overlapping training portions)"
            )
        gap, se = gaps[name]
        if gap <= se:
            return name, (
                f"{name} (PR-AUC {table[name]['pr_auc_mean']:.4f}) is within one standard error "
                f"of the best, {best} ({row['pr_auc_mean']:.4f}): per-fold gap {gap:.4f}, "
                f"paired SE {se:.4f} (corrected for overlapping training portions); "
                f"{best} did not earn its complexity"
            )
    raise AssertionError("the best strategy always clears its own bar")
