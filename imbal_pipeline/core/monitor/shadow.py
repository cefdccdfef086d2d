"""Shadow scoring: a waiting challenger scores a batch beside the champion, and is never served.

What the batch's page and metadata show: how many rows each would flag, and on how many rows
their decisions differ. A challenger that cannot score the batch (a feature it needs is absent)
says so instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from imbal_pipeline.core.data.data import DataError


def shadow_scores(
    challenger, frame: pd.DataFrame, served: pd.DataFrame
) -> tuple[dict, pd.DataFrame | None]:
    """The challenger's summary beside the champion's decisions (`served`, as `score_batch`
    wrote them), and its own scores (None when it cannot score the batch)."""
    try:
        scores = challenger.scores(frame)
    except DataError as exc:
        return {"version": challenger.version, "note": str(exc)}, None
    decision = (scores >= challenger.threshold).astype(np.int8)
    ids = served.columns[0]  # the id column, or the row number
    out = pd.DataFrame({ids: served[ids].to_numpy(), "score": scores, "decision": decision})
    out["model_version"] = pd.Series([challenger.version] * len(out), dtype="category")
    summary = {
        "version": challenger.version,
        "threshold": float(challenger.threshold),
        "flagged": int(decision.sum()),
        "rate": float(decision.mean()),
        "differ": int(np.sum(decision != served["decision"].to_numpy())),
    }
    return summary, out


def shadow_text(shadow: dict, champion_flagged: int, rows: int) -> str:
    """One sentence for the batch's page."""
    if shadow.get("note"):
        return (
            f"Shadow: challenger {shadow['version']} could not score this batch: {shadow['note']}"
        )
    return (
        f"Shadow (not served): challenger {shadow['version']} would flag {shadow['flagged']:,} "
        f"rows ({100 * shadow['rate']:.2f}%) where the champion flags {champion_flagged:,} "
        f"({100 * champion_flagged / max(1, rows):.2f}%); their decisions differ on "
        f"{shadow['differ']:,} of {rows:,} rows."
    )
