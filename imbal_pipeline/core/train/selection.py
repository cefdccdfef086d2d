"""Strategy comparison over folds and the one-standard-error selection rule."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, f1_score, fbeta_score, matthews_corrcoef

from imbal_pipeline.core.settings import FOLD, LABEL, LADDER, ROW_ID, SCORE, STRATEGY, Settings
from imbal_pipeline.core.stats.fold_noise import corrected_se
from imbal_pipeline.core.train import threshold
from imbal_pipeline.core.values import Comparison, FoldModels

_METRICS = ("pr_auc", "f1", "fbeta", "mcc")


def pool_folds(fold_models: Iterable[FoldModels]) -> tuple[pd.DataFrame, dict[str, str]]:
    """Every fold step's out-of-fold scores in one frame, and each strategy a fold skipped with
    the first such fold's reason (a strategy skipped in one fold is compared in none)."""
    fold_models = list(fold_models)
    oof = pd.concat([m.oof for m in fold_models], ignore_index=True)
    skipped: dict[str, str] = {}
    for m in fold_models:
        for name, why in m.skipped.items():
            skipped.setdefault(name, f"fold {m.fold}: {why}")
    return oof, skipped


def compare_folds(fold_models: Iterable[FoldModels], settings: Settings) -> Comparison:
    """The comparison of the fold steps' out-of-fold scores, with each fold's sampler audits."""
    fold_models = list(fold_models)
    oof, skipped = pool_folds(fold_models)
    audits = {m.fold: m.audits for m in fold_models}
    return dataclasses.replace(compare_strategies(oof, skipped, settings), audits=audits)


def compare_strategies(
    oof: pd.DataFrame, skipped: dict[str, str], settings: Settings
) -> Comparison:
    """Per strategy: PR-AUC, F1, F-beta and MCC over folds, the paired gaps, and the selection.

    F1, F-beta and MCC are nested: each fold is scored at a threshold tuned on the other folds'
    out-of-fold scores only (F1 and MCC at the F1-optimal threshold, F-beta at the F-beta one),
    so no fold grades a threshold it helped choose. Each strategy gets its own thresholds,
    because weights and resampling shift scores and 0.5 would favour some of them; none of
    this depends on the decision objective, so changing it leaves the comparison as it is.
    """
    table: dict[str, dict] = {}
    for strategy in settings.strategies:
        if strategy in skipped:
            table[strategy] = {
                **{f"{m}_{s}": None for m in _METRICS for s in ("mean", "std")},
                "folds": 0,
                "skipped": skipped[strategy],
            }
            continue
        per_fold = nested_fold_metrics(oof[oof[STRATEGY] == strategy], settings)
        row: dict = {}
        for name in _METRICS:
            values = per_fold[name]
            row[f"{name}_mean"] = float(np.mean(values))
            row[f"{name}_std"] = float(np.std(values, ddof=1))
        table[strategy] = row | {
            "folds": len(per_fold["pr_auc"]),
            "skipped": None,
            **{f"{name}_folds": per_fold[name] for name in _METRICS},
            "fold_thresholds": per_fold["thresholds"],
        }
    selected, reason = select_strategy(table)
    best, gaps = paired_gaps(table)
    for name, (gap, se) in gaps.items():
        table[name]["pr_auc_gap_to_best"], table[name]["pr_auc_gap_se"] = gap, se
    baseline = table.get("none", {})
    for row in table.values():
        if row["pr_auc_mean"] is not None and baseline.get("pr_auc_mean") is not None:
            row["pr_auc_vs_none"] = row["pr_auc_mean"] - baseline["pr_auc_mean"]
    return Comparison(table=table, selected=selected, best=best, reason=reason, oof=oof)


def nested_fold_metrics(part: pd.DataFrame, settings: Settings) -> dict[str, list]:
    """Per fold: PR-AUC, and F1, F-beta and MCC at thresholds tuned on the other folds by
    the deployed rule (`threshold.tune_per_fold`), so the F1 estimates the deployed one."""
    y, scores = part[LABEL].to_numpy(), part[SCORE].to_numpy()
    folds, row_ids = part[FOLD].to_numpy(), part[ROW_ID].to_numpy()
    objectives = {name: threshold.tuned_for(settings, name) for name in ("f1", "fbeta")}
    # Each fold's own threshold is tuned once and reused in the four rules that see it.
    own = {
        name: threshold.fold_thresholds(y, scores, folds, row_ids, objective_settings)
        for name, objective_settings in objectives.items()
    }
    out: dict[str, list] = {name: [] for name in (*_METRICS, "thresholds")}
    for k in np.unique(folds):
        mine, others = folds == k, folds != k
        tuned = {
            name: threshold.tune_per_fold(
                y[others],
                scores[others],
                folds[others],
                row_ids[others],
                objective_settings,
                per_fold={j: t for j, t in own[name].items() if j != k},
            )["value"]
            for name, objective_settings in objectives.items()
        }
        scored = score_fold(part[mine], tuned["f1"], tuned["fbeta"], settings.beta)
        out["pr_auc"].append(float(average_precision_score(y[mine], scores[mine])))
        for name in ("f1", "fbeta", "mcc"):
            out[name].append(scored[name])
        out["thresholds"].append({"fold": int(k), **tuned})
    return out


