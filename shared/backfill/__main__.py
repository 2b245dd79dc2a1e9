"""`python -m backfill`: the CLI (needs the local part, `pip install 'backfill[local]'`)."""

from backfill.local.cli import main

main()
