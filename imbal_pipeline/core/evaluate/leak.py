"""Leaks: the features suspected of leaking the target, and the leak panel's counterfactual.

The panel shows what a pipeline that resampled before splitting would have claimed: a
counterfactual, measured on the same data with the same model, so the report can show the
inflation the real pipeline prevented. Its test part holds synthetic positives, which raise its
prevalence (a third of the rows instead of a few percent), and PR-AUC rises with prevalence; so
the same leaky model is also scored on its test part's real rows alone, at the real prevalence.
That splits the inflation into the part prevalence makes and the part the leak makes. Nothing
here touches the real model or its threshold.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import average_precision_score, f1_score
from sklearn.model_selection import train_test_split

from imbal_pipeline.core import checks
from imbal_pipeline.core.data import split
from imbal_pipeline.core.gate import WARN, Gate, fail, ok
from imbal_pipeline.core.settings import LABEL, ROW_ID, Settings
from imbal_pipeline.core.train import model as model_core
from imbal_pipeline.core.train import preprocess
from imbal_pipeline.core.train.training import limit_threads, resample

# Set while the counterfactual fits run: the only fits allowed to see holdout rows. The hygiene
# tests read it to tell these fits from the real ones.
COUNTERFACTUAL: ContextVar[bool] = ContextVar("counterfactual", default=False)

STEPS = (
    "fit the preprocessing on every row (training and holdout)",
    "SMOTE on every row",
    "stratified split of the oversampled rows",
    "LightGBM on the split's training part, scored on its test part at 0.5",
)


@contextmanager
def _counterfactual():
    token = COUNTERFACTUAL.set(True)
    try:
        yield
    finally:
        COUNTERFACTUAL.reset(token)


@limit_threads
def leaky_claim(frame: pd.DataFrame, schema: dict, settings: Settings) -> dict:
    """PR-AUC and F1 at 0.5 of SMOTE-before-split on all of `frame`; or why it was skipped.

    The same preprocessing, sampler settings, model, holdout share and seed as the real
    pipeline; above --max-negatives, the same kind of seeded sample of negatives.
    """
    rows = frame.sort_values(ROW_ID, kind="stable").reset_index(drop=True)
    usable, sample = split.fitting_rows(rows, settings.max_negatives, settings.seed)
    rows = rows[usable].reset_index(drop=True)
    ids, y = rows[ROW_ID].to_numpy(), rows[LABEL].to_numpy()
    with _counterfactual():
        pre = preprocess.fit_preprocessor(rows, schema, ids)
        X = pre.transform(rows)
        cat_idx = pre.categorical_indices
        result = resample(X, y, ids, "smote", settings, cat_idx)
        if result.skipped:
            return {"skipped": f"SMOTE cannot run on this data: {result.skipped}"}
        if not len(result.synthetic_y):
            return {"skipped": result.audit.get("note") or "SMOTE made no rows"}
        X_all = np.vstack([X, result.synthetic_X])
        y_all = np.concatenate([y, result.synthetic_y])
        ids_all = np.concatenate([ids, -np.arange(1, len(result.synthetic_y) + 1)])
        fit, test = train_test_split(
            np.arange(len(y_all)),
            test_size=settings.holdout_fraction,
            stratify=y_all,
            random_state=settings.seed,
        )
        booster, _ = model_core.fit_lgbm(
            X_all[fit],
            y_all[fit],
            ids_all[fit],
            settings=settings,
            cat_idx=cat_idx,
        )
        scores = model_core.predict(booster, X_all[test], settings.lgbm_threads)
    y_test = y_all[test]
    synthetic = ids_all[test] < 0
    if not synthetic.any():  # a ratio already near --sampling-ratio: a few rows, all in the fit
        return {
            "skipped": f"SMOTE made {len(result.synthetic_y)} rows and none fell in the test part, "
            "so resampling first would have leaked nothing here"
        }
    claimed = figures(y_test, scores)
    # The test part's real rows: never fitted on, but SMOTE drew the fit part's synthetic
    # positives between them and their neighbours, which is the leak. (The honest holdout is no
    # such set: the leaky split put most of its rows in the fit part.)
    real = ~synthetic
    # Above --max-negatives the leaky pipeline kept a sample of negatives: weighted back, its
    # real rows stand at the data's prevalence, as the honest holdout does.
    weight = np.where(y_test[real] == 0, 1 / sample["fraction_kept"], 1.0)
    same = figures(y_test[real], scores[real], weight if sample["sampled"] else None)
    return {
        "skipped": None,
        "steps": list(STEPS),
        "sampler": result.audit["steps"],
        "fitting_rows": sample,
        "test_rows": claimed["rows"],
        "test_positives": claimed["positives"],
        # Synthetic positives in the test part are interpolations of training rows: the leak.
        "synthetic_test_rows": int(synthetic.sum()),
        "pr_auc": claimed["pr_auc"],
        "f1_at_0_5": claimed["f1_at_0_5"],
        "real_rows": same,
    }


def figures(y: np.ndarray, scores: np.ndarray, weight: np.ndarray | None = None) -> dict:
    """PR-AUC and F1 at 0.5 of `scores` on rows `y` (negatives weighted by `weight`, if any),
    with the rows, positives and (weighted) prevalence they saw."""
    positives = int(np.sum(y))
    w = np.ones(len(y)) if weight is None else np.asarray(weight, dtype=float)
    return {
        "rows": int(len(y)),
        "positives": positives,
        "prevalence": float(w[y == 1].sum() / w.sum()) if len(y) else None,
        "pr_auc": (
            float(average_precision_score(y, scores, sample_weight=weight))
            if 0 < positives < len(y)
            else None
        ),
        # With no positive there is nothing to catch: F1 is undefined, not 0.
        "f1_at_0_5": (
            float(f1_score(y, scores >= 0.5, sample_weight=weight, zero_division=0))
            if positives
            else None
        ),
    }


def panel(claim: dict, holdout: dict, holdout_at_0_5: dict) -> dict:
    """The leaky claim and the same leaky model at the real prevalence, beside the honest
    holdout figures; the inflation between claim and honest, split into the part due to the
    test part's prevalence (claim minus real rows) and the part due to leakage (real rows minus
    honest)."""
    if claim.get("skipped"):
        return {"skipped": claim["skipped"]}
    (tn, fp), (fn, tp) = holdout["confusion_matrix"]
    honest = {
        "pr_auc": holdout["pr_auc"],
        "f1_at_0_5": holdout_at_0_5["f1"],
        "prevalence": (fn + tp) / (tn + fp + fn + tp),
    }
    real = claim.get("real_rows") or {}
    inflation = {}
    for name in ("pr_auc", "f1_at_0_5"):
        value, same = honest[name], real.get(name)
        if value is None or claim.get(name) is None:
            continue
        inflation[name] = {
            "points": claim[name] - value,
            "relative": (claim[name] - value) / value if value > 0 else None,
            "prevalence": None if same is None else claim[name] - same,
            "leakage": None if same is None else same - value,
        }
    claimed = {"prevalence": claim["test_positives"] / claim["test_rows"]}
    return {
        "counterfactual": claim | claimed,
        "same_prevalence": real,
        "honest": honest,
        "inflation": inflation,
    }


# --- a feature that may leak the target ----------------------------------------------------------


def rank_auc(y: np.ndarray, values: np.ndarray) -> float:
    """ROC-AUC of `values` for 0/1 `y` from average ranks (Mann-Whitney), ties counted half.

    The same number as scikit-learn's `roc_auc_score`, from one sort instead of a ROC curve:
    at 800k rows, 0.18 s a feature instead of 0.45 s, on the run's critical path.
    """
    positive = y == 1
    n_pos = int(positive.sum())
    n_neg = len(y) - n_pos
    ranks = stats.rankdata(values)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@checks.gate("leak_suspects")
def leak_suspects(
    train: pd.DataFrame,
    schema: dict,
    near_perfect: float = 0.95,
    dominant: float = 0.8,
    lead: float = 0.05,
) -> Gate:
    """A feature that ranks the target (almost) alone may only be known after the outcome.

    Warns when one feature's single-feature ROC-AUC is near perfect, or when it is high and
    clearly ahead of every other feature (bank_marketing's call `duration`: 0.82 vs 0.75).
    """
    y = train[LABEL].to_numpy()
    scores = {}
    for column in schema["numeric"]:
        values = pd.to_numeric(train[column], errors="coerce")
        values = values.fillna(values.median()).to_numpy()
        auc = rank_auc(y, values)
        scores[str(column)] = max(auc, 1 - auc)
    for column in schema["categorical"]:
        codes = preprocess.category_text(train[column])
        # Rare levels are pooled: their in-sample target rate would fake a perfect ranking.
        counts = codes.map(codes.value_counts())
        codes = codes.where(counts >= 20, "__rare__")
        rate = train.groupby(codes)[LABEL].mean()
        scores[str(column)] = rank_auc(y, codes.map(rate).to_numpy(dtype=float))
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    top = {c: round(float(v), 4) for c, v in ranked[:3]}
    best, auc = ranked[0]
    # "Dominates" compares features: with a single feature there is nothing to dominate.
    runner_up = ranked[1][1] if len(ranked) > 1 else auc
    if auc >= near_perfect:
        return fail(
            "leak_suspects",
            f"feature {best!r} alone separates the classes (ROC-AUC {auc:.3f}); check "
            "it is known before the outcome, or drop it",
            severity=WARN,
            top=top,
        )
    if auc >= dominant and auc - runner_up >= lead:
        return fail(
            "leak_suspects",
            f"feature {best!r} dominates (ROC-AUC {auc:.3f} alone, next best "
            f"{runner_up:.3f}); make sure it is known at prediction time, or drop it",
            severity=WARN,
            top=top,
        )
    return ok(
        "leak_suspects", f"no single feature dominates (best {best!r}, ROC-AUC {auc:.3f})", top=top
    )
