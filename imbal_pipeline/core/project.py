"""The project file: the settings every process that loads the code location reads alike.

`imbal-pipeline init` and `imbal-pipeline run` write `imbal_pipeline.yaml` in the working folder
(beside `workspace.yaml`); the CLI, `dagster dev`, the daemon and every step worker build the
same graph from it, with no environment variable to hand around. It is plain YAML, read with
`yaml.safe_load`: data, never code.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from imbal_pipeline.core.affects import PLACES
from imbal_pipeline.core.settings import Settings, SettingsError, fields, from_values

PROJECT_FILE = "imbal_pipeline.yaml"
# Optional: a project file elsewhere than the working folder (a worker started in another one).
PROJECT_ENV = "IMBAL_PIPELINE_PROJECT"
HEADER = """\
# imbal_pipeline project: the settings every process loading the code location reads alike.
# Written by `imbal-pipeline init` and `imbal-pipeline run`; `imbal-pipeline run --help` lists
# every setting. Relative paths are relative to this file's folder.
"""


def project_path() -> Path:
    """Where the project file is: $IMBAL_PIPELINE_PROJECT, else the working folder's."""
    return Path(os.environ.get(PROJECT_ENV) or PROJECT_FILE).resolve()


def _is_url(value: str) -> bool:
    return "://" in value


def load_project(path: Path | None = None) -> Settings:
    """The project's settings; the defaults where there is no project file yet."""
    path = path or project_path()
    if not path.is_file():
        return Settings()
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        # A parse error says what and where; a reader error (a control character) has no `problem`.
        problem = exc.problem if isinstance(exc, yaml.MarkedYAMLError) else str(exc).splitlines()[0]
        raise SettingsError(f"{path} is not valid YAML ({problem}); fix the file") from exc
    if not isinstance(values, dict):
        raise SettingsError(f"{path} is not a mapping of settings; fix the file")
    for field in fields():
        value = values.get(field.name)
        located = field.metadata["path"] or PLACES in field.metadata["affects"]  # the store too
        if located and isinstance(value, str) and value and not _is_url(value):
            values[field.name] = str((path.parent / value).resolve())
    try:
        return from_values(values)
    except (SettingsError, TypeError) as exc:
        raise SettingsError(f"{path}: {exc}") from exc


def save_project(settings: Settings, path: Path | None = None) -> Path:
    """Write the settings that differ from the defaults (the dataset always), atomically."""
    path = path or project_path()
    defaults = Settings().to_dict()
    chosen = {
        name: value
        for name, value in settings.to_dict().items()
        if value != defaults[name] or name in ("data_path", "target")
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(HEADER + yaml.safe_dump(chosen, sort_keys=False, allow_unicode=True))
    tmp.replace(path)
    return path
