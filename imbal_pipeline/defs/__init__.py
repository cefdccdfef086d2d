"""The thin Dagster layer: the assets and their checks, the resources, the IO manager, the
automation, and the builder of a project's Definitions.
"""
