"""The `backfill` command: main.py assembles the group from gaps.py, operate.py and campaigns.py,
which share common.py."""
