"""The inbox: a folder where new batches (and later their labels) arrive as files.

A batch is any CSV (optionally .gz) or Parquet file; its labels, when they come, sit beside
it as `<batch name>.labels.csv` (or .parquet) with the id column and the target. Each batch is
known by a key made of its name and content hash, so a file is scored once however often it
is seen, and a changed file under the same name is a new batch.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")
LABELS = ".labels"


@dataclass(frozen=True)
class Batch:
    """One file in the inbox."""

    path: Path
    digest: str  # sha256 of the file's bytes

    @property
    def key(self) -> str:
        """Its partition key: a readable name, then the hash (letters, digits and _ only)."""
        return batch_key(self.path, self.digest)

    @property
    def labels_path(self) -> Path | None:
        """Its labels file, when one has arrived."""
        name = stem(self.path)
        for suffix in SUFFIXES:
            candidate = self.path.with_name(f"{name}{LABELS}{suffix}")
            if candidate.is_file():
                return candidate
        return None


def stem(path: Path) -> str:
    """The file's name without its data suffix (.csv, .csv.gz, .parquet, .pq)."""
    name = path.name
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def batch_key(path: Path, digest: str) -> str:
    """`<name>_<first 12 hex of the hash>`, safe as a partition key and a store folder."""
    name = re.sub(r"[^A-Za-z0-9_]+", "_", stem(path)).strip("_")[:40] or "batch"
    return f"{name}_{digest[:12]}"


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def is_batch_file(path: Path) -> bool:
    """A data file that is not a labels file, a hidden file or a partial upload."""
    name = path.name.lower()
    return (
        path.is_file()
        and not name.startswith(".")
        and name.endswith(SUFFIXES)
        and LABELS not in name
    )


def list_batches(folder: str | Path, known: dict[str, str] | None = None) -> list[Batch]:
    """Every batch file in `folder`, oldest first.

    `known` maps "name:size:mtime" to a digest already computed, so a big inbox is not
    re-read on every look; it is updated in place.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    known = {} if known is None else known
    out = []
    files = sorted(
        (p for p in folder.iterdir() if is_batch_file(p)), key=lambda p: p.stat().st_mtime
    )
    for path in files:
        stat = path.stat()
        stamp = f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}"
        if stamp not in known:
            known[stamp] = file_sha256(path)
        out.append(Batch(path, known[stamp]))
    return out


def find_batch(folder: str | Path, key: str) -> Batch:
    """The inbox file behind a partition key; refused when it is gone or has changed."""
    for batch in list_batches(folder):
        if batch.key == key:
            return batch
    raise FileNotFoundError(
        f"no file in the inbox {folder} has the content of batch {key} (moved, deleted or "
        "changed since it arrived); put it back or drop the partition"
    )


def labels_name(path: Path) -> str:
    """The file name a batch's labels are expected under (CSV; Parquet works too)."""
    return f"{stem(path)}{LABELS}.csv"


ROW = "row"  # the id of a batch without an id column: its 0-based row number


def labelled_rows(batch: Batch, read, target: str, id_column: str | None) -> pd.DataFrame:
    """The batch's rows that have a label, with the label as the target column.

    `read(path)` reads a data file the way the training file is read.
    """
    frame = read(batch.path)
    labels = read(batch.labels_path)
    key = id_column or ROW
    if key not in labels.columns or target not in labels.columns:
        raise ValueError(
            f"{batch.labels_path.name} needs the columns {key!r} and {target!r}; fix the file"
        )
    ids = frame[id_column] if id_column else pd.Series(range(len(frame)), index=frame.index)
    by_id = dict(zip(labels[key].astype(str), labels[target], strict=True))
    out = frame.drop(columns=[target], errors="ignore")
    out[target] = ids.astype(str).map(by_id)
    return out[out[target].notna()].reset_index(drop=True)
