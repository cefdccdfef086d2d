"""The balanced-bagging plan: how many members, which rows each draws, how each boosts.

Every member sees every minority row and its own draw of majority rows (EasyEnsemble's
scheme), the classes read from the counts (`balance`): with a majority positive label the
members draw positives. The ladder's `balanced_bagging` rung fits one LightGBM model per member
(`model.fit_bagged`).
"""

from __future__ import annotations

import numpy as np

from imbal_pipeline.core.train.balance import balance_of, class_counts

BAG_MEMBERS = 10  # imblearn's BalancedBaggingClassifier and EasyEnsembleClassifier default
# Each member boosts a third of the rounds at three times the learning rate: the same step
# budget, measured by benchmarks/bagging.py over 33 splits as holdout PR-AUC +0.0006 (SE 0.0011)
# for a third of the CPU; at 1M rows the full rounds cost 60 s of each fold's 160 s.
BAG_ROUNDS_SHARE = 3


def bag_member_fit(n_estimators: int, learning_rate: float) -> tuple[int, float]:
    """Boosting rounds and learning rate of one balanced-bagging member."""
    rounds = max(1, round(n_estimators / BAG_ROUNDS_SHARE))
    return rounds, min(1.0, learning_rate * n_estimators / rounds)


def bag_size(n_minority: int, n_majority: int, ratio: float) -> int:
    """Majority rows each bagged member draws: enough for minority/majority = `ratio`."""
    return min(n_majority, int(np.ceil(n_minority / ratio)))


def bag_members(y: np.ndarray, ratio: float, seed: int) -> list[np.ndarray]:
    """Row positions of each balanced-bagging member: every minority row and its own draw of
    majority rows without replacement (EasyEnsemble's scheme), sorted; seeded per member."""
    y = np.asarray(y)
    classes = balance_of(class_counts(y))
    minority = np.flatnonzero(y == int(classes.minority))
    majority = np.flatnonzero(y == int(classes.majority))
    size = bag_size(len(minority), len(majority), ratio)
    if size >= len(majority):  # every member would see the same rows: one is enough
        return [np.arange(len(y))]
    members = []
    for i in range(BAG_MEMBERS):
        drawn = np.random.default_rng([seed, i]).choice(majority, size=size, replace=False)
        members.append(np.sort(np.concatenate([minority, drawn])))
    return members
