"""Benchmarks of Backfill against the original system's loop and against the limit (`make bench`)."""
