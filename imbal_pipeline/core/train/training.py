"""Per-fold training sets and models, and the final refit: the science behind the fan-out."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from imbal_pipeline.core.data import split
from imbal_pipeline.core.settings import FOLD, LABEL, ROW_ID, SCORE, STRATEGY, Settings
from imbal_pipeline.core.train import model as model_core
from imbal_pipeline.core.train import preprocess, strategies
from imbal_pipeline.core.values import Bag, FoldModels, FoldSets


def feature_columns(n: int) -> list[str]:
    """Internal feature names; readable names live in the preprocessor's JSON."""
    return [f"f{i}" for i in range(n)]


def _frame(row_ids: np.ndarray, y: np.ndarray, X: np.ndarray) -> pd.DataFrame:
    out = pd.DataFrame(X, columns=feature_columns(X.shape[1]))
    out.insert(0, LABEL, np.asarray(y).astype(np.int8))
    out.insert(0, ROW_ID, np.asarray(row_ids, dtype=np.int64))
    return out


def limit_threads(fn):
    """Cap BLAS/OpenMP pools at the configured threads, so steps x threads <= cores holds
    for the samplers' neighbour searches too, not only for LightGBM."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        settings = kwargs.get("settings") or next(a for a in args if isinstance(a, Settings))
        with threadpool_limits(limits=settings.lgbm_threads):
            return fn(*args, **kwargs)

    return wrapper


def resample(
    X: np.ndarray,
    y: np.ndarray,
    ids: np.ndarray,
    strategy: str,
    settings: Settings,
    cat_idx: list[int],
) -> strategies.Resampled:
    """`strategies.resample` with the run's seed, sampling ratio and SMOTEENN size limit."""
    return strategies.resample(
        X,
        y,
        ids,
        strategy,
        seed=settings.seed,
        ratio=settings.sampling_ratio,
        smoteenn_max_rows=settings.smoteenn_max_rows,
        cat_idx=cat_idx,
    )


@limit_threads
def build_fold_training_sets(
    train: pd.DataFrame, folds: pd.DataFrame, fold: int, schema: dict, settings: Settings
) -> FoldSets:
    """Preprocess and resample one fold's training portion; its validation rows stay as they are.

    The preprocessor is fitted on the fold's training rows only and merely applied to the
    validation rows; every strategy resamples the training portion only.
    """
    in_val = train[ROW_ID].map(folds.set_index(ROW_ID)[FOLD]).to_numpy() == fold
    usable, sample = split.fitting_rows(train, settings.max_negatives, settings.seed)
    fit_rows, val_rows = train[~in_val & usable], train[in_val]
    fit_ids = fit_rows[ROW_ID].to_numpy()
    pre = preprocess.fit_preprocessor(fit_rows, schema, fit_ids)
    X_fit, y_fit = pre.transform(fit_rows), fit_rows[LABEL].to_numpy()
    X_val = pre.transform(val_rows)
    membership, synthetic = [], []
    audits: dict[str, dict] = {}
    for name in settings.strategies:
        result = resample(X_fit, y_fit, fit_ids, name, settings, pre.categorical_indices)
        audits[name] = result.audit | {
            "fold": fold,
            "scale_pos_weight": result.scale_pos_weight,
            "fitting_rows": sample,
        }
        if result.skipped:
            continue
        membership.append(pd.DataFrame({STRATEGY: name, ROW_ID: result.kept_row_ids}))
        if len(result.synthetic_y):
            # Negative ids can never collide with a real row id (those are >= 0).
            ids = -np.arange(1, len(result.synthetic_y) + 1, dtype=np.int64)
            syn = _frame(ids, result.synthetic_y, result.synthetic_X)
            syn.insert(0, STRATEGY, name)
            synthetic.append(syn)
    empty_syn = _frame(np.empty(0), np.empty(0), np.empty((0, X_fit.shape[1])))
    empty_syn.insert(0, STRATEGY, pd.Series(dtype="string"))
    return FoldSets(
        fold=fold,
        train=_frame(fit_ids, y_fit, X_fit),
        validation=_frame(val_rows[ROW_ID].to_numpy(), val_rows[LABEL].to_numpy(), X_val),
        membership=pd.concat(membership, ignore_index=True),
        synthetic=pd.concat(synthetic, ignore_index=True) if synthetic else empty_syn,
        preprocessor=pre.to_json(),
        audits=audits,
    )


