"""Operational chores: one module per chore family (ops, graphs, jobs and their Config)."""
