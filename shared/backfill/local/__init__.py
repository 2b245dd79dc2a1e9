"""The local part: DuckDB, the CLI, the demo, seeding, the local stack. Never deployed."""
