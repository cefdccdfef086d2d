"""Whether a run can write where it is told to: checked before it starts, so that a folder it
cannot create, replace or fill is one line at once instead of a failed step at the end."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlparse

# A run puts its report in place by renaming: it writes `.<name>.XXXXXXXX.staging` beside
# --out and moves the old folder to `.<name>.XXXXXXXX.old`, names this much longer.
SWAP_EXTRA = len("..XXXXXXXX.staging")
NAME_MAX = 255  # where the filesystem does not say (POSIX's usual limit)


def existing_ancestor(path: Path) -> Path:
    """`path` itself if it exists, else its nearest ancestor that does."""
    path = path.absolute()
    while path != path.parent:
        try:
            if path.exists():
                break
        except OSError:  # a name too long to look up does not exist either
            pass
        path = path.parent
    return path


def name_max(folder: Path) -> int:
    """The longest file name the filesystem holding `folder` takes."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return NAME_MAX


def free_mb(path: Path) -> int:
    """Free megabytes on the filesystem that holds (or would hold) `path`."""
    return shutil.disk_usage(existing_ancestor(path)).free // 2**20


def folder_problem(path: Path, flag: str, *, replaced: bool) -> str | None:
    """What keeps a run from writing the folder `path`, or None.

    `replaced`: the run swaps a new folder in for it (--out), so it writes beside it, under
    longer names, and renames it; otherwise (a store) it writes inside it.
    """
    path = path.absolute()
    anchor = existing_ancestor(path.parent if replaced else path)
    limit = name_max(anchor)
    too_long = next((part for part in path.parts if len(part) > limit), None)
    if too_long is not None:
        return (
            f"{flag} {path}: a name of {len(too_long)} characters, longer than this "
            f"filesystem's {limit}; shorten it"
        )
    if replaced and len(path.name) + SWAP_EXTRA > limit:
        return (
            f"{flag} name is {len(path.name)} characters; a run writes beside it under names "
            f"{SWAP_EXTRA} characters longer and this filesystem takes {limit}: shorten it to "
            f"at most {limit - SWAP_EXTRA}"
        )
    if replaced and os.path.ismount(path):
        return mount_point(path, flag)
    if not anchor.is_dir():
        return f"{flag} {path}: {anchor} is a file, not a folder; give a folder"
    # A replaced folder is emptied too, once the new one is in place.
    for folder in (anchor, path) if replaced and path.is_dir() else (anchor,):
        if not os.access(folder, os.W_OK | os.X_OK):
            return (
                f"{flag} {path}: cannot write in {folder} (read-only or not yours); give a "
                "folder you can write"
            )
        failed = trial_write(folder)
        if failed is not None:
            return (
                f"{flag} {path}: cannot write in {folder} (a trial write failed: {failed}); "
                "give a folder you can write"
            )
    return None


def trial_write(folder: Path) -> str | None:
    """Why a small file cannot be created and removed in `folder`, or None.

    Permission bits do not tell: as root every check passes, yet /proc and /sys take no new
    files, and a read-only mount or a full quota says so only when written to.
    """
    try:
        handle, name = tempfile.mkstemp(prefix=".imbal-write-check-", dir=folder)
        os.close(handle)
        os.unlink(name)
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None


def local_store(store: str) -> Path | None:
    """The folder a store on this machine's disk is: a path, or a file:// or local:// URL."""
    if "://" not in store:
        return Path(store)
    parsed = urlparse(store)
    if parsed.scheme.lower() in ("file", "local") and not parsed.netloc:
        return Path(parsed.path)
    return None


def mount_point(path: Path, flag: str = "--out") -> str:
    """The refusal of a mount point as --out, and the fix."""
    # A run replaces --out whole by renaming a new folder in, which keeps a reader from ever
    # seeing half a report; a mount point cannot be renamed, so the report goes inside it.
    return (
        f"{flag} {path} is a mount point, which a run cannot replace (it renames a new folder "
        f"in); give a folder inside it, e.g. {flag} {path / 'report'}"
    )


def rename_problem(exc: OSError, path: Path) -> str | None:
    """What a failed rename of `path` means, when it is no race with another run."""
    if exc.errno in (errno.ENOENT, errno.EEXIST, errno.ENOTEMPTY):
        return None  # another run moved a folder between our two renames
    if exc.errno == errno.EBUSY and os.path.ismount(path):
        return mount_point(path)
    return f"could not put the report in place at {path} ({exc.strerror or exc}); fix --out"
