"""Backfill: find every gap between Phase 2 (raw) and Phase 3 (analytics) and close it."""
