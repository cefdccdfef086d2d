"""The science in plain Python, with no Dagster import. Its packages, from the bottom up: `stats`,
then the settings and vocabulary at this level, `data`, `train`, `monitor`, `report`, `evaluate`;
on top, `inputs` (the user's files, read and gated) and `method` (the whole method on a table).
"""
