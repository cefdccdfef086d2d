"""The one configuration, `Settings`: the declared fields (`fields.py`), their validation
and the subsets derived from what each setting affects.

The CLI's flags (`arguments.py`), the Dagster resource the Launchpad shows (`resources.py`) and the
project file every process loads (`project.py`) are all derived from these fields.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import typing
from dataclasses import asdict, dataclass
from typing import Any, Literal

from imbal_pipeline.core import limits
from imbal_pipeline.core.affects import NO_RESULT

# The vocabulary every module names columns, strategies and objectives by, kept where declared.
from imbal_pipeline.core.fields import (  # noqa: F401
    FOLD,
    GROUP,
    IN_PROCESS_ROWS,
    LABEL,
    LADDER,
    MIN_NEGATIVES,
    NARROW_CELLS,
    NARROW_ROWS,
    OBJECTIVES,
    PROJECT,
    RESERVED,
    ROW_ID,
    RUN,
    SCORE,
    SPLIT,
    STRATEGY,
    SYNTHETIC,
    Executor,
    Fields,
    Objective,
    ReadOptions,
    SettingsError,
    Strategy,
    setting,
)


@dataclass(frozen=True)
class Settings(Fields):
    """Dataset, parsing, splits, strategies, model, threshold objective and deployment."""

    def __post_init__(self) -> None:
        validate(self)

    @property
    def subgroup_columns(self) -> tuple[str, ...]:
        """Subgroups to report; the generated data brings its own `region`."""
        if not self.subgroups and self.data_path is None:
            return ("region",)
        return self.subgroups

    def to_dict(self) -> dict:
        """JSON-ready view, for reports and run tags."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def scoped(self, scope: str) -> dict:
        """The values of one scope's settings."""
        values = self.to_dict()
        return {f.name: values[f.name] for f in fields(scope)}

    @property
    def read_options(self):
        """How the data files are parsed."""
        return ReadOptions(self.sep, self.encoding, self.decimal, self.thousands)


def fields(scope: str | None = None) -> list[dataclasses.Field]:
    """The declared settings, optionally of one scope only, in declaration order."""
    return [f for f in dataclasses.fields(Settings) if scope in (None, f.metadata["scope"])]


def affecting(*tags: str, only: bool = False) -> tuple[str, ...]:
    """The settings a change of which changes any of `tags` (see `affects.AFFECTS`), in
    declaration order; with `only`, those that change nothing else."""
    wanted = set(tags)
    return tuple(
        f.name
        for f in fields()
        if (f.metadata["affects"] <= wanted if only else f.metadata["affects"] & wanted)
    )


def result_free() -> frozenset[str]:
    """The settings that change no result: where things are kept, where and when steps run."""
    return frozenset(affecting(*NO_RESULT, only=True))


@functools.cache
def types() -> dict[str, object]:
    """Each setting's type annotation, resolved."""
    return typing.get_type_hints(Settings)


def choices(name: str) -> tuple[str, ...] | None:
    """The allowed values of a setting (or of its items), from its Literal type."""
    kind = types()[name]
    if typing.get_origin(kind) is tuple:
        kind = typing.get_args(kind)[0]
    return typing.get_args(kind) if typing.get_origin(kind) is Literal else None


def delimiter_of(typed: str) -> str:
    """The delimiter a user typed: a tab is hard to type in a shell or the Launchpad, so `\\t`
    (two characters) and `tab` mean one."""
    return "\t" if typed in ("\\t", "tab") else typed


def from_values(values: dict) -> Settings:
    """Settings from plain values (a project file, run config, JSON): lists become tuples."""
    known = {f.name for f in fields()}
    unknown = sorted(set(values) - known)
    if unknown:
        raise SettingsError(f"unknown setting {unknown[0]!r}; see `imbal-pipeline run --help`")
    plain: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    if "sep" in plain:
        plain["sep"] = delimiter_of(plain["sep"])
    return Settings(**plain)


def flag_of(field: dataclasses.Field) -> str:
    """The command-line option of a setting, which every message about it names."""
    return field.metadata["flag"] or "--" + field.name.replace("_", "-")


def validate(s: Settings) -> None:
    """Raise SettingsError with a one-line fix for settings that cannot work."""
    for field in fields():
        allowed = choices(field.name) or ()  # () when any value of its type will do
        value = getattr(s, field.name)
        given = value if isinstance(value, tuple) else (value,)
        wrong = [v for v in given if allowed and v not in allowed]
        if wrong:
            raise SettingsError(
                f"unknown {field.name.replace('_', ' ')} {wrong[0]!r}; "
                f"choose from {', '.join(allowed)}"
            )
        problem = range_problem(field, value)
        if problem:
            raise SettingsError(f"{flag_of(field)} {problem}")
    if not s.strategies or s.strategies[0] != "none":
        raise SettingsError("the strategy list must start with 'none': it is the baseline")
    if s.fp_cost == 0 and s.fn_cost == 0:
        raise SettingsError("--fp-cost and --fn-cost must not both be zero")
    if s.max_negatives < 0 or 0 < s.max_negatives < MIN_NEGATIVES:
        # Fewer would leave some fold without negatives to fit (scale_pos_weight 0).
        raise SettingsError(
            f"--max-negatives must be 0 (no limit) or at least {MIN_NEGATIVES}, "
            f"got {s.max_negatives}"
        )
    if s.executor == "dask" and not s.dask_address:
        raise SettingsError("--executor dask needs --dask-address, e.g. tcp://127.0.0.1:8786")
    for name in (s.target, s.id_column, s.group, *s.categorical, *s.subgroups, *s.drop):
        if name in RESERVED:
            raise SettingsError(f"column name {name!r} is reserved by imbal_pipeline; rename it")
    clash = {s.target, s.id_column, s.group, *s.subgroups} & set(s.drop)
    if clash:
        name = sorted(map(str, clash))[0]
        raise SettingsError(
            f"--drop names {name!r}, the target, id, group or a subgroup; fix --drop"
        )
    if s.group is not None and s.group in (s.target, s.id_column):
        raise SettingsError(f"--group {s.group!r} is the target or the id; name another column")
    problem = limits.store_problem(s.store) or limits.parsing_problem(
        s.sep, s.decimal, s.thousands, s.encoding
    )
    if problem:
        raise SettingsError(problem)


def range_problem(field: dataclasses.Field, value) -> str | None:
    """Why `value` lies outside the declared range of a number setting (`must be ...`), or None.

    The words after the setting's name: the CLI puts its flag before them, the Launchpad its
    field's name.
    """
    bounds = field.metadata["bounds"]
    return bounds and limits.range_problem(bounds, value, whole=types()[field.name] is int)


def max_concurrent_steps(lgbm_threads: int = 1) -> int:
    """Steps that may run at once so that threads x steps never exceed the cores."""
    cores = os.cpu_count() or 1
    return max(1, cores // max(1, lgbm_threads))


def threads_alone(lgbm_threads: int = 1) -> int:
    """Threads for a step that no other step of its run can run beside: every thread the
    concurrent steps would otherwise share."""
    return max_concurrent_steps(lgbm_threads) * max(1, lgbm_threads)
