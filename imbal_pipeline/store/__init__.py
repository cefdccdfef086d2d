"""The asset store and what is kept in it: versioned values, the champion and its challengers, and
load_model, the public way to apply a model; no Dagster import.
"""
