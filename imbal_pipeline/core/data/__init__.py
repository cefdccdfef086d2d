"""The data: reading files, the generated data, contracts and their rules, the raw data's gates,
the holdout split and folds, the inbox of batches, the data's versions.
"""