def score_fold(fold: pd.DataFrame, f1_threshold: float, fbeta_threshold: float, beta: float):
    """F1 and MCC at the F1 threshold, F-beta at the F-beta one, on one validation fold."""
    y, scores = fold[LABEL].to_numpy(), fold[SCORE].to_numpy()
    return {
        "f1": float(f1_score(y, scores >= f1_threshold, zero_division=0)),
        "mcc": float(matthews_corrcoef(y, scores >= f1_threshold)),
        "fbeta": float(fbeta_score(y, scores >= fbeta_threshold, beta=beta, zero_division=0)),
    }


def _gap_and_se(best: list[float], other: list[float]) -> tuple[float, float]:
    """Mean per-fold PR-AUC gap (best - other) and its corrected standard error.

    The folds are shared, so the comparison is paired: fold difficulty, which moves every
    strategy alike, cancels. Training portions overlap between folds, which makes the plain
    paired SE too small; Nadeau & Bengio's correction (1/K + n_val/n_train, = 1/(K-1) for K-fold)
    widens it (`fold_noise.corrected_se`, which the threshold's check against 0.5 shares).
    """
    diff = np.asarray(best, dtype=float) - np.asarray(other, dtype=float)
    if len(diff) < 2:
        return float(diff.mean()), float("inf")
    return float(diff.mean()), corrected_se(np.std(diff, ddof=1), len(diff))


def paired_gaps(table: dict[str, dict]) -> tuple[str, dict[str, tuple[float, float]]]:
    """The best strategy by mean PR-AUC, and each evaluated strategy's gap to it with its SE."""
    ran = {name: row for name, row in table.items() if row["pr_auc_mean"] is not None}
    if not ran:
        raise ValueError("no strategy could be evaluated on the folds")
    best = max(ran, key=lambda name: ran[name]["pr_auc_mean"])
    folds = ran[best]["pr_auc_folds"]
    return best, {name: _gap_and_se(folds, row["pr_auc_folds"]) for name, row in ran.items()}


# PR-AUC differences below this are rounding, not a strategy beating another: folds where two
# strategies score alike (both 1.0) leave a paired SE of 0.
TIE = 1e-9


def select_strategy(table: dict[str, dict]) -> tuple[str, str]:
    """The most complex ladder strategy that beats every simpler one by more than one corrected
    paired SE; the simplest evaluated one when none does.

    A complex strategy earns its place only when it beats every simpler one by more than the
    noise of the comparison: the standard error of the per-fold differences, corrected for the
    overlap of training portions. Being within one SE of the best is not enough: a strategy
    whose folds are noisy is within one SE of anything, without being better than what is
    simpler (`benchmarks/statistics_selection.py` measures both rules).
    """
    best, _ = paired_gaps(table)
    ran = [name for name in LADDER if table.get(name, {}).get("pr_auc_mean") is not None]
    selected, blocked = ran[0], {}
    for i, name in enumerate(ran[1:], start=1):
        gaps = {
            s: _gap_and_se(table[name]["pr_auc_folds"], table[s]["pr_auc_folds"]) for s in ran[:i]
        }
        if all(gap > max(se, TIE) for gap, se in gaps.values()):
            selected = name  # it beats every simpler strategy, the one selected so far too
        elif name == best:
            blocked = gaps
    return selected, _reason(table, selected, best, blocked)


def _reason(table: dict[str, dict], selected: str, best: str, blocked: dict) -> str:
    """Why `selected`: it is the best, or the best did not beat a simpler strategy beyond noise
    (`blocked`: the best's paired gap and SE against each simpler strategy)."""
    mean = table[selected]["pr_auc_mean"]
    beats = (
        "beats every simpler strategy by more than one standard error of the paired per-fold "
        "difference (corrected for overlapping training portions)"
    )
    if selected == best or not blocked:  # not blocked: the best ties with the selected
        if not blocked and selected == LADDER[0]:
            return (
                f"{selected} (no imbalance handling) has the best mean PR-AUC ({mean:.4f}); no "
                "strategy beat it"
            )
        return f"{selected} has the best mean PR-AUC ({mean:.4f}) and {beats}"
    first = next(n for n in LADDER if table.get(n, {}).get("pr_auc_mean") is not None)
    kept = (
        f"{selected} (PR-AUC {mean:.4f}) is kept: no strategy beat every simpler one beyond noise"
        if selected == first
        else f"{selected} (PR-AUC {mean:.4f}) {beats}"
    )
    # The simpler strategy the best is furthest from beating, in SEs.
    against, (gap, se) = min(blocked.items(), key=lambda kv: kv[1][0] - kv[1][1])
    return (
        f"{kept}; the best mean, {best} ({table[best]['pr_auc_mean']:.4f}), is not above "
        f"{against} beyond noise: per-fold gap {gap:.4f}, paired SE {se:.4f} (corrected for "
        f"overlapping training portions); {best} did not earn its complexity"
    )
