"""Adapters for Google Cloud: BigQuery, Pub/Sub (publishing, the push envelope and dead-letter
attributes, the dead-letter inbox, a pull consumer, the emulator topology). With
local/duckdb_warehouse.py, the only modules that import google.cloud or duckdb."""
