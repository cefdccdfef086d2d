"""IO manager: Parquet for tables, LightGBM text for models, JSON for the rest; no pickles."""

import json
import os
import shutil
import tempfile
from pathlib import Path

import dagster as dg
import lightgbm as lgb
import pandas as pd

MANIFEST = "manifest.json"
GATE_KEY = "gate"  # output metadata key carrying the asset's check verdict


class FailedGateError(RuntimeError):
    """An upstream value whose blocking checks failed; it must not be consumed."""


def _to_json_ready(value):
    """Numpy scalars and tuples into plain JSON types."""
    if isinstance(value, dict):
        return {str(k): _to_json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json_ready(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value


def write_bundle(directory: Path, value, gate: str = "unchecked") -> None:
    """Write a DataFrame, or a dict of DataFrames, boosters and JSON values, atomically."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        manifest: dict = {
            "kind": "frame" if isinstance(value, pd.DataFrame) else "dict",
            GATE_KEY: gate,
        }
        items = {"value": value} if isinstance(value, pd.DataFrame) else value
        tables, models, plain = [], [], {}
        for key, item in items.items():
            if isinstance(item, pd.DataFrame):
                item.to_parquet(tmp / f"{key}.parquet", index=False)
                tables.append(key)
            elif isinstance(item, lgb.Booster):
                (tmp / f"{key}.txt").write_text(item.model_to_string())
                models.append(key)
            else:
                plain[key] = _to_json_ready(item)
        manifest.update(tables=tables, models=models, values=plain)
        with open(tmp / MANIFEST, "w") as fh:
            json.dump(manifest, fh, indent=1, allow_nan=True)
            fh.flush()
            os.fsync(fh.fileno())
        # Renames are atomic: readers see the old bundle or the whole new one, never a part.
        old = None
        if directory.exists():
            old = directory.with_name(f".{directory.name}.old.{os.getpid()}")
            os.replace(directory, old)
        os.replace(tmp, directory)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_gate(directory: Path) -> str:
    """The stored value's gate verdict: passed, failed: <checks>, or unchecked."""
    return json.loads((directory / MANIFEST).read_text()).get(GATE_KEY, "unchecked")


def read_bundle(directory: Path):
    """Inverse of `write_bundle`."""
    manifest = json.loads((directory / MANIFEST).read_text())
    out = dict(manifest["values"])
    for key in manifest["tables"]:
        out[key] = pd.read_parquet(directory / f"{key}.parquet")
    for key in manifest["models"]:
        out[key] = lgb.Booster(model_str=(directory / f"{key}.txt").read_text())
    return out["value"] if manifest["kind"] == "frame" else out


class BundleIOManager(dg.ConfigurableIOManager):
    """Stores each asset's latest output under `base_dir/<asset key>`."""

    base_dir: str

    def _path(self, key: dg.AssetKey) -> Path:
        return Path(self.base_dir).joinpath(*key.path)

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        path = self._path(context.asset_key)
        verdict = context.output_metadata.get(GATE_KEY)
        verdict = getattr(verdict, "value", verdict) or "unchecked"
        write_bundle(path, obj, gate=str(verdict))
        context.add_output_metadata({"path": dg.MetadataValue.path(str(path))})

    def load_input(self, context: dg.InputContext):
        path = self._path(context.asset_key)
        if not (path / MANIFEST).is_file():
            raise FileNotFoundError(
                f"no stored value for asset {context.asset_key.to_user_string()} at {path}; "
                "materialize it first"
            )
        verdict = read_gate(path)
        if verdict.startswith("failed"):
            name = context.asset_key.to_user_string()
            raise FailedGateError(
                f"upstream {name} failed its checks ({verdict.removeprefix('failed: ')}); "
                f"fix its input and rematerialize {name} first"
            )
        return read_bundle(path)
