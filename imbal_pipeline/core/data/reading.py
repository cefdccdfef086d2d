"""Reading a user's file: CSV (optionally gzipped) or Parquet, every byte parsed also hashed,
and what would be misread refused with the file named and the fix."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import os
import re
import stat
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from imbal_pipeline.core.fields import ReadOptions


class DataError(ValueError):
    """Input data that cannot be used; the message names the problem and the fix."""


class DamagedFileError(DataError):
    """A compressed file that ends early or is corrupt: only a whole copy of it can be read."""

    def __init__(self, path: Path, why: str):
        self.path, self.why = path, why
        super().__init__(
            f"{path} is a damaged gzip file ({why}): it ends early or is corrupt; compress it "
            "again from the original (`gzip -t FILE` checks a copy)"
        )


# The start of a text file kept as the parser reads it, to find its header row (a header row
# longer than this is checked for repeated names only as far as it goes).
HEADER_BYTES = 1 << 20


class _Tap(io.RawIOBase):
    """A stream's bytes passed through: into `digest`, and the first `keep` into `head`."""

    def __init__(self, source, digest=None, keep: int = 0):
        self._source, self.digest, self._keep = source, digest, keep
        self.head = bytearray()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._source.readinto(buffer)
        if n:
            view = memoryview(buffer)[:n]
            if self.digest is not None:
                self.digest.update(view)
            if len(self.head) < self._keep:
                self.head += view[: self._keep - len(self.head)]
        return n


def _csv_header(head: bytes, options: ReadOptions) -> list[str]:
    """The header row's names, as written (pandas renames a repeated name to `name.1`)."""
    text = io.TextIOWrapper(
        io.BytesIO(head), encoding=options.encoding, errors="replace", newline=""
    )
    names = next(csv.reader(text, delimiter=options.sep), [])
    if len(head) >= HEADER_BYTES and b"\n" not in head:
        names = names[:-1]  # the last name may be cut off
    return names


