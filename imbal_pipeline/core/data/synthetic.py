"""Fraud-like tabular data with a rare, overlapping positive class and small disjuncts."""

from __future__ import annotations

import numpy as np
import pandas as pd

TARGET = "is_fraud"
NUMERIC_COLUMNS: tuple[str, ...] = (
    "amount",
    "hour",
    "distance_km",
    "velocity_1h",
    "account_age_days",
    "n_prev_tx",
    "amount_vs_avg",
    "risk_score",
)
CATEGORICAL_COLUMNS: tuple[str, ...] = ("merchant_category", "channel", "card present")
SUBGROUP_COLUMN = "region"
MISSING_COLUMNS: tuple[str, ...] = ("distance_km", "account_age_days")

MERCHANT_CATEGORIES: tuple[str, ...] = (
    "grocery",
    "fuel",
    "restaurants",
    "travel",
    "electronics",
    "online_retail",
    "entertainment",
    "gambling",
)
CHANNELS: tuple[str, ...] = ("web", "pos", "app")
REGIONS: tuple[str, ...] = ("north", "south", "east", "west")

# Level probabilities as (negative, positive): only a mild tilt, so categoricals help a
# model without giving the label away.
_MERCHANT_P = (
    (0.24, 0.14, 0.18, 0.06, 0.10, 0.16, 0.09, 0.03),
    (0.18, 0.11, 0.15, 0.09, 0.14, 0.20, 0.08, 0.05),
)
_CHANNEL_P = ((0.35, 0.45, 0.20), (0.45, 0.30, 0.25))
_REGION_P = ((0.30, 0.25, 0.25, 0.20), (0.24, 0.26, 0.30, 0.20))

ISLAND_SHARE = 0.2
MISSING_RATE = 0.02


# Columns of a generated frame (its features and the target): part of what sizes a run on it.
COLUMNS = 13


