"""The thin Dagster layer: one module per stage."""
