"""Which class a resampler rebalances: the minority and the majority, read from the counts.

The ladder rebalances class sizes, whichever class is positive. With a confirmed majority
positive label (thyroid_sick with `--positive-label 0`) the negatives are the minority: SMOTE
makes negatives, undersampling drops positives and each bagged member draws from the
positives, as imbalanced-learn reads a float `sampling_strategy` (minority over majority by
count). Only the ratio promised is about sizes; the score is still the positive's probability.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

NEGATIVE, POSITIVE = "0", "1"  # the classes as audits key their counts


def class_counts(y: np.ndarray) -> dict[str, int]:
    """Rows per class, keyed as audits key them."""
    y = np.asarray(y)
    return {NEGATIVE: int((y == 0).sum()), POSITIVE: int((y == 1).sum())}


@dataclass(frozen=True)
class Balance:
    """The two classes of a portion by size."""

    minority: str  # "0" or "1"; the positive on a tie, as in a rare-positive product
    majority: str
    n_minority: int
    n_majority: int

    @property
    def ratio(self) -> float:
        """Minority/majority: at most 1; infinite only for a portion with no rows."""
        return self.n_minority / self.n_majority if self.n_majority else float("inf")

    def describe(self) -> str | None:
        """Said in a resampler's audit when the minority is not the positive class, else None."""
        if self.minority == POSITIVE:
            return None
        return (
            f"the positives are the majority here ({self.n_majority:,} to {self.n_minority:,} "
            "negatives), so the negatives are the minority it rebalanced"
        )


def balance_of(counts: Mapping[str, int]) -> Balance:
    """The minority and majority of rows counted as `class_counts` counts them."""
    n_neg, n_pos = int(counts[NEGATIVE]), int(counts[POSITIVE])
    if n_neg < n_pos:
        return Balance(NEGATIVE, POSITIVE, n_neg, n_pos)
    return Balance(POSITIVE, NEGATIVE, n_pos, n_neg)
