"""What the raw data is: its data version, made of the digests of the bytes a run parsed.

The version of `raw_file` is the raw file's content hash (or the generator's parameters), the
holdout file's and those of the labelled inbox batches. A run reads each file once, hashing
it as it parses it (`TableReader`), and records those digests: a file replaced meanwhile is
recorded as it was read, never as the path holds it later.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from imbal_pipeline.core.data.data import ReadOptions, read_table_hashed
from imbal_pipeline.core.settings import Settings


class TableReader:
    """Reads tables as `read_table_hashed` does and keeps, by path, the digest of each file's
    bytes as parsed (what a run's data version is made of, see `data_version`) and its columns
    with their types as read (what a derived contract describes, before --drop)."""

    def __init__(self, options: ReadOptions):
        self.options = options
        self.digests: dict[str, str] = {}
        self.columns: dict[str, pd.Series] = {}
        # The labelled inbox batches read as training data: file, labels file, rows, positives.
        self.labelled: list[dict] = []

    def __call__(self, path: str | Path) -> pd.DataFrame:
        frame, digest = read_table_hashed(path, self.options)
        self.digests[str(path)] = digest
        self.columns[str(path)] = frame.dtypes
        return frame


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in chunks (the file may be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def data_version(s: Settings, read: Mapping[str, str] | None = None) -> tuple[str, dict[str, str]]:
    """What the raw data is, and the digest of each file it is made of (by path).

    The raw file's content hash (or the generator's parameters), the holdout file's, and those
    of the labelled inbox batches. `read` maps a path to the digest of the bytes a run parsed
    from it (`TableReader.digests`): that is the file's part, whatever the path holds by now.
    Any other file is hashed as it is now.
    """
    files: dict[str, str] = {}

    def digest(path, known: str | None = None) -> str:
        key = str(path)
        files[key] = (read or {}).get(key) or known or file_digest(path)
        return files[key]

    if s.data_path is None:
        parts = [f"generated-{s.generated_rows}-{s.generated_positive_rate}-{s.seed}"]
    else:
        parts = [digest(s.data_path)]
    if s.test_data_path:
        parts.append(digest(s.test_data_path))
    if s.labelled_batches:
        from imbal_pipeline.core.data import inbox

        # Each labelled batch is training data too: new labels make a new data version.
        labelled = [
            f"{digest(b.path, b.digest[:16])}:{digest(b.labels_path)}"
            for b in inbox.list_batches(s.inbox)
            if b.labels_path is not None
        ]
        if labelled:
            parts.append(hashlib.sha256("|".join(sorted(labelled)).encode()).hexdigest()[:16])
    return "-".join(parts), files


def data_fingerprint(s: Settings, read: Mapping[str, str] | None = None) -> str:
    """The data version `data_version` gives, alone."""
    return data_version(s, read)[0]