def file_problem(path: str | Path, what: str) -> str | None:
    """Why `path` cannot be read as `what`, or None: it is missing, or no regular file. A
    folder cannot be parsed, a device such as /dev/zero never ends, and opening a named pipe
    (FIFO) waits for a writer forever; `stat` looks without opening."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return f"{what} not found: {path}; check the path"
    except OSError as exc:
        return f"{what} {path} cannot be read ({exc.strerror or exc}); check the path"
    if stat.S_ISREG(mode):
        return None
    kind = (
        "a folder"
        if stat.S_ISDIR(mode)
        else "a named pipe"
        if stat.S_ISFIFO(mode)
        else "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "a socket"
    )
    return f"{what} {path} is not a regular file ({kind}); give a file"


def _is_parquet(path: Path) -> bool:
    suffixes = "".join(path.suffixes).lower()
    return suffixes.endswith(".parquet") or suffixes.endswith(".pq")


def _parse(path: Path, options: ReadOptions, digest) -> tuple[pd.DataFrame, bytes]:
    """The file's table and its text's first bytes (none for Parquet), every byte the parser
    read also fed to `digest` when one is given.

    A text file streams through the digest as it is parsed. Parquet is read by its footer
    first, so to hash exactly what is parsed the whole file is read into memory first: a
    Parquet file's size (compressed: about 100 MB for 1M rows of 30 numbers) is held while
    it is parsed.
    """
    if _is_parquet(path):
        if digest is None:
            return pd.read_parquet(path), b""
        raw = path.read_bytes()
        digest.update(raw)
        return pd.read_parquet(io.BytesIO(raw)), b""
    with open(path, "rb") as fh:
        stream: io.BufferedIOBase = io.BufferedReader(_Tap(fh, digest))
        if path.suffix.lower() == ".gz":
            stream = gzip.GzipFile(fileobj=stream)
        text = _Tap(stream, keep=HEADER_BYTES)
        frame = pd.read_csv(
            io.BufferedReader(text),
            sep=options.sep,
            encoding=options.encoding,
            decimal=options.decimal,
            compression=None,
        )  # without `thousands`: `_read_thousands` reads the separated numbers, exactly
        if digest is not None:  # bytes after the last the parser wanted (none, usually)
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return _read_thousands(frame, options), bytes(text.head)


def _number(options: ReadOptions) -> re.Pattern:
    """A number written with `options`' thousands separator and decimal mark: digits grouped
    by the separator, an optional fraction and exponent; or an infinity or NaN in words."""
    group, point = re.escape(options.thousands or ""), re.escape(options.decimal)
    digits = rf"(?:\d+(?:{group}\d+)*(?:{point}\d*)?|{point}\d+)(?:[eE][+-]?\d+)?"
    return re.compile(rf"\s*[+-]?(?:{digits}|inf|infinity|nan)\s*", re.IGNORECASE)


def _read_thousands(frame: pd.DataFrame, options: ReadOptions) -> pd.DataFrame:
    """`frame`, read without the thousands separator, with every text column whose values are
    all numbers written with it read as those numbers.

    Given `thousands`, pandas' parser reads every decimal number of the file by another
    routine, which puts about 7 % of them one unit in the last place off the correctly
    rounded value a clean file reads as (even in columns without a separator). Read without
    it, a plain column reads as a clean file's; a column of separated numbers is converted
    here, correctly rounded too (pandas' `to_numeric`).
    """
    if options.thousands is None:
        return frame
    number = _number(options)
    for column in frame.columns:
        values = frame[column]
        if not (values.dtype == object or pd.api.types.is_string_dtype(values.dtype)):
            continue
        given = values.dropna()
        if given.empty or pd.api.types.infer_dtype(given, skipna=False) != "string":
            continue
        # A text column shows it in its first values; only a column of numbers is read whole.
        if not all(given.iloc[:head].str.fullmatch(number).all() for head in (100, None)):
            continue
        plain = given.str.strip().str.replace(options.thousands, "", regex=False)
        if options.decimal != ".":
            plain = plain.str.replace(options.decimal, ".", regex=False)
        frame[column] = pd.to_numeric(plain).reindex(values.index)
    return frame


def read_table(path: str | Path, options: ReadOptions = ReadOptions(), digest=None) -> pd.DataFrame:
    """Read a CSV (optionally gzipped) or Parquet file; refuse what would be misread.

    With `digest` (a `hashlib` object), every byte parsed is fed to it as well.
    """
    path = Path(path)
    problem = file_problem(path, "data file")
    if problem is not None:
        raise DataError(problem)
    parquet = _is_parquet(path)
    try:
        frame, head = _parse(path, options, digest)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"data file is empty: {path}; give a file with a header and rows") from exc
    except (EOFError, zlib.error) as exc:  # gzip's: the stream ends early or is corrupt
        raise DamagedFileError(path, str(exc).strip() or type(exc).__name__) from exc
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path.name} is not valid {options.encoding} (byte {exc.object[exc.start]:#04x} at "
            f"position {exc.start}); pass --encoding with the file's encoding, e.g. "
            "--encoding latin-1"
        ) from exc
    except (pd.errors.ParserError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"cannot parse {path} ({first}); give a delimited text file (see --sep) or Parquet"
        ) from exc
    if not parquet:
        header = _csv_header(head, options)
        repeated = sorted({name for name in header if header.count(name) > 1})
        if repeated:
            raise DataError(f"duplicate column name {repeated[0]!r} in {path.name}; rename one")
        if frame.shape[1] == 1:
            only = str(frame.columns[0])
            other = next((d for d in (";", "\t", "|", ",") if d != options.sep and d in only), None)
            if other is not None:
                shown = "\\t" if other == "\t" else other
                raise DataError(
                    f"{path.name} has one column; it looks '{shown}'-separated: "
                    f"pass --sep '{shown}'"
                )
    if frame.empty:
        raise DataError(f"data file has no rows: {path}; give a file with a header and rows")
    _refuse_nested(frame, path)
    return frame


def read_table_hashed(
    path: str | Path, options: ReadOptions = ReadOptions()
) -> tuple[pd.DataFrame, str]:
    """`read_table`, and the digest of the bytes it parsed (as `file_digest` gives it).

    The file is opened once and hashed as it is parsed: a file replaced or rewritten meanwhile
    gives the digest of what the table came from, never of what the path holds later.
    """
    digest = hashlib.sha256()
    frame = read_table(path, options, digest)
    return frame, digest.hexdigest()[:16]


def rows_up_to(path: str | Path, limit: int) -> int:
    """The file's rows, or for a text file any count above `limit` once it passes it: cheap
    on a file of any size.

    Parquet's row count is in its footer; a text file's lines are counted in 1 MB pieces after
    its header (a quoted value holding a line break counts twice, which is close enough here).
    """
    path = Path(path)
    if _is_parquet(path):
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    lines = 0
    with opener(path, "rb") as fh:
        while lines <= limit + 1 and (chunk := fh.read(1 << 20)):
            lines += chunk.count(b"\n")
    return max(0, lines - 1)


def columns_of(path: str | Path, options: ReadOptions) -> int:
    """The file's column count, from a Parquet footer or a text file's header line."""
    path = Path(path)
    if _is_parquet(path):
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_columns
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rb") as fh:
        return len(_csv_header(fh.read(HEADER_BYTES), options))


def _refuse_nested(frame: pd.DataFrame, path: Path) -> None:
    """Parquet list, map and struct columns: no model here can use them as they are."""
    for column in frame.columns:
        if frame[column].dtype != object:
            continue
        sample = frame[column].dropna().head(1000)
        if sample.map(lambda v: isinstance(v, (list, tuple, dict, np.ndarray))).any():
            raise DataError(
                f"column {column!r} in {path.name} holds lists or structs (nested types); "
                f"flatten it into plain columns, or leave it out with --drop {column}"
            )
