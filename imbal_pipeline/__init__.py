"""imbal_pipeline: rare-event classifiers trained, tuned, evaluated and watched as Dagster assets.

`load_model` is the Python API for applying a trained model; everything else runs through the
`imbal-pipeline` command or the Dagster code location in `imbal_pipeline.definitions`.
"""

__all__ = ["load_model"]


def __getattr__(name: str):
    # Imported on first use: the command line's help and its argument errors need no
    # scikit-learn or LightGBM, which take about a second to import.
    if name == "load_model":
        from imbal_pipeline.store.models import load_model

        return load_model
    raise AttributeError(f"module 'imbal_pipeline' has no attribute {name!r}")
