"""Metadata helpers shared by the stage modules."""

import base64
import warnings
from pathlib import Path

import dagster as dg
import pandas as pd

from imbal_pipeline.core import checks
from imbal_pipeline.core.gate import WARN, Gate, ends_alarm
from imbal_pipeline.core.jsonready import json_ready
from imbal_pipeline.defs.assets.code import stage_code
from imbal_pipeline.defs.lineage import DATA_VERSION_TAG, pinned_record
from imbal_pipeline.store.storage import GATE_KEY, VERSION_KEY, content_hash

# Every asset derives from the raw file, and Dagster marks an asset unsynced only when one of its
# *direct* dependencies has a new data version. Depending on the observed file directly is what
# makes the whole graph, not just raw_data, show as unsynced once the file changes.
RAW_FILE = dg.AssetKey("raw_file")
ALERTS_KEY = "alerts"  # monitoring checks that failed, on a scored batch's materialization
EVIDENCE_KEY = "alert_evidence"  # beside it: each failed check's figures
JUDGED_KEY = "judged_passes"  # beside it: the checks that passed on a batch large enough to judge
# On raw_data: the labelled inbox batches it added to the training file (`labelled_batches`).
LABELLED_KEY = "labelled_batches"
SOURCE_DEPS = [RAW_FILE]
# The multiprocess executor starts ready steps by descending `dagster/priority`. Steps only the
# report waits for go last, into the core the fold models' last wave leaves idle; at 1M rows
# they used to take a core from the fold training sets, delaying the first fold model by 30 s.
OFF_CRITICAL_PATH = {"dagster/priority": "-1"}
INPUT_TAG = "dagster/input_data_version/"  # Dagster's tag: the version of an upstream read


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


def described_checks(stage: str, key: str | dg.AssetKey) -> list[dg.AssetCheckSpec]:
    """The specs of the checks declared beside `stage` (`checks.CHECKS`), for its asset `key`:
    a failed error-severity check stops downstream, and those that only ever warn do not block."""
    return [
        dg.AssetCheckSpec(
            check.name,
            asset=key,
            description=check.description,
            blocking=not check.warn_only,
        )
        for check in checks.of_stage(stage)
    ]


def stage_asset(stage: str, /, **options):
    """`dg.asset` as a stage declares its assets: derived from the raw file (`SOURCE_DEPS`),
    versioned by the digest of the code that computes it (`code.stage_code`), with the checks
    declared beside `stage`; its key is `stage` unless `key` names one of its assets (a fold's)."""

    def declare(fn):
        return dg.asset(
            deps=SOURCE_DEPS,
            code_version=stage_code(fn),
            check_specs=described_checks(stage, options.get("key") or stage),
            **options,
        )(fn)

    return declare


def code_of(context: dg.AssetExecutionContext) -> str:
    """The code version of the asset a step computes."""
    return context.assets_def.code_versions_by_key[context.asset_key]


def provenance_tags(context: dg.AssetExecutionContext) -> dict[str, str]:
    """For each upstream, the version this run read, as Dagster's own provenance tags.

    Dagster records the instance's newest version of each upstream; with two runs going on at
    once that can be the other run's. These tags name the event this run pinned instead.
    """
    instance, run_id = context.instance, context.run.run_id
    tags = {}
    for parent in context.assets_def.asset_deps[context.asset_key]:
        record = pinned_record(instance, run_id, parent)
        version = record and (record.event_log_entry.tags or {}).get(DATA_VERSION_TAG)
        if version is None:
            continue
        name = parent.to_user_string()
        tags[f"{INPUT_TAG}{name}"] = version
        tags[f"dagster/input_event_pointer/{name}"] = str(record.storage_id)
    return tags


def _with_inputs(tags: dict[str, str], versions: dict[str, str]) -> dict[str, str]:
    """Provenance tags with the versions a step read itself; an event pointer that names
    another version's event is dropped."""
    out = dict(tags)
    for name, version in versions.items():
        if out.get(f"{INPUT_TAG}{name}") != version:
            out.pop(f"dagster/input_event_pointer/{name}", None)
        out[f"{INPUT_TAG}{name}"] = version
    return out


def gated(
    context: dg.AssetExecutionContext,
    value,
    metadata: dict,
    gates: list[Gate],
    *,
    alerts_only: bool = False,
    input_versions: dict[str, str] | None = None,
):
    """Yield the output, marked with its gate verdict, then one check result per gate.

    The verdict travels with the stored value so that a later, separate materialization of a
    downstream asset refuses a version whose gate failed. With `alerts_only` (monitoring) a
    failed check is an alert, named in the `alerts` metadata, and the value stays usable.
    `input_versions`: the version of an upstream the step read itself (not through its
    inputs), recorded as the version it read.
    """
    failed = [g.name for g in gates if g.blocks]
    warned = [g.name for g in gates if not g.passed and not g.blocks]
    if alerts_only:
        # What each alert rests on (its figures), for the retraining it may request.
        evidence = {g.name: str(g.observed.get("evidence", g.message)) for g in gates if g.blocks}
        # A pass that judged (not "too small to judge") ends a check's alarm: a later failure
        # is a new episode, which may ask for retraining again.
        judged = [g.name for g in gates if g.passed and ends_alarm(g)]
        metadata = {
            **metadata,
            ALERTS_KEY: ", ".join(failed) or "none",
            EVIDENCE_KEY: dg.MetadataValue.json(evidence),
            JUDGED_KEY: ", ".join(judged) or "none",
        }
        failed = []
    verdict = f"failed: {', '.join(failed)}" if failed else "passed"
    version = content_hash(value)
    with warnings.catch_warnings():
        # `data_version` on Output is Dagster's documented way to set a content-based version;
        # its beta label would otherwise repeat once per asset in every run log.
        warnings.simplefilter("ignore", dg.BetaWarning)
        output = dg.Output(
            value,
            data_version=dg.DataVersion(version),
            tags=_with_inputs(provenance_tags(context), input_versions or {}),
            metadata={
                **metadata,
                GATE_KEY: verdict,
                VERSION_KEY: version,
                "gate_warnings": ", ".join(warned) or "none",
            },
        )
    yield output
    for g in gates:
        # Monitoring figures also go in as numbers: the UI plots a check's numbers over its
        # executions (a batch's rate beside the expected one, batch after batch).
        numbers = {
            k: dg.MetadataValue.float(float(v))
            for k, v in g.observed.items()
            if alerts_only and isinstance(v, int | float) and not isinstance(v, bool)
        }
        yield dg.AssetCheckResult(
            check_name=g.name,
            passed=g.passed,
            severity=dg.AssetCheckSeverity.WARN
            if g.severity == WARN
            else dg.AssetCheckSeverity.ERROR,
            description=g.message,
            metadata={
                "message": g.message,
                "observed": dg.MetadataValue.json(json_ready(g.observed, strict=True)),
                **numbers,
            },
        )
