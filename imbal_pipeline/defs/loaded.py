"""What the code location loaded from the project file, and the check that a run trains on it.

The UI shows the `pipeline` resource as its code location loaded it: the dataset, the target and
every setting of the project file at that moment. A run launched from the UI (or by a sensor or
schedule) is executed by a process that loads the code location again, from the project file as
it is then. Had the file changed in between (a CLI run with another `--data` saves it), the run
would train on what the UI does not show; so the run refuses at its first step, in one line,
until the code location is reloaded. What is compared is the digest of every setting, recorded
in the resource's description, which the run's job snapshot keeps from its launch.

The dataset's tags (path, content digest, target, project digest) are the training job's own
tags, so every run launched from the job carries them before it starts; a run of Dagster's
implicit asset job (the asset graph's "Materialize all") gets them at its first step.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re

from imbal_pipeline.core.data.versions import file_digest
from imbal_pipeline.core.project import project_path
from imbal_pipeline.core.settings import RUN, Settings
from imbal_pipeline.defs.instance import dataset_tags

PROJECT_TAG = "imbal/project"  # the digest of every setting the run's code location loaded
DATA_DIGEST_TAG = "imbal/data_sha256"  # the data file's content as the code location found it
_DIGEST = re.compile(r"\(project ([0-9a-f]{12})\)")


def project_digest(settings: Settings) -> str:
    """A digest of every setting: equal digests, the same graph and the same defaults."""
    text = json.dumps(settings.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@functools.lru_cache(maxsize=8)
def _content(path: str, size: int, mtime_ns: int) -> str:
    """The file's digest, once per version of it in a process (every step rebuilds the graph)."""
    return file_digest(path)


def data_digest(settings: Settings) -> str:
    """The data file's content digest now (as `versions.file_digest`), or why there is none."""
    if settings.data_path is None:
        return "generated"
    try:
        stat = os.stat(settings.data_path)
        return _content(settings.data_path, stat.st_size, stat.st_mtime_ns)
    except OSError:
        return "unreadable"  # the code location still loads; the run says why it cannot read it


def launch_tags(settings: Settings) -> dict[str, str]:
    """The tags naming what a run of this project trains on, set before it starts."""
    return {
        **dataset_tags(settings.data_path, settings.target),
        DATA_DIGEST_TAG: data_digest(settings),
        PROJECT_TAG: project_digest(settings),
    }


def description(settings: Settings, doc: str) -> str:
    """The `pipeline` resource's description in the UI: what its runs train on, and the rule."""
    data = f"{settings.data_path} (sha256 {data_digest(settings)})"
    if settings.data_path is None:
        data = f"generated fraud-like data ({settings.generated_rows:,} rows, seed {settings.seed})"
    return (
        f"{doc.strip()}\n\nLoaded from the project file: data {data}, target "
        f"{settings.target} (project {project_digest(settings)}). A run started after the "
        "project file changed refuses to start: reload the code location (Deployment, Reload) "
        "to see and train on the new one."
    )


@functools.lru_cache(maxsize=8)
def _launched(instance, snapshot_id: str) -> tuple[str | None, dict]:
    """The project digest and run-scope defaults that the run's job snapshot recorded at launch."""
    snapshot = instance.get_job_snapshot(snapshot_id)
    for mode in snapshot.mode_def_snaps:
        for resource in mode.resource_def_snaps:
            if resource.name != "pipeline":
                continue
            found = _DIGEST.search(resource.description or "")
            defaults = resource.config_field_snap.default_value_as_json_str
            return (found.group(1) if found else None), json.loads(defaults or "{}")
    return None, {}


def _differences(shown: dict, now: Settings) -> list[str]:
    """The run-scope settings the UI showed otherwise than the project file says now."""
    current = json.loads(json.dumps(now.scoped(RUN), default=str))
    first = [name for name in ("data_path", "target") if name in shown]
    rest = sorted(name for name in shown if name not in first)
    return [
        f"{name} {shown[name]!r} -> {current.get(name)!r}"
        for name in (*first, *rest)
        if shown[name] != current.get(name)
    ]


def launch_problem(instance, run, settings: Settings) -> str | None:
    """Why `run` must not train with `settings` (what this process loaded), or None.

    None when the run's code location, as it was launched, loaded the same project (or when the
    launch recorded none: a run made before this check).
    """
    if run is None or not run.job_snapshot_id:
        return None
    digest, shown = _launched(instance, run.job_snapshot_id)
    if digest is None or digest == project_digest(settings):
        return None
    changed = _differences(shown, settings) or ["a project-wide setting (folds, threads, store)"]
    return (
        f"the project file {project_path()} changed after this run's code location was "
        "loaded, so the UI showed other settings than the run would train with "
        f"({'; '.join(changed[:3])}); reload the code location (Deployment, Reload) and "
        "launch again"
    )
