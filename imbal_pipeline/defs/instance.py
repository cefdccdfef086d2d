"""What the Dagster layer shares with the command line without importing it: the default
Dagster home, where derived contracts are saved, what the step server preloads, and the tags
naming the data a run trained on.
"""

import os
from pathlib import Path

DEFAULT_HOME = ".dagster_home"


def contracts_dir(settings) -> Path:
    """Where a run saves the contract it derives from the data, and reads it back."""
    home = os.environ.get("DAGSTER_HOME") or DEFAULT_HOME
    return Path(settings.contracts_dir or Path(home).resolve() / "contracts")


# What the server that the multiprocess executor forks step processes from imports once, so that
# no step imports it again (about 6 s a step on this machine; GX too, which the code location
# itself never imports).
STEP_PRELOAD = ["imbal_pipeline.definitions", "great_expectations"]


# What a run trained on, for the runs list; set by its first step, kept by its reruns.
DATA_TAG, TARGET_TAG = "imbal/data", "imbal/target"


def dataset_tags(data_path: str | None, target: str) -> dict[str, str]:
    """The run tags naming the data file (or the embedded data) and the label column."""
    return {DATA_TAG: data_path or "generated fraud-like data", TARGET_TAG: target}
