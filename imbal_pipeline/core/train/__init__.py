"""Training: preprocessing, the strategy ladder, LightGBM fits and bags, fold models, strategy
selection, the threshold, calibration, a value's content hash and the gates between the training
stages.
"""
