"""What a setting's value may be: number ranges, CSV marks, text encodings and store URLs.

Each rule answers with the one-line problem and its fix, or None; `settings.validate` raises it.
Every rule is about the value alone, so it holds before anything is read or run.
"""

from __future__ import annotations

import codecs
import math
import numbers
import string
from dataclasses import dataclass

# Upper bounds that catch a slip of the keyboard long before a run would fail on it. Folds:
# each is its own assets, and beyond 20 a fold's validation part holds too few positives to
# score. Trees: 100,000 rounds per fit, times folds and strategies, is days. Beta: F-beta at
# beta 100 is recall already, and beta squared must stay finite. Costs: only their ratio
# matters, and a cost times the errors must stay finite. LightGBM's own documented limits:
# 1 < num_leaves <= 131072, learning_rate > 0.
MAX_FOLDS = 20
MAX_TREES = 100_000
MAX_LEAVES = 131_072
MAX_THREADS = 1024
MAX_BETA = 100.0
MAX_COST = 1e12


@dataclass(frozen=True)
class Bounds:
    """The range a number setting must lie in: `ge`/`gt` below and `le`/`lt` above, inclusive
    and exclusive, as annotated-types (and so pydantic) name them. NaN lies in no range."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def holds(self, value: float) -> bool:
        """Whether `value` lies in the range."""
        return (
            (self.ge is None or value >= self.ge)
            and (self.gt is None or value > self.gt)
            and (self.le is None or value <= self.le)
            and (self.lt is None or value < self.lt)
        )

    def text(self, whole: bool) -> str:
        """The range in words: `from 2 to 131072` for whole numbers, else `in (0, 1]`."""
        low = self.ge if self.gt is None else self.gt
        high = self.le if self.lt is None else self.lt
        if whole and self.gt is None and self.lt is None:
            return f"at least {low}" if high is None else f"from {low} to {high}"
        left = "(" if self.gt is not None else "["
        right = ")" if self.lt is not None else "]"
        if low is not None and high is not None:
            return f"in {left}{_number(low)}, {_number(high)}{right}"
        if low is not None:
            return f"{'>' if left == '(' else '>='} {_number(low)}"
        if high is not None:
            return f"{'<' if right == ')' else '<='} {_number(high)}"
        return "any number"


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def range_problem(bounds: Bounds, value, whole: bool) -> str | None:
    """Why `value` is not a finite number of its kind within `bounds` (`must be ...`), or None."""
    kind = numbers.Integral if whole else numbers.Real
    if (
        isinstance(value, kind)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and bounds.holds(float(value))
    ):
        return None
    return (
        f"must be {'a whole' if whole else 'a finite'} number {bounds.text(whole)}, got {value!r}"
    )


# --- the marks of a CSV file -----------------------------------------------------------------

# pandas' CSV reader matches these marks byte by byte, so a mark outside ASCII (a no-break
# space, a middle dot) silently never matches; of ASCII, digits and letters are numbers' own
# characters (1e5, nan, inf), '+' and '-' their signs, '"' quotes a field and tabs and line
# breaks end fields and rows. That leaves ASCII punctuation, and a space between thousands.
_NEVER = frozenset('+-"\n\r')


def mark_problem(flag: str, mark: str | None) -> str | None:
    """Why `mark` cannot be the decimal mark, thousands separator or delimiter, if it cannot."""
    if mark is None:
        return None
    if len(mark) != 1:
        return f"{flag} must be one character, got {mark!r}"
    if flag == "--sep":  # any one character that cannot be part of a number or end a row
        allowed = mark not in _NEVER and not mark.isalnum()
        shown = "the file's delimiter, e.g. ',' ';' '|' or a tab"
    else:
        marks = set(string.punctuation) - _NEVER | ({" "} if flag == "--thousands" else set())
        allowed = mark in marks
        shown = "the file's mark, e.g. ',' '.' \"'\"" + (" or ' '" if flag == "--thousands" else "")
    if allowed:
        return None
    if mark.isalnum():
        why = "digits and letters are part of numbers themselves (1e5, nan)"
    elif not mark.isascii():
        why = "the reader matches ASCII marks only, so it would never match"
    elif mark in "+-":
        why = "'+' and '-' are signs"
    elif mark == '"':
        why = "'\"' quotes a field"
    elif mark.isspace():
        why = "whitespace ends fields and rows (only --thousands may be a space)"
    else:
        why = "it is no punctuation mark"
    return f"{flag} {mark!r} would misread the file: {why}; give {shown}"


def parsing_problem(sep: str, decimal: str, thousands: str | None, encoding: str) -> str | None:
    """How the CSV marks or the encoding would misread a file, if they would."""
    for flag, mark in (("--sep", sep), ("--decimal", decimal), ("--thousands", thousands)):
        problem = mark_problem(flag, mark)
        if problem:
            return problem
    # A thousands separator may equal --sep: such numbers are quoted ("1,234.5").
    if decimal in (sep, thousands):
        return "--decimal must differ from --sep and from --thousands"
    return encoding_problem(encoding)


def encoding_problem(encoding: str) -> str | None:
    """Why `encoding` cannot decode a CSV file: no such codec, or one that is not text's."""
    try:
        codec = codecs.lookup(encoding)
    except LookupError:
        return f"unknown --encoding {encoding!r}; use a Python codec name such as utf-8 or latin-1"
    # hex, base64, zlib, rot13 ...: codecs.decode knows them, but they map bytes to bytes (or
    # text to text), and reading a file with them fails only once a run has begun.
    if not getattr(codec, "_is_text_encoding", True):
        return (
            f"--encoding {encoding!r} is not a text encoding ({codec.name} maps bytes to "
            "bytes); use a text encoding such as utf-8 or latin-1"
        )
    return _trial_decode(encoding, codec)


