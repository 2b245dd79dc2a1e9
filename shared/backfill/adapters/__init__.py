"""Adapters: the only modules that import duckdb or google.cloud."""
