"""Benchmarks of cdr-dagster: each figure is measured against a baseline in the same run.

Run with ``python -m benchmarks``; each line reads ``name: value unit (ratio x baseline)``.
"""
