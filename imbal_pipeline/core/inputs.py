"""The user's inputs: reading the raw (and holdout) file, and the gates on what was read.

Everything a careless or hostile input can do wrong is caught here, before any fit: numbers
written as text, a holdout file whose columns read differently from the training file's, a
contract that is not a plain data description.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pandas as pd

from imbal_pipeline.core import checks
from imbal_pipeline.core.data import contracts, data, data_gates, disguises, inbox, split, versions
from imbal_pipeline.core.data.derived import derive_contract, derived_contract_name, leaving_out
from imbal_pipeline.core.data.synthetic import make_fraud_data
from imbal_pipeline.core.evaluate import leak
from imbal_pipeline.core.settings import GROUP, LABEL, ROW_ID, SPLIT, Settings
from imbal_pipeline.core.train import gates

HOLDOUT_SALT = 0x5EED_4B1D  # keeps holdout-file row ids apart from training-file ids

# --- numbers in disguise ---------------------------------------------------------------------


def disguised_numbers(frame: pd.DataFrame, settings: Settings) -> dict[str, dict]:
    """Feature columns whose values are numbers, amounts, dates or durations in disguise."""
    skip = {settings.target, settings.id_column, settings.group, *settings.categorical}
    return disguises.disguised_columns(frame, skip)


@checks.gate("numbers_as_text")
def numbers_as_text(frame: pd.DataFrame, settings: Settings) -> gates.Gate:
    """No column of numbers, amounts, dates or durations may be read as categories."""
    found = disguised_numbers(frame, settings)
    if found:
        column, info = next(iter(found.items()))
        kind, example = info["kind"], info["example"]
        what = disguises.DESCRIPTIONS[kind]
        held = f"is stored as {what}" if info["typed"] else f"holds {what} written as text"
        read = "categories"
        if kind == "numbers in text":  # the net under the patterns: say what it saw
            held = f"holds {what}, {info['levels']:,} distinct in {info['rows']:,} rows"
            read = "a category per value"
        return gates.fail(
            "numbers_as_text",
            f"column {column!r} {held} (e.g. {example!r}) and would be read as {read}; "
            f"{disguises.fix_for(kind, column, example, settings.sep)}",
            columns=found,
        )
    return gates.ok("numbers_as_text", "no column of numbers or dates is read as text")


# --- the raw data ----------------------------------------------------------------------------


def load_raw(
    settings: Settings, read: versions.TableReader | None = None
) -> tuple[pd.DataFrame, str]:
    """The configured file (or the embedded generated data), prepared, and where it came from.

    Files are read with `read` (a `versions.TableReader`, which keeps the digest of the bytes it
    parsed: the data version a run records, and `labelled`, the labelled inbox batches added
    under the file with their rows and positives).
    """
    read = read or versions.TableReader(settings.read_options)
    if settings.data_path is None:
        frame = make_fraud_data(
            settings.generated_rows, settings.generated_positive_rate, settings.seed
        )
        source = f"generated fraud-like data (rows={settings.generated_rows}, seed={settings.seed})"
    else:
        frame = drop_columns(read(settings.data_path), settings, "data")
        source = settings.data_path
    batches: list[dict] = []
    if settings.labelled_batches:
        frame, added, batches = _with_labelled_batches(frame, settings, read)
        source = f"{source} + {added}"
    prepared = data.prepare_frame(frame, settings)
    check_subgroups(prepared, settings)
    # The batches are the last rows, in order (preparing keeps every row where it was).
    end = len(prepared)
    for batch in reversed(batches):
        start = end - batch["rows"]
        batch["positives"] = int(prepared[LABEL].iloc[start:end].sum())
        end = start
    read.labelled = batches
    return prepared, source


def _with_labelled_batches(
    frame: pd.DataFrame, settings: Settings, read: versions.TableReader
) -> tuple[pd.DataFrame, str, list[dict]]:
    """The training frame and every labelled inbox batch under it, typed like it, and each
    batch added (its file, labels file and rows)."""
    parts, names, added = [frame], [], []
    for batch in inbox.list_batches(settings.inbox):
        if batch.labels_path is None:
            continue
        try:
            rows = inbox.labelled_rows(batch, read, settings.target, settings.id_column)
        except data.DamagedFileError as exc:
            raise data.DataError(
                f"labelled batch {batch.path.name}: {exc.path.name} in the inbox is a damaged "
                f"gzip file ({exc.why}), and a rerun reads the same bytes: remove it (and its "
                "labels file) from the inbox, or upload it again whole"
            ) from None
        except ValueError as exc:
            raise data.DataError(f"labelled batch {batch.path.name}: {exc}") from None
        rows = drop_columns(rows, settings, f"batch {batch.path.name}")
        missing = [c for c in frame.columns if c not in rows.columns]
        if missing:
            raise data.DataError(
                f"labelled batch {batch.path.name} lacks column {missing[0]!r} of the training "
                "data; fix the batch or turn labelled_batches off"
            )
        rows = rows[list(frame.columns)]
        rows[settings.target] = _as_training_labels(
            rows[settings.target], frame[settings.target], batch.labels_path.name
        )
        parts.append(rows)
        names.append(f"{batch.path.name} ({len(rows)} labelled rows)")
        added.append(
            {"batch": batch.path.name, "labels": batch.labels_path.name, "rows": len(rows)}
        )
    if not names:
        return frame, "no labelled batch yet", []
    return pd.concat(parts, ignore_index=True), f"labelled batches {', '.join(names)}", added


def _as_training_labels(labels: pd.Series, target: pd.Series, name: str) -> pd.Series:
    """A labels file's values as the training file writes them (its 1 may come back as 1.0);
    a value that is no class of the training file ("unknown", "Yes" for "yes") is refused."""
    spelled = list({data.label_key(v): v for v in target.dropna().unique()}.values())
    data.refuse_stray_labels(labels, sorted(str(v) for v in spelled), f"labels file {name}")
    out = pd.Series(float("nan"), index=labels.index, dtype=object)
    for value in spelled:
        out[data.is_label(labels, value)] = value
    return out.astype(target.dtype)


# A text subgroup column with more levels than this gives tables of one-row groups.
MAX_TEXT_SUBGROUP_LEVELS = 50


def check_subgroups(frame: pd.DataFrame, settings: Settings) -> None:
    """Continuous numeric subgroups are reported in quartiles; text ones must be few groups."""
    for column in settings.subgroups:
        if column not in frame.columns or pd.api.types.is_numeric_dtype(frame[column].dtype):
            continue
        levels = frame[column].nunique()
        if levels > MAX_TEXT_SUBGROUP_LEVELS:
            raise data.DataError(
                f"subgroup column {column!r} has {levels:,} distinct values, too many for "
                f"per-group tables (at most {MAX_TEXT_SUBGROUP_LEVELS}); map it to a few groups "
                f"first, or leave it out of --subgroup"
            )


def drop_columns(frame: pd.DataFrame, settings: Settings, what: str) -> pd.DataFrame:
    missing = [c for c in settings.drop if c not in frame.columns]
    if missing:
        raise data.DataError(f"--drop column {missing[0]!r} is not in the {what} file; fix --drop")
    return frame.drop(columns=list(settings.drop))


def raw_gates(
    frame: pd.DataFrame, settings: Settings, contracts_dir: Path, read: versions.TableReader
) -> list[gates.Gate]:
    """Every gate on the prepared raw data, the contract last (it is derived from passing data).

    `read` is the reader `load_raw` read the file with: it knows the file's columns as read.
    """
    checks = [
        gates.from_contract(
            "contract",
            contracts.validate(
                frame, contracts.builtin_suite("raw_data", min_rows=2 * settings.n_folds)
            ),
        ),
        data_gates.no_empty_columns(frame),
        data_gates.no_infinities(frame),
        numbers_as_text(frame, settings),
        data_gates.no_mixed_types(frame, settings),
        data_gates.enough_positives(frame, settings),
        data_gates.constant_columns(frame, settings),
    ]
    passing = not any(g.blocks for g in checks)
    checks.insert(1, schema_contract(frame, settings, contracts_dir, passing, read))
    return checks


@checks.gate("schema_contract")
def schema_contract(
    frame: pd.DataFrame,
    settings: Settings,
    folder: Path,
    derive: bool,
    read: versions.TableReader,
) -> gates.Gate:
    """The user's suite, or the one derived by an earlier run, or derive and save it now.

    A derived contract describes the file as read, before --drop: dropping a column or taking
    it back is no drift (the run leaves the dropped columns out of the contract, `leaving_out`).
    """
    user = frame[[c for c in frame.columns if c not in (ROW_ID, LABEL)]]
    if settings.contract_path:
        suite = contracts.load_suite(settings.contract_path)
        return gates.from_contract("schema_contract", contracts.validate(user, suite))
    path = folder / derived_contract_name(settings.data_path, settings.target)
    dropped = list(settings.drop) if settings.data_path is not None else []
    if path.is_file():
        suite = leaving_out(contracts.load_suite(path), dropped)
        gate = gates.from_contract("schema_contract", contracts.validate(user, suite))
        if not gate.passed:
            gate.message += (
                f"; fix the data, or if the change is intended delete {path} (the next run "
                "derives a new contract)"
            )
        return gate
    if not derive:
        return gates.ok("schema_contract", "no contract saved yet; not derived from failing data")
    # The generated data is made, not read: its columns are the frame's.
    as_read = read.columns[settings.data_path] if settings.data_path is not None else user.dtypes
    suite = derive_contract(as_read, user[settings.target], path.stem)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # concurrent runs may derive at once
    tmp.write_text(json.dumps(suite, indent=2))
    tmp.replace(path)
    return gates.ok(
        "schema_contract",
        f"derived a contract from this data and saved it to {path}; later runs are checked "
        "against it",
        path=str(path),
    )


# --- the holdout -----------------------------------------------------------------------------


def split_raw(
    raw: pd.DataFrame, settings: Settings, read: versions.TableReader | None = None
) -> tuple[pd.DataFrame, str, dict]:
    """Every row marked train or holdout; how; and holdout values lost reading it like training.

    An explicit holdout file is read with `read`, as in `load_raw`.
    """
    if settings.test_data_path is None:
        groups, by = split.row_groups(raw, settings)
        marked = split.split_holdout(
            raw, settings.holdout_fraction, settings.seed, groups if by else None
        )
        how = f"stratified {settings.holdout_fraction:.0%} holdout, seed {settings.seed}"
        return marked, how + (f", rows sharing {by} kept together" if by else ""), {}
    where = f"holdout file {settings.test_data_path}"
    read = read or versions.TableReader(settings.read_options)
    frame = drop_columns(read(settings.test_data_path), settings, "holdout")
    positive = data.positive_label_of(raw, settings)
    target = frame[settings.target] if settings.target in frame.columns else None
    if target is not None and not data.is_label(target, positive).any():
        shown = ", ".join(sorted(set(data.label_text(target).dropna()))[:10])
        raise data.DataError(
            f"{where}: its target has no {positive!r} rows, the training file's positive "
            f"class (values: {shown}); give a holdout with the training file's labels"
        )
    _refuse_misread_numbers(frame, raw, {settings.target, settings.id_column}, where)
    frame, lost = coerce_like(frame, raw)
    try:
        # The holdout must use the training file's positive class, never infer its own.
        holdout = data.prepare_frame(
            frame, dataclasses.replace(settings, positive_label=positive), salt=HOLDOUT_SALT
        )
    except data.DataError as exc:
        raise data.DataError(f"{where}: {exc}") from exc
    both = split.join_explicit_holdout(raw, holdout)
    groups, by = split.row_groups(both, settings)
    if by:  # the folds keep groups together; the holdout is the file the user gave
        both[GROUP] = groups
    return both, f"explicit {where}", lost


def _refuse_misread_numbers(frame: pd.DataFrame, raw: pd.DataFrame, skip: set, where: str) -> None:
    """Holdout values a cast to the training column's numbers would misread, refused as a
    batch's are: True/False, datetimes, durations, infinities (training refuses those too)."""
    for column in frame.columns:
        if column not in raw.columns or column in skip:
            continue
        dtype = raw[column].dtype
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            continue
        misread = disguises.misread_as_numbers(frame[column], "the training file has")
        if misread:
            raise data.DataError(f"{where}: column {column!r} {misread}")


