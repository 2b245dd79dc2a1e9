"""The deployed entry points: the two HTTP functions' bodies and their structured logs (the CLI
and the local stack live in backfill.local)."""