def resampled_rows(
    X: np.ndarray, y: np.ndarray, ids: np.ndarray, result: strategies.Resampled
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows a strategy's model fits on: the originals it kept, then its synthetic rows
    (with negative ids, which no real row has)."""
    keep = np.isin(ids, result.kept_row_ids)
    return (
        np.vstack([X[keep], result.synthetic_X]),
        np.concatenate([y[keep], result.synthetic_y]),
        np.concatenate([ids[keep], -np.arange(1, len(result.synthetic_y) + 1)]),
    )


def fit_strategy(
    strategy: str,
    X: np.ndarray,
    y: np.ndarray,
    ids: np.ndarray,
    *,
    settings: Settings,
    cat_idx: list[int],
    scale_pos_weight: float | None = None,
) -> tuple[model_core.Fitted, dict]:
    """The one place a ladder strategy's model is fitted, on the rows its resampling left."""
    if strategy == strategies.BAGGING:
        members = strategies.bag_members(y, settings.sampling_ratio, settings.seed)
        return model_core.fit_bagged(X, y, ids, members, settings=settings, cat_idx=cat_idx)
    return model_core.fit_lgbm(
        X, y, ids, settings=settings, cat_idx=cat_idx, scale_pos_weight=scale_pos_weight
    )


def strategy_rows(sets: FoldSets, strategy: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The training rows one strategy fits on: kept originals then synthetic rows."""
    features = [c for c in sets.train.columns if c not in (ROW_ID, LABEL)]
    kept = sets.membership.loc[sets.membership[STRATEGY] == strategy, ROW_ID]
    base = sets.train.set_index(ROW_ID).loc[kept.to_numpy()]
    syn = sets.synthetic[sets.synthetic[STRATEGY] == strategy]
    X = np.vstack([base[features].to_numpy(), syn[features].to_numpy()])
    y = np.concatenate([base[LABEL].to_numpy(), syn[LABEL].to_numpy()])
    ids = np.concatenate([kept.to_numpy(), syn[ROW_ID].to_numpy()])
    return X, y, ids


@limit_threads
def fit_fold_models(
    sets: FoldSets, settings: Settings, rungs: tuple[str, ...] | None = None
) -> FoldModels:
    """One booster per strategy on the fold's training rows; scores for its validation rows.

    `rungs` limits the fits to those of the run's strategies (all of them by default); the
    result names them in `strategies`, fitted or skipped.
    """
    names: list[str] = [n for n in settings.strategies if rungs is None or n in rungs]
    pre = preprocess.Preprocessor.from_json(sets.preprocessor)
    val = sets.validation
    features = [c for c in val.columns if c not in (ROW_ID, LABEL)]
    X_val = val[features].to_numpy()
    models: dict[str, model_core.Fitted] = {}
    fit_info: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    oof = []
    for name in names:
        audit = sets.audits[name]
        if audit.get("skipped"):
            skipped[name] = audit["skipped"]
            continue
        X, y, ids = strategy_rows(sets, name)
        booster, info = fit_strategy(
            name,
            X,
            y,
            ids,
            settings=settings,
            cat_idx=pre.categorical_indices,
            scale_pos_weight=audit.get("scale_pos_weight"),
        )
        models[name], fit_info[name] = booster, info
        oof.append(
            pd.DataFrame(
                {
                    ROW_ID: val[ROW_ID].to_numpy(),
                    STRATEGY: name,
                    FOLD: sets.fold,
                    LABEL: val[LABEL].to_numpy(),
                    SCORE: model_core.predict(booster, X_val, settings.lgbm_threads),
                }
            )
        )
    return FoldModels(
        fold=sets.fold,
        strategies=names,
        models=models,
        oof=pd.concat(oof, ignore_index=True) if oof else _no_scores(),
        fit_info=fit_info,
        skipped=skipped,
        audits=sets.audits,
        # A fold bag member reads rows through the preprocessing of its own fold.
        preprocessor=sets.preprocessor,
    )


def unscored_reason(fitted: FoldModels) -> str | None:
    """Why a fold step has no out-of-fold scores, in words; None when it fitted something.

    A valid value, not a failure: none of its rungs is in the run, or each was skipped (a
    categorical column rules BorderlineSMOTE out), and the comparison reports each as such.
    """
    if fitted.models:
        return None
    if not fitted.strategies:
        return "none of this step's strategies is in the run"
    reasons = "; ".join(f"{name} skipped: {why}" for name, why in fitted.skipped.items())
    return f"no strategy of this step was fitted in fold {fitted.fold} ({reasons})"


def _no_scores() -> pd.DataFrame:
    """The out-of-fold frame of a step that fitted nothing (see `unscored_reason`)."""
    return pd.DataFrame(
        {
            ROW_ID: np.empty(0, np.int64),
            STRATEGY: pd.Series([], dtype="str"),
            FOLD: np.empty(0, np.int64),
            LABEL: np.empty(0, np.int8),
            SCORE: np.empty(0, np.float64),
        }
    )


def parts_with(parts: list[FoldModels], strategy: str) -> list[FoldModels]:
    """Of the fold model steps' results, the one per fold that was to fit `strategy`."""
    mine = [p for p in parts if strategy in p.strategies]
    folds = [p.fold for p in mine]
    if len(set(folds)) != len(folds):
        raise ValueError(f"strategy {strategy} was fitted twice in fold(s) {sorted(folds)}")
    return mine


def fold_bag(
    fold_models: list[FoldModels],
    strategy: str,
    train: pd.DataFrame,
    schema: dict,
    settings: Settings,
) -> Bag:
    """The deployed model: the strategy's K fold models, their probabilities averaged.

    Its threshold is then tuned on exactly its members' out-of-fold scores, which a model
    refitted on all training rows never had (`benchmarks/transfer.py` measured both). Each
    member reads rows through the preprocessing fitted in its fold; the preprocessing fitted
    on the whole training split describes the columns for checks and monitoring only.
    """
    ordered = sorted(fold_models, key=lambda m: m.fold)
    lacking = [m.fold for m in ordered if strategy not in m.models]
    if lacking:
        raise ValueError(f"strategy {strategy} has no model in fold(s) {lacking}")
    model = model_core.Bagged(
        [m.models[strategy] for m in ordered], [m.preprocessor for m in ordered]
    )
    usable, sample = split.fitting_rows(train, settings.max_negatives, settings.seed)
    rows = train[usable]
    pre = preprocess.fit_preprocessor(rows, schema, rows[ROW_ID].to_numpy())
    counts = {"0": int((rows[LABEL] == 0).sum()), "1": int((rows[LABEL] == 1).sum())}
    steps = [
        {
            "step": "FoldBag",
            "params": {
                "members": len(ordered),
                "aggregation": "mean of member probabilities",
                "member_preprocessing": "fitted in each member's own fold",
            },
        }
    ]
    for m in ordered:
        for step in m.audits[strategy]["steps"]:
            steps.append({"step": f"fold {m.fold}: {step['step']}", "params": step["params"]})
    audit = {
        "strategy": strategy,
        "seed": settings.seed,
        "steps": steps,
        "rows_before": counts,
        "rows_after": counts,
        "synthetic_rows": sum(m.fit_info[strategy]["synthetic_rows"] for m in ordered),
        "removed_rows": 0,
        "note": f"the {len(ordered)} fold models of {strategy}; no model was refitted",
        "skipped": None,
        "fitted_on_rows": int(len(rows)),
        "fitting_rows": sample,
    }
    info = {
        "num_trees": model.num_trees(),
        "members": [m.fit_info[strategy] for m in ordered],
    }
    return Bag(
        strategy=strategy, model=model, preprocessor=pre.to_json(), audit=audit, fit_info=info
    )
