"""The inbox: a folder where new batches (and later their labels) arrive as files.

A batch is any CSV (optionally .gz) or Parquet file; its labels, when they come, sit beside
it as `<batch name>.labels.csv` (or .parquet) with the id column and the target. Each batch is
known by a key made of its name and content hash, so a file is scored once however often it
is seen, the same bytes under a second name are not a second batch, and a changed file under
the same name is a new batch.

Only whole, real files are taken. A file is whole once unchanged for `SETTLE_SECONDS` (a
producer that may pause mid-file writes under a hidden or temporary name, `.name.csv` or
`name.csv.partial`, and renames it in when done); a symbolic link is never followed, wherever
it points, and a labels file obeys the same two rules.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from imbal_pipeline.core.data.data import one_label_per_id

SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")
LABELS = ".labels"

# A writer moves a file's mtime with every write, so a file unchanged for 10 s is finished
# unless its writer pauses that long mid-file (a stalled network upload: such producers must
# write under a temporary name and rename). 10 s is well above the coarsest file-system
# timestamps (FAT's 2 s) and below the inbox sensor's 30 s interval, so a file that settles
# between two looks is still taken at the next one. Tests pass their own `settle` and `now`,
# or set this.
SETTLE_SECONDS = 10.0

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


@dataclass(frozen=True)
class Batch:
    """One whole file in the inbox, with its labels file once that is whole too."""

    path: Path
    digest: str  # sha256 of the file's bytes
    labels_path: Path | None = None
    labels_note: str | None = None  # why a labels file beside it is not taken (yet)

    @property
    def key(self) -> str:
        """Its partition key: a readable name, then the hash (letters, digits and _ only)."""
        return batch_key(self.path, self.digest)


@dataclass(frozen=True)
class Look:
    """What one look at the inbox found."""

    batches: tuple[Batch, ...]  # whole files, one per content, oldest first
    copies: tuple[Batch, ...]  # whole files with the bytes of an earlier one in `batches`
    notes: dict[str, str] = field(default_factory=dict)  # file name -> why it is not taken


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


def key_digest(key: str) -> str:
    """The content part of a partition key (the first 12 hex of the batch's hash)."""
    return key.rsplit("_", 1)[-1]


def copy_note(name: str, key: str) -> str:
    """Why a file whose bytes are those of batch `key` is not scored."""
    return (
        f"{name} has the same bytes as batch {key}; the same bytes are scored once "
        "(delete the copy)"
    )


def is_batch_name(name: str) -> bool:
    """A data file's name that is not a labels file, a hidden file or a partial upload."""
    name = name.lower()
    return not name.startswith(".") and name.endswith(SUFFIXES) and LABELS not in name


def is_batch_file(path: Path) -> bool:
    """A batch's name on a regular file (a symbolic link is not one, wherever it points)."""
    info = _lstat(path) if is_batch_name(path.name) else None
    return info is not None and _regular(info)


def _regular(info: os.stat_result) -> bool:
    return stat.S_ISREG(info.st_mode)


def file_sha256(path: Path) -> str:
    """sha256 of a regular file's bytes; OSError for a symbolic link or a file that changed."""
    digest = _read_sha256(Path(path), os.lstat(path))
    if digest is None:
        raise OSError(f"{Path(path).name} is not a regular file or changed while it was read")
    return digest


def _why_not(name: str, info: os.stat_result, now: float, settle: float) -> str | None:
    """Why the entry `info` describes is not taken: a link, not a file, or not whole yet."""
    if stat.S_ISLNK(info.st_mode):
        return f"{name} is a symbolic link; the inbox never follows links: put the file itself in"
    if not _regular(info):
        return f"{name} is not a regular file; put a data file in the inbox"
    age = now - info.st_mtime
    if age >= settle:
        return None
    if age < -1.0:
        return (
            f"{name} was modified in the future by this machine's clock; it is taken once that "
            "time has passed (or touch the file)"
        )
    return f"{name} is still being written; it is taken once unchanged for {settle:g} s"


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    """The same file, unchanged: device, inode, size and mtime equal."""
    return all(
        getattr(a, f) == getattr(b, f) for f in ("st_dev", "st_ino", "st_size", "st_mtime_ns")
    )


def _read_sha256(path: Path, info: os.stat_result, chunk: int = 1 << 20) -> str | None:
    """sha256 of the file `info` describes; None if it is a link now, or changed while read."""
    if not _regular(info):
        return None
    try:
        # No link is followed, and a pipe put in the file's place cannot block the open.
        fd = os.open(path, _OPEN_FLAGS)
    except OSError:
        return None
    with open(fd, "rb") as fh:
        if not _same(os.fstat(fd), info):
            return None
        # No more than the size seen: a writer appending as fast as it is read cannot hold
        # the look; a grown or shrunk file fails the check that follows.
        digest, left = hashlib.sha256(), info.st_size
        while left > 0 and (block := fh.read(min(chunk, left))):
            digest.update(block)
            left -= len(block)
        if not _same(os.fstat(fd), info):
            return None
    return digest.hexdigest()


def _labels(batch: Path, now: float, settle: float) -> tuple[Path | None, str | None]:
    """A batch file's labels file when it is whole, else why the one there is not taken."""
    name = stem(batch)
    for suffix in SUFFIXES:
        candidate = batch.with_name(f"{name}{LABELS}{suffix}")
        info = _lstat(candidate)
        if info is None:
            continue
        why = _why_not(candidate.name, info, now, settle)
        return (candidate, None) if why is None else (None, why)
    return None, None


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return path.lstat()
    except FileNotFoundError:  # gone since the folder was listed
        return None


def _whole_files(folder: Path, now: float, settle: float):
    """The whole batch files in `folder` with their state, oldest first, and notes on the
    entries not taken (links of any name, other non-files, files still being written)."""
    whole, notes = [], {}
    for path in folder.iterdir():
        if path.name.startswith(".") or not (is_batch_name(path.name) or path.is_symlink()):
            continue
        info = _lstat(path)
        why = None if info is None else _why_not(path.name, info, now, settle)
        if why is not None:
            notes[path.name] = why
        elif info is not None and is_batch_name(path.name):
            whole.append((path, info))
    whole.sort(key=lambda entry: (entry[1].st_mtime_ns, entry[0].name))
    return whole, notes


def look(
    folder: str | Path,
    known: dict[str, str] | None = None,
    *,
    now: float | None = None,
    settle: float | None = None,
) -> Look:
    """Every whole batch file in `folder`, oldest first, and why any other file is not taken.

    `known` maps a file's name, size, mtime and inode to its digest, so a big inbox is not
    re-read on every look; it is updated in place to the files present. `now` is the clock;
    `settle` is `SETTLE_SECONDS` unless given.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return Look((), ())
    now = time.time() if now is None else now
    settle = SETTLE_SECONDS if settle is None else settle
    whole, notes = _whole_files(folder, now, settle)
    digests: dict[str, str] = {}
    first: dict[str, Batch] = {}
    copies: list[Batch] = []
    for path, info in whole:
        stamp = f"{path.name}:{info.st_size}:{info.st_mtime_ns}:{info.st_ino}"
        digest = (known or {}).get(stamp) or _read_sha256(path, info)
        if digest is None:
            notes[path.name] = (
                f"{path.name} changed while it was read; it is taken once unchanged for "
                f"{settle:g} s"
            )
            continue
        digests[stamp] = digest
        batch = Batch(path, digest, *_labels(path, now, settle))
        if digest in first:
            copies.append(batch)
            notes[path.name] = copy_note(path.name, first[digest].key)
        else:
            first[digest] = batch
    if known is not None:
        known.clear()
        known.update(digests)
    batches = tuple(_labels_from_copies(b, copies) for b in first.values())
    return Look(batches, tuple(copies), notes)


def _labels_from_copies(batch: Batch, copies: list[Batch]) -> Batch:
    """A batch without a labels file of its own takes one beside a copy of it."""
    if batch.labels_path is not None:
        return batch
    for copy in copies:
        if copy.digest == batch.digest and copy.labels_path is not None:
            return Batch(batch.path, batch.digest, copy.labels_path, batch.labels_note)
    return batch


def list_batches(
    folder: str | Path,
    known: dict[str, str] | None = None,
    *,
    now: float | None = None,
    settle: float | None = None,
) -> list[Batch]:
    """Every whole batch in `folder`, one per content, oldest first (see `look`)."""
    return list(look(folder, known, now=now, settle=settle).batches)


def find_batch(
    folder: str | Path, key: str, *, now: float | None = None, settle: float | None = None
) -> Batch:
    """The inbox file behind a partition key; refused when it is gone or has changed."""
    found = look(folder, now=now, settle=settle)
    for batch in (*found.batches, *found.copies):
        if batch.key == key:
            return batch
    raise FileNotFoundError(
        f"no file in the inbox {folder} has the content of batch {key} (moved, deleted or "
        "changed since it arrived); put it back or drop the partition"
    )


def read_batch(batch: Batch, read_hashed) -> pd.DataFrame:
    """The batch's table, parsed from bytes that hash to the batch's own digest.

    `read_hashed(path)` returns the table and the digest (16 hex) of the bytes it parsed. The
    file is hashed when it is found and parsed later: if it was replaced in between (another
    upload under the same name, a link swapped in), the parsed bytes are not the batch's, and
    scoring them would record one batch's key against another's rows.
    """
    frame, parsed = read_hashed(batch.path)
    if not batch.digest.startswith(parsed):
        raise FileNotFoundError(
            f"{batch.path.name} changed between being found (batch {batch.key}) and being read; "
            "the next look takes it as a new batch"
        )
    return frame


def labels_name(path: Path) -> str:
    """The file name a batch's labels are expected under (CSV; Parquet works too)."""
    return f"{stem(path)}{LABELS}.csv"


ROW = "row"  # the id of a batch without an id column: its 0-based row number


def labelled_rows(batch: Batch, read, target: str, id_column: str | None) -> pd.DataFrame:
    """The batch's rows that have a label, with the label as the target column.

    `read(path)` reads a data file the way the training file is read.
    """
    labels_path = batch.labels_path
    if labels_path is None:
        raise ValueError(f"{batch.path.name} has no labels file; give {labels_name(batch.path)}")
    frame = read(batch.path)
    labels = read(labels_path)
    key = id_column or ROW
    if key not in labels.columns or target not in labels.columns:
        raise ValueError(
            f"{labels_path.name} needs the columns {key!r} and {target!r}; fix the file"
        )
    ids = frame[id_column] if id_column else pd.Series(range(len(frame)), index=frame.index)
    by_id = one_label_per_id(labels[key], labels[target], f"labels file {labels_path.name}")
    out = frame.drop(columns=[target], errors="ignore")
    out[target] = ids.astype(str).map(by_id)
    return out[out[target].notna()].reset_index(drop=True)
