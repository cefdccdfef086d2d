"""The code location's resources: `pipeline`, the Dagster face of the one configuration, and
`fit_cache`, the stored fits a step may reuse.

The `pipeline` fields are the run-scope settings with their types, choices and descriptions, so
the Launchpad offers what a run may change; the project-scope settings (fold count, threads,
store, executor) shape the code location and are fixed by the project file.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from typing import ClassVar, Literal

import dagster as dg
from pydantic import Field, ValidationInfo, field_validator
from pydantic.fields import FieldInfo

from imbal_pipeline.core import settings as settings_core
from imbal_pipeline.core.settings import PROJECT, RUN, Settings, SettingsError
from imbal_pipeline.defs import loaded
from imbal_pipeline.defs.dagster_private import PARTITION_NAME_TAG
from imbal_pipeline.store.storage import AssetStore

_FIELDS = {field.name: field for field in settings_core.fields()}


class _Pipeline(dg.ConfigurableResource):
    """Dataset, strategies, seed, model and threshold objective of a run.

    Defaults are the project's (imbal_pipeline.yaml); a run's config overrides any of them.
    """

    project: ClassVar[dict] = Settings().scoped(PROJECT)
    # The project this code location was built from: what the UI shows (see `loaded`).
    loaded_from: ClassVar[Settings] = Settings()

    @field_validator("*", mode="before")
    @classmethod
    def _in_range(cls, value, info: ValidationInfo):
        """A number setting within its declared bounds, refused in the setting's own words (the
        field's pydantic bounds would say only 'Input should be greater than 0')."""
        if info.field_name not in _FIELDS:
            return value
        problem = settings_core.range_problem(_FIELDS[info.field_name], value)
        if problem:
            raise ValueError(f"{info.field_name} {problem}")
        return value

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Refuse a run launched from a code location that loaded another project file than the
        one this process loaded (the UI showed other settings), and name its dataset."""
        run = context.run
        # A batch's run (a partition: scoring, its labels) trains nothing and uses the model in
        # service: it goes on whatever the project file says now.
        if run is None or context.instance is None or PARTITION_NAME_TAG in run.tags:
            return
        problem = loaded.launch_problem(context.instance, run, self.loaded_from)
        if problem:
            raise SettingsError(problem)
        if loaded.PROJECT_TAG not in run.tags:  # Dagster's own asset job has no job tags
            context.instance.add_run_tags(run.run_id, loaded.launch_tags(self.loaded_from))

    def settings(self) -> Settings:
        """The validated settings the core works with: this run's, and the project's."""
        values = {}
        for field in settings_core.fields(RUN):
            value = getattr(self, field.name)
            if isinstance(value, list):  # choices in a list arrive as Enum members
                value = [v.value if isinstance(v, enum.Enum) else v for v in value]
            values[field.name] = value
        return settings_core.from_values({**values, **self.project})


def _annotation(name: str):
    """The pydantic type of a setting: tuples as lists, choices kept for the Launchpad.

    Dagster shows a Literal as a choice; in a list it needs an Enum.
    """
    kind = settings_core.types()[name]
    if typing.get_origin(kind) is tuple:
        item = typing.get_args(kind)[0]
        if typing.get_origin(item) is Literal:
            values = typing.get_args(item)
            # Enum(name, values), its name made at run time (mypy reads Enum() only with a literal).
            choice = enum.EnumType.__call__(
                enum.Enum, name.title().replace("_", ""), {v: v for v in values}
            )
            return types.GenericAlias(list, (choice,))  # list[choice], made at run time
        return list[str]
    return kind


def _field(setting: dataclasses.Field, default) -> FieldInfo:
    """The pydantic field of a setting: its default, description and declared bounds."""
    bounds = setting.metadata["bounds"]
    limits = {} if bounds is None else {k: v for k, v in vars(bounds).items() if v is not None}
    return Field(default=default, description=setting.metadata["help"], **limits)


def _config_class(loaded_from: Settings, name: str = "PipelineConfig") -> type:
    fields = settings_core.fields(RUN)
    values = loaded_from.to_dict()
    namespace = {
        "__module__": __name__,
        "__doc__": loaded.description(loaded_from, _Pipeline.__doc__ or ""),
        "__annotations__": {f.name: _annotation(f.name) for f in fields},
        "project": loaded_from.scoped(PROJECT),
        "loaded_from": loaded_from,
        **{f.name: _field(f, values[f.name]) for f in fields},
    }
    return type(name, (_Pipeline,), namespace)


# Assets ask for a resource of this type; the one a code location provides is its project's.
# Its fields are made from the settings at import, so a type checker knows it as `_Pipeline`.
if typing.TYPE_CHECKING:
    PipelineConfig = _Pipeline
else:
    PipelineConfig = _config_class(Settings())


def run_config(settings: Settings) -> dict:
    """The run config that gives a run these settings: the `pipeline` resource's fields, which
    `settings()` reads back (the project-scope ones come with the code location)."""
    return {"resources": {"pipeline": {"config": settings.scoped(RUN)}}}


def pipeline_for(project: Settings) -> PipelineConfig:
    """The `pipeline` resource of a code location built from `project`."""
    return _config_class(project)()


class FitCache(dg.ConfigurableResource):
    """Fits a step may reuse: the value an identical recipe (code, the inputs' contents and the
    settings that shape the result) produced before, so nothing is refitted.

    It reads the asset store that `BundleIOManager` writes, which records each recipe as it
    stores the value. Under another IO manager set `base_dir` to null: then nothing is reused.
    """

    base_dir: str | None = Field(
        description="the asset store the io_manager writes; null: reuse nothing"
    )

    def recall(self, asset: str, recipe: str):
        """The stored value an identical recipe produced, or None."""
        if self.base_dir is None:
            return None
        return AssetStore(self.base_dir).recall(asset, recipe)
