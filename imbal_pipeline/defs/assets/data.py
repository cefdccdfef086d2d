"""Stage 1: raw data, the holdout split and the imbalance profile, each gated."""

import warnings

import dagster as dg
import pandas as pd

from imbal_pipeline.core import inputs
from imbal_pipeline.core.data import data, split, versions
from imbal_pipeline.core.settings import LABEL, Settings
from imbal_pipeline.core.train import gates
from imbal_pipeline.defs.assets.common import (
    LABELLED_KEY,
    RAW_FILE,
    counts_meta,
    gated,
    md_table,
    stage_asset,
)
from imbal_pipeline.defs.instance import contracts_dir, dataset_tags
from imbal_pipeline.defs.lineage import DATA_VERSION_TAG, pinned_record
from imbal_pipeline.defs.loaded import DATA_DIGEST_TAG
from imbal_pipeline.defs.resources import PipelineConfig

FILES_KEY = "files"  # on an observation of the raw file: the digest of each file, by path


def _files_meta(files: dict[str, str]) -> dict:
    return {FILES_KEY: dg.MetadataValue.json(files)}


def _observe_raw_file(pipeline: PipelineConfig):
    """The raw file's data version: its content hash (or the generator's parameters)."""
    s = pipeline.settings()
    version, files = versions.data_version(s)
    return dg.ObserveResult(
        data_version=dg.DataVersion(version),
        metadata={
            "path": s.data_path or "generated",
            "holdout_path": s.test_data_path or "",
            **_files_meta(files),
        },
    )


# Observable source assets are marked beta in Dagster 1.13 but are its documented way to version
# an external file; the warning would otherwise greet every CLI run and test.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.BetaWarning)
    raw_file = dg.observable_source_asset(
        key=RAW_FILE,
        group_name="data",
        description=(
            "The configured raw (and holdout) file, observed by content hash: a new hash marks "
            "every asset unsynced. Observed at the start of each run and by the "
            "raw_data_changed sensor."
        ),
    )(_observe_raw_file)


def _record_what_was_read(
    context: dg.AssetExecutionContext, s: Settings, read: dict[str, str], step: str
) -> None:
    """Observe the raw file again when this step parsed other bytes than its run recorded.

    A rerun after a fixed file, or a file replaced since the run started (the holdout file is
    read a step after the raw file): the lineage must name the bytes this run trained and
    evaluated on, not the ones observed before. `read` holds the digests of the bytes this step
    parsed; every other file keeps the digest the run recorded.
    """
    record = pinned_record(context.instance, context.run.run_id, RAW_FILE)
    entry = record.event_log_entry if record is not None else None
    observed = entry.asset_observation if entry is not None else None
    recorded = getattr(observed.metadata.get(FILES_KEY), "value", None) if observed else None
    version, files = versions.data_version(s, {**(recorded or {}), **read})
    if entry is not None and (entry.tags or {}).get(DATA_VERSION_TAG) == version:
        return
    context.log_event(
        dg.AssetObservation(
            RAW_FILE,
            tags={DATA_VERSION_TAG: version},
            metadata={
                "path": s.data_path or "generated",
                "observed_by": step,
                **_files_meta(files),
            },
        )
    )


@stage_asset("raw_data", group_name="data", kinds={"pandas"})
def raw_data(context: dg.AssetExecutionContext, pipeline: PipelineConfig):
    """The configured file (or embedded fraud-like data) with stable row ids and a 0/1 label."""
    s = pipeline.settings()
    read = versions.TableReader(s.read_options)
    prepared, source = inputs.load_raw(s, read)
    # Again here: the launch named the project's dataset as the code location found it; a run's
    # config may name another file, and the file's bytes may have changed since.
    read_as = {DATA_DIGEST_TAG: read.digests[s.data_path]} if s.data_path in read.digests else {}
    context.instance.add_run_tags(context.run.run_id, dataset_tags(s.data_path, s.target) | read_as)
    _record_what_was_read(context, s, read.digests, "raw_data")
    schema = data.feature_schema(prepared, s)
    yield from gated(
        context,
        prepared,
        {
            **counts_meta(prepared[LABEL]),
            "source": source,
            **({LABELLED_KEY: dg.MetadataValue.json(read.labelled)} if s.labelled_batches else {}),
            "positive_label": f"{s.target} = {data.positive_label_of(prepared, s)}",
            "numeric_features": dg.MetadataValue.json(schema["numeric"]),
            "categorical_features": dg.MetadataValue.json(schema["categorical"]),
            "preview": dg.MetadataValue.md(prepared.head(5).to_markdown()),
        },
        inputs.raw_gates(prepared, s, contracts_dir(s), read),
    )


@stage_asset("holdout_split", group_name="data", kinds={"pandas"})
def holdout_split(
    context: dg.AssetExecutionContext, pipeline: PipelineConfig, raw_data: pd.DataFrame
):
    """Every row marked train or holdout: stratified, or the explicit holdout file."""
    s = pipeline.settings()
    read = versions.TableReader(s.read_options)
    marked, how, lost = inputs.split_raw(raw_data, s, read)
    if read.digests:  # before the output: its lineage names the holdout file as parsed
        _record_what_was_read(context, s, read.digests, "holdout_split")
    grouping = split.grouping_summary(marked, s)
    yield from gated(
        context,
        marked,
        {
            "how": how,
            "parts": md_table(inputs.split_summary(marked)),
            "grouping": dg.MetadataValue.json(grouping),
        },
        inputs.split_gates(marked, s, lost),
    )


@stage_asset("imbalance_profile", group_name="data")
def imbalance_profile(
    context: dg.AssetExecutionContext, pipeline: PipelineConfig, holdout_split: pd.DataFrame
):
    """Class counts, ratio, tier and the recommended start, on the training split only."""
    s = pipeline.settings()
    train = split.training_part(holdout_split)
    profile = split.imbalance_profile(train, s)
    yield from gated(
        context,
        profile,
        {
            "tier": profile.tier,
            "ratio": profile.ratio_text,
            "positives": dg.MetadataValue.int(profile.positives),
            "negatives": dg.MetadataValue.int(profile.negatives),
            "recommendation": profile.recommendation,
        },
        [gates.profile_consistent(profile, len(train), s.n_folds)],
    )