def coerce_like(frame: pd.DataFrame, reference: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """`frame` with the reference's numeric columns read as numbers, and the values that lost.

    A holdout column with stray text would otherwise turn the training column into text when
    both are stacked, and the model would silently see categories or missing values.
    """
    out, lost = frame.copy(), {}
    for column in frame.columns:
        if column not in reference.columns or column in (ROW_ID, LABEL):
            continue
        if not pd.api.types.is_numeric_dtype(reference[column].dtype):
            continue
        if pd.api.types.is_numeric_dtype(frame[column].dtype):
            continue
        as_number = pd.to_numeric(frame[column], errors="coerce")
        gone = frame[column].notna() & as_number.isna()
        if gone.any():
            examples = sorted({str(v) for v in frame.loc[gone, column]})[:3]
            lost[str(column)] = {
                "values": int(gone.sum()),
                "share": round(float(gone.mean()), 4),
                "examples": examples,
            }
        out[column] = as_number
    return out, lost


# Above this share of a column's values lost to coercion the holdout is refused; below, warned.
LOST_SHARE = 0.01


@checks.gate("holdout_types")
def holdout_types(lost: dict) -> gates.Gate:
    """Holdout values that are not numbers where training has numbers: refused above 1 %."""
    if not lost:
        return gates.ok("holdout_types", "every holdout column reads like its training column")
    column, info = max(lost.items(), key=lambda kv: kv[1]["share"])
    message = (
        f"holdout column {column!r} has {info['values']} values ({info['share']:.1%}) that "
        f"are not numbers (e.g. {', '.join(map(repr, info['examples']))}) where training has "
        "numbers; they would be scored as missing: clean the holdout file"
    )
    severity = gates.ERROR if info["share"] > LOST_SHARE else gates.WARN
    return gates.fail("holdout_types", message, severity=severity, columns=lost)


@checks.gate("missing_shift")
def missing_shift(marked: pd.DataFrame, features: list, limit: float = 0.05) -> gates.Gate:
    """A feature far more often missing in the holdout than in training (warning)."""
    train = marked[SPLIT] == split.TRAIN
    shifted = {}
    for column in features:
        missing = marked[column].isna()
        a, b = float(missing[train].mean()), float(missing[~train].mean())
        if b - a > limit:
            shifted[str(column)] = {"training": round(a, 4), "holdout": round(b, 4)}
    if shifted:
        column, rates = max(shifted.items(), key=lambda kv: kv[1]["holdout"] - kv[1]["training"])
        return gates.fail(
            "missing_shift",
            f"holdout column {column!r} is {rates['holdout']:.1%} missing against "
            f"{rates['training']:.1%} in training; the model imputes them with the training "
            "median: check how the holdout was exported",
            severity=gates.WARN,
            columns=shifted,
        )
    return gates.ok("missing_shift", "missing rates in the holdout are close to training's")


def split_gates(marked: pd.DataFrame, settings: Settings, lost: dict) -> list[gates.Gate]:
    """Every gate on the split, the builtin contract first."""
    explicit = settings.test_data_path is not None
    schema = data.feature_schema(marked, settings)
    features = schema["numeric"] + schema["categorical"]
    return [
        gates.from_contract(
            "contract", contracts.validate(marked, contracts.builtin_suite("holdout_split"))
        ),
        gates.split_rates(marked, explicit),
        holdout_types(lost),
        missing_shift(marked, features),
        gates.groups_kept_together(marked, explicit),
        gates.groups_fit_the_folds(marked, settings),
        gates.straddling_duplicates(marked, features),
        gates.unseen_categories(marked, schema["categorical"]),
        leak.leak_suspects(split.training_part(marked), schema),
    ]


def split_summary(marked: pd.DataFrame) -> pd.DataFrame:
    """Rows, positives and prevalence of each part."""
    parts = marked.groupby(SPLIT).agg(rows=(LABEL, "size"), positives=(LABEL, "sum"))
    parts["prevalence"] = parts["positives"] / parts["rows"]
    return parts
