"""`load_model`: the one way to get a trained model, from an exported folder or the store."""

from __future__ import annotations

import re
from pathlib import Path

from imbal_pipeline.core.monitor.deployed import COMPILED, Model, ModelFileError
from imbal_pipeline.store.champion import DEPLOYED

_VERSION = re.compile(r"^[0-9a-f]{16}$")


def from_store_value(
    value: dict, version: str, n_jobs: int = 1, compiled_cache: Path | None = None
) -> Model:
    """A Model from a stored `deployed_model` value; its version is the stored data version."""
    meta = {**value["meta"], "version": version}
    return Model(value["model"], meta, n_jobs=n_jobs, compiled_cache=compiled_cache)


def load_model(
    source: str | Path | None = None, *, store: str | None = None, n_jobs: int = 1
) -> Model:
    """Load a model that passed its quality gate.

    Parameters
    ----------
    source : path or str, optional
        A folder with model.txt and model.json (a run's ``--out``), or a model version as
        ``imbal-pipeline versions deployed_model`` lists it. Unset: the champion, the model in
        service (see ``imbal-pipeline promote`` and ``rollback``).
    store : str, optional
        Where asset values are stored; unset: the project's store (see `imbal-pipeline init`).
    n_jobs : int, default 1
        LightGBM threads when scoring; a service scoring alone may use every core.

    Returns
    -------
    Model
        With ``predict_proba(df)``, ``predict(df)``, ``threshold``, ``version`` and
        ``feature_schema``.
    """
    if source is not None and Path(source).is_dir():
        return Model.load(source, n_jobs=n_jobs)
    if source is not None and not _VERSION.fullmatch(str(source)):
        raise ModelFileError(
            f"{source} is neither a model folder nor a model version (16 hex digits); give "
            "a run's --out folder or a version from `imbal-pipeline versions deployed_model`"
        )
    from imbal_pipeline.core.project import load_project
    from imbal_pipeline.store.champion import Champions
    from imbal_pipeline.store.storage import AssetStore, CorruptValueError, is_local, storage_dir

    where = store or storage_dir(load_project())
    assets = AssetStore(where)
    try:
        version = str(source) if source is not None else champion_version(Champions(assets), where)
        value = assets.load(DEPLOYED, version)
    except (FileNotFoundError, CorruptValueError) as exc:  # a store edited by hand, or damaged
        raise ModelFileError(str(exc)) from None
    # Compiled trees are cached beside a local store only (a library is loaded from a file).
    cache = Path(assets.base) / COMPILED if is_local(assets.base) else None
    model = from_store_value(value, version, n_jobs, cache)
    model.in_service = source is None
    return model


def champion_version(champions, where) -> str:
    """The version in service: what `score`, the inbox and `load_model()` apply."""
    version = champions.version()
    if version is not None:
        return version
    if not champions.store.history(DEPLOYED):
        raise ModelFileError(
            f"no trained model in {where}; run `imbal-pipeline run` first (a model is "
            "deployed when its quality gate passes), or run this from the project's folder "
            "(or set $DAGSTER_HOME to its .dagster_home), whose store holds its models"
        )
    raise ModelFileError(
        f"no model in service in {where} (its models were stored before champions were "
        "recorded); put one in service: `imbal-pipeline promote VERSION` (see `imbal-pipeline "
        "versions deployed_model`)"
    )
