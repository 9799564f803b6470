"""Workflows: running the registry's optimization workflows on the Ray cluster."""
