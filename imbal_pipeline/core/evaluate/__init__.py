"""The honest evaluation: the holdout report, the quality gate, the leak panel, data diagnostics,
the learning curve, the advice, and what is released.
"""
