"""Stage 1: raw data, the holdout split and the imbalance profile."""

import dagster as dg
import pandas as pd

from imbal_pipeline.assets.common import CODE_VERSION, counts_meta, md_table
from imbal_pipeline.core import data, split
from imbal_pipeline.core.settings import LABEL, SPLIT
from imbal_pipeline.core.synthetic import make_fraud_data
from imbal_pipeline.resources import PipelineConfig

HOLDOUT_SALT = 0x5EED_4B1D  # keeps holdout-file row ids apart from training-file ids


@dg.asset(group_name="data", code_version=CODE_VERSION, kinds={"pandas"})
def raw_data(pipeline: PipelineConfig) -> dg.Output[pd.DataFrame]:
    """The configured file (or embedded fraud-like data) with stable row ids and a 0/1 label."""
    s = pipeline.settings()
    if s.data_path is None:
        frame = make_fraud_data(s.generated_rows, s.generated_positive_rate, s.seed)
        source = f"generated fraud-like data (rows={s.generated_rows}, seed={s.seed})"
    else:
        frame = data.read_table(s.data_path)
        source = s.data_path
    prepared = data.prepare_frame(frame, s)
    schema = data.feature_schema(prepared, s)
    return dg.Output(
        prepared,
        metadata={
            **counts_meta(prepared[LABEL]),
            "source": source,
            "positive_label": data.positive_label_of(prepared, s),
            "numeric_features": dg.MetadataValue.json(schema["numeric"]),
            "categorical_features": dg.MetadataValue.json(schema["categorical"]),
            "preview": dg.MetadataValue.md(prepared.head(5).to_markdown()),
        },
    )


@dg.asset(group_name="data", code_version=CODE_VERSION, kinds={"pandas"})
def holdout_split(pipeline: PipelineConfig, raw_data: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    """Every row marked train or holdout: stratified, or the explicit holdout file."""
    s = pipeline.settings()
    if s.test_data_path is None:
        marked = split.split_holdout(raw_data, s.holdout_fraction, s.seed)
        how = f"stratified {s.holdout_fraction:.0%} holdout, seed {s.seed}"
    else:
        holdout = data.prepare_frame(data.read_table(s.test_data_path), s, salt=HOLDOUT_SALT)
        marked = split.join_explicit_holdout(raw_data, holdout)
        how = f"explicit holdout file {s.test_data_path}"
    parts = marked.groupby(SPLIT)[LABEL].agg(rows="size", positives="sum")
    parts["prevalence"] = parts["positives"] / parts["rows"]
    return dg.Output(marked, metadata={"how": how, "parts": md_table(parts)})


@dg.asset(group_name="data", code_version=CODE_VERSION)
def imbalance_profile(holdout_split: pd.DataFrame) -> dg.Output[dict]:
    """Class counts, ratio, tier and the recommended start, on the training split only."""
    profile = split.imbalance_profile(split.training_part(holdout_split))
    return dg.Output(
        profile,
        metadata={
            "tier": profile["tier"],
            "ratio": profile["ratio_text"],
            "positives": dg.MetadataValue.int(profile["positives"]),
            "negatives": dg.MetadataValue.int(profile["negatives"]),
            "recommendation": profile["recommendation"],
        },
    )
