"""The renderers: the training report and the batch report as Markdown and HTML (their sections,
the page templates), and the plots.
"""
