"""Versioned bundles by content hash (Parquet, LightGBM text, JSON; no pickles) and their store."""

import dataclasses
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from upath import UPath

from imbal_pipeline.core.jsonready import json_ready
from imbal_pipeline.core.train import model as model_core
from imbal_pipeline.core.train.content import VOLATILE, content_hash, recipe_of  # noqa: F401
from imbal_pipeline.core.values import KINDS, fields_of, restored

MANIFEST = "manifest.json"
GATE_KEY = "gate"  # output metadata key carrying the asset's check verdict
VERSION_KEY = "content_version"  # output metadata key carrying the content hash
RECIPE_KEY = "recipe"  # output metadata key: hash of the inputs, config and code behind it
RECIPES = "recipes"  # the index by recipe: where the value a recipe made is stored
# Looks at `latest.json`, seconds apart, before calling it wrong: a reader may come between a
# write's history record and its pointer.
LATEST_LOOKS, LATEST_WAIT = 5, 0.1


class CorruptValueError(RuntimeError):
    """A stored version whose files no longer match its content hash."""


class StoreNameError(ValueError):
    """An asset name or version that is not one (it could point outside the store)."""


ASSET_NAME = re.compile(r"^[A-Za-z0-9_]+(/[A-Za-z0-9_]+)*$")
VERSION = re.compile(r"^[0-9a-f]{16}$")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_local(path) -> bool:
    """A folder on this machine's file system (a rename there is atomic)."""
    return isinstance(path, Path)


def _items(value) -> tuple[str, dict]:
    """A value's kind and its parts: a frame, a stage value's fields, or a dict's items."""
    if isinstance(value, pd.DataFrame):
        return "frame", {"value": value}
    if dataclasses.is_dataclass(value) and type(value).__name__ in KINDS:
        return type(value).__name__, fields_of(value)
    return "dict", value


def _is_model_group(item) -> bool:
    """A dict of models by name (a fold step's boosters by strategy)."""
    return isinstance(item, dict) and bool(item) and all(map(model_core.is_model, item.values()))


def encode_bundle(value, gate: str = "unchecked") -> dict[str, bytes]:
    """The files of a bundle: Parquet for tables, LightGBM text for models, JSON for the rest.

    A model in a dict of models is stored as `<key>.<name>`. The manifest carries every other
    file's digest, checked before any parser (LightGBM aborts the process on a truncated
    model) reads it.
    """
    kind, items = _items(value)
    files: dict[str, bytes] = {}
    tables, models = [], []
    plain: dict[str, Any] = {}
    for key, item in items.items():
        if isinstance(item, pd.DataFrame):
            buffer = io.BytesIO()
            item.to_parquet(buffer, index=False)
            files[f"{key}.parquet"] = buffer.getvalue()
            tables.append(key)
        elif model_core.is_model(item):
            files[f"{key}.txt"] = model_core.model_text(item).encode()
            models.append(key)
        elif _is_model_group(item):
            plain[key] = {}
            for name, model in item.items():
                files[f"{key}.{name}.txt"] = model_core.model_text(model).encode()
                models.append(f"{key}.{name}")
        else:
            plain[key] = json_ready(item)
    manifest = {
        "kind": kind,
        GATE_KEY: gate,
        "tables": tables,
        "models": models,
        "values": plain,
        "files": {name: _digest(data) for name, data in sorted(files.items())},
    }
    files[MANIFEST] = json.dumps(manifest, indent=1, allow_nan=True).encode()
    return files


