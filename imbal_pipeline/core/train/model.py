"""LightGBM fit and predict; models travel as LightGBM's own text format.

A model is one `lightgbm.Booster`, or a `Bagged` ensemble of them (the balanced-bagging rung),
whose text is its members' LightGBM texts behind a one-line JSON header.
"""

from __future__ import annotations

import dataclasses
import json
import weakref
from collections.abc import Sequence

import lightgbm as lgb
import numpy as np
import pandas as pd

from imbal_pipeline.core.settings import Settings
from imbal_pipeline.core.train import fast_scoring
from imbal_pipeline.core.train.bagging import bag_member_fit
from imbal_pipeline.core.train.preprocess import BatchColumns, Preprocessor, fingerprint


def lgbm_params(
    settings: Settings, scale_pos_weight: float | None, seed: int | None = None
) -> dict:
    """LightGBM parameters for one fit; threads stay at the configured count."""
    params = {
        "objective": "binary",
        "learning_rate": settings.learning_rate,
        "num_leaves": settings.num_leaves,
        "min_data_in_leaf": 20,
        "feature_fraction": 0.9,
        # Starting from the base rate (log-odds of ~1:3000 is about -8) made LightGBM's Newton
        # steps rank positives *below* negatives after a few trees on kdd99_smtp (holdout PR-AUC
        # 0.000); starting from 0 fixed it there (0.73) and changed no other shared dataset by
        # more than 0.004 (mean over 11 datasets x 3 seeds: 0.788 -> 0.857). See BENCHMARKS.md.
        "boost_from_average": False,
        "seed": settings.seed if seed is None else seed,
        "num_threads": settings.lgbm_threads,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }
    if scale_pos_weight is not None:
        params["scale_pos_weight"] = float(scale_pos_weight)
    return params


def fit_lgbm(
    X: np.ndarray,
    y: np.ndarray,
    row_ids: np.ndarray,
    *,
    settings: Settings,
    cat_idx: list[int],
    scale_pos_weight: float | None = None,
    seed: int | None = None,
) -> tuple[lgb.Booster, dict]:
    """Fit one booster; `row_ids` (negative for synthetic rows) are recorded, not used."""
    params = lgbm_params(settings, scale_pos_weight, seed)
    dataset = lgb.Dataset(
        X,
        label=y,
        categorical_feature=cat_idx or "auto",
        free_raw_data=True,
        params={"verbosity": -1},
    )
    # keep_training_booster: LightGBM would otherwise round-trip the new model through its text
    # (about 40 ms for 300 trees), which `model_text` makes once anyway when the model is stored.
    booster = lgb.train(
        params, dataset, num_boost_round=settings.n_estimators, keep_training_booster=True
    )
    real = np.asarray(row_ids)[np.asarray(row_ids) >= 0]
    info = {
        "rows": int(len(y)),
        "positives": int(np.sum(y)),
        "synthetic_rows": int(np.sum(np.asarray(row_ids) < 0)),
        "real_row_ids_sha256": fingerprint(real),
        "scale_pos_weight": scale_pos_weight,
        "num_trees": int(booster.num_trees()),
        "params": params,
    }
    return booster, info


def fit_bagged(
    X: np.ndarray,
    y: np.ndarray,
    row_ids: np.ndarray,
    members: list[np.ndarray],
    *,
    settings: Settings,
    cat_idx: list[int],
) -> tuple[Bagged, dict]:
    """One booster per member's rows, each with its own LightGBM seed (seed + member), each
    boosting `bagging.bag_member_fit` rounds."""
    rounds, rate = bag_member_fit(settings.n_estimators, settings.learning_rate)
    settings = dataclasses.replace(settings, n_estimators=rounds, learning_rate=rate)
    boosters, infos = [], []
    for i, rows in enumerate(members):
        booster, info = fit_lgbm(
            X[rows],
            y[rows],
            row_ids[rows],
            settings=settings,
            cat_idx=cat_idx,
            seed=settings.seed + i,
        )
        boosters.append(booster)
        infos.append(info)
    bagged = Bagged(boosters)
    info = {
        "rows": int(sum(i["rows"] for i in infos)),
        "positives": int(sum(i["positives"] for i in infos)),
        "synthetic_rows": 0,
        "real_row_ids_sha256": fingerprint(row_ids[np.unique(np.concatenate(members))]),
        "scale_pos_weight": None,
        "num_trees": bagged.num_trees(),
        "params": infos[0]["params"] | {"seed": [i["params"]["seed"] for i in infos]},
        "members": [{k: i[k] for k in ("rows", "positives", "real_row_ids_sha256")} for i in infos],
    }
    return bagged, info


