"""`make bench`: measure GRID against a fast local upstream and print the figures.

Run as `python -m bench`; see docs/performance.md for what is measured and how to read it.
"""