def make_fraud_data(
    n_rows: int = 50_000, positive_rate: float = 0.01, seed: int = 0
) -> pd.DataFrame:
    """Generate a fraud-like frame; the same seed always gives the same frame.

    Exactly ``round(n_rows * positive_rate)`` rows (at least one) have ``is_fraud == 1``.
    About 80 % of them overlap the negatives; the rest form three small, tight islands.
    """
    if n_rows < 2:
        raise ValueError(f"n_rows must be at least 2, got {n_rows}")
    if not 0.0 < positive_rate < 1.0:
        raise ValueError(f"positive_rate must be in (0, 1), got {positive_rate}")
    rng = np.random.default_rng(seed)

    n_pos = min(max(1, round(n_rows * positive_rate)), n_rows - 1)
    n_island = round(ISLAND_SHARE * n_pos)
    island_sizes = [n_island // 3 + (i < n_island % 3) for i in range(3)]
    n_main = n_pos - n_island

    shift = np.concatenate([np.zeros(n_rows - n_pos), np.ones(n_main)])
    parts = [
        _overlapping_rows(rng, shift),
        _card_testing_island(rng, island_sizes[0]),
        _night_gambling_island(rng, island_sizes[1]),
        _big_travel_island(rng, island_sizes[2]),
    ]
    columns = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    columns["amount_vs_avg"] = columns["amount"] / rng.lognormal(3.6, 0.7, n_rows)
    target = np.zeros(n_rows, dtype=np.int64)
    target[n_rows - n_pos :] = 1

    # One permutation for every column keeps rows intact while hiding the class blocks.
    order = rng.permutation(n_rows)
    frame = pd.DataFrame(
        {
            **{name: columns[name][order].astype(np.float64) for name in NUMERIC_COLUMNS},
            "merchant_category": columns["merchant_category"][order],
            "channel": columns["channel"][order],
            "card present": columns["card present"][order],
            SUBGROUP_COLUMN: columns[SUBGROUP_COLUMN][order],
            TARGET: target[order],
        }
    )
    # Missing completely at random, so imputation cannot leak the label.
    for name in MISSING_COLUMNS:
        frame.loc[rng.random(n_rows) < MISSING_RATE, name] = np.nan
    return frame


def _pick(rng: np.random.Generator, levels: tuple[str, ...], probs, shift: np.ndarray):
    """Draw one level per row, using the positive probabilities where ``shift`` is 1."""
    cum_neg, cum_pos = (np.cumsum(p) for p in probs)
    cum = np.where(shift[:, None] > 0, cum_pos, cum_neg)
    # Clip guards against the last cumulative sum landing just below 1.0.
    idx = np.minimum((rng.random(len(shift))[:, None] > cum).sum(axis=1), len(levels) - 1)
    return np.asarray(levels, dtype=object)[idx]


def _overlapping_rows(rng: np.random.Generator, shift: np.ndarray) -> dict[str, np.ndarray]:
    """Negatives (shift 0) and main-mass positives (shift 1), moderately apart."""
    n = len(shift)
    amount = rng.lognormal(3.6 + 1.0 * shift, 1.0)
    night = rng.random(n) < 0.12 + 0.18 * shift
    hour = np.where(night, rng.normal(2.5, 2.0, n), rng.normal(14.0, 4.0, n))
    account_age = rng.exponential(900.0 * (1.0 - 0.35 * shift)) + 1.0
    channel = _pick(rng, CHANNELS, _CHANNEL_P, shift)
    # Card presence follows channel (only point-of-sale can see the card), which keeps
    # the two columns correlated the way real data is.
    p_present = np.where(channel == "pos", 0.92 - 0.2 * shift, 0.03)
    return {
        "amount": amount,
        "hour": np.floor(hour) % 24,
        "distance_km": rng.lognormal(1.8 + 0.7 * shift, 1.1),
        # Poisson over a gamma rate gives the over-dispersed counts seen in transaction logs.
        "velocity_1h": rng.poisson(rng.gamma(2.0, 0.8 * (1.0 + 0.8 * shift))),
        "account_age_days": account_age,
        "n_prev_tx": rng.poisson(account_age * rng.gamma(2.0, 0.05, n)),
        "risk_score": _sigmoid(rng.normal(-1.5 + 1.7 * shift, 1.0)),
        "merchant_category": _pick(rng, MERCHANT_CATEGORIES, _MERCHANT_P, shift),
        "channel": channel,
        "card present": np.where(rng.random(n) < p_present, "yes", "no").astype(object),
        SUBGROUP_COLUMN: _pick(rng, REGIONS, _REGION_P, shift),
    }


def _card_testing_island(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Many tiny online charges in one hour: a fraudster probing a stolen card."""
    account_age = rng.exponential(600.0, n) + 1.0
    return {
        "amount": rng.lognormal(0.4, 0.25, n),
        "hour": np.floor(rng.uniform(0, 24, n)),
        "distance_km": rng.lognormal(1.8, 1.0, n),
        "velocity_1h": rng.poisson(25.0, n),
        "account_age_days": account_age,
        "n_prev_tx": rng.poisson(account_age * 0.1),
        # A low vendor score makes this island invisible to the main-mass signal.
        "risk_score": _sigmoid(rng.normal(-2.5, 0.3, n)),
        "merchant_category": _const("online_retail", n),
        "channel": _const("web", n),
        "card present": _const("no", n),
        SUBGROUP_COLUMN: _island_region(rng, n, "east"),
    }


def _night_gambling_island(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Brand-new accounts gambling at 2-3 a.m."""
    return {
        "amount": rng.lognormal(5.5, 0.2, n),
        "hour": rng.integers(2, 4, n).astype(np.float64),
        "distance_km": rng.lognormal(1.5, 0.5, n),
        "velocity_1h": rng.poisson(1.0, n),
        "account_age_days": rng.uniform(0.2, 3.0, n),
        "n_prev_tx": rng.poisson(0.5, n),
        "risk_score": _sigmoid(rng.normal(-1.0, 0.3, n)),
        "merchant_category": _const("gambling", n),
        "channel": _const("app", n),
        "card present": _const("no", n),
        SUBGROUP_COLUMN: _island_region(rng, n, "south"),
    }


def _big_travel_island(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Very old, trusted accounts buying expensive travel far from home, card in hand."""
    account_age = rng.normal(3200.0, 100.0, n)
    return {
        "amount": rng.lognormal(8.3, 0.15, n),
        "hour": np.floor(rng.normal(11.0, 1.0, n)) % 24,
        "distance_km": rng.lognormal(8.5, 0.1, n),
        "velocity_1h": rng.poisson(0.5, n),
        "account_age_days": account_age,
        "n_prev_tx": rng.poisson(account_age * 0.1),
        "risk_score": _sigmoid(rng.normal(-2.5, 0.3, n)),
        "merchant_category": _const("travel", n),
        "channel": _const("pos", n),
        "card present": _const("yes", n),
        SUBGROUP_COLUMN: _island_region(rng, n, "west"),
    }


def _island_region(rng: np.random.Generator, n: int, home: str) -> np.ndarray:
    """Mostly one region, so subgroup metrics see the island unevenly."""
    others = [r for r in REGIONS if r != home]
    stray = np.asarray(others, dtype=object)[rng.integers(0, len(others), n)]
    return np.where(rng.random(n) < 0.7, home, stray).astype(object)


def _const(value: str, n: int) -> np.ndarray:
    return np.full(n, value, dtype=object)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
