"""Statistics on arrays, each with its error rate known at the users' sizes: intervals, paired
comparisons, metrics, skill, fold noise and the monitoring tests.
"""
