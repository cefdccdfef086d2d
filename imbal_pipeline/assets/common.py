"""Metadata helpers shared by the stage modules."""

import base64
from pathlib import Path

import dagster as dg
import pandas as pd

# Bumped when a stage's logic changes, so Dagster can tell stale assets apart.
CODE_VERSION = "1"


def md_table(frame: pd.DataFrame, digits: int = 4) -> dg.MetadataValue:
    """A small frame as a Markdown table for the UI."""
    return dg.MetadataValue.md(frame.round(digits).to_markdown() if len(frame) else "(empty)")


def png(path: str | Path) -> dg.MetadataValue:
    """An image embedded in Markdown so the UI shows it inline."""
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return dg.MetadataValue.md(f"![{Path(path).stem}](data:image/png;base64,{data})")


def counts_meta(y: pd.Series) -> dict:
    """Rows, positives and the negative-to-positive ratio."""
    positives = int(y.sum())
    return {
        "rows": dg.MetadataValue.int(len(y)),
        "positives": dg.MetadataValue.int(positives),
        "neg_per_pos": dg.MetadataValue.float(
            float((len(y) - positives) / positives) if positives else float("nan")
        ),
    }
