"""Stage 1: raw data, the holdout split and the imbalance profile, each gated."""

import dataclasses
import hashlib
import json
import os
import warnings
from pathlib import Path

import dagster as dg
import pandas as pd

from imbal_pipeline.assets.common import (
    CODE_VERSION,
    RAW_FILE,
    SOURCE_DEPS,
    blocking_checks,
    counts_meta,
    gated,
    md_table,
)
from imbal_pipeline.core import contracts, data, gates, split
from imbal_pipeline.core.settings import LABEL, ROW_ID, SPLIT, Settings
from imbal_pipeline.core.synthetic import make_fraud_data
from imbal_pipeline.resources import PipelineConfig

HOLDOUT_SALT = 0x5EED_4B1D  # keeps holdout-file row ids apart from training-file ids
RAW_CHECKS = (
    "contract",
    "schema_contract",
    "no_empty_columns",
    "no_infinities",
    "no_mixed_types",
    "enough_positives",
    "constant_columns",
)
SPLIT_CHECKS = (
    "contract",
    "split_rates",
    "straddling_duplicates",
    "unseen_categories",
    "leak_suspects",
)
PROFILE_CHECKS = ("profile_consistent",)


def _observe_raw_file(pipeline: PipelineConfig):
    """The raw file's data version: its content hash (or the generator's parameters)."""
    s = pipeline.settings()
    return dg.ObserveResult(
        data_version=dg.DataVersion(data.data_fingerprint(s)),
        metadata={"path": s.data_path or "generated", "holdout_path": s.test_data_path or ""},
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


def _contracts_dir(s: Settings) -> Path:
    home = os.environ.get("DAGSTER_HOME") or ".dagster_home"
    return Path(s.contracts_dir or Path(home).resolve() / "contracts")


def _schema_contract(frame: pd.DataFrame, schema: dict, s: Settings, others_pass: bool):
    """The user's suite, or the derived one saved by an earlier run, or derive and save it."""
    user = frame[[c for c in frame.columns if c not in (ROW_ID, LABEL)]]
    if s.contract_path:
        suite = contracts.load_suite(s.contract_path)
        return gates.from_contract("schema_contract", contracts.validate(user, suite))
    if s.data_path:
        # Two files may share a name in different folders; the full path tells them apart.
        where = hashlib.sha256(str(Path(s.data_path).resolve()).encode()).hexdigest()[:8]
        stem = f"{Path(s.data_path).name.split('.')[0]}__{where}"
    else:
        stem = "generated"
    path = _contracts_dir(s) / f"{stem}__{s.target}.json"
    if path.is_file():
        result = contracts.validate(user, contracts.load_suite(path))
        gate = gates.from_contract("schema_contract", result)
        if not gate.passed:
            gate.message += f" (contract {path}: delete it if the change is intended)"
        return gate
    if not others_pass:
        return gates.ok("schema_contract", "no contract saved yet; not derived from failing data")
    suite = contracts.derive_contract(user, schema, s.target, f"{stem}__{s.target}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # concurrent runs may derive at once
    tmp.write_text(json.dumps(suite, indent=2))
    tmp.replace(path)
    return gates.ok(
        "schema_contract",
        f"derived a contract from this data and saved it to "
        f"{path}; later runs are checked against it",
        path=str(path),
    )


@dg.asset(
    deps=SOURCE_DEPS,
    group_name="data",
    code_version=CODE_VERSION,
    kinds={"pandas"},
    check_specs=blocking_checks("raw_data", RAW_CHECKS),
)
def raw_data(pipeline: PipelineConfig):
    """The configured file (or embedded fraud-like data) with stable row ids and a 0/1 label."""
    s = pipeline.settings()
    if s.data_path is None:
        frame = make_fraud_data(s.generated_rows, s.generated_positive_rate, s.seed)
        source = f"generated fraud-like data (rows={s.generated_rows}, seed={s.seed})"
    else:
        frame = data.read_table(s.data_path, s.sep)
        source = s.data_path
    prepared = data.prepare_frame(frame, s)
    schema = data.feature_schema(prepared, s)
    checks = [
        gates.from_contract(
            "contract",
            contracts.validate(
                prepared, contracts.load_suite("raw_data"), {"min_rows": 2 * s.n_folds}
            ),
        ),
        gates.no_empty_columns(prepared),
        gates.no_infinities(prepared),
        gates.no_mixed_types(prepared, s),
        gates.enough_positives(prepared, s),
        gates.constant_columns(prepared, s),
    ]
    checks.insert(1, _schema_contract(prepared, schema, s, not any(g.blocks for g in checks)))
    yield from gated(
        prepared,
        {
            **counts_meta(prepared[LABEL]),
            "source": source,
            "positive_label": data.positive_label_of(prepared, s),
            "numeric_features": dg.MetadataValue.json(schema["numeric"]),
            "categorical_features": dg.MetadataValue.json(schema["categorical"]),
            "preview": dg.MetadataValue.md(prepared.head(5).to_markdown()),
        },
        checks,
    )


@dg.asset(
    deps=SOURCE_DEPS,
    group_name="data",
    code_version=CODE_VERSION,
    kinds={"pandas"},
    check_specs=blocking_checks("holdout_split", SPLIT_CHECKS),
)
def holdout_split(pipeline: PipelineConfig, raw_data: pd.DataFrame):
    """Every row marked train or holdout: stratified, or the explicit holdout file."""
    s = pipeline.settings()
    explicit = s.test_data_path is not None
    if explicit:
        # The holdout must use the training file's positive class, never infer its own.
        positive = data.positive_label_of(raw_data, s)
        try:
            holdout = data.prepare_frame(
                data.read_table(s.test_data_path, s.sep),
                dataclasses.replace(s, positive_label=positive),
                salt=HOLDOUT_SALT,
            )
        except data.DataError as exc:
            raise data.DataError(f"holdout file {s.test_data_path}: {exc}") from exc
        marked = split.join_explicit_holdout(raw_data, holdout)
        how = f"explicit holdout file {s.test_data_path}"
    else:
        marked = split.split_holdout(raw_data, s.holdout_fraction, s.seed)
        how = f"stratified {s.holdout_fraction:.0%} holdout, seed {s.seed}"
    schema = data.feature_schema(marked, s)
    features = schema["numeric"] + schema["categorical"]
    checks = [
        gates.from_contract(
            "contract", contracts.validate(marked, contracts.load_suite("holdout_split"))
        ),
        gates.split_rates(marked, explicit),
        gates.straddling_duplicates(marked, features),
        gates.unseen_categories(marked, schema["categorical"]),
        gates.leak_suspects(split.training_part(marked), schema),
    ]
    parts = marked.groupby(SPLIT)[LABEL].agg(rows="size", positives="sum")
    parts["prevalence"] = parts["positives"] / parts["rows"]
    yield from gated(marked, {"how": how, "parts": md_table(parts)}, checks)


@dg.asset(
    deps=SOURCE_DEPS,
    group_name="data",
    code_version=CODE_VERSION,
    check_specs=blocking_checks("imbalance_profile", PROFILE_CHECKS),
)
def imbalance_profile(pipeline: PipelineConfig, holdout_split: pd.DataFrame):
    """Class counts, ratio, tier and the recommended start, on the training split only."""
    s = pipeline.settings()
    train = split.training_part(holdout_split)
    profile = split.imbalance_profile(train)
    consistent = (
        profile["positives"] + profile["negatives"] == len(train)
        and profile["positives"] >= s.n_folds
    )
    check = (
        gates.ok(
            "profile_consistent",
            f"{profile['positives']} training positives for {s.n_folds} folds; counts add up",
        )
        if consistent
        else gates.fail(
            "profile_consistent",
            f"only {profile['positives']} training positives "
            f"for {s.n_folds} folds; lower --folds or give more data",
        )
    )
    yield from gated(
        profile,
        {
            "tier": profile["tier"],
            "ratio": profile["ratio_text"],
            "positives": dg.MetadataValue.int(profile["positives"]),
            "negatives": dg.MetadataValue.int(profile["negatives"]),
            "recommendation": profile["recommendation"],
        },
        [check],
    )
