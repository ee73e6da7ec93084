"""Benchmarks, each runnable as ``llm-router bench <name>``; results go to ``benchmarks/results/``."""