# A header in the encoding, then every byte value: what a file of any content may hold.
_HEADER = "amount,is_fraud\r\n"
_ANY_BYTES = bytes(range(256)) * 2


def _trial_decode(encoding: str, codec: codecs.CodecInfo) -> str | None:
    """Why a header written in `encoding` followed by arbitrary bytes does not read back as the
    reader reads it (in pieces, undecodable bytes replaced), or None. idna, punycode and
    `undefined` are text codecs that cannot, and would fail once a run had begun."""
    try:
        encoded = codecs.encode(_HEADER, codec.name)
        decoder = codecs.getincrementaldecoder(codec.name)(errors="replace")
        text = decoder.decode(encoded) + decoder.decode(_ANY_BYTES, final=True)
        readable = text.startswith(_HEADER)
        why = "the header does not read back as written"
    except (UnicodeError, ValueError, TypeError, LookupError) as exc:
        readable, why = False, str(exc) or type(exc).__name__
    if readable:
        return None
    return (
        f"--encoding {encoding!r} cannot read a CSV file ({why}); use a text encoding such as "
        "utf-8 or latin-1"
    )


# --- where values are stored -----------------------------------------------------------------

# Stores whose values outlive the process that wrote them and that every worker can reach: a
# folder (file://, a network mount) and the object stores and network filesystems fsspec
# writes to. memory:// lives in one process; http(s), zip, tar and github are read-only;
# simplecache and filecache are caches on one machine.
SHARED_STORES = (
    "file",
    "local",
    "s3",
    "s3a",
    "gs",
    "gcs",
    "az",
    "abfs",
    "abfss",
    "adl",
    "hdfs",
    "webhdfs",
    "sftp",
    "ssh",
    "smb",
    "ftp",
    "webdav",
    "oci",
    "oss",
    "dbfs",
)


def store_problem(store: str | None) -> str | None:
    """Why the store URL cannot hold the asset values every process and worker reads."""
    if not store or "://" not in store:
        return None  # a folder
    scheme = store.split("://", 1)[0].split("::", 1)[0].lower()  # "simplecache::s3://" chains
    if scheme in SHARED_STORES:
        return None
    if scheme == "memory":
        why = "memory:// keeps values in one process, so the next step or run finds nothing"
    else:
        why = f"{scheme}:// is not a store every worker can write and read back"
    return (
        f"--store {store}: {why}; give a folder or a shared store "
        "(file://, s3://, gs://, az://, abfs://, hdfs://, sftp://, ...)"
    )
