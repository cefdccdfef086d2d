"""Typed sections of a JSON file: dataclasses that read and write the same keys, in order.

A section reads the keys an older file lacks as None and keeps the keys it does not know
(`extra`), written back after the known ones; a field may be left out when None (`optional`)
or written at its parent's level (`flat`). `report_model` builds report.json from these.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

JSON = dict[str, Any]

# A field's metadata flag: left out of the JSON when None (a key the writer adds only when it
# has something to say, or one older reports lack), instead of written as null.
_OMIT_NONE = "omit_none"
# A field holding a section whose keys sit at its parent's level (report.json's top level has
# grown by stage: the evidence, then the verdict, then the release); absent when None.
_FLAT = "flat"


def optional() -> Any:
    """A field whose key is absent from report.json when its value is None."""
    return field(default=None, metadata={_OMIT_NONE: True})


def flat() -> Any:
    """A field holding a section written at its parent's level; absent when None."""
    return field(default=None, metadata={_OMIT_NONE: True, _FLAT: True})


@dataclass(kw_only=True)
class Section:
    """One part of report.json: its fields in the file's key order, and the keys this version
    does not know (`extra`)."""

    # Fields holding another section, by name: `from_json` reads them as that type.
    nested: ClassVar[Mapping[str, type[Section]]] = {}

    extra: JSON = field(default_factory=dict, repr=False)

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls) if f.name != "extra"]

    @classmethod
    def from_json(cls, found: Mapping[str, Any] | None) -> Self:
        """The section as report.json holds it; a key an older report lacks reads as None."""
        rest = dict(found or {})
        values = {}
        for f in dataclasses.fields(cls):
            if f.name == "extra":
                continue
            kind = cls.nested.get(f.name)
            if kind is not None and f.metadata.get(_FLAT):
                keys = [k for k in kind.names() if k in rest]
                values[f.name] = kind.from_json({k: rest.pop(k) for k in keys}) if keys else None
                continue
            value = rest.pop(f.name, None)
            values[f.name] = kind.from_json(value) if kind and value is not None else value
        return cls(**values, extra=rest)

    def to_json(self) -> JSON:
        """The section as report.json writes it."""
        out: JSON = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "extra" or (value is None and f.metadata.get(_OMIT_NONE)):
                continue
            if f.metadata.get(_FLAT):
                out.update(value.to_json())
            else:
                out[f.name] = value.to_json() if isinstance(value, Section) else value
        return {**out, **self.extra}
