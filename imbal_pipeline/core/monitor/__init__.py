"""The operating half: the deployed model that scores batches, the monitoring reference and each
batch's checks, shadow scoring, and the evidence that decides a promotion.
"""
