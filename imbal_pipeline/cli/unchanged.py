"""A run with the data, settings and code of the last complete one has nothing to do.

`imbal-pipeline run` hashes what a run is made of before anything starts (its recipe): the
settings, the bytes of every file they name, the package's own source and built-in contracts,
and the versions of the libraries that fit and check. The recipe is a tag on the run. When the
newest complete run with the same recipe still made the newest version of every asset it made,
and its report is where it wrote it, the command prints that run's summary and stops.

Each expensive asset already reuses its stored fits when its own recipe is unchanged, but every
load, check, plot and event would still be redone: about 20 s for a few thousand rows, to
reproduce results that already exist. `--force` runs anyway (to check that a run reproduces).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import json
from pathlib import Path

import imbal_pipeline
from imbal_pipeline.core import settings as settings_core
from imbal_pipeline.core.affects import WHERE
from imbal_pipeline.core.data.contracts import BUILTIN
from imbal_pipeline.core.data.versions import data_fingerprint, file_digest
from imbal_pipeline.core.settings import Settings

RECIPE_TAG = "imbal/recipe"
# Settings that say where steps run or when, never what they compute, as each declares.
WHERE_AND_WHEN = frozenset(settings_core.affecting(WHERE))
PACKAGE = Path(imbal_pipeline.__file__).parent
# What makes the numbers: a new release of any of these may change a fit, a check or a plot.
LIBRARIES = (
    "dagster",
    "great-expectations",
    "imbalanced-learn",
    "lightgbm",
    "matplotlib",
    "numpy",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "scipy",
)


def code_digest(package: Path = PACKAGE, suites=None) -> str:
    """The package's source, report templates and built-in suites, byte for byte: a code change
    is a change whether or not anyone bumped a version."""
    digest = hashlib.sha256()
    sources = [*package.rglob("*.py"), *package.rglob("*.j2")]
    for path in sorted(sources):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    suites = suites or importlib.resources.files(BUILTIN)
    for entry in sorted(suites.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            digest.update(entry.name.encode())
            digest.update(entry.read_bytes())
    return digest.hexdigest()


def run_recipe(s: Settings, code: str | None = None, data: str | None = None) -> str:
    """The hash of everything a run's results depend on (and of where it writes them); `data`
    is the data version when it is known already (`data_fingerprint(s)`)."""
    values = {k: v for k, v in s.to_dict().items() if k not in WHERE_AND_WHEN}
    for field in settings_core.fields():
        if field.metadata["path"] and values.get(field.name) is not None:
            values[field.name] = str(Path(values[field.name]).resolve())
    parts = {
        "settings": values,
        "data": data or data_fingerprint(s),
        "contract": s.contract_path and file_digest(s.contract_path),
        "code": code or code_digest(),
        "libraries": {name: importlib.metadata.version(name) for name in LIBRARIES},
    }
    encoded = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]


def unchanged_run(instance, recipe: str, data: str):
    """The complete run whose results a run with `recipe` on the data version `data` would
    repeat, or None.

    It is the newest successful run with that recipe tag, provided that it read that data (the
    tag is the recipe at launch; a file replaced mid-run is recorded as what the run parsed)
    and that nothing has replaced what it made since: every asset its run group (it and the
    reruns it came from) materialized has that group's version as its newest, and its report
    files still exist.
    """
    import dagster as dg

    from imbal_pipeline.defs.assets.common import RAW_FILE
    from imbal_pipeline.defs.lineage import DATA_VERSION_TAG, pinned_record

    found = instance.get_runs(
        filters=dg.RunsFilter(tags={RECIPE_TAG: recipe}, statuses=[dg.DagsterRunStatus.SUCCESS]),
        limit=1,
    )
    if not found:
        return None
    run = found[0]
    read = pinned_record(instance, run.run_id, RAW_FILE)
    if read is None or (read.event_log_entry.tags or {}).get(DATA_VERSION_TAG) != data:
        return None
    group = {r.run_id for r in instance.get_run_group(run.run_id)[1]}
    made, report = set(), None
    for run_id in group:
        for record in instance.get_records_for_run(
            run_id=run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        ).records:
            made.add(record.asset_key)
            if record.asset_key == dg.AssetKey("evaluation_report"):
                report = record.event_log_entry.asset_materialization
    if report is None:
        return None
    newest = instance.get_latest_materialization_events(list(made))
    if any(entry is None or entry.run_id not in group for entry in newest.values()):
        return None
    html = Path(report.metadata["report"].value)
    written = html.with_name("report.json")
    if not html.is_file() or not written.is_file():
        return None
    if json.loads(written.read_text()).get("run_id") not in group:
        return None  # another home's run wrote to the same folder since
    return run
