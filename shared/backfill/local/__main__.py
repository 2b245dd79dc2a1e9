"""`python -m backfill.local`: the CLI, as the `backfill` script runs it."""

from backfill.local.cli.main import main

main()
