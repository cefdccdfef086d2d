"""The data contracts: GX 1.x suites, one per gated asset.

Shipped inside the package as imbal_pipeline.data_contracts (see pyproject.toml).
"""
