"""Benchmarks for ``just bench``: each prints ``BENCH <name> <value> <unit> ratio=... baseline=...``."""
