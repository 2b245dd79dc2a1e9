"""The pure core: games and the schedule, gap arithmetic and lineage, requests, outcomes,
quarantine and runs, tables, windows, deadlines, error classes. No I/O here."""
