"""The `imbal-pipeline` command: its arguments, the runs it starts through Dagster and watches,
and the commands that read the store and the instance.
"""

from imbal_pipeline.cli.commands import main

__all__ = ["main"]