def predict(model: Fitted, X: np.ndarray, num_threads: int | None) -> np.ndarray:
    """Positive-class scores in [0, 1], computed on `num_threads` threads.

    The count is required: told nothing, LightGBM predicts on every core whatever the model was
    fitted with, and a step scoring beside another would break the one-thread rule. None (a
    caller's own `Bagged.predict(X)`, as `Booster.predict(X)`) leaves LightGBM's default.
    A booster given its compiled trees (`fast_scoring.prepare`) is scored by them: the same
    probabilities, bit for bit.
    """
    fast = None if num_threads is None else fast_scoring.predict(model, X, num_threads)
    if fast is not None:
        return fast
    return np.asarray(model.predict(X, num_threads=num_threads), dtype=np.float64)


def score_rows(
    model: Fitted, preprocessor: dict, frame: pd.DataFrame | BatchColumns, num_threads: int
) -> np.ndarray:
    """Scores for raw rows. A fold bag sends each member through the preprocessing of the fold
    it was fitted in; any other model goes through `preprocessor`."""
    if isinstance(model, Bagged) and model.inputs is not None:
        return np.mean(member_scores(model, preprocessor, frame, num_threads), axis=0)
    X = Preprocessor.from_json(preprocessor).transform(frame, order="F")
    return predict(model, X, num_threads)


def member_scores(
    model: Fitted, preprocessor: dict, frame: pd.DataFrame | BatchColumns, num_threads: int
) -> np.ndarray:
    """Each fold-bag member's scores (members x rows), whose mean is the bag's score; one row
    of the model's own scores for any other model. Monitoring compares the members with their
    out-of-fold scores."""
    if isinstance(model, Bagged) and model.inputs is not None:
        # The members' preprocessing differ (each fitted in its fold) but read the same
        # columns: each column is converted once, for all of them.
        columns = frame if isinstance(frame, BatchColumns) else BatchColumns(frame)
        members = zip(model.members, model.inputs, strict=True)
        return np.array([score_rows(m, p, columns, num_threads) for m, p in members])
    return score_rows(model, preprocessor, frame, num_threads)[None, :]


BAGGED_FORMAT = "imbal_pipeline.bagged/1"


class Bagged:
    """Several models whose positive-class probabilities are averaged.

    The members of the balanced-bagging rung share their input; the members of a fold bag (the
    deployed model: one per cross-validation fold) each carry the preprocessing fitted in their
    fold, as `inputs`, and are scored from raw rows (`score_rows`). Members may be bagged
    themselves. The interface is the slice of `lightgbm.Booster` the product uses.
    """

    def __init__(self, members: Sequence[Fitted], inputs: list[dict] | None = None):
        if not members:
            raise ValueError("a bagged model needs at least one member")
        if inputs is not None and len(inputs) != len(members):
            raise ValueError("a fold bag needs one preprocessing per member")
        self.members = list(members)
        self.inputs = inputs

    def predict(self, X: np.ndarray, num_threads: int | None = None) -> np.ndarray:
        if self.inputs is not None:
            raise ValueError("a fold bag's members read different columns; use score_rows")
        return np.mean([predict(m, X, num_threads) for m in self.members], axis=0)

    def num_trees(self) -> int:
        return sum(m.num_trees() for m in self.members)

    def model_to_string(self) -> str:
        texts = [model_text(m) for m in self.members]
        header = {"format": BAGGED_FORMAT, "lengths": [len(t) for t in texts]}
        if self.inputs is not None:
            header["inputs"] = self.inputs
        return "\n".join([json.dumps(header, allow_nan=False), *texts])


Fitted = lgb.Booster | Bagged


def is_model(value) -> bool:
    return isinstance(value, (lgb.Booster, Bagged))


# A model's text, made once: a fitted model is never changed, and its text is needed to hash it
# (its data version), to store it and to check it on load, about 20 ms each time for 300 trees.
_TEXTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def model_text(model: Fitted) -> str:
    """The model's text (`model_to_string`), made once per model."""
    known = _TEXTS.get(model)
    if known is None:
        known = _TEXTS[model] = model.model_to_string()
    return known


def from_text(text: str) -> Fitted:
    """Inverse of `model_to_string` for any model; the model remembers the text it came from."""
    first, _, rest = text.partition("\n")
    model: Fitted
    if not first.startswith("{"):
        model = lgb.Booster(model_str=text)
    else:
        header = json.loads(first)
        if header.get("format") != BAGGED_FORMAT:
            raise ValueError(f"unknown model format {header.get('format')!r}")
        members, start = [], 0
        for length in header["lengths"]:
            members.append(from_text(rest[start : start + length]))
            start += length + 1
        model = Bagged(members, header.get("inputs"))
    _TEXTS[model] = text
    return model
