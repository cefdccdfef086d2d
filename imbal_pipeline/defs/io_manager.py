"""The IO manager: outputs stored by content hash; inputs read as pinned, never a failed version."""

import dagster as dg

from imbal_pipeline.core.values import KINDS
from imbal_pipeline.defs.lineage import DATA_VERSION_TAG, pinned_record
from imbal_pipeline.store.storage import GATE_KEY, RECIPE_KEY, VERSION_KEY, AssetStore, content_hash


class OutdatedValueError(RuntimeError):
    """A stored value of a shape this code no longer reads; it must be made again."""


class FailedGateError(RuntimeError):
    """An upstream value whose blocking checks failed; it must not be consumed."""


def _planned_in(run: dg.DagsterRun, job_keys, key: dg.AssetKey, step_key: str) -> bool:
    """Whether `run` (of a job materializing `job_keys`) was to materialize `key` itself."""
    if key not in job_keys:
        return False  # another job's asset, e.g. the deployed model a scoring run reads
    if run.asset_selection is not None and key not in run.asset_selection:
        return False
    return run.step_keys_to_execute is None or step_key in run.step_keys_to_execute


class BundleIOManager(dg.ConfigurableIOManager):
    """Versioned storage: each output under its content hash; loads the latest passing one."""

    base_dir: str

    def _store(self) -> AssetStore:
        return AssetStore(self.base_dir)

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        meta = context.output_metadata
        verdict = getattr(meta.get(GATE_KEY), "value", meta.get(GATE_KEY)) or "unchecked"
        version = getattr(meta.get(VERSION_KEY), "value", meta.get(VERSION_KEY))
        version = version or content_hash(obj)
        asset = context.asset_key.to_user_string()
        if context.has_asset_partitions:
            asset = f"{asset}/{context.asset_partition_key}"
        path = self._store().write(asset, obj, version, str(verdict), context.run_id)
        recipe = getattr(meta.get(RECIPE_KEY), "value", meta.get(RECIPE_KEY))
        if recipe and not str(verdict).startswith("failed"):
            self._store().remember(asset, recipe, version)
        context.add_output_metadata({"path": dg.MetadataValue.path(str(path))})

    def _pinned(self, context: dg.InputContext) -> tuple[str | None, str | None]:
        """The upstream version this run should read, and that materialization's gate."""
        try:
            instance, run = context.instance, context.step_context.dagster_run
        except Exception:  # noqa: BLE001 - a context built without an instance or a run
            return None, None
        upstream = context.upstream_output
        if upstream is None:  # an input that no step writes: nothing to pin
            return None, None
        # An upstream this run was to materialize itself must come from this run: when its step
        # failed, an older version must not stand in (executors such as Dask still start the
        # steps downstream of a failed one).
        job_keys = context.step_context.job_def.asset_layer.selected_asset_keys
        own = _planned_in(run, job_keys, context.asset_key, upstream.step_key)
        record = pinned_record(instance, run.run_id, context.asset_key, this_run_only=own)
        if record is None and own:
            asset = context.asset_key.to_user_string()
            raise FailedGateError(
                f"upstream {asset} was not materialized in this run (its step failed); fix it "
                "and rerun from failure"
            )
        if record is None or record.event_log_entry.asset_materialization is None:
            return None, None
        materialization = record.event_log_entry.asset_materialization
        gate = materialization.metadata.get(GATE_KEY)
        return (
            (materialization.tags or {}).get(DATA_VERSION_TAG),
            getattr(gate, "value", gate),
        )

    def _load_partition(self, asset: str, partition: str):
        # Each partition (one scored batch) has its own latest version; its gate is checked
        # like any other.
        latest = self._store().latest(f"{asset}/{partition}")
        if latest is None:
            raise FileNotFoundError(
                f"no stored value for {asset} partition {partition}; materialize it first"
            )
        if str(latest.get("gate", "")).startswith("failed"):
            raise FailedGateError(f"{asset} partition {partition} failed its checks")
        return self._store().load(f"{asset}/{partition}", latest["version"])

    def load_input(self, context: dg.InputContext):
        asset = context.asset_key.to_user_string()
        if context.has_asset_partitions:
            return self._load_partition(asset, context.asset_partition_key)
        version, verdict = self._pinned(context)
        if version is None:
            latest = self._store().latest(asset)
            if latest is None:
                raise FileNotFoundError(
                    f"no stored value for asset {asset} in {self.base_dir}; materialize it first"
                )
            version, verdict = latest["version"], latest.get("gate")
        verdict = verdict or "unchecked"
        if verdict.startswith("failed"):
            raise FailedGateError(
                f"upstream {asset} failed its checks ({verdict.removeprefix('failed: ')}); "
                f"fix its input and rematerialize {asset} first"
            )
        value = self._store().load(asset, version)
        # A stage value stored by an older release is a plain dict: say so rather than let
        # Dagster's type check fail on it.
        expected = getattr(context.dagster_type, "typing_type", None)
        stage = isinstance(expected, type) and expected in KINDS.values()
        if stage and isinstance(expected, type) and not isinstance(value, expected):
            raise OutdatedValueError(
                f"stored {asset} version {version} was written by an older imbal_pipeline "
                f"(not a {expected.__name__}); rematerialize it: imbal-pipeline run --force"
            )
        return value
