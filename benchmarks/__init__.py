"""Benchmarks for idmerge (run from the repository root: ``python -m benchmarks.NAME``)."""