def write_bundle(directory, value, gate: str = "unchecked") -> None:
    """Write a DataFrame, a stage value (`core/values.py`), or a dict of DataFrames, models and
    JSON values, whole or not at all.

    On a local disk the files go to a temporary folder renamed into place (a rename is atomic:
    readers see no bundle or all of it). On an object store each file is one atomic put and
    the manifest goes last, so a version without its manifest does not exist for readers.
    An existing version is kept (versions are content hashes) unless it is damaged.
    """
    files = encode_bundle(value, gate)
    if (directory / MANIFEST).is_file():
        try:
            verify_files(directory)
            return  # the same version, written before
        except CorruptValueError:
            _set_aside(directory)
    if not is_local(directory):
        directory.mkdir(parents=True, exist_ok=True)
        for name in sorted(files, key=lambda n: n == MANIFEST):
            (directory / name).write_bytes(files[name])
        return
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        for name, data in files.items():
            with open(tmp / name, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        try:
            os.rename(tmp, directory)
        except OSError:
            if not (directory / MANIFEST).is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # a concurrent writer put it there first
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _set_aside(directory) -> None:
    """Move a damaged version out of the way, keeping it for inspection; never served."""
    aside = directory.with_name(f".corrupt-{directory.name}-{uuid.uuid4().hex[:8]}")
    if is_local(directory):
        os.rename(directory, aside)
    else:
        directory.rename(aside)


def _read_files(directory) -> tuple[dict, dict[str, bytes]]:
    """The manifest and every file's bytes, each checked against its digest."""
    try:
        manifest = json.loads((directory / MANIFEST).read_bytes())
        if not {"kind", "values", "tables", "models"} <= set(manifest):
            raise KeyError("a manifest field")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CorruptValueError(f"its manifest is unreadable ({type(exc).__name__})") from exc
    expected = manifest.get("files")
    if expected is None:  # written before digests were recorded: the content hash decides
        names = [f"{k}.parquet" for k in manifest["tables"]] + [
            f"{k}.txt" for k in manifest["models"]
        ]
        expected = dict.fromkeys(names)
    data = {}
    for name, digest in expected.items():
        path = directory / name
        if not path.is_file():
            raise CorruptValueError(f"{name} is missing")
        data[name] = path.read_bytes()
        if digest is not None and _digest(data[name]) != digest:
            raise CorruptValueError(f"{name} does not match the digest it was written with")
    return manifest, data


def verify_files(directory) -> dict:
    """The bundle's manifest, after checking every file against the digest it was written with."""
    return _read_files(directory)[0]


def read_bundle(directory):
    """Inverse of `write_bundle`; files are checked against their digests first."""
    manifest, data = _read_files(directory)
    out = dict(manifest["values"])
    for key in manifest["tables"]:
        out[key] = pd.read_parquet(io.BytesIO(data[f"{key}.parquet"]))
    for key in manifest["models"]:
        model = model_core.from_text(data[f"{key}.txt"].decode())
        group, _, name = key.partition(".")
        if name:
            out[group][name] = model
        else:
            out[key] = model
    kind = manifest["kind"]
    if kind == "frame":
        return out["value"]
    return restored(KINDS[kind], out) if kind in KINDS else out


def storage_dir(project=None) -> str:
    """Where asset values live: the project's store, else inside the Dagster instance's home."""
    if project is not None and project.store:
        return project.store
    home = os.environ.get("DAGSTER_HOME") or ".dagster_home"
    return str(Path(home).resolve() / "storage")


def _put_text(path, text: str) -> None:
    """Replace a small file whole: a rename on a local disk, one put on an object store."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not is_local(path):
        path.write_text(text)
        return
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class AssetStore:
    """Every version of every asset, by content hash, with a history and a latest pointer.

    The base is a local folder or any fsspec URL (`s3://bucket/imbal`, a network mount), so
    workers on other machines can share it. Layout: `<base>/<asset>/versions/<version>/` holds
    one bundle; `latest.json` names the version the last materialization wrote and its gate
    verdict; `history/` holds one record per materialization.
    """

    def __init__(self, base_dir):
        self.base = UPath(base_dir)

    def folder(self, asset: str):
        """The asset's folder; a name that is not an asset key is refused, never resolved."""
        if not ASSET_NAME.fullmatch(asset):
            raise StoreNameError(
                f"{asset!r} is not an asset name (letters, digits, _ and /); check the name"
            )
        return self.base.joinpath(*asset.split("/"))

    def version_folder(self, asset: str, version: str):
        """Where one version lives; a version that is not one is refused, never resolved."""
        if not VERSION.fullmatch(version):
            raise StoreNameError(
                f"{version!r} is not a data version (16 hex digits, as `versions` prints them)"
            )
        return self.folder(asset) / "versions" / version

    def write(self, asset: str, value, version: str, gate: str, run_id: str | None):
        """Store a version (if new), then point `latest` at it and add it to the history."""
        folder = self.folder(asset)
        path = self.version_folder(asset, version)
        write_bundle(path, value, gate=gate)
        now = datetime.now(UTC)
        record = {
            "version": version,
            "gate": gate,
            "run_id": run_id,
            "time": now.isoformat(timespec="seconds"),
        }
        # One file per record: concurrent writers never interleave, and object stores have no
        # append. Names sort by time.
        stamp = f"{now.strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}"
        _put_text(folder / "history" / f"{stamp}.json", json.dumps(record))
        self._point_latest(asset)
        return path

    def _point_latest(self, asset: str) -> None:
        """Make `latest.json` the newest history record; each writer looks again after it
        wrote, so with writers overlapping the newest still ends up there."""
        pointed = None
        while (newest := self._newest(asset)) != pointed:
            _put_text(self.folder(asset) / "latest.json", json.dumps(newest))
            pointed = newest

    def _history_files(self, asset: str) -> list:
        """The history's records, oldest first."""
        folder = self.folder(asset) / "history"
        if not folder.is_dir():
            return []
        return sorted(
            (p for p in folder.iterdir() if p.name.endswith(".json")), key=lambda p: p.name
        )

    def _newest(self, asset: str) -> dict | None:
        files = self._history_files(asset)
        return json.loads(files[-1].read_text()) if files else None

    def remember(self, asset: str, recipe: str, version: str) -> None:
        """Index `version` under `recipe` (inputs, config and code), the recipe its value
        carries (`content.with_recipe`). The index only says where to look."""
        _put_text(self.folder(asset) / RECIPES / f"{recipe}.json", json.dumps({"version": version}))

    def recall(self, asset: str, recipe: str):
        """The stored value an identical recipe produced before, or None (also when damaged).

        Only a value whose own content names the recipe: its version (its content hash) covers
        that, so an index entry or any record pointed at another version, even a whole one,
        never serves it as this recipe's value. A value stored before values carried their
        recipe is refitted once.
        """
        path = self.folder(asset) / RECIPES / f"{recipe}.json"
        if not path.is_file():
            return None
        try:
            value = self.load(asset, json.loads(path.read_text())["version"])
        except (OSError, ValueError, KeyError, TypeError, CorruptValueError, StoreNameError):
            return None  # unrecorded, unreadable or damaged: never served, the caller refits
        return value if recipe_of(value) == recipe else None

    def latest(self, asset: str) -> dict | None:
        """The record of the last write, or None; refused unless it is the history's newest
        (an edited pointer would serve a version this store never wrote as its newest)."""
        path = self.folder(asset) / "latest.json"
        if not path.is_file():
            return None
        for _ in range(LATEST_LOOKS):
            try:
                record = json.loads(path.read_text())
            except ValueError as exc:
                raise CorruptValueError(
                    f"the store's record of the latest {asset} ({path}) is unreadable; "
                    f"rematerialize {asset} to rewrite it"
                ) from exc
            if record == (newest := self._newest(asset)):
                return record
            time.sleep(LATEST_WAIT)
        raise CorruptValueError(
            f"the store's latest {asset} ({path}) is not the newest write in its history "
            f"(version {(newest or {}).get('version')}): edited or copied in; rematerialize "
            f"{asset} (imbal-pipeline run --force) to rewrite it"
        )

    def history(self, asset: str) -> list[dict]:
        """Every write of the asset, oldest first."""
        return [json.loads(path.read_text()) for path in self._history_files(asset)]

    def load(self, asset: str, version: str | None = None):
        """A stored version (the latest by default)."""
        if version is None:
            latest = self.latest(asset)
            if latest is None:
                raise FileNotFoundError(f"no stored value for asset {asset}; materialize it first")
            version = latest["version"]
        path = self.version_folder(asset, version)
        if not (path / MANIFEST).is_file():
            # Newest first, each once: a rerun that made the same value writes it again.
            newest = dict.fromkeys(r["version"] for r in reversed(self.history(asset)))
            known = ", ".join(list(newest)[:5]) or "none"
            raise FileNotFoundError(f"asset {asset} has no version {version} (recent: {known})")
        try:
            value = read_bundle(path)
            actual = content_hash(value)
        except CorruptValueError as exc:
            raise self._corrupt(asset, version, str(exc)) from exc
        except Exception as exc:  # noqa: BLE001 - any parser's complaint means the same thing
            raise self._corrupt(asset, version, f"unreadable: {type(exc).__name__}") from exc
        if actual != version:
            raise self._corrupt(asset, version, f"its content hashes to {actual}")
        return value

    @staticmethod
    def _corrupt(asset: str, version: str, why: str) -> CorruptValueError:
        return CorruptValueError(
            f"stored {asset} version {version} is damaged ({why}); it is never served: "
            f"rematerialize {asset} (imbal-pipeline run) to store it afresh"
        )
