"""The Dagster face of the one configuration object."""

import os

import dagster as dg

from imbal_pipeline.core.settings import LADDER, Settings

FOLDS_ENV = "IMBAL_PIPELINE_FOLDS"
THREADS_ENV = "IMBAL_PIPELINE_THREADS"


def configured_folds() -> int:
    """Fold count the asset graph is built with (one asset per fold)."""
    raw = os.environ.get(FOLDS_ENV, "5")
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{FOLDS_ENV}={raw!r} is not a whole number; set it to e.g. 5") from exc


def configured_threads() -> int:
    """LightGBM threads per step the executor's concurrency was sized for."""
    raw = os.environ.get(THREADS_ENV, "1")
    try:
        return max(1, int(raw))
    except ValueError as exc:
        raise ValueError(f"{THREADS_ENV}={raw!r} is not a whole number; set it to e.g. 1") from exc


class PipelineConfig(dg.ConfigurableResource):
    """Dataset (path, target, positive label, columns), strategies, folds, seed, objective."""

    data_path: str | None = None
    target: str = "is_fraud"
    positive_label: str | None = None
    test_data_path: str | None = None
    id_column: str | None = None
    categorical: list[str] = []
    subgroups: list[str] = []
    holdout_fraction: float = 0.2
    n_folds: int = 5
    seed: int = 0
    strategies: list[str] = list(LADDER)
    sampling_ratio: float = 0.5
    smoteenn_max_rows: int = 150_000
    max_negatives: int = 250_000
    objective: str = "f1"
    beta: float = 2.0
    fp_cost: float = 1.0
    fn_cost: float = 10.0
    recall_target: float = 0.8
    generated_rows: int = 50_000
    generated_positive_rate: float = 0.01
    n_estimators: int = 300
    learning_rate: float = 0.05
    num_leaves: int = 31
    lgbm_threads: int = 1
    output_dir: str = "imbal_output"
    sep: str = ","
    encoding: str = "utf-8"
    decimal: str = "."
    thousands: str | None = None
    drop: list[str] = []
    contract_path: str | None = None
    contracts_dir: str | None = None

    def settings(self) -> Settings:
        """The pure settings object the core works with."""
        values = self.model_dump()
        for key in ("categorical", "subgroups", "strategies", "drop"):
            values[key] = tuple(values[key])
        return Settings(**values)
