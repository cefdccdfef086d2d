"""imbal_pipeline: rare-event classifiers trained, tuned, evaluated and watched as Dagster assets.

`load_model` is the Python API for applying a trained model; everything else runs through the
`imbal-pipeline` command or the Dagster code location in `imbal_pipeline.definitions`.
"""

from imbal_pipeline.models import load_model

__all__ = ["load_model"]
