"""The noise of a cross-validated figure: one standard error of a per-fold mean, corrected for
the folds' overlapping training portions.

K-fold training portions share (K-2)/(K-1) of their rows, so per-fold figures are positively
correlated and the plain SD/sqrt(K) is too small. Nadeau & Bengio (2003) widen the variance of
the mean from 1/K to 1/K + n_validation/n_training, which for K-fold is 1/K + 1/(K-1) (about
1.5x the plain SE at K = 5). The strategy ladder, the threshold's check against 0.5 and the
CV-versus-holdout warning all read their noise from here.
"""

from __future__ import annotations

import math


def corrected_se(std: float, folds: int) -> float:
    """Corrected standard error of the mean of `folds` per-fold values whose SD (ddof=1) is
    `std`; infinite with fewer than two folds (no noise estimate, so nothing beats it)."""
    if folds < 2:
        return math.inf
    return float(std) * math.sqrt(1.0 / folds + 1.0 / (folds - 1))
